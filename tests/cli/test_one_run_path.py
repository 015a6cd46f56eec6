"""``rtpose run`` has one path: an image is a one-frame stream, and every sink and stream is closed once."""

from __future__ import annotations

import json
from collections import Counter

import cv2
import pytest

from rtpose.cli import main
from tests.cli.test_hostile_inputs import _env, _keep_pytorch_detector, _limited, _one_sentence, rtpose
from tests.conftest import BUS, DETECTOR_WEIGHTS, VIDEO_MULTI


def _model(weights) -> list[str]:
    return ["--weights", str(weights), "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu", "--backend", "torch",
            "--no-show"]


@pytest.fixture()
def closes(monkeypatch):
    """How often each sink and stream was really closed (the real close runs; a stream's repeated, no-op
    close calls are not counted)."""
    from rtpose.engine.stream import PoseStream
    from rtpose.io import sinks

    counted: Counter = Counter()
    for cls in (sinks.VideoSink, sinks.ImageSink, sinks.JsonSink, sinks.JsonLinesSink, sinks.MaskSink):
        original = cls.close

        def close(self, *a, _original=original, **kw):
            counted[id(self)] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(cls, "close", close)
    stream_close = PoseStream.close

    def close_stream(self, *a, **kw):
        if not self._closed:
            counted[("stream", id(self))] += 1
        return stream_close(self, *a, **kw)

    monkeypatch.setattr(PoseStream, "close", close_stream)
    return counted


def test_a_video_run_closes_each_sink_and_the_stream_once(tmp_path, small_weights, closes, capsys):
    out, lines = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    assert main(["--source", str(VIDEO_MULTI), *_model(small_weights), "--max-frames", "3", "--save", str(out),
                 "--json", str(lines)]) == 0
    assert len(closes) == 3 and set(closes.values()) == {1}, closes  # video, JSON Lines, the stream
    err = capsys.readouterr().err
    assert "3 frames processed" in err and f"wrote {out} (3 frames)" in err and f"wrote {lines} (3 frames)" in err


def test_an_image_is_a_one_frame_stream_with_the_same_outputs(tmp_path, small_weights, closes, capsys):
    out_img, out_json = tmp_path / "bus_pose.png", tmp_path / "bus.json"
    assert main(["--source", str(BUS), *_model(small_weights), "--save", str(out_img), "--json", str(out_json)]) == 0
    assert len(closes) == 3 and set(closes.values()) == {1}, closes  # image, JSON document, the stream
    doc = json.loads(out_json.read_text())
    assert doc["frame"] == 0 and (doc["width"], doc["height"]) == (810, 1080) and doc["file"] == "bus.jpg"
    assert doc["people"] and all(p["track_id"] is None for p in doc["people"])  # no tracking for one image
    drawn, original = cv2.imread(str(out_img)), cv2.imread(str(BUS))
    assert drawn.shape == original.shape and (cv2.absdiff(drawn, original) > 60).any()
    err = capsys.readouterr().err
    assert f"{len(doc['people'])} people in bus.jpg" in err and "frames processed" not in err


def test_a_full_disk_under_a_single_image_save_says_so(tmp_path, small_weights):
    engines = _keep_pytorch_detector(tmp_path / "engines")
    env = _env(RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_ENGINES=str(engines))
    out = tmp_path / "out" / "bus_pose.png"
    out.parent.mkdir()
    proc = rtpose("--source", str(BUS), *_model(small_weights), "--save", str(out), env=env,
                  preexec_fn=_limited(20_000))
    assert proc.returncode == 1, proc.stderr
    line = _one_sentence(proc)
    assert f"Could not write {out}: the file size limit was reached" in line and "unknown image type" not in line
    assert list(out.parent.iterdir()) == []  # no half image, no temporary file
