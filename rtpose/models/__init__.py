"""Pose models."""

from rtpose.models.hrnet import SUPPORTED_WIDTHS, HRNet

__all__ = ["HRNet", "SUPPORTED_WIDTHS"]
