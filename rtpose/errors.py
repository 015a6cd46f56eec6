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
