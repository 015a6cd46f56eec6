"""The newest item of a stream, handed from the run loop's thread to many asyncio clients.

The run loop :meth:`Channel.publish` es each new picture or record; it never waits. Every client keeps the
sequence number of what it sent last and, when it is ready for more, takes the newest item (a per-client
latest slot, not a queue): a slow or stalled client misses items, and :meth:`Channel.missed` counts them.
One client waiting on its socket never delays the run loop nor any other client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass


@dataclass
class Subscription:
    """One client of a :class:`Channel`: the sequence number it sent last and how many items it missed."""

    seen: int = 0
    sent: int = 0
    missed: int = 0


class Channel:
    """The newest item of one stream (a JPEG, a JSON record), broadcast to the clients of an event loop.

    Args:
        loop: the asyncio loop the clients run in (:meth:`publish` wakes them from any thread).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._item: object | None = None
        self._seq = 0
        self._closed = False
        self._wake = asyncio.Event()  # touched on the loop's thread only
        self._live: dict[int, Subscription] = {}
        self._missed_done = 0  # items that clients which left missed

    @property
    def subscribers(self) -> int:
        """Clients listening now."""
        return len(self._live)

    @property
    def wanted(self) -> bool:
        """Whether any client listens (the run loop encodes pictures only then)."""
        return bool(self._live)

    @property
    def missed(self) -> int:
        """Items clients missed, over all clients so far: a client stalled in its socket misses every item
        published since the one it is sending."""
        seq = self._seq
        live = list(self._live.values())
        return self._missed_done + sum(s.missed + max(seq - s.seen - 1, 0) for s in live)

    def publish(self, item: object) -> None:
        """Make ``item`` the newest (any thread; never blocks on clients)."""
        with self._lock:
            self._item = item
            self._seq += 1
        self._notify()

    def close(self) -> None:
        """No more items: every waiting client gets None and ends (any thread)."""
        self._closed = True
        self._notify()

    def _notify(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody is waiting
            self._loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def latest(self) -> tuple[int, object | None]:
        """``(sequence number, item)`` of the newest item (0 and None before the first)."""
        with self._lock:
            return self._seq, self._item

    async def next(self, sub: Subscription) -> object | None:
        """The newest item newer than what ``sub`` had (waits for one); None once the channel is closed.

        Items published between two calls are skipped and counted in ``sub.missed`` and :attr:`missed`.
        """
        while True:
            seq, item = self.latest()
            if seq > sub.seen and item is not None:
                sub.missed += seq - sub.seen - 1
                sub.seen = seq
                sub.sent += 1
                return item
            if self._closed:
                return None
            await self._wake.wait()

    def subscribe(self) -> Subscription:
        """A new client; it gets the newest item at once if there is one."""
        with self._lock:
            sub = Subscription(seen=max(self._seq - 1, 0))  # the newest item is new to it
        self._live[id(sub)] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """The client left (what it missed stays counted)."""
        if self._live.pop(id(sub), None) is not None:
            self._missed_done += sub.missed + max(self._seq - sub.seen - 1, 0)


__all__ = ["Channel", "Subscription"]
