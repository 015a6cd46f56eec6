"""TensorRT runtime (pose and segmentation): a serialized engine run with TensorRT 10/11's name-based I/O API
on torch CUDA memory.

TensorRT is imported here only, and only when an engine is loaded. There is no pycuda: PyTorch
already owns the GPU's primary CUDA context, and TensorRT (which uses the CUDA runtime) works in that
same context. Device buffers are torch tensors sized once for the profile's largest input and bound
once with ``set_tensor_address(name, tensor.data_ptr())``; host staging buffers are pinned torch
tensors; each call runs ``execute_async_v3`` on the runtime's own torch CUDA stream, ordered after
(and before) the caller's current stream, so it works from any thread. :meth:`TensorRTBackend.close`
(or garbage collection) releases the execution context, the engine and the buffers, from any thread.

Batches larger than the engine's maximum are split by :func:`rtpose.runtime.base.run_batched`. Before
deserialising, the engine's sidecar is checked against the running TensorRT version and GPU
(:func:`rtpose.export.sidecar.check_engine`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.errors import EngineError, exception_gist
from rtpose.export.sidecar import check_engine, read_sidecar, rebuild_command
from rtpose.runtime.base import Runtime, output_name

#: ``[trt]`` extras of rtpose, by the CUDA major version torch was built with.
TRT_EXTRAS = {"12": "trt-cu12", "13": "trt-cu13"}


def torch_cuda_major() -> str | None:
    """The CUDA major version torch was built with ("12", "13"), or None for a CPU-only torch."""
    import torch

    version = torch.version.cuda
    return version.split(".")[0] if version else None


def installed_tensorrt_cuda() -> str | None:
    """The CUDA major version of the installed TensorRT wheels (``tensorrt-cu12`` → "12"), or None."""
    for major in sorted(TRT_EXTRAS, reverse=True):
        for dist in (f"tensorrt-cu{major}", f"tensorrt_cu{major}", f"tensorrt-cu{major}-libs"):
            try:
                importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
            return major
    return None


def trt_extra(cuda_major: str | None = None) -> str | None:
    """The ``[trt]`` extra that fits torch's CUDA (``"trt-cu12"``/``"trt-cu13"``), None for a CPU-only torch."""
    cuda_major = torch_cuda_major() if cuda_major is None else cuda_major
    if cuda_major is None:
        return None
    return TRT_EXTRAS.get(cuda_major, f"trt-cu{cuda_major} (rtpose has no such extra yet)")


def trt_extra_problem(torch_cuda: str | None = None, tensorrt_cuda: str | None = None) -> str | None:
    """One sentence when the installed TensorRT wheels are for another CUDA than torch's, else None."""
    torch_cuda = torch_cuda_major() if torch_cuda is None else torch_cuda
    tensorrt_cuda = installed_tensorrt_cuda() if tensorrt_cuda is None else tensorrt_cuda
    if torch_cuda is None or tensorrt_cuda is None or torch_cuda == tensorrt_cuda:
        return None
    return (
        f"TensorRT is installed for CUDA {tensorrt_cuda} but torch was built for CUDA {torch_cuda}; "
        f"uninstall tensorrt-cu{tensorrt_cuda} and run pip install \"rtpose[{trt_extra(torch_cuda)}]\"."
    )


def install_hint() -> str:
    """How to install TensorRT so that it matches torch's CUDA (one sentence)."""
    extra = trt_extra()
    if extra is None:
        return (
            "TensorRT is not installed, and this torch is built without CUDA: install a CUDA build of torch on "
            'a machine with an NVIDIA GPU, then pip install "rtpose[trt-cu12]" or "rtpose[trt-cu13]" to match it.'
        )
    return (
        f'TensorRT is not installed: on a machine with an NVIDIA GPU and its driver, run pip install "rtpose[{extra}]" '
        f"(TensorRT for the CUDA {torch_cuda_major()} this torch was built with)."
    )


INSTALL_HINT = install_hint()


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or EngineError with the one-sentence install hint."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EngineError(INSTALL_HINT) from None
    except OSError as exc:  # a wheel whose CUDA libraries cannot load
        problem = trt_extra_problem()
        raise EngineError(problem or f"TensorRT is installed but cannot load ({exception_gist(exc)}).") from None
    return trt


def tensorrt_available() -> bool:
    """True when TensorRT imports and torch sees a CUDA GPU (cheap enough for ``--backend auto``)."""
    if importlib.util.find_spec("tensorrt") is None:
        return False
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        import_tensorrt()
    except EngineError:
        return False
    return True


def cuda_index(device: str) -> int:
    """"auto" / "cuda" → 0, "cuda:N" → N; EngineError for a CPU device."""
    if device in ("auto", "cuda"):
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise EngineError(f"TensorRT runs on an NVIDIA GPU, not on {device!r}: use --device cuda or another backend.")


