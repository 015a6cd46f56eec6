"""ONNX → TensorRT engine through the Python builder and ONNX parser (TensorRT 10 and 11).

The network is created strongly typed, so precision comes from the ONNX graph itself: an FP16
graph from ``rtpose export-onnx --fp16`` (float32 input and output, float16 inside) gives an FP16
engine. TensorRT 11 removed the FP16 builder flag; this way works on 10 and 11 alike. The engine
has one optimisation profile with a dynamic batch from 1 to ``max_batch``; kernel timings are kept in
``engines/timing.cache`` and reused by later builds; a JSON sidecar records what the engine is for.

Finding an engine again: :func:`matching_pose_engine` for a pose checkpoint (built by ``rtpose build-engine``);
:func:`ensure_seg_engine` for a segmentation checkpoint, built once on first use with the profile of
:func:`seg_profile`:

- ``"parts"``: square crops of the input size, batch 1…``max_batch`` (tuned for ``opt_batch``).
- ``"person"``: one frame whose short side is the input size S (the segmenter resizes it so) and whose long
  side is at most :data:`MAX_ASPECT` × S, either way round; tuned for a 16:9 landscape frame.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtpose.errors import EngineError, RtposeError
from rtpose.export.sidecar import (
    TIMING_CACHE,
    atomic_write_bytes,
    default_engines_dir,
    read_sidecar,
    size_text,
    write_sidecar,
)
from rtpose.log import say
from rtpose.runtime.tensorrt_runtime import check_trt, gpu_info, import_tensorrt
from rtpose.utils.hashing import file_sha256

DEFAULT_MAX_BATCH = 32
DEFAULT_OPT_BATCH = 8
DEFAULT_WORKSPACE_GB = 4.0


def gpu_slug(name: str) -> str:
    """"NVIDIA H100 80GB HBM3" → "h100-80gb-hbm3" (for file names)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower().replace("nvidia", "")).strip("-")
    return slug or "gpu"


def _progress_monitor(trt: Any, log: Callable[[str], None]) -> Any | None:
    """A TensorRT progress monitor that logs the top two levels of build phases (None if unsupported)."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class Monitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.depth: dict[str, int] = {}
            self.started: dict[str, float] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            depth = 0 if parent_phase is None else self.depth.get(parent_phase, 0) + 1
            self.depth[phase_name] = depth
            self.started[phase_name] = time.perf_counter()
            if depth <= 1:
                log(f"{'  ' * depth}{phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            if self.depth.get(phase_name, 0) == 0:
                log(f"{phase_name} done in {time.perf_counter() - self.started.get(phase_name, 0.0):.1f} s")

    return Monitor()


def load_timing_cache(config: Any, cache_path: Path, log: Callable[[str], None] = say) -> Any:
    """Give the builder ``config`` the timing cache in ``cache_path``, or an empty one, and say which.

    A stale or corrupt cache (e.g. one TensorRT 10 wrote, met by TensorRT 11) makes
    ``create_timing_cache`` return None; one from another GPU is refused by ``set_timing_cache``. Both
    start an empty cache (the file is replaced after the build).
    """
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b""
    cache = config.create_timing_cache(cache_bytes) if cache_bytes else None
    if cache_bytes and cache is None:
        log(f"{cache_path} is stale or corrupt (made by another TensorRT version?); starting an empty timing cache")
    elif cache is not None and not config.set_timing_cache(cache, ignore_mismatch=False):
        log(f"{cache_path} was made on another GPU or TensorRT version; starting an empty timing cache")
        cache = None
    elif cache is not None:
        log(f"reusing timing cache {cache_path}")
        return cache
    cache = config.create_timing_cache(b"")
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=True):
        raise EngineError("TensorRT could not create an empty timing cache (see its message above).")
    return cache


def save_timing_cache(config: Any, cache_path: Path, log: Callable[[str], None] = say) -> None:
    """Write the builder's timing cache to ``cache_path`` atomically (a crash never leaves half a cache)."""
    cache = config.get_timing_cache()
    if cache is None:
        log(f"TensorRT returned no timing cache; {cache_path} is left as it was")
        return
    atomic_write_bytes(cache_path, memoryview(cache.serialize()))


