"""Training data for keypoint sets other than COCO: K-channel targets, the set's flip pairs, its annotation layout.

One painted image per set: the two keypoints of one of the set's flip pairs are painted red and blue. In
samples drawn with the real augmentation (flip, rotation, scale), the keypoint whose index is the pair's
first lands on red in unflipped crops and on blue in flipped ones (left is right in a mirror), and its
target heatmap peaks there.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rtpose.pose.keypoint_sets import KEYPOINT_SETS
from train.augment import AugmentConfig
from train.config import ConfigError, load_config
from train.dataset import CocoKeypoints
from train.fit import config_keypoint_set

IMAGE_HW = (480, 640)
RED, BLUE = (0, 0, 255), (255, 0, 0)


def _painted(tmp_path, name: str):
    kset = KEYPOINT_SETS[name]
    a, b = kset.flip_pairs[len(kset.flip_pairs) // 2]
    rng = np.random.default_rng(kset.num_keypoints)
    kpts = np.zeros((kset.num_keypoints, 3))
    kpts[:, 0] = rng.uniform(250, 390, kset.num_keypoints)
    kpts[:, 1] = rng.uniform(100, 380, kset.num_keypoints)
    kpts[:, 2] = 2
    kpts[a, :2], kpts[b, :2] = (270, 200), (370, 330)
    image = np.full((*IMAGE_HW, 3), 128, np.uint8)
    for index, colour in ((a, RED), (b, BLUE)):
        x, y = (int(v) for v in kpts[index, :2])
        cv2.rectangle(image, (x - 7, y - 7), (x + 7, y + 7), colour, thickness=-1)
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "p.png"), image)
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 160 * 300.0,
           "bbox": [240, 90, 160, 300], "num_keypoints": kset.num_keypoints}
    flat = [float(v) for v in kpts.reshape(-1)]
    if len(kset.annotation_fields) > 1:  # COCO-WholeBody: split like the real files
        start = 0
        for field, (s, e) in zip(kset.annotation_fields, kset.parts.values()):
            ann[field] = flat[3 * s:3 * e]
            start = e
        assert start == kset.num_keypoints
    else:
        ann["keypoints"] = flat
    category = {"id": 1, "name": "person", "keypoints": list(kset.keypoint_names)}
    if name == "ap10k":  # animals: a species category, not "person"
        category = {"id": 7, "name": "antelope", "keypoints": list(kset.keypoint_names)}
        ann["category_id"] = 7
    data = {"images": [{"id": 1, "file_name": "p.png", "height": IMAGE_HW[0], "width": IMAGE_HW[1]}],
            "annotations": [ann], "categories": [category]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    return kset, a, b


@pytest.mark.parametrize("name", ["coco_wholebody", "mpii", "crowdpose", "ap10k", "halpe"])
def test_augmented_samples_follow_the_sets_flip_pairs(tmp_path, name):
    kset, a, b = _painted(tmp_path, name)
    dataset = CocoKeypoints(tmp_path / "ann.json", tmp_path / "images", kset.input_hw, keypoint_set=kset,
                            augment=AugmentConfig(enabled=True, rotation_prob=0.5, rotation_factor=20,
                                                  half_body_prob=0.0))
    assert len(dataset) == 1
    seen = set()
    for seed in range(12):
        s = dataset.sample(0, np.random.default_rng(seed))
        assert s["target"].shape == (kset.num_keypoints, kset.input_hw[0] // 4, kset.input_hw[1] // 4)
        x, y = (int(round(v)) for v in s["keypoints"][a, :2])
        if not (3 <= x < kset.input_hw[1] - 3 and 3 <= y < kset.input_hw[0] - 3):
            continue
        colour = s["crop_bgr"][y, x].astype(int)
        expected = BLUE if s["crop"].flip else RED
        assert np.abs(colour - expected).max() <= 40, (seed, s["crop"].flip, colour)
        peak = np.unravel_index(s["target"][a].argmax(), s["target"][a].shape)
        assert abs(peak[0] - y / 4) <= 1 and abs(peak[1] - x / 4) <= 1
        seen.add(s["crop"].flip)
    assert seen == {False, True}


def test_every_bundled_config_names_a_fitting_set():
    for name, kset in (("hrnet_w32_256x192", "coco"), ("hrnet_w32_256x192_coco_wholebody", "coco_wholebody"),
                       ("hrnet_w32_256x192_crowdpose", "crowdpose"), ("hrnet_w32_256x256_ap10k", "ap10k"),
                       ("hrnet_w48_384x288_halpe", "halpe")):
        config = load_config(name)
        assert config_keypoint_set(config).name == kset
        assert tuple(config["model"]["input_size"]) == KEYPOINT_SETS[kset].input_hw
    config = load_config("hrnet_w32_256x192_crowdpose")
    config["model"]["num_joints"] = 17
    with pytest.raises(ConfigError, match="has 14"):
        config_keypoint_set(config)
