"""OpenVINO runtime (optional): an exported ONNX graph (pose or segmentation) on Intel/AMD CPUs through OpenVINO.

Only used when the ``openvino`` package is installed (``pip install openvino``); nothing else in
rtpose imports it.

Inference precision is chosen explicitly, never left to OpenVINO's default:

- ``fp32``: results match the other FP32 backends (:data:`rtpose.export.pose_onnx.FP32_ATOL`).
- ``bf16``: weights and activations in bfloat16, accumulation in float32, on CPUs that report
  ``BF16`` in ``OPTIMIZATION_CAPABILITIES`` (AVX-512 BF16 or AMX); several times FP32's crops/s there
  (``benchmarks/backends.py``; measurements in ``docs/benchmarks.md``). Checked against PyTorch FP32 with
  :func:`bf16_compare` (the BF16 rule).
- ``auto``: ``bf16`` where the CPU has it, else ``fp32``.

One compiled model serves every thread: each call runs on an infer request of its own (:class:`InferRequestPool`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.errors import EngineError, exception_gist
from rtpose.runtime.base import UNLIMITED_BATCH, Runtime
from rtpose.runtime.onnxruntime_runtime import cpu_threads

PRECISIONS = ("auto", "fp32", "bf16")

#: BF16: largest absolute heatmap difference allowed, as a fraction of the largest |heatmap| value.
#: bfloat16 keeps 8 significant bits (float16: 11), so 4x the FP16 rule's 1%; measured 1.9% on the
#: reference crops with the reference W32 weights.
BF16_RTOL = 4e-2
#: BF16: share of the keypoints with the same integer maximum whose DARK-refined positions agree
#: within 0.25 heatmap px (1 input px); measured 98% on the reference crops.
BF16_SHARE_WITHIN = 0.95
BF16_WITHIN_PX = 0.25
#: BF16: largest shift of a keypoint whose integer maximum is the same (as for FP16).
BF16_SAME_ARGMAX_TOL = 1.5


def openvino_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def cpu_has_bf16(core=None) -> bool:
    """True when OpenVINO's CPU plugin reports native BF16 (``OPTIMIZATION_CAPABILITIES``)."""
    if core is None:
        import openvino as ov

        core = ov.Core()
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # an old or odd CPU plugin: treat as no BF16
        return False


def resolve_precision(precision: str, has_bf16: bool) -> str:
    """``auto`` → ``bf16`` where the CPU has BF16, else ``fp32``; ``bf16`` without it is one sentence."""
    if precision not in PRECISIONS:
        raise EngineError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        return "bf16" if has_bf16 else "fp32"
    if precision == "bf16" and not has_bf16:
        raise EngineError("--precision bf16: this CPU has no native BF16 (OpenVINO's OPTIMIZATION_CAPABILITIES "
                          "lacks BF16; it needs AVX-512 BF16 or AMX); use --precision fp32 or auto.")
    return precision


def bf16_compare(reference: np.ndarray, other: np.ndarray, input_hw: tuple[int, int]) -> tuple[bool, dict, str]:
    """The BF16 rule: ``(passed, differences, rule text)`` for heatmaps of the same crops.

    ``reference``: PyTorch FP32 heatmaps ``(N, K, h, w)``; ``other``: the BF16 backend's. Passes with
    max |Δheatmap| < ``BF16_RTOL`` × max |heatmap|; the same integer maxima except where a heatmap has
    two peaks equal within that tolerance; of the keypoints with the same maximum, at least
    ``BF16_SHARE_WITHIN`` within ``BF16_WITHIN_PX`` heatmap px after DARK and none further than
    ``BF16_SAME_ARGMAX_TOL``.
    """
    from rtpose.export.verify import compare_heatmaps
    from rtpose.pose.codec import HeatmapCodec

    limit = BF16_RTOL * max(float(np.abs(reference).max()), 1e-6)
    diff = compare_heatmaps(reference, other, input_hw, tie_tol=limit)
    codec = HeatmapCodec(input_hw=tuple(input_hw))
    n, k = reference.shape[:2]
    same = reference.reshape(n, k, -1).argmax(-1) == other.reshape(n, k, -1).argmax(-1)
    shift = np.linalg.norm(codec.decode(reference)[0] - codec.decode(other)[0], axis=-1)
    share = float((shift[same] < BF16_WITHIN_PX).mean()) if same.any() else 1.0
    diff[f"same_argmax_within_{BF16_WITHIN_PX:g}px"] = share
    ok = (
        diff["max_abs_diff"] < limit
        and diff["argmax_off"] == 0
        and diff["max_keypoint_diff_same_argmax"] <= BF16_SAME_ARGMAX_TOL
        and share >= BF16_SHARE_WITHIN
    )
    rule = (
        f"max |Δheatmap| < {BF16_RTOL:g} × max |heatmap| ({limit:.3g}); same argmax unless two peaks are equal within "
        f"that; {BF16_SHARE_WITHIN:.0%} of same-argmax keypoints within {BF16_WITHIN_PX:g} px"
    )
    return bool(ok), diff, rule


