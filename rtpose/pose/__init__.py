"""Top-down pose: person detection, crops, the heatmap codec, keypoint sets, the estimator that joins them."""
