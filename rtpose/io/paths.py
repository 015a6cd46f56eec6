"""Checks of where rtpose writes: made before anything slow starts, each failure one sentence.

Every output (videos, JSON, images, exported models, engines, evaluation results, the caches) goes
through :func:`output_file` or :func:`output_folder`, so a typo in ``--save``, an unwritable
``$RTPOSE_ENGINES`` or ``--out /proc/x`` is reported at once, not after a long export or evaluation.
:func:`check_paths` compares everything a command reads with everything it writes, by the roles its options
declare (:mod:`rtpose.options.schema`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from rtpose.errors import OutputError, RtposeError
from rtpose.utils.names import check_name_length


def output_folder(path: str | os.PathLike, what: str = "folder") -> Path:
    """``path`` as a folder rtpose can write in (created when missing); one sentence when it cannot be."""
    path = check_name_length(path, what)
    if path.exists() and not path.is_dir():
        raise RtposeError(f"The {what} {path} is a file, not a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RtposeError(f"Cannot create the {what} {path} ({exc.strerror or exc}).") from None
    if not _can_create_files_in(path):
        raise RtposeError(f"Cannot write in the {what} {path} (no permission, or a read-only file system).")
    return path


def output_file(path: str | os.PathLike, what: str = "output") -> Path:
    """``path`` as a file rtpose can create or replace; its folder must exist already."""
    path = check_name_length(path, what)
    if path.is_dir():
        raise RtposeError(f"The {what} {path} is a folder; give a file name inside it.")
    folder = path.parent
    if not folder.is_dir():
        raise RtposeError(f"Cannot write the {what} {path}: the folder {folder} does not exist.")
    if not _can_create_files_in(folder) or (path.exists() and not os.access(path, os.W_OK)):
        raise RtposeError(f"Cannot write the {what} {path} (no permission, or a read-only file system).")
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same resolved path (symlinks followed), or the same inode (hard links)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


# ------------------------------------------------------------------------------- what a command reads and writes
@dataclass(frozen=True)
class PathUse:
    """One path a command was given: its flag, its role (:data:`rtpose.options.schema.ROLES`) and the value.

    ``writes``: for an output folder, globs of the names written there (an input with such a name in it would be
    overwritten).
    """

    flag: str
    role: str
    value: str | os.PathLike
    writes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Place:
    flag: str
    shown: str  # what the user typed
    real: str  # resolved: symlinks and ``..`` followed
    ident: tuple[int, int] | None  # (st_dev, st_ino) of what exists there: hard links are one file
    folder: bool
    member: str | None = None  # a file found in a source folder or named by a sources list: its own name

    def same(self, other: _Place) -> bool:
        return (self.ident is not None and self.ident == other.ident) or self.real == other.real


def _place(flag: str, path: str | os.PathLike, member: str | None = None) -> _Place:
    shown = os.fspath(path)
    full = Path(shown).expanduser()
    try:
        info = full.stat()
        ident, folder = (info.st_dev, info.st_ino), full.is_dir()
    except OSError:
        ident, folder = None, shown.endswith(("/", os.sep))
    return _Place(flag, shown, os.path.realpath(full), ident, folder, member)


def _is_location(value) -> bool:
    """Whether a path option's value names a place on disk (not ``-``, a URL, a camera index, a word)."""
    text = os.fspath(value)
    return bool(text) and text != "-" and "://" not in text and not text.isdigit()


def read_source_list(path: str | os.PathLike, flag: str = "--sources") -> list[str]:
    """The sources a ``--sources`` file names: one a line; ``#`` at a line's start or after a space starts a comment
    (a URL may hold ``#`` itself)."""
    import re

    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RtposeError(f"{flag} {path}: cannot read it ({getattr(exc, 'strerror', None) or exc}).") from None
    found = [re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip() for line in lines]
    return [f for f in found if f]