def compile_onnx(onnx_path: str | os.PathLike, threads: int | None = None, hint: str = "LATENCY",
                 precision: str = "fp32") -> tuple[Any, Any, str, bool, int]:
    """OpenVINO's CPU model of an ONNX file: ``(compiled, model, precision, has_bf16, threads)``.

    ``precision`` ("fp32", "bf16", "auto") is resolved with :func:`resolve_precision` (an FP16 graph keeps its
    own); ``threads`` defaults to every core this process may use. Shared by the pose backend and the
    segmentation runtimes.
    """
    try:
        import openvino as ov
    except ImportError:
        raise EngineError("OpenVINO is not installed: pip install openvino (CPU only, optional).") from None
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise EngineError(f"ONNX file {onnx_path} does not exist; create it with 'rtpose export-onnx'.")
    threads = threads or cpu_threads()
    core = ov.Core()
    has_bf16 = cpu_has_bf16(core)
    from rtpose.export.onnx_graph import onnx_precision

    graph_precision = onnx_precision(onnx_path)
    precision = resolve_precision(precision, has_bf16)
    if graph_precision != "fp32":  # an FP16 graph keeps its own precision
        precision = graph_precision
    try:
        model = core.read_model(str(onnx_path))
        compiled = core.compile_model(
            model,
            "CPU",
            {
                "PERFORMANCE_HINT": hint,
                "INFERENCE_NUM_THREADS": threads,
                "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            },
        )
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long texts
        first = exception_gist(exc, 200)
        raise EngineError(f"OpenVINO cannot load {onnx_path} ({first}); re-export it.") from None
    return compiled, model, precision, has_bf16, threads


def precision_note(precision: str, has_bf16: bool) -> str:
    """Why this OpenVINO inference precision, for the start-up line."""
    if precision == "bf16":
        return "bf16 inference precision: this CPU has native BF16 (--precision fp32 turns it off)"
    if has_bf16:
        return "fp32 inference precision as asked (this CPU also has native BF16)"
    return "fp32 inference precision: this CPU has no native BF16"


def openvino_version() -> str:
    """The installed OpenVINO's version without its build suffix ("2026.4.1")."""
    import openvino as ov

    return ov.__version__.split("-")[0]


class InferRequestPool:
    """OpenVINO infer requests of one compiled model, one per concurrent call.

    An infer request runs one inference at a time ("Infer Request is busy" otherwise); the compiled model itself
    may run several. A caller takes an idle request (a new one when every request is busy), runs it and gives it
    back, so callers on different threads run side by side on the compiled model's CPU streams and never share a
    request. The pool grows to the largest number of calls that ran at once, and no further.
    """

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self._idle: list[Any] = [compiled.create_infer_request()]
        self._lock = threading.Lock()
        self.created = 1

    @contextlib.contextmanager
    def request(self) -> Iterator[Any]:
        """An infer request of this caller's own for the ``with`` block."""
        with self._lock:
            if self.compiled is None:
                raise EngineError("The OpenVINO runtime is closed.")
            if self._idle:
                request = self._idle.pop()
            else:
                request = self.compiled.create_infer_request()
                self.created += 1
        try:
            yield request
        finally:
            with self._lock:
                if self.compiled is not None:
                    self._idle.append(request)

    def close(self) -> None:
        """Drop the idle requests and the compiled model (requests still running finish, then go)."""
        with self._lock:
            self._idle.clear()
            self.compiled = None


class OpenVinoBackend(Runtime):
    """Runs an rtpose ONNX file (pose or segmentation) with OpenVINO on the CPU.

    Args:
        onnx_path: the exported ONNX file (a fixed H and W, or a dynamic one: compiled as it is).
        threads: inference threads (default: every core this process may use).
        hint: OpenVINO performance hint, "LATENCY" (default; best for one frame's batch) or "THROUGHPUT".
        precision: inference precision, "fp32" (default), "bf16" or "auto" (see the module docstring).

    Safe to share between threads: each call runs on an infer request of its own (:class:`InferRequestPool`).
    """

    name = "openvino"

    def __init__(
        self,
        onnx_path: str | os.PathLike,
        threads: int | None = None,
        hint: str = "LATENCY",
        precision: str = "fp32",
    ) -> None:
        self.onnx_path = self.artifact = Path(onnx_path)
        compiled, model, self.precision, self.has_bf16, self.threads = compile_onnx(
            self.onnx_path, threads, hint, precision)
        self.requests = InferRequestPool(compiled)
        shape = model.inputs[0].get_partial_shape()
        output_shape = model.outputs[0].get_partial_shape()
        self.io_shapes = (f"{model.inputs[0].get_any_name()} {shape}" + (" and more inputs" if len(model.inputs) > 1
                                                                        else ""),
                          f"{model.outputs[0].get_any_name()} {output_shape}",
                          len(model.inputs) == 1 and shape.rank.get_length() == 4 and len(output_shape) == 4)
        fixed = shape.rank.get_length() == 4 and shape[2].is_static and shape[3].is_static
        self.input_hw = (shape[2].get_length(), shape[3].get_length()) if fixed else None
        self.max_batch = UNLIMITED_BATCH
        self.device = f"cpu (OpenVINO {openvino_version()}, {self.threads} threads) {self.precision}"

    @property
    def note(self) -> str:
        """What the start-up line adds about this runtime (its precision, and why)."""
        return self.precision_note

    @property
    def precision_note(self) -> str:
        """Why this precision, for the start-up line."""
        return precision_note(self.precision, self.has_bf16)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 maps ``(N, C, ceil(H/4), ceil(W/4))``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self.requests.request() as request:
            request.infer({0: batch})
            return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    def close(self) -> None:
        """Release the compiled model and its infer requests."""
        self.requests.close()
