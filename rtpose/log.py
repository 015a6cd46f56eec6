"""rtpose's messages: one logger, ``logging.getLogger("rtpose")``, printed as ``rtpose: …`` on stderr.

Library code calls :func:`say` (progress, choices made) and :func:`warn`; the command line maps
``--quiet`` and ``--verbose`` to levels with :func:`set_verbosity`. Applications embedding rtpose can
attach their own handlers to the ``rtpose`` logger (and drop :data:`HANDLER`).
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("rtpose")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test capture, redirections), flushed per line."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ assigns one; sys.stderr always wins
        pass


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        kind = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"rtpose: {kind}{record.getMessage()}"


#: The handler rtpose installs on its logger (messages go to stderr as "rtpose: …").
HANDLER = _StderrHandler()
HANDLER.setFormatter(_Format())
if not LOGGER.handlers:
    LOGGER.addHandler(HANDLER)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def say(message: str) -> None:
    """Progress and choices a user should see (hidden by ``--quiet``)."""
    LOGGER.info(message)


def warn(message: str) -> None:
    """Something the user should know about that does not stop the run (shown with ``--quiet`` too)."""
    LOGGER.warning(message)


def debug(message: str) -> None:
    """Details for ``--verbose``."""
    LOGGER.debug(message)


def set_verbosity(quiet: bool = False, verbose: bool = False) -> None:
    """``--quiet``: warnings and errors only; ``--verbose``: debug details too; else progress messages."""
    LOGGER.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


__all__ = ["HANDLER", "LOGGER", "debug", "say", "set_verbosity", "warn"]
