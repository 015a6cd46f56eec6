"""Segmentation next to pose: person masks and body-part parsing, their class sets and mask geometry."""