def build_engine(
    onnx_path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    opt_batch: int | None = None,
    workspace_gb: float = DEFAULT_WORKSPACE_GB,
    device: str = "auto",
    out_path: str | os.PathLike | None = None,
    log: Callable[[str], None] = say,
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None,
) -> Path:
    """Build a TensorRT engine from an rtpose ONNX file; returns the engine path (sidecar written next to it).

    Args:
        onnx_path: ONNX file from :func:`rtpose.export.pose_onnx.export_onnx` (FP16 graph → FP16 engine).
        out_dir: where the engine and ``timing.cache`` go (default: the engines folder).
        max_batch: largest batch (people per frame) the engine accepts; the profile is 1…max_batch.
        opt_batch: the batch TensorRT tunes kernels for (default: min(8, max_batch)).
        workspace_gb: builder workspace memory limit.
        device: "auto", "cuda" or "cuda:N".
        profile: the optimisation profile's (min, opt, max) input shapes ``(N, 3, H, W)``, for graphs with a
            dynamic height and width (segmentation of whole frames, :func:`seg_profile`); None:
            batch 1…``max_batch`` tuned for ``opt_batch`` at the graph's fixed size.
    """
    import torch

    from rtpose.export.onnx_graph import graph_info, onnx_precision
    from rtpose.runtime.tensorrt_runtime import cuda_index

    trt = import_tensorrt()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise EngineError(f"ONNX file {onnx_path} does not exist; create it with 'rtpose export-onnx'.")
    if max_batch < 1:
        raise EngineError(f"--max-batch must be at least 1, got {max_batch}.")
    opt_batch = min(max_batch, opt_batch or DEFAULT_OPT_BATCH)
    index = cuda_index(device)
    gpu_name, capability = gpu_info(index)
    try:
        onnx_meta = read_sidecar(onnx_path)
    except EngineError:
        onnx_meta = {}
    precision = onnx_precision(onnx_path)
    info = graph_info(onnx_path)
    _, _, dims = info["input"]
    input_name = info["input"][0]
    if profile is not None:
        profile = tuple(tuple(int(v) for v in shape) for shape in profile)
        max_batch, opt_batch = profile[2][0], profile[1][0]
        input_hw = (profile[2][2], profile[2][3])
    else:
        input_hw = (int(dims[2]), int(dims[3]))
    from rtpose.io.paths import output_folder

    out_dir = output_folder(out_dir if out_dir is not None else default_engines_dir(),
                            "engines folder (--out or $RTPOSE_ENGINES)")
    ver = trt.__version__
    engine_name = f"{onnx_path.stem}_b{max_batch}_{gpu_slug(gpu_name)}_trt{ver}.engine"
    engine_path = Path(out_path) if out_path else out_dir / engine_name

    # TensorRT builds on the current CUDA device, in the primary context torch also uses.
    with torch.cuda.device(index):
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        check_trt(builder, "create a builder")
        strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        flags = 1 << int(strongly_typed) if strongly_typed is not None else 0
        network = builder.create_network(flags)
        check_trt(network, "create a network")
        parser = trt.OnnxParser(network, logger)
        log(f"parsing {onnx_path} ({precision}, {size_text(input_hw)}) with TensorRT {ver} for {gpu_name} …")
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
            raise EngineError(f"TensorRT's ONNX parser rejected {onnx_path}: {errors[:300]}.")
        config = builder.create_builder_config()
        check_trt(config, "create a builder configuration")
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
        item = (3, *input_hw)
        shapes = profile or ((1, *item), (opt_batch, *item), (max_batch, *item))
        optimisation = builder.create_optimization_profile()
        optimisation.set_shape(input_name, *shapes)
        if config.add_optimization_profile(optimisation) < 0:
            raise EngineError(f"TensorRT refused the profile {shapes} for {onnx_path}.")

        cache_path = out_dir / TIMING_CACHE
        load_timing_cache(config, cache_path, log)

        monitor = _progress_monitor(trt, log)
        if monitor is not None:
            try:
                config.progress_monitor = monitor
            except (AttributeError, TypeError):
                monitor = None

        log(f"building the engine (batch 1…{max_batch}, tuned for {opt_batch}; this takes minutes) …")
        start = time.perf_counter()
        serialized = builder.build_serialized_network(network, config)
        build_s = time.perf_counter() - start
        if serialized is None:
            raise EngineError(
                f"TensorRT could not build an engine from {onnx_path} (see its messages above); "
                "try a smaller --max-batch or a larger --workspace."
            )
        atomic_write_bytes(engine_path, memoryview(serialized))
        save_timing_cache(config, cache_path, log)

    from rtpose import __version__

    write_sidecar(
        engine_path,
        {
            "format": "tensorrt",
            "onnx": str(onnx_path.resolve()),
            "onnx_sha256": file_sha256(onnx_path),
            "weights": onnx_meta.get("weights"),
            "weights_sha256": onnx_meta.get("weights_sha256"),
            "model": onnx_meta.get("model"),
            "num_joints": onnx_meta.get("num_joints"),
            "keypoints": onnx_meta.get("keypoints") or _keypoint_set_name(onnx_meta.get("num_joints")),
            "input_size": [input_hw[0], input_hw[1]],
            "precision": precision,
            "io_dtype": "float32",
            "input_name": input_name,
            "output_name": info["output"][0],
            "batch_range": [int(shapes[0][0]), int(max_batch)],
            "profile": [list(shape) for shape in shapes] if profile is not None else None,
            "kind": onnx_meta.get("kind", "pose"),
            "opt_batch": int(opt_batch),
            "tensorrt_version": ver,
            "strongly_typed": strongly_typed is not None,
            "gpu_name": gpu_name,
            "compute_capability": capability,
            "workspace_gb": float(workspace_gb),
            "build_seconds": round(build_s, 1),
            "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "timing_cache": str(cache_path),
            "rtpose_version": __version__,
        },
    )
    log(f"wrote {engine_path} ({engine_path.stat().st_size / 1e6:.1f} MB) in {build_s:.0f} s")
    return engine_path


