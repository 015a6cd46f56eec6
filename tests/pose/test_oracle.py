"""Oracle test of the whole geometry: everything but the network's weights.

The pose network is replaced by a backend whose heatmaps are the codec's encoding of the ground-truth
keypoints. It receives the real crop batch made by ``make_input_batch`` inside the real
``TopDownEstimator.estimate_boxes``, recognises which image's crops it was given (by comparing with
its own crops of the ground-truth boxes), maps the ground truth into each crop with
``crop_transform`` and encodes it. The real decode → back-transform → COCO results → pycocotools
path then has to find the ground truth again: AP ≥ 0.97 proves the crop geometry, the codec and the
evaluation are consistent, so only the weights can make a real model worse.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from rtpose.eval.keypoints import evaluate_coco, gt_boxes, load_coco, predict_coco
from rtpose.pose.codec import HeatmapCodec
from rtpose.pose.crops import apply_transform, box_to_center_size, crop_transform, make_input_batch
from rtpose.pose.estimator import TopDownEstimator
from rtpose.pose.keypoint_sets import FLIP_INDEX
from tests.conftest import VAL_DEV, VAL_DEV_ANN

INPUT_HW = (256, 192)


class GroundTruthBackend:
    """A :class:`~rtpose.runtime.Runtime` that "predicts" the ground truth of the crops it is given."""

    name = "oracle"
    device = "cpu"
    input_hw = INPUT_HW
    max_batch = 1024

    def __init__(self, ann_file, images_dir) -> None:
        self.codec = HeatmapCodec(input_hw=INPUT_HW)
        self.calls = 0
        self.people: dict[bytes, list[np.ndarray]] = {}  # digest of an image's crop batch → its people
        coco = load_coco(ann_file)
        for image_id, info in coco.imgs.items():
            anns = [
                a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=False))
                if a["category_id"] == 1 and a["area"] > 0 and a["num_keypoints"] > 0
            ]
            boxes = gt_boxes(coco, image_id)
            if not len(boxes):
                continue
            assert len(boxes) == len(anns)
            image = cv2.imread(str(images_dir / info["file_name"]))
            batch, centers, sizes = make_input_batch(image, boxes, INPUT_HW)
            keypoints = [np.asarray(a["keypoints"], np.float32).reshape(-1, 3) for a in anns]
            self.people[self._digest(batch)] = list(zip(keypoints, centers, sizes))

    @staticmethod
    def _digest(batch: np.ndarray) -> bytes:
        return hashlib.sha1(np.ascontiguousarray(batch, dtype=np.float32).tobytes()).digest()

    def _encode(self, keypoints: np.ndarray, center, size, mirrored: bool) -> np.ndarray:
        xy = apply_transform(keypoints[:, :2], crop_transform(center, size, INPUT_HW))
        visible = keypoints[:, 2]
        if mirrored:  # the crop was mirrored pixel-wise: x → W - 1 - x, and left is now right
            xy[:, 0] = INPUT_HW[1] - 1 - xy[:, 0]
            xy, visible = xy[FLIP_INDEX], visible[FLIP_INDEX]
        heatmaps, _ = self.codec.encode(xy, visible)
        return heatmaps

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        assert batch.dtype == np.float32 and batch.shape[1:] == (3, *INPUT_HW)
        people = self.people.get(self._digest(batch))
        mirrored = people is None
        if mirrored:  # flip test: [crops; mirrored crops] in one batch
            n = len(batch) // 2
            people = self.people.get(self._digest(batch[:n]))
            assert people is not None, "the backend was given crops that are not the ground-truth crops"
            assert np.array_equal(batch[n:], batch[:n, ..., ::-1])
        maps = [self._encode(k, c, s, False) for k, c, s in people]
        if mirrored:
            maps += [self._encode(k, c, s, True) for k, c, s in people]
        return np.stack(maps)


@pytest.fixture(scope="module")
def oracle():
    return GroundTruthBackend(VAL_DEV_ANN, VAL_DEV / "val2017")


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
def test_ground_truth_heatmaps_score_ap_above_097(oracle, flip):
    estimator = TopDownEstimator(oracle, flip=flip)
    calls_before = oracle.calls
    results = predict_coco(estimator, VAL_DEV_ANN, VAL_DEV / "val2017", boxes="gt", progress=False)
    coco = load_coco(VAL_DEV_ANN)
    images_with_people = sum(1 for i in coco.imgs if len(gt_boxes(coco, i)))
    assert oracle.calls - calls_before == images_with_people  # one batched call per image
    assert len(results) == sum(len(gt_boxes(coco, i)) for i in coco.imgs) == 52
    metrics = evaluate_coco(VAL_DEV_ANN, results, quiet=True)
    print(f"oracle flip={flip}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    assert metrics["AP"] >= 0.97


def test_oracle_keypoints_land_on_ground_truth(oracle):
    """Labelled ground truth at least 3 heatmap pixels inside the heatmap comes back within 0.1 heatmap pixel."""
    estimator = TopDownEstimator(oracle)
    coco = load_coco(VAL_DEV_ANN)
    errors = []
    for image_id, info in sorted(coco.imgs.items())[:12]:
        boxes = gt_boxes(coco, image_id)
        if not len(boxes):
            continue
        image = cv2.imread(str(VAL_DEV / "val2017" / info["file_name"]))
        people = estimator.estimate_boxes(image, boxes)
        centers, sizes = box_to_center_size(boxes, INPUT_HW[1] / INPUT_HW[0])
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=False)) if a["num_keypoints"] > 0]
        for person, ann, c, s in zip(people, anns, centers, sizes):
            gt = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
            in_crop = apply_transform(gt[:, :2], crop_transform(c, s, INPUT_HW)) / 4
            inside = (gt[:, 2] > 0) & (in_crop >= 3).all(1) & (in_crop[:, 0] <= 47 - 3) & (in_crop[:, 1] <= 63 - 3)
            errors += list(np.linalg.norm(person.keypoints[inside, :2] - gt[inside, :2], axis=1) * 48 / s[0])
    assert len(errors) > 100
    assert max(errors) < 0.1  # heatmap pixels
