"""The backend interface and the backend names: a leaf module (imports no engine, no exporter)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

#: What ``--backend`` accepts: ``auto`` chooses (see :mod:`rtpose.backends.select`), the others force one.
BACKEND_NAMES = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")


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


__all__ = ["BACKEND_NAMES", "PoseBackend"]
