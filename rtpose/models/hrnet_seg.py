"""HRNetV2 for semantic segmentation (human parsing), exactly as the official implementation.

Wang et al., "Deep High-Resolution Representation Learning for Visual Recognition", TPAMI 2020;
``lib/models/seg_hrnet.py`` of HRNet/HRNet-Semantic-Segmentation. The backbone is the pose
:class:`~rtpose.models.hrnet.HRNet`'s (same module names and shapes, one implementation:
:class:`~rtpose.models.hrnet.HRNetBackbone`) except that stage 4 keeps all four branches and the fuse
layers upsample bilinearly to the target branch's size, so inputs of any size work.

Head: branches 2–4 resized bilinearly to branch 1's size and concatenated (``15 × width`` channels:
720 for W48, 270 for W18), then ``last_layer`` = Conv1×1 (bias) → BN → ReLU → Conv1×1 to the classes.

Input: float32 ``(N, 3, H, W)``, RGB ``/255`` then ImageNet mean/std normalised (as rtpose's crops).
Output: float32 logits ``(N, num_classes, ceil(H/4), ceil(W/4))`` (output stride 4, not upsampled):
``(N, 20, 119, 119)`` for a 473×473 LIP crop.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from rtpose.models.hrnet import BN_MOMENTUM, HighResolutionModule, HRNetBackbone


def seg_output_hw(input_hw: tuple[int, int]) -> tuple[int, int]:
    """The logits' (H, W) for an input (H, W): two 3×3 stride-2 padding-1 convs, i.e. ``ceil(x / 4)``."""
    return tuple(((int(v) + 1) // 2 + 1) // 2 for v in input_hw)


class HRNetSeg(HRNetBackbone):
    """HRNetV2-W``width`` segmentation network (``HighResolutionNet`` of ``seg_hrnet.py``).

    Args:
        width: channels of the highest-resolution branch (18, 32 or 48 published).
        num_classes: number of classes (LIP 20, VOC 21, Cityscapes 19, ADE20K 150, Pascal Context 59/60).
        align_corners: ``functional.interpolate``'s ``align_corners`` for every bilinear resize (the official LIP,
            Cityscapes … configs and mmsegmentation use False).

    ``forward(x)``: ``x`` float32 ``(N, 3, H, W)`` → logits ``(N, num_classes, ceil(H/4), ceil(W/4))``.
    """

    def __init__(self, width: int = 48, num_classes: int = 20, align_corners: bool = False) -> None:
        super().__init__(width, multi_scale_output=True, upsample="bilinear", align_corners=align_corners)
        if num_classes <= 0:
            raise ValueError(f"HRNetSeg num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.align_corners = align_corners
        channels = sum(self.branch_channels)
        self.last_layer = nn.Sequential(
            nn.Conv2d(channels, channels, 1, 1, 0),
            nn.BatchNorm2d(channels, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, 1, 1, 0),
        )

    @property
    def align_corners(self) -> bool:
        """``align_corners`` of every bilinear resize; setting it updates the fuse layers too."""
        return self._align_corners

    @align_corners.setter
    def align_corners(self, value: bool) -> None:
        self._align_corners = bool(value)
        for module in self.modules():
            if isinstance(module, HighResolutionModule):
                module.align_corners = bool(value)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` → the concatenated multi-resolution features ``(N, 15·width, ceil(H/4), ceil(W/4))``."""
        y = self.forward_features(x)
        size = y[0].shape[-2:]
        up = [functional.interpolate(t, size=size, mode="bilinear", align_corners=self.align_corners) for t in y[1:]]
        return torch.cat([y[0], *up], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(self.features(x))
