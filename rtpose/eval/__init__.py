"""Evaluation: COCO keypoint AP (and whole-body sets) and part-map IoU."""
