"""``rtpose cache``: what the weights cache and the engines folder hold, their sizes, and cleaning them.

Exports add up (every checkpoint × input size × precision is one ONNX file of 100–250 MB, engines
come on top), so the files are listed with their sizes, and ``clean`` removes them by kind.

Only what rtpose made is listed and removed (:func:`made_by_rtpose`): an export or engine whose sidecar
(``X.json``, :mod:`rtpose.export.sidecar`) names it, a detector export whose sidecar says so, the TensorRT
timing cache, a checkpoint of the weights registry, and the temporary names of rtpose's writers whose process
is gone. A user's ``my.onnx``, ``important.part`` or ``my_openvino_model/`` in those folders stays.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

HELP = "list the downloaded weights and exported ONNX/engine files with their sizes, or clean them"

#: rtpose's temporary names: ``.NAME.PID.RAND.part`` (writers, downloads, Triton stages) and the detector
#: export's ``.detector-export-PID-…`` folders (see :func:`rtpose.export.sidecar.owner_alive`).
_TEMPORARY = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.part$|^\.detector-export-\d+-")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "clean"), default="list",
                        help="list (the default) or clean")
    what = parser.add_argument_group("what to clean (with clean; default: --exports)")
    what.add_argument("--exports", action="store_true",
                      help="exported ONNX files, engines, sidecars, timing cache, the detector's OpenVINO exports "
                           "and what killed exports left behind (only files rtpose made)")
    what.add_argument("--weights", action="store_true", help="downloaded checkpoints (downloaded again on next use)")
    what.add_argument("--all", action="store_true", help="both")
    parser.add_argument("--dry-run", action="store_true", help="say what clean would remove, remove nothing")


def _folders() -> dict[str, Path]:
    from rtpose.settings import engines_dir, weights_dir

    return {"weights": weights_dir(), "exports": engines_dir()}


def _sidecar_names(artifact: Path) -> bool:
    """Whether ``artifact`` has a sidecar rtpose wrote for it: a JSON object that names the file, or a detector
    export's (format ``ultralytics-openvino``)."""
    from rtpose.export.detector import FORMAT
    from rtpose.export.sidecar import sidecar_path

    try:
        meta = json.loads(sidecar_path(artifact).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict):
        return False
    return meta.get("file") == artifact.name or (artifact.is_dir() and meta.get("format") == FORMAT)


def made_by_rtpose(path: Path, kind: str) -> bool:
    """Whether rtpose made ``path`` (a file or folder directly in the ``kind`` folder: "exports" or "weights")."""
    from rtpose.export.sidecar import TIMING_CACHE

    name = path.name
    if _TEMPORARY.match(name):
        return True
    if kind == "weights":
        from rtpose.weights.registry import find_entry

        entry = find_entry(name)
        return path.is_file() and entry is not None and entry.filename == name
    if name.endswith(".json"):  # a sidecar goes with its artefact; one left alone is rtpose's when it names it
        artifact = path.with_name(name[: -len(".json")])
        return path.is_file() and (artifact.exists() and made_by_rtpose(artifact, kind)
                                   or not artifact.exists() and _sidecar_names(artifact))
    if path.is_file() and name == TIMING_CACHE:
        return True
    return _sidecar_names(path)


def _files(kind: str, folder: Path) -> list[Path]:
    """What rtpose wrote in ``folder`` (:func:`made_by_rtpose`), except the temporary files and folders of writers
    that run now and the lock files (which go with the process that holds them)."""
    from rtpose.export.sidecar import LOCK_SUFFIX, owner_alive

    if not folder.is_dir():
        return []
    found = [p for p in sorted(folder.iterdir()) if not p.name.endswith(LOCK_SUFFIX) and made_by_rtpose(p, kind)]
    return [p for p in found if not (p.name.startswith(".") and owner_alive(p.name))]


def _size(path: Path) -> int:
    """Bytes of a file, or of every file in a folder."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    else:
        path.unlink()


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def main(args: argparse.Namespace) -> int:
    from rtpose.log import say, warn

    folders = _folders()
    if args.action == "list":
        for kind, folder in folders.items():
            files = _files(kind, folder)
            total = sum(_size(p) for p in files)
            print(f"{kind}: {folder} ({len(files)} files, {_mb(total)})")
            for path in files:
                print(f"  {_mb(_size(path)):>12}  {path.name}" + ("/" if path.is_dir() else ""))
        return 0
    kinds = ["exports", "weights"] if args.all else [k for k in ("exports", "weights") if getattr(args, k)]
    freed, removed = 0, 0
    for kind in kinds or ["exports"]:
        for path in _files(kind, folders[kind]):
            size = _size(path)
            if not args.dry_run:
                try:
                    _remove(path)
                except OSError as exc:
                    warn(f"could not remove {path} ({exc.strerror})")
                    continue
            freed += size
            removed += 1
    verb = "would remove" if args.dry_run else "removed"
    say(f"{verb} {removed} files, {_mb(freed)}")
    return 0
