"""What an option is: :class:`Option`, one record per option, and :func:`check`, the one validation.

A record says an option's type, default, choices or bounds, help, command-line flag(s) and, for a path,
its role (what the command does with it: :data:`INPUT_FILE`, :data:`OUTPUT_FOLDER`, …). From the records
come :class:`rtpose.PoseModel`'s keyword arguments and their checks, the commands' argparse arguments
(:func:`rtpose.options.cli.add_options`), the viewer's controls and the check of where a command reads and
writes (:func:`rtpose.io.paths.check_paths`). A bad value gets one verdict, :class:`rtpose.errors.OptionError`,
worded with the Python parameter (``conf=1.5``) or, on the command line, with the flag (``--conf 1.5``).

This module imports nothing heavy: choices that need a library (the backends) are callables read on use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rtpose.errors import OptionError

# What a command does with a path option (``Option.role``).
INPUT_FILE = "input file"
INPUT_FOLDER = "input folder"
OUTPUT_FILE = "output file"
OUTPUT_FOLDER = "output folder"
#: A frame source (``--source``, ``--camera``): a file, a folder of images, a URL or a camera index.
SOURCE = "source"
#: A text file naming sources, one a line (``--sources``): the file and every entry are read.
SOURCE_LIST = "source list"
ROLES = (INPUT_FILE, INPUT_FOLDER, OUTPUT_FILE, OUTPUT_FOLDER, SOURCE, SOURCE_LIST)
INPUT_ROLES = (INPUT_FILE, INPUT_FOLDER, SOURCE, SOURCE_LIST)
OUTPUT_ROLES = (OUTPUT_FILE, OUTPUT_FOLDER)

#: Kinds of value (``Option.kind``).
KINDS = ("bool", "int", "float", "str", "path", "size", "device", "classes")

#: Largest model input side accepted: the official models use at most 384x288; 1024 leaves room for
#: experiments without letting a typo (4096x4096) build a model that runs for minutes per frame.
MAX_INPUT_SIDE = 1024


@dataclass(frozen=True)
class Option:
    """One option, everywhere it appears.

    Attributes:
        name: the Python parameter and the argparse ``dest`` (``"input_size"``).
        kind: one of :data:`KINDS`; ``path`` options have a ``role``.
        default: the value when not given (None: not set).
        help: the command line's help text (without the default, which is added).
        flags: command-line flags; () gives ``--name-with-dashes``.
        choices: allowed values, or a callable giving them (read when needed).
        low, high: bounds of a number (inclusive); ``above``: ``low`` is excluded.
        role: for a path, what the command does with it (:data:`ROLES`).
        writes: for an output folder, the names it writes (globs): an input there with such a name would be
            overwritten.
        metavar: the value's name in ``--help``.
        negatable: a bool with ``--no-`` form (``--track/--no-track``); else a bool is a plain switch.
        scope: where it belongs: ``model`` (:class:`ModelOptions`, ``PoseModel(...)``), ``stream``
            (:class:`StreamOptions`, ``model.stream(...)``), or the command-line group that shows it.
        group: the title of the ``--help`` group the command line shows it in ("" for none).
        extra: argparse's ``action`` (``{"action": "append"}``), the words of a range (``range_words``).
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    flags: tuple[str, ...] = ()
    choices: tuple | Callable[[], Sequence] | None = None
    low: float | None = None
    high: float | None = None
    above: bool = False
    role: str | None = None
    writes: tuple[str, ...] = ()
    metavar: str | None = None
    negatable: bool = False
    scope: str = ""
    group: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Option {self.name}: unknown kind {self.kind!r}")
        if (self.kind == "path") != (self.role is not None) or (self.role is not None and self.role not in ROLES):
            raise ValueError(f"Option {self.name}: a path option needs a role of {ROLES}, and only a path has one")

    @property
    def flag(self) -> str:
        """The command line's name of the option (its first flag)."""
        return self.flags[0] if self.flags else "--" + self.name.replace("_", "-")

    def allowed(self) -> tuple:
        """The choices, read now (() when any value of the kind goes)."""
        if self.choices is None:
            return ()
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def check(self, value):
        """``value`` as this option's type, or :class:`OptionError` naming the parameter."""
        return check(self, value)


# ---------------------------------------------------------------------------------------------------- checks
def check(option: Option, value):
    """The one validation of an option's value (the library's and the command line's).

    Returns the value normalised (``"256x192"`` and ``[256, 192]`` → ``(256, 192)``, ``"CPU"`` → ``"cpu"``, a
    number given as text → the number). Raises :class:`OptionError` with ``parameter=option.name``.
    """
    if value is None:
        if option.default is None:
            return None
        raise OptionError(option.name, "must be set (None is not a value of it)", value)
    converted = _CONVERT[option.kind](option, value)
    _check_bounds(option, converted, value)
    allowed = option.allowed()
    if allowed and converted not in allowed:
        raise OptionError(option.name, "choose one of " + ", ".join(map(str, allowed)), value, choice=True)
    return converted


