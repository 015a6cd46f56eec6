"""Which device a model runs on: the one resolution of ``device="auto"`` for the detector and the pose backend.

Devices are written as PyTorch writes them: ``"cpu"``, ``"cuda"`` (the current GPU) or ``"cuda:N"``.
"""

from __future__ import annotations

from rtpose.errors import RtposeError


def cuda_count() -> int:
    """How many CUDA devices PyTorch sees (0 without a GPU or a working driver)."""
    import torch

    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except RuntimeError:  # a broken driver: no GPU to use
        return 0


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` where PyTorch sees a GPU, else ``"cpu"``; anything else is returned as given."""
    if device == "auto":
        return "cuda" if cuda_count() else "cpu"
    return device


def check_device(device: str) -> None:
    """One sentence, before any model loads, when ``device`` is not a device or names a GPU this machine lacks."""
    if device in ("auto", "cpu"):
        return
    name, _, index_text = device.partition(":")
    if name != "cuda" or (index_text and not index_text.isdigit()):
        raise RtposeError(f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    count = cuda_count()
    if count == 0:
        raise RtposeError(f"device={device!r} asks for an NVIDIA GPU, but PyTorch sees none on this machine "
                          "(use device='cpu', or device='auto' to use a GPU only where there is one).")
    index = int(index_text) if index_text else 0
    if index >= count:
        raise RtposeError(f"device={device!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}.")


def available_devices() -> list[str]:
    """``auto``, ``cpu`` and each CUDA device PyTorch sees (a viewer's choices)."""
    return ["auto", "cpu", *(f"cuda:{i}" for i in range(cuda_count()))]


__all__ = ["available_devices", "check_device", "cuda_count", "resolve_device"]
