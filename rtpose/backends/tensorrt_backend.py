"""TensorRT backend: a serialized engine run with the name-based I/O API of TensorRT 10/11.

TensorRT and pycuda are imported here only, and only when an engine is loaded. Page-locked host
buffers and device buffers are sized once for the engine's largest batch; each call copies the batch
in on one CUDA stream, sets the input shape, runs ``execute_async_v3`` and copies the heatmaps out.
Batches larger than the engine's maximum are split by the caller
(:meth:`rtpose.estimator.TopDownEstimator.run_backend`).

Before deserialising, the engine's sidecar is checked against the running TensorRT version and GPU
(:func:`rtpose.backends.sidecar.check_engine`): a mismatch is one sentence with the rebuild command.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.sidecar import check_engine, read_sidecar, rebuild_command
from rtpose.errors import EngineError

INSTALL_HINT = (
    'TensorRT is not installed: on a machine with an NVIDIA GPU and its driver, run pip install "rtpose[trt]" '
    "(TensorRT and pycuda)."
)


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or EngineError with the one-sentence install hint."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EngineError(INSTALL_HINT) from None
    return trt


def import_pycuda() -> Any:
    """``pycuda.driver`` (initialised), or EngineError saying how to install it / that no GPU is usable."""
    try:
        import pycuda.driver as cuda
    except ImportError:
        raise EngineError(INSTALL_HINT.replace("TensorRT is not installed", "pycuda is not installed")) from None
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:  # pycuda.driver.Error and friends
        raise EngineError(f"No usable NVIDIA GPU for TensorRT ({str(exc).strip()[:160]}).") from None
    if count == 0:
        raise EngineError("TensorRT needs an NVIDIA GPU, and CUDA finds none on this machine.")
    return cuda


def tensorrt_available() -> bool:
    """True when TensorRT and pycuda import and CUDA sees a GPU (cheap enough for ``--backend auto``)."""
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None or importlib.util.find_spec("pycuda") is None:
        return False
    try:
        import_tensorrt()
        import_pycuda()
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
    """``(name, compute capability "M.m")`` of CUDA device ``index`` (through pycuda)."""
    cuda = import_pycuda()
    if index >= cuda.Device.count():
        raise EngineError(f"There is no CUDA device {index} (found {cuda.Device.count()}).")
    dev = cuda.Device(index)
    major, minor = dev.compute_capability()
    return str(dev.name()), f"{major}.{minor}"


class TensorRTBackend:
    """Runs a TensorRT engine built by ``rtpose build-engine``.

    Args:
        engine_path: the ``.engine`` file (its ``.engine.json`` sidecar must sit next to it).
        device: "auto", "cuda" or "cuda:N".
        input_hw: required input size, or None to take the engine's.
        weights_sha256: required weights, or None to accept the engine's.
    """

    name = "tensorrt"

    def __init__(
        self,
        engine_path: str | os.PathLike,
        device: str = "auto",
        input_hw: tuple[int, int] | None = None,
        weights_sha256: str | None = None,
    ) -> None:
        trt = import_tensorrt()
        cuda = import_pycuda()
        self.engine_path = Path(engine_path)
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
        self._cuda = cuda
        self._lock = threading.Lock()
        # The primary context is the one PyTorch uses too, so a detector on the same GPU shares it.
        self._context = cuda.Device(index).retain_primary_context()
        self._context.push()
        try:
            self._setup(trt, cuda)
        finally:
            self._context.pop()
        self.precision = str(self.meta.get("precision", "fp16"))
        self.device = f"cuda:{index} ({gpu_name}) {self.precision}, TensorRT {trt.__version__}"

    def _setup(self, trt: Any, cuda: Any) -> None:
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise EngineError(
                f"TensorRT could not deserialise {self.engine_path}; rebuild it with "
                f"'{rebuild_command(self.meta, self.engine_path.parent)}'."
            )
        self.execution = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or not outputs:
            raise EngineError(f"{self.engine_path} is not an rtpose pose engine (inputs {inputs}, outputs {outputs}).")
        self.input_name = inputs[0]
        self.output_name = "heatmaps" if "heatmaps" in outputs else outputs[0]
        _, _, max_shape = self.engine.get_tensor_profile_shape(self.input_name, 0)
        max_shape = tuple(int(v) for v in max_shape)
        self.max_batch = max_shape[0]
        self.input_hw = (max_shape[2], max_shape[3])
        self.execution.set_input_shape(self.input_name, max_shape)
        self.stream = cuda.Stream()
        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, Any] = {}
        self._item_shape: dict[str, tuple[int, ...]] = {}
        for name in names:
            shape = tuple(int(v) for v in self.execution.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            host = cuda.pagelocked_empty(int(np.prod(shape)), dtype)
            device_buffer = cuda.mem_alloc(max(host.nbytes, 1))
            self._host[name], self._device[name] = host, device_buffer
            self._item_shape[name] = shape[1:]
            self.execution.set_tensor_address(name, int(device_buffer))

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 heatmaps ``(N, K, H/4, W/4)``, N ≤ ``max_batch``."""
        batch = np.asarray(batch)
        n = len(batch)
        if n > self.max_batch:
            raise ValueError(f"batch {n} exceeds the engine's maximum {self.max_batch}; split it.")
        item = self._item_shape[self.input_name]
        if tuple(batch.shape[1:]) != item:
            raise ValueError(f"expected crops of shape {item}, got {tuple(batch.shape[1:])}")
        if n == 0:
            return np.zeros((0, *self._item_shape[self.output_name]), np.float32)
        cuda = self._cuda
        with self._lock:
            self._context.push()
            try:
                host_in = self._host[self.input_name][: n * int(np.prod(item))].reshape(n, *item)
                np.copyto(host_in, batch, casting="same_kind")
                self.execution.set_input_shape(self.input_name, (n, *item))
                cuda.memcpy_htod_async(self._device[self.input_name], host_in, self.stream)
                if not self.execution.execute_async_v3(self.stream.handle):
                    raise EngineError(f"TensorRT failed to run {self.engine_path.name} on a batch of {n}.")
                out_shape = tuple(int(v) for v in self.execution.get_tensor_shape(self.output_name))
                host_out = self._host[self.output_name][: int(np.prod(out_shape))]
                cuda.memcpy_dtoh_async(host_out, self._device[self.output_name], self.stream)
                self.stream.synchronize()
                return host_out.reshape(out_shape).astype(np.float32, copy=True)
            finally:
                self._context.pop()

    def close(self) -> None:
        """Free the device buffers and the engine (also done when the object is collected)."""
        context = getattr(self, "_context", None)
        if context is None:
            return
        context.push()
        try:
            for buffer in getattr(self, "_device", {}).values():
                buffer.free()
            self._device = {}
            self.execution = self.engine = self.runtime = None
        finally:
            context.pop()
            context.detach()
            self._context = None
