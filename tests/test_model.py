"""The Python API as programs use it: ``rtpose.PoseModel``, ``PoseResult``, ``model.stream``, on the real data.

Each test is written the way a user's program is: one import, a model, images or a stream. The pose
weights are the deterministic HRNet-W18 of the reference (the keypoints are not meaningful, every
array, shape, count, thread and file is); the detector is the real YOLOv8n-person.
"""

from __future__ import annotations

import json
import logging
import threading

import cv2
import numpy as np
import pytest

import rtpose
from rtpose.errors import RtposeError
from tests.conftest import BUS, DETECTOR_WEIGHTS, VIDEO_MULTI
from tests.support.fake_camera import Device, install

pytestmark = pytest.mark.slow


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtpose-") and t.is_alive()]


@pytest.fixture(scope="module")
def model(small_weights):
    with rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="onnxruntime") as m:
        yield m


def test_one_image_from_a_path_or_an_array(model):
    result = model(BUS)
    assert isinstance(result, rtpose.PoseResult)
    n = len(result)
    assert n >= 3  # bus.jpg has four people
    assert result.boxes.shape == (n, 4) and result.scores.shape == (n,) and result.keypoints.shape == (n, 17, 3)
    assert result.track_ids is None and result.keypoint_set.name == "coco" and result.file == "bus.jpg"
    image = cv2.imread(str(BUS))
    same = model(image)
    np.testing.assert_allclose(same.keypoints, result.keypoints, atol=1e-4)
    person = result[0]
    assert isinstance(person, rtpose.Person) and person.keypoints.shape == (17, 3)
    assert [p.score for p in result] == list(result.scores)
    assert len(result[result.scores > 0.5]) == int((result.scores > 0.5).sum())
    drawn = result.plot()
    assert drawn.shape == image.shape and (drawn != image).any() and (result.image == image).all()
    grey = model(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert grey.image.shape == image.shape
    boxed = model(image, boxes=result.boxes[:2])
    assert len(boxed) == 2 and (boxed.scores == 1).all()
    info = model.info
    assert info.backend.name == "onnxruntime" and info.backend.width == 18 and info.keypoint_set == "coco"
    assert info.input_hw == (256, 192) and info.detector.endswith("yolov8n-person.pt")


def test_a_video_stream_left_with_break_stops_every_thread(model):
    seen = []
    for result in model.stream(str(VIDEO_MULTI)):
        seen.append(result)
        if len(seen) == 5:
            break
    assert [r.index for r in seen] == [0, 1, 2, 3, 4]
    assert all(r.track_ids is not None and len(r.track_ids) == len(r) for r in seen)
    assert seen[1].timestamp == pytest.approx(0.1)  # media time of a 10 frames/s file
    assert not _threads(), _threads()


def test_an_exception_in_the_callers_loop_stops_the_stream(model):
    with pytest.raises(ZeroDivisionError):
        for _result in model.stream(str(VIDEO_MULTI)):
            1 / 0  # noqa: B018
    assert not _threads(), _threads()


def test_camera_stand_in_is_released_after_break(model, monkeypatch):
    cameras = install({0: Device(str(VIDEO_MULTI))}, monkeypatch)
    stream = model.stream(0)
    for i, result in enumerate(stream):
        assert result.timestamp is not None and result.timestamp > 1e9  # Unix time of a live capture
        if i == 2:
            break
    assert not cameras[0].isOpened() and not _threads()
    stats = stream.stats()
    # the three taken, and at most the two rounds that were in the model (detector, pose) when the loop broke
    assert 3 <= stats.frames <= 5 and stats.source == "camera 0"


def test_a_list_of_frames_every_one_processed(model):
    capture = cv2.VideoCapture(str(VIDEO_MULTI))
    frames = [capture.read()[1] for _ in range(6)]
    capture.release()
    stream = model.stream(frames, track=False)
    results = list(stream)
    assert [r.index for r in results] == list(range(6))
    assert all(r.track_ids is None for r in results)
    stats = stream.stats()
    assert stats.frames == 6 and stats.dropped == 0 and stats.people == sum(len(r) for r in results)
    # a generator of frames works too, and a bad item is one sentence naming it
    with pytest.raises(RtposeError, match=r"source\[1\]"):
        list(model.stream(iter([frames[0], "not-a-file.png"])))


def test_whole_body_model(tmp_path, fill_state_dict):
    import torch

    from rtpose.models import HRNet

    net = HRNet(width=18, num_joints=133)
    net.load_state_dict(fill_state_dict(net.state_dict()), strict=True)
    weights = tmp_path / "hrnet_w18_wholebody.pth"
    torch.save(net.state_dict(), weights)
    with rtpose.PoseModel(weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="torch") as wholebody:
        result = wholebody(BUS)
        assert wholebody.keypoint_set.name == "coco_wholebody"
        assert result.keypoints.shape == (len(result), 133, 3) and len(result) >= 3
        assert len(result.to_dict()["people"][0]["keypoints"]) == 133


def test_to_dict_is_the_cli_json_line_for_the_same_frame(model, small_weights, tmp_path):
    from rtpose.cli import main

    out = tmp_path / "poses.jsonl"
    code = main(["--source", str(VIDEO_MULTI), "--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS),
                 "--device", "cpu", "--backend", "onnxruntime", "--max-frames", "4", "--no-show", "--json", str(out)])
    assert code == 0
    header, *lines = [json.loads(line) for line in out.read_text().splitlines()]
    results = list(model.stream(str(VIDEO_MULTI), max_frames=4))
    assert [r.to_dict() for r in results] == lines
    stream = model.stream(str(VIDEO_MULTI), max_frames=1)
    assert stream.header() == header
    stream.close()


def test_bad_inputs_are_one_sentence_naming_the_parameter(model):
    for bad, words in ((None, "image=None"), (np.zeros((4, 4), np.float32), "uint8"),
                       (np.zeros((5, 5, 2), np.uint8), "(H, W, 3)"), ("missing.jpg", "no such image file"),
                       (object(), "image= takes")):
        with pytest.raises(RtposeError, match=None) as info:
            model(bad)
        assert words in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(RtposeError, match="boxes="):
        model(np.zeros((50, 50, 3), np.uint8), boxes=[[10, 10, 5, 5]])
    with pytest.raises(RtposeError, match=r"source="):
        model.stream(None)
    for kwargs, words in (({"conf": 1.5}, "conf=1.5"), ({"backend": "tflite"}, "backend='tflite'"),
                          ({"device": "gpu"}, "device='gpu'"), ({"input_size": (250, 192)}, "input_size=")):
        with pytest.raises(RtposeError) as info:
            rtpose.PoseModel(detector=str(DETECTOR_WEIGHTS), **kwargs)
        assert words in str(info.value)


def test_the_library_logs_through_a_null_handler_only(model):
    logger = logging.getLogger("rtpose")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    import subprocess
    import sys

    code = ("import rtpose, logging; import rtpose.log; lg = logging.getLogger('rtpose'); "
            "print([type(h).__name__ for h in lg.handlers])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['NullHandler']" and out.stderr == ""
