"""User-facing errors: each carries one clear sentence that the CLI prints before exiting non-zero."""

from __future__ import annotations


class RtposeError(Exception):
    """An error caused by the user's input or machine, explained in one sentence (no traceback)."""

    exit_code = 1


class SourceError(RtposeError):
    """A video/image source that cannot be opened or read."""


class WeightsError(RtposeError):
    """Missing, corrupt or mismatched model weights."""


class EngineError(RtposeError):
    """A TensorRT engine or backend that cannot be used on this machine."""


class DisplayError(RtposeError):
    """A window was asked for but no display is available."""


class OutputError(RtposeError):
    """An output that could not be written (full disk, file size limit, I/O error), or that clashes with another."""


def oserror_cause(exc: OSError) -> str:
    """Why a write failed, in a few words: a full disk is called a full disk (``ENOSPC``, ``EFBIG``, ``EDQUOT``)."""
    import errno

    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        return f"the disk is full ({reason})"
    if exc.errno == errno.EFBIG:
        return f"the file size limit was reached ({reason})"
    if exc.errno == getattr(errno, "EDQUOT", -1):
        return f"the disk quota is used up ({reason})"
    return reason


def exception_gist(exc: BaseException, limit: int = 160) -> str:
    """A library exception in a few words, for inside one of our sentences.

    Its first line, without emoji decorations or a final period; ``limit`` characters at most, cut at a
    word with "…"; the exception's type is added when the message alone says nothing (``KeyError: 101``).
    Our own errors are already one sentence: they are kept whole (only the final period goes).
    """
    if isinstance(exc, RtposeError):
        return str(exc).strip().rstrip(".")
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    text = text.replace("ERROR ❌️", "").replace("❌️", "").replace("❌", "").strip().rstrip(".")
    if len(text) < 12 or not any(c.isalpha() for c in text):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + " …"
    return text
