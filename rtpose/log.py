"""rtpose's messages: one logger, ``logging.getLogger("rtpose")``.

Library code calls :func:`say` (progress, choices made), :func:`warn` and :func:`debug`; their text goes through
:func:`rtpose.utils.redact.redact` first, so no handler ever sees a URL's password or token. As a library,
rtpose only puts a :class:`logging.NullHandler` on its logger: a program that embeds it sees nothing
unless it configures logging. The command line and the viewer call :func:`attach_stderr`, which prints
messages as ``rtpose: …`` on stderr (URLs and ``user:password@host`` with their secrets hidden by
:func:`rtpose.utils.redact.redact`), and map ``--quiet`` / ``--verbose`` to levels with
:func:`set_verbosity`.
"""

from __future__ import annotations

import logging
import sys

from rtpose.utils.redact import redact

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
        text = record.getMessage()
        translate = getattr(HANDLER, "translate", None)
        return f"rtpose: {kind}{redact(translate(text) if translate else text)}"


LOGGER.addHandler(logging.NullHandler())

#: The handler the applications attach (messages go to stderr as "rtpose: …").
HANDLER = _StderrHandler()
HANDLER.setFormatter(_Format())


def attach_stderr(translate=None) -> logging.Handler:
    """Print rtpose's messages on stderr as ``rtpose: …`` (what the command line and the viewer do).

    ``translate``: a function applied to each message's text (the command line turns Python parameter
    names into its flags). The logger stops propagating to the root logger, so nothing prints twice.
    """
    HANDLER.translate = translate
    if HANDLER not in LOGGER.handlers:
        LOGGER.addHandler(HANDLER)
    if LOGGER.level == logging.NOTSET:
        LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    return HANDLER


def say(message: str) -> None:
    """Progress and choices a user should see (hidden by ``--quiet``)."""
    LOGGER.info(redact(message))


def warn(message: str) -> None:
    """Something the user should know about that does not stop the run (shown with ``--quiet`` too)."""
    LOGGER.warning(redact(message))


def debug(message: str) -> None:
    """Details for ``--verbose``."""
    LOGGER.debug(redact(message))


def set_verbosity(quiet: bool = False, verbose: bool = False) -> None:
    """``--quiet``: warnings and errors only; ``--verbose``: debug details too; else progress messages."""
    LOGGER.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


__all__ = ["HANDLER", "LOGGER", "attach_stderr", "debug", "say", "set_verbosity", "warn"]
