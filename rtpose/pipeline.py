"""The real-time pipeline: capture thread → inference thread → results for the render/sink side.

Reading and playback live in :class:`rtpose.capture.Capture`; this module is the inference side. Most
programs do not use it directly: :meth:`rtpose.PoseModel.stream` runs it inside a generator.

::

    capture thread ──▶ hand-off ──▶ inference thread ──▶ results ──▶ caller (CLI main thread / Qt)
    source.read()      live: latest-frame slot           detector + one batched pose call
                       files: bounded queue              + optional tracker

- Live sources (cameras, streams, ``realtime`` file playback) keep only the newest frame: a frame that
  the inference thread has not taken when the next one arrives is dropped and counted.
- Files and folders put every frame through a small bounded queue (back-pressure, nothing dropped).
- Results go to :meth:`Pipeline.results` (a bounded queue that the caller drains) or, when
  ``on_result`` is given, to that callback in the inference thread.
- :meth:`Pipeline.stop` (or the end of the stream, or ``max_frames``) joins every thread within about
  a second; memory stays bounded however long it runs.

Stage times go to one :class:`~rtpose.timing.StageTimer` (all in ms in the summary):

- ``capture``: reading one frame from the source (decoding; for ``realtime`` playback not the wait
  for the frame's time);
- ``queue``: how long a frame waited between capture and inference;
- ``detect``, ``crop``, ``pose``, ``decode``, ``track``: the inference stages;
- ``latency``: how old a result's information is when it is ready. For live sources (and
  ``realtime`` playback) it counts from the capture, so it includes the ``queue`` wait; files are
  read ahead of inference on purpose, so for them it counts from the moment inference takes the frame
  (a frame waiting in the read-ahead queue is not late, it was read early).

The run loop (:func:`rtpose.stream.run`) adds ``render``, ``write`` and ``e2e`` (the same origin as
``latency`` → written or shown).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator

from rtpose.capture import Capture
from rtpose.det_every import DetectEveryN
from rtpose.estimator import TopDownEstimator
from rtpose.results import PoseResult
from rtpose.sources import FrameSource
from rtpose.stats import STAGE_ORDER, RunStats, stage_stats
from rtpose.timing import StageTimer, now

_END = object()


class _FrameTimer:
    """Records into the pipeline's timer and keeps this frame's stage times (ms) on the side."""

    def __init__(self, main: StageTimer) -> None:
        self.main = main
        self.frame: dict[str, float] = {}

    stage = StageTimer.stage  # times a block and hands it to add() below

    def add(self, name: str, seconds: float) -> None:
        self.main.add(name, seconds)
        self.frame[name] = self.frame.get(name, 0.0) + seconds * 1e3

    def __getattr__(self, name: str):  # summary(), last_ms() … of the real timer
        return getattr(self.main, name)


class Pipeline:
    """Runs an estimator on a source in background threads.

    Args:
        source: where frames come from (see :func:`rtpose.sources.open_source`).
        estimator: image → :class:`~rtpose.results.PoseResult` (a :class:`~rtpose.estimator.TopDownEstimator`;
            anything callable as ``estimator(image, timer=…)`` works). Stage times are passed per call, so
            one estimator may serve several pipelines one after another (or at once).
        tracker: optional object with ``update(result, timestamp) -> result`` and ``reset()``, called in
            the inference thread after estimation (stage ``track``); reset on :meth:`seek`. Replace it
            while running with :meth:`set_tracker` (it takes effect between two frames).
        on_result: called in the inference thread with each :class:`~rtpose.results.PoseResult`. Then
            :meth:`results` only yields the newest results the caller has not missed (it never blocks
            inference).
        max_frames: stop after this many processed frames.
        timer: where stage times go (a new one when None).
        drop_frames: keep only the newest frame (default: for live sources and realtime playback).
        queue_size: capacity of the file queue and of the results queue.
        hold_at_end: at the end of a file or folder, wait for a :meth:`seek` (or :meth:`stop`) instead
            of finishing (for viewers with a position slider); ``at_end`` is True while waiting.
        det_every: run the detector on one frame in N; between, boxes come from each person's previous
            keypoints (:mod:`rtpose.det_every`); 1 (default) detects on every frame.

    Use::

        pipeline = Pipeline(source, estimator)
        pipeline.start()
        for result in pipeline.results():
            ...                       # render, write; break to stop early
        pipeline.stop()
        print(pipeline.stats().format())
    """

    def __init__(
        self,
        source: FrameSource,
        estimator: TopDownEstimator,
        *,
        tracker=None,
        on_result: Callable[[PoseResult], None] | None = None,
        max_frames: int | None = None,
        timer: StageTimer | None = None,
        drop_frames: bool | None = None,
        queue_size: int = 4,
        hold_at_end: bool = False,
        det_every: int = 1,
    ) -> None:
        self.source = source
        self.estimator = estimator
        self.tracker = tracker
        self._next_tracker: list = []  # [tracker] while a replacement waits for the next frame
        self._tracker_lock = threading.Lock()
        self.on_result = on_result
        self.max_frames = max_frames
        self.timer = timer or StageTimer()
        self.capture = Capture(source, self.timer, drop_frames=drop_frames, queue_size=queue_size,
                               max_frames=max_frames, hold_at_end=hold_at_end)
        self.drop_frames = self.capture.drop_frames
        self.det_every = DetectEveryN(det_every) if det_every > 1 else None
        self._results: collections.deque = collections.deque()
        self._results_cap = max(1, queue_size)
        self._results_cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._finished = threading.Event()
        self._error: BaseException | None = None
        self.frames_processed = 0
        self.people = 0
        self.pose_calls = 0
        self._recent: collections.deque = collections.deque(maxlen=30)
        self._start_time: float | None = None
        self._end_time: float | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start the capture and inference threads."""
        if self._started:
            raise RuntimeError("A Pipeline can be started once.")
        self._started = True
        self._start_time = now()
        self.capture.start()
        self._thread = threading.Thread(target=self._inference_loop, name="rtpose-inference", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the threads to stop without waiting (safe from signal handlers and callbacks)."""
        self._stop.set()
        self.capture.stop(blocking=False)  # never block a signal handler
        self._notify_results(blocking=False)

    def _notify_results(self, blocking: bool = True) -> None:
        if self._results_cond.acquire(blocking=blocking):
            try:
                self._results_cond.notify_all()
            finally:
                self._results_cond.release()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop and join every thread (within about ``timeout`` seconds in all)."""
        self._stop.set()
        self.capture.stop()
        self._notify_results()
        deadline = now() + timeout
        self.capture.join(max(0.0, deadline - now()))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(0.0, deadline - now()))
        if self._end_time is None:
            self._end_time = now()

    @property
    def error(self) -> BaseException | None:
        """The error that ended the capture or inference thread, if any."""
        return self._error or self.capture.error

    @property
    def running(self) -> bool:
        """True while any pipeline thread is alive."""
        return self.capture.alive or (self._thread is not None and self._thread.is_alive())

    @property
    def finished(self) -> bool:
        """True once the inference thread has delivered its last result."""
        return self._finished.is_set()

    @property
    def frames_captured(self) -> int:
        return self.capture.frames_captured

    @property
    def at_end(self) -> bool:
        return self.capture.at_end

    @property
    def paused(self) -> bool:
        return self.capture.paused

    def pause(self) -> None:
        """Hold processing (a live source keeps being read so that it does not lag behind)."""
        self.capture.pause()

    def resume(self) -> None:
        self.capture.resume()

    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file or folder (also while paused: that frame is processed).

        Frames already queued are discarded and the tracker is reset.
        """
        self.capture.seek(index)

    def set_tracker(self, tracker) -> None:
        """Use ``tracker`` (or None) from the next frame on; safe from any thread while running."""
        with self._tracker_lock:
            self._next_tracker = [tracker]
        if not self._started:
            self._apply_tracker()

    def _apply_tracker(self) -> None:
        with self._tracker_lock:
            pending, self._next_tracker = self._next_tracker, []
        if pending:
            self.tracker = pending[0]

    @property
    def dropped(self) -> int:
        """Frames dropped so far (by the latest-frame slot and by the source itself)."""
        return self.capture.dropped

    @property
    def fps(self) -> float:
        """Recent processing rate in frames per second."""
        recent = list(self._recent)
        if len(recent) < 2 or recent[-1] <= recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    def results(self, timeout: float | None = None) -> Iterator[PoseResult]:
        """Yield results as they come until the stream ends or :meth:`stop` is called.

        After :meth:`request_stop` it still yields the result of the frame that was in the model, so a
        stopped run loses nothing it computed. Re-raises an error of the capture or inference thread
        (e.g. a source that failed) at the end. ``timeout``: give up waiting for the next result after
        this many seconds (None: no limit).
        """
        while True:
            with self._results_cond:
                deadline = None if timeout is None else now() + timeout
                while not self._results and not self._stopped_and_drained():
                    if deadline is not None and now() >= deadline:
                        return
                    self._results_cond.wait(0.1)
                if not self._results:
                    break  # stopped
                item = self._results.popleft()
                self._results_cond.notify_all()
            if item is _END:
                break
            yield item
        error = self.error
        if error is not None:
            self._error = self.capture.error = None
            raise error

    def _stopped_and_drained(self) -> bool:
        """A stop was asked for and the inference thread has delivered its last result (or never ran)."""
        return self._stop.is_set() and (self._finished.is_set() or not self._started)

    def stats(self) -> RunStats:
        """The run's figures so far (frames, drops, rate, per-stage times)."""
        end = self._end_time or now()
        return RunStats(
            source=self.source.name,
            frames=self.frames_processed,
            captured=self.frames_captured,
            dropped=self.dropped,
            skipped=int(getattr(self.source, "skipped", 0)),
            elapsed_s=max(end - (self._start_time or end), 0.0),
            people=self.people,
            pose_calls=self.pose_calls,
            stages=stage_stats(self.timer.summary()),
        )

    # ------------------------------------------------------------------ the inference thread
    def _inference_loop(self) -> None:
        frame_timer = _FrameTimer(self.timer)
        generation = self.capture.handoff.generation
        try:
            while not self._stop.is_set():
                item = self.capture.take(stopped=self._stop.is_set)
                if item is None:
                    break
                taken = now()
                self._apply_tracker()
                if item.generation != generation:
                    generation = item.generation
                    if self.tracker is not None:
                        self.tracker.reset()
                    if self.det_every is not None:
                        self.det_every.reset()
                frame_timer.frame = {"capture": item.capture_ms}
                frame_timer.add("queue", taken - item.queued_at)
                result = self._estimate(item.frame.image, frame_timer)
                if result is None:  # stopped between detection and pose
                    break
                result = result.replace(frame=item.frame)
                if self.tracker is not None:
                    with frame_timer.stage("track"):
                        result = self.tracker.update(result, item.frame.clock)
                ready = now()
                origin = item.frame.timestamp if self.drop_frames else taken
                latency = (ready - origin) * 1e3
                self.timer.add("latency", latency / 1e3)
                self._recent.append(ready)
                self.frames_processed += 1
                self.people += len(result)
                self.pose_calls += 1 if len(result) else 0
                self._deliver(result.replace(timings_ms=dict(frame_timer.frame), latency_ms=latency, fps=self.fps,
                                             dropped=self.dropped, origin=origin))
                if self.max_frames is not None and self.frames_processed >= self.max_frames:
                    break
        except BaseException as exc:
            self._error = exc
        finally:
            self._end_time = now()
            self.capture.stop(discard=True)  # inference is done: let the capture thread exit
            self._deliver(_END)
            self._finished.set()

    def _estimate(self, image, frame_timer: _FrameTimer) -> PoseResult | None:
        """Detection, then (unless a stop came meanwhile) the batched pose call."""
        estimator = self.estimator
        detector = getattr(estimator, "detector", None)
        if detector is None or not hasattr(estimator, "estimate"):
            return estimator(image, timer=frame_timer)
        with frame_timer.stage("detect"):  # with det_every: the detector, or boxes from the last keypoints
            detections = detector(image) if self.det_every is None else self.det_every.detections(image, detector)
        if self._stop.is_set():
            return None
        result = estimator.estimate(image, detections, timer=frame_timer)
        if self.det_every is not None:
            self.det_every.update(result)
        return result

    def _deliver(self, result) -> None:
        if self.on_result is not None and result is not _END:
            self.on_result(result)
        with self._results_cond:
            if self.on_result is not None or result is _END:
                if result is not _END:
                    while len(self._results) >= self._results_cap:
                        self._results.popleft()  # callback mode: results() sees only the newest
            else:
                while len(self._results) >= self._results_cap and not self._stop.is_set():
                    self._results_cond.wait(0.1)
            self._results.append(result)
            self._results_cond.notify_all()


def warmup(estimator, size: tuple[int, int] | None = None) -> None:
    """Run the detector and the pose backend once so that one-off start-up costs stay out of the timings.

    ``size``: (W, H) of the frames (default 640×480). Nothing is recorded in the estimator's timer.
    """
    import numpy as np

    w, h = size or (640, 480)
    detector = getattr(estimator, "detector", None)
    if detector is not None:
        detector(np.full((h, w, 3), 114, np.uint8))
    backend = getattr(estimator, "backend", None)
    if backend is not None:
        ih, iw = backend.input_hw
        backend.infer(np.zeros((1, 3, ih, iw), np.float32))


__all__ = ["Pipeline", "STAGE_ORDER", "warmup"]
