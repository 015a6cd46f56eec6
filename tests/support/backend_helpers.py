"""Exports shared by the backend tests (test_backends.py, test_onnx_export.py): each ONNX file is made once per session.

Exporting HRNet-W32 takes 10-30 s on two cores, so the files live in one temporary folder for the
whole pytest session, whichever test module asks first.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tests.conftest import REFERENCE

_DIR: Path | None = None


def engines_dir() -> Path:
    """One temporary engines folder per test session (removed at exit)."""
    global _DIR
    if _DIR is None:
        _DIR = Path(tempfile.mkdtemp(prefix="rtpose-engines-"))
        atexit.register(shutil.rmtree, _DIR, True)
    return _DIR


@functools.cache
def reference_crops() -> np.ndarray:
    """The four real person crops of the official-code reference, float32 (4, 3, 256, 192)."""
    return np.load(REFERENCE / "hrnet_w32_256x192.npz")["input"].astype(np.float32)


@functools.cache
def reference_heatmaps() -> np.ndarray:
    """The official HRNet code's heatmaps for :func:`reference_crops` (reference weights)."""
    return np.load(REFERENCE / "hrnet_w32_256x192.npz")["heatmaps"].astype(np.float32)


@functools.cache
def exported(weights: Path, fp16: bool) -> Path:
    """The W32 256x192 ONNX export of ``weights`` (verified on the real reference crops), made once."""
    from rtpose.export.pose_onnx import export_onnx, find_onnx
    from rtpose.utils.hashing import file_sha256

    found = find_onnx(file_sha256(weights), (256, 192), "fp16" if fp16 else "fp32", engines_dir())
    if found is not None:
        return found
    return export_onnx(
        weights, out_dir=engines_dir(), fp16=fp16, crops=reference_crops(), crops_label="reference crops",
        log=lambda message: None,
    )
