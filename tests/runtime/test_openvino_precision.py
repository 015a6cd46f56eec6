"""OpenVINO's bf16 inference precision: used where the CPU has native BF16, said so, and checked against FP32.

The BF16 rule (rtpose.runtime.openvino_runtime.bf16_compare), on the four real reference crops against
PyTorch FP32 with the reference W32 weights: max |Δheatmap| < 4% of the largest |heatmap|; the same
integer maxima except where two peaks are equal within that; of the keypoints with the same maximum,
≥ 95% within 0.25 heatmap px after DARK and none further than 1.5 px. The tests that run bf16 skip
themselves on CPUs without BF16 (OpenVINO's OPTIMIZATION_CAPABILITIES), saying so.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from rtpose.errors import EngineError, RtposeError
from rtpose.export.verify import FP32_ATOL, compare_heatmaps
from rtpose.runtime.openvino_runtime import (
    BF16_RTOL,
    bf16_compare,
    cpu_has_bf16,
    openvino_available,
    resolve_precision,
)
from rtpose.runtime.select import create_backend
from tests.support.backend_helpers import engines_dir, exported, reference_crops

HAS_OPENVINO = openvino_available()
HAS_BF16 = HAS_OPENVINO and cpu_has_bf16()
needs_openvino = pytest.mark.skipif(
    not HAS_OPENVINO, reason="OpenVINO (optional: pip install openvino) is not installed"
)
needs_bf16 = pytest.mark.skipif(
    not HAS_BF16, reason="this CPU has no native BF16 (OpenVINO's OPTIMIZATION_CAPABILITIES lacks BF16), or no OpenVINO"
)
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU choice; this machine has a CUDA GPU")


@pytest.fixture(scope="module")
def torch_heatmaps(reference_model):
    with torch.inference_mode():
        return reference_model(torch.from_numpy(reference_crops())).numpy()


def test_precision_resolution():
    assert resolve_precision("auto", has_bf16=True) == "bf16"
    assert resolve_precision("auto", has_bf16=False) == "fp32"
    assert resolve_precision("fp32", has_bf16=True) == "fp32"
    assert resolve_precision("bf16", has_bf16=True) == "bf16"
    with pytest.raises(EngineError, match="no native BF16.*--precision fp32"):
        resolve_precision("bf16", has_bf16=False)
    with pytest.raises(EngineError, match="Unknown precision"):
        resolve_precision("int8", has_bf16=True)


def test_bf16_rule_rejects_heatmaps_off_by_more_than_its_tolerance(torch_heatmaps):
    ok, diff, _ = bf16_compare(torch_heatmaps, torch_heatmaps.copy(), (256, 192))
    assert ok and diff["max_abs_diff"] == 0
    shifted = torch_heatmaps.copy()
    shifted[0, 0] += 1.5 * BF16_RTOL * np.abs(torch_heatmaps).max()  # a uniform offset keeps every maximum
    ok, diff, rule = bf16_compare(torch_heatmaps, shifted, (256, 192))
    assert not ok and diff["argmax_off"] == 0 and f"{BF16_RTOL:g} × max |heatmap|" in rule
    moved = torch_heatmaps.copy()
    moved[1, 5] = np.roll(moved[1, 5], 6, axis=1)  # one keypoint 6 heatmap px away
    assert not bf16_compare(torch_heatmaps, moved, (256, 192))[0]


@needs_bf16
def test_openvino_bf16_keypoints_match_fp32_on_real_crops(reference_weights, torch_heatmaps):
    exported(reference_weights, fp16=False)
    backend = create_backend("openvino", weights=str(reference_weights), device="cpu", engines_dir=engines_dir(),
                             precision="bf16")
    assert backend.precision == "bf16" and backend.device.endswith(" bf16")
    assert "native BF16" in backend.reason
    got = backend.infer(reference_crops())
    ok, diff, rule = bf16_compare(torch_heatmaps, got, (256, 192))
    assert ok, (diff, rule)
    # bf16 really ran: float32 OpenVINO is within FP32_ATOL, this is not.
    assert compare_heatmaps(torch_heatmaps, got, (256, 192))["max_abs_diff"] > FP32_ATOL


@needs_bf16
@NO_CUDA
def test_auto_uses_bf16_where_the_cpu_has_it_and_says_so(reference_weights):
    exported(reference_weights, fp16=False)
    backend = create_backend("auto", weights=str(reference_weights), engines_dir=engines_dir())
    assert backend.name == "openvino" and backend.precision == "bf16"
    assert backend.reason.endswith("bf16 inference precision: this CPU has native BF16 (--precision fp32 turns it off)")


@needs_openvino
@NO_CUDA
def test_precision_fp32_keeps_openvino_in_float32(reference_weights, torch_heatmaps):
    exported(reference_weights, fp16=False)
    backend = create_backend("auto", weights=str(reference_weights), engines_dir=engines_dir(), precision="fp32")
    assert backend.name == "openvino" and backend.precision == "fp32" and backend.device.endswith(" fp32")
    diff = compare_heatmaps(torch_heatmaps[:2], backend.infer(reference_crops()[:2]), (256, 192))
    assert diff["max_abs_diff"] < FP32_ATOL and diff["argmax_mismatches"] == 0


def test_bf16_with_another_backend_is_one_sentence(reference_weights):
    with pytest.raises(RtposeError, match="precision='bf16' runs on OpenVINO only"):
        create_backend("torch", weights=str(reference_weights), device="cpu", precision="bf16")
    with pytest.raises(RtposeError, match="Unknown precision"):
        create_backend("auto", weights=str(reference_weights), precision="fp8")


def test_cli_precision_option():
    from rtpose.cli.common import add_model_args

    parser = argparse.ArgumentParser()
    add_model_args(parser)
    assert parser.parse_args([]).precision == "auto"
    assert parser.parse_args(["--precision", "fp32"]).precision == "fp32"
    with pytest.raises(SystemExit):
        parser.parse_args(["--precision", "fp16"])


@needs_bf16
def test_an_onnx_file_with_precision_bf16_runs_on_openvino(reference_weights, torch_heatmaps):
    onnx_path = exported(reference_weights, fp16=False)
    backend = create_backend("auto", weights=str(onnx_path), precision="bf16")
    assert backend.name == "openvino" and backend.precision == "bf16"
    assert backend.reason.startswith(f"precision='bf16'; the weights are an ONNX file ({onnx_path.name})")
    assert bf16_compare(torch_heatmaps, backend.infer(reference_crops()), (256, 192))[0]
