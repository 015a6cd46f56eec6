"""Segmentation on every backend: ONNX Runtime and OpenVINO give PyTorch's logits, masks and parts on real frames.

The weights are deterministic HRNetV2-W18 (the reference's ``fill_state_dict``) saved as rtpose checkpoints;
inputs are small (short side / crop side 96-128) to stay fast on two cores. The people are COCO's annotated
boxes and keypoints of a val image, so the "parts" crops and the person split are the real ones. TensorRT
runs only where TensorRT and a CUDA GPU are (skipped here with the reason); its profile and engine lookup
are tested without it.
"""

from __future__ import annotations

import json
import os
import re

import cv2
import numpy as np
import pytest

from rtpose.errors import RtposeError
from rtpose.results import PoseResult
from rtpose.runtime.openvino_runtime import openvino_available
from rtpose.runtime.tensorrt_runtime import tensorrt_available
from tests.conftest import BUS, VAL_DEV, VAL_DEV_ANN, VIDEO_MULTI

pytest.importorskip("onnxruntime")

ONNX_BACKENDS = ["onnxruntime", pytest.param("openvino", marks=pytest.mark.skipif(
    not openvino_available(), reason="OpenVINO is not installed"))]
SMALL = 96


@pytest.fixture(scope="module")
def coco_people():
    """A COCO val image with several annotated people, as a frame and a PoseResult of their boxes and keypoints."""
    from pycocotools.coco import COCO

    coco = COCO(str(VAL_DEV_ANN))
    best = None
    for image_id in sorted(coco.getImgIds(catIds=[1])):
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id, catIds=[1], iscrowd=False))
                if a["num_keypoints"] >= 5]
        if len(anns) >= 3:
            best = (image_id, anns[:4])
            break
    assert best is not None, "val_dev has an image with three annotated people"
    image_id, anns = best
    image = cv2.imread(str(VAL_DEV / "val2017" / coco.loadImgs(image_id)[0]["file_name"]))
    assert image is not None
    boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                      for a in anns], np.float32)
    keypoints = np.array([a["keypoints"] for a in anns], np.float32).reshape(len(anns), 17, 3)
    keypoints[..., 2] = (keypoints[..., 2] > 0).astype(np.float32)
    return image, PoseResult(boxes, np.ones(len(anns), np.float32), keypoints)


def _video_frame() -> np.ndarray:
    capture = cv2.VideoCapture(str(VIDEO_MULTI))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok
    return frame


def _segmenter(mode, weights, backend, tmp_path, **kwargs):
    from rtpose.seg.segmenter import Segmenter

    return Segmenter(mode, weights, device="cpu", input_size=kwargs.pop("input_size", SMALL), backend=backend,
                     precision=kwargs.pop("precision", "fp32"), engines_dir=tmp_path / "engines", **kwargs)


def _close_logits(got, expected):
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-3 * max(1.0, float(np.abs(expected).max()))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ONNX_BACKENDS)
def test_person_mode_agrees_with_pytorch_on_frames_of_any_shape(seg_weights, coco_people, tmp_path, backend):
    """One dynamic-H/W export serves a portrait photo, a landscape photo with people and a video frame."""
    image, people = coco_people
    frames = [(BUS.name, cv2.imread(str(BUS)), PoseResult.empty()), ("coco", image, people),
              ("video", _video_frame(), PoseResult.empty())]
    with _segmenter("person", seg_weights["voc"], "torch", tmp_path) as torch_seg, \
            _segmenter("person", seg_weights["voc"], backend, tmp_path) as other:
        assert other.runtime.name == backend and other.info.artifact.suffix == ".onnx"
        shapes = set()
        for name, frame, result in frames:
            h, w = frame.shape[:2]
            batch = torch_seg.frame_input(frame)
            shapes.add(batch.shape[2:])
            _close_logits(other.runtime.infer(batch), torch_seg.runtime.infer(batch))
            want, got = torch_seg(frame, result), other(frame, result)
            assert np.abs(got.person_mask - want.person_mask).max() < 1e-3, name
            assert got.masks.shape == want.masks.shape == (len(result), h, w)
            if len(result):
                assert (got.masks == want.masks).mean() > 0.999, name
        assert len(shapes) == 3  # three different input sizes through the same graph
    assert [p.name for p in (tmp_path / "engines").glob("*.onnx")] == [other.info.artifact.name]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ONNX_BACKENDS)
