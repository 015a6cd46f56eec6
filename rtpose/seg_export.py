"""Export :class:`~rtpose.models.HRNetSeg` to ONNX with a dynamic batch and, optionally, dynamic H and W.

The graph: input ``"input"`` float32 ``(batch, 3, height, width)`` (normalised as rtpose's crops), output
``"logits"`` float32 ``(batch, num_classes, ceil(height/4), ceil(width/4))``. With ``dynamic_hw=True`` (the
default) one file serves person crops and whole frames of any size: every bilinear resize takes its
target size from the tensor it is added to (``Shape`` → ``Resize(sizes=…)``), as in PyTorch. With
``dynamic_hw=False`` the graph is fixed to ``input_hw`` (batch still dynamic), which some TensorRT
builds prefer.

A JSON sidecar (``X.onnx.json``) records the model (width, classes, align_corners, class set), the
input size and the exporter versions. This module is separate from the pose exporter
(:mod:`rtpose.backends.onnx_export`), whose graph interface (``"heatmaps"``) the pose runtimes check.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

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
) -> Path:
    """Write ``model`` as ONNX (TorchScript exporter) and its sidecar; return the ``.onnx`` path.

    Args:
        model: the network (copied; the caller's model is left as it is).
        path: the ``.onnx`` file to write.
        input_hw: the input (H, W) to trace at, and the declared size when ``dynamic_hw`` is False.
        dynamic_hw: dynamic height and width (besides the batch).
        opset: ONNX opset (17 or later).
        seg_classes: the class set name to record in the sidecar, if known.
    """
    if opset < 17:
        raise ValueError(f"opset {opset} is too old; rtpose exports opset 17 or later")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(model).eval().cpu().float()
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
    tmp = path.with_name(path.name + ".part")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (dummy,), str(tmp), **kwargs)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    import onnx

    onnx.checker.check_model(str(path))
    meta = {
        "kind": "segmentation",
        "file": path.name,
        "width": model.width,
        "num_classes": model.num_classes,
        "align_corners": bool(model.align_corners),
        "seg_classes": seg_classes,
        "input_size": [int(input_hw[0]), int(input_hw[1])],
        "dynamic_hw": bool(dynamic_hw),
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "output_stride": 4,
        "opset": int(opset),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
    }
    path.with_name(path.name + ".json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def run_seg_onnx(path: str | os.PathLike, batch: np.ndarray, providers: list[str] | None = None) -> np.ndarray:
    """Run an exported graph with ONNX Runtime (CPU unless ``providers``): ``(N, 3, H, W)`` → logits."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)})[0]
