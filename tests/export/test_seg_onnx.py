"""HRNetSeg → ONNX: ONNX Runtime gives PyTorch's logits, with a dynamic batch and dynamic H, W."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rtpose.export.seg_onnx import export_seg_onnx, run_seg_onnx
from rtpose.models import HRNetSeg, seg_output_hw

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def w18(fill_state_dict):
    model = HRNetSeg(width=18, num_classes=21)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    return model.eval()


def _compare(model, path, shape):
    x = np.random.default_rng(sum(shape)).standard_normal(shape, dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = run_seg_onnx(path, x)
    assert got.shape == expected.shape == (shape[0], 21, *seg_output_hw(shape[2:]))
    assert np.abs(got - expected).max() < 1e-3 * max(1.0, float(np.abs(expected).max()))


def test_dynamic_batch_and_size(w18, tmp_path):
    path = export_seg_onnx(w18, tmp_path / "seg_w18.onnx", input_hw=(97, 131), seg_classes="voc")
    meta = json.loads((tmp_path / "seg_w18.onnx.json").read_text())
    assert meta["kind"] == "segmentation" and meta["num_classes"] == 21 and meta["seg_classes"] == "voc"
    for shape in [(1, 3, 97, 131), (3, 3, 64, 96), (2, 3, 75, 50)]:
        _compare(w18, path, shape)


def test_fixed_size_graph(w18, tmp_path):
    path = export_seg_onnx(w18, tmp_path / "seg_w18_fixed.onnx", input_hw=(64, 64), dynamic_hw=False)
    import onnx

    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 64, 64]
    _compare(w18, path, (2, 3, 64, 64))
