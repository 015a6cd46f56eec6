"""COCO person masks for training a person-segmentation HRNetV2 (``task: person_mask``).

Targets come from the ``segmentation`` field of COCO person annotations (polygons, RLE or uncompressed RLE:
pycocotools ``annToMask`` reads all three): a non-crowd person's pixels are :data:`PERSON_CLASS` (15,
PASCAL VOC's "person", so that the trained file is a 21-class VOC model to rtpose and a published VOC
HRNetV2 can be fine-tuned), everything else background (0), and crowd regions (``iscrowd: 1``) not covered
by a non-crowd person :data:`IGNORE_INDEX` (255, left out of the loss and the IoU).

A sample is the whole image, fitted into the model input (the image's box widened to the input's aspect
ratio) and augmented with pose training's recipe where it applies to whole images (:mod:`train.augment`:
scale, rotation, horizontal flip; no half-body crops): one affine matrix moves the pixels (bilinear) and
the labels (nearest, outside the image 255).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from rtpose.errors import DatasetError
from rtpose.eval.keypoints import COCO_IMREAD_FLAGS, load_coco
from rtpose.eval.parts import IGNORE_INDEX
from rtpose.pose.crops import box_to_center_size, normalize_crops, warp_crop
from train.augment import AugmentConfig, random_crop, sample_transform

#: The label of person pixels: VOC's class 15 (the trained model has VOC's 21 classes).
PERSON_CLASS = 15
#: The class set of the trained model (:mod:`rtpose.seg.classes`).
SEG_CLASSES = "voc"
NUM_CLASSES = 21


@dataclass(frozen=True)
class MaskImage:
    """One training image: its file, COCO id and size."""

    path: Path
    image_id: int
    width: int
    height: int


def person_labels(coco, image_id: int, person_class: int = PERSON_CLASS) -> np.ndarray:
    """The ``(H, W)`` uint8 target of one image: ``person_class`` on non-crowd people, 255 on crowd regions
    not covered by one, 0 elsewhere. ``coco``: a pycocotools ``COCO`` (:func:`rtpose.eval.keypoints.load_coco`)."""
    info = coco.imgs[image_id]
    labels = np.zeros((int(info["height"]), int(info["width"])), np.uint8)
    people = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if a.get("category_id", 1) == 1
              and a.get("segmentation")]
    with warnings.catch_warnings():  # pycocotools' decode and numpy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        for ann in sorted(people, key=lambda a: not a.get("iscrowd")):  # crowds first, people on top
            labels[coco.annToMask(ann).astype(bool)] = IGNORE_INDEX if ann.get("iscrowd") else person_class
    return labels


def load_mask_images(ann_file: str | os.PathLike, images_dir: str | os.PathLike) -> tuple[object, list[MaskImage]]:
    """``(coco, images)``: the annotation file and its images that hold at least one person with a
    ``segmentation``, after checking that they exist."""
    ann_file, images_dir = Path(ann_file), Path(images_dir)
    coco = load_coco(ann_file)
    if not images_dir.is_dir():
        raise DatasetError(f"Image folder {images_dir} does not exist.")
    ids = sorted({a["image_id"] for a in coco.dataset["annotations"] if isinstance(a, dict)
                  and a.get("category_id", 1) == 1 and a.get("segmentation") and a.get("image_id") in coco.imgs})
    if not ids:
        raise DatasetError(f"{ann_file} has no person annotation with a 'segmentation' (polygons or RLE), so "
                           "there are no person masks to learn.")
    images = [MaskImage(images_dir / coco.imgs[i]["file_name"], int(i), int(coco.imgs[i]["width"]),
                        int(coco.imgs[i]["height"])) for i in ids]
    missing = [m.path for m in images if not m.path.is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} of the {len(images)} images with person masks listed in {ann_file.name} "
                           f"are missing from {images_dir} (first: {missing[0].name}).")
    return coco, images


def read_image(path: Path) -> np.ndarray:
    """A BGR image as COCO annotates it (EXIF orientation ignored), or one sentence naming the file."""
    image = cv2.imread(str(path), COCO_IMREAD_FLAGS)
    if image is None:
        raise DatasetError(f"Image {path} cannot be read.")
    return image


class CocoPersonMasks(Dataset):
    """Whole-image person-mask samples: ``{"image", "labels", "index"}``.

    ``image`` float32 ``(3, H, W)`` normalised as at inference (:func:`rtpose.pose.crops.normalize_crops`);
    ``labels`` int64 ``(H, W)`` (0 background, :data:`PERSON_CLASS`, 255 ignore) at the input resolution
    ``input_hw``. Augmentation is drawn from a generator seeded by ``(seed, epoch, index)``, as for pose.
    """

    def __init__(self, ann_file: str | os.PathLike, images_dir: str | os.PathLike,
                 input_hw: tuple[int, int] = (512, 512), augment: AugmentConfig | None = None, seed: int = 0) -> None:
        self.coco, self.images = load_mask_images(ann_file, images_dir)
        self.input_hw = tuple(int(v) for v in input_hw)
        self.augment = augment or AugmentConfig(enabled=False)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(pixels (H, W, 3) uint8 BGR, labels (H, W) uint8)`` of one sample at the input size."""
        item = self.images[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = read_image(item.path)
        height, width = image.shape[:2]
        aspect = self.input_hw[1] / self.input_hw[0]
        center, size = box_to_center_size(np.array([0, 0, width - 1, height - 1], np.float32), aspect, 1.0)
        crop = random_crop(center, size, np.zeros((0, 3), np.float32), width, aspect, self.augment, rng, ((), ()))
        matrix = sample_transform(crop, width, self.input_hw)
        pixels = warp_crop(image, matrix, self.input_hw)
        labels = cv2.warpAffine(person_labels(self.coco, item.image_id), matrix, self.input_hw[::-1],
                                flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE_INDEX)
        return pixels, labels

    def __getitem__(self, index: int) -> dict:
        pixels, labels = self.sample(index)
        return {"image": torch.from_numpy(normalize_crops(pixels[None])[0]),
                "labels": torch.from_numpy(labels.astype(np.int64)), "index": index}
