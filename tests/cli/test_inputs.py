"""Every input a user sends: one sentence and a non-zero exit before anything slow, or the right result.

Real files from ../shared; the model-free cases run without weights, so a case that reached the model
would fail on the (offline) first-use download instead of giving the sentence it is checked for.
"""

from __future__ import annotations

import functools
import http.server
import json
import math
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.cli import main
from tests.conftest import BUS, DATA, DETECTOR_WEIGHTS, VIDEO_MULTI
from tests.support.cli_helpers import one_error_line

EXAMPLE_ANN = DATA / "eval" / "example_coco_val.json"
EXAMPLE_PREDS = DATA / "eval" / "example_coco_preds.json"


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No cached weights, and the first-use download goes to a port where nothing listens."""
    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--conf", "5"], "--conf: must be between 0 and 1, got 5"),
        (["--conf", "-1"], "--conf: must be between 0 and 1"),
        (["--conf", "nan"], "--conf: expected a number"),
        (["--max-people", "0"], "--max-people: must be at least 1"),
        (["--track-buffer", "-3"], "--track-buffer: must be 0 or more"),
        (["--kpt-thr", "-1"], "--kpt-thr: must be between 0 and 1"),
        (["--kpt-thr", "5"], "--kpt-thr: must be between 0 and 1"),
        (["--timeout", "-1"], "--timeout: must be more than 0"),
        (["--max-frames", "0"], "--max-frames: must be at least 1"),
        (["--input-size", "200x100"], "multiples of 32"),
        (["--input-size", "4096x4096"], "too large"),
        (["--device", "tpu"], "expected auto, cpu, cuda or cuda:N"),
        (["--camera", "-2"], "--camera: must be 0 or more"),
    ],
)
def test_bad_option_values_are_one_sentence_exit_2(capsys, args, words):
    with pytest.raises(SystemExit) as info:
        main(["--source", str(BUS), "--no-show", *args])
    assert info.value.code == 2
    assert words in one_error_line(capsys)


def test_unknown_command_suggests_the_close_one(capsys):
    assert main(["evl"]) == 2
    assert "did you mean 'rtpose eval'?" in one_error_line(capsys)


def test_cuda_on_a_machine_without_a_gpu_is_one_sentence(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert main(["--source", str(BUS), "--no-show", "--device", "cuda", "--detector", str(DETECTOR_WEIGHTS)]) == 1
    assert "--device cuda asks for an NVIDIA GPU, but PyTorch sees none" in one_error_line(capsys)


@pytest.mark.parametrize(
    "source, outputs, words",
    [
        (VIDEO_MULTI, ["--save", "OUT/out.jpg"], "--save out.jpg: the source has many frames, so --save writes"),
        (DATA / "images", ["--save", "OUT/out.png"], "writes a video; name it .mp4 or .avi"),
        (VIDEO_MULTI, ["--save", "OUT/out.xyz"], "--save out.xyz: rtpose writes .mp4, .m4v, .mov, .mkv, .avi videos."),
        (BUS, ["--save", "OUT/out.xyz"], "videos; for one image also .jpg"),
        (VIDEO_MULTI, ["--save", "OUT"], "is a folder; give a file name inside it"),
        (VIDEO_MULTI, ["--save", "/proc/out.mp4"], "Cannot write the --save file /proc/out.mp4"),
        (VIDEO_MULTI, ["--save", "OUT/missing/out.mp4"], "the folder"),
        (VIDEO_MULTI, ["--json", "OUT/out.json"], "--json out.json: a video gives one record per frame"),
        (DATA / "images", ["--json", "OUT/out.json"], "name it out.jsonl"),
        (VIDEO_MULTI, ["--json", "/proc/x.jsonl"], "Cannot write the --json file"),
    ],
)
def test_outputs_are_checked_before_the_model_loads(tmp_path, capsys, source, outputs, words):
    outputs = [o.replace("OUT", str(tmp_path)) for o in outputs]
    # No --weights: reaching the model would fail on the offline download, not on the output.
    assert main(["--source", str(source), "--no-show", *outputs]) == 1
    line = one_error_line(capsys)
    assert words in line and "download" not in line
    if "out.mp4" not in outputs[-1]:
        assert ".mp4 or .avi" not in line or "many frames" in line  # no video advice for a non-video mistake


@pytest.mark.parametrize(
    "source, words",
    [
        ("ftp://example.org/clip.mp4", "ftp:// URLs cannot be read; rtpose opens rtsp"),
        ("/no/such/folder/", "does not exist"),
    ],
)
def test_unsupported_sources_are_one_sentence(capsys, source, words):
    assert main(["--source", source, "--no-show"]) == 1
    assert words in one_error_line(capsys)


def test_wrong_kinds_of_model_files_are_one_sentence(tmp_path, capsys, small_weights):
    import torch

    class NotPose(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    other = tmp_path / "classifier.onnx"
    torch.onnx.export(NotPose(), (torch.zeros(1, 3, 64, 64),), str(other), dynamo=False)
    assert main(["--source", str(BUS), "--no-show", "--weights", str(other), "--detector", str(DETECTOR_WEIGHTS)]) == 1
    assert "classifier.onnx is not an HRNet pose model" in one_error_line(capsys)

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for detector, words in ((small_weights, "as an Ultralytics YOLO detector"), (empty, "are an empty file")):
        assert main(["--source", str(BUS), "--no-show", "--weights", str(small_weights), "--detector", str(detector),
                     "--backend", "torch"]) == 1
        assert words in one_error_line(capsys)

    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert main(["--source", str(BUS), "--no-show", "--weights", str(text), "--backend", "torch"]) == 1
    assert "not a readable PyTorch checkpoint" in one_error_line(capsys)


def test_input_size_that_contradicts_an_exported_model_is_refused(tmp_path, capsys, small_weights):
    out = tmp_path / "w18.onnx"
    assert main(["export-onnx", "--weights", str(small_weights), "--out", str(out), "--no-verify"]) == 0
    capsys.readouterr()
    assert main(["--source", str(BUS), "--no-show", "--weights", str(out), "--input-size", "384x288",
                 "--detector", str(DETECTOR_WEIGHTS)]) == 1
    assert "w18.onnx was exported for 256x192 inputs, not --input-size 384x288" in one_error_line(capsys)


def test_export_checks_its_output_before_exporting(tmp_path, capsys, small_weights, monkeypatch):
    assert main(["export-onnx", "--weights", str(small_weights), "--out", "/proc/x.onnx"]) == 1
    assert "Cannot write the ONNX file /proc/x.onnx" in one_error_line(capsys)
    with pytest.raises(SystemExit) as info:
        main(["export-onnx", "--weights", str(small_weights), "--opset", "99"])
    assert info.value.code == 2 and "opset must be 17 to 20" in one_error_line(capsys)
    blocker = tmp_path / "engines-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("RTPOSE_ENGINES", str(blocker))
    assert main(["export-onnx", "--weights", str(small_weights)]) == 1
    assert "engines folder" in (line := one_error_line(capsys)) and "is a file, not a folder" in line


def test_eval_refuses_nan_results_and_warns_about_other_categories(tmp_path, capsys):
    results = json.loads(EXAMPLE_PREDS.read_text())
    with_nan = [dict(r) for r in results]
    with_nan[3]["keypoints"] = [math.nan] * len(with_nan[3]["keypoints"])
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(with_nan))
    assert main(["eval", "--ann", str(EXAMPLE_ANN), "--results", str(path)]) == 1
    assert "Result 3" in (line := one_error_line(capsys)) and "NaN" in line

    other = [dict(r) for r in results]
    other[0]["category_id"] = 18  # a dog
    path.write_text(json.dumps(other))
    assert main(["eval", "--ann", str(EXAMPLE_ANN), "--results", str(path)]) == 0
    captured = capsys.readouterr()
    assert "1 of 73 results have a category_id other than 1" in captured.err
    assert "AP" in captured.out


def test_eval_checks_out_before_the_evaluation_and_writes_nothing_unasked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--ann", str(EXAMPLE_ANN), "--images", str(tmp_path), "--out", "/proc/r.json"]) == 1
    assert "Cannot write the results file (--out) /proc/r.json" in one_error_line(capsys)
    assert not list(tmp_path.iterdir())  # no rtpose_keypoint_results.json in the current folder


def test_cache_lists_and_cleans_exports(tmp_path, capsys, monkeypatch):
    engines = tmp_path / "engines"
    engines.mkdir()
    (engines / "hrnet_w32_x_256x192_fp32.onnx").write_bytes(b"\0" * 2_000_000)
    (engines / "hrnet_w32_x_256x192_fp32.onnx.json").write_text('{"file": "hrnet_w32_x_256x192_fp32.onnx"}')
    (engines / "README.md").write_text("kept")
    monkeypatch.setenv("RTPOSE_ENGINES", str(engines))
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "exports:" in out and "2 files, 2.0 MB" in out and "hrnet_w32_x_256x192_fp32.onnx" in out
    assert main(["cache", "clean", "--dry-run"]) == 0 and len(list(engines.iterdir())) == 3
    assert main(["cache", "clean"]) == 0
    assert "removed 2 files, 2.0 MB" in capsys.readouterr().err
    assert [p.name for p in engines.iterdir()] == ["README.md"]


# -- runs on real data -------------------------------------------------------------------------------


def _model(weights) -> list[str]:
    return ["--weights", str(weights), "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu"]


def _lines(path: Path) -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return lines[0], lines[1:]


@pytest.mark.slow
def test_json_lines_schema_header_media_time_and_null_track_ids(tmp_path, small_weights, capsys):
    out = tmp_path / "v.jsonl"
    assert main(["--source", str(VIDEO_MULTI), *_model(small_weights), "--no-show", "--max-frames", "4",
                 "--json", str(out), "--no-track"]) == 0
    header, frames = _lines(out)
    assert header["schema"] == "rtpose.poses" and header["version"] == 3 and header["kind"] == "video"
    assert header["stream"] == 0 and all(f["stream"] == 0 for f in frames)
    assert header["timestamp"] == "media" and header["fps"] == pytest.approx(10.0)
    assert (header["width"], header["height"]) == (480, 360)
    assert len(header["keypoints"]["names"]) == 17 and header["keypoints"]["names"][0] == "nose"
    assert [f["frame"] for f in frames] == [0, 1, 2, 3]
    assert [f["timestamp"] for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    people = [p for f in frames for p in f["people"]]
    assert people and all(p["track_id"] is None for p in people) and all(f["file"] is None for f in frames)
    assert "wrote" in capsys.readouterr().err


@pytest.mark.slow
def test_folder_of_photos_each_image_on_its_own_named_and_skips_reported(tmp_path, small_weights, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in sorted((DATA / "images").iterdir()):
        shutil.copy(image, folder / image.name)
    (folder / "broken.jpg").write_text("not an image")
    out = tmp_path / "photos.jsonl"
    assert main(["--source", str(folder), *_model(small_weights), "--no-show", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "unrelated photos" in err and "skipped 1 unreadable image file(s): broken.jpg" in err
    assert "1 skipped (unreadable)" in err
    header, frames = _lines(out)
    assert header["kind"] == "folder" and header["timestamp"] is None
    assert [f["file"] for f in frames] == ["astronaut.png", "bus.jpg", "zidane.jpg"]  # broken.jpg named, not here
    assert all(p["track_id"] is None for f in frames for p in f["people"])
    # Each photo's keypoints are those of the photo alone: nothing carried over from the previous image.
    single = tmp_path / "bus.json"
    assert main(["--source", str(folder / "bus.jpg"), *_model(small_weights), "--no-show", "--json", str(single)]) == 0
    alone = json.loads(single.read_text())
    in_folder = next(f for f in frames if f["file"] == "bus.jpg")
    assert alone["file"] == "bus.jpg" and alone["schema"] == "rtpose.poses"
    np.testing.assert_allclose([p["keypoints"] for p in in_folder["people"]],
                               [p["keypoints"] for p in alone["people"]], atol=0.05)


def test_numbered_frames_are_a_sequence_and_photos_are_not():
    from rtpose.io.sources import is_frame_sequence

    assert is_frame_sequence([f"frame_{i:04d}.png" for i in range(1, 40)])
    assert not is_frame_sequence(["IMG_2041.jpg", "IMG_2057.jpg", "IMG_2060.jpg"])
    assert not is_frame_sequence(["bus.jpg", "zidane.jpg"])
    assert not is_frame_sequence(["a_001.jpg", "b_002.jpg"])


@pytest.fixture()
def http_video(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(VIDEO_MULTI, root / "clip.avi")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/clip.avi"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_video_file_behind_an_http_url_is_a_file_not_a_live_stream(http_video):
    from rtpose.engine.pipeline import Pipeline
    from rtpose.io.sources import open_source
    from tests.engine.test_pipeline import SlowEstimator

    source = open_source(http_video)
    assert not source.is_live and source.frame_count == 795
    pipeline = Pipeline(source, SlowEstimator(0.002), max_frames=120)
    assert not pipeline.drop_frames
    pipeline.start()
    results = list(pipeline.results(timeout=60))
    pipeline.stop()
    source.close()
    assert [r.frame.index for r in results] == list(range(120)) and pipeline.dropped == 0
    assert results[10].frame.media_time == pytest.approx(1.0)


def _vtest_clip(path: Path, frames: int, fps: float) -> Path:
    """The first ``frames`` frames of vtest as an MJPG .avi that claims ``fps`` frames/s."""
    cap = cv2.VideoCapture(str(VIDEO_MULTI))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (480, 360))
    for _ in range(frames):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    return path


@pytest.mark.slow
def test_realtime_save_keeps_the_duration_of_the_source(tmp_path, small_weights, capsys):
    # 60 frames at 200 frames/s (0.3 s): no CPU detects and estimates a frame in 5 ms, so frames are dropped.
    clip = _vtest_clip(tmp_path / "clip.avi", frames=60, fps=200.0)
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    assert main(["--source", str(clip), *_model(small_weights), "--no-show", "--realtime", "--save", str(video),
                 "--json", str(jsonl)]) == 0
    _, frames = _lines(jsonl)
    processed = [f["frame"] for f in frames]
    out = cv2.VideoCapture(str(video))
    written = 0
    while out.read()[0]:
        written += 1
    fps = out.get(cv2.CAP_PROP_FPS)
    out.release()
    assert len(processed) < 60  # frames were dropped
    assert written == processed[-1] + 1  # gaps filled: frame numbers and video frames agree
    assert fps == pytest.approx(200.0) and "repeats of dropped frames" in capsys.readouterr().err


@pytest.mark.slow
def test_truncated_video_says_it_ended_early(tmp_path, small_weights, capsys):
    clip = _vtest_clip(tmp_path / "clip.avi", frames=40, fps=10.0)
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the index says 40 frames; half of them are there
    assert main(["--source", str(cut), *_model(small_weights), "--no-show", "--max-people", "1"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cut.avi ended after" in err and "of 40 frames (the file is truncated or damaged)" in err
