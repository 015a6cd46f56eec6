"""Loading HRNetV2 segmentation weights (:class:`~rtpose.models.HRNetSeg`) from any supported file.

Supported layouts (read with :func:`rtpose.weights.pose.read_checkpoint`, i.e. ``torch.load(...,
weights_only=True)``, and loaded with ``strict=True``):

- official HRNet-Semantic-Segmentation releases (``hrnet_lip_5583_torch04.pth`` …): saved through the
  training wrapper, so every key carries a ``model.`` prefix and ``loss.*`` entries may be present (they
  are dropped, and :func:`rtpose.log.say` says so); also inside ``{"state_dict": …}`` and with
  DataParallel's ``module.``;
- mmsegmentation's FCN-HRNet files: ``{"state_dict": {"backbone.*", "decode_head.*"}, "meta": …}``;
  ``decode_head.convs.0.conv`` (no bias), ``.bn`` and ``conv_seg`` are the official ``last_layer.0``,
  ``.1`` and ``.3``; the missing bias of ``last_layer.0`` becomes zeros (what mmseg's bias-free conv
  computes). mmseg's fuse layers upsample by ``2**k`` then resize, which equals the official resize for
  inputs that are multiples of 32 (at other sizes the two differ slightly);
- a plain ``HRNetSeg`` state_dict, or rtpose's ``{"model": state_dict, "meta": {"seg_classes": …,
  "align_corners": …}}``.

Width and class count are read from the state_dict (:func:`infer_seg_architecture`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rtpose.errors import WeightsError
from rtpose.log import say
from rtpose.models import HRNetSeg
from rtpose.seg.classes import SegClassSet, class_set_for
from rtpose.weights.pose import read_checkpoint

#: mmsegmentation's FCN-head names → the official ``last_layer`` names.
_MMSEG_HEAD = (
    ("decode_head.convs.0.conv.", "last_layer.0."),
    ("decode_head.convs.0.bn.", "last_layer.1."),
    ("decode_head.conv_seg.", "last_layer.3."),
)
#: Entries of published files that are not part of the network (training losses, auxiliary heads).
_DROPPED = ("loss.", "auxiliary_head.")


def _unwrap(checkpoint: dict) -> dict:
    for key in ("model", "state_dict"):
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return checkpoint[key]
    return checkpoint


def extract_seg_state_dict(checkpoint: dict, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The ``HRNetSeg`` state_dict in official names from any supported checkpoint layout.

    ``model.``/``module.`` prefixes are stripped, ``loss.*``/``auxiliary_head.*`` entries dropped (said via
    :func:`~rtpose.log.say`), mmseg names mapped, and mmseg's missing ``last_layer.0.bias`` set to zeros.
    """
    state: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    mmseg = False
    for name, value in _unwrap(checkpoint).items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in ("module.", "model.", "module."):  # DataParallel outside or inside the wrapper
            name = name.removeprefix(prefix)
        if name.startswith(_DROPPED):
            dropped.append(name)
            continue
        if name.startswith("backbone."):
            name, mmseg = name.removeprefix("backbone."), True
        for old, new in _MMSEG_HEAD:
            if name.startswith(old):
                name, mmseg = new + name[len(old):], True
        state[name] = value
    if dropped:
        kinds = sorted({d.split(".")[0] for d in dropped})
        say(f"{source}: ignored {len(dropped)} training-only entries ({', '.join(k + '.*' for k in kinds)})")
    weight = state.get("last_layer.0.weight")
    if mmseg and weight is not None and "last_layer.0.bias" not in state:
        state["last_layer.0.bias"] = torch.zeros(weight.shape[0], dtype=weight.dtype)
        say(f"{source}: mmsegmentation's head conv has no bias; using zeros for last_layer.0.bias")
    return state


def infer_seg_architecture(state_dict: dict[str, torch.Tensor]) -> tuple[int, int]:
    """``(width, num_classes)`` of the HRNetSeg a state_dict belongs to.

    The width is the output count of ``transition1.0.0.weight`` (the first branch), the classes the output
    count of ``last_layer.3.weight``; ``last_layer.0`` must take ``15 × width`` channels.
    """
    head = state_dict.get("last_layer.3.weight")
    trans = state_dict.get("transition1.0.0.weight")
    if head is None or head.ndim != 4 or trans is None or trans.ndim != 4:
        raise WeightsError(
            "The checkpoint has no HRNetV2 segmentation head ('last_layer.3.weight' or mmseg's "
            "'decode_head.conv_seg.weight') on an HRNet backbone, so it is not an HRNetV2 segmentation model."
        )
    width = int(trans.shape[0])
    concat = state_dict.get("last_layer.0.weight")
    if concat is not None and int(concat.shape[1]) != 15 * width:
        raise WeightsError(
            f"The checkpoint's head takes {int(concat.shape[1])} channels, not the {15 * width} of an HRNetV2-W{width} "
            "(an OCR or other head is not supported)."
        )
    return width, int(head.shape[0])


