"""Segmentation on TensorRT: the engine's optimisation profile, finding or building the engine, running it.

The engine is built once per weights, mode, GPU and TensorRT version into the engines folder (from the FP16
graph of :func:`rtpose.export.seg_onnx.ensure_seg_onnx`, strongly typed, with
:func:`rtpose.export.tensorrt.build_engine`) and found again by its sidecar afterwards. Its one
optimisation profile (:func:`seg_profile`):

- ``"parts"``: square crops of the input size, batch 1…``max_batch`` (tuned for ``opt_batch``).
- ``"person"``: one frame whose short side is the input size S (the segmenter resizes it so) and whose long
  side is at most :data:`MAX_ASPECT` × S, either way round; tuned for a 16:9 landscape frame.

:class:`TensorRTSegRuntime` runs it with the TensorRT 10 tensor API on torch CUDA memory, like the pose
backend (:mod:`rtpose.runtime.tensorrt_runtime`), except that the input shape changes from call to
call: its buffers hold the profile's largest input and output, are bound once, and each call sets the
input shape and reads a view of the first elements.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.errors import EngineError, RtposeError
from rtpose.log import say

#: Whole frames up to this aspect ratio (long side / short side) fit the person-mode profile.
MAX_ASPECT = 3.0
#: The person-mode profile is tuned for frames of this aspect ratio (landscape 16:9).
OPT_ASPECT = 16 / 9
#: Most people one parts-mode call takes (more are split into several calls), and the batch it is tuned for.
DEFAULT_SEG_MAX_BATCH = 32
DEFAULT_SEG_OPT_BATCH = 8

Shape = tuple[int, int, int, int]


def seg_profile(mode: str, input_size: int, max_batch: int = DEFAULT_SEG_MAX_BATCH,
                opt_batch: int = DEFAULT_SEG_OPT_BATCH) -> tuple[Shape, Shape, Shape]:
    """The (min, opt, max) input shapes ``(N, 3, H, W)`` of a segmentation engine for ``mode``.

    ``input_size`` is the square crop side ("parts") or the frame's short side after resizing ("person").
    """
    s = int(input_size)
    if mode == "parts":
        opt = max(1, min(int(opt_batch), int(max_batch)))
        return (1, 3, s, s), (opt, 3, s, s), (int(max_batch), 3, s, s)
    if mode == "person":
        longest = int(math.ceil(s * MAX_ASPECT))
        return (1, 3, s, s), (1, 3, s, int(round(s * OPT_ASPECT))), (1, 3, longest, longest)
    raise RtposeError(f"Unknown seg={mode!r}; choose 'person' or 'parts'.")


def shape_problem(shape: tuple[int, ...], profile: tuple[Shape, Shape, Shape]) -> str | None:
    """One sentence when ``shape`` lies outside the profile's min…max on some axis, else None."""
    low, _, high = profile
    if len(shape) != 4 or any(not lo <= v <= hi for v, lo, hi in zip(shape, low, high)):
        return (f"the TensorRT segmentation engine takes inputs from {tuple(low)} to {tuple(high)}, not "
                f"{tuple(shape)} (frames wider than {MAX_ASPECT:g}:1 need seg_backend='torch' or 'onnxruntime')")
    return None


def find_seg_engine(directory: str | os.PathLike, weights_sha256: str, profile: tuple[Shape, Shape, Shape],
                    precision: str, **machine: Any) -> Path | None:
    """An engine in ``directory`` built from these weights with this profile and precision, that fits ``machine``
    (the keyword arguments of :func:`rtpose.export.sidecar.check_engine`)."""
    from rtpose.export.sidecar import engine_matches, find_artifacts

    want = [list(shape) for shape in profile]
    for path, meta in find_artifacts(directory, ".engine"):
        if (meta.get("kind") == "segmentation" and meta.get("weights_sha256") == weights_sha256
                and meta.get("profile") == want and meta.get("precision") == precision
                and engine_matches(meta, **machine)):
            return path
    return None


def ensure_seg_engine(
    weights: str | os.PathLike,
    mode: str,
    input_size: int,
    device: str = "cuda",
    engines: str | os.PathLike | None = None,
    fp16: bool = True,
    build: bool = True,
    log: Callable[[str], None] = say,
) -> tuple[Path | None, str]:
    """``(engine, "")`` for the segmentation checkpoint ``weights`` in ``mode`` on this GPU, building it once when
    ``build``; ``(None, why)`` when none fits and ``build`` is False. Needs TensorRT and a CUDA GPU."""
    from rtpose.export.seg_onnx import ensure_seg_onnx
    from rtpose.export.sidecar import artifact_lock, default_engines_dir
    from rtpose.export.tensorrt import build_engine
    from rtpose.runtime.tensorrt_runtime import cuda_index, gpu_info, import_tensorrt
    from rtpose.utils.hashing import file_sha256

    trt = import_tensorrt()
    gpu_name, capability = gpu_info(cuda_index(device))
    engines = Path(engines) if engines is not None else default_engines_dir()
    profile = seg_profile(mode, input_size)
    sha, precision = file_sha256(weights), "fp16" if fp16 else "fp32"
    machine = {"tensorrt_version": trt.__version__, "gpu_name": gpu_name, "compute_capability": capability}
    found = find_seg_engine(engines, sha, profile, precision, **machine)
    if found is not None:
        return found, ""
    if not build:
        return None, (f"no TensorRT segmentation engine in {engines} fits {Path(weights).name} ({mode}, {precision}) "
                      f"on {gpu_name} with TensorRT {trt.__version__}; seg_backend='tensorrt' builds one once")
    with artifact_lock(engines / f"seg_{sha[:12]}_{mode}_{precision}.engine"):
        found = find_seg_engine(engines, sha, profile, precision, **machine)
        if found is not None:
            return found, ""
        onnx_path = ensure_seg_onnx(weights, (input_size, input_size), dynamic_hw=mode == "person", fp16=fp16,
                                    out_dir=engines, log=log)
        log(f"building a TensorRT segmentation engine for {Path(weights).name} ({mode}, profile {profile[0]} to "
            f"{profile[2]}) once into {engines}; this takes minutes")
        return build_engine(onnx_path, out_dir=engines, device=device, log=log, profile=profile), ""


