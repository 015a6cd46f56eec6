"""argparse arguments made from the options schema (:mod:`rtpose.options`), and the groups the commands share.

Every option a command takes is an :class:`~rtpose.options.schema.Option` record; :func:`add_option` turns one
into an argparse argument whose value is checked by the schema's :func:`~rtpose.options.schema.check` (the
check ``PoseModel`` runs), so the command line and the library give one verdict. Each action keeps its record
(``action.option``): :func:`path_options` reads the roles of a command's paths from them, for
:func:`rtpose.io.paths.check_paths`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from rtpose.errors import OptionError
from rtpose.options.schema import MAX_INPUT_SIDE, Option, check
from rtpose.options.table import MODEL, SEG_GROUP, STREAM, option

#: The ``dest`` under which a parser keeps the records of its path options (see :func:`path_options`).
PATHS_DEST = "_path_options"


def argparse_type(record: Option):
    """An argparse ``type=`` that checks with the schema: ``argument --conf: must be between 0 and 1, got 5``."""

    def convert(text: str):
        try:
            return check(record, text)
        except OptionError as exc:
            if exc.choice:
                raise argparse.ArgumentTypeError(f"invalid choice: {text!r} ({exc.problem})") from None
            raise argparse.ArgumentTypeError(f"{exc.problem}, got {text}") from None

    convert.__name__ = record.kind
    return convert


def _help(record: Option) -> str:
    text = record.help.replace("{choices}", ", ".join(map(str, record.allowed())))
    if record.default not in (None, False, True) and "default:" not in text:
        shown = "x".join(map(str, record.default)) if isinstance(record.default, tuple) else f"{record.default:g}" \
            if isinstance(record.default, float) else record.default
        text += f" (default: {shown})"
    elif record.default is True and "default:" not in text:
        text += " (default: on)"
    return text


def add_option(container, record: Option, *flags: str, **overrides) -> argparse.Action:
    """``record`` as an argument of ``container`` (a parser or group); ``overrides`` go to ``add_argument``."""
    kwargs: dict = {"dest": record.name, "help": _help(record)}
    if record.kind == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction if record.negatable else "store_true"
        if record.negatable:
            kwargs["default"] = record.default
    else:
        kwargs.update(type=argparse_type(record), default=record.default)
        allowed = record.allowed()
        if record.metavar:
            kwargs["metavar"] = record.metavar
        elif allowed:
            kwargs["metavar"] = "{" + ",".join(map(str, allowed)) + "}"
        if "action" in record.extra:
            kwargs["action"] = record.extra["action"]
        if "type" in record.extra:  # a check of its own on top of the kind's (an MQTT URL)
            kwargs["type"] = record.extra["type"]
    kwargs.update(overrides)
    flags = flags or record.flags or (record.flag,)
    if not flags[0].startswith("-"):  # a positional argument is named by its dest
        kwargs.pop("dest")
    action = container.add_argument(*flags, **kwargs)
    action.option = record
    if record.role is not None:
        known = container.get_default(PATHS_DEST) or ()
        container.set_defaults(**{PATHS_DEST: (*known, record)})
    return action


def add_options(container, records: Iterable[Option]) -> None:
    """Every record of ``records`` as an argument of ``container``."""
    for record in records:
        add_option(container, record)


def declare_roles(parser: argparse.ArgumentParser, writes: dict[str, tuple[str, ...]] | None = None,
                  **roles: str) -> None:
    """Give arguments added without a record (``add_argument``) their path role (``repo=OUTPUT_FOLDER``).

    Each named ``dest`` gets a ``path`` record with that role and the argument's own flag and help;
    ``writes``: an output folder's ``dest`` → the names written there (see ``Option.writes``).
    """
    actions = {a.dest: a for a in parser._actions}
    for dest, role in roles.items():
        action = actions[dest]
        record = Option(dest, "path", role=role, flags=tuple(action.option_strings), help=action.help or "",
                        writes=(writes or {}).get(dest, ()))
        action.option = record
        known = parser.get_default(PATHS_DEST) or ()
        parser.set_defaults(**{PATHS_DEST: (*known, record)})


def declare_text(parser: argparse.ArgumentParser, *dests: str) -> None:
    """Declare arguments added without a record that take free text which is not a path (``--boxes X1,Y1,…``)."""
    actions = {a.dest: a for a in parser._actions}
    for dest in dests:
        action = actions[dest]
        action.option = Option(dest, "str", flags=tuple(action.option_strings), help=action.help or "")


def path_options(args: argparse.Namespace) -> tuple[Option, ...]:
    """The path records of the command that parsed ``args``."""
    return tuple(getattr(args, PATHS_DEST, None) or ())


def check_command_paths(args: argparse.Namespace, **resolved) -> None:
    """:func:`rtpose.io.paths.check_paths` on the paths of parsed ``args`` (``resolved``: values to use instead)."""
    from rtpose.io.paths import PathUse, check_paths

    uses = []
    for record in path_options(args):
        value = resolved.get(record.name, getattr(args, record.name, None))
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                uses.append(PathUse(record.flag, record.role, item, record.writes))
    check_paths(uses)


# --------------------------------------------------------------------------------------- shared option groups
def add_group(parser: argparse.ArgumentParser, title: str, records: Iterable[Option], skip=()) -> None:
    """The records whose ``group`` is ``title``, in an argument group of that title ("": on the parser)."""
    chosen = [r for r in records if r.group == title and r.name not in skip]
    if chosen:
        add_options(parser.add_argument_group(title) if title else parser, chosen)


def add_model_args(parser: argparse.ArgumentParser, detector: bool = True, precision: bool = True) -> None:
    """The ``MODEL`` records: ``--weights --backend --device --input-size --flip --keypoints`` (``--precision``,
    the detector's options) and the segmentation group."""
    skip = set() if precision else {"precision"}
    if not detector:
        skip |= {"classes", "detector", "trust_detector", "conf", "max_people"}
    add_group(parser, "model", MODEL, skip)
    add_group(parser, SEG_GROUP, MODEL, skip)


def add_tracking_args(parser: argparse.ArgumentParser) -> None:
    """The ``STREAM`` records of no group (``--det-every``) and of the tracking group (``--track``, ``--smooth``,
    ``--track-buffer``): those ``rtpose run`` and ``rtpose gui`` share."""
    add_group(parser, "", STREAM)
    add_group(parser, "tracking", STREAM)


def stream_records(*names: str) -> tuple[Option, ...]:
    """The ``STREAM`` records of ``names``."""
    return tuple(r for r in STREAM if r.name in names)


def parse_size(text: str) -> tuple[int, int]:
    """``"256x192"`` → (256, 192) as (H, W), checked as ``input_size`` is (multiples of 32, at most
    :data:`~rtpose.options.schema.MAX_INPUT_SIDE` a side)."""
    return argparse_type(option("input_size"))(text)


def _number_type(name: str, kind: str, **bounds):
    return argparse_type(Option(name, kind, 0, **bounds))


#: argparse types of a command's own numbers (the schema's checks, the schema's words).
fraction = _number_type("value", "float", low=0.0, high=1.0)
positive_int = _number_type("value", "int", low=1)
non_negative_int = _number_type("value", "int", low=0)
positive_float = _number_type("value", "float", low=0.0, above=True)
non_negative_float = _number_type("value", "float", low=0.0)
device_name = argparse_type(option("device"))


def build_estimator(args: argparse.Namespace, with_detector: bool = True):
    """The estimator of parsed :func:`add_model_args` options (see :func:`rtpose.pose.factory.build_estimator`)."""
    from rtpose.options import ModelOptions
    from rtpose.pose.factory import build_estimator

    return build_estimator(ModelOptions.from_args(args, with_detector=with_detector))


__all__ = [
    "MAX_INPUT_SIDE", "add_group", "add_model_args", "add_option", "add_options", "add_tracking_args", "argparse_type",
    "build_estimator", "check_command_paths", "declare_roles", "declare_text", "device_name", "fraction",
    "non_negative_float", "non_negative_int", "parse_size", "path_options", "positive_float", "positive_int",
    "stream_records",
]
