"""Several streams in one process: every stream's people in one pose call, results back to their own stream.

On the shared videos, through the Python API and the command line (``--source A --source B``, ``--sources
FILE``): each stream's results are complete and in order, no frame is attributed to another stream, the
pose call carries the people of every stream, and a stream that ends or stalls never holds the others.
"""

from __future__ import annotations

import json
import shutil
import threading

import cv2
import numpy as np
import pytest

import rtpose
from rtpose.io.sources import Frame, FrameSource
from rtpose.utils.timing import now
from tests.conftest import BUS, DETECTOR_WEIGHTS, VIDEO_MULTI, VIDEO_ONE_BY_ONE
from tests.io.test_camera import count_video_frames

pytestmark = pytest.mark.slow


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtpose-") and t.is_alive()]


def _first_frames(video, n: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(n)]
    capture.release()
    return frames


@pytest.fixture(scope="module")
def model(small_weights):
    with rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="onnxruntime") as m:
        yield m


def test_two_streams_in_one_process_keep_their_own_frames(model):
    stream = model.stream([str(VIDEO_MULTI), str(VIDEO_ONE_BY_ONE)], max_frames=5)
    results = list(stream)
    by_stream = {i: [r for r in results if r.stream == i] for i in (0, 1)}
    assert [r.index for r in by_stream[0]] == list(range(5)) and [r.index for r in by_stream[1]] == list(range(5))
    for i, video in ((0, VIDEO_MULTI), (1, VIDEO_ONE_BY_ONE)):
        for r, expected in zip(by_stream[i], _first_frames(video, 5)):
            np.testing.assert_array_equal(r.image, expected)  # no stream's frame attributed to another
            assert r.to_dict()["stream"] == i
    assert stream.real_time == (False, False)  # files: every frame, none dropped
    assert stream.frames_processed == 10
    stats = stream.stats()
    assert len(stats.streams) == 2 and [s.frames for s in stats.streams] == [5, 5]
    assert stats.people == sum(len(r) for r in results)
    assert not _threads()


def test_people_per_pose_call_grow_with_the_streams(model):
    one = model.stream(str(VIDEO_MULTI), max_frames=4, track=False)
    list(one)
    four = model.stream([str(VIDEO_MULTI)] * 4, max_frames=4, track=False)
    results = list(four)
    assert len(results) == 16
    assert four.stats().people_per_call > one.stats().people_per_call
    # the same frames in four streams: each stream gets the people one stream gets (one batch, split back)
    single = {r.index: r.keypoints for r in list(model.stream(str(VIDEO_MULTI), max_frames=4, track=False))}
    for r in results:
        np.testing.assert_allclose(r.keypoints, single[r.index], atol=1e-3)


@pytest.mark.parametrize("det_every", [1, 3])
def test_the_two_inference_stages_give_what_one_thread_gives(model, det_every):
    """Detection and crops of the next round run beside this round's pose call: same results, in order."""
    from rtpose.engine.pipeline import Pipeline
    from rtpose.io.sources import open_source

    runs = {}
    for overlap in (True, False):
        sources = [open_source(str(VIDEO_MULTI)), open_source(str(VIDEO_ONE_BY_ONE))]
        pipeline = Pipeline(sources, model.estimator, max_frames=6, det_every=det_every, overlap=overlap,
                            tracker=[model.stream_defaults.tracker(model.keypoint_set) for _ in sources])
        pipeline.start()
        threads = set(_threads())
        runs[overlap] = list(pipeline.results(timeout=60))
        pipeline.stop()
        for source in sources:
            source.close()
        assert ("rtpose-pose" in threads) == overlap
        assert pipeline.people == sum(len(r) for r in runs[overlap])
        for i in (0, 1):
            assert [r.index for r in runs[overlap] if r.stream == i] == list(range(6))  # in order, all there
        runs[overlap].sort(key=lambda r: (r.stream, r.index))  # rounds may pair the streams' frames differently
    for a, b in zip(runs[True], runs[False]):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
    assert not _threads()


class StalledCamera(FrameSource):
    """A live source that sends two frames, then nothing until it is closed (a camera that froze)."""

    def __init__(self) -> None:
        super().__init__()
        self.name, self.is_live, self.size = "frozen camera", True, (480, 360)
        self.closed = threading.Event()
        self.image = _first_frames(VIDEO_MULTI, 1)[0]

    def read(self):
        if self._next_index >= 2:
            self.closed.wait()
            return None
        frame = Frame(self._next_index, now(), self.image.copy())
        self._next_index += 1
        return frame

    def close(self) -> None:
        self.closed.set()


def test_a_stalled_or_ended_stream_never_holds_the_others(model, tmp_path):
    stalled = StalledCamera()
    folder = tmp_path / "two"
    folder.mkdir()
    shutil.copy(BUS, folder / "a.jpg")
    shutil.copy(BUS, folder / "b.jpg")
    stream = model.stream([stalled, str(folder), str(VIDEO_MULTI)], track=False)
    assert stream.real_time == (True, False, False)  # the camera keeps its newest frame only
    seen = {0: 0, 1: 0, 2: 0}
    for result in stream:
        seen[result.stream] += 1
        if seen[2] == 8:
            break
    assert not stream.pipeline.inferring  # leaving the loop stopped the inference at once
    stalled.close()  # the frozen camera's capture thread, stuck in read(), ends once its source is closed
    for _ in range(100):
        if not _threads():
            break
        threading.Event().wait(0.05)
    assert seen[2] == 8 and seen[1] == 2 and 1 <= seen[0] <= 2
    assert not _threads(), _threads()


def test_cli_several_sources_one_json_file_and_a_video_each(small_weights, tmp_path, capsys):
    from rtpose.cli import main

    listing = tmp_path / "cameras.txt"
    listing.write_text(f"# the shop\n{VIDEO_ONE_BY_ONE}   # corridor\n\n")
    out, videos = tmp_path / "poses.jsonl", tmp_path / "videos"
    code = main(["--source", str(VIDEO_MULTI), "--sources", str(listing), "--weights", str(small_weights),
                 "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu", "--backend", "onnxruntime",
                 "--max-frames", "4", "--no-show", "--json", str(out), "--save", f"{videos}/"])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    headers = [line for line in lines if "schema" in line]
    records = [line for line in lines if "schema" not in line]
    assert [(h["stream"], h["source"], h["version"]) for h in headers] == [
        (0, VIDEO_MULTI.name, 3), (1, VIDEO_ONE_BY_ONE.name, 3)]
    for i in (0, 1):
        assert [r["frame"] for r in records if r["stream"] == i] == [0, 1, 2, 3]
    assert any(r["people"] for r in records if r["stream"] == 0)
    assert count_video_frames(videos / f"{VIDEO_MULTI.stem}.mp4") == 4
    assert count_video_frames(videos / f"{VIDEO_ONE_BY_ONE.stem}.mp4") == 4
    assert "2 streams: 8 frames processed" in err and "per call" in err and "stream 1 source" in err


def test_cli_several_sources_bad_input_is_one_sentence(small_weights, tmp_path, capsys):
    from rtpose.cli import main

    empty = tmp_path / "none.txt"
    empty.write_text("# nothing here\n")
    assert main(["--sources", str(empty), "--weights", str(small_weights), "--no-show"]) == 1
    assert "names no source" in capsys.readouterr().err
    code = main(["--source", str(VIDEO_MULTI), "--source", str(VIDEO_MULTI), "--weights", str(small_weights),
                 "--no-show", "--save", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert code == 1 and "takes a folder" in err and "Traceback" not in err
