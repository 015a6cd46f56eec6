"""Ultralytics' OpenVINO export of the person detector: made once, cached by sha256, used when measured faster.

Real export (Ultralytics' exporter, no network) of the real yolov8n-person.pt into a temporary engines
folder; detections on the real bus photo compared with the PyTorch model: the same people, boxes with
IoU ≥ 0.95 (OpenVINO may run the detector in bf16 on CPUs that have it).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rtpose.errors import WeightsError
from rtpose.export.detector import export_folder, read_export
from rtpose.pose.detector import PersonDetector
from rtpose.utils.hashing import file_sha256
from tests.conftest import BUS, DETECTOR_WEIGHTS

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("openvino") is None, reason="OpenVINO (optional) is not installed"
)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="module")
def exported(engines):
    return PersonDetector(DETECTOR_WEIGHTS, device="cpu", engines_dir=engines, runtime="openvino")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def test_export_is_cached_by_sha256_with_a_sidecar(exported, engines, capsys):
    sha = file_sha256(DETECTOR_WEIGHTS)
    folder = export_folder(DETECTOR_WEIGHTS, sha, engines)
    assert exported.runtime == "openvino" and folder.is_dir() and any(folder.glob("*.xml"))
    meta = json.loads(folder.with_name(folder.name + ".json").read_text())
    assert meta["detector_sha256"] == sha and meta["imgsz"] == 640 and meta["dynamic"] is True
    assert meta["faster"] in ("openvino", "torch") and set(meta["measured_ms"]) == {"torch", "openvino"}
    assert read_export(DETECTOR_WEIGHTS, sha, 320, engines) is None  # another size is another export
    capsys.readouterr()
    again = PersonDetector(DETECTOR_WEIGHTS, device="cpu", engines_dir=engines)  # auto: reused, not re-exported
    assert "exports it once" not in capsys.readouterr().err
    assert again.runtime == meta["faster"]


def test_openvino_export_finds_the_same_people_as_pytorch(exported, engines):
    image = cv2.imread(str(BUS))
    torch_detector = PersonDetector(DETECTOR_WEIGHTS, device="cpu", runtime="torch")
    assert torch_detector.runtime == "torch"
    expected, got = torch_detector(image), exported(image)
    assert len(got) == len(expected) == 4
    iou = _iou(expected.boxes, got.boxes)
    assert (iou.max(axis=1) >= 0.95).all(), iou
    assert np.abs(np.sort(got.scores) - np.sort(expected.scores)).max() < 0.05


def test_auto_keeps_pytorch_when_the_export_measured_slower(exported, engines):
    sha = file_sha256(DETECTOR_WEIGHTS)
    side = export_folder(DETECTOR_WEIGHTS, sha, engines)
    side = side.with_name(side.name + ".json")
    original = side.read_text()
    try:
        meta = json.loads(original)
        side.write_text(json.dumps(meta | {"faster": "torch", "measured_ms": {"torch": 50.0, "openvino": 80.0}}))
        detector = PersonDetector(DETECTOR_WEIGHTS, device="cpu", engines_dir=engines)
        assert detector.runtime == "torch" and "measured slower: 80 vs 50 ms" in detector.note
    finally:
        side.write_text(original)


def test_unknown_runtime_is_one_sentence():
    with pytest.raises(WeightsError, match="Unknown detector runtime"):
        PersonDetector(DETECTOR_WEIGHTS, device="cpu", runtime="tflite")


def test_a_failing_export_falls_back_to_pytorch_and_says_why(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the engines folder should be")
    detector = PersonDetector(DETECTOR_WEIGHTS, device="cpu", engines_dir=blocked)
    assert detector.runtime == "torch" and detector.note.startswith("PyTorch (the OpenVINO export failed:")
    assert len(detector(cv2.imread(str(BUS)))) == 4
    with pytest.raises(WeightsError, match="Could not export or load the detector for OpenVINO"):
        PersonDetector(DETECTOR_WEIGHTS, device="cpu", engines_dir=blocked, runtime="openvino")
