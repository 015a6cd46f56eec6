"""Stop requests from outside: Ctrl-C (SIGINT), ``docker stop``/systemd (SIGTERM), a closed terminal (SIGHUP).

All three mean "stop cleanly": finish the frame in hand, finalise videos, flush JSON, then exit with
``128 + signal number`` (130, 143, 129), as shells and service managers expect. A second signal
while stopping raises :class:`KeyboardInterrupt` at once, for a user who really wants out.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The signals that ask a run to stop (SIGHUP does not exist on Windows).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StopRequest:
    """What :func:`stop_on_signals` saw: the first stop signal, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._came = threading.Event()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop signal has come (or ``timeout`` s); whether one came."""
        return self._came.wait(timeout)

    @property
    def exit_code(self) -> int:
        """``128 + signal number`` once a signal came, else 0."""
        return 128 + int(self.signum) if self.signum is not None else 0

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""


@contextmanager
def stop_on_signals(on_stop: Callable[[int], None], second_interrupts: bool = True) -> Iterator[StopRequest]:
    """Within the block, the first stop signal calls ``on_stop(signum)``; a second raises KeyboardInterrupt.

    ``on_stop`` runs in a signal handler: it must only set flags or wake threads (never block).
    ``second_interrupts=False`` calls ``on_stop`` again instead (for Qt's event loop, where an exception
    raised inside a callback would abort the process). Off the main thread (where Python cannot install
    handlers) this does nothing but yield.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, _frame) -> None:
        if request.requested and second_interrupts:
            raise KeyboardInterrupt
        request.signum = request.signum or signum
        request._came.set()
        on_stop(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Interrupted(KeyboardInterrupt):
    """A stop signal during a step that cannot finish the frame in hand (an export): stop now, keep nothing half-made.

    A :class:`KeyboardInterrupt`, so that ``except Exception`` fallbacks do not swallow it; ``exit_code`` is
    ``128 + signal number``.
    """

    def __init__(self, signum: int, what: str = "") -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        name = signal.Signals(self.signum).name
        super().__init__(f"stopped by {name}" + (f" while {what}" if what else "") + "; nothing half-made was kept")


@contextmanager
def stop_signals_raise(what: str = "") -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` at once (cleanup code runs).

    For slow steps such as exports: SIGTERM's default would kill the process without removing temporary
    files, and library code (exporters) sometimes swallows KeyboardInterrupt; a signal it swallowed is
    raised again when the block ends. Off the main thread this does nothing but yield.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []

    def handler(signum, _frame) -> None:
        seen.append(signum)
        raise Interrupted(signum, what)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    except KeyboardInterrupt as exc:
        if seen and not isinstance(exc, Interrupted):
            raise Interrupted(seen[0], what) from None
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if seen:
        raise Interrupted(seen[0], what)


__all__ = ["STOP_SIGNALS", "Interrupted", "StopRequest", "stop_on_signals", "stop_signals_raise"]
