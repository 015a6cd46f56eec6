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


def _rle_string_counts(text: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``), or ValueError."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text):
                raise ValueError("its compressed RLE string ends inside a number")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"its compressed RLE string holds {text[p]!r}, not a COCO RLE character")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def segmentation_problem(segmentation, height: int, width: int) -> str | None:
    """Why pycocotools could not make a mask of ``segmentation`` for a ``height`` x ``width`` image (a few words),
    or None when it is a valid polygon list, uncompressed RLE or compressed RLE.

    Checked before training, because pycocotools fails on such input with an unrelated exception (``input type is
    not supported``, ``Argument 'bb' has incorrect type``) or silently decodes a damaged RLE into garbage.
    """
    import math

    if isinstance(segmentation, list):
        if not segmentation:
            return "its polygon list is empty"
        for polygon in segmentation:
            if not isinstance(polygon, list):
                return f"a polygon is a {type(polygon).__name__}, not a list of x, y numbers"
            if len(polygon) < 6 or len(polygon) % 2:
                return f"a polygon has {len(polygon)} numbers (a polygon needs x, y pairs of at least 3 points)"
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in polygon):
                return "a polygon holds something that is not a finite number"
        return None
    if not isinstance(segmentation, dict):
        return f"it is a {type(segmentation).__name__}, neither polygons nor RLE"
    size, counts = segmentation.get("size"), segmentation.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        return "its RLE has no [height, width] size"
    if tuple(size) != (int(height), int(width)):
        return f"its RLE is for {size[0]}x{size[1]} pixels but the image is {height}x{width}"
    if isinstance(counts, str):
        try:
            runs = _rle_string_counts(counts)
        except ValueError as exc:
            return str(exc)
    elif isinstance(counts, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
        runs = counts
    else:
        return "its RLE counts are neither a list of whole numbers nor a compressed string"
    if any(v < 0 for v in runs):
        return "its RLE has a negative run length"
    if sum(runs) != height * width:
        return f"its RLE runs cover {sum(runs)} pixels, not the image's {height * width}"
    return None


def check_segmentations(coco, image_ids, ann_file: Path) -> None:
    """One sentence (:class:`~rtpose.errors.DatasetError`) for the first person annotation of ``image_ids`` whose
    ``segmentation`` pycocotools cannot read, naming the annotation, its image and what is wrong."""
    for image_id in image_ids:
        info = coco.imgs[image_id]
        for ann in coco.imgToAnns.get(image_id, []):
            if ann.get("category_id", 1) != 1 or not ann.get("segmentation"):
                continue
            problem = segmentation_problem(ann["segmentation"], int(info["height"]), int(info["width"]))
            if problem:
                raise DatasetError(
                    f"{ann_file.name}: the segmentation of annotation {ann.get('id')} (image "
                    f"{info.get('file_name', image_id)}) is malformed: {problem}; fix or remove that annotation.")


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
    check_segmentations(coco, ids, ann_file)
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