def load_seg_state_dict_strict(
    model: HRNetSeg, state_dict: dict[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with one sentence naming what does not fit."""
    from rtpose.weights.pose import load_state_dict_strict

    load_state_dict_strict(model, state_dict, source,
                           f"HRNetV2-W{model.width} segmentation with {model.num_classes} classes")


def _meta(checkpoint: dict) -> dict:
    meta = checkpoint.get("meta")
    return meta if isinstance(meta, dict) else {}


def load_seg_model(
    path: str | os.PathLike,
    num_classes: int | None = None,
    width: int | None = None,
    align_corners: bool | None = None,
) -> HRNetSeg:
    """Build an :class:`~rtpose.models.HRNetSeg` and load a checkpoint file into it (``strict=True``), in eval
    mode, on the CPU.

    Args:
        path: any supported checkpoint file (see the module docstring).
        num_classes: expected number of classes; None reads it from the file.
        width: expected HRNet width; None reads it from the file.
        align_corners: None takes the file's ``meta.align_corners``, else its registry entry's, else False.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    state = extract_seg_state_dict(checkpoint, source=str(path))
    file_width, file_classes = infer_seg_architecture(state)
    if align_corners is None:
        align_corners = _meta(checkpoint).get("align_corners")
    if align_corners is None:
        from rtpose.weights.registry import find_entry

        entry = find_entry(path.name)
        align_corners = bool(entry.align_corners) if entry is not None and entry.kind == "segmentation" else False
    model = HRNetSeg(width=width or file_width, num_classes=num_classes or file_classes,
                     align_corners=bool(align_corners))
    load_seg_state_dict_strict(model, state, source=str(path))
    return model.eval()


def checkpoint_seg_classes(path: str | os.PathLike, name: str | SegClassSet | None = None) -> SegClassSet:
    """The class set of a segmentation checkpoint.

    Order: ``name`` (the caller's ``seg_classes=``; it must have the file's class count), then the file's own
    record (``meta.seg_classes``), then the registry entry of a published file name, then the only set with
    the file's class count (an ambiguous count raises an error asking for ``seg_classes=``).
    """
    from rtpose.weights.registry import find_entry

    path = Path(path)
    checkpoint = read_checkpoint(path)
    _, num_classes = infer_seg_architecture(extract_seg_state_dict(checkpoint, source=str(path)))
    if name is None:
        name = _meta(checkpoint).get("seg_classes")
    if name is None:
        entry = find_entry(path.name)
        if entry is not None and entry.kind == "segmentation":
            name = entry.seg_classes
    return class_set_for(num_classes, name)


def recorded_input_size(checkpoint: dict) -> int | None:
    """The short side of the input a checkpoint says it was trained at (``meta.input_size``: ``[h, w]`` or
    one number), or None."""
    size = _meta(checkpoint).get("input_size")
    try:
        values = [int(v) for v in (size if isinstance(size, (list, tuple)) else [size])] if size is not None else []
    except (TypeError, ValueError):
        return None
    return min(values) if values and min(values) > 0 else None


def save_seg_checkpoint(
    model: HRNetSeg, path: str | os.PathLike, seg_classes: str | SegClassSet | None = None, **meta
) -> Path:
    """Write ``{"model": state_dict, "meta": {"seg_classes", "align_corners", "width", "num_classes", …}}``,
    rtpose's own layout, which :func:`load_seg_model` and :func:`checkpoint_seg_classes` read back."""
    record = {"width": model.width, "num_classes": model.num_classes, "align_corners": bool(model.align_corners)}
    if seg_classes is not None:
        record["seg_classes"] = class_set_for(model.num_classes, seg_classes).name
    record.update(meta)
    path = Path(path)
    torch.save({"model": model.state_dict(), "meta": record}, path)
    return path
