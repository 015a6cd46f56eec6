"""The runtime interface: a leaf module (it imports no engine and no exporter).

One :class:`Runtime` runs one network (the pose HRNet or the segmentation HRNetSeg) on one engine: a float32
NCHW batch in, float32 maps out, as numpy arrays (:meth:`Runtime.infer`) or as torch tensors on the runtime's
device (:meth:`Runtime.infer_device`). The engines are listed once, in :data:`rtpose.runtime.select.BACKENDS`;
:func:`run_batched` is the one place a batch larger than an engine takes is split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The most images one call takes where the engine has no limit of its own (bigger batches are split).
UNLIMITED_BATCH = 1024


@dataclass(frozen=True)
class BackendInfo:
    """What a runtime is, as data (``runtime.info``, set by :func:`rtpose.runtime.select.describe`).

    Attributes:
        name: "torch", "onnxruntime", "openvino", "tensorrt" or "triton".
        device: where it runs, in words, e.g. "cpu (OpenVINO 2026.4, 2 threads) bf16", "cuda:0 (NVIDIA H200) fp16".
        precision: "fp32", "fp16" or "bf16".
        input_hw: model input (H, W); segmentation of whole frames: (S, S) for the frame's short side S.
        max_batch: largest batch one call accepts.
        reason: why this runtime was chosen.
        note: what else the start-up line says about it (a fallback, the precision's reason), or "".
        width: the HRNet width (18, 32, 48) when known, else None.
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


class Runtime:
    """One network on one engine, for pose and segmentation alike.

    A runtime turns a float32 batch ``(N, 3, H, W)`` of normalised images (:func:`rtpose.pose.crops.normalize_crops`)
    into float32 maps ``(N, C, ceil(H/4), ceil(W/4))``: pose heatmaps (C keypoints) or segmentation logits (C
    classes). Every call may come from any thread: a runtime that is shared by several threads gives each call the
    result it would give alone. Use it as a context manager, or call :meth:`close`.
    """

    #: "torch", "onnxruntime", "openvino", "tensorrt" or "triton".
    name: str = ""
    #: Where it runs, in words, e.g. "cpu", "cuda:0 (NVIDIA H100) fp16".
    device: str = ""
    #: "fp32", "fp16" or "bf16".
    precision: str = "fp32"
    #: Model input (H, W); None where the graph takes any height and width.
    input_hw: tuple[int, int] | None = None
    #: Largest batch one call accepts (:func:`run_batched` splits larger ones).
    max_batch: int = UNLIMITED_BATCH
    #: The exported file it runs (``.onnx``, ``.engine``), or None.
    artifact: Path | None = None
    #: Why this runtime was chosen, in words (set by :mod:`rtpose.runtime.select`).
    reason: str = ""
    #: What else to say about it (a fallback it made, its precision's reason), or "".
    note: str = ""
    #: The torch device its :meth:`infer_device` tensors live on; None where it only gives numpy arrays.
    torch_device: Any = None
    #: The graph's declared input and output, in words, and whether they are images ``(N, 3, H, W)`` → maps
    #: ``(N, C, h, w)`` as rtpose needs (None where the engine does not declare them).
    io_shapes: tuple[str, str, bool] | None = None
    #: All of the above as data (set by :mod:`rtpose.runtime.select`).
    info: BackendInfo

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 maps ``(N, C, ceil(H/4), ceil(W/4))``, N ≤ :attr:`max_batch`."""
        raise NotImplementedError

    def infer_device(self, batch: Any) -> Any:
        """:meth:`infer` for a numpy array or a torch tensor, the maps left as a float32 torch tensor on
        :attr:`torch_device` (the CPU where the engine has none). GPU runtimes override it to stay on the device."""
        import torch

        if isinstance(batch, torch.Tensor):
            batch = batch.detach().cpu().numpy()
        return torch.from_numpy(self.infer(batch)).to(self.torch_device or "cpu")

    @property
    def on_gpu(self) -> bool:
        """Whether :meth:`infer_device` keeps its maps on a CUDA device (so that what follows can run there)."""
        return self.torch_device is not None and getattr(self.torch_device, "type", None) == "cuda"

    def close(self) -> None:
        """Release what the runtime holds (sessions, GPU memory, a TensorRT context); safe to call twice."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_batched(runtime: Runtime, batch: Any, on_device: bool = False) -> Any:
    """The maps of ``batch`` ``(N, 3, H, W)``, split only where N exceeds ``runtime.max_batch``: a numpy array, or
    with ``on_device`` a torch tensor on the runtime's device (:meth:`Runtime.infer_device`)."""
    step = max(1, int(runtime.max_batch))
    infer = runtime.infer_device if on_device else runtime.infer
    if len(batch) <= step:
        return infer(batch)
    parts = [infer(batch[i : i + step]) for i in range(0, len(batch), step)]
    if on_device:
        import torch

        return torch.cat(parts)
    return np.concatenate(parts)


def output_name(names: list[str]) -> str:
    """The output a runtime reads: ``"heatmaps"`` (a pose export) where the graph has it, else its first output."""
    return "heatmaps" if "heatmaps" in names else names[0]


__all__ = ["BackendInfo", "Runtime", "UNLIMITED_BATCH", "output_name", "run_batched"]
