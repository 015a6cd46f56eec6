"""Loading HRNet weights from any supported checkpoint file, through one function.

Supported layouts (all loaded with ``torch.load(..., weights_only=True)`` and ``strict=True``):
- official HRNet releases: a plain state_dict (optionally with DataParallel's ``module.`` prefix);
- mmpose 0.x: ``{"state_dict": {"backbone.*", "keypoint_head.final_layer.*"}}``;
- mmpose 1.x: ``{"state_dict": {"backbone.*", "head.final_layer.*"}}``;
- rtpose training checkpoints: ``{"model": state_dict, "meta": {...}, ...}``.

Every keypoint set (:mod:`rtpose.pose.keypoint_sets`) has the same layout: the published files of a set differ
from COCO's only in the head, ``final_layer.weight`` ``(K, C, 1, 1)`` and ``final_layer.bias`` ``(K,)``,
so ``K`` is read from the final layer's output count and the set follows from :func:`checkpoint_keypoint_set`.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch

from rtpose.errors import WeightsError, exception_gist
from rtpose.models import HRNet
from rtpose.pose.keypoint_sets import COCO, KeypointSet, get_keypoint_set, keypoint_set_for

_PREFIX_MAP = (
    ("module.", ""),
    ("backbone.", ""),
    ("keypoint_head.final_layer.", "final_layer."),
    ("head.final_layer.", "final_layer."),
)


#: Globals a weights-only checkpoint may name (tensors, their storage, plain containers, numpy scalars).
_PLAIN_GLOBALS = ("torch.", "collections.", "numpy.", "builtins.", "__builtin__.", "_codecs.", "argparse.Namespace")


def _pickled_globals(path: Path) -> list[str]:
    """Every ``module.name`` a ``torch.save`` archive's pickle refers to, read from its opcodes (nothing runs).

    Not :func:`torch.serialization.get_unsafe_globals_in_checkpoint`: it leaves out what the process has
    allowed, and that is the question here. A damaged archive gives [] (``torch.load`` then says so).
    """
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            data = archive.read(name) if name is not None else b""
        found, strings = [], []
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(str(arg))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
        return found
    except Exception:  # noqa: BLE001 - a damaged archive
        return []


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw contents of a checkpoint file, loaded safely; a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file {path} does not exist.")
    with open(path, "rb") as file:
        magic = file.read(4)
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):  # a zip archive or a pickle
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint (neither a zip archive nor a pickle).")
    # Other libraries may have allowed their classes for every weights-only load of the process (Ultralytics
    # does when it loads a detector safely): a checkpoint must hold tensors and plain containers whatever
    # they allowed.
    if magic.startswith(b"PK\x03\x04"):
        objects = [name for name in _pickled_globals(path)
                   if not name.startswith(_PLAIN_GLOBALS) or name.startswith("torch.nn.")]
        if objects:
            raise WeightsError(
                f"{path} holds pickled Python objects ({objects[0]}), not just tensors; rtpose only loads "
                "weights-only checkpoints, so pass an HRNet state_dict file."
            )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if refused is None:
            raise WeightsError(f"{path} is not a readable PyTorch checkpoint (corrupt, or not a .pth file).") from None
        raise WeightsError(
            f"{path} holds pickled Python objects ({refused.group(1)}), not just tensors; rtpose only loads "
            "weights-only checkpoints, so pass an HRNet state_dict file."
        ) from None
    except Exception as exc:  # arbitrary bytes make torch.load raise many types (IndexError, RuntimeError …)
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({exception_gist(exc)}).") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path} holds a {type(data).__name__}, not a checkpoint dictionary.")
    return data


def extract_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The model's state_dict in official HRNet names, from any supported checkpoint layout."""
    for key in ("model", "state_dict"):
        if key in checkpoint and isinstance(checkpoint[key], dict):
            checkpoint = checkpoint[key]
            break
    state = {}
    for name, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            continue
        for old, new in _PREFIX_MAP:
            if name.startswith(old):
                name = new + name[len(old) :]
        state[name] = value
    return state


def infer_architecture(state_dict: dict[str, torch.Tensor]) -> tuple[int, int]:
    """``(width, num_joints)`` of the HRNet a state_dict belongs to, read from ``final_layer.weight``."""
    weight = state_dict.get("final_layer.weight")
    if weight is None or weight.ndim != 4:
        raise WeightsError("The checkpoint has no HRNet pose head ('final_layer.weight'), so it is not an HRNet model.")
    return int(weight.shape[1]), int(weight.shape[0])


