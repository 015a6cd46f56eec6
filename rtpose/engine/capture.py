"""The reading side of a stream: one thread reads a source and hands frames to inference.

:class:`Capture` owns the source's thread (``rtpose-capture``), the source's reads and seeks, the
hand-off (:class:`~rtpose.engine.handoff.Handoff`: a latest-frame slot for live sources and ``realtime``
playback, a bounded FIFO for files) and the playback requests (pause, seek). It knows nothing of models:
:class:`rtpose.engine.pipeline.Pipeline` takes its frames with :meth:`Capture.take`.

Its state is guarded by the pipeline's monitor (one :class:`threading.Condition` given as ``monitor``,
shared by every capture of a pipeline and by the pipeline itself); every change is followed by
``notify_all`` and every wait is ``monitor.wait_for(predicate)``, so no thread polls. The source itself
is only touched by the capture thread (and by :meth:`FrameSource.interrupt`, which any thread may call).
"""

from __future__ import annotations

import threading

from rtpose.engine.handoff import Handoff, Item
from rtpose.errors import SourceError
from rtpose.io.sources import FrameSource
from rtpose.utils.timing import StageTimer, now


class Capture:
    """Reads ``source`` on a background thread (``rtpose-capture``).

    Args:
        source: where frames come from (see :func:`rtpose.io.sources.open_source`).
        monitor: the pipeline's condition; its lock must be reentrant (``Condition(RLock())``) so that a
            stop asked from a signal handler on a thread that holds it cannot deadlock.
        timer: where ``capture`` times go (reading one frame; for ``realtime`` playback not the wait
            for the frame's time).
        drop_frames: keep only the newest frame (default: for live sources and realtime playback).
        queue_size: capacity of the file FIFO.
        max_frames: stop reading after this many frames (files; live sources are stopped by the consumer).
    """

    def __init__(
        self,
        source: FrameSource,
        monitor: threading.Condition,
        timer: StageTimer,
        *,
        drop_frames: bool | None = None,
        queue_size: int = 4,
        max_frames: int | None = None,
    ) -> None:
        self.source = source
        self.monitor = monitor
        self.timer = timer
        if drop_frames is None:
            drop_frames = bool(source.is_live or source.realtime)
        self.drop_frames = drop_frames
        self.max_frames = max_frames
        self.handoff = Handoff(latest=drop_frames, capacity=queue_size)
        self.paused = False
        self.frames_captured = 0
        self.error: BaseException | None = None
        self._seek_to: int | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control (any thread)
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rtpose-capture", daemon=True)
        self._thread.start()

    def stop(self, discard: bool = False) -> None:
        """Ask the thread to end (safe from signal handlers); ``discard`` drops the frames still waiting."""
        self.source.interrupt()  # a stream waiting to reconnect gives up waiting
        with self.monitor:
            self._stopped = True
            if discard:
                self.handoff.close(discard=True)
            self.monitor.notify_all()

    def join(self, timeout: float) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def dropped(self) -> int:
        """Frames dropped so far (by the latest-frame slot and by the source itself)."""
        return self.handoff.dropped + self.source.dropped

    def pause(self) -> None:
        """Hold reading (a live source keeps being read so that it does not lag behind)."""
        with self.monitor:
            self.paused = True
            self.monitor.notify_all()

    def resume(self) -> None:
        with self.monitor:
            self.paused = False
            self.monitor.notify_all()

    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file or folder (also while paused: that frame is processed)."""
        if self.source.is_live:
            raise SourceError(f"{self.source.name} is a live source: it cannot seek.")
        count = self.source.frame_count
        if count is not None and not 0 <= index < count:
            raise SourceError(f"Frame {index} is outside {self.source.name} (frames 0 to {count - 1}).")
        with self.monitor:
            self._seek_to = int(index)
            self.monitor.notify_all()

    # ------------------------------------------------------------------ the inference side (monitor held)
    def take(self) -> Item | None:
        """The next frame if one is ready (a seek's frame even while paused), else None. Hold the monitor."""
        return self.handoff.take(self.paused)

    @property
    def exhausted(self) -> bool:
        """The source ended (or reading stopped) and every frame was taken. Hold the monitor."""
        return self.handoff.exhausted

    # ------------------------------------------------------------------ the capture thread
    def _loop(self) -> None:
        handoff, monitor, source = self.handoff, self.monitor, self.source
        live = source.is_live
        step = False
        try:
            while True:
                with monitor:  # a paused file waits here; a live source keeps being read
                    monitor.wait_for(lambda: self._stopped or self._seek_to is not None or not self.paused or live)
                    if self._stopped:
                        break
                    seek, self._seek_to = self._seek_to, None
                if seek is not None:
                    source.seek(seek)
                    with monitor:
                        handoff.restart()
                        step = self.paused  # a seek while paused shows exactly that frame
                        monitor.notify_all()  # a round of the old position held by the pause is stale now
                elif not self.drop_frames and self.max_frames is not None and self.frames_captured >= self.max_frames:
                    break
                start = now()
                frame = source.read()
                capture_ms = max(0.0, now() - start - source.paced_s) * 1e3
                if frame is None:
                    break
                if self.paused and not step and live:
                    continue  # paused live source: stay current, process nothing
                self.timer.add("capture", capture_ms / 1e3)
                self.frames_captured += 1
                item = Item(frame, capture_ms, step=step, generation=handoff.generation, queued_at=now())
                step = False
                with monitor:  # a full FIFO waits for inference (back-pressure); a seek or a stop ends the wait
                    monitor.wait_for(lambda: self._stopped or self._seek_to is not None or handoff.has_room)
                    if self._stopped:
                        break
                    if self._seek_to is None:
                        handoff.put(item)
                        monitor.notify_all()
        except BaseException as exc:  # a source failing mid-way ends the run with its error
            self.error = exc if isinstance(exc, Exception) else SourceError(f"{source.name} failed: {exc}.")
        finally:
            with monitor:
                handoff.close()
                monitor.notify_all()


__all__ = ["Capture"]
