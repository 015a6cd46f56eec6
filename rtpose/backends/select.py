"""Choosing and building a backend by name (``auto`` picks the fastest available)."""

from __future__ import annotations

from rtpose.backends import BACKEND_NAMES, PoseBackend
from rtpose.errors import RtposeError, WeightsError


def create_backend(
    backend: str = "auto",
    weights: str | None = None,
    device: str = "auto",
    input_hw: tuple[int, int] = (256, 192),
    fp16: bool | None = None,
) -> PoseBackend:
    """Build the backend ``backend`` for ``weights`` on ``device``.

    The returned object has a ``reason`` attribute saying why it was chosen.
    """
    if backend not in BACKEND_NAMES:
        raise RtposeError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}.")
    if weights is None:
        raise WeightsError(
            "No HRNet weights given: download official ones with 'rtpose weights download hrnet_w32_coco_256x192' "
            "and pass --weights PATH (see 'rtpose weights list')."
        )
    from rtpose.backends.torch_backend import TorchBackend
    from rtpose.checkpoints import load_pose_model

    result = TorchBackend(load_pose_model(weights), device=device, input_hw=input_hw, fp16=fp16)
    result.reason = "PyTorch backend"
    return result
