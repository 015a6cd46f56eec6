"""Detection every N frames: between detections, each person's box comes from their previous keypoints.

As rtmlib's ``PoseTracker(det_frequency=N)`` and mmdeploy's PoseTracker do: the detector runs on frames
0, N, 2N, …; on the frames between, every person of the previous frame gets the box spanning their
keypoints (those scoring at least ``kpt_thr``), enlarged by ``expansion`` around its centre (rtmlib's
``pose_to_bbox``, 1.25), clipped to the image, with their detection score carried over. The crop then
adds its usual padding (:data:`rtpose.pose.crops.BOX_PADDING`), as for a detector box. A person with fewer
than ``min_keypoints`` keypoints above ``kpt_thr`` has no box and waits for the next detection; people
who enter the picture are found at the next detection.

Coordinates are image pixels (x1, y1, x2, y2), as everywhere in rtpose.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rtpose.pose.detector import Detections
from rtpose.results import PoseResult

#: Enlargement of the keypoints' extent around its centre (rtmlib's ``pose_to_bbox`` default).
KEYPOINT_BOX_EXPANSION = 1.25


def boxes_from_keypoints(
    keypoints: np.ndarray,
    image_wh: tuple[int, int],
    kpt_thr: float = 0.3,
    expansion: float = KEYPOINT_BOX_EXPANSION,
    min_keypoints: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes from their keypoints.

    Args:
        keypoints: float ``(N, K, 3)`` rows of (x, y, score) in image pixels.
        image_wh: (W, H) of the image the boxes are clipped to.
        kpt_thr: keypoints scoring below this are ignored.
        expansion: the extent of the kept keypoints is enlarged by this factor around its centre.
        min_keypoints: people with fewer kept keypoints get no box.

    Returns:
        ``boxes`` float32 ``(N, 4)`` (x1, y1, x2, y2) and ``valid`` bool ``(N,)`` (rows of invalid people are 0).
    """
    kpts = np.asarray(keypoints, dtype=np.float32)
    kpts = kpts.reshape(len(kpts), -1, 3) if kpts.size else np.zeros((len(kpts), 0, 3), np.float32)
    boxes = np.zeros((len(kpts), 4), np.float32)
    valid = np.zeros(len(kpts), bool)
    w, h = image_wh
    for i, person in enumerate(kpts):
        kept = person[person[:, 2] >= kpt_thr, :2]
        kept = kept[np.isfinite(kept).all(axis=1)]
        if len(kept) < min_keypoints:
            continue
        low, high = kept.min(axis=0), kept.max(axis=0)
        center, half = (low + high) * 0.5, (high - low) * 0.5 * expansion
        box = np.concatenate([center - half, center + half])
        box = np.clip(box, 0, [w - 1, h - 1, w - 1, h - 1])
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            continue
        boxes[i], valid[i] = box, True
    return boxes, valid


class DetectEveryN:
    """Which boxes the pose model gets for each frame: the detector's every ``every`` frames, else keypoint boxes.

    Args:
        every: run the detector on one frame in ``every`` (1: every frame).
        kpt_thr, expansion, min_keypoints: see :func:`boxes_from_keypoints`.

    Use per frame, in order::

        detections = schedule.detections(image, detector)   # the detector or the previous keypoints
        result = estimator.estimate(image, detections)
        schedule.update(result)
    """

    def __init__(
        self,
        every: int,
        kpt_thr: float = 0.3,
        expansion: float = KEYPOINT_BOX_EXPANSION,
        min_keypoints: int = 3,
    ) -> None:
        if int(every) < 1:
            raise ValueError(f"detection every N frames needs N >= 1, got {every}")
        self.every = int(every)
        self.kpt_thr, self.expansion, self.min_keypoints = kpt_thr, expansion, min_keypoints
        self.detector_calls = 0
        self._since_detection: int | None = None  # frames since the last detection; None: detect next
        self._last: Detections | None = None
        self._image_wh = (1 << 30, 1 << 30)

    def reset(self) -> None:
        """Detect on the next frame (after a seek, or a new source)."""
        self._since_detection, self._last = None, None

    def due(self) -> bool:
        """Whether the next frame is a detection frame (the state does not change)."""
        return self._since_detection is None or self._since_detection + 1 >= self.every or self._last is None

    def detections(self, image_bgr: np.ndarray, detector: Callable[[np.ndarray], Detections]) -> Detections:
        """The boxes for this frame: ``detector(image_bgr)`` on a detection frame, else the keypoint boxes."""
        self._image_wh = (image_bgr.shape[1], image_bgr.shape[0])
        if self.due():
            self._since_detection = 0
            self.detector_calls += 1
            return detector(image_bgr)
        self._since_detection += 1
        return self._last

    def update(self, result: PoseResult) -> None:
        """Remember this frame's people (a :class:`~rtpose.results.PoseResult`) for the next frame."""
        if self._since_detection is None:
            return
        boxes, valid = boxes_from_keypoints(result.keypoints, self._image_wh, self.kpt_thr, self.expansion,
                                            self.min_keypoints)
        self._last = Detections(boxes[valid], np.asarray(result.scores, np.float32)[valid])


__all__ = ["DetectEveryN", "KEYPOINT_BOX_EXPANSION", "boxes_from_keypoints"]