def gpu_info(index: int = 0) -> tuple[str, str]:
    """``(name, compute capability "M.m")`` of CUDA device ``index`` (through torch)."""
    import torch

    if not torch.cuda.is_available():
        raise EngineError("TensorRT needs an NVIDIA GPU, and CUDA (through torch) finds none on this machine.")
    count = torch.cuda.device_count()
    if index >= count:
        raise EngineError(f"There is no CUDA device {index} (found {count}).")
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


def _torch_dtype(trt: Any, dtype: Any) -> Any:
    import torch

    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.INT32: torch.int32}
    if dtype not in table:
        raise EngineError(f"rtpose engines have float32/float16 I/O, this one has {dtype}; rebuild it.")
    return table[dtype]


def check_trt(ok: Any, what: str) -> None:
    """TensorRT reports failure by a False/None return value: turn it into one sentence."""
    if ok is None or ok is False:
        raise EngineError(f"TensorRT failed to {what} (see TensorRT's message above).")


def open_engine(trt: Any, path: Path, remedy: str) -> tuple[Any, Any, Any, Any, list[str], list[str], list[str]]:
    """A serialised engine file opened: ``(logger, runtime, engine, execution context, tensor names, input names,
    output names)``; ``remedy`` ends the sentence when TensorRT cannot deserialise it."""
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    check_trt(runtime, "create a runtime")
    engine = runtime.deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        raise EngineError(f"TensorRT could not deserialise {path}; {remedy}.")
    execution = engine.create_execution_context()
    check_trt(execution, f"create an execution context for {path.name} (out of GPU memory?)")
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    return logger, runtime, engine, execution, names, inputs, outputs


def shape_problem(shape: tuple[int, ...], profile: tuple[tuple[int, ...], ...]) -> str | None:
    """One sentence (lower case, no full stop) when ``shape`` lies outside an engine profile's ``(min, opt, max)``
    on some axis, else None."""
    low, _, high = profile
    if len(shape) != len(low) or any(not lo <= v <= hi for v, lo, hi in zip(shape, low, high)):
        return f"the TensorRT engine takes inputs from {tuple(low)} to {tuple(high)}, not {tuple(shape)}"
    return None


