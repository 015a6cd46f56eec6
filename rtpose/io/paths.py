"""Checks of where rtpose writes: made before anything slow starts, each failure one sentence.

Every output (videos, JSON, images, exported models, engines, evaluation results, the caches) goes
through :func:`output_file` or :func:`output_folder`, so a typo in ``--save``, an unwritable
``$RTPOSE_ENGINES`` or ``--out /proc/x`` is reported at once, not after a long export or evaluation.
"""

from __future__ import annotations

import os
import tempfile
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


def check_distinct(outputs: dict[str, str | os.PathLike | None],
                   inputs: dict[str, str | os.PathLike | None] | None = None) -> None:
    """Refuse, before anything starts, an output that is one of the ``inputs`` or another output.

    Keys are the option names the user typed (``"--save"``, ``"--ann"``), values their paths (None and
    ``"-"``, standard output, are skipped). Paths are compared resolved, symlinks and hard links included.
    """
    named = [(k, v) for k, v in outputs.items() if v is not None and str(v) != "-"]
    for key, path in named:
        for in_key, in_path in (inputs or {}).items():
            if in_path is not None and str(in_path) != "-" and same_file(path, in_path):
                raise OutputError(f"{key} {path} is the {in_key} file: writing it would destroy the input; "
                                  f"give {key} another name.")
    for i, (key, path) in enumerate(named):
        for other_key, other in named[i + 1:]:
            if same_file(path, other):
                raise OutputError(f"{key} and {other_key} both name {path}: one would overwrite the other; give "
                                  "each output its own file.")


def _can_create_files_in(folder: Path) -> bool:
    """Try it: ``os.access`` says yes for root on read-only mounts and for /proc."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rtpose-write-test-"):
            return True
    except OSError:
        return False


__all__ = ["check_distinct", "output_file", "output_folder", "same_file"]
