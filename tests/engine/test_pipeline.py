"""The threaded pipeline with synthetic sources and a stand-in estimator (fast), plus the real one on vtest."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rtpose.engine.pipeline import Pipeline
from rtpose.errors import SourceError
from rtpose.io.sources import Frame, FrameSource
from rtpose.results import PoseResult
from rtpose.utils.timing import StageTimer, now


class SyntheticSource(FrameSource):
    """``count`` small frames; ``period`` seconds apart (live) or as fast as asked (file-like)."""

    def __init__(self, count: int = 300, live: bool = True, period: float = 0.001, fail_at: int | None = None):
        super().__init__()
        self.name = "synthetic"
        self.is_live = live
        self.count, self.period, self.fail_at = count, period, fail_at
        self.fps = 1.0 / period if period else None
        self.size = (64, 48)
        self.frame_count = None if live else count
        self.closed = False

    def read(self):
        if self._next_index >= self.count:
            return None
        if self.fail_at is not None and self._next_index == self.fail_at:
            raise SourceError("The synthetic source broke.")
        if self.period:
            time.sleep(self.period)
        image = np.full((48, 64, 3), self._next_index % 256, np.uint8)
        frame = Frame(self._next_index, now(), image)
        self._next_index += 1
        return frame

    def seek(self, index):
        if self.is_live:
            return super().seek(index)
        self._next_index = self._check_seek(index)

    def close(self):
        self.closed = True


class SlowEstimator:
    """Stands in for TopDownEstimator: one person per frame after ``delay`` seconds, timed as detect/pose."""

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self.timer = StageTimer()
        self.seen: list[int] = []

    def __call__(self, image, timer=None):
        timer = timer or self.timer
        with timer.stage("detect"):
            time.sleep(self.delay / 2)
        with timer.stage("pose"):
            time.sleep(self.delay / 2)
        self.seen.append(int(image[0, 0, 0]))
        kpts = np.full((1, 17, 3), 0.9, np.float32)
        return PoseResult(np.array([[1, 1, 10, 10]], np.float32), np.array([0.9], np.float32), kpts)


class SlowStages:
    """Stands in for a detector + pose model as the pipeline's two stages (:class:`rtpose.engine.stages.Stages`):
    ``prepare`` ("detect") and ``finish`` ("pose") each take ``delay / 2`` seconds, so they overlap on two threads."""

    overlaps = True

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self.finishing = 0  # rounds in finish() at once (never more than one)
        self.most_at_once = 0

    def prepare(self, images, schedules, timer):
        with timer.stage("detect"):
            time.sleep(self.delay / 2)
        return [int(image[0, 0, 0]) for image in images]

    def finish(self, prepared, schedules, timer):
        self.finishing += 1
        self.most_at_once = max(self.most_at_once, self.finishing)
        with timer.stage("pose"):
            time.sleep(self.delay / 2)
        self.finishing -= 1
        kpts = np.full((1, 17, 3), 0.9, np.float32)
        return [PoseResult(np.array([[1, 1, 10, 10]], np.float32), np.array([0.9], np.float32), kpts)
                for _ in prepared]

    def parts(self):
        return {}


class RecordingTracker:
    def __init__(self):
        self.updates, self.resets = 0, 0

    def update(self, result, timestamp):
        self.updates += 1
        return result.replace(track_ids=np.full(len(result), 7))

    def reset(self):
        self.resets += 1


def _take(pipeline: Pipeline, n: int) -> list[int]:
    """Frame indices of the next ``n`` results (generous wait: CI machines are slow and busy)."""
    stream = pipeline.results(timeout=30)
    return [next(stream).frame.index for _ in range(n)]


def _pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("rtpose-") and t.is_alive()]


@pytest.fixture(autouse=True)
def no_threads_left():
    yield
    assert not _pipeline_threads(), _pipeline_threads()


def test_live_source_faster_than_inference_drops_frames_bounded():
    source = SyntheticSource(count=400, live=True, period=0.001)
    estimator = SlowEstimator(delay=0.02)
    pipeline = Pipeline(source, estimator)
    assert pipeline.drop_frames
    pipeline.start()
    results = list(pipeline.results())
    pipeline.stop()
    assert not pipeline.running
    assert source.read() is None  # the capture thread read the whole source
    assert 3 <= len(results) < 200
    assert results[-1].dropped > 100 and pipeline.dropped == 400 - len(results)
    assert pipeline.capture.handoff.max_len <= 1, "live frames must not queue up"
    indices = [r.frame.index for r in results]
    assert indices == sorted(indices)
    assert results[-1].frame.index == 399  # the newest frame is the one processed, not a stale one
    assert {"capture", "detect", "pose"} <= set(results[-1].timings_ms)
    assert not estimator.timer.summary()  # stage times went to the pipeline's timer, passed per call
    assert pipeline.timer.summary()["pose"]["count"] == len(results)


@pytest.mark.parametrize("two_stages", [False, True])
def test_file_source_processes_every_frame_in_order_with_tracker(two_stages):
    source = SyntheticSource(count=40, live=False, period=0)
    tracker = RecordingTracker()
    estimator = SlowStages(0.004) if two_stages else SlowEstimator(delay=0.002)
    pipeline = Pipeline(source, estimator, tracker=tracker)
    assert not pipeline.drop_frames
    pipeline.start()
    assert pipeline.overlap == two_stages  # a thread per stage for an estimator with a first stage
    results: list[PoseResult] = list(pipeline.results())
    pipeline.stop()
    assert [r.frame.index for r in results] == list(range(40))
    assert pipeline.dropped == 0 and pipeline.capture.handoff.max_len <= 4
    assert tracker.updates == 40 and all(r[0].track_id == 7 for r in results)
    assert "track" in results[0].timings_ms and results[-1].fps > 0
    stats = pipeline.stats()
    assert not two_stages or estimator.most_at_once == 1  # rounds are finished one at a time, in order
    assert stats.frames == 40 and stats.dropped == 0 and stats.people == 40 and stats.people_per_call == 1.0
    summary = stats.format()
    assert "40 frames processed, 0 dropped" in summary and "p95 ms" in summary and "track" in summary


def test_max_frames_and_stop_joins_all_threads_quickly():
    pipeline = Pipeline(SyntheticSource(count=10_000, live=False, period=0), SlowEstimator(0.001), max_frames=7)
    pipeline.start()
    assert len(list(pipeline.results())) == 7
    pipeline.stop()

    endless = Pipeline(SyntheticSource(count=10**9, live=True, period=0.002), SlowEstimator(0.05))
    endless.start()
    for got, _ in enumerate(endless.results(), 1):
        if got == 3:
            break
    endless.stop(timeout=1.0)  # joins with this timeout: threads still alive would show below
    assert not endless.running and not _pipeline_threads()


def test_stop_while_the_consumer_is_slow_and_the_queue_is_full():
    pipeline = Pipeline(SyntheticSource(count=1000, live=False, period=0), SlowEstimator(0.0))
    pipeline.start()
    time.sleep(0.3)  # results queue and frame queue fill up; both threads wait
    pipeline.stop(timeout=1.0)
    assert not pipeline.running


@pytest.mark.parametrize("two_stages", [False, True])
def test_pause_resume_and_seek(two_stages):
    source = SyntheticSource(count=200, live=False, period=0.001)
    tracker = RecordingTracker()
    pipeline = Pipeline(source, SlowStages(0.01) if two_stages else SlowEstimator(0.005), tracker=tracker)
    pipeline.start()
    stream = pipeline.results()
    first = next(stream)
    pipeline.pause()
    assert pipeline.paused
    time.sleep(0.2)
    drained = list(pipeline.results(timeout=0.3))  # at most what was in flight when pausing
    assert len(drained) <= 6
    time.sleep(0.2)
    assert list(pipeline.results(timeout=0.3)) == []  # nothing while paused
    pipeline.seek(150)  # while paused: exactly that frame is processed
    assert _take(pipeline, 1) == [150] and tracker.resets == 1
    assert list(pipeline.results(timeout=0.3)) == []
    pipeline.resume()
    rest = list(pipeline.results())
    pipeline.stop()
    assert [r.frame.index for r in rest] == list(range(151, 200))
    assert first.frame.index == 0
    with pytest.raises(SourceError):
        Pipeline(SyntheticSource(live=True), SlowEstimator()).seek(3)


def test_source_error_midway_reaches_the_consumer():
    pipeline = Pipeline(SyntheticSource(count=100, live=False, period=0, fail_at=5), SlowEstimator(0.0))
    pipeline.start()
    got = []
    with pytest.raises(SourceError, match="broke"):
        for result in pipeline.results():
            got.append(result.frame.index)
    pipeline.stop()
    assert got == [0, 1, 2, 3, 4]


def test_started_paused_gives_nothing_until_resumed_and_a_timed_out_results_call_loses_nothing():
    pipeline = Pipeline(SyntheticSource(count=30, live=False, period=0), SlowEstimator(0.0))
    pipeline.pause()  # a viewer may open a file paused
    pipeline.start()
    assert list(pipeline.results(timeout=0.3)) == [] and pipeline.running  # gave up waiting; the run goes on
    pipeline.resume()
    rest = list(pipeline.results())
    pipeline.stop()
    assert [r.frame.index for r in rest] == list(range(30))


def test_results_after_the_end_return_at_once():
    pipeline = Pipeline(SyntheticSource(count=5, live=False, period=0), SlowEstimator(0.0))
    pipeline.start()
    assert _take(pipeline, 5) == [0, 1, 2, 3, 4]
    assert list(pipeline.results()) == []  # the end marker
    assert list(pipeline.results()) == []  # taken already: no wait for a result that cannot come
    pipeline.stop()
    assert not pipeline.running


def test_one_estimator_two_pipelines_keep_their_own_stage_times():
    """A run that ends after a newer one started must not touch the newer run's figures."""
    estimator = SlowEstimator(0.01)
    old = Pipeline(SyntheticSource(count=30, live=False, period=0), estimator)
    new = Pipeline(SyntheticSource(count=20, live=False, period=0), estimator)
    old.start()
    new.start()  # both use the estimator at once; old ends last
    old_results, new_results = list(old.results()), list(new.results())
    old.stop()
    new.stop()
    assert len(old_results) == 30 and len(new_results) == 20
    assert old.timer.summary()["pose"]["count"] == 30
    assert new.timer.summary()["pose"]["count"] == 20
    assert not estimator.timer.summary()


