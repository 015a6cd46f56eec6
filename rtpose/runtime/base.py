"""The backend interface: a leaf module (it imports no engine and no exporter).

The backends themselves are listed once, in :data:`rtpose.runtime.select.BACKENDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class BackendInfo:
    """What a pose backend is, as data (set by :func:`rtpose.runtime.create_backend` as ``backend.info``).

    Attributes:
        name: "torch", "onnxruntime", "openvino" or "tensorrt".
        device: where it runs, in words, e.g. "cpu (OpenVINO 2026.4, 2 threads) bf16", "cuda:0 (NVIDIA H200) fp16".
        precision: "fp32", "fp16" or "bf16".
        input_hw: model input (H, W).
        max_batch: largest batch one call accepts.
        reason: why this backend was chosen.
        note: what else the start-up line says about it (a fallback, the precision's reason), or "".
        width: the HRNet width (32, 48) when known, else None.
        artifact: the exported file it runs (``.onnx``, ``.engine``), None for a checkpoint in PyTorch.
    """

    name: str
    device: str
    precision: str
    input_hw: tuple[int, int]
    max_batch: int
    reason: str = ""
    note: str = ""
    width: int | None = None
    artifact: Path | None = None

    @property
    def summary(self) -> str:
        """One line: ``name on device (reason)``."""
        return f"{self.name} on {self.device}" + (f" ({self.reason})" if self.reason else "")


@runtime_checkable
class PoseBackend(Protocol):
    """What the estimator needs from an inference engine.

    A backend turns a float32 batch ``(N, 3, H, W)`` of normalised crops (see :mod:`rtpose.pose.crops`)
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
    #: "fp32", "fp16" or "bf16".
    precision: str
    #: What else to say about it (a fallback it made, its precision's reason), or "".
    note: str
    #: The exported file it runs, or None.
    artifact: Path | None
    #: Why this backend was chosen, in words (set by :func:`rtpose.runtime.create_backend`).
    reason: str
    #: All of the above as data (set by :func:`rtpose.runtime.create_backend`).
    info: BackendInfo

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 heatmaps ``(N, K, H/4, W/4)``."""
        ...

    def close(self) -> None:
        """Release what the backend holds (sessions, GPU memory, a TensorRT context); safe to call twice."""
        ...


__all__ = ["BackendInfo", "PoseBackend"]
