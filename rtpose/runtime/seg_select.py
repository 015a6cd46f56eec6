"""Choosing the segmentation runtime (``seg_backend=``, ``--seg-backend``) the way pose chooses its backend.

- ``"torch"``: the checkpoint in PyTorch (float16 on CUDA unless ``precision="fp32"``).
- ``"onnxruntime"`` / ``"openvino"``: the ONNX export of the checkpoint (made once into the engines folder
  and reused while its sidecar's sha256 matches the weights); OpenVINO's precision as for pose (``auto``:
  bf16 on CPUs with native BF16).
- ``"tensorrt"``: an FP16 engine for this GPU, built once into the engines folder when none fits.
- ``"auto"``: on a CUDA device, a TensorRT engine already built for these weights when TensorRT imports,
  else PyTorch on CUDA in FP16 (an engine is never built unasked: that takes minutes); on the CPU,
  OpenVINO when installed, else ONNX Runtime, else PyTorch (the measurements of
  :data:`rtpose.runtime.select.OPENVINO_MEASUREMENT` and :data:`~rtpose.runtime.select.CPU_MEASUREMENT`).

``seg_backend=None`` follows the pose ``backend=`` when it names one of these, else ``auto`` (pose on
``"triton"`` or ``"auto"``). "person" mode exports dynamic H and W (frames of any aspect ratio); "parts"
a fixed square crop with a dynamic batch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rtpose.errors import RtposeError, exception_gist
from rtpose.runtime.base import BackendInfo
from rtpose.runtime.seg_runtime import SegRuntime

#: What ``seg_backend=`` / ``--seg-backend`` take.
SEG_BACKENDS = ("auto", "torch", "onnxruntime", "openvino", "tensorrt")


def seg_backend_for(seg_backend: str | None, pose_backend: str) -> str:
    """The segmentation backend to use: ``seg_backend``, else the pose backend's name when segmentation has it,
    else ``"auto"``."""
    if seg_backend is not None:
        return seg_backend
    return pose_backend if pose_backend in SEG_BACKENDS else "auto"


def check_seg_backend(seg_backend: str | None, precision: str = "auto") -> None:
    """One sentence naming ``seg_backend=`` for a value that cannot work."""
    if seg_backend is not None and seg_backend not in SEG_BACKENDS:
        raise RtposeError(f"Unknown seg_backend={seg_backend!r}; choose one of {', '.join(SEG_BACKENDS)}.")
    if precision == "bf16" and seg_backend not in (None, "auto", "openvino"):
        raise RtposeError(f"precision='bf16' runs on OpenVINO only; use seg_backend='openvino' (or 'auto'), "
                          f"not {seg_backend!r}.")


def create_seg_runtime(
    backend: str,
    weights: str | Path,
    mode: str,
    input_size: int,
    device: str = "cpu",
    precision: str = "auto",
    engines_dir: str | Path | None = None,
    seg_classes: str | None = None,
) -> SegRuntime:
    """Build the segmentation runtime ``backend`` for the checkpoint ``weights``; its ``reason`` says why.

    Args:
        backend: one of :data:`SEG_BACKENDS`.
        weights: a segmentation checkpoint file (resolved already).
        mode: "person" (dynamic H and W) or "parts" (square crops of ``input_size``, dynamic batch).
        input_size: the frame's short side ("person") or the crop side ("parts").
        device: "cpu", "cuda" or "cuda:N" (resolved already).
        precision: "auto", "fp32" or "bf16" (as :func:`rtpose.runtime.create_backend`).
        engines_dir: where exports and engines are kept (default: the engines folder).
        seg_classes: the class set's name, recorded in the export's sidecar.
    """
    from rtpose.export.sidecar import default_engines_dir

    check_seg_backend(backend, precision)
    engines = Path(engines_dir) if engines_dir is not None else default_engines_dir()
    weights = Path(weights)
    build = _Builder(weights, mode, int(input_size), device, precision, engines, seg_classes)
    if backend != "auto":
        runtime = getattr(build, backend)()
        runtime.reason = f"requested with seg_backend={backend!r}"
        return runtime
    return build.auto()


def seg_runtime_info(runtime: SegRuntime, input_size: int, width: int | None) -> BackendInfo:
    """The :class:`~rtpose.runtime.base.BackendInfo` of a segmentation runtime; ``input_hw`` is the square crop
    ("parts") or (S, S) for the frame's short side S ("person", whose H and W vary)."""
    return BackendInfo(name=runtime.name, device=str(runtime.device), precision=str(runtime.precision),
                       input_hw=(int(input_size), int(input_size)), max_batch=int(runtime.max_batch),
                       reason=runtime.reason, note=runtime.note, width=width, artifact=runtime.artifact)