class TensorRTBackend(Runtime):
    """Runs a TensorRT engine built by rtpose (``rtpose build-engine``, or a segmentation engine built on first use).

    Args:
        engine_path: the ``.engine`` file (its ``.engine.json`` sidecar must sit next to it).
        device: "auto", "cuda" or "cuda:N".
        input_hw: required input size, or None to take the engine's.
        weights_sha256: required weights, or None to accept the engine's.

    Any input shape within the engine's optimisation profile runs: a batch of fixed-size crops, or a frame whose
    height and width vary from call to call. One flat device buffer per tensor, as large as the profile's largest
    shape, is bound once; each call sets the input shape and uses the start of each buffer. Calls from several
    threads take turns on the one execution context.
    """

    name = "tensorrt"

    def __init__(
        self,
        engine_path: str | os.PathLike,
        device: str = "auto",
        input_hw: tuple[int, int] | None = None,
        weights_sha256: str | None = None,
    ) -> None:
        import torch

        trt = import_tensorrt()
        self.engine_path = self.artifact = Path(engine_path)
        if not self.engine_path.is_file():
            raise EngineError(
                f"TensorRT engine {self.engine_path} does not exist; build one with 'rtpose build-engine'."
            )
        index = cuda_index(device)
        gpu_name, capability = gpu_info(index)
        self.meta = read_sidecar(self.engine_path)
        check_engine(
            self.meta,
            tensorrt_version=trt.__version__,
            gpu_name=gpu_name,
            compute_capability=capability,
            input_hw=input_hw,
            weights_sha256=weights_sha256,
            engine=self.engine_path,
        )
        self.torch_device = torch.device("cuda", index)
        self._lock = threading.Lock()
        with torch.cuda.device(self.torch_device):
            self._setup(trt, torch)
        self.precision = str(self.meta.get("precision", "fp16"))
        self.device = f"cuda:{index} ({gpu_name}) {self.precision}, TensorRT {trt.__version__}"

    def _setup(self, trt: Any, torch: Any) -> None:
        if self.meta.get("kind") == "segmentation":
            remedy = "delete it and it is built again"
        else:
            remedy = f"rebuild it with '{rebuild_command(self.meta, self.engine_path.parent)}'"
        self.logger, self.runtime, self.engine, self.execution, names, inputs, outputs = open_engine(
            trt, self.engine_path, remedy)
        if len(inputs) != 1 or not outputs:
            raise EngineError(f"{self.engine_path} is not an rtpose engine (inputs {inputs}, outputs {outputs}).")
        self.input_name = inputs[0]
        self.output_name = output_name(outputs)
        self.profile = tuple(tuple(int(v) for v in shape)
                             for shape in self.engine.get_tensor_profile_shape(self.input_name, 0))
        high = self.profile[2]
        self.max_batch = high[0]
        self.input_hw = (high[2], high[3]) if self.profile[0][2:] == high[2:] else None
        self.io_shapes = (f"{self.input_name} {list(high)}", self.output_name, len(high) == 4)
        check_trt(self.execution.set_input_shape(self.input_name, high), f"set the input shape {high}")
        self.stream = torch.cuda.Stream(self.torch_device)
        self._buffers: dict[str, Any] = {}
        for name in names:
            numel = math.prod(int(v) for v in self.execution.get_tensor_shape(name))
            dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(name))
            self._buffers[name] = torch.empty(numel, dtype=dtype, device=self.torch_device)
            check_trt(self.execution.set_tensor_address(name, self._buffers[name].data_ptr()), f"bind {name!r}")
        self._host_in = torch.empty(self._buffers[self.input_name].numel(), dtype=torch.float32).pin_memory()
        out = self._buffers[self.output_name]
        self._host_out = torch.empty(out.numel(), dtype=out.dtype).pin_memory()

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        problem = shape_problem(shape, self.profile)
        if problem:
            raise EngineError(f"{self.engine_path.name}: {problem}.")

    def _run(self, batch: Any) -> Any:
        """Run the engine on a device batch on the runtime's stream (after the caller's); a view of the output."""
        import torch

        shape = tuple(int(v) for v in batch.shape)
        caller = torch.cuda.current_stream(self.torch_device)
        self.stream.wait_stream(caller)  # the batch was written on the caller's stream
        with torch.cuda.stream(self.stream):
            bound = self._buffers[self.input_name][: batch.numel()].view(shape)
            if batch.data_ptr() != bound.data_ptr():
                bound.copy_(batch, non_blocking=True)
            check_trt(self.execution.set_input_shape(self.input_name, shape), f"set the input shape {shape}")
            check_trt(self.execution.execute_async_v3(self.stream.cuda_stream),
                      f"run {self.engine_path.name} on {shape}")
        out_shape = tuple(int(v) for v in self.execution.get_tensor_shape(self.output_name))
        return self._buffers[self.output_name][: math.prod(out_shape)].view(out_shape)

    def _empty(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for a batch of 0 items of ``shape[1:]``."""
        one = (1, *shape[1:])
        self._check_shape(one)
        check_trt(self.execution.set_input_shape(self.input_name, one), f"set the input shape {one}")
        return (0, *(int(v) for v in self.execution.get_tensor_shape(self.output_name)[1:]))

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` within the profile → float32 maps ``(N, C, ceil(H/4), ceil(W/4))``."""
        import torch

        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock, torch.cuda.device(self.torch_device):
            self._check_open()
            if len(batch) == 0:
                return np.zeros(self._empty(batch.shape), np.float32)
            self._check_shape(batch.shape)
            host_in = self._host_in[: batch.size].view(batch.shape)
            host_in.numpy()[...] = batch
            with torch.cuda.stream(self.stream):
                device_in = self._buffers[self.input_name][: batch.size].view(batch.shape)
                device_in.copy_(host_in, non_blocking=True)
            out = self._run(device_in)
            with torch.cuda.stream(self.stream):
                host_out = self._host_out[: out.numel()].view(out.shape)
                host_out.copy_(out, non_blocking=True)
            self.stream.synchronize()
            return host_out.numpy().astype(np.float32, copy=True)

    def infer_device(self, batch: Any) -> Any:
        """float32 ``(N, 3, H, W)`` (a CUDA tensor, or a numpy array) → float32 maps on the same device.

        Ordered on the caller's current CUDA stream: no host synchronisation here.
        """
        import torch

        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).pin_memory()
        with self._lock, torch.cuda.device(self.torch_device):
            self._check_open()
            if batch.shape[0] == 0:
                return torch.zeros(self._empty(tuple(batch.shape)), device=self.torch_device)
            self._check_shape(tuple(batch.shape))
            out = self._run(batch.to(self.torch_device, torch.float32, non_blocking=True))
            caller = torch.cuda.current_stream(self.torch_device)
            caller.wait_stream(self.stream)
            # The bound output buffer is reused by the next call: hand out a copy made on the caller's stream,
            # and let the next run (on the runtime's stream) wait for that copy.
            result = out.float().clone()
            self.stream.wait_stream(caller)
            return result

    def _check_open(self) -> None:
        if getattr(self, "execution", None) is None:
            raise EngineError(f"The TensorRT runtime for {self.engine_path.name} is closed.")

    def close(self) -> None:
        """Release the execution context, engine, runtime and buffers (any thread; idempotent)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            stream = getattr(self, "stream", None)
            if stream is not None:
                stream.synchronize()
            # Order matters: the context before the engine before the runtime.
            self.execution = None
            self.engine = None
            self.runtime = None
            self._buffers = {}
            self._host_in = self._host_out = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown there is nothing useful to report
            self.close()
