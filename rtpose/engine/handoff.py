"""The frame hand-off between a capture thread and the inference thread.

:class:`Handoff` is plain state with no lock of its own: every call happens while the caller holds the
pipeline's monitor (the one :class:`threading.Condition` of a :class:`~rtpose.engine.pipeline.Pipeline`),
and the caller notifies that condition after a change. Waiting is the caller's job too (a full FIFO, an
empty slot), so that one thread can wait on several hand-offs at once.

- Live sources and ``realtime`` playback use a latest-frame slot: a frame that inference has not taken
  when the next one arrives is dropped and counted.
- Files and folders use a bounded FIFO: the reader waits for room (back-pressure, nothing dropped).
- A seek starts a new *generation*: frames of the old position are discarded.
"""

from __future__ import annotations

import collections
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


class Handoff:
    """Capture → inference: a latest-frame slot (``latest=True``) or a bounded FIFO of ``capacity``.

    Attributes:
        dropped: frames replaced in the slot before inference took them.
        max_len: the most frames that ever waited at once (1 at most for the slot).
        generation: incremented by :meth:`restart` (a seek); items carry the generation they were put in.
        closed: no more frames will be put (the source ended or capture stopped).
    """

    def __init__(self, latest: bool, capacity: int) -> None:
        self.latest = latest
        self.capacity = 1 if latest else max(1, capacity)
        self._items: collections.deque[Item] = collections.deque()
        self.dropped = 0
        self.max_len = 0
        self.generation = 0
        self.closed = False

    @property
    def has_room(self) -> bool:
        """A :meth:`put` would not exceed the capacity (the slot always has room: it replaces)."""
        return self.latest or len(self._items) < self.capacity

    def put(self, item: Item) -> None:
        """Hand ``item`` over (the slot replaces what waits there); an item of an older generation is dropped."""
        if self.latest:
            self.dropped += len(self._items)
            self._items.clear()
        if item.generation == self.generation:
            self._items.append(item)
        self.max_len = max(self.max_len, len(self._items))

    def take(self, paused: bool) -> Item | None:
        """The next frame if one waits (a ``step`` frame even while ``paused``), else None."""
        if self._items and (not paused or self._items[0].step):
            return self._items.popleft()
        return None

    @property
    def exhausted(self) -> bool:
        """No frame waits and none will come."""
        return self.closed and not self._items

    def restart(self) -> None:
        """A seek: discard waiting frames and start a new generation."""
        self.generation += 1
        self._items.clear()

    def close(self, discard: bool = False) -> None:
        """No more frames will come; ``discard`` also drops those still waiting (inference has ended)."""
        self.closed = True
        if discard:
            self._items.clear()


__all__ = ["Handoff", "Item"]