class _Builder:
    """Each backend for one request (weights, mode, size, device, precision, engines folder)."""

    def __init__(self, weights: Path, mode: str, size: int, device: str, precision: str, engines: Path,
                 seg_classes: str | None) -> None:
        self.weights, self.mode, self.size, self.device = weights, mode, size, device
        self.precision, self.engines, self.seg_classes = precision, engines, seg_classes

    def _onnx(self, fp16: bool = False) -> Path:
        from rtpose.export.seg_onnx import ensure_seg_onnx

        return ensure_seg_onnx(self.weights, (self.size, self.size), dynamic_hw=self.mode == "person", fp16=fp16,
                               out_dir=self.engines, seg_classes=self.seg_classes)

    def torch(self, device: str | None = None) -> SegRuntime:
        from rtpose.runtime.seg_runtime import TorchSegRuntime
        from rtpose.weights.seg import load_seg_model

        fp16 = None if self.precision == "auto" else False
        return TorchSegRuntime(load_seg_model(self.weights), device or self.device, fp16=fp16)

    def onnxruntime(self) -> SegRuntime:
        from rtpose.runtime.seg_runtime import OnnxRuntimeSegRuntime

        return OnnxRuntimeSegRuntime(self._onnx(), self.device)

    def openvino(self) -> SegRuntime:
        from rtpose.runtime.seg_runtime import OpenVinoSegRuntime

        return OpenVinoSegRuntime(self._onnx(), self.precision)

    def tensorrt(self, build: bool = True) -> SegRuntime | None:
        from rtpose.runtime.seg_tensorrt import TensorRTSegRuntime, ensure_seg_engine

        engine, self.no_engine = ensure_seg_engine(self.weights, self.mode, self.size, self.device, self.engines,
                                                   fp16=self.precision != "fp32", build=build)
        return None if engine is None else TensorRTSegRuntime(engine, self.device)

    def auto(self) -> SegRuntime:
        from rtpose.runtime.select import CPU_MEASUREMENT, OPENVINO_MEASUREMENT
        from rtpose.runtime.tensorrt_runtime import tensorrt_available

        why = "CPU requested"
        if self.device != "cpu" and self.precision != "bf16":
            no_engine = "TensorRT is not installed"
            if tensorrt_available():
                try:
                    runtime = self.tensorrt(build=False)
                except (RtposeError, RuntimeError, OSError) as exc:
                    runtime, no_engine = None, f"the TensorRT engine lookup failed: {exception_gist(exc)}"
                if runtime is not None:
                    runtime.reason = f"auto: a TensorRT engine built for this GPU ({runtime.artifact.name})"
                    return runtime
                no_engine = getattr(self, "no_engine", "") or no_engine
            try:
                runtime = self.torch()
            except (RuntimeError, ValueError) as exc:  # e.g. an invalid device ordinal
                why = f"PyTorch could not use {self.device} ({exception_gist(exc)}), so the CPU"
            else:
                runtime.reason = f"auto: PyTorch on CUDA because no TensorRT engine can be used ({no_engine})"
                return runtime
        elif self.precision == "bf16":
            why = "precision='bf16'"
        from rtpose.runtime.openvino_runtime import openvino_available

        self.device = "cpu"
        if openvino_available():
            runtime = self.openvino()
            runtime.reason = f"auto: {why}; {OPENVINO_MEASUREMENT}; {runtime.note}"
            return runtime
        if self.precision == "bf16":
            raise RtposeError("precision='bf16' needs OpenVINO (pip install \"rtpose[openvino]\"), which is not "
                              "installed.")
        if importlib.util.find_spec("onnxruntime") is not None:
            runtime = self.onnxruntime()
            runtime.reason = f"auto: {why}; {CPU_MEASUREMENT}"
            return runtime
        runtime = self.torch("cpu")
        runtime.reason = f"auto: {why}, and neither OpenVINO nor ONNX Runtime is installed, so PyTorch on the CPU"
        return runtime


__all__ = ["SEG_BACKENDS", "check_seg_backend", "create_seg_runtime", "seg_backend_for", "seg_runtime_info"]
