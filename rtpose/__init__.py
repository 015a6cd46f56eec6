"""rtpose: real-time multi-person pose estimation with HRNet (detector → crops → one batched pose call).

::

    import rtpose

    model = rtpose.PoseModel()                  # or PoseModel("hrnet_w48_coco_384x288", device="cuda")
    result = model("people.jpg")                # rtpose.PoseResult: boxes (N, 4), keypoints (N, K, 3)
    for result in model.stream(0):              # a camera; also files, folders, URLs, iterables of frames
        ...

The package itself imports nothing heavy: the names below (which need PyTorch or OpenCV) are imported
on first use, so ``import rtpose.io.sources`` or ``rtpose --help`` stay quick.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "PoseModel": "rtpose.model",
    "ModelInfo": "rtpose.model",
    "PoseResult": "rtpose.results",
    "Person": "rtpose.results",
    "PoseStream": "rtpose.engine.stream",
    "RunStats": "rtpose.engine.stats",
    "ModelOptions": "rtpose.options",
    "StreamOptions": "rtpose.options",
    "RtposeError": "rtpose.errors",
    "HRNet": "rtpose.models",
    "HeatmapCodec": "rtpose.pose.codec",
    "TopDownEstimator": "rtpose.pose.estimator",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rtpose' has no attribute {name!r}")


__all__ = [*_LAZY, "__version__"]
