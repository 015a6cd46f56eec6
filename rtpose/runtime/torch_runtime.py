"""PyTorch backend: CPU in float32, CUDA in float16 with channels-last memory."""

from __future__ import annotations

import numpy as np
import torch

from rtpose.models import HRNet
from rtpose.runtime.devices import resolve_device


def resolve_torch_device(device: str = "auto") -> torch.device:
    """``auto`` → the first CUDA device if there is one, else the CPU."""
    device = resolve_device(device)
    return torch.device(device)


class TorchBackend:
    """Runs an :class:`~rtpose.models.HRNet` with PyTorch.

    Args:
        model: the network (its weights already loaded).
        device: "cpu", "cuda", "cuda:N" or "auto".
        input_hw: model input (H, W).
        fp16: half precision; defaults to True on CUDA and is not allowed on the CPU.
        channels_last: channels-last memory inside the network (default: on CUDA, where cuDNN is faster
            with it); the returned heatmaps are C-contiguous NCHW either way.
    """

    name = "torch"

    def __init__(
        self,
        model: HRNet,
        device: str = "auto",
        input_hw: tuple[int, int] = (256, 192),
        fp16: bool | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.torch_device = resolve_torch_device(device)
        cuda = self.torch_device.type == "cuda"
        self.fp16 = cuda if fp16 is None else fp16
        if self.fp16 and not cuda:
            raise ValueError("FP16 inference with PyTorch needs a CUDA device.")
        self.input_hw = tuple(input_hw)
        self.max_batch = 1024
        self.num_joints = model.num_joints
        self.channels_last = cuda if channels_last is None else channels_last
        model = model.eval().to(self.torch_device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.half() if self.fp16 else model
        name = torch.cuda.get_device_name(self.torch_device) if cuda else "cpu"
        self.device = f"{self.torch_device} ({name})" if cuda else "cpu"
        self.precision = "fp16" if self.fp16 else "fp32"
        self.device += f" {self.precision}"
        self.note = ""
        self.artifact = None
        self.reason = ""

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 C-contiguous heatmaps ``(N, K, H/4, W/4)``."""
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.torch_device, non_blocking=True)
        return self.infer_device(x).cpu().numpy()

    @torch.inference_mode()
    def infer_device(self, batch: torch.Tensor) -> torch.Tensor:
        """float32 ``(N, 3, H, W)`` tensor on :attr:`torch_device` → float32 contiguous NCHW heatmaps there."""
        x = batch.to(self.torch_device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.fp16:
            x = x.half()
        # A channels-last network returns channels-last heatmaps: make them plain NCHW for numpy and codecs.
        return self.model(x).float().contiguous()

    def close(self) -> None:
        """Free the model's memory (cached CUDA blocks are returned to the driver)."""
        self.model = None
        if self.torch_device.type == "cuda":
            torch.cuda.empty_cache()
