"""Weights: the registry of official checkpoints with its download cache, and loading pose and segmentation
checkpoints."""
