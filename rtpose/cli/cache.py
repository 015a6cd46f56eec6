"""``rtpose cache``: what the weights cache and the engines folder hold, their sizes, and cleaning them.

Exports add up (every checkpoint × input size × precision is one ONNX file of 100–250 MB, engines
come on top), so the files are listed with their sizes, and ``clean`` removes them by kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "list the downloaded weights and exported ONNX/engine files with their sizes, or clean them"

#: File endings rtpose writes into the engines folder (other files there are left alone).
EXPORT_SUFFIXES = (".onnx", ".engine", ".plan", ".trt", ".json", ".cache", ".part")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "clean"), default="list",
                        help="list (the default) or clean")
    what = parser.add_argument_group("what to clean (with clean; default: --exports)")
    what.add_argument("--exports", action="store_true",
                      help="exported ONNX files, engines, sidecars, timing cache, the detector's OpenVINO exports "
                           "and what killed exports left behind")
    what.add_argument("--weights", action="store_true", help="downloaded checkpoints (downloaded again on next use)")
    what.add_argument("--all", action="store_true", help="both")
    parser.add_argument("--dry-run", action="store_true", help="say what clean would remove, remove nothing")


def _folders() -> dict[str, Path]:
    from rtpose.export.sidecar import default_engines_dir
    from rtpose.weights.registry import cache_dir

    return {"weights": cache_dir(), "exports": default_engines_dir()}


def _files(kind: str, folder: Path) -> list[Path]:
    """What rtpose wrote in ``folder``: files and, for exports, the detector's OpenVINO export folders and the
    leftovers of exports that were killed (temporary files and folders whose process is gone)."""
    from rtpose.export.detector import TEMP_PREFIX
    from rtpose.export.sidecar import LOCK_SUFFIX, owner_alive

    if not folder.is_dir():
        return []
    entries = sorted(folder.iterdir())
    if kind == "exports":
        found = [p for p in entries if p.is_file() and p.name.endswith(EXPORT_SUFFIXES)
                 and not p.name.endswith(LOCK_SUFFIX)]
        found += [p for p in entries if p.is_dir() and (p.name.endswith("_openvino_model")
                                                        or p.name.startswith(TEMP_PREFIX))]
    else:
        found = [p for p in entries if p.is_file() and (p.suffix in (".pth", ".pt") or p.name.endswith(".part"))]
    # A temporary file or folder of an export or download that is running now is not a leftover.
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