def load_state_dict_strict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint",
                           model_text: str | None = None) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with an error that names what does not fit.

    ``model_text``: how the sentence calls the model (default: ``HRNet-W{width} with {num_joints} joints``).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
                parts.append(f"{len(keys)} {label} ({shown})")
        raise WeightsError(
            f"{source} does not fit {model_text or f'HRNet-W{model.width} with {model.num_joints} joints'}: "
            + "; ".join(parts) + "."
        )
    model.load_state_dict(state_dict, strict=True)


def load_pose_model(path: str | os.PathLike, width: int | None = None, num_joints: int | None = None) -> HRNet:
    """Build an HRNet and load a checkpoint file into it (``strict=True``), in eval mode, on the CPU.

    Args:
        path: any supported checkpoint file (see the module docstring).
        width: expected HRNet width; None reads it from the file.
        num_joints: expected number of heatmaps; None reads it from the file.
    """
    state = extract_state_dict(read_checkpoint(path))
    file_width, file_joints = infer_architecture(state)
    model = HRNet(width=width or file_width, num_joints=num_joints or file_joints)
    load_state_dict_strict(model, state, source=str(path))
    return model.eval()


def checkpoint_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` dictionary of an rtpose or mmpose checkpoint (input size etc.), or ``{}``."""
    meta = read_checkpoint(path).get("meta")
    return meta if isinstance(meta, dict) else {}


def trained_input_hw(path: str | os.PathLike) -> tuple[int, int] | None:
    """The input (H, W) a checkpoint was trained for, if known: rtpose's ``meta.input_size``, else the
    registry entry of a known published file name (e.g. a 384×288 mmpose file), else None."""
    from rtpose.weights.registry import find_entry

    size = checkpoint_meta(path).get("input_size")
    if size is not None and len(size) == 2:
        return int(size[0]), int(size[1])
    entry = find_entry(Path(path).name)
    if entry is not None:
        return tuple(entry.input_hw)
    # An unknown file of another keypoint set: the size its published models use (256×256 for MPII/AP-10K).
    keypoints = checkpoint_keypoint_set(path)
    return tuple(keypoints.input_hw) if keypoints.input_hw != COCO.input_hw else None


_HEADS: dict[tuple[str, int, int], tuple[str | None, int]] = {}


def _recorded_set_and_joints(path: Path) -> tuple[str | None, int]:
    """``(meta.keypoints or None, number of heatmaps)`` of a checkpoint file, read once per file version."""
    if not path.is_file():
        raise WeightsError(f"Weights file {path} does not exist.")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HEADS:
        checkpoint = read_checkpoint(path)
        meta = checkpoint.get("meta")
        recorded = meta.get("keypoints") if isinstance(meta, dict) else None
        _HEADS[key] = (recorded, infer_architecture(extract_state_dict(checkpoint))[1])
    return _HEADS[key]


def checkpoint_keypoint_set(path: str | os.PathLike, name: str | None = None) -> KeypointSet:
    """The keypoint set of a checkpoint, ``.onnx`` or engine file.

    Order: ``name`` (``--keypoints``; it must have the file's number of keypoints), then the file's own
    record (an rtpose checkpoint's ``meta.keypoints``, an ONNX/engine sidecar's ``keypoints``), then the
    registry entry of a published file name, then the only set with the final layer's output count
    (COCO body for 17; AP-10K's 17 animal keypoints need ``name="ap10k"`` or the registry name).
    """
    from rtpose.weights.registry import find_entry

    path = Path(path)
    recorded = None
    if path.suffix.lower() in (".onnx", ".engine", ".plan", ".trt"):
        from rtpose.export.sidecar import sidecar_path

        side = sidecar_path(path)
        meta = {}
        if side.is_file():
            import json

            try:
                meta = json.loads(side.read_text())
            except (OSError, ValueError):
                meta = {}
        num_joints = meta.get("num_joints") if isinstance(meta, dict) else None
        recorded = meta.get("keypoints") if isinstance(meta, dict) else None
        if num_joints is None:
            return get_keypoint_set(name or recorded or COCO.name)
    else:
        recorded, num_joints = _recorded_set_and_joints(path)
    entry = find_entry(path.name)
    if name is None:
        name = recorded or (entry.keypoints if entry is not None else None)
    return keypoint_set_for(int(num_joints), name)
