"""ONNX export: onnx.checker, float32 interface, dynamic batch through ONNX Runtime, FP32 and FP16 accuracy.

All on the real reference crops (../shared/reference) with the reference W32 weights. The W32
exports are made once per session (tests/support/backend_helpers.py).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from rtpose.errors import RtposeError
from rtpose.export.onnx_graph import check_graph, graph_info
from rtpose.export.pose_onnx import ensure_onnx, export_onnx
from rtpose.export.sidecar import read_sidecar
from rtpose.export.verify import FP16_RTOL, FP32_ATOL, compare_heatmaps, fp16_close, verify_graph
from rtpose.runtime.onnxruntime_runtime import OnnxRuntimeBackend
from rtpose.utils.hashing import file_sha256
from tests.support.backend_helpers import engines_dir, exported, reference_crops, reference_heatmaps

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_fp32(reference_weights):
    return exported(reference_weights, fp16=False)


@pytest.fixture(scope="module")
def onnx_fp16(reference_weights):
    return exported(reference_weights, fp16=True)


@pytest.fixture(scope="module")
def torch_heatmaps(reference_model):
    with torch.inference_mode():
        return reference_model(torch.from_numpy(reference_crops())).numpy()


def test_fp32_graph_passes_checker_with_float32_io_and_dynamic_batch(onnx_fp32):
    check_graph(onnx_fp32)
    info = graph_info(onnx_fp32)
    assert info["input"] == ("input", "FLOAT", ["batch", 3, 256, 192])
    assert info["output"] == ("heatmaps", "FLOAT", ["batch", 17, 64, 48])
    assert info["opset"] >= 17
    assert set(info["weight_dtypes"]) == {"float"}


def test_sidecar_describes_the_export(onnx_fp32, reference_weights):
    meta = read_sidecar(onnx_fp32)
    assert meta["format"] == "onnx"
    assert meta["weights_sha256"] == file_sha256(reference_weights)
    assert meta["input_size"] == [256, 192]
    assert meta["precision"] == "fp32"
    assert meta["opset"] == 17
    assert meta["model"] == "hrnet_w32"
    assert meta["verification"]["passed"] is True
    assert meta["verification"]["on"] == "reference crops"


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_dynamic_batch_through_onnxruntime(onnx_fp32, torch_heatmaps, batch):
    backend = OnnxRuntimeBackend(onnx_fp32, device="cpu")
    index = np.arange(batch) % 4
    heatmaps = backend.infer(reference_crops()[index])
    assert heatmaps.shape == (batch, 17, 64, 48)
    assert heatmaps.dtype == np.float32
    assert np.abs(heatmaps - torch_heatmaps[index]).max() < FP32_ATOL


def test_fp32_matches_pytorch_and_official_code(onnx_fp32, reference_model, torch_heatmaps):
    """FP32: max |Δheatmap| < 1e-4 against PyTorch, and the same keypoints after decoding."""
    result = verify_graph(onnx_fp32, reference_model, reference_crops())
    assert result["passed"]
    assert result["max_abs_diff"] < FP32_ATOL
    assert result["argmax_mismatches"] == 0
    assert result["max_keypoint_diff"] < 1e-3  # DARK-refined positions agree to float rounding
    heatmaps = OnnxRuntimeBackend(onnx_fp32).infer(reference_crops())
    assert np.abs(heatmaps - reference_heatmaps()).max() < 1e-3  # the official code's own output


def test_fp16_graph_has_float32_io_and_float16_weights(onnx_fp16):
    check_graph(onnx_fp16)
    info = graph_info(onnx_fp16)
    assert info["input"] == ("input", "FLOAT", ["batch", 3, 256, 192])
    assert info["output"] == ("heatmaps", "FLOAT", ["batch", 17, 64, 48])
    assert set(info["weight_dtypes"]) == {"float16"}
    graph = onnx.load(str(onnx_fp16)).graph
    first = next(n for n in graph.node if "input" in n.input)
    last = next(n for n in graph.node if "heatmaps" in n.output)
    assert first.op_type == "Cast" and first.attribute[0].i == onnx.TensorProto.FLOAT16
    assert last.op_type == "Cast" and last.attribute[0].i == onnx.TensorProto.FLOAT
    assert read_sidecar(onnx_fp16)["precision"] == "fp16"


def test_fp16_graph_runs_on_onnxruntime_cpu_within_fp16_tolerance(onnx_fp16, torch_heatmaps):
    """FP16: max |Δheatmap| < 1% of the largest heatmap value; the same argmax keypoints except where two
    peaks are equal within that tolerance; ≥ 95% of DARK-refined keypoints within 0.1 heatmap px."""
    heatmaps = OnnxRuntimeBackend(onnx_fp16, device="cpu").infer(reference_crops())
    limit = FP16_RTOL * np.abs(torch_heatmaps).max()
    diff = compare_heatmaps(torch_heatmaps, heatmaps, (256, 192), tie_tol=limit)
    assert fp16_close(diff, limit), diff
    assert diff["max_abs_diff"] < limit and diff["argmax_off"] == 0 and diff["near_ties"] <= 2
    assert read_sidecar(onnx_fp16)["verification"]["passed"] is True


def test_ensure_onnx_reuses_a_matching_export(onnx_fp32, reference_weights):
    said = []
    assert ensure_onnx(reference_weights, (256, 192), fp16=False, out_dir=engines_dir(), log=said.append) == onnx_fp32
    assert said == []


def test_cli_export_small_model_without_verification(small_weights, tmp_path, capsys):
    from rtpose.cli import main

    code = main(["export-onnx", "--weights", str(small_weights), "--input-size", "128x96", "--out", str(tmp_path),
                 "--no-verify"])
    assert code == 0
    out = capsys.readouterr().out.strip()
    meta = read_sidecar(out)
    assert meta["input_size"] == [128, 96] and meta["model"] == "hrnet_w18" and meta["verification"] is None
    heatmaps = OnnxRuntimeBackend(out).infer(np.zeros((2, 3, 128, 96), np.float32))
    assert heatmaps.shape == (2, 17, 32, 24)


def test_old_opset_is_refused(small_weights, tmp_path):
    with pytest.raises(RtposeError, match="opset 13"):
        export_onnx(small_weights, out_dir=tmp_path, opset=13, log=lambda m: None)
