"""Export HRNet to ONNX (dynamic batch), check it, and verify it numerically against PyTorch.

The graph has one input ``"input"`` float32 ``(batch, 3, H, W)`` and one output ``"heatmaps"``
float32 ``(batch, K, H/4, W/4)``; only the batch axis is dynamic. The FP16 variant keeps that float32
interface: a Cast to float16 follows the input and a Cast to float32 precedes the output, and every
weight and activation in between is float16. Built as a strongly typed TensorRT network, that graph
gives an FP16 engine on TensorRT 10 and 11 (which no longer has the FP16 builder flag).

Each exported file gets a JSON sidecar (``X.onnx.json``): weights sha256, input size, precision,
opset, exporter versions and the verification result.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import inspect
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rtpose.backends.sidecar import (
    artifact_stem,
    default_engines_dir,
    file_sha256,
    find_artifacts,
    read_sidecar,
    size_text,
    write_sidecar,
)
from rtpose.errors import EngineError, RtposeError, exception_gist

DEFAULT_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"
#: FP32: ONNX Runtime vs PyTorch, largest absolute heatmap difference allowed.
FP32_ATOL = 1e-4
#: FP16: largest absolute heatmap difference allowed, as a fraction of the largest |heatmap| value.
FP16_RTOL = 1e-2
#: FP16: share of keypoints whose DARK-refined positions must agree within 0.1 heatmap pixel.
FP16_SHARE_WITHIN = 0.95
#: FP16: largest shift of a keypoint whose integer maximum is the same (DARK's step is at most 1 px
#: per axis and is dropped on a flat or border peak, so rounding can switch it on or off).
FP16_SAME_ARGMAX_TOL = 1.5


class _Float16Graph(nn.Module):
    """float32 in → float16 network → float32 out (the casts become the graph's boundary Cast nodes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


def _log_stderr(message: str) -> None:
    print(f"rtpose: {message}", file=sys.stderr, flush=True)


def export_graph(
    model: nn.Module,
    path: str | os.PathLike,
    input_hw: tuple[int, int] = (256, 192),
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``model`` as an ONNX graph with a dynamic batch axis (TorchScript-based exporter).

    The model is copied, so the caller's model keeps its precision.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(model).eval().cpu().float()
    if fp16:
        net = _Float16Graph(net.half()).eval()
    height, width = int(input_hw[0]), int(input_hw[1])
    # HRNet is fully convolutional and its upsampling uses fixed scales, so the graph does not depend
    # on the trace size: trace at 64x64 (much faster, FP16 convolutions are slow on CPUs) and write
    # the real size into the declared input/output shapes. Sizes that are not multiples of 32 are
    # traced as they are. verify_graph() compares the result with PyTorch at the real size.
    small = height % 32 == 0 and width % 32 == 0
    dummy = torch.zeros(1, 3, 64, 64) if small else torch.zeros(1, 3, height, width)
    kwargs: dict[str, Any] = {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "dynamic_axes": {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        "opset_version": int(opset),
        "do_constant_folding": True,
    }
    # The torch.export-based exporter (the default since PyTorch 2.9) needs onnxscript; the
    # TorchScript exporter handles HRNet (convs, BN folded into them, nearest Resize) exactly.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    tmp = path.with_name(path.name + ".part")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (dummy,), str(tmp), **kwargs)
    if small:
        _set_spatial_size(tmp, (height, width))
    os.replace(tmp, path)
    return path


def _set_spatial_size(path: Path, input_hw: tuple[int, int], stride: int = 4) -> None:
    """Declare ``input_hw`` (and ``input_hw / stride`` for the output) in a graph traced at another size."""
    import onnx

    model = onnx.load(str(path))
    output_hw = (input_hw[0] // stride, input_hw[1] // stride)
    for value, (h, w) in ((model.graph.input[0], input_hw), (model.graph.output[0], output_hw)):
        dims = value.type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = h, w
    del model.graph.value_info[:]  # intermediate shapes of the trace size
    onnx.save(model, str(path))


def check_graph(path: str | os.PathLike) -> None:
    """``onnx.checker`` plus the interface rtpose relies on; EngineError when it does not hold."""
    import onnx

    path = Path(path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        first = exception_gist(exc, 200)
        raise EngineError(f"{path} fails onnx.checker ({first}); re-export it.") from None
    model = onnx.load(str(path), load_external_data=False)
    inputs = [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input]
    outputs = [(o.name, o.type.tensor_type.elem_type) for o in model.graph.output]
    if inputs[:1] != [(INPUT_NAME, onnx.TensorProto.FLOAT)] or outputs[:1] != [(OUTPUT_NAME, onnx.TensorProto.FLOAT)]:
        raise EngineError(
            f"{path} does not have float32 '{INPUT_NAME}' → '{OUTPUT_NAME}' I/O; re-export it with rtpose."
        )


def graph_info(path: str | os.PathLike) -> dict[str, Any]:
    """Input shape (batch symbolic), I/O dtypes, opset and weight dtype counts of an ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(value) -> tuple[str, str, list]:
        tensor = value.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
        return value.name, onnx.TensorProto.DataType.Name(tensor.elem_type), dims

    weights: dict[str, int] = {}
    for init in model.graph.initializer:
        name = onnx.TensorProto.DataType.Name(init.data_type).lower()
        weights[name] = weights.get(name, 0) + 1
    return {
        "input": describe(model.graph.input[0]),
        "output": describe(model.graph.output[0]),
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "weight_dtypes": weights,
    }


def compare_heatmaps(
    reference: np.ndarray, other: np.ndarray, input_hw: tuple[int, int], tie_tol: float = 0.0
) -> dict[str, float]:
    """Heatmap and decoded-keypoint differences between two backends' outputs for the same crops.

    Returns ``max_abs_diff`` and ``max_abs_ref`` (heatmaps); ``argmax_mismatches`` (keypoints whose
    integer maximum differs), split into ``near_ties`` (``other`` picked a pixel whose ``reference``
    value is within ``tie_tol`` of the reference peak: two almost equal peaks) and ``argmax_off``
    (the rest); after DARK refinement, in heatmap pixels: ``max_keypoint_diff`` (all keypoints),
    ``max_keypoint_diff_same_argmax`` (keypoints with the same integer maximum) and
    ``share_within_0.1px``.
    """
    from rtpose.codec import HeatmapCodec

    if reference.size == 0:
        return dict.fromkeys(
            ("max_abs_diff", "max_abs_ref", "argmax_mismatches", "near_ties", "argmax_off", "max_keypoint_diff",
             "max_keypoint_diff_same_argmax"), 0
        ) | {"share_within_0.1px": 1.0}
    codec = HeatmapCodec(input_hw=tuple(input_hw))
    n, k, _, _ = reference.shape
    xy_ref, _ = codec.decode(reference)
    xy_other, _ = codec.decode(other)
    flat_ref = reference.reshape(n, k, -1)
    arg_ref = flat_ref.argmax(axis=2)
    arg_other = other.reshape(n, k, -1).argmax(axis=2)
    ref_peak = np.take_along_axis(flat_ref, arg_ref[..., None], axis=2)[..., 0]
    ref_at_other = np.take_along_axis(flat_ref, arg_other[..., None], axis=2)[..., 0]
    moved = arg_ref != arg_other
    tie = ref_peak - ref_at_other <= tie_tol
    shift = np.abs(xy_ref - xy_other).max(axis=-1)
    return {
        "max_abs_diff": float(np.abs(reference - other).max()),
        "max_abs_ref": float(np.abs(reference).max()),
        "argmax_mismatches": int(moved.sum()),
        "near_ties": int((moved & tie).sum()),
        "argmax_off": int((moved & ~tie).sum()),
        "max_keypoint_diff": float(shift.max()),
        "max_keypoint_diff_same_argmax": float(shift[~moved].max()) if (~moved).any() else 0.0,
        "share_within_0.1px": float((shift <= 0.1).mean()),
    }


def fp16_close(diff: dict[str, float], limit: float) -> bool:
    """The FP16 rule on a :func:`compare_heatmaps` result (``tie_tol=limit``); see :func:`verify_graph`."""
    return (
        diff["max_abs_diff"] < limit
        and diff["argmax_off"] == 0
        and diff["max_keypoint_diff_same_argmax"] <= FP16_SAME_ARGMAX_TOL
        and diff["share_within_0.1px"] >= FP16_SHARE_WITHIN
    )


def verify_graph(
    onnx_path: str | os.PathLike, model: nn.Module, crops: np.ndarray, fp16: bool = False
) -> dict[str, Any]:
    """Run ``crops`` through ONNX Runtime (CPU) and PyTorch (float32, CPU) and compare.

    FP32 passes with max |Δheatmap| < ``FP32_ATOL`` and identical argmax keypoints (DARK-refined
    positions then agree to float rounding). FP16 passes with max |Δheatmap| < ``FP16_RTOL`` × max
    |heatmap|; the same integer maxima except where a heatmap has two peaks equal within that
    tolerance (FP16 rounding may then pick the other one); at least ``FP16_SHARE_WITHIN`` of the
    DARK-refined keypoints within 0.1 heatmap pixel and none with the same maximum further than
    ``FP16_SAME_ARGMAX_TOL``. Raises EngineError on failure.
    """
    from rtpose.backends.onnxruntime_backend import OnnxRuntimeBackend

    crops = np.ascontiguousarray(crops, dtype=np.float32)
    input_hw = (crops.shape[2], crops.shape[3])
    with torch.inference_mode():
        expected = copy.deepcopy(model).eval().cpu().float()(torch.from_numpy(crops)).numpy()
    got = OnnxRuntimeBackend(onnx_path, device="cpu").infer(crops)
    if got.shape != expected.shape:
        raise EngineError(f"{onnx_path} gives heatmaps of shape {got.shape}, PyTorch {expected.shape}; re-export it.")
    limit = FP16_RTOL * max(float(np.abs(expected).max()), 1e-6)
    result: dict[str, Any] = compare_heatmaps(expected, got, input_hw, tie_tol=limit)
    result["crops"] = len(crops)
    if fp16:
        ok = fp16_close(result, limit)
        rule = (
            f"max |Δheatmap| < {FP16_RTOL:g} × max |heatmap| ({limit:.3g}); same argmax unless two peaks are equal "
            f"within that; {FP16_SHARE_WITHIN:.0%} of keypoints within 0.1 px"
        )
    else:
        ok = result["max_abs_diff"] < FP32_ATOL and result["argmax_mismatches"] == 0
        rule = f"max |Δheatmap| < {FP32_ATOL:g}, identical argmax keypoints"
    result.update(passed=bool(ok), rule=rule)
    if not ok:
        raise EngineError(
            f"{onnx_path} does not match PyTorch: max |Δheatmap| {result['max_abs_diff']:.3g}, "
            f"{result['argmax_off']} keypoints moved (needs {rule})."
        )
    return result


def synthetic_crops(input_hw: tuple[int, int], count: int = 4, seed: int = 0) -> np.ndarray:
    """Deterministic smooth random crops (normalised like real ones) when no real crops are given."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = input_hw
    crops = []
    for _ in range(count):
        small = rng.uniform(0, 255, size=(h // 16, w // 16, 3)).astype(np.float32)
        crops.append(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))
    from rtpose.crops import normalize_crops

    return normalize_crops(np.clip(np.stack(crops), 0, 255).astype(np.uint8))


def load_verification_crops(source: str | os.PathLike | None, input_hw: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Crops to verify an export on: ``.npz`` with ``input``, an image (whole + 3 strips) or synthetic."""
    if source is None:
        return synthetic_crops(input_hw), "4 synthetic crops (pass --verify-on IMAGE for real ones)"
    source = Path(source)
    if not source.is_file():
        raise RtposeError(f"Verification input {source} does not exist.")
    if source.suffix == ".npz":
        crops = np.load(source)["input"].astype(np.float32)
        if tuple(crops.shape[2:]) != tuple(input_hw):
            raise RtposeError(f"{source} holds {crops.shape[2]}x{crops.shape[3]} crops, not {size_text(input_hw)}.")
        return crops, f"{len(crops)} crops from {source.name}"
    import cv2

    from rtpose.crops import make_input_batch

    image = cv2.imread(str(source))
    if image is None:
        raise RtposeError(f"{source} is not a readable image.")
    ih, iw = image.shape[:2]
    boxes = np.array(
        [[0, 0, iw, ih], [0, 0, iw / 2, ih], [iw / 2, 0, iw, ih], [iw / 4, 0, 3 * iw / 4, ih]], np.float32
    )
    batch, _, _ = make_input_batch(image, boxes, tuple(input_hw))
    return batch, f"{len(batch)} crops of {source.name}"


def export_onnx(
    weights: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    input_hw: tuple[int, int] = (256, 192),
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    crops: np.ndarray | None = None,
    crops_label: str = "",
    out_path: str | os.PathLike | None = None,
    log: Callable[[str], None] = _log_stderr,
) -> Path:
    """Export, check, verify and describe (sidecar) the ONNX model of a checkpoint; returns its path.

    Args:
        weights: any checkpoint :func:`rtpose.checkpoints.load_pose_model` reads.
        out_dir: folder for the file (default: :func:`~rtpose.backends.sidecar.default_engines_dir`).
        input_hw: model input (H, W).
        fp16: FP16 weights and compute with float32 I/O.
        opset: ONNX opset (17 or later).
        verify: compare ONNX Runtime with PyTorch on ``crops`` (synthetic when None).
        out_path: exact output file (overrides the name derived from the weights).
    """
    from rtpose.checkpoints import load_pose_model

    if opset < 17:
        raise RtposeError(f"opset {opset} is too old; rtpose exports opset 17 or later.")
    from rtpose.paths import output_file, output_folder

    out_dir = Path(out_dir) if out_dir is not None else default_engines_dir()
    if out_path:
        output_file(out_path, "ONNX file")
    else:
        output_folder(out_dir, "engines folder (--out or $RTPOSE_ENGINES)")
    weights = Path(weights)
    model = load_pose_model(weights)
    sha = file_sha256(weights)
    precision = "fp16" if fp16 else "fp32"
    path = Path(out_path) if out_path else out_dir / f"{artifact_stem(model.width, sha, input_hw, precision)}.onnx"
    log(f"exporting HRNet-W{model.width} {size_text(input_hw)} {precision} to {path} …")
    start = time.perf_counter()
    export_graph(model, path, input_hw=input_hw, fp16=fp16, opset=opset)
    export_s = time.perf_counter() - start
    check_graph(path)
    log(f"exported and checked in {export_s:.1f} s (onnx.checker passed)")
    verification: dict[str, Any] | None = None
    if verify:
        if crops is None:
            crops, crops_label = load_verification_crops(None, input_hw)
        verification = verify_graph(path, model, crops, fp16=fp16)
        verification["on"] = crops_label or f"{len(crops)} crops"
        log(
            f"verified against PyTorch on {verification['on']}: max |Δheatmap| {verification['max_abs_diff']:.2e}, "
            f"{verification['argmax_mismatches']} argmax keypoints differ ({verification['near_ties']} near-ties), "
            f"{verification['share_within_0.1px']:.0%} of keypoints within 0.1 px ({verification['rule']})"
        )
    import onnx

    from rtpose import __version__

    write_sidecar(
        path,
        {
            "format": "onnx",
            "weights": str(weights.resolve()),
            "weights_sha256": sha,
            "model": f"hrnet_w{model.width}",
            "num_joints": int(model.num_joints),
            "input_size": [int(input_hw[0]), int(input_hw[1])],
            "precision": precision,
            "io_dtype": "float32",
            "input_name": INPUT_NAME,
            "output_name": OUTPUT_NAME,
            "batch": "dynamic",
            "opset": int(opset),
            "exporter": f"torch {torch.__version__} (TorchScript exporter), onnx {onnx.__version__}",
            "rtpose_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "export_seconds": round(export_s, 2),
            "verification": verification,
        },
    )
    return path


def find_onnx(
    weights_sha256: str, input_hw: tuple[int, int], precision: str, directory: str | os.PathLike
) -> Path | None:
    """An existing ONNX file in ``directory`` exported from these weights at this size and precision."""
    for path, meta in find_artifacts(directory, ".onnx"):
        if (
            meta.get("format") == "onnx"
            and meta.get("weights_sha256") == weights_sha256
            and list(meta.get("input_size") or []) == [int(input_hw[0]), int(input_hw[1])]
            and meta.get("precision") == precision
        ):
            return path
    return None


def ensure_onnx(
    weights: str | os.PathLike,
    input_hw: tuple[int, int] = (256, 192),
    fp16: bool = False,
    out_dir: str | os.PathLike | None = None,
    verify: bool = False,
    log: Callable[[str], None] = _log_stderr,
) -> Path:
    """The ONNX file of ``weights`` at ``input_hw``: reused from ``out_dir`` when its sidecar matches, else exported."""
    out_dir = Path(out_dir) if out_dir is not None else default_engines_dir()
    found = find_onnx(file_sha256(weights), input_hw, "fp16" if fp16 else "fp32", out_dir)
    if found is not None:
        return found
    log(f"no ONNX export of {Path(weights).name} at {size_text(input_hw)} in {out_dir}; exporting it once (kept there)")
    return export_onnx(weights, out_dir=out_dir, input_hw=input_hw, fp16=fp16, verify=verify, log=log)


def onnx_precision(path: str | os.PathLike) -> str:
    """"fp16" or "fp32": the sidecar's word, else what most of the graph's weights are."""
    with contextlib.suppress(EngineError):
        meta = read_sidecar(path)
        if meta.get("precision") in ("fp16", "fp32"):
            return meta["precision"]
    dtypes = graph_info(path)["weight_dtypes"]
    return "fp16" if dtypes.get("float16", 0) > dtypes.get("float", 0) else "fp32"
