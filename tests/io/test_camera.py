"""Cameras through the OpenCV boundary: ``cv2.VideoCapture(index)`` serves a real video at a camera's pace.

See :mod:`tests.support.fake_camera`: only ``cv2.VideoCapture`` is replaced; rtpose's own source, pipeline and
CLI code run as they do with a USB camera.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from rtpose.engine.pipeline import Pipeline
from rtpose.errors import SourceError
from rtpose.io.sources import CaptureSource, open_source
from tests.conftest import DETECTOR_WEIGHTS, ROOT, VIDEO_MULTI
from tests.engine.test_pipeline import SlowEstimator
from tests.support.cli_helpers import count_video_frames
from tests.support.fake_camera import Device, install


def _video_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO_MULTI))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


def test_camera_index_opens_and_delivers_the_real_frames(monkeypatch):
    cameras = install({0: Device(str(VIDEO_MULTI))}, monkeypatch)
    with open_source(0) as source:
        assert isinstance(source, CaptureSource) and source.is_live and source.is_camera
        assert source.name == "camera 0" and source.fps == pytest.approx(10.0) and source.size == (480, 360)
        assert source.frame_count is None
        frames = [source.read() for _ in range(3)]
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[1].timestamp > frames[0].timestamp
    if cameras[0].frames_missed == 0:  # read promptly: the camera's frames are the video's, in order
        for frame, expected in zip(frames, _video_frames(3)):
            np.testing.assert_array_equal(frame.image, expected)
    assert not cameras[0].isOpened()  # closing the source released the device


def test_camera_index_given_as_text_opens_the_same_camera(monkeypatch):
    install({0: Device(str(VIDEO_MULTI))}, monkeypatch)
    with open_source("0") as source:
        assert source.name == "camera 0" and source.read() is not None


@pytest.mark.parametrize("devices, index", [({}, 1), ({2: Device(str(VIDEO_MULTI), busy=True)}, 2)])
def test_missing_or_busy_camera_is_one_sentence(monkeypatch, devices, index):
    install(devices, monkeypatch)
    with pytest.raises(SourceError, match=f"Camera {index} could not be opened"):
        open_source(index)


def test_unplugged_camera_ends_the_stream(monkeypatch):
    install({0: Device(str(VIDEO_MULTI), unplug_after=5)}, monkeypatch)
    with open_source(0) as source:
        frames = list(source)
        assert len(frames) == 5 and source.ended_early


def test_slow_inference_gets_the_newest_camera_frame_and_drops_the_rest(monkeypatch):
    cameras = install({0: Device(str(VIDEO_MULTI), unplug_after=25)}, monkeypatch)
    source = open_source(0)
    pipeline = Pipeline(source, SlowEstimator(delay=0.35))  # ~3 frames/s against a 10 frames/s camera
    assert pipeline.drop_frames
    pipeline.start()
    results = list(pipeline.results(timeout=60))
    pipeline.stop()
    source.close()
    assert cameras[0].frames_served == 25
    assert len(results) < 25 and pipeline.dropped == 25 - len(results) > 0
    assert pipeline.capture.handoff.max_len <= 1  # never a queue of stale frames
    indices = [r.frame.index for r in results]
    assert indices == sorted(indices) and indices[-1] == 24  # the last frame the camera sent was processed


def _model(weights) -> list[str]:
    return ["--weights", str(weights), "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu"]


@pytest.mark.slow
def test_rtpose_camera_runs_until_unplugged_with_valid_outputs(monkeypatch, tmp_path, small_weights, capsys):
    from rtpose.cli import main

    install({0: Device(str(VIDEO_MULTI), unplug_after=15)}, monkeypatch)
    video, jsonl = tmp_path / "camera.mp4", tmp_path / "camera.jsonl"
    code = main(["--camera", "0", *_model(small_weights), "--no-show", "--save", str(video), "--json", str(jsonl)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("rtpose: error:")]
    assert len(errors) == 1 and "Camera 0 stopped sending frames after 15 frames" in errors[0], err
    header, *records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert header["kind"] == "camera" and header["timestamp"] == "unix"
    assert records and all(r["people"] for r in records)  # vtest has people in every frame
    assert count_video_frames(video) == records[-1]["frame"] - records[0]["frame"] + 1  # real time kept
    processed = int(err.split(" frames processed")[0].rsplit(" ", 1)[-1])
    dropped = int(err.split(" dropped")[0].rsplit(" ", 1)[-1])
    assert processed == len(records) and processed + dropped == 15


@pytest.mark.slow
@pytest.mark.parametrize("sig, source", [(signal.SIGTERM, "camera"), (signal.SIGHUP, "video"),
                                         (signal.SIGINT, "video"), (signal.SIGINT, "camera")])
def test_stop_signals_finalise_outputs_and_exit_128_plus_n(tmp_path, small_weights, sig, source):
    """docker stop (SIGTERM), a closed terminal (SIGHUP) and Ctrl-C (SIGINT) all leave valid files."""
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    args = [*_model(small_weights), "--no-show", "--save", str(video), "--json", str(jsonl)]
    if source == "camera":
        camera = ["--camera", f"0={VIDEO_MULTI}"]
        cmd = [sys.executable, "-m", "tests.support.fake_camera", *camera, "--", "--camera", "0", *args]
    else:
        cmd = [sys.executable, "-m", "rtpose", "--source", str(VIDEO_MULTI), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 3:  # the header and two frames
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)  # a hang guard: it normally exits within a second or two
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and f"stopped by {signal.Signals(sig).name}" in err
    header, *records = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line complete JSON
    assert header["schema"] == "rtpose.poses" and len(records) >= 2
    # A finalised mp4 holding every processed frame; for a camera, the frames dropped in between are filled
    # with the previous one, so that the video keeps the camera's real time.
    span = records[-1]["frame"] - records[0]["frame"] + 1 if source == "camera" else len(records)
    assert count_video_frames(video) == span
    processed = int(err.split(" frames processed")[0].rsplit(" ", 1)[-1])
    assert processed == len(records)  # the frame that was in the model when the signal came is not lost


def test_camera_that_sends_no_frame_writes_nothing_and_says_so(monkeypatch, tmp_path, small_weights, capsys):
    from rtpose.cli import main

    install({0: Device(str(VIDEO_MULTI), unplug_after=0)}, monkeypatch)
    video = tmp_path / "none.mp4"
    assert main(["--camera", "0", *_model(small_weights), "--no-show", "--save", str(video)]) == 1
    err = capsys.readouterr().err
    assert "Camera 0 stopped sending frames after 0 frames" in err and "Traceback" not in err
    assert f"no frame was processed, so {video} was not written" in err and "wrote" not in err
    assert not video.exists()
