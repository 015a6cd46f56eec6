"""PyTorch runtime: any rtpose network (HRNet, HRNetSeg) on the CPU in float32, on CUDA in float16."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rtpose.runtime.base import UNLIMITED_BATCH, Runtime
from rtpose.runtime.devices import resolve_device


def resolve_torch_device(device: str = "auto") -> torch.device:
    """``auto`` → the first CUDA device if there is one, else the CPU."""
    device = resolve_device(device)
    return torch.device(device)


class TorchBackend(Runtime):
    """Runs a network (its weights already loaded) with PyTorch.

    Args:
        model: the network, e.g. an :class:`~rtpose.models.HRNet` or :class:`~rtpose.models.HRNetSeg`.
        device: "cpu", "cuda", "cuda:N" or "auto".
        input_hw: model input (H, W), or None for a network that takes any size.
        fp16: half precision; defaults to True on CUDA and is not allowed on the CPU.
        channels_last: channels-last memory inside the network (default: on CUDA, where cuDNN is faster
            with it); the returned maps are C-contiguous NCHW either way.

    PyTorch modules in inference mode may be called from several threads at once.
    """

    name = "torch"

    def __init__(
        self,
        model: Any,
        device: str = "auto",
        input_hw: tuple[int, int] | None = (256, 192),
        fp16: bool | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.torch_device = resolve_torch_device(device)
        cuda = self.torch_device.type == "cuda"
        self.fp16 = cuda if fp16 is None else fp16
        if self.fp16 and not cuda:
            raise ValueError("FP16 inference with PyTorch needs a CUDA device.")
        self.input_hw = None if input_hw is None else tuple(input_hw)
        self.max_batch = UNLIMITED_BATCH
        self.num_joints = getattr(model, "num_joints", None)
        self.channels_last = cuda if channels_last is None else channels_last
        model = model.eval().to(self.torch_device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.half() if self.fp16 else model
        name = torch.cuda.get_device_name(self.torch_device) if cuda else "cpu"
        self.device = f"{self.torch_device} ({name})" if cuda else "cpu"
        self.precision = "fp16" if self.fp16 else "fp32"
        self.device += f" {self.precision}"

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 C-contiguous maps ``(N, C, ceil(H/4), ceil(W/4))``."""
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.torch_device, non_blocking=True)
        return self.infer_device(x).cpu().numpy()

    @torch.inference_mode()
    def infer_device(self, batch: Any) -> torch.Tensor:
        """float32 ``(N, 3, H, W)`` (a tensor, or a numpy array) → float32 contiguous NCHW maps on
        :attr:`torch_device`."""
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        x = batch.to(self.torch_device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.fp16:
            x = x.half()
        # A channels-last network returns channels-last maps: make them plain NCHW for numpy and the decoders.
        return self.model(x).float().contiguous()

    def close(self) -> None:
        """Free the model's memory (cached CUDA blocks are returned to the driver)."""
        self.model = None
        if self.torch_device.type == "cuda":
            torch.cuda.empty_cache()