def find_engine(
    directory: str | os.PathLike,
    weights_sha256: str,
    input_hw: tuple[int, int],
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
) -> Path | None:
    """The best engine in ``directory`` for these weights and input size on this TensorRT and GPU.

    FP16 engines come before FP32 ones, then larger batch ranges; None when none fits.
    """
    from rtpose.export.sidecar import engine_matches, find_artifacts

    candidates = [
        (path, meta)
        for path, meta in find_artifacts(directory, ".engine")
        if engine_matches(
            meta,
            tensorrt_version=tensorrt_version,
            gpu_name=gpu_name,
            compute_capability=compute_capability,
            input_hw=input_hw,
            weights_sha256=weights_sha256,
        )
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda pm: (pm[1].get("precision") == "fp16", (pm[1].get("batch_range") or [0, 0])[1]))
    return candidates[-1][0]


def _keypoint_set_name(num_joints) -> str | None:
    """The keypoint set of an ONNX file whose sidecar predates the ``keypoints`` field: the set with that many."""
    if not num_joints:
        return None
    from rtpose.pose.keypoint_sets import keypoint_set_for

    try:
        return keypoint_set_for(int(num_joints)).name
    except RtposeError:
        return None


def matching_pose_engine(weights: str | os.PathLike, device: str, input_hw: tuple[int, int],
                         engines: str | os.PathLike) -> tuple[Path | None, str]:
    """``(engine, "")`` for an engine in ``engines`` built from the pose checkpoint ``weights`` at ``input_hw`` for
    this GPU and TensorRT, else ``(None, one sentence saying how to build one)``. Needs TensorRT and a CUDA GPU."""
    from rtpose.runtime.tensorrt_runtime import cuda_index

    trt = import_tensorrt()
    weights, engines = Path(weights), Path(engines)
    gpu_name, capability = gpu_info(cuda_index(device))
    engine = find_engine(engines, file_sha256(weights), input_hw, trt.__version__, gpu_name, capability)
    if engine is not None:
        return engine, ""
    return None, (
        f"No TensorRT engine in {engines} fits {weights.name} at {size_text(input_hw)} on {gpu_name} with TensorRT "
        f"{trt.__version__}; build one with 'rtpose build-engine --fp16 --weights {weights} "
        f"--input-size {size_text(input_hw)} --out {engines}'."
    )


# -- segmentation engines: built once per weights, mode, GPU and TensorRT version, found again by their sidecar --


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
    from rtpose.export.sidecar import artifact_lock
    from rtpose.runtime.tensorrt_runtime import cuda_index

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
