"""Checks of where rtpose writes: made before anything slow starts, each failure one sentence.

Every output (videos, JSON, images, exported models, engines, evaluation results, the caches) goes
through :func:`output_file` or :func:`output_folder`, so a typo in ``--save``, an unwritable
``$RTPOSE_ENGINES`` or ``--out /proc/x`` is reported at once, not after a long export or evaluation.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rtpose.errors import RtposeError


def output_folder(path: str | os.PathLike, what: str = "folder") -> Path:
    """``path`` as a folder rtpose can write in (created when missing); one sentence when it cannot be."""
    path = Path(path).expanduser()
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
    path = Path(path).expanduser()
    if path.is_dir():
        raise RtposeError(f"The {what} {path} is a folder; give a file name inside it.")
    folder = path.parent
    if not folder.is_dir():
        raise RtposeError(f"Cannot write the {what} {path}: the folder {folder} does not exist.")
    if not _can_create_files_in(folder) or (path.exists() and not os.access(path, os.W_OK)):
        raise RtposeError(f"Cannot write the {what} {path} (no permission, or a read-only file system).")
    return path


def _can_create_files_in(folder: Path) -> bool:
    """Try it: ``os.access`` says yes for root on read-only mounts and for /proc."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rtpose-write-test-"):
            return True
    except OSError:
        return False


__all__ = ["output_file", "output_folder"]
