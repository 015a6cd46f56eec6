"""A failed export removes what it wrote: no ONNX file without its sidecar stays behind (issue 29, 6)."""

from __future__ import annotations

import numpy as np
import pytest

from rtpose.export.pose_onnx import export_onnx


def test_a_verification_that_fails_removes_the_exported_file(tmp_path, small_weights):
    out = tmp_path / "out"
    wrong = np.zeros((1, 3, 32, 32), np.float32)  # crops of another size: the verification fails after the export
    with pytest.raises(Exception, match="dimensions"):  # ONNX Runtime refuses them
        export_onnx(small_weights, out_dir=out, input_hw=(64, 64), crops=wrong, log=lambda message: None)
    assert [p.name for p in out.iterdir() if not p.name.endswith(".lock")] == []


def test_an_older_export_in_place_stays_when_a_new_one_fails_before_replacing_it(tmp_path, small_weights):
    out = tmp_path / "out"
    first = export_onnx(small_weights, out_dir=out, input_hw=(64, 64), verify=False, log=lambda message: None)
    kept = first.read_bytes()
    with pytest.raises(Exception, match="opset"):  # the exporter refuses opset 1
        export_onnx(small_weights, out_dir=out, input_hw=(64, 64), opset=1, verify=False, log=lambda message: None)
    assert first.read_bytes() == kept and first.with_name(first.name + ".json").is_file()
