"""The real-time pipeline: capture thread → inference thread → results for the render/sink side.

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

The CLI adds ``render``, ``write`` and ``e2e`` (the same origin as ``latency`` → written or shown).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rtpose.det_every import DetectEveryN
from rtpose.errors import SourceError
from rtpose.estimator import Person, TopDownEstimator
from rtpose.handoff import Handoff, Item, Playback
from rtpose.sources import Frame, FrameSource
from rtpose.timing import StageTimer, now

#: Stage order of the summary table.
STAGE_ORDER = ["capture", "queue", "detect", "crop", "pose", "decode", "track", "render", "write", "latency", "e2e"]
_END = object()


@dataclass
class FrameResult:
    """What the pipeline made of one frame.

    Attributes:
        frame: the source frame (its image is not drawn on by the pipeline).
        people: the people found (with ``track_id`` when a tracker runs).
        timings_ms: this frame's stage times in ms (capture, detect, crop, pose, decode, track).
        latency_ms: how old the frame's information is when its result is ready, in ms: from
            :attr:`origin` to then (see :class:`Pipeline`).
        fps: recent processing rate (results per second over the last ~30 frames).
        dropped: frames dropped so far (live sources keep only the newest frame).
        origin: the :func:`rtpose.timing.now` time latency counts from (the capture time for live
            sources; for files read ahead, the time inference took the frame).
    """

    frame: Frame
    people: list[Person]
    timings_ms: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    fps: float = 0.0
    dropped: int = 0
    origin: float | None = None

    @property
    def latency_origin(self) -> float:
        """:attr:`origin`, or the capture time when none was recorded."""
        return self.frame.timestamp if self.origin is None else self.origin


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
        estimator: image → people (a :class:`~rtpose.estimator.TopDownEstimator`; anything callable
            as ``estimator(image, timer=…)`` works). Stage times are passed per call, so one estimator
            may serve several pipelines one after another (or at once).
        tracker: optional object with ``update(people, timestamp) -> people`` and ``reset()``, called in
            the inference thread after estimation (stage ``track``); reset on :meth:`seek`. Replace it
            while running with :meth:`set_tracker` (it takes effect between two frames).
        on_result: called in the inference thread with each :class:`FrameResult`. Then
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

    Typical use (the CLI)::

        pipeline = Pipeline(source, estimator)
        pipeline.start()
        for result in pipeline.results():
            ...                       # render, write; break to stop early
        pipeline.stop()
        print(pipeline.summary())
    """

    def __init__(
        self,
        source: FrameSource,
        estimator: TopDownEstimator,
        *,
        tracker=None,
        on_result: Callable[[FrameResult], None] | None = None,
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
        if drop_frames is None:
            drop_frames = bool(source.is_live or getattr(source, "realtime", False))
        self.drop_frames = drop_frames
        self.hold_at_end = hold_at_end
        self.det_every = DetectEveryN(det_every) if det_every > 1 else None
        self.at_end = False
        self._handoff = Handoff(latest=drop_frames, capacity=queue_size)
        self._playback = Playback()
        self._results: collections.deque = collections.deque()
        self._results_cap = max(1, queue_size)
        self._results_cond = threading.Condition()
        self._stop = threading.Event()
        self._capture_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._finished = threading.Event()
        self.error: BaseException | None = None
        self.frames_processed = 0
        self.frames_captured = 0
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
        self._threads = [
            threading.Thread(target=self._capture_loop, name="rtpose-capture", daemon=True),
            threading.Thread(target=self._inference_loop, name="rtpose-inference", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def request_stop(self) -> None:
        """Ask the threads to stop without waiting (safe from signal handlers and callbacks)."""
        self._stop.set()
        self._wake(blocking=False)  # never block a signal handler

    def _wake(self, blocking: bool = True) -> None:
        self._handoff.wake(blocking)
        self._playback.wake(blocking)
        if self._results_cond.acquire(blocking=blocking):
            try:
                self._results_cond.notify_all()
            finally:
                self._results_cond.release()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop and join every thread (within about ``timeout`` seconds in all)."""
        self._stop.set()
        self._wake()
        deadline = now() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - now()))
        if self._end_time is None:
            self._end_time = now()

    @property
    def running(self) -> bool:
        """True while any pipeline thread is alive."""
        return any(t.is_alive() for t in self._threads)

    @property
    def finished(self) -> bool:
        """True once the inference thread has delivered its last result."""
        return self._finished.is_set()

    @property
    def paused(self) -> bool:
        return self._playback.paused

    def pause(self) -> None:
        """Hold processing (a live source keeps being read so that it does not lag behind)."""
        self._playback.pause()

    def resume(self) -> None:
        self._playback.resume()
        self._handoff.wake()

    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file or folder (also while paused: that frame is processed).

        Frames already queued are discarded and the tracker is reset.
        """
        if self.source.is_live:
            raise SourceError(f"{self.source.name} is a live source: it cannot seek.")
        count = self.source.frame_count
        if count is not None and not 0 <= index < count:
            raise SourceError(f"Frame {index} is outside {self.source.name} (frames 0 to {count - 1}).")
        self._playback.seek(index)

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
        return self._handoff.dropped + int(getattr(self.source, "dropped", 0))

    @property
    def fps(self) -> float:
        """Recent processing rate in frames per second."""
        recent = list(self._recent)
        if len(recent) < 2 or recent[-1] <= recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    def results(self, timeout: float | None = None) -> Iterator[FrameResult]:
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
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _stopped_and_drained(self) -> bool:
        """A stop was asked for and the inference thread has delivered its last result (or never ran)."""
        return self._stop.is_set() and (self._finished.is_set() or not self._started)

    def summary(self) -> str:
        """The end-of-run table: frames, dropped, FPS, then p50/p95 per stage."""
        end = self._end_time or now()
        elapsed = max(end - (self._start_time or end), 1e-9)
        fps = self.frames_processed / elapsed if self.frames_processed else 0.0
        skipped = int(getattr(self.source, "skipped", 0))
        head = (
            f"source {self.source.name}: {self.frames_processed} frames processed, {self.dropped} dropped, "
            + (f"{skipped} skipped (unreadable), " if skipped else "")
            + f"{fps:.1f} frames/s over {elapsed:.1f} s"
        )
        return head + "\n" + self.timer.format_table(STAGE_ORDER)

    # ------------------------------------------------------------------ threads
    def _halted(self) -> bool:
        return self._stop.is_set() or self._capture_stop.is_set()

    def _capture_loop(self) -> None:
        handoff, playback = self._handoff, self._playback
        live = self.source.is_live
        step = False
        try:
            while not self._halted():
                seek = playback.wait_while_paused(live, self._halted)
                if self._halted():
                    break
                if seek is not None:
                    self.source.seek(seek)
                    handoff.restart()
                    step = playback.paused
                if (
                    not self.drop_frames
                    and self.max_frames is not None
                    and self.frames_captured >= self.max_frames
                    and seek is None
                ):
                    break
                start = now()
                frame = self.source.read()
                capture_ms = max(0.0, now() - start - self.source.paced_s) * 1e3
                if frame is None:
                    if self.hold_at_end and not live:
                        self.at_end = True
                        if playback.wait_for_seek(self._halted):
                            continue
                    break
                self.at_end = False
                if playback.paused and not step and live:
                    continue  # paused live source: stay current, process nothing
                self.timer.add("capture", capture_ms / 1e3)
                self.frames_captured += 1
                item = Item(frame, capture_ms, step=step, generation=handoff.generation, queued_at=now())
                step = False
                handoff.put(item, give_up=lambda: self._halted() or playback.seek_pending)
        except BaseException as exc:  # a source failing mid-way ends the run with its error
            self.error = exc if isinstance(exc, Exception) else SourceError(f"{self.source.name} failed: {exc}.")
        finally:
            handoff.close()

    def _inference_loop(self) -> None:
        frame_timer = _FrameTimer(self.timer)
        generation = self._handoff.generation
        try:
            while not self._stop.is_set():
                item = self._handoff.get(stopped=self._stop.is_set, paused=lambda: self._playback.paused)
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
                people = self._estimate(item.frame.image, frame_timer)
                if people is None:  # stopped between detection and pose
                    break
                if self.tracker is not None:
                    with frame_timer.stage("track"):
                        people = self.tracker.update(people, item.frame.clock)
                ready = now()
                origin = item.frame.timestamp if self.drop_frames else taken
                latency = (ready - origin) * 1e3
                self.timer.add("latency", latency / 1e3)
                self._recent.append(ready)
                self.frames_processed += 1
                result = FrameResult(
                    frame=item.frame,
                    people=people,
                    timings_ms=dict(frame_timer.frame),
                    latency_ms=latency,
                    fps=self.fps,
                    dropped=self.dropped,
                    origin=origin,
                )
                self._deliver(result)
                if self.max_frames is not None and self.frames_processed >= self.max_frames:
                    break
        except BaseException as exc:
            self.error = exc
        finally:
            self._end_time = now()
            self._stop_capture()
            self._deliver(_END)
            self._finished.set()

    def _estimate(self, image, frame_timer: _FrameTimer) -> list[Person] | None:
        """Detection, then (unless a stop came meanwhile) the batched pose call."""
        estimator = self.estimator
        detector = getattr(estimator, "detector", None)
        if detector is None or not hasattr(estimator, "estimate"):
            return estimator(image, timer=frame_timer)
        with frame_timer.stage("detect"):  # with det_every: the detector, or boxes from the last keypoints
            detections = detector(image) if self.det_every is None else self.det_every.detections(image, detector)
        if self._stop.is_set():
            return None
        people = estimator.estimate(image, detections, timer=frame_timer)
        if self.det_every is not None:
            self.det_every.update(people)
        return people

    def _stop_capture(self) -> None:
        """The inference side is done: let the capture thread exit (it may be waiting on a full queue)."""
        self._capture_stop.set()
        self._handoff.close(discard=True)

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


__all__ = ["FrameResult", "Pipeline", "STAGE_ORDER", "warmup"]