class TensorRTSegRuntime:
    """Runs a segmentation engine of :func:`ensure_seg_engine` on CUDA.

    Args:
        engine_path: the ``.engine`` file (its sidecar must sit next to it).
        device: "auto", "cuda" or "cuda:N".
    """

    name = "tensorrt"

    def __init__(self, engine_path: str | os.PathLike, device: str = "cuda") -> None:
        import torch

        from rtpose.export.sidecar import check_engine, read_sidecar
        from rtpose.runtime.tensorrt_runtime import cuda_index, gpu_info, import_tensorrt

        trt = import_tensorrt()
        self.artifact = Path(engine_path)
        self.reason = self.note = ""
        if not self.artifact.is_file():
            raise EngineError(f"TensorRT engine {self.artifact} does not exist.")
        index = cuda_index(device)
        gpu_name, capability = gpu_info(index)
        self.meta = read_sidecar(self.artifact)
        check_engine(self.meta, tensorrt_version=trt.__version__, gpu_name=gpu_name, compute_capability=capability,
                     engine=self.artifact)
        self.torch_device = torch.device("cuda", index)
        self._lock = threading.Lock()
        with torch.cuda.device(self.torch_device):
            self._setup(trt, torch)
        self.precision = str(self.meta.get("precision", "fp16"))
        self.device = f"cuda:{index} ({gpu_name}) {self.precision}, TensorRT {trt.__version__}"

    def _setup(self, trt: Any, torch: Any) -> None:
        from rtpose.runtime.tensorrt_runtime import _torch_dtype, check_trt, open_engine

        self.logger, self.runtime, self.engine, self.execution, names, inputs, outputs = open_engine(
            trt, self.artifact, "delete it and it is built again")
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineError(f"{self.artifact} is not an rtpose segmentation engine (inputs {inputs}, "
                              f"outputs {outputs}).")
        self.input_name, self.output_name = inputs[0], outputs[0]
        low, opt, high = (tuple(int(v) for v in s) for s in self.engine.get_tensor_profile_shape(self.input_name, 0))
        self.profile = (low, opt, high)
        self.max_batch = high[0]
        check_trt(self.execution.set_input_shape(self.input_name, high), f"set the input shape {high}")
        # one flat buffer per tensor, as large as the profile's largest shape, bound once: each call uses its start
        self._flat: dict[str, Any] = {}
        for name in names:
            numel = math.prod(int(v) for v in self.execution.get_tensor_shape(name))
            dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(name))
            self._flat[name] = torch.empty(numel, dtype=dtype, device=self.torch_device)
            check_trt(self.execution.set_tensor_address(name, self._flat[name].data_ptr()), f"bind {name!r}")
        self.stream = torch.cuda.Stream(self.torch_device)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` within the profile → float32 logits ``(N, C, ceil(H/4), ceil(W/4))``."""
        return self.infer_tensor(batch).cpu().numpy()

    def infer_tensor(self, batch: np.ndarray) -> Any:
        """:meth:`infer`'s logits left on the GPU: a float32 torch tensor of its own (not the engine's buffer),
        ready on the current stream."""
        import torch

        from rtpose.runtime.tensorrt_runtime import check_trt

        batch = np.ascontiguousarray(batch, dtype=np.float32)
        problem = shape_problem(batch.shape, self.profile)
        if problem:
            raise RtposeError(problem[0].upper() + problem[1:] + ".")
        with self._lock, torch.cuda.device(self.torch_device):
            if getattr(self, "execution", None) is None:
                raise EngineError(f"The TensorRT segmentation runtime for {self.artifact.name} is closed.")
            host = torch.from_numpy(batch).pin_memory()
            with torch.cuda.stream(self.stream):
                device_in = self._flat[self.input_name][: host.numel()].view(host.shape)
                device_in.copy_(host, non_blocking=True)
                check_trt(self.execution.set_input_shape(self.input_name, tuple(batch.shape)),
                          f"set the input shape {tuple(batch.shape)}")
                out_shape = tuple(int(v) for v in self.execution.get_tensor_shape(self.output_name))
                check_trt(self.execution.execute_async_v3(self.stream.cuda_stream),
                          f"run {self.artifact.name} on {tuple(batch.shape)}")
                out = self._flat[self.output_name][: math.prod(out_shape)].view(out_shape).float().clone()
            torch.cuda.current_stream(self.torch_device).wait_stream(self.stream)
            return out

    def close(self) -> None:
        """Release the execution context, engine, runtime and buffers (idempotent)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            stream = getattr(self, "stream", None)
            if stream is not None:
                stream.synchronize()
            self.execution = None  # the context before the engine before the runtime
            self.engine = None
            self.runtime = None
            self._flat = {}

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


__all__ = ["DEFAULT_SEG_MAX_BATCH", "MAX_ASPECT", "TensorRTSegRuntime", "ensure_seg_engine", "find_seg_engine",
           "seg_profile", "shape_problem"]
