"""Pose and segmentation models."""

from rtpose.models.hrnet import SUPPORTED_WIDTHS, HRNet, HRNetBackbone
from rtpose.models.hrnet_seg import HRNetSeg, seg_output_hw

__all__ = ["HRNet", "HRNetBackbone", "HRNetSeg", "SUPPORTED_WIDTHS", "seg_output_hw"]
