"""Person crops: box → centre/size, the affine warp into the model input, and the way back.

The one implementation of crop geometry, used by inference, training and evaluation.

Conventions:
- Image coordinates are pixels with (0, 0) at the centre of the top-left pixel (OpenCV's).
- A crop is described by its ``center`` (x, y) and ``size`` (w, h) in image pixels, where
  ``w / h`` equals the model input's aspect ratio; ``rotation`` is in degrees, counter-clockwise.
- The warp maps the crop's centre to the centre of the ``(H, W)`` model input, exactly as the
  official HRNet ``get_affine_transform`` does; heatmap coordinates are input coordinates / 4.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Boxes are enlarged by this factor around their centre before cropping (official HRNet: 1.25).
BOX_PADDING = 1.25

#: ImageNet statistics (RGB order) the HRNet weights were trained with.
MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def box_to_center_size(
    box_xyxy: np.ndarray, aspect_ratio: float, padding: float = BOX_PADDING
) -> tuple[np.ndarray, np.ndarray]:
    """Centre and size of the crops for boxes, widened to ``aspect_ratio`` (w / h) and padded.

    Args:
        box_xyxy: ``(..., 4)`` boxes as (x1, y1, x2, y2) in image pixels.
        aspect_ratio: model input width / height (0.75 for 256×192).
        padding: enlargement factor applied after the aspect-ratio fix.

    Returns:
        ``center`` ``(..., 2)`` and ``size`` ``(..., 2)`` as (w, h), float32.
    """
    box = np.asarray(box_xyxy, dtype=np.float32)
    x1, y1, x2, y2 = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    center = np.stack([(x1 + x2) * 0.5, (y1 + y2) * 0.5], axis=-1)
    w, h = x2 - x1, y2 - y1
    wider = w > aspect_ratio * h
    w, h = np.where(wider, w, h * aspect_ratio), np.where(wider, w / aspect_ratio, h)
    return center, np.stack([w, h], axis=-1) * np.float32(padding)


def xywh_to_xyxy(box_xywh: np.ndarray) -> np.ndarray:
    """COCO (x, y, w, h) boxes ``(..., 4)`` to (x1, y1, x2, y2)."""
    box = np.asarray(box_xywh, dtype=np.float32)
    return np.concatenate([box[..., :2], box[..., :2] + box[..., 2:4]], axis=-1)


def crop_transform(
    center: np.ndarray,
    size: np.ndarray,
    output_hw: tuple[int, int],
    rotation: float = 0.0,
    inverse: bool = False,
) -> np.ndarray:
    """The 2×3 affine matrix from image pixels to crop pixels (or back when ``inverse``).

    The crop of ``size`` (w, h) around ``center``, rotated by ``rotation`` degrees, is mapped onto an
    output of ``output_hw`` (H, W); only the width sets the scale, as in the official code, so
    ``size`` must already have the output's aspect ratio. Pass the heatmap size to map heatmap
    coordinates.
    """
    out_h, out_w = output_hw
    k = out_w / float(size[0])
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    linear = k * np.array([[cos, sin], [-sin, cos]])
    shift = np.array([out_w * 0.5, out_h * 0.5]) - linear @ np.asarray(center, dtype=np.float64)
    matrix = np.hstack([linear, shift[:, None]])
    if inverse:
        matrix = cv2.invertAffineTransform(matrix)
    return matrix.astype(np.float32)


def apply_transform(points_xy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine ``matrix`` to points ``(..., 2)``."""
    pts = np.asarray(points_xy, dtype=np.float32)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def warp_crop(image: np.ndarray, matrix: np.ndarray, output_hw: tuple[int, int]) -> np.ndarray:
    """Warp ``image`` (H, W, C) into an ``output_hw`` crop with bilinear sampling and black borders."""
    out_h, out_w = output_hw
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)


#: ``(x / 255 - mean) / std`` as one multiply-add per pixel: ``x * scale + offset`` (RGB order, computed in float64).
_SCALE_RGB = (1.0 / (255.0 * STD_RGB.astype(np.float64))).astype(np.float32).reshape(1, 3, 1, 1)
_OFFSET_RGB = (-MEAN_RGB.astype(np.float64) / STD_RGB.astype(np.float64)).astype(np.float32).reshape(1, 3, 1, 1)


def normalize_crops(crops_bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR crops ``(N, H, W, 3)`` → float32 model input ``(N, 3, H, W)``: RGB, /255, ImageNet-normalised.

    The channel swap and the transpose are a view of the uint8 pixels; the float batch is written once
    (about 7× faster than normalising in float and transposing after).
    """
    rgb_nchw = np.asarray(crops_bgr).transpose(0, 3, 1, 2)[:, ::-1]
    out = np.empty(rgb_nchw.shape, np.float32)
    np.multiply(rgb_nchw, _SCALE_RGB, out=out)
    out += _OFFSET_RGB
    return out


def make_input_batch(
    image_bgr: np.ndarray, boxes_xyxy: np.ndarray, input_hw: tuple[int, int], padding: float = BOX_PADDING
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop every box of one image into one model batch.

    Args:
        image_bgr: ``(H, W, 3)`` uint8 image.
        boxes_xyxy: ``(N, 4)`` person boxes in image pixels.
        input_hw: model input (H, W), e.g. (256, 192).

    Returns:
        ``batch`` float32 ``(N, 3, H, W)``, and the crops' ``centers`` and ``sizes`` ``(N, 2)`` needed to
        map the decoded keypoints back with :func:`heatmap_to_image`.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    centers, sizes = box_to_center_size(boxes, input_hw[1] / input_hw[0], padding)
    crops = np.empty((len(boxes), input_hw[0], input_hw[1], 3), dtype=np.uint8)
    for i, (c, s) in enumerate(zip(centers, sizes)):
        crops[i] = warp_crop(image_bgr, crop_transform(c, s, input_hw), input_hw)
    return normalize_crops(crops), centers, sizes


def heatmap_to_image(
    points_xy: np.ndarray, centers: np.ndarray, sizes: np.ndarray, heatmap_hw: tuple[int, int]
) -> np.ndarray:
    """Map heatmap coordinates ``(N, K, 2)`` of N crops back to image pixels ``(N, K, 2)``."""
    out = np.empty_like(np.asarray(points_xy, dtype=np.float32))
    for i in range(len(out)):
        out[i] = apply_transform(points_xy[i], crop_transform(centers[i], sizes[i], heatmap_hw, inverse=True))
    return out
