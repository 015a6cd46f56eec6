"""The backend interface: a leaf module (it imports no engine and no exporter).

The backends themselves are listed once, in :data:`rtpose.backends.select.BACKENDS`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class PoseBackend(Protocol):
    """What the estimator needs from an inference engine.

    A backend turns a float32 batch ``(N, 3, H, W)`` of normalised crops (see :mod:`rtpose.crops`)
    into float32 heatmaps ``(N, K, H/4, W/4)``.
    """

    #: "torch", "onnxruntime", "openvino" or "tensorrt".
    name: str
    #: A short human description of where it runs, e.g. "cpu", "cuda:0 (NVIDIA H100) fp16".
    device: str
    #: Model input (H, W).
    input_hw: tuple[int, int]
    #: Largest batch one call accepts (larger batches are split by the caller).
    max_batch: int
    #: Why this backend was chosen, in words (set by :func:`rtpose.backends.create_backend`).
    reason: str

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 heatmaps ``(N, K, H/4, W/4)``."""
        ...

    def close(self) -> None:
        """Release what the backend holds (sessions, GPU memory, a TensorRT context); safe to call twice."""
        ...


__all__ = ["PoseBackend"]
