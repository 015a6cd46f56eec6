"""Export HRNet to ONNX (dynamic batch), check it, verify it against PyTorch, and cache the file.

The graph's interface is described in :mod:`rtpose.export.onnx_graph`; the numerical check is
:mod:`rtpose.export.verify`. The FP16 variant keeps that float32
interface: a Cast to float16 follows the input and a Cast to float32 precedes the output, and every
weight and activation in between is float16. Built as a strongly typed TensorRT network, that graph
gives an FP16 engine on TensorRT 10 and 11 (which no longer has the FP16 builder flag).

Each exported file gets a JSON sidecar (``X.onnx.json``): weights sha256, input size, precision,
opset, exporter versions and the verification result.
"""

from __future__ import annotations

import copy
import datetime as _dt
import inspect
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rtpose.engine.signals import stop_signals_raise
from rtpose.errors import RtposeError
from rtpose.export.onnx_graph import INPUT_NAME, OUTPUT_NAME, check_graph
from rtpose.export.sidecar import (
    artifact_lock,
    artifact_stem,
    default_engines_dir,
    find_artifacts,
    sidecar_path,
    size_text,
    temp_path,
    write_sidecar,
)
from rtpose.export.verify import load_verification_crops, verify_graph
from rtpose.log import say
from rtpose.utils.hashing import file_sha256

DEFAULT_OPSET = 17


class _Float16Graph(nn.Module):
    """float32 in → float16 network → float32 out (the casts become the graph's boundary Cast nodes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


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
    tmp = temp_path(path)  # unique: processes exporting the same file at once never share a temporary file
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (dummy,), str(tmp), **kwargs)
        if small:
            _set_spatial_size(tmp, (height, width))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
    log: Callable[[str], None] = say,
) -> Path:
    """Export, check, verify and describe (sidecar) the ONNX model of a checkpoint; returns its path.

    Args:
        weights: any checkpoint :func:`rtpose.weights.pose.load_pose_model` reads.
        out_dir: folder for the file (default: :func:`~rtpose.export.sidecar.default_engines_dir`).
        input_hw: model input (H, W).
        fp16: FP16 weights and compute with float32 I/O.
        opset: ONNX opset (17 or later).
        verify: compare ONNX Runtime with PyTorch on ``crops`` (synthetic when None).
        out_path: exact output file (overrides the name derived from the weights).
    """
    from rtpose.weights.pose import load_pose_model

    if opset < 17:
        raise RtposeError(f"opset {opset} is too old; rtpose exports opset 17 or later.")
    from rtpose.io.paths import output_file, output_folder

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
    with artifact_lock(path), stop_signals_raise(f"exporting {path.name}"):
        return _export_locked(model, weights, sha, path, input_hw, fp16, opset, verify, crops, crops_label, log)


def _export_locked(model, weights: Path, sha: str, path: Path, input_hw, fp16: bool, opset: int, verify: bool,
                   crops, crops_label: str, log: Callable[[str], None]) -> Path:
    """:func:`export_onnx` once it holds the artefact's lock. A failed check or verification, an error or a stop
    signal removes the file it wrote: no ONNX file without its sidecar is left behind."""
    before = _identity(path)
    try:
        return _export_and_record(model, weights, sha, path, input_hw, fp16, opset, verify, crops, crops_label, log)
    except BaseException:
        if _identity(path) != before:  # ours (an older export that is still in place stays, with its sidecar)
            path.unlink(missing_ok=True)
            sidecar_path(path).unlink(missing_ok=True)
        raise


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _export_and_record(model, weights: Path, sha: str, path: Path, input_hw, fp16: bool, opset: int, verify: bool,
                       crops, crops_label: str, log: Callable[[str], None]) -> Path:
    precision = "fp16" if fp16 else "fp32"
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
    from rtpose.weights.pose import checkpoint_keypoint_set

    write_sidecar(
        path,
        {
            "format": "onnx",
            "weights": str(weights.resolve()),
            "weights_sha256": sha,
            "model": f"hrnet_w{model.width}",
            "num_joints": int(model.num_joints),
            "keypoints": checkpoint_keypoint_set(weights).name,
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
    log: Callable[[str], None] = say,
) -> Path:
    """The ONNX file of ``weights`` at ``input_hw``: reused from ``out_dir`` when its sidecar matches, else exported."""
    out_dir = Path(out_dir) if out_dir is not None else default_engines_dir()
    sha, precision = file_sha256(weights), "fp16" if fp16 else "fp32"
    found = find_onnx(sha, input_hw, precision, out_dir)
    if found is not None:
        return found
    from rtpose.io.paths import output_folder

    output_folder(out_dir, "engines folder (--out or $RTPOSE_ENGINES)")
    # One export per artefact: a process that finds another exporting it waits, then reuses its file.
    with artifact_lock(out_dir / f"{artifact_stem(None, sha, input_hw, precision)}.onnx"):
        found = find_onnx(sha, input_hw, precision, out_dir)
        if found is not None:
            log(f"another process exported {found.name} meanwhile; using it")
            return found
        log(f"no ONNX export of {Path(weights).name} at {size_text(input_hw)} in {out_dir}; exporting it once "
            "(kept there)")
        return export_onnx(weights, out_dir=out_dir, input_hw=input_hw, fp16=fp16, verify=verify, log=log)


