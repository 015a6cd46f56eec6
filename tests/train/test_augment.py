"""Training augmentation keeps keypoints consistent with pixels (flip, rotation, scale, half-body)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rtpose.pose.crops import box_to_center_size, crop_transform, warp_crop
from rtpose.pose.keypoint_sets import FLIP_INDEX, KEYPOINT_NAMES
from train.augment import AugmentConfig, Crop, sample_transform, transform_keypoints
from train.dataset import CocoKeypoints

INPUT_HW = (256, 192)
LEFT, RIGHT = KEYPOINT_NAMES.index("left_wrist"), KEYPOINT_NAMES.index("right_wrist")
RED, BLUE = (0, 0, 255), (255, 0, 0)  # BGR
IMAGE_HW = (480, 640)


def _person_keypoints() -> np.ndarray:
    """17 labelled keypoints spread over a 160x300 box at (240, 90); wrists painted."""
    rng = np.random.default_rng(3)
    kpts = np.zeros((17, 3), np.float32)
    kpts[:, 0] = rng.uniform(250, 390, 17)
    kpts[:, 1] = rng.uniform(100, 380, 17)
    kpts[LEFT, :2] = (270, 200)
    kpts[RIGHT, :2] = (370, 330)
    kpts[:, 2] = 2
    return kpts


def _painted_image(kpts: np.ndarray) -> np.ndarray:
    image = np.full((*IMAGE_HW, 3), 128, np.uint8)
    for index, colour in ((LEFT, RED), (RIGHT, BLUE)):
        x, y = (int(round(v)) for v in kpts[index, :2])
        cv2.rectangle(image, (x - 6, y - 6), (x + 6, y + 6), colour, thickness=-1)
    return image


@pytest.fixture(scope="module")
def painted_dataset(tmp_path_factory):
    """A one-image COCO keypoint set whose left wrist is painted red and right wrist blue."""
    folder = tmp_path_factory.mktemp("painted")
    kpts = _person_keypoints()
    (folder / "images").mkdir()
    cv2.imwrite(str(folder / "images" / "p.png"), _painted_image(kpts))
    ann = {
        "images": [{"id": 1, "file_name": "p.png", "height": IMAGE_HW[0], "width": IMAGE_HW[1]}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 160 * 300.0,
                         "bbox": [240, 90, 160, 300], "num_keypoints": 17,
                         "keypoints": [float(v) for v in kpts.reshape(-1)]}],
        "categories": [{"id": 1, "name": "person", "keypoints": list(KEYPOINT_NAMES)}],
    }
    (folder / "ann.json").write_text(json.dumps(ann))
    return folder, kpts


def _colour_at(crop: np.ndarray, xy: np.ndarray) -> np.ndarray | None:
    x, y = (int(round(v)) for v in xy)
    if not (3 <= x < crop.shape[1] - 3 and 3 <= y < crop.shape[0] - 3):
        return None
    return crop[y, x].astype(int)


def _is(colour: np.ndarray, bgr: tuple[int, int, int]) -> bool:
    return bool(np.abs(colour - np.array(bgr)).max() <= 40)


def test_flip_mirrors_pixels_like_the_official_code():
    """A flipped crop equals the crop of ``cv2.flip(image)`` at the mirrored centre (x' = W - 1 - x)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (*IMAGE_HW, 3), dtype=np.uint8)
    center, size = np.array([300.5, 210.0], np.float32), np.array([180.0, 240.0], np.float32)
    mirrored_center = np.array([IMAGE_HW[1] - 1 - center[0], center[1]], np.float32)
    ours = warp_crop(image, sample_transform(Crop(mirrored_center, size, 20.0, flip=True), IMAGE_HW[1], INPUT_HW),
                     INPUT_HW)
    official = warp_crop(cv2.flip(image, 1), crop_transform(mirrored_center, size, INPUT_HW, 20.0), INPUT_HW)
    assert np.abs(ours.astype(int) - official.astype(int)).max() <= 1


@pytest.mark.parametrize("rotation", [0.0, 30.0, -60.0])
def test_flip_swaps_left_and_right(painted_dataset, rotation):
    """After a flip, index 'left_wrist' points at the painted right wrist (blue) and vice versa."""
    _, kpts = painted_dataset
    image = _painted_image(kpts)
    center, size = box_to_center_size(np.array([240, 90, 400, 390], np.float32), INPUT_HW[1] / INPUT_HW[0])
    for flip in (False, True):
        c = np.array([IMAGE_HW[1] - 1 - center[0], center[1]], np.float32) if flip else center
        matrix = sample_transform(Crop(c, size, rotation, flip), IMAGE_HW[1], INPUT_HW)
        crop = warp_crop(image, matrix, INPUT_HW)
        moved = transform_keypoints(kpts, matrix, flip)
        left, right = _colour_at(crop, moved[LEFT, :2]), _colour_at(crop, moved[RIGHT, :2])
        assert left is not None and right is not None
        assert _is(left, BLUE if flip else RED), (flip, left)
        assert _is(right, RED if flip else BLUE), (flip, right)
        if flip:  # labels swapped: every joint came from its mirror partner
            plain = transform_keypoints(kpts, matrix, False)
            np.testing.assert_allclose(moved[:, :2], plain[FLIP_INDEX, :2])


def test_rotated_crop_keypoints_land_on_the_painted_joints(painted_dataset):
    """A rotated, scaled crop: the transformed keypoints sit on the painted pixels."""
    folder, kpts = painted_dataset
    ds = CocoKeypoints(folder / "ann.json", folder / "images", INPUT_HW, augment=AugmentConfig(enabled=False))
    image = ds.read_image(ds.people[0])
    center, size = box_to_center_size(ds.people[0].box, INPUT_HW[1] / INPUT_HW[0])
    for rotation in (45.0, -45.0, 80.0):
        matrix = sample_transform(Crop(center, size * 1.2, rotation), image.shape[1], INPUT_HW)
        crop = warp_crop(image, matrix, INPUT_HW)
        moved = transform_keypoints(kpts, matrix, False)
        assert _is(_colour_at(crop, moved[LEFT, :2]), RED)
        assert _is(_colour_at(crop, moved[RIGHT, :2]), BLUE)
        # the rotation really moved them: the wrists' direction in the crop is rotated by ~rotation
        d_img = kpts[RIGHT, :2] - kpts[LEFT, :2]
        d_crop = moved[RIGHT, :2] - moved[LEFT, :2]
        turned = np.degrees(np.arctan2(d_img[1], d_img[0]) - np.arctan2(d_crop[1], d_crop[0]))
        assert abs((turned - rotation + 180) % 360 - 180) < 0.5


def test_random_augmentation_keeps_colours_and_labels(painted_dataset):
    """Full random augmentation (scale, rotation, flip, half-body) over many draws, through the dataset."""
    folder, _ = painted_dataset
    ds = CocoKeypoints(folder / "ann.json", folder / "images", INPUT_HW, augment=AugmentConfig(half_body_prob=0.5))
    center, _ = box_to_center_size(ds.people[0].box, INPUT_HW[1] / INPUT_HW[0])
    seen_flip = seen_plain = seen_rotated = seen_half = checked = 0
    for seed in range(40):
        s = ds.sample(0, np.random.default_rng(seed))
        crop = s["crop"]
        seen_flip += crop.flip
        seen_plain += not crop.flip
        seen_rotated += crop.rotation != 0
        gt_center = np.array([IMAGE_HW[1] - 1 - center[0], center[1]]) if crop.flip else center
        seen_half += bool(np.abs(crop.center - gt_center).max() > 1)
        for index in (LEFT, RIGHT):
            colour = _colour_at(s["crop_bgr"], s["keypoints"][index, :2])
            if colour is None:  # the augmented crop left this joint out
                assert s["weight"][index] == 0 or not (0 <= s["keypoints"][index, 0] < INPUT_HW[1])
                continue
            painted_left = (index == LEFT) != crop.flip
            assert _is(colour, RED if painted_left else BLUE), (seed, index, crop)
            checked += 1
            # the codec's target for this joint peaks at the keypoint (heatmap = input / 4)
            heat = s["target"][index]
            peak = np.unravel_index(heat.argmax(), heat.shape)
            assert abs(peak[1] - s["keypoints"][index, 0] / 4) <= 1 and abs(peak[0] - s["keypoints"][index, 1] / 4) <= 1
    assert seen_flip and seen_plain and seen_rotated and seen_half and checked > 40


def test_samples_are_reproducible_per_seed_epoch_and_index(painted_dataset):
    folder, _ = painted_dataset
    ds = CocoKeypoints(folder / "ann.json", folder / "images", INPUT_HW, augment=AugmentConfig(), seed=5)
    ds.set_epoch(3)
    a, b = ds[0], ds[0]
    assert np.array_equal(a["image"].numpy(), b["image"].numpy())
    ds.set_epoch(4)
    assert not np.array_equal(a["image"].numpy(), ds[0]["image"].numpy())
