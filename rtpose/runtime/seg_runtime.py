"""Segmentation runtimes: an HRNetSeg's logits on PyTorch, ONNX Runtime or OpenVINO (TensorRT: :mod:`.seg_tensorrt`).

Every runtime turns a float32 batch ``(N, 3, H, W)`` of normalised images (:func:`rtpose.pose.crops.normalize_crops`)
into float32 logits ``(N, C, ceil(H/4), ceil(W/4))``. The ONNX runtimes run the graph of
:func:`rtpose.export.seg_onnx.ensure_seg_onnx`: dynamic H and W for whole frames (``seg="person"``), a fixed
square with a dynamic batch for the people's crops (``seg="parts"``). Sessions are opened by the same
helpers as the pose backends (:func:`rtpose.runtime.onnxruntime_runtime.open_session`,
:func:`rtpose.runtime.openvino_runtime.compile_onnx`), so providers, threads and OpenVINO's precision
(bf16 on CPUs with native BF16) are chosen the same way. Choosing one: :mod:`rtpose.runtime.seg_select`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: The most images one call takes where the runtime has no limit of its own (bigger batches are split).
UNLIMITED_BATCH = 1024


@runtime_checkable
class SegRuntime(Protocol):
    """What :class:`rtpose.seg.segmenter.Segmenter` needs: logits for a batch, and what it is."""

    #: "torch", "onnxruntime", "openvino" or "tensorrt".
    name: str
    #: Where it runs in words, e.g. "cpu (OpenVINO 2026.4.1, 2 threads) bf16".
    device: str
    #: "fp32", "fp16" or "bf16".
    precision: str
    #: Largest batch one call takes.
    max_batch: int
    #: The exported file it runs (``.onnx``, ``.engine``), None for PyTorch.
    artifact: Path | None
    #: Why it was chosen (set by :func:`rtpose.runtime.seg_select.create_seg_runtime`).
    reason: str
    #: What else to say about it (its precision's reason, a fallback), or "".
    note: str

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 logits ``(N, C, ceil(H/4), ceil(W/4))``."""
        ...

    def close(self) -> None:
        """Release what it holds; safe to call twice."""
        ...


class TorchSegRuntime:
    """The HRNetSeg in PyTorch: float32 on the CPU, float16 on CUDA unless ``fp16=False``.

    Args:
        model: the network (moved to ``device``; converted to half precision there when ``fp16``).
        device: "cpu", "cuda" or "cuda:N".
        fp16: half precision (default: on CUDA).
    """

    name = "torch"

    def __init__(self, model: Any, device: str = "cpu", fp16: bool | None = None) -> None:
        import torch

        self.torch_device = torch.device(device)
        on_cuda = self.torch_device.type == "cuda"
        self.fp16 = on_cuda if fp16 is None else bool(fp16 and on_cuda)
        model = model.eval().to(self.torch_device)
        self.model = model.half() if self.fp16 else model
        self.precision = "fp16" if self.fp16 else "fp32"
        self.device = f"{self.torch_device} {self.precision}"
        self.max_batch = UNLIMITED_BATCH
        self.artifact = None
        self.reason = self.note = ""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 logits ``(N, C, ceil(H/4), ceil(W/4))``."""
        return self.infer_tensor(batch).cpu().numpy()

    def infer_tensor(self, batch: np.ndarray) -> Any:
        """:meth:`infer`'s logits left on the model's device: a float32 torch tensor."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.torch_device)
            return self.model(x.half() if self.fp16 else x).float()

    def close(self) -> None:
        """Drop the model (its GPU memory goes back to PyTorch's allocator)."""
        self.model = None


class OnnxRuntimeSegRuntime:
    """An exported segmentation graph in ONNX Runtime (CPU, or its CUDA provider).

    Args:
        onnx_path: from :func:`rtpose.export.seg_onnx.ensure_seg_onnx`.
        device: "cpu", "cuda", "cuda:N" or "auto" (as :func:`~rtpose.runtime.onnxruntime_runtime.open_session`).
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        from rtpose.export.onnx_graph import onnx_precision
        from rtpose.runtime.onnxruntime_runtime import open_session

        self.artifact = Path(onnx_path)
        self.session, self.note, where, self.threads = open_session(self.artifact, device, threads)
        # the export's one input and one output (rtpose.export.seg_onnx's names; read here, not imported with PyTorch)
        self.input_name, self.output_name = self.session.get_inputs()[0].name, self.session.get_outputs()[0].name
        self.precision = onnx_precision(self.artifact)
        self.device = f"{where} {self.precision}"
        self.max_batch = UNLIMITED_BATCH
        self.reason = ""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 logits ``(N, C, ceil(H/4), ceil(W/4))``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        (logits,) = self.session.run([self.output_name], {self.input_name: batch})
        return np.asarray(logits, dtype=np.float32)

    def close(self) -> None:
        """Release the inference session."""
        self.session = None


class OpenVinoSegRuntime:
    """An exported segmentation graph in OpenVINO on the CPU (dynamic shapes are compiled as they are).

    Args:
        onnx_path: from :func:`rtpose.export.seg_onnx.ensure_seg_onnx`.
        precision: "auto" (bf16 where the CPU has native BF16), "fp32" or "bf16".
    """

    name = "openvino"

    def __init__(self, onnx_path: str | os.PathLike, precision: str = "auto", threads: int | None = None) -> None:
        from rtpose.runtime.openvino_runtime import compile_onnx, openvino_version, precision_note

        self.artifact = Path(onnx_path)
        self.compiled, _, self.precision, has_bf16, self.threads = compile_onnx(self.artifact, threads,
                                                                                 precision=precision)
        self.request = self.compiled.create_infer_request()
        self.note = precision_note(self.precision, has_bf16)
        self.device = f"cpu (OpenVINO {openvino_version()}, {self.threads} threads) {self.precision}"
        self.max_batch = UNLIMITED_BATCH
        self.reason = ""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 logits ``(N, C, ceil(H/4), ceil(W/4))``."""
        self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return np.array(self.request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    def close(self) -> None:
        """Release the compiled model and its infer request."""
        self.request = self.compiled = None


def run_batched(runtime: SegRuntime, batch: np.ndarray, on_device: bool = False) -> Any:
    """Logits of ``batch``, split only where it exceeds ``runtime.max_batch``: a numpy array, or with
    ``on_device`` a torch tensor on the runtime's GPU (runtimes with ``infer_tensor``)."""
    step = max(1, int(runtime.max_batch))
    infer = runtime.infer_tensor if on_device else runtime.infer
    if len(batch) <= step:
        return infer(batch)
    parts = [infer(batch[i : i + step]) for i in range(0, len(batch), step)]
    if on_device:
        import torch

        return torch.cat(parts)
    return np.concatenate(parts)


def runs_on_gpu(runtime: SegRuntime) -> bool:
    """Whether the runtime keeps its logits on a CUDA device (``infer_tensor``), so that pasting them back
    into the frame can run there too (:func:`rtpose.pose.device_ops.parts_from_logits`)."""
    device = getattr(runtime, "torch_device", None)
    return callable(getattr(runtime, "infer_tensor", None)) and getattr(device, "type", None) == "cuda"


__all__ = ["OnnxRuntimeSegRuntime", "OpenVinoSegRuntime", "SegRuntime", "TorchSegRuntime", "run_batched",
           "runs_on_gpu"]
