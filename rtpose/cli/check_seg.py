"""``rtpose check --seg person|parts``: every segmentation runtime against PyTorch FP32 on the CPU.

The model input is the segmenter's own (:meth:`rtpose.seg.segmenter.Segmenter.frame_input` for "person",
:meth:`~rtpose.seg.segmenter.Segmenter.crops_input` of the people's boxes for "parts"), so each runtime sees
exactly what it sees when rtpose runs. Pass rules (:func:`compare_seg`): FP32 on the CPU max |Δlogit| <
:data:`SEG_FP32_RTOL` × max |logit| and :data:`SEG_FP32_SAME` of the labels the same; FP16 and BF16 (and FP32
on a GPU) :data:`SEG_LOW_PRECISION_SAME` of the labels the same.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.cli.check_table import Row
from rtpose.errors import RtposeError, exception_gist

#: FP32 on the CPU: largest |Δlogit| allowed, as a fraction of the largest |logit| (at least 1).
SEG_FP32_RTOL = 1e-3
#: FP32 on the CPU: share of pixels whose argmax class must be the reference's.
SEG_FP32_SAME = 0.999
#: FP16/BF16 (and TF32 on a GPU): share of pixels whose argmax class must be the reference's.
SEG_LOW_PRECISION_SAME = 0.98


def check_seg_args(args: argparse.Namespace) -> None:
    """One sentence naming the flag for a segmentation option that cannot work (before anything loads)."""
    if args.seg is None and (args.seg_weights or args.seg_size is not None):
        raise RtposeError("--seg-weights and --seg-size need --seg person or --seg parts.")
    if args.seg_size is not None and args.seg_size < 16:
        raise RtposeError(f"--seg-size must be at least 16 pixels, got {args.seg_size}.")


def seg_weights(args: argparse.Namespace, folder: Path) -> tuple[Path, str]:
    """``--seg-weights``, else the mode's registry checkpoint when downloaded, else labelled untrained W18 weights."""
    from rtpose.seg.segmenter import DEFAULT_SEG_WEIGHTS
    from rtpose.weights.registry import REGISTRY, cached_path, resolve_weights

    if args.seg_weights:
        path = resolve_weights(args.seg_weights, parameter="seg_weights")
        return path, path.name
    entry = REGISTRY.get(DEFAULT_SEG_WEIGHTS[args.seg])
    if entry is not None and cached_path(entry).is_file():
        return cached_path(entry), f"{entry.name} (downloaded)"
    import torch

    from rtpose.models import HRNetSeg
    from rtpose.weights.seg import save_seg_checkpoint

    classes = "voc" if args.seg == "person" else "lip"
    torch.manual_seed(0)
    net = HRNetSeg(width=18, num_classes=21 if classes == "voc" else 20)
    path = save_seg_checkpoint(net, folder / f"hrnetv2_w18_{classes}_untrained_seed0.pth", seg_classes=classes)
    return path, (f"UNTRAINED HRNetV2-W18 {classes}, seed 0 (no --seg-weights and none downloaded: runtimes compared, "
                  "labels meaningless)")


def compare_seg(runtime: Any, batch: np.ndarray, reference: np.ndarray, iters: int = 3, label: str = "") -> Row:
    """Run ``runtime`` on ``batch`` float32 ``(N, 3, H, W)`` and compare with the PyTorch FP32 logits ``reference``."""
    from rtpose.runtime.base import run_batched

    got = run_batched(runtime, batch)
    best = float("inf")
    for _ in range(max(1, iters)):
        start = time.perf_counter()
        run_batched(runtime, batch)
        best = min(best, time.perf_counter() - start)
    device, precision = str(runtime.device), str(runtime.precision)
    row = Row(label or runtime.name, precision, device, ms_per_call=best * 1000.0)
    if got.shape != reference.shape:
        row.ok, row.note = False, f"logits of shape {got.shape}, expected {reference.shape}"
        return row
    row.max_heatmap_error = float(np.abs(got - reference).max())
    row.labels_same = float((got.argmax(axis=1) == reference.argmax(axis=1)).mean())
    if precision == "fp32" and device.startswith("cpu"):
        limit = SEG_FP32_RTOL * max(1.0, float(np.abs(reference).max()))
        row.ok = row.max_heatmap_error < limit and row.labels_same >= SEG_FP32_SAME
        rule = f"max |Δlogit| < {SEG_FP32_RTOL:g} × max |logit| ({limit:.3g}) and {SEG_FP32_SAME:.1%} labels the same"
    else:
        row.ok = row.labels_same >= SEG_LOW_PRECISION_SAME
        rule = f"{SEG_LOW_PRECISION_SAME:.0%} labels the same"
    if not row.ok:
        row.note = f"outside tolerance ({rule})"
    return row


def _runtimes() -> list[tuple[str, str]]:
    """``(backend, device)`` of every segmentation runtime this machine can try, in table order."""
    import torch

    from rtpose.runtime.onnxruntime_runtime import available_providers
    from rtpose.runtime.openvino_runtime import openvino_available
    from rtpose.runtime.tensorrt_runtime import tensorrt_available

    out = []
    if importlib.util.find_spec("onnxruntime") is not None:
        out.append(("onnxruntime", "cpu"))
        if "CUDAExecutionProvider" in available_providers():
            out.append(("onnxruntime", "cuda"))
    if openvino_available():
        out.append(("openvino", "cpu"))
    if torch.cuda.is_available():
        out.append(("torch", "cuda"))
    if tensorrt_available():
        out.append(("tensorrt", "cuda"))
    return out


def seg_rows(args: argparse.Namespace, image_path: Path, boxes: np.ndarray, engines: Path, folder: Path,
             say) -> tuple[list[Row], str]:
    """The segmentation rows of the table, and the line that introduces them."""
    import cv2

    from rtpose.runtime.select import create_seg_runtime
    from rtpose.seg.segmenter import Segmenter

    weights, weights_label = seg_weights(args, folder)
    image = cv2.imread(str(image_path))
    mode = args.seg
    with Segmenter(mode, weights, device="cpu", input_size=args.seg_size, backend="torch", precision="fp32",
                   engines_dir=engines) as reference:
        batch = reference.frame_input(image) if mode == "person" else reference.crops_input(image, boxes)
        logits = reference.runtime.infer(batch)
        what = "the whole image" if mode == "person" else f"{len(batch)} crops"
        intro = (f"segmentation ({mode}) vs PyTorch FP32 on the CPU: {what} at {batch.shape[2]}x{batch.shape[3]}, "
                 f"weights {weights_label}")
        rows = [compare_seg(reference.runtime, batch, logits, args.iters, f"seg {mode}: torch (reference)")]
        for backend, device in _runtimes():
            label = f"seg {mode}: {backend}"
            try:
                runtime = create_seg_runtime(backend, reference.weights, mode, reference.input_size, device=device,
                                             engines_dir=engines, seg_classes=reference.classes.name)
            except (RtposeError, RuntimeError, OSError, ImportError) as exc:
                rows.append(Row(label, "-", "-", ok=False, note=f"could not start: {exception_gist(exc)}"))
                continue
            try:
                rows.append(compare_seg(runtime, batch, logits, args.iters, label))
            finally:
                runtime.close()
    return rows, intro


__all__ = ["SEG_FP32_RTOL", "SEG_FP32_SAME", "SEG_LOW_PRECISION_SAME", "check_seg_args", "compare_seg", "seg_rows",
           "seg_weights"]