def test_parts_mode_agrees_with_pytorch_on_the_people_crops(seg_weights, coco_people, tmp_path, backend):
    image, people = coco_people
    with _segmenter("parts", seg_weights["lip"], "torch", tmp_path) as torch_seg, \
            _segmenter("parts", seg_weights["lip"], backend, tmp_path) as other:
        want, got = torch_seg(image, people), other(image, people)
    assert want.part_map.shape == image.shape[:2] and len(np.unique(want.part_map)) > 2  # a real map
    agree = float((got.part_map == want.part_map).mean())
    assert agree > 0.999, agree
    assert (got.masks == want.masks).mean() > 0.999


@pytest.mark.slow
def test_parts_export_is_a_fixed_square_and_person_export_has_dynamic_hw(seg_weights, tmp_path):
    import onnx

    from rtpose.export.seg_onnx import ensure_seg_onnx

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    person = onnx.load(str(ensure_seg_onnx(seg_weights["voc"], (SMALL, SMALL), dynamic_hw=True, out_dir=tmp_path)))
    assert dims(person.graph.input[0]) == ["batch", 3, "height", "width"]
    assert dims(person.graph.output[0]) == ["batch", 21, "out_height", "out_width"]
    parts = onnx.load(str(ensure_seg_onnx(seg_weights["lip"], (SMALL, SMALL), dynamic_hw=False, out_dir=tmp_path)))
    assert dims(parts.graph.input[0]) == ["batch", 3, SMALL, SMALL]
    assert dims(parts.graph.output[0])[:2] == ["batch", 20]


@pytest.mark.slow
def test_an_export_is_reused_until_the_weights_change_then_rebuilt(seg_weights, fill_state_dict, tmp_path):
    import torch

    from rtpose.export.seg_onnx import ensure_seg_onnx
    from rtpose.export.sidecar import read_sidecar
    from rtpose.models import HRNetSeg
    from rtpose.runtime.onnxruntime_runtime import OnnxRuntimeBackend
    from rtpose.utils.hashing import file_sha256
    from rtpose.weights.seg import save_seg_checkpoint

    weights = tmp_path / "seg.pth"
    weights.write_bytes(seg_weights["voc"].read_bytes())
    said = []
    first = ensure_seg_onnx(weights, (SMALL, SMALL), dynamic_hw=True, out_dir=tmp_path / "engines", log=said.append)
    stamp = first.stat().st_mtime_ns
    assert ensure_seg_onnx(weights, (SMALL, SMALL), dynamic_hw=True, out_dir=tmp_path / "engines",
                           log=said.append) == first
    assert first.stat().st_mtime_ns == stamp and len(said) == 1  # reused, not exported again

    net = HRNetSeg(width=18, num_classes=21)
    net.load_state_dict(fill_state_dict(net.state_dict()), strict=True)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(0.9)
    save_seg_checkpoint(net, weights, seg_classes="voc")  # the same path, other weights
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))
    second = ensure_seg_onnx(weights, (SMALL, SMALL), dynamic_hw=True, out_dir=tmp_path / "engines",
                             log=said.append)
    assert second != first and len(said) == 2
    assert read_sidecar(second)["weights_sha256"] == file_sha256(weights) != read_sidecar(first)["weights_sha256"]
    x = np.random.default_rng(0).standard_normal((1, 3, SMALL, SMALL + 32), dtype=np.float32)
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)).numpy()
    runtime = OnnxRuntimeBackend(second)
    try:
        _close_logits(runtime.infer(x), expected)
    finally:
        runtime.close()


