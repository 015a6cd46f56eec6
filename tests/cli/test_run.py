"""``rtpose --source …``: headless video run, Ctrl-C, single image, bad sources and missing weights."""

from __future__ import annotations

import json
import os
import time

import cv2
import pytest

from rtpose.cli import main
from tests.conftest import BUS, DETECTOR_WEIGHTS, VIDEO_MULTI
from tests.support.cli_helpers import one_error_line


def _model(small_weights) -> list[str]:
    return ["--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu"]


@pytest.mark.slow
def test_headless_video_writes_json_lines_and_playable_video(tmp_path, small_weights, capsys):
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    argv = ["--source", str(VIDEO_MULTI), *_model(small_weights), "--no-show", "--max-frames", "6",
            "--save", str(video), "--json", str(jsonl), "--track"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "6 frames processed" in err and "p95 ms" in err and "e2e" in err and "pose" in err and "track" in err
    header, *records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert header["schema"] == "rtpose.poses" and header["kind"] == "video"
    assert [r["frame"] for r in records] == list(range(6))
    assert all(len(r["people"]) >= 1 for r in records)  # vtest has people walking in every frame
    person = records[0]["people"][0]
    assert len(person["box"]) == 4 and len(person["keypoints"]) == 17 and len(person["keypoints"][0]) == 3
    assert all(p["track_id"] is not None for r in records for p in r["people"])  # --track gives identities
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened()
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (480, 360)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 6


@pytest.mark.slow
def test_single_image_writes_annotated_image_and_json(tmp_path, small_weights, capsys):
    out_img, out_json = tmp_path / "bus_pose.jpg", tmp_path / "bus.json"
    argv = ["--source", str(BUS), *_model(small_weights), "--no-show", "--save", str(out_img), "--json", str(out_json)]
    assert main(argv) == 0
    doc = json.loads(out_json.read_text())
    assert doc["frame"] == 0 and (doc["width"], doc["height"]) == (810, 1080)
    assert len(doc["people"]) == 4
    assert all(len(p["keypoints"]) == 17 for p in doc["people"])
    drawn, original = cv2.imread(str(out_img)), cv2.imread(str(BUS))
    assert drawn.shape == original.shape and (cv2.absdiff(drawn, original) > 60).any()
    assert "4 people" in capsys.readouterr().err


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "source, words",
    [
        (["--camera", "99"], "Camera 99"),
        (["--source", "/no/such/file.mp4"], "does not exist"),
        (["--source", "CORRUPT"], "corrupt"),
        (["--source", "rtsp://127.0.0.1:PORT/live"], "stream"),
        (["--source", "http://127.0.0.1:PORT/live.mjpg"], "stream"),
    ],
)
def test_bad_sources_exit_1_with_one_sentence(tmp_path, capsys, source, words):
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(os.urandom(4096))
    source = [s.replace("CORRUPT", str(corrupt)).replace("PORT", str(_closed_port())) for s in source]
    start = time.perf_counter()
    # weights are checked after the source: a bad source fails fast, before any model loads
    assert main([*source, "--no-show", "--timeout", "2"]) == 1
    assert words in one_error_line(capsys)
    assert time.perf_counter() - start < 30  # a hang guard, not a speed test


@pytest.mark.parametrize("display", [None, ":987"])
def test_show_without_display_is_a_sentence(monkeypatch, capsys, display):
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:  # set, but no X server answers (a window would abort the process)
        monkeypatch.setenv("DISPLAY", display)
    assert main(["--source", str(BUS), "--show"]) == 1
    assert "display" in one_error_line(capsys)


def test_no_source_and_help(capsys):
    assert main([]) == 1
    assert "--camera" in one_error_line(capsys)
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--camera", "--source", "--save", "--json", "--no-show", "--max-frames", "--kpt-thr", "--track"):
        assert option in out
