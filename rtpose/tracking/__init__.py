"""Stable identities across frames (IoU/OKS tracker) and One-Euro smoothing of keypoints."""
