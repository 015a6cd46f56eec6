"""Ultralytics' own OpenVINO export of the YOLO person detector, cached in the engines folder.

The export is made once by ``YOLO(...).export(format="openvino", dynamic=True)`` (Ultralytics' exporter;
dynamic input so that Ultralytics keeps its rectangular letterbox, e.g. 640x480 for a 4:3 frame, as
the PyTorch model does) and kept next to the HRNet ONNX files: ``<stem>_<sha256[:12]>_openvino_model/``
in :func:`rtpose.export.sidecar.default_engines_dir`, with a JSON sidecar beside it recording the
detector file's sha256, the Ultralytics and OpenVINO versions and the measurement below.

Right after exporting, both models detect on the same synthetic frame and the faster one is recorded
(``faster``); :class:`rtpose.pose.detector.PersonDetector` uses the export only when it measured faster.
Nothing is downloaded: Ultralytics only checks that ``openvino`` is installed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.engine.signals import stop_signals_raise
from rtpose.export.sidecar import artifact_lock, atomic_write_bytes, search_dirs
from rtpose.log import say

#: Sidecar ``format`` of a detector export.
FORMAT = "ultralytics-openvino"
#: Name start of the temporary folder an export is made in (then ``PID-``), inside the engines folder.
TEMP_PREFIX = ".detector-export-"
#: Timed detections per model when deciding whether the export is faster (the best one counts).
TIMED_RUNS = 3


def export_folder(weights: str | os.PathLike, sha256: str, engines: str | os.PathLike) -> Path:
    """Where the export of ``weights`` (file hash ``sha256``) lives: an Ultralytics ``*_openvino_model`` folder."""
    return Path(engines) / f"{Path(weights).stem}_{sha256[:12]}_openvino_model"


def sidecar_of(folder: Path) -> Path:
    return folder.with_name(folder.name + ".json")


def read_export(weights: str | os.PathLike, sha256: str, imgsz: int, engines: str | os.PathLike) -> dict | None:
    """The sidecar of a usable cached export of these weights at ``imgsz`` (in ``engines``, or a legacy ``./engines``
    when ``engines`` is the default folder), else None."""
    for folder in search_dirs(engines):
        found = _read_export_in(weights, sha256, imgsz, folder)
        if found is not None:
            return found
    return None


def _read_export_in(weights: str | os.PathLike, sha256: str, imgsz: int, engines: Path) -> dict | None:
    folder = export_folder(weights, sha256, engines)
    try:
        meta = json.loads(sidecar_of(folder).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("detector_sha256") != sha256:
        return None
    if meta.get("imgsz") != imgsz or not any(folder.glob("*.xml")):
        return None
    return meta | {"path": str(folder)}


def time_detector(model, imgsz: int, size_wh: tuple[int, int] = (640, 480), runs: int = TIMED_RUNS) -> float:
    """Best ms of ``runs`` person detections of one Ultralytics model on a synthetic BGR frame (after a warm-up)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(size_wh[1], size_wh[0], 3), dtype=np.uint8)
    best = float("inf")
    for i in range(runs + 1):
        start = time.perf_counter()
        model.predict(image, classes=[0], imgsz=imgsz, device="cpu", verbose=False)
        if i:
            best = min(best, time.perf_counter() - start)
    return best * 1e3


def ensure_openvino_export(
    weights: str | os.PathLike,
    sha256: str,
    imgsz: int,
    engines: str | os.PathLike,
    torch_model=None,
    log: Callable[[str], None] = say,
) -> dict[str, Any]:
    """The cached export's sidecar (with ``path``): reused when it matches, else exported, timed and recorded.

    Args:
        weights: the detector's ``.pt`` file.
        sha256: its sha256 (the cache key).
        imgsz: inference size (longest side) the detector runs at.
        engines: the engines folder.
        torch_model: the loaded Ultralytics PyTorch model to time against (loaded from ``weights`` when None).
    """
    found = read_export(weights, sha256, imgsz, engines)
    if found is not None:
        return found
    engines = Path(engines)
    engines.mkdir(parents=True, exist_ok=True)
    folder = export_folder(weights, sha256, engines)
    # One export per artefact: a process that finds another exporting it waits for it, then reuses its export.
    # Ctrl-C and SIGTERM stop the export at once and remove its temporary folder.
    with artifact_lock(folder), stop_signals_raise(f"exporting the detector {Path(weights).name}"):
        found = read_export(weights, sha256, imgsz, engines)
        if found is not None:
            log(f"another process exported the detector to {folder} meanwhile; using it")
            return found
        return _export_locked(weights, sha256, imgsz, engines, folder, torch_model, log)


def _export_locked(weights, sha256: str, imgsz: int, engines: Path, folder: Path, torch_model, log) -> dict[str, Any]:
    """:func:`ensure_openvino_export` once it holds the export's lock."""
    import openvino

    from rtpose.compat import import_ultralytics

    ultralytics = import_ultralytics()
    YOLO = ultralytics.YOLO  # noqa: N806 (Ultralytics' class name)

    log(f"no OpenVINO export of the detector {Path(weights).name} in {engines}; "
        "Ultralytics exports it once (kept there)")
    start = time.perf_counter()
    prefix = f"{TEMP_PREFIX}{os.getpid()}-"
    try:
        with tempfile.TemporaryDirectory(dir=engines, prefix=prefix) as tmp:
            # Ultralytics writes the export next to the .pt it loaded: export a copy named after the cache folder.
            copy = Path(tmp) / f"{folder.name[: -len('_openvino_model')]}.pt"
            shutil.copyfile(weights, copy)
            made = Path(YOLO(str(copy), task="detect").export(format="openvino", imgsz=imgsz, dynamic=True,
                                                              half=False, verbose=False))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(made, folder)
    finally:
        # A stop signal can land while the temporary folder is being made, before the with-block owns it:
        # whatever this process made is removed, however the export ended.
        for leftover in engines.glob(f"{prefix}*"):
            shutil.rmtree(leftover, ignore_errors=True)
    export_s = time.perf_counter() - start
    ms_torch = time_detector(torch_model or YOLO(str(weights), task="detect"), imgsz)
    ms_openvino = time_detector(YOLO(str(folder), task="detect"), imgsz)
    meta = {
        "format": FORMAT,
        "file": folder.name,
        "weights": str(Path(weights).resolve()),
        "detector_sha256": sha256,
        "imgsz": imgsz,
        "dynamic": True,
        "ultralytics_version": ultralytics.__version__,
        "openvino_version": openvino.__version__.split("-")[0],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "export_seconds": round(export_s, 2),
        "measured_ms": {"torch": round(ms_torch, 1), "openvino": round(ms_openvino, 1)},
        "faster": "openvino" if ms_openvino < ms_torch else "torch",
    }
    atomic_write_bytes(sidecar_of(folder), (json.dumps(meta, indent=2) + "\n").encode())
    log(f"exported to {folder} in {export_s:.1f} s; one 640x480 detection took {ms_openvino:.0f} ms with OpenVINO, "
        f"{ms_torch:.0f} ms with PyTorch, so rtpose uses {meta['faster']}")
    return meta | {"path": str(folder)}


__all__ = ["ensure_openvino_export", "export_folder", "read_export", "time_detector"]
