"""Target-weighted heatmap MSE (the official ``JointsMSELoss`` with ``use_target_weight``)."""

from __future__ import annotations

import torch
from torch import nn


class JointsMSELoss(nn.Module):
    """``0.5 × mean over joints of MSE(pred_j · w_j, target_j · w_j)``.

    Each joint's MSE is averaged over the batch and the heatmap pixels, as in the official code, so
    unlabelled joints (weight 0) contribute zero but still count in the mean over joints.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        n, k = pred.shape[:2]
        weight = target_weight.reshape(n, k, 1)
        diff = (pred.reshape(n, k, -1) - target.reshape(n, k, -1)) * weight
        return 0.5 * diff.pow(2).mean()
