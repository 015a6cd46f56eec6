"""Training checkpoints: written atomically, readable by ``rtpose --weights`` and by ``--resume``.

A checkpoint is a dict ``{"model": state_dict, "meta": {"width", "num_joints", "input_size"}, ...}``
(the layout :func:`rtpose.weights.pose.extract_state_dict` understands) plus, for the last one, the
optimiser, scheduler, gradient scaler, RNG states, epoch, best AP and config. Everything in it is
loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from rtpose.errors import CheckpointError, RtposeError
from rtpose.weights.pose import extract_state_dict, read_checkpoint

LAST = "last.pth"
BEST = "best.pth"


def save_atomic(obj: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then ``os.replace``.

    A run killed at any moment leaves either the previous complete file or the new complete file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def rng_state() -> dict:
    """Python, NumPy and torch (CPU and CUDA) random states, in weights_only-loadable types."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        s = state["numpy"]
        np.random.set_state(("MT19937", s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                             s["cached_gaussian"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def clean_temporaries(folder: str | os.PathLike) -> None:
    """Remove temporary files a killed run may have left behind."""
    for tmp in Path(folder).glob(".*.pth.*.tmp"):
        tmp.unlink(missing_ok=True)


def load_training_checkpoint(path: str | os.PathLike) -> dict:
    """A full training checkpoint (``last.pth``), checked for what ``--resume`` needs."""
    data = read_checkpoint(path)
    needed = {"model", "optimizer", "scheduler", "epoch", "config"}
    if not needed <= set(data):
        raise CheckpointError(
            f"{path} is not a resumable rtpose training checkpoint (it lacks {', '.join(sorted(needed - set(data)))}); "
            "to fine-tune from it use --weights instead."
        )
    return data


def load_imagenet_backbone(model: torch.nn.Module, path: str | os.PathLike) -> dict:
    """Load the tensors of an ImageNet HRNet file that match the model (pose HRNet or HRNetSeg) by name and shape.

    The classification heads (``incre_modules``, ``downsamp_modules``, ``final_layer``, ``classifier``)
    do not match and are ignored; the pose head stays as initialised. Returns counts for the log.
    """
    state = extract_state_dict(read_checkpoint(path))
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matched:
        raise RtposeError(f"{path} has no tensor that fits HRNet-W{model.width}; is it an HRNet ImageNet backbone?")
    model.load_state_dict(matched, strict=False)
    wrong_shape = [k for k in state if k in own and k not in matched]
    return {
        "loaded": len(matched),
        "model_tensors": len(own),
        "file_tensors": len(state),
        "ignored_unknown": len([k for k in state if k not in own]),
        "ignored_shape": len(wrong_shape),
        "not_in_file": len([k for k in own if k not in matched]),
    }
