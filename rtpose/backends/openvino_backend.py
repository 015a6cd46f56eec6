"""OpenVINO backend (optional): the exported ONNX graph on Intel/AMD CPUs through OpenVINO.

Only used when the ``openvino`` package is installed (``pip install openvino``); nothing else in
rtpose imports it. Inference precision is pinned to f32 so results match the other FP32 backends
(OpenVINO would otherwise pick bf16 on CPUs with AMX/AVX512-BF16).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rtpose.backends.onnxruntime_backend import cpu_threads
from rtpose.errors import EngineError, exception_gist


def openvino_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


class OpenVinoBackend:
    """Runs an rtpose ONNX file (FP32) with OpenVINO on the CPU.

    Args:
        onnx_path: the exported ONNX file.
        threads: inference threads (default: every core this process may use).
        hint: OpenVINO performance hint, "LATENCY" (default; best for one frame's batch) or "THROUGHPUT".
    """

    name = "openvino"

    def __init__(self, onnx_path: str | os.PathLike, threads: int | None = None, hint: str = "LATENCY") -> None:
        try:
            import openvino as ov
        except ImportError:
            raise EngineError("OpenVINO is not installed: pip install openvino (CPU only, optional).") from None
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise EngineError(f"ONNX file {self.onnx_path} does not exist; create it with 'rtpose export-onnx'.")
        self.threads = threads or cpu_threads()
        core = ov.Core()
        try:
            model = core.read_model(str(self.onnx_path))
            self.compiled = core.compile_model(
                model,
                "CPU",
                {
                    "PERFORMANCE_HINT": hint,
                    "INFERENCE_NUM_THREADS": self.threads,
                    "INFERENCE_PRECISION_HINT": "f32",
                },
            )
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
            first = exception_gist(exc, 200)
            raise EngineError(f"OpenVINO cannot load {self.onnx_path} ({first}); re-export it.") from None
        self.request = self.compiled.create_infer_request()
        shape = model.inputs[0].get_partial_shape()
        self.input_hw = (shape[2].get_length(), shape[3].get_length())
        self.max_batch = 1024
        from rtpose.backends.onnx_graph import onnx_precision

        self.precision = onnx_precision(self.onnx_path)
        self.device = f"cpu (OpenVINO {ov.__version__.split('-')[0]}, {self.threads} threads) {self.precision}"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 heatmaps ``(N, K, H/4, W/4)``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self.request.infer({0: batch})
        return np.array(self.request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    def close(self) -> None:
        """Release the compiled model and its infer request."""
        self.request = self.compiled = None
