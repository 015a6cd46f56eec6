"""The COCO-17 keypoint skeleton, defined once for the whole project.

Keypoint order is COCO's: index ``i`` of every ``(17, 3)`` keypoint array is ``KEYPOINT_NAMES[i]``.
"""

from __future__ import annotations

import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

#: (left, right) index pairs that swap under a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def _flip_permutation() -> np.ndarray:
    perm = np.arange(NUM_KEYPOINTS)
    for left, right in FLIP_PAIRS:
        perm[left], perm[right] = right, left
    return perm


#: ``keypoints[FLIP_INDEX]`` reorders keypoints of a mirrored image so that "left" means left again.
FLIP_INDEX: np.ndarray = _flip_permutation()

#: Limbs as (from, to) keypoint indices, as drawn by the COCO API (0-based).
LIMBS: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12),
    (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
    (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

#: Which side of the body each keypoint belongs to: "left", "right" or "centre".
KEYPOINT_SIDES: tuple[str, ...] = tuple(
    "left" if n.startswith("left") else "right" if n.startswith("right") else "centre" for n in KEYPOINT_NAMES
)

#: BGR colours (OpenCV order) per body side, used for keypoints and the limbs that end in them.
SIDE_COLOURS_BGR: dict[str, tuple[int, int, int]] = {
    "left": (0, 165, 255),    # orange
    "right": (255, 128, 0),   # blue
    "centre": (0, 255, 0),    # green
}


def limb_colour_bgr(limb: tuple[int, int]) -> tuple[int, int, int]:
    """Colour of a limb: the side both ends share, else the centre colour."""
    a, b = (KEYPOINT_SIDES[i] for i in limb)
    return SIDE_COLOURS_BGR[a if a == b else "centre"]


#: Per-keypoint OKS sigmas from the COCO evaluation (pycocotools ``COCOeval.kpt_oks_sigmas``).
OKS_SIGMAS: np.ndarray = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)

#: Keypoints of the upper body (head, shoulders, arms), used by half-body augmentation.
UPPER_BODY: tuple[int, ...] = tuple(range(11))
