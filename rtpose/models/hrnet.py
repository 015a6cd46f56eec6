"""HRNet for top-down pose estimation, exactly as the official implementation, and the backbone it
shares with HRNetV2 segmentation (:mod:`rtpose.models.hrnet_seg`).

Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation", CVPR 2019;
``lib/models/pose_hrnet.py`` of leoxiaobin/deep-high-resolution-net.pytorch. Module and parameter
names match the official checkpoints (``conv1``, ``layer1``, ``transition1``, ``stage2.0.branches``,
``stage2.0.fuse_layers``, ``final_layer``) so that they load with ``strict=True``.

Input: float32 ``(N, 3, H, W)`` RGB crops, ``/255`` then ImageNet mean/std normalised.
Output: float32 ``(N, K, H/4, W/4)`` heatmaps (``(N, 17, 64, 48)`` for a 256×192 crop).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

BN_MOMENTUM = 0.1

#: Stage widths of the high-resolution branch for the published variants.
SUPPORTED_WIDTHS = (18, 32, 48)


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection (ResNet basic block)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 convolutions with a residual connection (ResNet bottleneck, expansion 4)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


def _residual_layer(block: type[BasicBlock | Bottleneck], inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    downsample = None
    if inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, 1, bias=False),
            nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM),
        )
    layers = [block(inplanes, planes, 1, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """One exchange unit: four BasicBlocks per branch, then multi-scale fusion.

    Fusion into branch ``i`` from branch ``j``: ``j > i`` is a 1×1 conv + BN then upsampling to branch
    ``i``; ``j < i`` is ``i-j`` chained 3×3 stride-2 convs (+BN, ReLU between them), the last one
    changing the channel count. With ``multi_scale_output=False`` only branch 0 is produced.

    Upsampling (``upsample``):
    - ``"nearest"`` (pose HRNet, ``pose_hrnet.py``): an ``nn.Upsample(scale_factor=2**(j-i))`` inside the
      fuse layer, so branch sizes must halve exactly (inputs a multiple of 32);
    - ``"bilinear"`` (HRNetV2, ``seg_hrnet.py``): ``functional.interpolate(size=<branch i's size>, mode="bilinear",
      align_corners=align_corners)`` after the fuse layer, so any input size works.
    The parameter names and shapes are the same in both modes.
    """

    def __init__(
        self,
        channels: list[int],
        num_blocks: int = 4,
        multi_scale_output: bool = True,
        upsample: str = "nearest",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {upsample!r}")
        self.num_branches = len(channels)
        self.upsample = upsample
        self.align_corners = align_corners
        self.branches = nn.ModuleList(_residual_layer(BasicBlock, c, c, num_blocks) for c in channels)
        self.fuse_layers = (
            self._make_fuse_layers(channels, multi_scale_output, upsample) if self.num_branches > 1 else None
        )
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _make_fuse_layers(channels: list[int], multi_scale_output: bool, upsample: str = "nearest") -> nn.ModuleList:
        n = len(channels)
        fuse_layers = nn.ModuleList()
        for i in range(n if multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(n):
                if j > i:
                    layers: list[nn.Module] = [
                        nn.Conv2d(channels[j], channels[i], 1, 1, 0, bias=False),
                        nn.BatchNorm2d(channels[i], momentum=BN_MOMENTUM),
                    ]
                    if upsample == "nearest":
                        layers.append(nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"))
                    row.append(nn.Sequential(*layers))
                elif j == i:
                    row.append(None)
                else:
                    steps = [_conv_bn(channels[j], channels[j], 3, 2, relu=True) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(channels[j], channels[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return fuse_layers

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        bilinear = self.upsample == "bilinear"
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                if i == j:
                    y = y + x[j]
                elif j > i and bilinear:
                    y = y + functional.interpolate(
                        row[j](x[j]), size=x[i].shape[-2:], mode="bilinear", align_corners=self.align_corners
                    )
                else:
                    y = y + row[j](x[j])
            fused.append(self.relu(y))
        return fused


def _transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
    """Adapt the previous stage's branches to the next stage; a new branch comes from the lowest one."""
    layers: list[nn.Module | None] = []
    for i, out_ch in enumerate(cur):
        if i < len(pre):
            layers.append(_conv_bn(pre[i], out_ch, 3, 1, relu=True) if pre[i] != out_ch else None)
        else:
            steps = [_conv_bn(pre[-1], pre[-1], 3, 2, relu=True) for _ in range(i - len(pre))]
            steps.append(_conv_bn(pre[-1], out_ch, 3, 2, relu=True))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNetBackbone(nn.Module):
    """The HRNet backbone shared by the pose :class:`HRNet` and the segmentation ``HRNetSeg``.

    Stem (two 3×3 stride-2 convs, 64 channels), ``layer1`` (four Bottlenecks), then stages 2–4 with
    2, 3 and 4 parallel branches of ``width × (1, 2, 4, 8)`` channels at 1/4, 1/8, 1/16 and 1/32 of the
    input resolution (each size is ``ceil`` of the previous one / 2). Its modules are registered on the
    model itself (not under a ``backbone.`` prefix) so the official checkpoint names load unchanged.

    Args:
        width: channels of the highest-resolution branch.
        multi_scale_output: True keeps all four branches after the last exchange unit (HRNetV2);
            False keeps branch 0 only (pose HRNet, whose last unit has no fuse rows 1–3).
        upsample: ``"nearest"`` (pose) or ``"bilinear"`` (segmentation), see :class:`HighResolutionModule`.
        align_corners: for bilinear upsampling.

    ``forward_features(x)``: ``x`` float32 ``(N, 3, H, W)`` → list of branch outputs; branch ``b`` is
    ``(N, width·2**b, H_b, W_b)`` with ``H_0 = ceil(H/4)``, ``H_b = ceil(H_{b-1}/2)``.
    """

    #: Exchange modules per stage (stages 2, 3, 4), as in the paper: 1, 4 and 3 (8 fusions in all).
    STAGE_MODULES = (1, 4, 3)

    def __init__(
        self,
        width: int = 32,
        multi_scale_output: bool = False,
        upsample: str = "nearest",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"HRNet width must be positive, got {width}")
        self.width = width
        options = {"upsample": upsample, "align_corners": align_corners}

        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _residual_layer(Bottleneck, 64, 64, 4)

        stage_channels = [[width * 2**b for b in range(n)] for n in (2, 3, 4)]
        #: Channels of the four branches after stage 4.
        self.branch_channels = stage_channels[2]
        self.transition1 = _transition([64 * Bottleneck.expansion], stage_channels[0])
        self.stage2 = self._make_stage(stage_channels[0], self.STAGE_MODULES[0], **options)
        self.transition2 = _transition(stage_channels[0], stage_channels[1])
        self.stage3 = self._make_stage(stage_channels[1], self.STAGE_MODULES[1], **options)
        self.transition3 = _transition(stage_channels[1], stage_channels[2])
        self.stage4 = self._make_stage(
            stage_channels[2], self.STAGE_MODULES[2], multi_scale_output=multi_scale_output, **options
        )

    @staticmethod
    def _make_stage(
        channels: list[int],
        num_modules: int,
        multi_scale_output: bool = True,
        upsample: str = "nearest",
        align_corners: bool = False,
    ) -> nn.Sequential:
        return nn.Sequential(
            *(
                HighResolutionModule(
                    channels,
                    multi_scale_output=multi_scale_output or i < num_modules - 1,
                    upsample=upsample,
                    align_corners=align_corners,
                )
                for i in range(num_modules)
            )
        )

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(transition):
            if layer is None:
                out.append(branches[i])
            else:
                out.append(layer(branches[i] if i < len(branches) else branches[-1]))
        return out

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, 3, H, W)`` → the branch outputs of stage 4 (one or four, see the class docstring)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        y = self.stage2(self._apply_transition(self.transition1, [x]))
        y = self.stage3(self._apply_transition(self.transition2, y))
        return self.stage4(self._apply_transition(self.transition3, y))

    def init_weights(self) -> None:
        """The official initialisation for training from scratch: N(0, 0.001) convs, unit BN, zero bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


class HRNet(HRNetBackbone):
    """Pose HRNet (``PoseHighResolutionNet``) of a given width.

    Args:
        width: channels of the highest-resolution branch; branches have ``width × (1, 2, 4, 8)``
            channels at 1/4, 1/8, 1/16 and 1/32 of the input resolution.
        num_joints: number of heatmaps produced (17 for COCO).

    ``forward(x)``: ``x`` float32 ``(N, 3, H, W)`` → heatmaps ``(N, num_joints, H/4, W/4)``
    (``H``, ``W`` multiples of 32: the fuse layers upsample by fixed factors, as the official code).
    """

    def __init__(self, width: int = 32, num_joints: int = 17) -> None:
        super().__init__(width, multi_scale_output=False, upsample="nearest")
        self.num_joints = num_joints
        self.final_layer = nn.Conv2d(width, num_joints, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.forward_features(x)[0])
