"""The heatmap codec: encode/decode round trip on real COCO annotations, target weights, flip merge, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from rtpose.eval.keypoints import load_coco
from rtpose.pose.codec import HeatmapCodec
from rtpose.pose.crops import apply_transform, box_to_center_size, crop_transform, xywh_to_xyxy
from rtpose.pose.keypoint_sets import FLIP_INDEX, NUM_KEYPOINTS
from tests.conftest import VAL_DEV_ANN

CODEC = HeatmapCodec(input_hw=(256, 192))
H, W = CODEC.heatmap_hw


def _crop_keypoints():
    """Every labelled COCO person of coco_val_dev: keypoints (K, 3) in crop input pixels."""
    coco = load_coco(VAL_DEV_ANN)
    people = []
    for ann in coco.dataset["annotations"]:
        if ann["iscrowd"] or ann["num_keypoints"] == 0:
            continue
        center, size = box_to_center_size(xywh_to_xyxy(np.asarray(ann["bbox"])), 192 / 256)
        kpts = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
        kpts[:, :2] = apply_transform(kpts[:, :2], crop_transform(center, size, (256, 192)))
        people.append(kpts)
    return people


def test_round_trip_on_real_annotations():
    """Encode → decode recovers every labelled keypoint ≥ 3 heatmap px inside the heatmap within 0.1 px.

    Nearer the border the Gaussian is truncated (and DARK's 11×11 blur sees the zero padding), so
    those points are only checked loosely (measured: 0.005 px max inside, 0.5 px max nearer the border).
    """
    errors, near_border = [], []
    people = _crop_keypoints()
    heatmaps = np.stack([CODEC.encode(k[:, :2], k[:, 2])[0] for k in people])
    decoded, scores = CODEC.decode(heatmaps)
    for kpts, xy, sc in zip(people, decoded, scores):
        mu = kpts[:, :2] / CODEC.stride
        err = np.linalg.norm(xy - mu, axis=1)
        labelled = kpts[:, 2] > 0
        inside = labelled & (mu >= 3).all(1) & (mu[:, 0] <= W - 1 - 3) & (mu[:, 1] <= H - 1 - 3)
        within = labelled & (mu >= 0).all(1) & (mu[:, 0] <= W - 1) & (mu[:, 1] <= H - 1)
        errors += list(err[inside])
        near_border += list(err[within & ~inside])
        assert (sc[inside] > 0.93).all()  # the Gaussian's peak is 1; its best pixel is within half a pixel of it
    assert len(people) == 52
    assert len(errors) >= 450
    assert max(errors) < 0.1
    assert max(near_border) < 0.6


def test_target_weights_follow_visibility_and_reach():
    xy = np.array([[96, 128], [10, 10], [-4, 50], [-40, 50], [300, 128], [96, 128]], np.float32)
    visible = np.array([2, 1, 2, 2, 2, 0])
    heatmaps, weights = CODEC.encode(xy, visible)
    assert heatmaps.shape == (6, H, W) and heatmaps.dtype == np.float32
    # visible, occluded-but-labelled and just-outside (Gaussian still touches) count; far outside and unlabelled do not
    np.testing.assert_array_equal(weights, [1, 1, 1, 0, 0, 0])
    assert heatmaps[0].max() == pytest.approx(1.0) and heatmaps[0][32, 24] == pytest.approx(1.0)
    assert heatmaps[2].max() > 0
    assert not heatmaps[3].any() and not heatmaps[4].any() and not heatmaps[5].any()
    # sigma 2: one pixel away the value is exp(-1/8)
    assert heatmaps[0][32, 25] == pytest.approx(np.exp(-1 / 8), rel=1e-5)


def test_flip_merge_swaps_left_and_right():
    kpts = _crop_keypoints()[0]
    mu = kpts[:, :2] / CODEC.stride
    heatmaps, _ = CODEC.encode(kpts[:, :2], kpts[:, 2])
    # what a perfect network sees in the mirrored heatmap: mirrored positions, left/right channels swapped
    mirrored = mu.copy()
    mirrored[:, 0] = W - 1 - mirrored[:, 0]
    flipped, _ = CODEC.encode(mirrored[FLIP_INDEX] * CODEC.stride, kpts[FLIP_INDEX, 2])
    merged = CODEC.merge_flipped(heatmaps[None], flipped[None], shift=False, flip_index=FLIP_INDEX)
    np.testing.assert_allclose(merged[0], heatmaps, atol=1e-6)
    # shift=True moves the mirrored half one heatmap pixel to the right
    shifted = CODEC.merge_flipped(np.zeros_like(heatmaps[None]), flipped[None], shift=True, flip_index=FLIP_INDEX)
    shifted = shifted[0] * 2
    np.testing.assert_allclose(shifted[..., 1:], heatmaps[..., :-1], atol=1e-6)
    # a left-only peak in the flipped output ends up in the right channel
    one = np.zeros((1, NUM_KEYPOINTS, H, W), np.float32)
    one[0, 5, 10, 7] = 1.0  # "left shoulder" at x=7 of the flipped heatmap
    back = CODEC.merge_flipped(np.zeros_like(one), one, shift=False, flip_index=FLIP_INDEX)[0]
    assert back[6, 10, W - 1 - 7] == 0.5 and back[5].max() == 0


@pytest.mark.parametrize("n", [0, 1, 3, 9])
def test_decode_batch_shapes(n):
    rng = np.random.default_rng(n)
    xy = rng.uniform([24, 24], [164, 228], size=(max(n, 1), NUM_KEYPOINTS, 2)).astype(np.float32)[:n]
    heatmaps = np.stack([CODEC.encode(p, np.full(NUM_KEYPOINTS, 2))[0] for p in xy]) if n else np.zeros(
        (0, NUM_KEYPOINTS, H, W), np.float32)
    decoded, scores = CODEC.decode(heatmaps)
    assert decoded.shape == (n, NUM_KEYPOINTS, 2) and scores.shape == (n, NUM_KEYPOINTS)
    assert decoded.dtype == np.float32 and scores.dtype == np.float32
    if n:
        # batched decoding (more than 128 maps per OpenCV call when n ≥ 8) equals one-by-one decoding
        single = np.concatenate([CODEC.decode(h[None])[0] for h in heatmaps])
        np.testing.assert_allclose(decoded, single, atol=1e-5)
        assert np.abs(decoded - xy / 4).max() < 0.01  # ≥ 6 heatmap px from the border: no truncation


def test_decode_other_input_size():
    codec = HeatmapCodec(input_hw=(384, 288))
    assert codec.heatmap_hw == (96, 72)
    xy = np.array([[100.3, 200.7]] * NUM_KEYPOINTS, np.float32)
    heatmaps, _ = codec.encode(xy, np.full(NUM_KEYPOINTS, 2))
    decoded, _ = codec.decode(heatmaps[None])
    assert np.abs(decoded[0] - xy / 4).max() < 0.1
