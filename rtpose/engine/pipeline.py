"""The real-time pipeline: capture threads → inference and pose threads → results for the render/sink side.

Reading and playback live in :class:`rtpose.engine.capture.Capture`; this module is the inference side. Most
programs do not use it directly: :meth:`rtpose.PoseModel.stream` runs it inside a generator.

::

    capture thread ──▶ hand-off ──▶ inference thread ──▶ pose thread ──▶ results ──▶ caller (CLI / Qt)
    source.read()      live: latest-frame slot  detector + crops       one batched pose call,
    (one per source)   files: bounded queue     of the next round      decode, tracker

- Live sources (cameras, streams, ``realtime`` file playback) keep only the newest frame: a frame that
  the inference thread has not taken when the next one arrives is dropped and counted.
- Files and folders put every frame through a small bounded queue (back-pressure, nothing dropped).
- The inference thread detects and crops the next round while the pose thread runs this round's pose
  call (``overlap=False``: one thread does both); with detect-every-N the next round waits for this
  round's keypoints.
- Results go to :meth:`Pipeline.results` (a bounded queue that the caller drains) or, when
  ``on_result`` is given, to that callback in the thread that finished the round (the pose thread).
- :meth:`Pipeline.stop` (or the end of the stream, or ``max_frames``) joins every thread within about
  a second; memory stays bounded however long it runs.

Stage times go to one :class:`~rtpose.utils.timing.StageTimer` (all in ms in the summary):

- ``capture``: reading one frame from the source (decoding; for ``realtime`` playback not the wait
  for the frame's time);
- ``queue``: how long a frame waited between capture and inference;
- ``detect``, ``crop``, ``pose``, ``decode``, ``track``: the inference stages;
- ``latency``: how old a result's information is when it is ready. For live sources (and
  ``realtime`` playback) it counts from the capture, so it includes the ``queue`` wait; files are
  read ahead of inference on purpose, so for them it counts from the moment inference takes the frame
  (a frame waiting in the read-ahead queue is not late, it was read early).

The run loop (:func:`rtpose.engine.stream.run`) adds ``render``, ``write`` and ``e2e`` (the same origin as
``latency`` → written or shown).
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from rtpose.engine.capture import Capture
from rtpose.engine.handoff import Item
from rtpose.engine.stats import STAGE_ORDER, RunStats, remote_failures, stage_stats
from rtpose.errors import SourceError
from rtpose.io.sources import FrameSource
from rtpose.pose.budget import FrameBudget
from rtpose.pose.det_every import DetectEveryN
from rtpose.pose.estimator import TopDownEstimator
from rtpose.results import PoseResult
from rtpose.utils.timing import StageTimer, now

_END = object()


@dataclass
class _Round:
    """One round between the two inference stages: the frames taken, when, their timer and prepared crops."""

    batch: list[tuple[int, Item]]
    taken: float
    timer: _FrameTimer
    prepared: object
    resets: list[int]


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
    """Runs an estimator on one source, or on several at once, in background threads.

    Args:
        source: where frames come from (see :func:`rtpose.io.sources.open_source`), or a list of sources:
            one capture thread each, and one inference loop that takes the newest frame of every stream
            that has one, runs the detector once on that batch of frames and the pose model once on all
            their people (:meth:`~rtpose.pose.estimator.TopDownEstimator.estimate_many`). A slow, stalled or
            ended stream never holds the others; files keep every frame.
        estimator: image → :class:`~rtpose.results.PoseResult` (a :class:`~rtpose.pose.estimator.TopDownEstimator`;
            anything callable as ``estimator(image, timer=…)`` works for one source). Stage times are
            passed per call, so one estimator may serve several pipelines one after another (or at once).
        tracker: optional object with ``update(result, timestamp) -> result`` and ``reset()`` (or a list,
            one per source), called in the pose thread after estimation (stage ``track``); reset on
            :meth:`seek`. Replace it while running with :meth:`set_tracker` (between two frames).
        on_result: called in the pose thread with each result. Then :meth:`results` only yields the
            newest results the caller has not missed (it never blocks inference).
        max_frames: stop after this many processed frames (of each source).
        timer: where stage times go (a new one when None).
        drop_frames: keep only the newest frame (default: for live sources and realtime playback).
        queue_size: capacity of the file queue and of the results queue.
        hold_at_end: at the end of a file or folder, wait for a :meth:`seek` (or :meth:`stop`) instead
            of finishing (for viewers with a position slider); ``at_end`` is True while waiting.
        det_every: run the detector on one frame in N; between, boxes come from each person's previous
            keypoints (:mod:`rtpose.pose.det_every`); 1 (default) detects on every frame.
        overlap: run the work in two threads, so that the detector and the crops of the next frames are done
            while the pose model runs on this round's people (default). With ``det_every`` the next round
            waits for this one's keypoints. False: one thread does all.
        budget_ms: keep each round's model work near this many ms (:mod:`rtpose.pose.budget`: who is posed
            fresh, when the detector runs); the next round waits for this one's keypoints. None: no budget.
        max_age: with ``budget_ms``, the most frames a person's keypoints are carried.

    Each result's ``stream`` is the index of its source in ``source``. Use::

        pipeline = Pipeline(source, estimator)
        pipeline.start()
        for result in pipeline.results():
            ...                       # render, write; break to stop early
        pipeline.stop()
        print(pipeline.stats().format())
    """

    def __init__(
        self,
        source: FrameSource | Sequence[FrameSource],
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
        overlap: bool = True,
        budget_ms: float | None = None,
        max_age: int = 10,
    ) -> None:
        self.sources: list[FrameSource] = list(source) if isinstance(source, (list, tuple)) else [source]
        if not self.sources:
            raise ValueError("a Pipeline needs at least one source")
        self.source = self.sources[0]
        self.estimator = estimator
        self.trackers: list = self._per_source(tracker)
        self._next_trackers: list = []  # [trackers] while a replacement waits for the next frame
        self._tracker_lock = threading.Lock()
        self.on_result = on_result
        self.max_frames = max_frames
        self.timer = timer or StageTimer()
        self._arrived = threading.Condition()
        self.captures = [
            Capture(s, self.timer, drop_frames=drop_frames, queue_size=queue_size, max_frames=max_frames,
                    hold_at_end=hold_at_end, on_frame=self._frame_arrived)
            for s in self.sources
        ]
        self.capture = self.captures[0]
        self.drop_frames = self.capture.drop_frames
        self.det_every = [DetectEveryN(det_every) if det_every > 1 else None for _ in self.sources]
        self.budget = None if budget_ms is None else FrameBudget(budget_ms, max_age, len(self.sources))
        self._results: collections.deque = collections.deque()
        self._results_cap = max(1, queue_size) * len(self.sources)
        self._results_cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: The second stage (pose, decode, track, deliver) when the work overlaps; None: one thread.
        self._pose_thread: threading.Thread | None = None
        self.overlap = bool(overlap) and getattr(estimator, "detector", None) is not None and hasattr(
            estimator, "prepare")
        self._rounds: queue.SimpleQueue = queue.SimpleQueue()
        self._slot = threading.Semaphore(1)  # rounds ahead of the pose stage: one
        self._pending = 0  # rounds handed to the pose stage and not finished
        self._pending_cond = threading.Condition()
        self._started = False
        self._finished = threading.Event()
        self._error: BaseException | None = None
        n = len(self.sources)
        self.processed = [0] * n  # frames processed per source
        self.people_found = [0] * n
        self._done = [False] * n  # max_frames reached
        self.people = 0
        self.pose_calls = 0
        self._recent = [collections.deque(maxlen=30) for _ in self.sources]
        self._start_time: float | None = None
        self._end_time: float | None = None

    def _per_source(self, tracker) -> list:
        if isinstance(tracker, (list, tuple)):
            if len(tracker) != len(self.sources):
                raise ValueError(f"{len(tracker)} trackers for {len(self.sources)} sources")
            return list(tracker)
        if tracker is not None and len(self.sources) > 1:
            raise ValueError("several sources need one tracker each (a list)")
        return [tracker]

    @property
    def tracker(self):
        """The tracker of the first source."""
        return self.trackers[0]

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start the capture threads and the inference threads."""
        if self._started:
            raise RuntimeError("A Pipeline can be started once.")
        self._started = True
        self._start_time = now()
        for capture in self.captures:
            capture.start()
        if self.overlap:
            self._pose_thread = threading.Thread(target=self._pose_loop, name="rtpose-pose", daemon=True)
            self._pose_thread.start()
        self._thread = threading.Thread(target=self._inference_loop, name="rtpose-inference", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the threads to stop without waiting (safe from signal handlers and callbacks)."""
        self._stop.set()
        for capture in self.captures:
            capture.stop(blocking=False)  # never block a signal handler
        self._notify(self._results_cond, blocking=False)
        self._notify(self._arrived, blocking=False)

    @staticmethod
    def _notify(cond: threading.Condition, blocking: bool = True) -> None:
        if cond.acquire(blocking=blocking):
            try:
                cond.notify_all()
            finally:
                cond.release()

    def _frame_arrived(self) -> None:
        self._notify(self._arrived)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop and join every thread (within about ``timeout`` seconds in all)."""
        self._stop.set()
        for capture in self.captures:
            capture.stop()
        self._notify(self._results_cond)
        self._notify(self._arrived)
        deadline = now() + timeout
        for capture in self.captures:
            capture.join(max(0.0, deadline - now()))
        for thread in self._inference_threads():
            thread.join(max(0.0, deadline - now()))
        if self._end_time is None:
            self._end_time = now()

    @property
    def error(self) -> BaseException | None:
        """The error that ended an inference thread or a capture thread, if any."""
        return self._error or next((c.error for c in self.captures if c.error is not None), None)

    def _inference_threads(self) -> list[threading.Thread]:
        """The inference threads other than the calling one."""
        return [t for t in (self._thread, self._pose_thread) if t is not None and t is not threading.current_thread()]

    @property
    def running(self) -> bool:
        """True while any pipeline thread is alive."""
        return any(c.alive for c in self.captures) or self.inferring

    @property
    def inferring(self) -> bool:
        """True while an inference thread is alive (a capture thread may still wait in a source's read)."""
        return any(t is not None and t.is_alive() for t in (self._thread, self._pose_thread))

    def join_inference(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the inference threads (a pose call cannot be cut short)."""
        deadline = now() + timeout
        for thread in self._inference_threads():
            thread.join(max(0.0, deadline - now()))

    @property
    def finished(self) -> bool:
        """True once the pose thread has delivered its last result."""
        return self._finished.is_set()

    @property
    def frames_processed(self) -> int:
        return sum(self.processed)

    @property
    def frames_captured(self) -> int:
        return sum(c.frames_captured for c in self.captures)

    @property
    def at_end(self) -> bool:
        return self.capture.at_end

    @property
    def paused(self) -> bool:
        return self.capture.paused

    def pause(self) -> None:
        """Hold processing (a live source keeps being read so that it does not lag behind)."""
        for capture in self.captures:
            capture.pause()

    def resume(self) -> None:
        for capture in self.captures:
            capture.resume()

    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file or folder (also while paused: that frame is processed).

        Frames already queued are discarded and the tracker is reset. One source only.
        """
        if len(self.captures) > 1:
            raise SourceError("Seeking is for one source; this run reads several.")
        self.capture.seek(index)

    def set_tracker(self, tracker) -> None:
        """Use ``tracker`` (or None; a list for several sources) from the next frame on; safe from any thread."""
        trackers = self._per_source(tracker)
        with self._tracker_lock:
            self._next_trackers = [trackers]
        if not self._started:
            self._apply_tracker()

    def _apply_tracker(self) -> None:
        with self._tracker_lock:
            pending, self._next_trackers = self._next_trackers, []
        if pending:
            self.trackers = pending[0]

    @property
    def dropped(self) -> int:
        """Frames dropped so far (by the latest-frame slots and by the sources themselves)."""
        return sum(c.dropped for c in self.captures)

    def stream_fps(self, index: int) -> float:
        """Recent processing rate of source ``index`` in frames per second."""
        recent = list(self._recent[index])
        if len(recent) < 2 or recent[-1] <= recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    @property
    def fps(self) -> float:
        """Recent processing rate in frames per second (all sources)."""
        return sum(self.stream_fps(i) for i in range(len(self.sources)))

    def results(self, timeout: float | None = None) -> Iterator[PoseResult]:
        """Yield results as they come until the streams end or :meth:`stop` is called.

        After :meth:`request_stop` it still yields the results of the frames that were in the model, so a
        stopped run loses nothing it computed. Re-raises an error of a capture or an inference thread
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
            self._error = None
            for capture in self.captures:
                capture.error = None
            raise error

    def _stopped_and_drained(self) -> bool:
        """A stop was asked for and the pose thread has delivered its last result (or never ran)."""
        return self._stop.is_set() and (self._finished.is_set() or not self._started)

    def stats(self) -> RunStats:
        """The run's figures so far: all sources, and each source in ``streams`` when there are several."""
        end = self._end_time or now()
        elapsed = max(end - (self._start_time or end), 0.0)
        per_stream = ()
        if len(self.sources) > 1:
            per_stream = tuple(
                RunStats(source=s.name, frames=self.processed[i], captured=c.frames_captured, dropped=c.dropped,
                         skipped=int(getattr(s, "skipped", 0)), elapsed_s=elapsed, people=self.people_found[i])
                for i, (s, c) in enumerate(zip(self.sources, self.captures))
            )
        return RunStats(
            source=", ".join(s.name for s in self.sources),
            frames=self.frames_processed,
            captured=self.frames_captured,
            dropped=self.dropped,
            skipped=sum(int(getattr(s, "skipped", 0)) for s in self.sources),
            elapsed_s=elapsed,
            people=self.people,
            pose_calls=self.pose_calls,
            stages=stage_stats(self.timer.summary()),
            streams=per_stream,
            failures=remote_failures(self.estimator),
            budget=None if self.budget is None else self.budget.stats(),
        )

    # ------------------------------------------------------------------ the inference threads
    def _take(self) -> list[tuple[int, Item]] | None:
        """The next frames: one source's next frame, or the newest of every source that has one (several)."""
        if len(self.captures) == 1:
            item = self.capture.take(stopped=self._stop.is_set)
            return None if item is None else [(0, item)]
        while not self._stop.is_set():
            batch = [(i, item) for i, c in enumerate(self.captures)
                     if not self._done[i] and (item := c.take_nowait()) is not None]
            if batch:
                return batch
            if all(self._done[i] or c.exhausted for i, c in enumerate(self.captures)):
                return None
            with self._arrived:
                self._arrived.wait(0.05)
        return None

    def _inference_loop(self) -> None:
        """The first stage: take frames, detect, crop; hands each round to the pose stage (or runs it here)."""
        generations = [c.handoff.generation for c in self.captures]
        try:
            while not self._stop.is_set():
                if self.overlap and not self._wait_for_slot():
                    break
                batch = self._take()
                if batch is None:
                    break
                taken = now()
                frame_timer = _FrameTimer(self.timer)
                resets = []
                for i, item in batch:
                    if item.generation != generations[i]:
                        generations[i] = item.generation
                        resets.append(i)
                if self.budget is not None or any(self.det_every[i] is not None for i, _ in batch):
                    self._pose_idle()  # boxes between detections come from the pose stage's last keypoints
                for i in resets:
                    if self.det_every[i] is not None:
                        self.det_every[i].reset()
                    if self.budget is not None:
                        self.budget.reset(i)
                frame_timer.frame = {"capture": max(item.capture_ms for _, item in batch)}
                for _, item in batch:
                    self.timer.add("queue", taken - item.queued_at)
                frame_timer.frame["queue"] = max(taken - item.queued_at for _, item in batch) * 1e3
                prepared = self._prepare(batch, frame_timer)
                if prepared is None:  # stopped between detection and pose
                    break
                work = _Round(batch, taken, frame_timer, prepared, resets)
                if not self.overlap:
                    if not self._finish(work):
                        break
                    continue
                with self._pending_cond:
                    self._pending += 1
                self._rounds.put(work)
        except BaseException as exc:
            self._error = exc
        finally:
            if self.overlap:
                self._rounds.put(_END)
            else:
                self._end()

    def _wait_for_slot(self) -> bool:
        """Wait until the pose stage took the round before the last (at most one round waits for it)."""
        while not self._slot.acquire(timeout=0.05):
            if self._stop.is_set() or self._pose_thread is None or not self._pose_thread.is_alive():
                return False
        return True

    def _pose_loop(self) -> None:
        """The second stage: the pose call, decoding, tracking and delivery of each round, in order.

        After a stop, an error, or once every source has its ``max_frames``, the rounds still handed over
        are dropped (stopped between detection and pose) until the first stage says it ended. A pause holds
        the round that was taken before it (:meth:`_hold_while_paused`).
        """
        done = False
        try:
            while (work := self._rounds.get()) is not _END:
                self._slot.release()
                try:
                    if not (done or self._stop.is_set() or self._error is not None) and self._hold_while_paused(work):
                        done = not self._finish(work)
                finally:
                    with self._pending_cond:
                        self._pending -= 1
                        self._pending_cond.notify_all()
        except BaseException as exc:
            self._error = exc
            self._stop.set()
        finally:
            self._end()

    def _hold_while_paused(self, work: _Round) -> bool:
        """A round taken just before a pause: a file's waits for the resume (every frame is kept), a live one
        is dropped (it would be stale when shown), and so is one that a seek made stale. True: finish it.

        A seek's frame while paused (``step``) goes through: it is the frame the viewer shows.
        """
        while (not all(item.step for _, item in work.batch)
               and any(self.captures[i].paused for i, _ in work.batch)):
            if (self._stop.is_set() or any(self.captures[i].drop_frames for i, _ in work.batch)
                    or any(item.generation != self.captures[i].handoff.generation for i, item in work.batch)):
                return False
            self._stop.wait(0.02)
        return True

    def _pose_idle(self) -> None:
        """Wait until the pose stage has finished every round handed to it (or ended)."""
        with self._pending_cond:
            while (self._pending and not self._stop.is_set() and self._pose_thread is not None
                   and self._pose_thread.is_alive()):
                self._pending_cond.wait(0.05)

    def _finish(self, work: _Round) -> bool:
        """Pose, decode, track and deliver one round; False once every source has its ``max_frames``."""
        batch, frame_timer = work.batch, work.timer
        self._apply_tracker()
        for i in work.resets:
            if self.trackers[i] is not None:
                self.trackers[i].reset()
        results = self._poses(work, frame_timer)
        people = sum(len(r) for r in results)
        self.people += people
        self.pose_calls += 1 if people else 0
        for (i, item), result in zip(batch, results):
            result = result.replace(frame=item.frame, stream=i)
            if self.trackers[i] is not None:
                with frame_timer.stage("track"):
                    result = self.trackers[i].update(result, item.frame.clock)
            ready = now()
            origin = item.frame.timestamp if self.captures[i].drop_frames else work.taken
            latency = (ready - origin) * 1e3
            self.timer.add("latency", latency / 1e3)
            self._recent[i].append(ready)
            self.processed[i] += 1
            self.people_found[i] += len(result)
            self._deliver(result.replace(timings_ms=dict(frame_timer.frame), latency_ms=latency,
                                         fps=self.stream_fps(i), dropped=self.captures[i].dropped,
                                         origin=origin))
            if self.max_frames is not None and self.processed[i] >= self.max_frames:
                self._done[i] = True
                self.captures[i].stop(discard=True)
        return not all(self._done)

    def _end(self) -> None:
        """The last result is out: stop the captures, deliver the end, mark the pipeline finished."""
        self._end_time = now()
        for capture in self.captures:
            capture.stop(discard=True)  # inference is done: let the capture threads exit
        self._deliver(_END)
        self._finished.set()

    def _prepare(self, batch: list[tuple[int, Item]], frame_timer: _FrameTimer):
        """Detection (one call for the frames that need it), then the crops; None when a stop came between.

        Returns what :meth:`_poses` finishes: the estimator's prepared crops, or the frames for an estimator
        that is a plain callable.
        """
        estimator = self.estimator
        detector = getattr(estimator, "detector", None)
        images = [item.frame.image for _, item in batch]
        if detector is None or not hasattr(estimator, "prepare"):
            return images
        if self.budget is not None:
            return self.budget.prepare(estimator, [i for i, _ in batch], images, frame_timer)
        with frame_timer.stage("detect"):  # with det_every: the detector, or boxes from the last keypoints
            detections = [None] * len(batch)
            due = [k for k, (i, _) in enumerate(batch)
                   if self.det_every[i] is None or self.det_every[i].due()]
            if due:
                batch_call = getattr(detector, "detect_batch", None)  # any callable detector works, frame by frame
                found = (batch_call([images[k] for k in due]) if batch_call is not None
                         else [detector(images[k]) for k in due])
                for k, d in zip(due, found):
                    detections[k] = d
            for k, (i, _) in enumerate(batch):
                if self.det_every[i] is not None:
                    detections[k] = self.det_every[i].detections(images[k], lambda _image, d=detections[k]: d)
        if self._stop.is_set():
            return None
        return estimator.prepare(images, [d.boxes for d in detections], [d.scores for d in detections],
                                 timer=frame_timer)

    def _poses(self, work: _Round, frame_timer: _FrameTimer) -> list[PoseResult]:
        if isinstance(work.prepared, list):
            return [self.estimator(image, timer=frame_timer) for image in work.prepared]
        if self.budget is not None:
            return self.budget.finish(self.estimator, work.prepared, frame_timer)
        results = self.estimator.finish(work.prepared, timer=frame_timer)
        for (i, _), result in zip(work.batch, results):
            if self.det_every[i] is not None:
                self.det_every[i].update(result)
        return results

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
