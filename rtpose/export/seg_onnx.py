"""Export :class:`~rtpose.models.HRNetSeg` to ONNX with a dynamic batch and, optionally, dynamic H and W.

The graph: input ``"input"`` float32 ``(batch, 3, height, width)`` (normalised as rtpose's crops), output
``"logits"`` float32 ``(batch, num_classes, ceil(height/4), ceil(width/4))``. With ``dynamic_hw=True`` (the
default) one file serves person crops and whole frames of any size: every bilinear resize takes its
target size from the tensor it is added to (``Shape`` → ``Resize(sizes=…)``), as in PyTorch. With
``dynamic_hw=False`` the graph is fixed to ``input_hw`` (batch still dynamic), which some TensorRT
builds prefer.

With ``fp16=True`` the graph keeps that float32 interface with float16 inside (the pose exporter's
boundary casts), which a strongly typed TensorRT build turns into an FP16 engine.

A JSON sidecar (``X.onnx.json``, :func:`rtpose.export.sidecar.write_sidecar`) records the model (width,
classes, align_corners, class set), the input size, whether H and W are dynamic, the precision, the
weights' sha256 (when exported from a file) and the exporter versions. :func:`ensure_seg_onnx` exports a
checkpoint once into the engines folder and reuses the file while the sidecar's sha256 matches the weights.
This module is separate from the pose exporter (:mod:`rtpose.export.pose_onnx`), whose graph
interface (``"heatmaps"``) the pose runtimes check.
"""

from __future__ import annotations

import copy
import inspect
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rtpose.errors import InputError
from rtpose.export.sidecar import artifact_lock, find_artifacts, size_text, temp_path, write_sidecar
from rtpose.log import say
from rtpose.models import HRNetSeg

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17


def export_seg_onnx(
    model: HRNetSeg,
    path: str | os.PathLike,
    input_hw: tuple[int, int] = (473, 473),
    dynamic_hw: bool = True,
    opset: int = DEFAULT_OPSET,
    seg_classes: str | None = None,
    fp16: bool = False,
    extra: dict | None = None,
) -> Path:
    """Write ``model`` as ONNX (TorchScript exporter) and its sidecar; return the ``.onnx`` path.

    Args:
        model: the network (copied; the caller's model is left as it is).
        path: the ``.onnx`` file to write.
        input_hw: the input (H, W) to trace at, and the declared size when ``dynamic_hw`` is False.
        dynamic_hw: dynamic height and width (besides the batch).
        opset: ONNX opset (17 or later).
        seg_classes: the class set name to record in the sidecar, if known.
        fp16: float16 weights and compute inside, float32 input and output.
        extra: more sidecar fields (:func:`ensure_seg_onnx` adds the weights and their sha256).
    """
    if opset < 17:
        raise InputError(f"opset={opset} is too old; rtpose exports opset 17 or later.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(model).eval().cpu().float()
    if fp16:
        from rtpose.export.pose_onnx import _Float16Graph

        net = _Float16Graph(net.half()).eval()
    dummy = torch.zeros(1, 3, int(input_hw[0]), int(input_hw[1]))
    axes_in = {0: "batch"}
    axes_out = {0: "batch"}
    if dynamic_hw:
        axes_in.update({2: "height", 3: "width"})
        axes_out.update({2: "out_height", 3: "out_width"})
    kwargs = {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "dynamic_axes": {INPUT_NAME: axes_in, OUTPUT_NAME: axes_out},
        "opset_version": int(opset),
        "do_constant_folding": True,
    }
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: no onnxscript needed, exact Resize semantics
    tmp = temp_path(path)  # unique: processes exporting the same file at once never share one
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (dummy,), str(tmp), **kwargs)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    import onnx

    onnx.checker.check_model(str(path))
    write_sidecar(path, {
        "format": "onnx",
        "kind": "segmentation",
        "width": model.width,
        "num_classes": model.num_classes,
        "align_corners": bool(model.align_corners),
        "seg_classes": seg_classes,
        "input_size": [int(input_hw[0]), int(input_hw[1])],
        "dynamic_hw": bool(dynamic_hw),
        "precision": "fp16" if fp16 else "fp32",
        "io_dtype": "float32",
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "batch": "dynamic",
        "output_stride": 4,
        "opset": int(opset),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        **(extra or {}),
    })
    return path


