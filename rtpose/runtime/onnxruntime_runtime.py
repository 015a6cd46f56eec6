"""ONNX Runtime runtime: an exported ONNX graph (pose or segmentation) on the CPU or ONNX Runtime's CUDA provider."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.errors import EngineError, exception_gist
from rtpose.log import warn
from rtpose.runtime.base import UNLIMITED_BATCH, Runtime, output_name

#: Distributions that install the ``onnxruntime`` module; at most one may be installed.
ONNXRUNTIME_WHEELS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml")


def available_providers() -> list[str]:
    """ONNX Runtime's execution providers on this machine (empty when onnxruntime is missing)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def installed_onnxruntime_packages() -> list[str]:
    """Which of the ONNX Runtime wheels that provide the ``onnxruntime`` module are installed."""
    found = []
    for dist in ONNXRUNTIME_WHEELS:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(dist)
    return found


def onnxruntime_conflict(packages: list[str] | None = None) -> str | None:
    """One sentence when more than one ONNX Runtime wheel is installed (they overwrite each other's files)."""
    packages = installed_onnxruntime_packages() if packages is None else packages
    if len(packages) < 2:
        return None
    keep = "onnxruntime-gpu" if "onnxruntime-gpu" in packages else packages[-1]
    others = " ".join(p for p in packages if p != keep)
    return (
        f"{' and '.join(packages)} are both installed and overwrite each other's files, so the CUDA provider may be "
        f"missing or broken; run pip uninstall -y {others} {keep} && pip install {keep}."
    )


def provider_problem(device: str, requested_cuda: bool, active: list[str]) -> str | None:
    """One sentence when CUDA was asked for with ``--device cuda…`` but ONNX Runtime runs on the CPU, else None.

    ONNX Runtime silently falls back to its CPU provider when the CUDA one fails to load (missing
    cuDNN, a driver too old, …); ``session.get_providers()`` tells the truth.
    """
    if not requested_cuda or "CUDAExecutionProvider" in active:
        return None
    return (
        f"ONNX Runtime was asked for {device} but its CUDA provider did not load (active: {', '.join(active)}), "
        "usually because the CUDA or cuDNN libraries onnxruntime-gpu needs are missing; fix them or use --device cpu."
    )


def cpu_threads() -> int:
    """Cores this process may use (the affinity mask, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def open_session(onnx_path: str | os.PathLike, device: str = "cpu",
                 threads: int | None = None) -> tuple[Any, str, str, int]:
    """An ONNX Runtime session for ``onnx_path`` on ``device``: ``(session, note, where, threads)``.

    ``where`` says where it runs, e.g. "cpu (CPUExecutionProvider, 2 threads)"; ``note`` why it runs on the
    CPU when "auto" wanted CUDA ("" otherwise). ``device="cuda…"`` that ends on the CPU provider is an
    EngineError, never a silent fallback. Shared by the pose backend and the segmentation runtimes.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise EngineError("onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu).") from None
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise EngineError(f"ONNX file {onnx_path} does not exist; create it with 'rtpose export-onnx'.")
    note = ""
    conflict = onnxruntime_conflict()
    providers = ort.get_available_providers()
    explicit_cuda = device.startswith("cuda")
    if conflict and explicit_cuda:
        raise EngineError(conflict)
    if conflict:
        warn(conflict)
    want_cuda = device.startswith("cuda") or (device == "auto" and "CUDAExecutionProvider" in providers)
    if want_cuda and "CUDAExecutionProvider" not in providers:
        raise EngineError(
            "ONNX Runtime has no CUDA provider here: install onnxruntime-gpu on an NVIDIA machine, "
            "or use --device cpu."
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    threads = threads or cpu_threads()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if want_cuda:
        index = int(device.split(":")[1]) if ":" in device else 0
        session_providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    else:
        session_providers = ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(onnx_path), options, providers=session_providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        first = exception_gist(exc, 200)
        raise EngineError(f"ONNX Runtime cannot load {onnx_path} ({first}); re-export it.") from None
    active = list(session.get_providers())
    problem = provider_problem(device, explicit_cuda, active)
    if problem:
        raise EngineError(problem)
    if want_cuda and "CUDAExecutionProvider" not in active:
        note = "ONNX Runtime's CUDA provider did not load, so it runs on the CPU"
    used = active[0]
    where = f"cuda:{device.split(':')[1] if ':' in device else 0}" if used == "CUDAExecutionProvider" else "cpu"
    threads_text = f", {threads} threads" if where == "cpu" else ""
    return session, note, f"{where} ({used}{threads_text})", threads


class OnnxRuntimeBackend(Runtime):
    """Runs an exported rtpose ONNX file: one input float32 ``(N, 3, H, W)``, maps ``(N, C, h, w)`` out.

    Args:
        onnx_path: the ONNX file (FP32, or FP16 with float32 inputs/outputs); a fixed H and W (pose, segmentation
            crops) or a dynamic one (segmentation of whole frames, :attr:`input_hw` None).
        device: "cpu", "cuda", "cuda:N" or "auto" (CUDA provider when it loads, else the CPU, and
            :attr:`note` says why).
        threads: intra-op threads on the CPU; default: every core this process may use.

    ``--device cuda`` that ends on the CPU provider is an EngineError, never a silent fallback. ONNX Runtime's
    ``session.run`` may be called from several threads at once.
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        self.onnx_path = self.artifact = Path(onnx_path)
        #: ``note``: why this session runs where it does when that is not what was asked for ("" otherwise).
        self.session, self.note, where, self.threads = open_session(self.onnx_path, device, threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.input_name = inputs[0].name
        self.output_name = output_name([o.name for o in outputs])
        shape = inputs[0].shape
        out_shape = next(o.shape for o in outputs if o.name == self.output_name)
        self.io_shapes = (f"{self.input_name} {list(shape)}" + (" and more inputs" if len(inputs) > 1 else ""),
                          f"{self.output_name} {list(out_shape)}", len(inputs) == 1 and len(shape) == 4
                          and shape[1] == 3 and len(out_shape) == 4)
        fixed = len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int)
        self.input_hw = (int(shape[2]), int(shape[3])) if fixed else None
        self.max_batch = int(shape[0]) if shape and isinstance(shape[0], int) else UNLIMITED_BATCH
        from rtpose.export.onnx_graph import onnx_precision

        self.precision = onnx_precision(self.onnx_path)
        self.device = f"{where} {self.precision}"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 maps ``(N, C, ceil(H/4), ceil(W/4))``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        (maps,) = self.session.run([self.output_name], {self.input_name: batch})
        return np.asarray(maps, dtype=np.float32)

    def close(self) -> None:
        """Release the inference session."""
        self.session = None
