"""Choosing and building a runtime by name, for pose and segmentation alike; ``auto`` picks the fastest one here.

One table (:data:`BACKENDS`) lists every engine; a task (:mod:`rtpose.runtime.tasks`: pose, or segmentation in
one of its modes) says how its checkpoint becomes each engine's input. :func:`create_backend` builds the pose
runtime (``backend=``, ``--backend``), :func:`create_seg_runtime` the segmentation one (``seg_backend=``,
``--seg-backend``); both go through :func:`create_runtime`.

Pose ``--weights`` may be a checkpoint (``.pth``/``.pt``), an exported ``.onnx`` file or a TensorRT ``.engine``:

- ``.engine`` → TensorRT (``auto`` or ``tensorrt``); the sidecar is checked against this GPU and TensorRT.
- ``.onnx`` → ONNX Runtime (``auto`` or ``onnxruntime``), or OpenVINO (``openvino``).
- a checkpoint → any backend. ONNX Runtime and OpenVINO run its ONNX export, made once into the engines folder
  (keyed by the weights' sha256 and the input size) and reused. ``tensorrt`` looks for a matching engine there
  (same weights and input size, built for this GPU and TensorRT): pose says how to build one if none fits;
  segmentation builds it once (that takes minutes).

``auto`` with a checkpoint (:func:`auto_runtime`): a TensorRT engine already built for these weights when TensorRT
and a GPU are present; else PyTorch on CUDA in FP16 (also when the engine lookup or load raises, e.g. a bad
``cuda:N`` or a CUDA error: the reason then says what failed, and a failing CUDA device falls through to the CPU
the same way); else on the CPU the fastest runtime installed: OpenVINO (an optional package), else ONNX Runtime,
else PyTorch. An engine is never built unasked.

``precision`` (``--precision``): ``auto`` runs OpenVINO in bf16 where the CPU has native BF16 (and says so in the
reason), ``fp32`` keeps every runtime in float32 (also no FP16 on a GPU), ``bf16`` needs OpenVINO on a CPU with
BF16. ``seg_backend=None`` follows the pose ``backend=`` when segmentation has it (:func:`seg_backend_for`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rtpose.errors import EngineError, RtposeError, exception_gist
from rtpose.runtime.base import BackendInfo, Runtime
from rtpose.runtime.tasks import POSE, SegTask

#: ``auto``'s reason for OpenVINO on the CPU.
OPENVINO_REASON = "OpenVINO: the fastest runtime installed for this CPU"
#: ``auto``'s reason for ONNX Runtime on the CPU (OpenVINO not installed, or not preferred).
ONNXRUNTIME_REASON = "ONNX Runtime: the fastest runtime installed for this CPU"

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")

#: ``auto`` on the CPU uses OpenVINO when the optional ``openvino`` package is installed.
PREFER_OPENVINO_ON_CPU = True

#: The tasks every engine serves unless its table entry says otherwise.
ALL_TASKS = ("pose", "segmentation")


def _cuda_available() -> bool:
    from rtpose.runtime.devices import cuda_count

    return cuda_count() > 0


@dataclass(frozen=True)
class Request:
    """What a runtime is built for: a checkpoint ``path`` (or an exported file), where, at what size, for which
    task (:mod:`rtpose.runtime.tasks`)."""

    path: Path
    device: str
    input_hw: tuple[int, int] | None
    fp16: bool | None
    engines: Path
    precision: str = "auto"
    server: str | None = None
    task: Any = field(default=POSE)


@dataclass(frozen=True)
class BackendSpec:
    """One engine in :data:`BACKENDS`.

    Attributes:
        name: what ``--backend`` / ``--seg-backend`` take.
        package: the Python package it needs (the viewer offers only engines whose package is there).
        from_checkpoint: builds it for a request's checkpoint (exporting what it needs, or finding an engine).
        file_suffixes: exported files it runs directly (``.onnx``, ``.engine``); the first entry of the
            table that runs a file is ``auto``'s choice for it.
        from_file: builds it for such a file (the request's ``path``).
        file_kind: what such a file is called in messages ("an ONNX file").
        tasks: the tasks it serves ("pose", "segmentation").
    """

    name: str
    package: str
    from_checkpoint: Callable[[Request], Runtime]
    file_suffixes: tuple[str, ...] = ()
    from_file: Callable[[Request], Runtime] | None = None
    file_kind: str = ""
    tasks: tuple[str, ...] = ALL_TASKS

    def available(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


def _torch(request: Request) -> Runtime:
    from rtpose.runtime.torch_runtime import TorchBackend

    task = request.task
    return TorchBackend(task.load_model(request.path), device=request.device, input_hw=request.input_hw,
                        fp16=request.fp16, channels_last=task.channels_last)


def _onnxruntime_from_file(request: Request) -> Runtime:
    from rtpose.runtime.onnxruntime_runtime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(request.path, device=request.device)


def _onnxruntime(request: Request) -> Runtime:
    import onnxruntime  # noqa: F401  (ImportError → auto falls back)

    return _onnxruntime_from_file(replace(request, path=request.task.onnx(request, fp16=bool(request.fp16))))


def _openvino_from_file(request: Request) -> Runtime:
    from rtpose.runtime.openvino_runtime import OpenVinoBackend

    return OpenVinoBackend(request.path, precision=request.precision)


def _openvino(request: Request) -> Runtime:
    return _openvino_from_file(replace(request, path=request.task.onnx(request)))


def _tensorrt_from_file(request: Request) -> Runtime:
    from rtpose.runtime.tensorrt_runtime import TensorRTBackend

    return TensorRTBackend(request.path, device=request.device)


def _tensorrt(request: Request) -> Runtime:
    engine, why_not = request.task.engine(request, build=request.task.builds_engines)
    if engine is None:
        raise EngineError(why_not)
    return _tensorrt_from_file(replace(request, path=engine))


def _triton(request: Request) -> Runtime:
    from rtpose.runtime.triton_runtime import TritonBackend

    sha, weights = None, request.path
    if weights is not None and weights.is_file() and weights.suffix.lower() in (".pth", ".pt", ".bin"):
        from rtpose.utils.hashing import file_sha256

        sha = file_sha256(weights)
    return TritonBackend(request.server, input_hw=request.input_hw, weights_sha256=sha)


#: Every engine: adding one is one entry here (``auto``'s order of preference is in :func:`auto_runtime`).
BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("torch", "torch", _torch),
        BackendSpec("onnxruntime", "onnxruntime", _onnxruntime, (".onnx",), _onnxruntime_from_file, "an ONNX file"),
        BackendSpec("openvino", "openvino", _openvino, (".onnx",), _openvino_from_file, "an ONNX file"),
        BackendSpec("tensorrt", "tensorrt", _tensorrt, ENGINE_SUFFIXES, _tensorrt_from_file, "a TensorRT engine"),
        BackendSpec("triton", "tritonclient", _triton, tasks=("pose",)),
    )
}


def backend_names(task: str = "pose") -> list[str]:
    """What ``--backend`` (``task="pose"``) or ``--seg-backend`` (``"segmentation"``) accepts: ``auto``, then
    every entry of :data:`BACKENDS` that serves the task."""
    return ["auto", *(name for name, spec in BACKENDS.items() if task in spec.tasks)]


def available_backends() -> list[str]:
    """``auto`` and the pose backends whose Python package is installed (the viewer's choices)."""
    return ["auto", *(name for name, spec in BACKENDS.items() if "pose" in spec.tasks and spec.available())]


#: What ``seg_backend=`` / ``--seg-backend`` take.
SEG_BACKENDS = tuple(backend_names("segmentation"))


def seg_backend_for(seg_backend: str | None, pose_backend: str) -> str:
    """The segmentation backend to use: ``seg_backend``, else the pose backend's name when segmentation has it,
    else ``"auto"``."""
    if seg_backend is not None:
        return seg_backend
    return pose_backend if pose_backend in backend_names("segmentation") else "auto"


def check_backend(backend: str, precision: str = "auto", task: Any = POSE) -> None:
    """One sentence naming the task's parameter (``backend=``, ``seg_backend=``) for a value that cannot work."""
    from rtpose.runtime.openvino_runtime import PRECISIONS

    names = backend_names(task.kind)
    if backend not in names:
        raise RtposeError(f"Unknown {task.param}={backend!r}; choose one of {', '.join(names)}.")
    if precision not in PRECISIONS:
        raise RtposeError(f"Unknown precision={precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if precision == "bf16" and backend not in ("auto", "openvino"):
        raise RtposeError(f"precision='bf16' runs on OpenVINO only; use {task.param}='openvino' (or 'auto'), "
                          f"not {backend!r}.")


def check_seg_backend(seg_backend: str | None, precision: str = "auto") -> None:
    """:func:`check_backend` for ``seg_backend=`` (None: it follows the pose backend)."""
    if seg_backend is not None:
        check_backend(seg_backend, precision, SegTask())


def create_backend(
    backend: str = "auto",
    weights: str | None = None,
    device: str = "auto",
    input_hw: tuple[int, int] | None = None,
    fp16: bool | None = None,
    engines_dir: str | None = None,
    precision: str = "auto",
    server: str | None = None,
) -> Runtime:
    """Build the pose runtime ``backend`` for ``weights`` on ``device``.

    Args:
        backend: "auto" or a name of :data:`BACKENDS` ("torch", "onnxruntime", "openvino", "tensorrt", "triton").
        weights: a checkpoint, an ``.onnx`` file, a TensorRT ``.engine`` file, the name of a registry
            checkpoint (``rtpose weights list``; downloaded on first use), or None for the default one.
        device: "auto", "cpu", "cuda" or "cuda:N".
        input_hw: model input (H, W); None takes the size the checkpoint was trained for (its
            meta or registry entry), else 256×192. An ``.onnx``/``.engine`` file brings its own.
        fp16: half precision (default: on for GPUs, off on the CPU).
        engines_dir: where engines and exported ONNX files are looked for and written
            (default: :func:`rtpose.export.sidecar.default_engines_dir`).
        precision: "auto", "fp32" or "bf16" (OpenVINO's CPU inference precision; see the module docstring).
        server: for backend="triton": ``"host:8001[,host2:8001]"``, the Triton servers' gRPC addresses
            (the weights, when given as a file, must be the ones the servers serve).

    The returned runtime's ``info`` (:class:`~rtpose.runtime.base.BackendInfo`) says what it is and
    why it was chosen.
    """
    if backend == "triton":  # the model is on the servers: nothing to resolve or download here
        runtime = _triton(Request(None if weights is None else Path(weights), device, input_hw, fp16,
                                  Path("."), precision, server))
        runtime.reason = "requested with backend='triton'"
        runtime.info = describe(runtime)
        return runtime
    check_backend(backend, precision)
    from rtpose.weights.registry import resolve_weights

    runtime = create_runtime(POSE, backend, resolve_weights(weights), device, input_hw, fp16, engines_dir, precision)
    runtime.info = describe(runtime)
    return runtime


def create_seg_runtime(
    backend: str,
    weights: str | Path,
    mode: str,
    input_size: int,
    device: str = "cpu",
    precision: str = "auto",
    engines_dir: str | Path | None = None,
    seg_classes: str | None = None,
) -> Runtime:
    """Build the segmentation runtime ``backend`` for the checkpoint ``weights``; its ``reason`` says why.

    Args:
        backend: one of :data:`SEG_BACKENDS`.
        weights: a segmentation checkpoint file (resolved already).
        mode: "person" (dynamic H and W) or "parts" (square crops of ``input_size``, dynamic batch).
        input_size: the frame's short side ("person") or the crop side ("parts").
        device: "cpu", "cuda" or "cuda:N" (resolved already).
        precision: "auto", "fp32" or "bf16" (as :func:`create_backend`).
        engines_dir: where exports and engines are kept (default: the engines folder).
        seg_classes: the class set's name, recorded in the export's sidecar.
    """
    task = SegTask(mode, seg_classes)
    check_backend(backend, precision, task)
    size = int(input_size)
    return create_runtime(task, backend, Path(weights), device, (size, size), None, engines_dir, precision)


def create_runtime(
    task: Any, backend: str, path: Path, device: str, input_hw: tuple[int, int] | None, fp16: bool | None,
    engines_dir: str | Path | None, precision: str,
) -> Runtime:
    """The runtime ``backend`` (checked already) of ``task`` for the file ``path``, its ``reason`` set."""
    from rtpose.export.sidecar import default_engines_dir

    if precision == "fp32" and fp16 is None:
        fp16 = False
    engines = Path(engines_dir) if engines_dir is not None else default_engines_dir()
    suffix = path.suffix.lower()
    runners = [spec for spec in BACKENDS.values() if suffix in spec.file_suffixes and task.kind in spec.tasks]
    if runners and precision == "bf16":  # a precision only OpenVINO has
        runners = [spec for spec in runners if spec.name == "openvino"]
        if not runners:
            raise RtposeError(f"{path.name} is not an ONNX file; precision='bf16' runs on OpenVINO only.")
    if runners:  # an exported file: only the engines that run it directly
        result = _from_file(task, backend, runners, Request(path, device, None, fp16, engines, precision, task=task))
        return _fixed_size(result, input_hw, path)
    if input_hw is None:
        input_hw = task.default_input_hw(path)
    request = Request(path, device, tuple(input_hw), fp16, engines, precision, task=task)
    if backend == "auto":
        return auto_runtime(request)
    result = BACKENDS[backend].from_checkpoint(request)
    task.check(result)
    result.reason = f"requested with {task.param}={backend!r}" + (f"; {result.note}" if result.note else "")
    return result


def _from_file(task: Any, backend: str, runners: list[BackendSpec], request: Request) -> Runtime:
    path = request.path
    kind = runners[0].file_kind
    if backend == "auto":
        asked = "precision='bf16'; " if request.precision == "bf16" else ""
        spec, reason = runners[0], f"{asked}the weights are {kind} ({path.name})"
    elif backend in (r.name for r in runners):
        spec = BACKENDS[backend]
        reason = f"requested with {task.param}={backend!r}; the weights are {kind} ({path.name})"
    else:
        which = " or ".join(f"{task.param}={r.name!r}" for r in runners)
        hint = "pass the checkpoint instead"
        if backend == "tensorrt":
            hint = "build an engine with 'rtpose build-engine --onnx FILE'"
        raise RtposeError(f"{path.name} is {kind}, which only {which} runs directly (or auto); {hint}.")
    result = spec.from_file(request)
    task.check(result)
    result.reason = reason + (f"; {result.note}" if result.note else "")
    return result


def auto_runtime(request: Request) -> Runtime:
    """``auto``'s choice for a checkpoint (the module docstring's order), its ``reason`` a short explanation."""
    task, precision = request.task, request.precision
    device = "cpu" if precision == "bf16" else request.device  # bf16 is an OpenVINO CPU precision
    no_engine = gpu_failed = ""
    if device != "cpu":
        from rtpose.runtime.tensorrt_runtime import tensorrt_available

        if tensorrt_available():
            # A failing lookup or load (bad cuda:N, a CUDA error, an unreadable engine) falls through to the
            # next engine, and the reason says what happened.
            try:
                engine, no_engine = task.engine(request, build=False)
                if engine is not None:
                    result = _tensorrt_from_file(replace(request, path=engine))
                    task.check(result)
                    result.reason = f"auto: a TensorRT engine built for this GPU and these weights ({engine.name})"
                    return result
            except (RtposeError, RuntimeError, OSError) as exc:
                no_engine = f"the TensorRT engine lookup failed: {exception_gist(exc)}"
        else:
            no_engine = "TensorRT is not installed"
        if _cuda_available():
            try:
                result = _torch(replace(request, fp16=True if request.fp16 is None else request.fp16))
            except (RuntimeError, ValueError) as exc:  # e.g. an invalid device ordinal
                gpu_failed = f"PyTorch could not use {device} ({exception_gist(exc)}), so "
            else:
                result.reason = (
                    f"auto: PyTorch on CUDA because no TensorRT engine can be used ({no_engine.rstrip('.')})"
                )
                return result
    if precision == "bf16":
        why = "precision='bf16'"
    elif request.device == "cpu":
        why = "CPU requested"
    else:
        why = gpu_failed + "the CPU" if gpu_failed else "no CUDA GPU"
    if no_engine.startswith("the TensorRT engine lookup failed"):
        why = f"{no_engine}; {why}"
    cpu = replace(request, device="cpu", fp16=False)
    from rtpose.runtime.openvino_runtime import openvino_available

    if PREFER_OPENVINO_ON_CPU and openvino_available():
        result = _openvino(cpu)
        task.check(result)
        result.reason = f"auto: {why}; {OPENVINO_REASON}; {result.note}"
        return result
    if precision == "bf16":
        raise RtposeError("precision='bf16' needs OpenVINO (pip install \"rtpose[openvino]\"), which is not installed.")
    try:
        result = _onnxruntime(cpu)
    except ImportError:
        result = _torch(cpu)
        result.reason = f"auto: {why}; neither OpenVINO nor ONNX Runtime is installed, so PyTorch on the CPU"
        return result
    task.check(result)
    result.reason = f"auto: {why}; {ONNXRUNTIME_REASON}"
    return result


def describe(runtime: Runtime, input_hw: tuple[int, int] | None = None, width: int | None = None) -> BackendInfo:
    """The :class:`~rtpose.runtime.base.BackendInfo` of a built runtime; ``input_hw`` and ``width`` where the caller
    knows them better (segmentation), else the runtime's, and the width from the model or the export's sidecar."""
    model = getattr(runtime, "model", None)  # PyTorch holds the network itself
    if width is None and model is not None and hasattr(model, "width"):
        width = int(model.width)
    elif width is None and runtime.artifact is not None:
        from rtpose.export.sidecar import read_sidecar, sidecar_width

        try:
            width = sidecar_width(read_sidecar(runtime.artifact))
        except EngineError:
            width = None
    hw = input_hw or runtime.input_hw
    return BackendInfo(
        name=runtime.name, device=str(runtime.device), precision=str(runtime.precision),
        input_hw=tuple(int(v) for v in hw), max_batch=int(runtime.max_batch),
        reason=runtime.reason, note=runtime.note, width=width, artifact=runtime.artifact,
    )


def _fixed_size(runtime: Runtime, input_hw: tuple[int, int] | None, path: Path) -> Runtime:
    """An exported model has the input size it was exported with: refuse a different ``--input-size``."""
    if input_hw is not None and tuple(input_hw) != tuple(runtime.input_hw):
        runtime.close()
        have, want = "x".join(map(str, runtime.input_hw)), "x".join(map(str, input_hw))
        raise RtposeError(
            f"{path.name} was exported for {have} inputs, not input_size={tuple(input_hw)}; leave out input_size=, "
            f"or export the checkpoint again at {want}."
        )
    return runtime


__all__ = ["BACKENDS", "BackendSpec", "ONNXRUNTIME_REASON", "OPENVINO_REASON", "Request", "SEG_BACKENDS",
           "auto_runtime", "available_backends", "backend_names", "check_backend", "check_seg_backend",
           "create_backend", "create_runtime", "create_seg_runtime", "describe", "seg_backend_for"]
