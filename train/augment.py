"""Training augmentation (the paper's recipe), expressed as one affine matrix per person.

Every sample is cropped with the library's :func:`rtpose.pose.crops.crop_transform` — the same code as
inference — optionally composed with a horizontal mirror of the whole image. The one matrix moves
both the pixels (:func:`rtpose.pose.crops.warp_crop`) and the keypoints
(:func:`rtpose.pose.crops.apply_transform`), so the two cannot disagree.

Recipe (official HRNet ``JointsDataset``):
- half-body crop with probability 0.3 for people with more than 8 labelled joints: the upper or the
  lower body's labelled joints, their box widened to the input aspect ratio and enlarged 1.5×;
- scale × clip(1 + 0.35·N(0, 1), 0.65, 1.35);
- rotation clip(45·N(0, 1), −90°, 90°) with probability 0.6, else 0;
- horizontal flip with probability 0.5: image x → W − 1 − x (OpenCV pixel centres, as the official
  ``fliplr_joints``), centre mirrored the same way, left/right joints swapped with ``FLIP_INDEX``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtpose.pose.crops import apply_transform, box_to_center_size, crop_transform
from rtpose.pose.keypoint_sets import FLIP_INDEX, UPPER_BODY

#: Half-body crops are this much larger than the box of the selected joints (official: 1.5).
HALF_BODY_PADDING = 1.5


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings (see the module docstring); ``enabled=False`` gives the plain GT-box crop."""

    enabled: bool = True
    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip: bool = True
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8

    @classmethod
    def from_dict(cls, data: dict | None) -> AugmentConfig:
        data = dict(data or {})
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class Crop:
    """Where one training sample comes from: crop ``center``/``size`` (image pixels, after any flip),
    ``rotation`` in degrees, and whether the image was mirrored first."""

    center: np.ndarray
    size: np.ndarray
    rotation: float = 0.0
    flip: bool = False


def flip_matrix(image_width: int) -> np.ndarray:
    """The 3×3 mirror ``x → W − 1 − x`` of an image ``image_width`` pixels wide."""
    return np.array([[-1.0, 0.0, image_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def sample_transform(crop: Crop, image_width: int, input_hw: tuple[int, int]) -> np.ndarray:
    """The 2×3 matrix from original image pixels to model-input pixels for ``crop``."""
    matrix = crop_transform(crop.center, crop.size, input_hw, crop.rotation).astype(np.float64)
    if crop.flip:
        matrix = matrix @ flip_matrix(image_width)
    return matrix.astype(np.float32)


def flip_keypoint_order(keypoints: np.ndarray, flip_index: np.ndarray = FLIP_INDEX) -> np.ndarray:
    """Reorder ``(K, …)`` keypoints of a mirrored image so that "left" means left again (``flip_index``: the
    keypoint set's, COCO's by default)."""
    return np.asarray(keypoints)[flip_index]


def half_body_box(
    keypoints_xy: np.ndarray, labelled: np.ndarray, aspect_ratio: float, rng: np.random.Generator,
    upper_body: tuple[int, ...] = UPPER_BODY, lower_body: tuple[int, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Centre and size of a crop around the upper or the lower body's labelled joints, or None.

    As the official ``half_body_transform``: the upper body when a coin says so and it has more than
    two labelled joints, else the lower body if it has more than two, else the upper body; at least
    two joints are needed. The centre is the joints' mean; the size is their box, widened to
    ``aspect_ratio`` and enlarged by :data:`HALF_BODY_PADDING`. ``upper_body``/``lower_body`` are the
    keypoint set's halves (COCO's by default; ``lower_body`` None means every keypoint not in the upper
    half; whole-body sets leave face and hands out of both, as mmpose does).
    """
    upper_mask = np.zeros(len(labelled), dtype=bool)
    upper_mask[list(upper_body)] = True
    if lower_body is None:
        lower_mask = ~upper_mask
    else:
        lower_mask = np.zeros(len(labelled), dtype=bool)
        lower_mask[list(lower_body)] = True
    upper = keypoints_xy[labelled & upper_mask]
    lower = keypoints_xy[labelled & lower_mask]
    prefer_upper = rng.random() < 0.5 and len(upper) > 2
    chosen = upper if prefer_upper or len(lower) <= 2 else lower
    if len(chosen) < 2:
        return None
    box = np.concatenate([chosen.min(axis=0), chosen.max(axis=0)])
    _, size = box_to_center_size(box, aspect_ratio, HALF_BODY_PADDING)
    return chosen.mean(axis=0).astype(np.float32), size.astype(np.float32)


def random_crop(
    center: np.ndarray,
    size: np.ndarray,
    keypoints: np.ndarray,
    image_width: int,
    aspect_ratio: float,
    config: AugmentConfig,
    rng: np.random.Generator,
    halves: tuple[tuple[int, ...], tuple[int, ...] | None] = (UPPER_BODY, None),
) -> Crop:
    """Draw one augmented crop for a person whose GT-box crop is ``center``/``size``.

    ``keypoints`` is ``(K, 3)`` (x, y, visibility) in image pixels (before any flip); ``halves`` the keypoint
    set's (upper, lower) body indices for half-body crops (see :func:`half_body_box`).
    """
    center = np.asarray(center, dtype=np.float32)
    size = np.asarray(size, dtype=np.float32)
    if not config.enabled:
        return Crop(center, size)
    labelled = keypoints[:, 2] > 0
    if labelled.sum() > config.half_body_min_joints and rng.random() < config.half_body_prob:
        half = half_body_box(keypoints[:, :2], labelled, aspect_ratio, rng, *halves)
        if half is not None:
            center, size = half
    sf, rf = config.scale_factor, config.rotation_factor
    size = size * np.float32(np.clip(rng.standard_normal() * sf + 1.0, 1.0 - sf, 1.0 + sf))
    rotation = 0.0
    if rng.random() <= config.rotation_prob:
        rotation = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf))
    flip = bool(config.flip and rng.random() <= 0.5)
    if flip:
        center = np.array([image_width - 1.0 - center[0], center[1]], dtype=np.float32)
    return Crop(center, size, rotation, flip)


def transform_keypoints(
    keypoints: np.ndarray, matrix: np.ndarray, flip: bool, flip_index: np.ndarray = FLIP_INDEX
) -> np.ndarray:
    """``(K, 3)`` image keypoints → model-input keypoints (visibility kept), left/right swapped on a flip
    with the keypoint set's ``flip_index`` (COCO's by default)."""
    out = np.asarray(keypoints, dtype=np.float32).copy()
    out[:, :2] = apply_transform(out[:, :2], matrix)
    return flip_keypoint_order(out, flip_index) if flip else out
