"""Do two backends agree? Heatmap and keypoint differences, the FP32/FP16 rules, and crops to check on.

Used after an export (ONNX Runtime against PyTorch), by ``rtpose check`` and ``build-engine`` (every
backend against PyTorch FP32), and by the tests.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rtpose.errors import EngineError, RtposeError
from rtpose.export.sidecar import size_text

#: FP32: ONNX Runtime vs PyTorch, largest absolute heatmap difference allowed.
FP32_ATOL = 1e-4
#: FP16: largest absolute heatmap difference allowed, as a fraction of the largest |heatmap| value.
FP16_RTOL = 1e-2
#: FP16: share of keypoints whose DARK-refined positions must agree within 0.1 heatmap pixel.
FP16_SHARE_WITHIN = 0.95
#: FP16: largest shift of a keypoint whose integer maximum is the same (DARK's step is at most 1 px
#: per axis and is dropped on a flat or border peak, so rounding can switch it on or off).
FP16_SAME_ARGMAX_TOL = 1.5


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
    from rtpose.pose.codec import HeatmapCodec

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
    from rtpose.runtime.onnxruntime_runtime import OnnxRuntimeBackend

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
    from rtpose.pose.crops import normalize_crops

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

    from rtpose.pose.crops import make_input_batch

    image = cv2.imread(str(source))
    if image is None:
        raise RtposeError(f"{source} is not a readable image.")
    ih, iw = image.shape[:2]
    boxes = np.array(
        [[0, 0, iw, ih], [0, 0, iw / 2, ih], [iw / 2, 0, iw, ih], [iw / 4, 0, 3 * iw / 4, ih]], np.float32
    )
    batch, _, _ = make_input_batch(image, boxes, tuple(input_hw))
    return batch, f"{len(batch)} crops of {source.name}"


__all__ = [
    "FP16_RTOL",
    "FP16_SAME_ARGMAX_TOL",
    "FP16_SHARE_WITHIN",
    "FP32_ATOL",
    "compare_heatmaps",
    "fp16_close",
    "load_verification_crops",
    "synthetic_crops",
    "verify_graph",
]