@pytest.mark.slow
def test_auto_on_the_cpu_picks_openvino_else_onnxruntime_and_says_why(seg_weights, tmp_path):
    with _segmenter("parts", seg_weights["lip"], "auto", tmp_path, precision="auto") as seg:
        info = seg.info
    assert info.name == ("openvino" if openvino_available() else "onnxruntime")
    assert info.reason.startswith("auto: CPU requested; ") and info.width == 18 and info.input_hw == (SMALL, SMALL)


@pytest.mark.slow
@pytest.mark.skipif(not openvino_available(), reason="OpenVINO is not installed")
def test_openvino_precision_follows_the_cpu_and_bf16_labels_mostly_agree(seg_weights, coco_people, tmp_path):
    """``precision="auto"`` is bf16 exactly where the CPU has native BF16; its labels stay close to FP32's."""
    from rtpose.runtime.openvino_runtime import cpu_has_bf16

    image, people = coco_people
    with _segmenter("parts", seg_weights["lip"], "torch", tmp_path) as torch_seg, \
            _segmenter("parts", seg_weights["lip"], "openvino", tmp_path, precision="auto") as seg:
        assert seg.info.precision == ("bf16" if cpu_has_bf16() else "fp32")
        agree = float((seg(image, people).part_map == torch_seg(image, people).part_map).mean())
    assert agree > 0.95, agree


def test_seg_backend_follows_the_pose_backend_where_segmentation_has_it():
    from rtpose.runtime.select import seg_backend_for

    assert seg_backend_for(None, "openvino") == "openvino" and seg_backend_for(None, "tensorrt") == "tensorrt"
    assert seg_backend_for(None, "triton") == "auto" and seg_backend_for(None, "auto") == "auto"
    assert seg_backend_for("torch", "openvino") == "torch"


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"seg": "person", "seg_backend": "nope"},
     "Unknown seg_backend='nope'; choose one of auto, torch, onnxruntime, openvino, tensorrt."),
    ({"seg_backend": "torch"}, "seg_weights=, seg_classes= and seg_backend= need seg='person' or seg='parts'."),
    ({"seg": "person", "seg_backend": "torch", "precision": "bf16", "backend": "openvino"},
     "precision='bf16' runs on OpenVINO only; use seg_backend='openvino' (or 'auto'), not 'torch'."),
])
def test_bad_seg_backend_is_one_sentence_before_anything_loads(kwargs, says):
    from rtpose.options import ModelOptions

    with pytest.raises(RtposeError) as raised:
        ModelOptions(weights="no-such-file.pth", **kwargs).validate()
    assert str(raised.value) == says


