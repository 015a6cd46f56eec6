"""rtpose: real-time multi-person pose estimation with HRNet (detector → crops → one batched pose call).

The package itself imports nothing heavy: ``HRNet``, ``HeatmapCodec``, ``Person`` and
``TopDownEstimator`` (which need PyTorch) are imported on first use, so ``import rtpose.sources`` or
``rtpose --help`` stay quick and a Ctrl-C during start-up lands in the command line's own handler.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "HRNet": "rtpose.models",
    "HeatmapCodec": "rtpose.codec",
    "Person": "rtpose.estimator",
    "TopDownEstimator": "rtpose.estimator",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rtpose' has no attribute {name!r}")


__all__ = ["HRNet", "HeatmapCodec", "Person", "TopDownEstimator", "__version__"]