def test_set_tracker_while_running_takes_effect_between_frames():
    first, second = RecordingTracker(), RecordingTracker()
    pipeline = Pipeline(SyntheticSource(count=60, live=False, period=0), SlowEstimator(0.01), tracker=first)
    pipeline.start()
    stream = pipeline.results(timeout=30)
    for _ in range(5):
        next(stream)
    pipeline.set_tracker(second)
    rest = list(stream)
    pipeline.stop()
    assert first.updates >= 5 and second.updates >= 1
    assert first.updates + second.updates == 60  # every frame saw exactly one tracker
    assert pipeline.tracker is second
    pipeline_off = Pipeline(SyntheticSource(count=3, live=False, period=0), SlowEstimator(0.0), tracker=first)
    pipeline_off.set_tracker(None)  # before start: applies at once
    assert pipeline_off.tracker is None
    assert rest


def test_several_sources_without_trackers_each_keep_every_frame():
    sources = [SyntheticSource(count=n, live=False, period=0) for n in (7, 3)]
    pipeline = Pipeline(sources, SlowEstimator(0.0))
    pipeline.start()
    results = list(pipeline.results())
    pipeline.stop()
    assert [r.frame.index for r in results if r.stream == 0] == list(range(7))
    assert [r.frame.index for r in results if r.stream == 1] == list(range(3))
    assert [s.frames for s in pipeline.stats().streams] == [7, 3]


def test_latency_of_files_excludes_the_read_ahead_queue_and_live_latency_includes_it():
    files = Pipeline(SyntheticSource(count=12, live=False, period=0), SlowEstimator(0.03))
    files.start()
    results = list(files.results())
    files.stop()
    waited = [r for r in results if r.timings_ms["queue"] > 0]
    assert waited, "frames read ahead wait in the queue"
    for r in results:
        # latency counts from when inference took the frame, after its wait in the queue
        assert r.origin >= r.frame.timestamp + r.timings_ms["queue"] / 1e3 - 1e-3
    assert "queue" in files.stats().stages

    live = Pipeline(SyntheticSource(count=50, live=True, period=0.002), SlowEstimator(0.02))
    live.start()
    live_results = list(live.results())
    live.stop()
    for r in live_results:
        assert r.origin == r.frame.timestamp  # a live frame ages from its capture, waiting included
        assert r.latency_ms >= r.timings_ms["queue"]
