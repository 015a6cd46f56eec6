"""File names the file system can hold: one sentence for a name too long, before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

from rtpose.errors import OutputError


def _limit(folder: Path, key: str, default: int) -> int:
    """``os.pathconf`` of the nearest existing folder at or above ``folder`` (``default`` where it cannot say)."""
    for candidate in (folder, *folder.parents):
        try:
            if candidate.is_dir():
                return int(os.pathconf(candidate, key))
        except (OSError, ValueError):
            continue
    return default


def check_name_length(path: str | os.PathLike, what: str = "output") -> Path:
    """``path`` back when every part of its name fits the file system; :class:`~rtpose.errors.OutputError` (one
    sentence) for a file or folder name longer than the file system allows (``NAME_MAX``, usually 255 bytes) or
    a whole path longer than ``PATH_MAX``. ``what`` names the output in the sentence."""
    path = Path(path).expanduser()
    absolute = Path(os.path.abspath(path))
    name_max = _limit(absolute.parent, "PC_NAME_MAX", 255)
    for part in absolute.parts[1:]:
        size = len(os.fsencode(part))
        if size > name_max:
            shown = part if len(part) <= 40 else f"{part[:20]}…{part[-12:]}"
            raise OutputError(f"The {what} name {shown!r} is {size} bytes long, more than the {name_max} the file "
                              f"system allows for one name; give a shorter name.")
    path_max = _limit(absolute.parent, "PC_PATH_MAX", 4096)
    if len(os.fsencode(str(absolute))) >= path_max:
        raise OutputError(f"The {what} path {str(absolute)[:40]}… is longer than the {path_max} bytes the file "
                          "system allows; give a shorter path.")
    return path


__all__ = ["check_name_length"]
