"""COCO person-keypoint dataset for top-down training with ground-truth boxes.

People are taken as the official HRNet code takes them: non-crowd person annotations with a
positive-area box inside the image and at least one labelled keypoint. Each sample is one person:
the augmented crop (:mod:`train.augment`), normalised exactly as at inference
(:func:`rtpose.pose.crops.normalize_crops`), and its target heatmaps and per-joint weights from the one
codec (:class:`rtpose.pose.codec.HeatmapCodec`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from rtpose.errors import DatasetError
from rtpose.eval.keypoints import COCO_IMREAD_FLAGS, annotation_keypoints, clean_person_box, load_coco
from rtpose.pose.codec import HeatmapCodec
from rtpose.pose.crops import box_to_center_size, normalize_crops, warp_crop
from rtpose.pose.keypoint_sets import NUM_KEYPOINTS, KeypointSet, get_keypoint_set, keypoint_set_for
from train.augment import AugmentConfig, random_crop, sample_transform, transform_keypoints

#: Errors about training data are the evaluation's dataset errors (one sentence each).
DataError = DatasetError


@dataclass(frozen=True)
class PersonRecord:
    """One annotated person: the image it is in, its GT box (x1, y1, x2, y2) and ``(K, 3)`` keypoints."""

    image_path: Path
    image_id: int
    image_width: int
    box: np.ndarray
    keypoints: np.ndarray


def load_people(ann_file: str | os.PathLike, images_dir: str | os.PathLike, num_joints: int = NUM_KEYPOINTS,
                keypoint_set: KeypointSet | str | None = None) -> list[PersonRecord]:
    """The trainable people of a COCO-format keypoint file, after checking that every image they need exists.

    The keypoints are read in ``keypoint_set``'s layout (default: the set with ``num_joints`` keypoints),
    joined from its ``annotation_fields`` (COCO-WholeBody splits body, feet, face and hands). Sets whose
    objects are not people (AP-10K's animals) take every category; the others only "person".
    """
    kset = get_keypoint_set(keypoint_set) if keypoint_set is not None else keypoint_set_for(num_joints)
    num_joints = kset.num_keypoints
    ann_file, images_dir = Path(ann_file), Path(images_dir)
    data = load_coco(ann_file).dataset
    if not images_dir.is_dir():
        raise DataError(f"Image folder {images_dir} does not exist.")
    anns = [a for a in data["annotations"] if isinstance(a, dict)]
    if len(kset.annotation_fields) > 1:
        for a in anns:
            joined = annotation_keypoints(a, kset)
            if joined is not None:
                a["keypoints"] = joined
    with_kpts = [a for a in anns if isinstance(a.get("keypoints"), list) and len(a["keypoints"]) == 3 * num_joints]
    if not with_kpts:
        raise DataError(
            f"{ann_file} is not a COCO keypoint file: none of its {len(anns)} annotations has "
            f"{num_joints} keypoints (a 'keypoints' list of {3 * num_joints} numbers)."
        )
    person_ids = {c.get("id") for c in data.get("categories", []) if isinstance(c, dict) and c.get("name") == "person"}
    person_ids = person_ids or {1}
    if kset.detector_classes != (0,):  # animals: every category
        person_ids = {a.get("category_id", 1) for a in anns}
    images = {}
    for info in data["images"]:
        if isinstance(info, dict) and "id" in info and "file_name" in info:
            images[info["id"]] = info
    people: list[PersonRecord] = []
    for ann in with_kpts:
        if ann.get("iscrowd", 0) or ann.get("category_id", 1) not in person_ids:
            continue
        info = images.get(ann.get("image_id"))
        if info is None:
            continue
        kpts = np.asarray(ann["keypoints"], dtype=np.float32).reshape(num_joints, 3)
        if kpts[:, 2].max() <= 0:
            continue
        width, height = float(info.get("width", 0) or 0), float(info.get("height", 0) or 0)
        box = clean_person_box(ann.get("bbox", (0, 0, 0, 0)), width, height)
        if ann.get("area", 1) <= 0 or box is None:
            continue
        kpts[:, 2] = np.minimum(kpts[:, 2], 1.0)  # labelled (occluded or visible) = 1
        people.append(PersonRecord(images_dir / info["file_name"], int(info["id"]), int(width),
                                   box, kpts))
    if not people:
        raise DataError(f"{ann_file} has no usable people (non-crowd, labelled {kset.name} keypoints).")
    needed = sorted({p.image_path for p in people})
    missing = [p for p in needed if not p.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} of the {len(needed)} images with people listed in {ann_file.name} are missing from "
            f"{images_dir} (first: {missing[0].name})."
        )
    return people


class CocoKeypoints(Dataset):
    """Top-down COCO keypoint samples: ``{"image", "target", "target_weight", "index"}`` per person.

    ``image`` float32 ``(3, H, W)`` normalised crop; ``target`` float32 ``(K, H/4, W/4)``;
    ``target_weight`` float32 ``(K, 1)``. Augmentation is drawn from a generator seeded by
    ``(seed, epoch, index)``, so a sample is the same however many workers load it and a resumed
    run sees exactly the data it would have seen.
    """

    def __init__(
        self,
        ann_file: str | os.PathLike,
        images_dir: str | os.PathLike,
        input_hw: tuple[int, int] = (256, 192),
        sigma: float = 2.0,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        num_joints: int = NUM_KEYPOINTS,
        keypoint_set: KeypointSet | str | None = None,
    ) -> None:
        self.keypoint_set = get_keypoint_set(keypoint_set) if keypoint_set is not None else keypoint_set_for(num_joints)
        self.people = load_people(ann_file, images_dir, keypoint_set=self.keypoint_set)
        self.input_hw = tuple(int(v) for v in input_hw)
        self.aspect_ratio = self.input_hw[1] / self.input_hw[0]
        self.codec = HeatmapCodec(input_hw=self.input_hw, sigma=float(sigma))
        self.augment = augment or AugmentConfig(enabled=False)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.people)

    def read_image(self, person: PersonRecord) -> np.ndarray:
        image = cv2.imread(str(person.image_path), COCO_IMREAD_FLAGS)
        if image is None:
            raise DataError(f"Image {person.image_path} cannot be read.")
        return image

    def sample(self, index: int, rng: np.random.Generator | None = None) -> dict:
        """One sample as numpy arrays, plus the crop it came from and the input-space keypoints."""
        person = self.people[index]
        if rng is None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
        image = self.read_image(person)
        center, size = box_to_center_size(person.box, self.aspect_ratio)
        kset = self.keypoint_set
        crop = random_crop(center, size, person.keypoints, image.shape[1], self.aspect_ratio, self.augment, rng,
                           (kset.upper_body, kset.lower_body))
        matrix = sample_transform(crop, image.shape[1], self.input_hw)
        pixels = warp_crop(image, matrix, self.input_hw)
        keypoints = transform_keypoints(person.keypoints, matrix, crop.flip, kset.flip_index)
        target, weight = self.codec.encode(keypoints[:, :2], keypoints[:, 2])
        return {"crop_bgr": pixels, "keypoints": keypoints, "target": target, "weight": weight,
                "crop": crop, "matrix": matrix}

    def __getitem__(self, index: int) -> dict:
        s = self.sample(index)
        return {
            "image": torch.from_numpy(normalize_crops(s["crop_bgr"][None])[0]),
            "target": torch.from_numpy(s["target"]),
            "target_weight": torch.from_numpy(s["weight"][:, None]),
            "index": index,
        }
