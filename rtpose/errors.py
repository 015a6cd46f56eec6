"""Every error rtpose raises on purpose, in one module: each carries one clear sentence and the parameter it is about.

A user-facing error is an :class:`RtposeError` (or a subclass naming the area). Its text is one sentence
that names the Python parameter as the library user typed it (``input_size=(2048, 2048)``); its
:attr:`~RtposeError.parameter` is that parameter's name (or None when no single parameter is at fault).
An application that shows its own names for the parameters (the command line's flags) renders the
sentence with :meth:`RtposeError.render`: ``exc.render("--input-size")``.
"""

from __future__ import annotations

import functools
import re

#: A sentence that starts by quoting a parameter (``conf='x' is …``, ``source= takes …``) is about that parameter.
_LEADING_PARAMETER = re.compile(r"^([a-z_][a-z0-9_]*)=")


class RtposeError(Exception):
    """An error caused by the user's input or machine, explained in one sentence (no traceback).

    Args:
        message: the sentence (URLs and ``user:password@host`` in it are redacted: :func:`rtpose.utils.redact.redact`).
        parameter: the Python parameter (keyword argument) the error is about, or None; when not given, the
            parameter a sentence starts with (``"conf='x' is not a number"`` → ``"conf"``).
    """

    exit_code = 1

    def __init__(self, message: str = "", *args: object, parameter: str | None = None) -> None:
        from rtpose.utils.redact import redact  # a URL's password or token is never part of an error's text

        message = redact(message)
        super().__init__(message, *args)
        if parameter is None:
            match = _LEADING_PARAMETER.match(str(message))
            parameter = match.group(1) if match else None
        #: The Python parameter the error is about (``"input_size"``), or None.
        self.parameter: str | None = parameter

    def render(self, name: str | None = None) -> str:
        """The sentence with the parameter shown as ``name`` (a flag such as ``--input-size``).

        ``parameter=value`` becomes ``name value`` (a tuple ``(256, 192)`` is written ``256x192``, as sizes are
        typed on a command line); ``parameter=`` alone becomes ``name``. Without ``name`` or a parameter the
        sentence comes back as it is.
        """
        return render_parameter(str(self), self.parameter, name)


@functools.lru_cache(maxsize=256)
def _parameter_pattern(parameter: str) -> re.Pattern:
    return re.compile(
        rf"(?<![\w-]){re.escape(parameter)}=('[^']*'|\"[^\"]*\"|\([^)]*\)|\[[^\]]*\]|[\w.:/-]+)?")


def render_parameter(text: str, parameter: str | None, name: str | None) -> str:
    """``text`` with each ``parameter=value`` written ``name value`` (see :meth:`RtposeError.render`)."""
    if not parameter or not name or f"{parameter}=" not in text:
        return text
    pattern = _parameter_pattern(parameter)

    def show(match: re.Match) -> str:
        value = match.group(1)
        if not value or value == "True":
            return name
        value = value.strip("'\"")
        if value.startswith("("):
            value = "x".join(v.strip() for v in value.strip("()").split(",") if v.strip())
        return f"{name} {value}"

    return pattern.sub(show, text)


class SourceError(RtposeError):
    """A video/image source that cannot be opened or read."""


class WeightsError(RtposeError):
    """Missing, corrupt or mismatched model weights."""


class DownloadError(WeightsError):
    """A download that failed; ``reason`` says why in a few words (for sentences that add advice)."""

    def __init__(self, sentence: str, reason: str, *, parameter: str | None = None) -> None:
        super().__init__(sentence, parameter=parameter)
        self.reason = reason


class EngineError(RtposeError):
    """A TensorRT engine or backend that cannot be used on this machine."""


class DisplayError(RtposeError):
    """A window was asked for but no display is available."""


class OutputError(RtposeError):
    """An output that could not be written (full disk, file size limit, I/O error), or that clashes with another."""


class InputError(RtposeError, ValueError):
    """An argument that cannot be what the parameter needs (one sentence naming the parameter)."""


class KeypointSetError(RtposeError):
    """An unknown keypoint set name, or a keypoint count that no set (or several sets) fits."""


class SegClassesError(RtposeError):
    """An unknown class set, or one that does not fit a model's class count."""


class DatasetError(RtposeError):
    """An annotation, result or image file that cannot be used (evaluation or training)."""


class ConfigError(RtposeError):
    """A training configuration file or override that cannot be used."""


class CheckpointError(RtposeError):
    """A training checkpoint that cannot be resumed from."""


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


# ---------------------------------------------------------------------------------------------------------------
# Option errors (the options schema, rtpose.options): one verdict, worded for Python or for the command line.

#: ``OptionError.value`` when the sentence is about the parameter, not one value of it.
NO_VALUE = object()


class OptionError(RtposeError):
    """A bad option value, in one sentence that names the option.

    Attributes:
        parameter: the Python parameter (``"input_size"``); the command line shows its flag instead.
        value: the value given (or :data:`NO_VALUE`).
        problem: what is wrong, without the option's name (``"must be between 0 and 1"``).
        template: for a sentence about several options, ``str.format`` text whose fields are parameters,
            optionally with a value: ``"{seg_weights} needs {seg=person} or {seg=parts}."``.
    """

    def __init__(self, parameter: str, problem: str = "", value=NO_VALUE, template: str | None = None,
                 choice: bool = False) -> None:
        self.parameter, self.problem, self.value, self.template = parameter, problem, value, template
        self.choice = choice  # the value is not one of the option's choices (``problem``: "choose one of …")
        super().__init__(self.render_with(python_words), parameter=parameter)

    def render_with(self, words) -> str:
        """The sentence, each option named by ``words(parameter, value_or_NO_VALUE)``."""
        if self.template is not None:
            return self.template.format_map(_Fields(words))
        if self.choice:
            return f"Unknown {words(self.parameter, self.value)}; {self.problem}."
        return f"{words(self.parameter, self.value)}: {self.problem}."


def short_repr(value, limit: int = 60) -> str:
    """``repr`` of a value, short: a large object is its type (and shape and dtype), never its contents."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "dtype", None) is not None:
        return f"<{type(value).__name__} of shape {tuple(shape)}, {value.dtype}>"
    if isinstance(value, (list, tuple, dict, set)) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value)
    return text if len(text) <= limit else f"<{type(value).__name__}: {text[: limit - 20]}…>"


def python_words(parameter: str, value=NO_VALUE) -> str:
    """An option as a Python caller wrote it: ``conf=1.5``, or ``conf=`` for the parameter itself."""
    return f"{parameter}=" if value is NO_VALUE else f"{parameter}={short_repr(value)}"


class _Fields(dict):
    def __init__(self, words) -> None:
        super().__init__()
        self.words = words

    def __missing__(self, key: str) -> str:
        name, _, value = key.partition("=")
        return self.words(name, value if value else NO_VALUE)


__all__ = ["CheckpointError", "ConfigError", "DatasetError", "DisplayError", "DownloadError", "EngineError",
           "InputError", "KeypointSetError", "OutputError", "RtposeError", "SegClassesError", "SourceError",
           "WeightsError", "NO_VALUE", "OptionError", "exception_gist", "oserror_cause", "python_words",
           "render_parameter", "short_repr"]
