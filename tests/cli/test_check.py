"""``rtpose check`` for real on this machine: a subprocess, real crops of the bundled bus.jpg, W18 weights."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rtpose.runtime.onnxruntime_runtime import onnxruntime_conflict
from rtpose.runtime.openvino_runtime import openvino_available
from tests.conftest import BUS, ROOT

pytestmark = pytest.mark.slow


def run_check(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RTPOSE_ENGINES": str(tmp_path / "engines"), "RTPOSE_CACHE": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "rtpose", "check", *args], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=600,
    )


@pytest.mark.skipif(onnxruntime_conflict() is not None, reason="two ONNX Runtime wheels are installed here")
def test_check_runs_every_backend_against_torch_fp32(small_weights, tmp_path):
    run = run_check(tmp_path, "--weights", str(small_weights), "--iters", "1")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    out = run.stdout
    for label in ("torch", "TensorRT", "[trt] extra", "ONNX Runtime", "OpenVINO", "cameras", "display",
                  "weights cache", "engines folder"):
        assert f"\n  {label} " in out, label
    assert f"weights {small_weights.name}" in out and "4 crops (4 people in bus.jpg" in out
    rows = {line.split("  ")[0]: line for line in out.splitlines() if line.endswith("  ok")}
    expected = {"torch (reference)", "device path (torch crops+DARK)", "onnxruntime"}
    if openvino_available():
        expected.add("openvino")
    assert expected <= set(rows), out
    assert "0/68" in rows["onnxruntime"]  # 4 crops × 17 keypoints, none moved by half a pixel
    assert out.rstrip().endswith("everything available works and agrees with PyTorch FP32")
    assert any(p.suffix == ".onnx" for p in (tmp_path / "engines").iterdir())


def test_check_environment_only(tmp_path):
    run = run_check(tmp_path, "--no-backends")
    assert run.returncode == 0, run.stderr
    assert "max |Δheatmap|" not in run.stdout and "\n  GPU" in run.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--image", "missing.jpg"], "rtpose: error: --image missing.jpg does not exist."),
        (["--image", str(BUS)], "rtpose: error: --image needs the people's boxes: --boxes X1,Y1,X2,Y2;… or "
                                "--detector MODEL."),
        (["--image", str(BUS), "--boxes", "1,2,3"], "rtpose: error: --boxes must be X1,Y1,X2,Y2 boxes separated "
                                                    "by ';', got '1,2,3'."),
        (["--seg-weights", "x.pth"], "rtpose: error: --seg-weights and --seg-size need --seg person or --seg parts."),
        (["--seg", "parts", "--seg-size", "8"], "rtpose: error: --seg-size must be at least 16 pixels, got 8."),
    ],
)
def test_check_bad_input_is_one_sentence(tmp_path, args, says):
    run = run_check(tmp_path, *args)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == says
    assert "Traceback" not in run.stderr


def test_check_fails_with_one_sentence_when_a_backend_disagrees(small_weights, tmp_path):
    """A cached ONNX export whose sidecar claims these weights but holds others (a real way to go wrong)."""
    import json

    import torch

    from rtpose.export.pose_onnx import export_onnx
    from rtpose.export.sidecar import sidecar_path
    from rtpose.models import HRNet
    from rtpose.utils.hashing import file_sha256

    torch.manual_seed(1)
    other = tmp_path / "other_w18.pth"
    torch.save(HRNet(width=18).state_dict(), other)
    onnx_path = export_onnx(other, out_dir=tmp_path / "engines", log=lambda message: None)
    side = sidecar_path(onnx_path)
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({**meta, "weights_sha256": file_sha256(small_weights)}))

    run = run_check(tmp_path, "--weights", str(small_weights), "--iters", "1")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    failed = [line for line in run.stdout.splitlines() if "FAIL: outside tolerance" in line]
    assert failed and failed[0].startswith("onnxruntime ")
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("rtpose: error: ") and "onnxruntime on cpu (CPUExecutionProvider" in last
    assert "outside tolerance (max |Δheatmap| < 0.0001 and identical argmax keypoints)" in last


def _seg_rows(out: str) -> dict[str, str]:
    return {line.split("  ")[0]: line for line in out.splitlines() if line.startswith("seg ")}


@pytest.mark.skipif(onnxruntime_conflict() is not None, reason="two ONNX Runtime wheels are installed here")
def test_check_seg_person_adds_a_row_per_segmentation_runtime(small_weights, seg_weights, tmp_path):
    run = run_check(tmp_path, "--weights", str(small_weights), "--iters", "1", "--seg", "person",
                    "--seg-weights", str(seg_weights["voc"]), "--seg-size", "96")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    out = run.stdout
    assert "segmentation (person) vs PyTorch FP32 on the CPU: the whole image at 128x96" in out  # bus.jpg is portrait
    rows = _seg_rows(out)
    expected = {"seg person: torch (reference)", "seg person: onnxruntime"} | (
        {"seg person: openvino"} if openvino_available() else set())
    assert expected == set(rows), out
    assert all(row.endswith("  ok") and " ms/call" in row for row in rows.values())
    assert "100.00%" in rows["seg person: onnxruntime"]  # ONNX Runtime FP32 gives every pixel PyTorch's label
    assert out.rstrip().endswith("everything available works and agrees with PyTorch FP32")
    assert any(p.name.startswith("hrnetv2_w18_seg_") and p.name.endswith("_dynamic_fp32.onnx")
               for p in (tmp_path / "engines").iterdir())


def test_check_seg_fails_with_one_sentence_when_a_runtime_disagrees(small_weights, seg_weights, fill_state_dict,
                                                                     tmp_path):
    """A cached parts export whose sidecar claims these weights but holds others: its rows fail, exit status 1."""
    import json

    import torch

    from rtpose.export.seg_onnx import ensure_seg_onnx
    from rtpose.export.sidecar import sidecar_path
    from rtpose.models import HRNetSeg
    from rtpose.utils.hashing import file_sha256
    from rtpose.weights.seg import save_seg_checkpoint

    torch.manual_seed(1)
    other = save_seg_checkpoint(HRNetSeg(width=18, num_classes=20), tmp_path / "other_lip.pth", seg_classes="lip")
    onnx_path = ensure_seg_onnx(other, (96, 96), dynamic_hw=False, out_dir=tmp_path / "engines", log=lambda m: None)
    side = sidecar_path(onnx_path)
    side.write_text(json.dumps({**json.loads(side.read_text()), "weights_sha256": file_sha256(seg_weights["lip"])}))

    run = run_check(tmp_path, "--weights", str(small_weights), "--iters", "1", "--seg", "parts",
                    "--seg-weights", str(seg_weights["lip"]), "--seg-size", "96")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    rows = _seg_rows(run.stdout)
    assert rows["seg parts: torch (reference)"].endswith("  ok")
    assert "FAIL: outside tolerance (max |Δlogit| < 0.001 × max |logit|" in rows["seg parts: onnxruntime"]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("rtpose: error: ") and "seg parts: onnxruntime on cpu (CPUExecutionProvider" in last
