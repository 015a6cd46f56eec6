"""Choosing and building a backend by name; ``auto`` picks the fastest one this machine has.

``--weights`` may be a checkpoint (``.pth``/``.pt``), an exported ``.onnx`` file or a TensorRT
``.engine`` file:

- ``.engine`` → TensorRT (``auto`` or ``tensorrt``); the sidecar is checked against this GPU and TensorRT.
- ``.onnx`` → ONNX Runtime (``auto`` or ``onnxruntime``).
- a checkpoint → any backend. ``tensorrt`` looks for a matching engine in the engines folder (same
  weights sha256 and input size, built for this GPU and TensorRT) and says how to build one if none
  fits; ``onnxruntime`` exports the ONNX file once into the engines folder and reuses it.

``auto`` with a checkpoint: a matching TensorRT engine if TensorRT and a GPU are present; else
PyTorch on CUDA in FP16 with channels-last (also when the engine lookup or load raises, e.g. a bad
``cuda:N`` or a CUDA error: the reason then says what failed, and a failing CUDA device falls through
to the CPU the same way); else the fastest CPU backend measured: OpenVINO when
the optional ``openvino`` package is installed, else ONNX Runtime (see :data:`CPU_MEASUREMENT`).
ONNX Runtime and OpenVINO need an ONNX file: it is exported once into the engines folder (keyed by
the weights' sha256 and the input size, said on stderr) and reused afterwards.

``precision`` (``--precision``): ``auto`` runs OpenVINO in bf16 where the CPU has native BF16 (and
says so in the reason), ``fp32`` keeps every backend in float32 (also no FP16 on a GPU), ``bf16``
needs OpenVINO on a CPU with BF16.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rtpose.errors import EngineError, RtposeError, exception_gist
from rtpose.runtime.base import BackendInfo, PoseBackend

#: Why ``auto`` prefers ONNX Runtime over PyTorch on the CPU. HRNet-W32 256x192 fp32 on the project's
#: idle 2-core x86 machine, crops/s at batch 1 / 8 / 32 (``python benchmarks/backends.py --iters 3``):
#: PyTorch eager 5.4 / 9.3 / 8.2, ONNX Runtime 11.0 / 12.8 / 13.7, OpenVINO 11.3 / 13.4 / 14.0.
CPU_MEASUREMENT = (
    "ONNX Runtime measured 1.4-2x the crops/s of PyTorch eager on a 2-core x86 CPU (benchmarks/backends.py)"
)

#: Why ``auto`` prefers OpenVINO on the CPU when the optional package is installed (same measurements).
OPENVINO_MEASUREMENT = (
    "OpenVINO measured slightly ahead of ONNX Runtime (3-5% more crops/s) and 1.4-2x PyTorch on a 2-core x86 CPU "
    "(benchmarks/backends.py)"
)

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")

#: Model input (H, W) when neither the caller nor the checkpoint says otherwise.
DEFAULT_INPUT_HW = (256, 192)

#: ``auto`` on the CPU uses OpenVINO when the optional ``openvino`` package is installed.
PREFER_OPENVINO_ON_CPU = True


def _cuda_available() -> bool:
    from rtpose.runtime.devices import cuda_count

    return cuda_count() > 0


def _wants_cpu(device: str) -> bool:
    return device == "cpu"


@dataclass(frozen=True)
class Request:
    """What a backend is built for: a checkpoint ``path`` (or an exported file), where, at what size."""

    path: Path
    device: str
    input_hw: tuple[int, int] | None
    fp16: bool | None
    engines: Path
    precision: str = "auto"
    server: str | None = None


@dataclass(frozen=True)
class BackendSpec:
    """One backend in :data:`BACKENDS`.

    Attributes:
        name: what ``--backend`` takes.
        package: the Python package it needs (the viewer offers only backends whose package is there).
        from_checkpoint: builds it for a checkpoint (exporting what it needs, or finding an engine).
        file_suffixes: exported files it runs directly (``.onnx``, ``.engine``); the first backend of the
            table that runs a file is ``auto``'s choice for it.
        from_file: builds it for such a file (the request's ``path``).
        file_kind: what such a file is called in messages ("an ONNX file").
    """

    name: str
    package: str
    from_checkpoint: Callable[[Request], PoseBackend]
    file_suffixes: tuple[str, ...] = ()
    from_file: Callable[[Request], PoseBackend] | None = None
    file_kind: str = ""

    def available(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


def _tensorrt_for_checkpoint(request: Request) -> PoseBackend:
    engine, why_not = _matching_engine(request.path, request.device, request.input_hw, request.engines)
    if engine is None:
        raise EngineError(why_not)
    return _tensorrt_from_engine(engine, request.device)


def _onnxruntime_from_file(request: Request) -> PoseBackend:
    from rtpose.runtime.onnxruntime_runtime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(request.path, device=request.device)


def _openvino_for_checkpoint(request: Request) -> PoseBackend:
    from rtpose.export.pose_onnx import ensure_onnx

    onnx_path = ensure_onnx(request.path, input_hw=request.input_hw, out_dir=request.engines)
    return _openvino_from_onnx(onnx_path, request.precision)


#: Every backend: adding one is one entry here (``auto``'s order of preference is in :func:`_auto`).
BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("torch", "torch", lambda r: _torch(r.path, r.device, r.input_hw, r.fp16)),
        BackendSpec("onnxruntime", "onnxruntime",
                    lambda r: _onnxruntime(r.path, r.device, r.input_hw, r.fp16, r.engines),
                    (".onnx",), _onnxruntime_from_file, "an ONNX file"),
        BackendSpec("openvino", "openvino", _openvino_for_checkpoint,
                    (".onnx",), lambda r: _openvino_from_onnx(r.path, r.precision), "an ONNX file"),
        BackendSpec("tensorrt", "tensorrt", _tensorrt_for_checkpoint,
                    ENGINE_SUFFIXES, lambda r: _tensorrt_from_engine(r.path, r.device), "a TensorRT engine"),
        BackendSpec("triton", "tritonclient", lambda r: _triton(r.server, r.path, r.input_hw)),
    )
}


def backend_names() -> list[str]:
    """What ``--backend`` accepts: ``auto``, then every entry of :data:`BACKENDS`."""
    return ["auto", *BACKENDS]


def available_backends() -> list[str]:
    """``auto`` and the backends whose Python package is installed (the viewer's choices)."""
    return ["auto", *(name for name, spec in BACKENDS.items() if spec.available())]


def create_backend(
    backend: str = "auto",
    weights: str | None = None,
    device: str = "auto",
    input_hw: tuple[int, int] | None = None,
    fp16: bool | None = None,
    engines_dir: str | None = None,
    precision: str = "auto",
    server: str | None = None,
) -> PoseBackend:
    """Build the backend ``backend`` for ``weights`` on ``device``.

    Args:
        backend: "auto" or a name of :data:`BACKENDS` ("torch", "onnxruntime", "openvino", "tensorrt").
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

    The returned backend's ``info`` (:class:`~rtpose.runtime.base.BackendInfo`) says what it is and
    why it was chosen.
    """
    if backend == "triton":  # the model is on the servers: nothing to resolve or download here
        backend_object = _triton(server, None if weights is None else Path(weights), input_hw)
        backend_object.reason = "requested with backend='triton'"
        backend_object.info = describe(backend_object)
        return backend_object
    backend_object = _create(backend, weights, device, input_hw, fp16, engines_dir, precision)
    backend_object.info = describe(backend_object)
    return backend_object


def describe(backend: PoseBackend) -> BackendInfo:
    """The :class:`~rtpose.runtime.base.BackendInfo` of a built backend (its width from the model or sidecar)."""
    width = None
    model = getattr(backend, "model", None)  # PyTorch holds the HRNet itself
    if model is not None and hasattr(model, "width"):
        width = int(model.width)
    elif backend.artifact is not None:
        from rtpose.export.sidecar import read_sidecar, sidecar_width

        try:
            width = sidecar_width(read_sidecar(backend.artifact))
        except EngineError:
            width = None
    return BackendInfo(
        name=backend.name, device=str(backend.device), precision=str(backend.precision),
        input_hw=tuple(int(v) for v in backend.input_hw), max_batch=int(backend.max_batch),
        reason=backend.reason, note=backend.note, width=width, artifact=backend.artifact,
    )


def _create(
    backend: str, weights: str | None, device: str, input_hw: tuple[int, int] | None, fp16: bool | None,
    engines_dir: str | None, precision: str,
) -> PoseBackend:
    from rtpose.export.sidecar import default_engines_dir

    if backend not in backend_names():
        raise RtposeError(f"Unknown backend={backend!r}; choose one of {', '.join(backend_names())}.")
    from rtpose.runtime.openvino_runtime import PRECISIONS

    if precision not in PRECISIONS:
        raise RtposeError(f"Unknown precision={precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if precision == "bf16" and backend not in ("auto", "openvino"):
        raise RtposeError(
            f"precision='bf16' runs on OpenVINO only; use backend='openvino' (or 'auto'), not {backend!r}."
        )
    if precision == "fp32" and fp16 is None:
        fp16 = False
    from rtpose.weights.pose import trained_input_hw
    from rtpose.weights.registry import resolve_weights

    path = resolve_weights(weights)
    engines = Path(engines_dir) if engines_dir is not None else default_engines_dir()
    suffix = path.suffix.lower()

    runners = [spec for spec in BACKENDS.values() if suffix in spec.file_suffixes]
    if runners and precision == "bf16":  # a precision only OpenVINO has
        runners = [spec for spec in runners if spec.name == "openvino"]
        if not runners:
            raise RtposeError(f"{path.name} is not an ONNX file; precision='bf16' runs on OpenVINO only.")
    if runners:  # an exported file: only the backends that run it directly
        kind = runners[0].file_kind
        if backend == "auto":
            asked = "precision='bf16'; " if precision == "bf16" else ""
            spec, reason = runners[0], f"{asked}the weights are {kind} ({path.name})"
        elif backend in (r.name for r in runners):
            spec = BACKENDS[backend]
            reason = f"requested with backend={backend!r}; the weights are {kind} ({path.name})"
        else:
            which = " or ".join(f"backend={r.name!r}" for r in runners)
            hint = "pass the checkpoint instead"
            if backend == "tensorrt":
                hint = "build an engine with 'rtpose build-engine --onnx FILE'"
            raise RtposeError(f"{path.name} is {kind}, which only {which} runs directly (or auto); {hint}.")
        result = spec.from_file(Request(path, device, None, fp16, engines, precision))
        note = result.note
        result.reason = reason + (f"; {note}" if note else "")
        return _fixed_size(result, input_hw, path)

    if input_hw is None:
        input_hw = trained_input_hw(path) or DEFAULT_INPUT_HW
    if backend != "auto":
        result = BACKENDS[backend].from_checkpoint(Request(path, device, input_hw, fp16, engines, precision))
        note = result.note
        result.reason = f"requested with backend={backend!r}" + (f"; {note}" if note else "")
        return result
    return _auto(path, device, input_hw, fp16, engines, precision)


def _auto(
    path: Path, device: str, input_hw: tuple[int, int], fp16: bool | None, engines: Path, precision: str = "auto"
) -> PoseBackend:
    no_engine = ""
    gpu_failed = ""
    if precision == "bf16":  # an OpenVINO CPU precision: straight to the CPU
        device = "cpu"
    if not _wants_cpu(device):
        from rtpose.runtime.tensorrt_runtime import tensorrt_available

        if tensorrt_available():
            # A failing lookup or load (bad cuda:N, a CUDA error, an unreadable engine) falls through to the
            # next backend, and the reason says what happened.
            try:
                engine, no_engine = _matching_engine(path, device, input_hw, engines)
                if engine is not None:
                    result = _tensorrt_from_engine(engine, device)
                    result.reason = f"auto: a TensorRT engine built for this GPU and these weights ({engine.name})"
                    return result
            except (RtposeError, RuntimeError, OSError) as exc:
                no_engine = f"the TensorRT engine lookup failed: {exception_gist(exc)}"
        else:
            no_engine = "TensorRT is not installed"
        if _cuda_available():
            try:
                result = _torch(path, device, input_hw, True if fp16 is None else fp16)
            except (RuntimeError, ValueError) as exc:  # e.g. an invalid device ordinal
                gpu_failed = f"PyTorch could not use {device} ({exception_gist(exc)}), so "
            else:
                result.reason = (
                    f"auto: PyTorch on CUDA because no TensorRT engine can be used ({no_engine.rstrip('.')})"
                )
                return result
    gpu = "CPU requested" if _wants_cpu(device) else (gpu_failed + "the CPU" if gpu_failed else "no CUDA GPU")
    if precision == "bf16":
        gpu = "precision='bf16'"
    if no_engine.startswith("the TensorRT engine lookup failed"):
        gpu = f"{no_engine}; {gpu}"
    from rtpose.runtime.openvino_runtime import openvino_available

    if PREFER_OPENVINO_ON_CPU and openvino_available():
        from rtpose.export.pose_onnx import ensure_onnx

        result = _openvino_from_onnx(ensure_onnx(path, input_hw=input_hw, out_dir=engines), precision)
        result.reason = f"auto: {gpu}; {OPENVINO_MEASUREMENT}; {result.precision_note}"
        return result
    if precision == "bf16":
        raise RtposeError("precision='bf16' needs OpenVINO (pip install \"rtpose[openvino]\"), which is not installed.")
    try:
        result = _onnxruntime(path, "cpu", input_hw, False, engines)
    except ImportError:
        result = _torch(path, "cpu", input_hw, False)
        result.reason = "auto: no GPU and onnxruntime is not installed, so PyTorch on the CPU"
        return result
    result.reason = f"auto: {gpu}; {CPU_MEASUREMENT}"
    return result


def _fixed_size(backend: PoseBackend, input_hw: tuple[int, int] | None, path: Path) -> PoseBackend:
    """An exported model has the input size it was exported with: refuse a different ``--input-size``."""
    if input_hw is not None and tuple(input_hw) != tuple(backend.input_hw):
        backend.close()
        have, want = "x".join(map(str, backend.input_hw)), "x".join(map(str, input_hw))
        raise RtposeError(
            f"{path.name} was exported for {have} inputs, not input_size={tuple(input_hw)}; leave out input_size=, "
            f"or export the checkpoint again at {want}."
        )
    return backend


def _torch(path: Path, device: str, input_hw: tuple[int, int], fp16: bool | None) -> PoseBackend:
    from rtpose.runtime.torch_runtime import TorchBackend
    from rtpose.weights.pose import load_pose_model

    return TorchBackend(load_pose_model(path), device=device, input_hw=input_hw, fp16=fp16)


def _onnxruntime(path: Path, device: str, input_hw: tuple[int, int], fp16: bool | None, engines: Path) -> PoseBackend:
    import onnxruntime  # noqa: F401  (ImportError → caller falls back)

    from rtpose.export.pose_onnx import ensure_onnx
    from rtpose.runtime.onnxruntime_runtime import OnnxRuntimeBackend

    onnx_path = ensure_onnx(path, input_hw=input_hw, fp16=bool(fp16), out_dir=engines)
    return OnnxRuntimeBackend(onnx_path, device=device)


def _triton(server: str | None, weights: Path | None, input_hw: tuple[int, int] | None) -> PoseBackend:
    from rtpose.runtime.triton_runtime import TritonBackend

    sha = None
    if weights is not None and weights.is_file() and weights.suffix.lower() in (".pth", ".pt", ".bin"):
        from rtpose.utils.hashing import file_sha256

        sha = file_sha256(weights)
    return TritonBackend(server, input_hw=input_hw, weights_sha256=sha)


def _openvino_from_onnx(onnx_path: Path, precision: str = "auto") -> PoseBackend:
    from rtpose.runtime.openvino_runtime import OpenVinoBackend

    return OpenVinoBackend(onnx_path, precision=precision)


def _tensorrt_from_engine(engine: Path, device: str) -> PoseBackend:
    from rtpose.runtime.tensorrt_runtime import TensorRTBackend

    return TensorRTBackend(engine, device=device)


def _matching_engine(path: Path, device: str, input_hw: tuple[int, int], engines: Path) -> tuple[Path | None, str]:
    """``(engine, "")`` for a fitting engine in ``engines``, else ``(None, one sentence saying what to do)``."""
    from rtpose.export.sidecar import size_text
    from rtpose.export.tensorrt import find_engine
    from rtpose.runtime.tensorrt_runtime import cuda_index, gpu_info, import_tensorrt
    from rtpose.utils.hashing import file_sha256

    trt = import_tensorrt()
    gpu_name, capability = gpu_info(cuda_index(device))
    engine = find_engine(engines, file_sha256(path), input_hw, trt.__version__, gpu_name, capability)
    if engine is not None:
        return engine, ""
    return None, (
        f"No TensorRT engine in {engines} fits {path.name} at {size_text(input_hw)} on {gpu_name} with TensorRT "
        f"{trt.__version__}; build one with 'rtpose build-engine --fp16 --weights {path} "
        f"--input-size {size_text(input_hw)} --out {engines}'."
    )


__all__ = ["BACKENDS", "BackendSpec", "CPU_MEASUREMENT", "Request", "available_backends", "backend_names",
           "create_backend", "describe"]
