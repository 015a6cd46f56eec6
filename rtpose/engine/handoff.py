"""The two small objects between the pipeline's threads: the frame hand-off and the playback control.

- :class:`Handoff` carries frames from the capture thread to the inference thread: a latest-frame slot
  for live sources (an older frame still waiting is dropped and counted) or a bounded FIFO for files
  (the reader waits: back-pressure, nothing dropped). A seek starts a new *generation*: frames of the
  old position are discarded.
- :class:`Playback` holds pause and seek requests (from a viewer's thread) that the capture loop asks
  about before each read.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass

from rtpose.io.sources import Frame


@dataclass
class Item:
    """A captured frame on its way to inference."""

    frame: Frame
    capture_ms: float
    step: bool = False  # processed even while paused (the frame shown after a seek)
    generation: int = 0
    queued_at: float = 0.0


def _notify(cond: threading.Condition, blocking: bool = True) -> None:
    """Wake the threads waiting on ``cond``; ``blocking=False`` never waits for its lock (signal handlers)."""
    if cond.acquire(blocking=blocking):
        try:
            cond.notify_all()
        finally:
            cond.release()


class Handoff:
    """Capture → inference: a latest-frame slot (``latest=True``) or a bounded FIFO of ``capacity``.

    Attributes:
        dropped: frames replaced in the slot before inference took them.
        max_len: the most frames that ever waited at once (1 at most for the slot).
        generation: incremented by :meth:`restart` (a seek); items carry the generation they were put in.
    """

    def __init__(self, latest: bool, capacity: int, on_put: Callable[[], None] | None = None) -> None:
        self.on_put = on_put  # told after each put (an inference loop that waits on several hand-offs)
        self.latest = latest
        self.capacity = 1 if latest else max(1, capacity)
        self._items: collections.deque[Item] = collections.deque()
        self.cond = threading.Condition()
        self.dropped = 0
        self.max_len = 0
        self.generation = 0
        self._closed = False  # no more frames will be put (the source ended or capture stopped)

    def put(self, item: Item, give_up: Callable[[], bool]) -> None:
        """Hand ``item`` over: the slot replaces what waits there; the FIFO waits for room until ``give_up()``."""
        with self.cond:
            if self.latest:
                self.dropped += len(self._items)
                self._items.clear()
            else:
                while len(self._items) >= self.capacity and not give_up():
                    self.cond.wait(0.1)
            if item.generation == self.generation:
                self._items.append(item)
            self.max_len = max(self.max_len, len(self._items))
            self.cond.notify_all()
        if self.on_put is not None:
            self.on_put()

    def get(self, stopped: Callable[[], bool], paused: Callable[[], bool]) -> Item | None:
        """The next frame for inference (a ``step`` frame even while paused); None at the end or on a stop."""
        with self.cond:
            while not stopped():
                if self._items and (not paused() or self._items[0].step):
                    item = self._items.popleft()
                    self.cond.notify_all()
                    return item
                if self._closed and not self._items:
                    return None
                self.cond.wait(0.1)
        return None

    def take_nowait(self, paused: bool) -> Item | None:
        """The next frame if one waits (a ``step`` frame even while ``paused``), else None at once."""
        with self.cond:
            if self._items and (not paused or self._items[0].step):
                item = self._items.popleft()
                self.cond.notify_all()
                return item
        return None

    @property
    def exhausted(self) -> bool:
        """No frame waits and none will come (the source ended or capture stopped)."""
        with self.cond:
            return self._closed and not self._items

    def restart(self) -> int:
        """A seek: discard waiting frames and start a new generation (returned)."""
        with self.cond:
            self.generation += 1
            self._items.clear()
            self.cond.notify_all()
            return self.generation

    def close(self, discard: bool = False) -> None:
        """No more frames will come; ``discard`` also drops those still waiting (inference has ended)."""
        with self.cond:
            self._closed = True
            if discard:
                self._items.clear()
            self.cond.notify_all()
        if self.on_put is not None:
            self.on_put()

    def wake(self, blocking: bool = True) -> None:
        _notify(self.cond, blocking)


class Playback:
    """Pause, step and seek requests for the capture loop (set from any thread).

    A seek while paused shows exactly that frame (the capture loop marks it as a ``step``).
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.paused = False
        self._seek_to: int | None = None

    def pause(self) -> None:
        with self.cond:
            self.paused = True

    def resume(self) -> None:
        with self.cond:
            self.paused = False
            self.cond.notify_all()

    def seek(self, index: int) -> None:
        with self.cond:
            self._seek_to = int(index)
            self.cond.notify_all()

    @property
    def seek_pending(self) -> bool:
        return self._seek_to is not None

    def wait_while_paused(self, live: bool, halted: Callable[[], bool]) -> int | None:
        """Block while paused, unless a seek asks for one frame; returns that seek (and clears it).

        Live sources are never blocked: they keep being read so that they stay current.
        """
        with self.cond:
            while self.paused and self._seek_to is None and not halted() and not live:
                self.cond.wait(0.1)
            seek, self._seek_to = self._seek_to, None
            return seek

    def wait_for_seek(self, halted: Callable[[], bool]) -> bool:
        """At the end of a file held open for a viewer: True once a seek came, False on a stop."""
        with self.cond:
            while self._seek_to is None and not halted():
                self.cond.wait(0.1)
            return self._seek_to is not None

    def wake(self, blocking: bool = True) -> None:
        _notify(self.cond, blocking)


__all__ = ["Handoff", "Item", "Playback"]
