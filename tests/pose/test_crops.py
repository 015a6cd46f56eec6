"""Crop geometry: box → centre/size, the affine warp, and the way back, checked against real pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtpose.pose.crops import (
    BOX_PADDING,
    MEAN_RGB,
    STD_RGB,
    apply_transform,
    box_to_center_size,
    crop_transform,
    heatmap_to_image,
    make_input_batch,
    normalize_crops,
    warp_crop,
    xywh_to_xyxy,
)
from tests.conftest import BUS

INPUT_HW = (256, 192)


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2×3 affine ``a ∘ b`` (apply b, then a)."""
    a3 = np.vstack([a, [0, 0, 1]]).astype(np.float64)
    b3 = np.vstack([b, [0, 0, 1]]).astype(np.float64)
    return (a3 @ b3)[:2]


@pytest.mark.parametrize("rotation", [0.0, 30.0, -75.0])
@pytest.mark.parametrize("out_hw", [(256, 192), (64, 48), (384, 288)])
def test_forward_and_inverse_invert_each_other(rotation, out_hw):
    center, size = np.array([310.5, 207.25]), np.array([150.0, 200.0])
    fwd = crop_transform(center, size, out_hw, rotation)
    inv = crop_transform(center, size, out_hw, rotation, inverse=True)
    np.testing.assert_allclose(_compose(inv, fwd), np.eye(3)[:2], atol=1e-4)
    np.testing.assert_allclose(_compose(fwd, inv), np.eye(3)[:2], atol=1e-4)
    # the centre goes to the middle of the output, and the crop's width to the output's width
    np.testing.assert_allclose(apply_transform(center, fwd), [out_hw[1] / 2, out_hw[0] / 2], atol=1e-3)
    if rotation == 0:
        left, right = apply_transform(np.array([[center[0] - size[0] / 2, center[1]],
                                                [center[0] + size[0] / 2, center[1]]]), fwd)
        assert right[0] - left[0] == pytest.approx(out_hw[1], rel=1e-5)


@pytest.mark.parametrize("box", [[10, 20, 110, 420], [0, 0, 300, 50], [5, 5, 80, 106.6667]])
def test_box_to_center_size_keeps_aspect_ratio_and_pads(box):
    center, size = box_to_center_size(np.array(box), 0.75)
    x1, y1, x2, y2 = box
    np.testing.assert_allclose(center, [(x1 + x2) / 2, (y1 + y2) / 2])
    assert size[0] / size[1] == pytest.approx(0.75, rel=1e-5)
    # the box fits in the crop, and exactly fills one side before the 1.25 padding
    unpadded = size / BOX_PADDING
    assert unpadded[0] >= x2 - x1 - 1e-3 and unpadded[1] >= y2 - y1 - 1e-3
    assert min(unpadded[0] - (x2 - x1), unpadded[1] - (y2 - y1)) == pytest.approx(0, abs=1e-3)


def test_batched_boxes_and_xywh():
    boxes = xywh_to_xyxy(np.array([[10, 20, 100, 400], [0, 0, 300, 50]]))
    np.testing.assert_allclose(boxes, [[10, 20, 110, 420], [0, 0, 300, 50]])
    centers, sizes = box_to_center_size(boxes, 0.75)
    assert centers.shape == sizes.shape == (2, 2) and sizes.dtype == np.float32


def _dot_centroid(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image > 0)
    weights = image[ys, xs].astype(np.float64)
    return np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()


@pytest.mark.parametrize("rotation", [0.0, 25.0, -60.0, 90.0])
def test_warp_moves_pixels_where_the_transform_moves_points(rotation):
    """A dot drawn in the image lands in the crop exactly where ``apply_transform`` puts its centre."""
    image = np.zeros((480, 640), np.uint8)
    dots = np.array([[300.0, 200.0], [350.0, 260.0], [260.0, 150.0]])
    center, size = np.array([305.0, 210.0]), np.array([180.0, 240.0])
    matrix = crop_transform(center, size, INPUT_HW, rotation)
    for dot in dots:
        image[:] = 0
        cv2.circle(image, (int(dot[0]), int(dot[1])), 3, 255, -1)
        crop = warp_crop(image, matrix, INPUT_HW)
        expected = apply_transform(dot, matrix)
        np.testing.assert_allclose(_dot_centroid(crop), expected, atol=0.15)
        # and back: the inverse maps the crop position onto the drawn dot
        back = apply_transform(_dot_centroid(crop), crop_transform(center, size, INPUT_HW, rotation, inverse=True))
        np.testing.assert_allclose(back, dot, atol=0.2)


def test_rotation_is_counter_clockwise():
    """With +90° a point right of the crop centre appears straight above the output's centre."""
    center, size = np.array([100.0, 100.0]), np.array([96.0, 128.0])
    m = crop_transform(center, size, INPUT_HW, 90.0)
    right_of_center = apply_transform(np.array([120.0, 100.0]), m)
    mid = np.array([INPUT_HW[1] / 2, INPUT_HW[0] / 2])
    np.testing.assert_allclose(right_of_center - mid, [0, -40], atol=1e-3)


def test_make_input_batch_round_trip_through_heatmaps():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    boxes = np.array([[50, 40, 150, 300], [200, 100, 460, 200], [0, 0, 479, 359]], np.float32)
    batch, centers, sizes = make_input_batch(image, boxes, INPUT_HW)
    assert batch.shape == (3, 3, *INPUT_HW) and batch.dtype == np.float32 and batch.flags.c_contiguous
    points = rng.uniform([60, 50], [140, 290], size=(3, 17, 2)).astype(np.float32)
    in_heatmap = np.stack(
        [apply_transform(p, crop_transform(c, s, (64, 48))) for p, c, s in zip(points, centers, sizes)]
    )
    np.testing.assert_allclose(heatmap_to_image(in_heatmap, centers, sizes, (64, 48)), points, atol=1e-3)
    # heatmap coordinates are input coordinates / 4
    in_input = apply_transform(points[0], crop_transform(centers[0], sizes[0], INPUT_HW))
    np.testing.assert_allclose(in_heatmap[0], in_input / 4, atol=1e-3)


def test_crop_pixels_equal_a_direct_warp_and_normalisation():
    image = cv2.imread(str(BUS))
    box = np.array([[50, 400, 250, 900]], np.float32)
    batch, centers, sizes = make_input_batch(image, box, INPUT_HW)
    crop = cv2.warpAffine(image, crop_transform(centers[0], sizes[0], INPUT_HW), (INPUT_HW[1], INPUT_HW[0]),
                          flags=cv2.INTER_LINEAR)
    expected = (crop[..., ::-1].astype(np.float32) / 255 - MEAN_RGB) / STD_RGB
    np.testing.assert_allclose(batch[0], expected.transpose(2, 0, 1), atol=1e-5)


def test_normalize_crops_values():
    crops = np.zeros((2, 4, 4, 3), np.uint8)
    crops[1, ..., 2] = 255  # pure red in BGR
    out = normalize_crops(crops)
    assert out.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(out[0, :, 0, 0], -MEAN_RGB / STD_RGB, rtol=1e-6)
    np.testing.assert_allclose(out[1, 0, 0, 0], (1 - MEAN_RGB[0]) / STD_RGB[0], rtol=1e-6)
