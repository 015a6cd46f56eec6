"""The reading side of a stream: one thread reads a source and hands frames to inference.

:class:`Capture` owns the source's thread, the hand-off (:class:`~rtpose.engine.handoff.Handoff`: a
latest-frame slot for live sources and ``realtime`` playback, a bounded FIFO for files) and the
playback control (pause, step, seek, holding at the end of a file for a viewer). It knows nothing of
models: :class:`rtpose.engine.pipeline.Pipeline` takes its frames with :meth:`Capture.take`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rtpose.engine.handoff import Handoff, Item, Playback
from rtpose.errors import SourceError
from rtpose.io.sources import FrameSource
from rtpose.utils.timing import StageTimer, now


class Capture:
    """Reads ``source`` on a background thread (``rtpose-capture``).

    Args:
        source: where frames come from (see :func:`rtpose.io.sources.open_source`).
        timer: where ``capture`` times go (reading one frame; for ``realtime`` playback not the wait
            for the frame's time).
        drop_frames: keep only the newest frame (default: for live sources and realtime playback).
        queue_size: capacity of the file FIFO.
        max_frames: stop reading after this many frames (files; live sources are stopped by the consumer).
        hold_at_end: at the end of a file or folder, wait for a :meth:`seek` (or :meth:`stop`) instead of
            finishing; :attr:`at_end` is True while waiting.
        on_frame: called after each frame is handed over, and at the end (an inference loop that serves
            several captures waits on it).
    """

    def __init__(
        self,
        source: FrameSource,
        timer: StageTimer,
        *,
        drop_frames: bool | None = None,
        queue_size: int = 4,
        max_frames: int | None = None,
        hold_at_end: bool = False,
        on_frame: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.timer = timer
        if drop_frames is None:
            drop_frames = bool(source.is_live or getattr(source, "realtime", False))
        self.drop_frames = drop_frames
        self.max_frames = max_frames
        self.hold_at_end = hold_at_end
        self.handoff = Handoff(latest=drop_frames, capacity=queue_size, on_put=on_frame)
        self.playback = Playback()
        self.at_end = False
        self.frames_captured = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rtpose-capture", daemon=True)
        self._thread.start()

    def stop(self, discard: bool = False, blocking: bool = True) -> None:
        """Ask the thread to end (it may be waiting on a full queue); ``discard`` drops waiting frames."""
        self._stop.set()
        interrupt = getattr(self.source, "interrupt", None)
        if interrupt is not None:  # a stream waiting to reconnect gives up waiting
            interrupt()
        if discard:
            self.handoff.close(discard=True)
        self.wake(blocking)

    def join(self, timeout: float) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self, blocking: bool = True) -> None:
        """Wake every wait of the thread (``blocking=False`` never waits for a lock: signal handlers)."""
        self.handoff.wake(blocking)
        self.playback.wake(blocking)

    @property
    def dropped(self) -> int:
        """Frames dropped so far (by the latest-frame slot and by the source itself)."""
        return self.handoff.dropped + int(getattr(self.source, "dropped", 0))

    # ------------------------------------------------------------------ playback
    @property
    def paused(self) -> bool:
        return self.playback.paused

    def pause(self) -> None:
        """Hold reading (a live source keeps being read so that it does not lag behind)."""
        self.playback.pause()

    def resume(self) -> None:
        self.playback.resume()
        self.handoff.wake()

    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file or folder (also while paused: that frame is processed)."""
        if self.source.is_live:
            raise SourceError(f"{self.source.name} is a live source: it cannot seek.")
        count = self.source.frame_count
        if count is not None and not 0 <= index < count:
            raise SourceError(f"Frame {index} is outside {self.source.name} (frames 0 to {count - 1}).")
        self.playback.seek(index)

    def take(self, stopped: Callable[[], bool]) -> Item | None:
        """The next frame for inference (a seek's frame even while paused); None at the end or on a stop."""
        return self.handoff.get(stopped=stopped, paused=lambda: self.playback.paused)

    def take_nowait(self) -> Item | None:
        """The next frame if one is ready, else None at once."""
        return self.handoff.take_nowait(self.playback.paused)

    @property
    def exhausted(self) -> bool:
        """The source ended (or reading stopped) and every frame was taken."""
        return self.handoff.exhausted

    # ------------------------------------------------------------------ the thread
    def _halted(self) -> bool:
        return self._stop.is_set()

    def _loop(self) -> None:
        handoff, playback, source = self.handoff, self.playback, self.source
        live = source.is_live
        step = False
        try:
            while not self._halted():
                seek = playback.wait_while_paused(live, self._halted)
                if self._halted():
                    break
                if seek is not None:
                    source.seek(seek)
                    handoff.restart()
                    step = playback.paused
                if (not self.drop_frames and self.max_frames is not None and self.frames_captured >= self.max_frames
                        and seek is None):
                    break
                start = now()
                frame = source.read()
                capture_ms = max(0.0, now() - start - source.paced_s) * 1e3
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
            self.error = exc if isinstance(exc, Exception) else SourceError(f"{source.name} failed: {exc}.")
        finally:
            handoff.close()


__all__ = ["Capture"]