def test_cli_bad_seg_backend_names_the_flag(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    run = subprocess.run([sys.executable, "-m", "rtpose", "--source", str(BUS), "--seg", "person",
                          "--seg-backend", "nope", "--no-show"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "--seg-backend" in run.stderr.strip().splitlines()[-1] and "'nope'" in run.stderr
    help_text = subprocess.run([sys.executable, "-m", "rtpose", "--help"], capture_output=True, text=True, cwd=ROOT,
                               timeout=120).stdout
    assert "--seg-backend" in help_text


@pytest.mark.slow
def test_pose_model_reports_the_segmentation_runtime(small_weights, seg_weights, tmp_path, monkeypatch, capfd):
    import rtpose
    from tests.conftest import DETECTOR_WEIGHTS

    monkeypatch.setenv("RTPOSE_ENGINES", str(tmp_path / "engines"))
    with rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="onnxruntime",
                          seg="parts", seg_weights=seg_weights["lip"]) as model:
        info = model.info.segmentation
        result = model(BUS)
    assert info.name == "onnxruntime" and info.reason == "requested with seg_backend='onnxruntime'"
    startup = capfd.readouterr().err
    assert ("segmentation parts: HRNetV2-W18 hrnetv2_w18_lip.pth (LIP (Look Into Person), 20 classes) on "
            "onnxruntime on cpu (CPUExecutionProvider") in startup
    # in the library's words, or the command line's where a test before this one set the CLI's handler up
    assert re.search(r"\(requested with (seg_backend='onnxruntime'|--seg-backend onnxruntime)\)", startup)
    assert info.input_hw == (473, 473) and info.artifact.parent == tmp_path / "engines"
    assert result.part_map is not None and result.masks.shape[0] == len(result)
    assert model.estimator.segmenter.runtime.session is None  # closed with the model


# -- TensorRT: the profile and the engine lookup here, the engine itself only with TensorRT and a GPU ----------


def test_tensorrt_profiles_cover_the_shapes_each_mode_sends():
    from rtpose.export.tensorrt import MAX_ASPECT, seg_profile
    from rtpose.runtime.tensorrt_runtime import shape_problem

    low, opt, high = seg_profile("parts", 473, max_batch=32, opt_batch=8)
    assert (low, opt, high) == ((1, 3, 473, 473), (8, 3, 473, 473), (32, 3, 473, 473))
    low, opt, high = seg_profile("person", 512)
    assert low == (1, 3, 512, 512) and opt == (1, 3, 512, 910) and high == (1, 3, 1536, 1536)
    profile = seg_profile("person", 512)
    for h, w in ((1080, 1920), (1920, 1080), (480, 640), (512, 512)):  # landscape, portrait, VGA, square
        scale = 512 / min(h, w)
        assert shape_problem((1, 3, round(h * scale), round(w * scale)), profile) is None
    too_wide = shape_problem((1, 3, 512, int(512 * MAX_ASPECT) + 1), profile)
    assert too_wide.startswith("the TensorRT engine takes inputs from (1, 3, 512, 512)")
    assert shape_problem((33, 3, 473, 473), seg_profile("parts", 473)) is not None
    with pytest.raises(RtposeError, match="seg='nope'"):
        seg_profile("nope", 512)


def test_tensorrt_engine_lookup_matches_weights_profile_precision_and_machine(tmp_path):
    from rtpose.export.sidecar import write_sidecar
    from rtpose.export.tensorrt import find_seg_engine, seg_profile

    machine = {"tensorrt_version": "10.9.0", "gpu_name": "NVIDIA H200", "compute_capability": "9.0"}
    profile = seg_profile("person", 512)

    def engine(name, **changes):
        path = tmp_path / f"{name}.engine"
        path.write_bytes(b"serialized elsewhere")
        meta = {"format": "tensorrt", "kind": "segmentation", "weights_sha256": "a" * 64, "precision": "fp16",
                "profile": [list(s) for s in profile], **machine, **changes}
        write_sidecar(path, meta)
        return path

    engine("other_weights", weights_sha256="b" * 64)
    engine("parts_profile", profile=[list(s) for s in seg_profile("parts", 512)])
    engine("fp32", precision="fp32")
    engine("other_gpu", gpu_name="NVIDIA A100", compute_capability="8.0")
    engine("pose", kind="pose")
    assert find_seg_engine(tmp_path, "a" * 64, profile, "fp16", **machine) is None
    good = engine("good")
    assert find_seg_engine(tmp_path, "a" * 64, profile, "fp16", **machine) == good
    assert json.loads((tmp_path / "good.engine.json").read_text())["kind"] == "segmentation"


@pytest.mark.skipif(not tensorrt_available(), reason="TensorRT and a CUDA GPU are needed (neither is on this machine)")
@pytest.mark.parametrize("mode", ["person", "parts"])
def test_tensorrt_agrees_with_pytorch_fp32(seg_weights, coco_people, tmp_path, mode):
    image, people = coco_people
    weights = seg_weights["voc" if mode == "person" else "lip"]
    with _segmenter(mode, weights, "torch", tmp_path) as torch_seg:
        want = torch_seg(image, people)
    from rtpose.seg.segmenter import Segmenter

    with Segmenter(mode, weights, device="cuda", input_size=SMALL, backend="tensorrt",
                   engines_dir=tmp_path / "engines") as seg:
        assert seg.info.name == "tensorrt" and seg.info.precision == "fp16"
        got = seg(image, people)
    if mode == "person":
        assert np.abs(got.person_mask - want.person_mask).max() < 0.05
    else:
        assert (got.part_map == want.part_map).mean() > 0.98
