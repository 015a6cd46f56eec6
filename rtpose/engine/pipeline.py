"""The real-time pipeline: capture threads → inference and pose threads → results for the render/sink side.

Reading and playback live in :class:`rtpose.engine.capture.Capture`, the estimator's two steps in
:mod:`rtpose.engine.stages`; this module schedules them. Most programs do not use it directly:
:meth:`rtpose.PoseModel.stream` runs it inside a :class:`~rtpose.engine.stream.PoseStream`.

::

    capture thread ──▶ hand-off ──▶ inference thread ──▶ pose thread ──▶ results ──▶ caller (CLI / Qt)
    source.read()      live: latest-frame slot  detector + crops       one batched pose call,
    (one per source)   files: bounded queue     of the next round      decode, tracker

- Live sources (cameras, streams, ``realtime`` file playback) keep only the newest frame: a frame that
  the inference thread has not taken when the next one arrives is dropped and counted.
- Files and folders put every frame through a small bounded queue (back-pressure, nothing dropped).
- The inference thread detects and crops the next round while the pose thread runs this round's pose
  call (``overlap=False``, or an estimator with no first stage: one thread does both); with detect-every-N
  the next round waits for this round's keypoints.
- Results go to :meth:`Pipeline.results`, a bounded queue that the caller drains (a slow caller holds
  inference back rather than letting results pile up).
- :meth:`Pipeline.stop` (or the end of the stream, or ``max_frames``) joins every thread within about
  a second; memory stays bounded however long it runs.

Threads and what each owns
--------------------------

- **capture thread** (``rtpose-capture``, one per source): the source's reads and seeks, and the
  putting side of its hand-off.
- **inference thread** (``rtpose-inference``): taking frames, the first stage (detection, crops) and the
  detect-every-N state; hands one round at a time to the pose thread (``_round``).
- **pose thread** (``rtpose-pose``, only when the work overlaps; else the inference thread does this):
  the second stage, the trackers, the per-source counters and the putting side of the results queue.
- **caller** (any thread): :meth:`results`, and the controls :meth:`pause`, :meth:`resume`, :meth:`seek`,
  :meth:`set_tracker`, :meth:`request_stop` (also from a signal handler) and :meth:`stop`.

Everything these threads share (hand-offs, pause and seek requests, the round in flight, the results
queue, the stop flag, a tracker replacement) is guarded by one monitor, ``Pipeline._monitor``: a
:class:`threading.Condition` over a reentrant lock. Every change is followed by ``notify_all`` and every
wait is ``wait_for(predicate)``, so a waiting thread wakes when what it waits for happens, never by
polling. The lock is held only for bookkeeping, never during a read, a model call or a tracker update.
It is reentrant so that :meth:`request_stop` called from a signal handler, which runs on the main thread
between two bytecodes, cannot deadlock against the main thread itself.

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
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from rtpose.engine.capture import Capture
from rtpose.engine.handoff import Item
from rtpose.engine.stages import Stages, TopDownStages, stages_for, warmup
from rtpose.engine.stats import STAGE_ORDER, RunStats, remote_failures, stage_stats
from rtpose.errors import RtposeError, SourceError
from rtpose.io.sources import FrameSource
from rtpose.pose.budget import FrameBudget
from rtpose.pose.det_every import DetectEveryN
from rtpose.results import PoseResult
from rtpose.utils.timing import StageTimer, now

_END = object()


class _FrameTimer:
    """Records into the pipeline's timer and keeps this round's stage times (ms) on the side."""

    def __init__(self, main: StageTimer) -> None:
        self.main = main
        self.frame: dict[str, float] = {}

    stage: Callable[..., AbstractContextManager[None]] = StageTimer.stage  # times a block, hands it to add()

    def add(self, name: str, seconds: float) -> None:
        self.main.add(name, seconds)
        self.frame[name] = self.frame.get(name, 0.0) + seconds * 1e3


@dataclass
class _Round:
    """One round between the two stages: the frames taken, when, their timer and what the first stage made."""

    batch: list[tuple[int, Item]]
    taken: float
    timer: _FrameTimer
    schedules: list[DetectEveryN | None]
    prepared: object
    resets: list[int]


class Pipeline:
    """Runs an estimator on one source, or on several at once, in background threads.

    Args:
        source: where frames come from (see :func:`rtpose.io.sources.open_source`), or a list of sources:
            one capture thread each, and one inference loop that takes the newest frame of every stream
            that has one, runs the detector once on that batch of frames and the pose model once on all
            their people (:meth:`~rtpose.pose.estimator.TopDownEstimator.estimate_many`). A slow, stalled or
            ended stream never holds the others; files keep every frame.
        estimator: a :class:`~rtpose.pose.estimator.TopDownEstimator`, any callable
            ``estimator(image, timer=…) -> PoseResult``, or :class:`~rtpose.engine.stages.Stages` (see
            :func:`~rtpose.engine.stages.stages_for`). Stage times are passed per call, so one estimator
            may serve several pipelines one after another (or at once).
        tracker: optional object with ``update(result, timestamp) -> result`` and ``reset()`` (or a list,
            one per source), called in the pose thread after estimation (stage ``track``); reset on
            :meth:`seek`. Replace it while running with :meth:`set_tracker` (between two frames).
        max_frames: stop after this many processed frames (of each source).
        timer: where stage times go (a new one when None).
        drop_frames: keep only the newest frame (default: for live sources and realtime playback).
        queue_size: capacity of the file queue and of the results queue (per source).
        det_every: run the detector on one frame in N; between, boxes come from each person's previous
            keypoints (:mod:`rtpose.pose.det_every`); 1 (default) detects on every frame.
        overlap: run the two stages on two threads, so that the detector and the crops of the next frames
            are done while the pose model runs on this round's people (default). With ``det_every`` the
            next round waits for this one's keypoints. False: one thread does all.
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
        estimator,
        *,
        tracker=None,
        max_frames: int | None = None,
        timer: StageTimer | None = None,
        drop_frames: bool | None = None,
        queue_size: int = 4,
        det_every: int = 1,
        overlap: bool = True,
        budget_ms: float | None = None,
        max_age: int = 10,
    ) -> None:
        self.sources: list[FrameSource] = list(source) if isinstance(source, (list, tuple)) else [source]
        if not self.sources:
            raise ValueError("source: a Pipeline needs at least one source")
        self.source = self.sources[0]
        self.estimator = estimator
        self.stages: Stages = stages_for(estimator)
        #: Whether the two stages run on two threads (``overlap`` and an estimator with a first stage).
        self.overlap = bool(overlap) and self.stages.overlaps
        self.trackers: list = self._per_source(tracker)
        self.max_frames = max_frames
        self.timer = timer or StageTimer()
        self._monitor = threading.Condition(threading.RLock())
        self.captures = [
            Capture(s, self._monitor, self.timer, drop_frames=drop_frames, queue_size=queue_size,
                    max_frames=max_frames)
            for s in self.sources
        ]
        self.capture = self.captures[0]
        self.drop_frames = self.capture.drop_frames
        self.det_every = [DetectEveryN(det_every) if det_every > 1 else None for _ in self.sources]
        if budget_ms is not None and not isinstance(self.stages, TopDownStages):
            raise RtposeError("budget_ms= needs a TopDownEstimator with a detector (it chooses whom to pose).")
        self.budget = None if budget_ms is None else FrameBudget(budget_ms, max_age, len(self.sources))
        n = len(self.sources)
        # Per source, written by the pose stage (read by anyone: plain counters).
        self.processed = [0] * n
        self.people_found = [0] * n
        self.people = 0
        self.pose_calls = 0
        self._recent = [collections.deque(maxlen=30) for _ in self.sources]
        # Guarded by the monitor.
        self._results: collections.deque = collections.deque()
        self._results_cap = max(1, queue_size) * n
        self._done = [False] * n  # max_frames reached
        self._round: _Round | None = None  # handed to the pose stage, not taken yet
        self._busy = False  # the pose stage works on a round
        self._new_trackers: list | None = None  # a replacement waiting for the next frame
        self._stopping = False
        self._inference_ended = False
        self._pose_ended = False
        self._finished = False  # the last result (the end marker) is in the queue
        self._error: BaseException | None = None
        self._started = False
        self._threads: list[threading.Thread] = []
        self._start_time: float | None = None
        self._end_time: float | None = None

    def _per_source(self, tracker) -> list:
        if isinstance(tracker, (list, tuple)):
            if len(tracker) != len(self.sources):
                raise ValueError(f"tracker: {len(tracker)} trackers for {len(self.sources)} sources")
            return list(tracker)
        if tracker is not None and len(self.sources) > 1:
            raise ValueError("tracker: several sources need one tracker each (a list)")
        return [tracker] * len(self.sources)

    # ------------------------------------------------------------------ control (the caller's thread)
    def start(self) -> None:
        """Start the capture threads and the inference threads."""
        if self._started:
            raise RuntimeError("A Pipeline can be started once.")
        self._started = True
        self._start_time = now()
        for capture in self.captures:
            capture.start()
        self._threads = [threading.Thread(target=self._inference_loop, name="rtpose-inference", daemon=True)]
        if self.overlap:
            self._threads.append(threading.Thread(target=self._pose_loop, name="rtpose-pose", daemon=True))
        for thread in self._threads:
            thread.start()

    def request_stop(self) -> None:
        """Ask every thread to stop without waiting for them (safe from signal handlers and callbacks).

        The frames already in the model still come out of :meth:`results`.
        """
        with self._monitor:
            self._stopping = True
            self._monitor.notify_all()
        for capture in self.captures:
            capture.stop()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop and join every thread (within about ``timeout`` seconds in all)."""
        self.request_stop()
        deadline = now() + timeout
        for capture in self.captures:
            capture.join(max(0.0, deadline - now()))
        self.join_inference(max(0.0, deadline - now()))
        with self._monitor:
            if self._end_time is None:
                self._end_time = now()

    def join_inference(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the inference threads (a pose call cannot be cut short)."""
        deadline = now() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - now()))

    def pause(self) -> None:
        """Hold processing (a live source keeps being read so that it does not lag behind).

        At most the round in the model and one prepared round of a file still come out; a live source's
        prepared round is dropped (it would be stale when shown).
        """
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
        with self._monitor:
            if self._started:
                self._new_trackers = trackers
            else:
                self.trackers = trackers

    def results(self, timeout: float | None = None) -> Iterator[PoseResult]:
        """Yield results as they come until the streams end or :meth:`stop` is called.

        After :meth:`request_stop` it still yields the results of the frames that were in the model, so a
        stopped run loses nothing it computed. Re-raises an error of a capture or an inference thread
        (e.g. a source that failed) at the end. ``timeout``: give up waiting for the next result after
        this many seconds (None: no limit); a later call goes on where this one stopped.
        """
        while True:
            with self._monitor:
                ready = self._monitor.wait_for(
                    lambda: self._results or self._finished or (self._stopping and not self._started), timeout)
                if not ready:
                    return  # timed out: the run goes on
                if not self._results:
                    break  # the end was taken by an earlier call, or a pipeline stopped before it started
                item = self._results.popleft()
                self._monitor.notify_all()  # room for the pose stage
            if item is _END:
                break
            yield item
        error = self.error
        if error is not None:
            self._error = None
            for capture in self.captures:
                capture.error = None
            raise error

    # ------------------------------------------------------------------ state
    @property
    def tracker(self):
        """The tracker of the first source."""
        return self.trackers[0]

    @property
    def error(self) -> BaseException | None:
        """The error that ended an inference thread or a capture thread, if any."""
        return self._error or next((c.error for c in self.captures if c.error is not None), None)

    @property
    def running(self) -> bool:
        """True while any pipeline thread is alive."""
        return any(c.alive for c in self.captures) or self.inferring

    @property
    def inferring(self) -> bool:
        """True while an inference thread is alive (a capture thread may still wait in a source's read)."""
        return any(t.is_alive() for t in self._threads)

    @property
    def paused(self) -> bool:
        return self.capture.paused

    @property
    def frames_processed(self) -> int:
        return sum(self.processed)

    @property
    def frames_captured(self) -> int:
        return sum(c.frames_captured for c in self.captures)

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

    def stats(self) -> RunStats:
        """The run's figures so far: all sources, and each source in ``streams`` when there are several."""
        end = self._end_time or now()
        elapsed = max(end - (self._start_time or end), 0.0)
        per_stream = ()
        if len(self.sources) > 1:
            per_stream = tuple(
                RunStats(source=s.name, frames=self.processed[i], captured=c.frames_captured, dropped=c.dropped,
                         skipped=s.skipped, elapsed_s=elapsed, people=self.people_found[i])
                for i, (s, c) in enumerate(zip(self.sources, self.captures))
            )
        return RunStats(
            source=", ".join(s.name for s in self.sources),
            frames=self.frames_processed,
            captured=self.frames_captured,
            dropped=self.dropped,
            skipped=sum(s.skipped for s in self.sources),
            elapsed_s=elapsed,
            people=self.people,
            pose_calls=self.pose_calls,
            stages=stage_stats(self.timer.summary()),
            streams=per_stream,
            failures=remote_failures(self.stages.parts()),
            budget=None if self.budget is None else self.budget.stats(),
        )

    # ------------------------------------------------------------------ the inference thread (first stage)
    def _inference_loop(self) -> None:
        """Take frames, detect, crop; hand each round to the pose stage (or finish it here, one thread)."""
        generations = [c.handoff.generation for c in self.captures]
        try:
            while True:
                if self.overlap and not self._wait_for_pose_stage(idle=False):
                    break  # at most one round waits for the pose stage: the next frames stay fresh
                batch = self._take()
                if batch is None:
                    break
                taken = now()
                resets = [i for i, item in batch if item.generation != generations[i]]  # a seek
                for i, item in batch:
                    generations[i] = item.generation
                schedules = [self.det_every[i] for i, _ in batch]
                needs_keypoints = self.budget is not None or any(s is not None for s in schedules)
                if self.overlap and needs_keypoints and not self._wait_for_pose_stage(idle=True):
                    break  # boxes between detections come from the pose stage's last keypoints
                for i in resets:
                    if self.det_every[i] is not None:
                        self.det_every[i].reset()
                    if self.budget is not None:
                        self.budget.reset(i)
                timer = _FrameTimer(self.timer)
                for _, item in batch:
                    self.timer.add("queue", taken - item.queued_at)
                timer.frame = {"capture": max(item.capture_ms for _, item in batch),
                               "queue": max(taken - item.queued_at for _, item in batch) * 1e3}
                images = [item.frame.image for _, item in batch]
                if self.budget is not None:
                    prepared = self.budget.prepare(self.stages.estimator, [i for i, _ in batch], images, timer)
                else:
                    prepared = self.stages.prepare(images, schedules, timer)
                if self._stopping:
                    break  # stopped between detection and pose
                work = _Round(batch, taken, timer, schedules, prepared, resets)
                if not self.overlap:
                    if not self._finish(work):
                        break
                    continue
                with self._monitor:
                    self._round = work
                    self._monitor.notify_all()
        except BaseException as exc:
            self._fail(exc)
        finally:
            with self._monitor:
                self._inference_ended = True
                self._monitor.notify_all()
            if not self.overlap:
                self._end()

    def _take(self) -> list[tuple[int, Item]] | None:
        """The next frame of every source that has one (its newest, for live sources); None at the end or a stop."""
        with self._monitor:
            while not self._stopping:
                batch = [(i, item) for i, c in enumerate(self.captures)
                         if not self._done[i] and (item := c.take()) is not None]
                if batch:
                    self._monitor.notify_all()  # room in the file queues
                    return batch
                if all(self._done[i] or c.exhausted for i, c in enumerate(self.captures)):
                    return None
                self._monitor.wait()
        return None

    def _wait_for_pose_stage(self, idle: bool) -> bool:
        """Wait until the pose stage took the last round (``idle``: and finished it); False on a stop or its end."""
        with self._monitor:
            self._monitor.wait_for(lambda: (self._round is None and not (idle and self._busy))
                                   or self._stopping or self._pose_ended)
            return not (self._stopping or self._pose_ended)

    # ------------------------------------------------------------------ the pose thread (second stage)
    def _pose_loop(self) -> None:
        """The pose call, decoding, tracking and delivery of each round, in order.

        After a stop, an error, or once every source has its ``max_frames``, the rounds still handed over
        are dropped (stopped between detection and pose) until the first stage ends. A pause holds the
        round that was taken before it (:meth:`_hold_while_paused`).
        """
        done = False
        try:
            while True:
                with self._monitor:
                    self._monitor.wait_for(lambda: self._round is not None or self._inference_ended)
                    work, self._round = self._round, None
                    if work is None:
                        break
                    self._busy = True
                    self._monitor.notify_all()
                try:
                    if not (done or self._stopping) and self._hold_while_paused(work):
                        done = not self._finish(work)
                finally:
                    with self._monitor:
                        self._busy = False
                        self._monitor.notify_all()
        except BaseException as exc:
            self._fail(exc)
        finally:
            with self._monitor:
                self._pose_ended = True
                self._monitor.notify_all()
            self._end()

    def _hold_while_paused(self, work: _Round) -> bool:
        """A round taken just before a pause: a file's waits for the resume (every frame is kept), a live one
        is dropped (it would be stale when shown), and so is one that a seek made stale. True: finish it.

        A seek's frame while paused (``step``) goes through: it is the frame the viewer shows.
        """
        captures = [self.captures[i] for i, _ in work.batch]

        def held() -> bool:
            return not all(item.step for _, item in work.batch) and any(c.paused for c in captures)

        def dropped() -> bool:
            return (self._stopping or any(c.drop_frames for c in captures)
                    or any(item.generation != c.handoff.generation for c, (_, item) in zip(captures, work.batch)))

        with self._monitor:
            self._monitor.wait_for(lambda: not held() or dropped())
            return not held()

    # ------------------------------------------------------------------ the second stage (pose or inference thread)
    def _finish(self, work: _Round) -> bool:
        """Pose, decode, track and deliver one round; False once every source has its ``max_frames``."""
        with self._monitor:
            if self._new_trackers is not None:
                self.trackers, self._new_trackers = self._new_trackers, None
        for i in work.resets:
            if self.trackers[i] is not None:
                self.trackers[i].reset()
        timer = work.timer
        if self.budget is not None:
            results = self.budget.finish(self.stages.estimator, work.prepared, timer)
        else:
            results = self.stages.finish(work.prepared, work.schedules, timer)
        people = sum(len(r) for r in results)
        self.people += people
        self.pose_calls += 1 if people else 0
        for (i, item), result in zip(work.batch, results):
            result = result.replace(frame=item.frame, stream=i)
            if self.trackers[i] is not None:
                with timer.stage("track"):
                    result = self.trackers[i].update(result, item.frame.clock)
            ready = now()
            origin = item.frame.timestamp if self.captures[i].drop_frames else work.taken
            latency = (ready - origin) * 1e3
            self.timer.add("latency", latency / 1e3)
            self._recent[i].append(ready)
            self.processed[i] += 1
            self.people_found[i] += len(result)
            self._deliver(result.replace(timings_ms=dict(timer.frame), latency_ms=latency,
                                         fps=self.stream_fps(i), dropped=self.captures[i].dropped, origin=origin))
            if self.max_frames is not None and self.processed[i] >= self.max_frames:
                with self._monitor:
                    self._done[i] = True
                self.captures[i].stop(discard=True)
        return not all(self._done)

    def _deliver(self, result: PoseResult) -> None:
        """Queue a result for :meth:`results`; waits for room while the caller is behind (not after a stop)."""
        with self._monitor:
            self._monitor.wait_for(lambda: len(self._results) < self._results_cap or self._stopping)
            self._results.append(result)
            self._monitor.notify_all()

    def _fail(self, exc: BaseException) -> None:
        """An inference thread failed: keep the first error, stop everything (it is raised by :meth:`results`)."""
        with self._monitor:
            self._error = self._error or exc
            self._stopping = True
            self._monitor.notify_all()

    def _end(self) -> None:
        """The last result is out: stop the captures, queue the end marker."""
        for capture in self.captures:
            capture.stop(discard=True)  # inference is done: let the capture threads exit
        with self._monitor:
            self._end_time = now()
            self._results.append(_END)
            self._finished = True
            self._monitor.notify_all()


__all__ = ["Pipeline", "STAGE_ORDER", "warmup"]