def _fail(option: Option, problem: str, value):
    raise OptionError(option.name, problem, value)


def _bool(option: Option, value):
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    _fail(option, "expected True or False", value)


def _number(option: Option, value, kind: type):
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) and not hasattr(value, "__index__") \
            and not hasattr(value, "__float__"):
        _fail(option, f"expected {what}", value)
    try:
        number = kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        _fail(option, f"expected {what}", value)
    if kind is int and not isinstance(value, str) and float(value) != number:
        _fail(option, f"expected {what}", value)
    if kind is float and not math.isfinite(number):
        _fail(option, f"expected {what}", value)
    return number


def _check_bounds(option: Option, number, value) -> None:
    if option.kind not in ("int", "float") or (option.low is None and option.high is None):
        return
    low, high = option.low, option.high
    if low is not None and high is not None:
        if not low <= number <= high:
            _fail(option, option.extra.get("range_words", f"must be between {low:g} and {high:g}"), value)
    elif option.above and not number > low:
        _fail(option, f"must be more than {low:g}", value)
    elif low is not None and number < low:
        _fail(option, "must be 0 or more" if low == 0 else f"must be at least {low:g}", value)
    elif high is not None and number > high:
        _fail(option, f"must be at most {high:g}", value)


def _str(option: Option, value):
    if isinstance(value, str) and value.strip():
        return value
    _fail(option, "expected text" if not isinstance(value, str) else "must not be empty", value)


def _path(option: Option, value):
    if isinstance(value, (str, os.PathLike)) and str(os.fspath(value)).strip():
        return os.fspath(value) if not isinstance(value, str) else value
    _fail(option, "takes a file path or a registry name" if option.role == INPUT_FILE else "takes a path", value)


def _size(option: Option, value):
    """(H, W) from ``"256x192"`` or a pair: positive multiples of 32 (HRNet halves the resolution five times)."""
    try:
        parts = value.lower().split("x") if isinstance(value, str) else list(value)
        if len(parts) != 2 or any(isinstance(v, (bool, float)) for v in parts):
            raise ValueError
        h, w = (int(v) for v in parts)
    except (TypeError, ValueError, AttributeError):
        _fail(option, "expected HEIGHTxWIDTH such as 256x192 (in Python: a pair such as (256, 192))", value)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        _fail(option, "height and width must be positive multiples of 32 such as 256x192", value)
    if max(h, w) > MAX_INPUT_SIDE:
        _fail(option, f"is too large (at most {MAX_INPUT_SIDE} per side; the official models use 256x192 and "
                      "384x288)", value)
    return (h, w)


def _device(option: Option, value):
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("auto", "cpu", "cuda") or (text and text.startswith("cuda:") and text[5:].isdigit()):
        return text
    _fail(option, "expected auto, cpu, cuda or cuda:N", value)


def _classes(option: Option, value):
    """Detector classes: ids or names, as a list or comma-separated text."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        _fail(option, "expected class ids or names (a list, or comma-separated text)", value)
    found = []
    for item in items:
        if isinstance(item, str) and item.strip():
            found.append(int(item) if item.strip().isdigit() else item.strip())
        elif isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            found.append(int(item))
        elif not (isinstance(item, str) and not item.strip()):
            _fail(option, "expected class ids or names (a list, or comma-separated text)", value)
    if not found:
        _fail(option, "names no class", value)
    return found


_CONVERT = {
    "bool": _bool, "int": lambda o, v: _number(o, v, int), "float": lambda o, v: _number(o, v, float),
    "str": _str, "path": _path, "size": _size, "device": _device, "classes": _classes,
}


def check_all(options: Sequence[Option], values: dict) -> dict:
    """Every value of ``values`` checked by its option (names without an option are refused)."""
    by_name = {o.name: o for o in options}
    unknown = [k for k in values if k not in by_name]
    if unknown:
        raise OptionError(unknown[0], "is not an option (known: " + ", ".join(by_name) + ")")
    return {name: check(by_name[name], value) for name, value in values.items()}


__all__ = [
    "INPUT_FILE", "INPUT_FOLDER", "INPUT_ROLES", "KINDS", "MAX_INPUT_SIDE", "OUTPUT_FILE", "OUTPUT_FOLDER",
    "OUTPUT_ROLES", "ROLES", "SOURCE", "SOURCE_LIST", "Option", "check", "check_all",
]
