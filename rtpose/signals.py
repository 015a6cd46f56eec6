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

    @property
    def requested(self) -> bool:
        return self.signum is not None

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
        on_stop(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


__all__ = ["STOP_SIGNALS", "StopRequest", "stop_on_signals"]