def seg_onnx_name(width: int, weights_sha256: str, input_hw: tuple[int, int], dynamic_hw: bool, precision: str) -> str:
    """``hrnetv2_w18_seg_1a2b3c4d5e6f_dynamic_fp32.onnx`` (dynamic H, W) or ``…_473x473_fp32.onnx`` (fixed)."""
    size = "dynamic" if dynamic_hw else size_text(input_hw)
    return f"hrnetv2_w{width}_seg_{weights_sha256[:12]}_{size}_{precision}.onnx"


def find_seg_onnx(directory: str | os.PathLike, weights_sha256: str, input_hw: tuple[int, int], dynamic_hw: bool,
                  precision: str) -> Path | None:
    """An export in ``directory`` whose sidecar says: these weights, this precision, and dynamic H, W or this size."""
    for path, meta in find_artifacts(directory, ".onnx"):
        if (meta.get("kind") == "segmentation" and meta.get("weights_sha256") == weights_sha256
                and meta.get("precision") == precision and bool(meta.get("dynamic_hw")) == bool(dynamic_hw)
                and (dynamic_hw or list(meta.get("input_size") or []) == [int(input_hw[0]), int(input_hw[1])])):
            return path
    return None


def ensure_seg_onnx(
    weights: str | os.PathLike,
    input_hw: tuple[int, int],
    dynamic_hw: bool,
    fp16: bool = False,
    out_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = say,
    seg_classes: str | None = None,
) -> Path:
    """The ONNX export of the segmentation checkpoint ``weights``: reused from ``out_dir`` while its sidecar's
    sha256 is the file's, else exported once (changed weights at the same path are exported again).

    Args:
        weights: a segmentation checkpoint :func:`rtpose.weights.seg.load_seg_model` reads.
        input_hw: the trace size, and the graph's fixed (H, W) when ``dynamic_hw`` is False.
        dynamic_hw: dynamic height and width (whole frames of any shape) besides the dynamic batch.
        fp16: an FP16 graph (for TensorRT).
        out_dir: the engines folder (default: :func:`rtpose.export.sidecar.default_engines_dir`).
        seg_classes: the class set's name, recorded in the sidecar.
    """
    from rtpose.export.sidecar import default_engines_dir
    from rtpose.io.paths import output_folder
    from rtpose.utils.hashing import file_sha256
    from rtpose.weights.seg import load_seg_model

    out_dir = Path(out_dir) if out_dir is not None else default_engines_dir()
    weights = Path(weights)
    sha, precision = file_sha256(weights), "fp16" if fp16 else "fp32"
    found = find_seg_onnx(out_dir, sha, input_hw, dynamic_hw, precision)
    if found is not None:
        return found
    output_folder(out_dir, "engines folder (--out or $RTPOSE_ENGINES)")
    model = load_seg_model(weights)
    path = out_dir / seg_onnx_name(model.width, sha, input_hw, dynamic_hw, precision)
    with artifact_lock(path):  # one export per artefact: another process's export is waited for and reused
        found = find_seg_onnx(out_dir, sha, input_hw, dynamic_hw, precision)
        if found is not None:
            return found
        shape = "dynamic H, W" if dynamic_hw else size_text(input_hw)
        log(f"no ONNX export of {weights.name} ({shape}, {precision}) in {out_dir}; exporting it once (kept there)")
        return export_seg_onnx(model, path, input_hw=input_hw, dynamic_hw=dynamic_hw, fp16=fp16,
                               seg_classes=seg_classes,
                               extra={"weights": str(weights.resolve()), "weights_sha256": sha})


def run_seg_onnx(path: str | os.PathLike, batch: np.ndarray, providers: list[str] | None = None) -> np.ndarray:
    """Run an exported graph with ONNX Runtime (CPU unless ``providers``): ``(N, 3, H, W)`` → logits."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})[0]
