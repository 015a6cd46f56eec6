"""PyTorch backend: CPU in float32, CUDA in float16 with channels-last memory."""

from __future__ import annotations

import os

import numpy as np
import torch

from rtpose.models import HRNet


def resolve_torch_device(device: str = "auto") -> torch.device:
    """``auto`` → the first CUDA device if there is one, else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


class TorchBackend:
    """Runs an :class:`~rtpose.models.HRNet` with PyTorch.

    Args:
        model: the network (its weights already loaded).
        device: "cpu", "cuda", "cuda:N" or "auto".
        input_hw: model input (H, W).
        fp16: half precision; defaults to True on CUDA and is not allowed on the CPU.
    """

    name = "torch"

    def __init__(
        self, model: HRNet, device: str = "auto", input_hw: tuple[int, int] = (256, 192), fp16: bool | None = None
    ) -> None:
        self.torch_device = resolve_torch_device(device)
        cuda = self.torch_device.type == "cuda"
        self.fp16 = cuda if fp16 is None else fp16
        if self.fp16 and not cuda:
            raise ValueError("FP16 inference with PyTorch needs a CUDA device.")
        if not cuda:
            # Importing ultralytics lowers torch's thread count to cpu_count - 1; use every core.
            torch.set_num_threads(os.cpu_count() or 1)
        self.input_hw = tuple(input_hw)
        self.max_batch = 1024
        self.num_joints = model.num_joints
        model = model.eval().to(self.torch_device)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.half() if self.fp16 else model
        name = torch.cuda.get_device_name(self.torch_device) if cuda else "cpu"
        self.device = f"{self.torch_device} ({name})" if cuda else "cpu"
        self.device += " fp16" if self.fp16 else " fp32"

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 heatmaps ``(N, K, H/4, W/4)``."""
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.torch_device, non_blocking=True)
        if self.torch_device.type == "cuda":
            x = x.to(memory_format=torch.channels_last)
        if self.fp16:
            x = x.half()
        return self.model(x).float().cpu().numpy()

    def close(self) -> None:
        """Free the model's memory (cached CUDA blocks are returned to the driver)."""
        self.model = None
        if self.torch_device.type == "cuda":
            torch.cuda.empty_cache()