def _inputs(use: PathUse) -> list[_Place]:
    """What an input option reads: the file, or the folder and its files, or a sources list and its entries."""
    from rtpose.options.schema import SOURCE_LIST

    if not _is_location(use.value):
        return []
    top = _place(use.flag, use.value)
    if top.ident is None:
        return []  # a registry name, "gt", "blur": nothing on disk is read
    places = [top]
    if top.folder:
        with contextlib.suppress(OSError):
            places += [_place(use.flag, p, member=p.name) for p in sorted(Path(top.real).iterdir()) if p.is_file()]
    elif use.role == SOURCE_LIST:
        for entry in read_source_list(use.value, use.flag):  # relative entries are opened from here, as typed
            if _is_location(entry):
                entry_use = PathUse(use.flag, "source", entry)
                places += [replace(p, member=p.member or Path(entry).name) for p in _inputs(entry_use)]
    return places


def check_paths(uses: Iterable[PathUse]) -> None:
    """Refuse, before anything loads, an output that is an input, writes into an input folder or is written twice.

    Every input is resolved (symlinks, ``..``, hard links by device and inode; a folder with its files, a sources
    list with its entries); each output is compared with them and with the other outputs. Raises
    :class:`~rtpose.errors.OutputError`: one sentence naming both options.
    """
    from rtpose.options.schema import INPUT_ROLES, OUTPUT_FOLDER, OUTPUT_ROLES

    uses = list(uses)
    inputs = [p for use in uses if use.role in INPUT_ROLES for p in _inputs(use)]
    inputs.sort(key=lambda p: p.member is not None)  # an option's own file is named before a folder's member
    outputs = [(use, _place(use.flag, use.value)) for use in uses if use.role in OUTPUT_ROLES
               and _is_location(use.value)]
    for use, out in outputs:
        as_folder = use.role == OUTPUT_FOLDER or out.folder
        for inp in inputs:
            what = f"{inp.flag} {'folder' if inp.folder else 'file'}"
            if inp.member is not None:
                what = f"file {inp.member} that {inp.flag} reads"
            if out.same(inp):
                raise OutputError(f"{use.flag} {out.shown} is the {what}: writing it would destroy the input; give "
                                  f"{use.flag} another {'folder' if as_folder else 'name'}.")
            if as_folder and not inp.folder and os.path.dirname(inp.real) == out.real and any(
                    fnmatch.fnmatch(Path(inp.real).name, pattern) for pattern in use.writes):
                raise OutputError(f"{use.flag} {out.shown} would write over {Path(inp.real).name}, the "
                                  f"{inp.flag} file in it; give {use.flag} another folder.")
    for i, (use, out) in enumerate(outputs):
        for other_use, other in outputs[i + 1:]:
            if out.same(other):
                raise OutputError(f"{use.flag} and {other_use.flag} both name {out.shown}: one would overwrite the "
                                  "other; give each output its own file.")


def check_distinct(outputs: dict[str, str | os.PathLike | None],
                   inputs: dict[str, str | os.PathLike | None] | None = None) -> None:
    """:func:`check_paths` for outputs and inputs given by flag: ``{"--out": path}``, ``{"--ann": path}``."""
    from rtpose.options.schema import INPUT_FILE, OUTPUT_FILE

    check_paths([PathUse(k, OUTPUT_FILE, v) for k, v in outputs.items() if v is not None]
                + [PathUse(k, INPUT_FILE, v) for k, v in (inputs or {}).items() if v is not None])


def writable_folder(folder: str | os.PathLike) -> bool:
    """Whether files can be created in ``folder`` (tried, as root's ``os.access`` says yes on read-only mounts)."""
    return Path(folder).is_dir() and _can_create_files_in(Path(folder))


def _can_create_files_in(folder: Path) -> bool:
    """Try it: ``os.access`` says yes for root on read-only mounts and for /proc."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rtpose-write-test-"):
            return True
    except OSError:
        return False


__all__ = ["PathUse", "check_distinct", "check_paths", "output_file", "output_folder", "read_source_list", "same_file",
           "writable_folder"]
