"""The person-mask task of ``python -m train.fit`` (``task: person_mask``): HRNetV2 on COCO person masks.

- Model: :class:`rtpose.models.HRNetSeg` (``model.width``, W18 in the bundled config) with PASCAL VOC's 21
  classes; only background (0) and person (15) are ever targets (:mod:`train.seg_dataset`), so the file is
  a VOC person segmenter to every rtpose loader, and a published VOC HRNetV2 (mmsegmentation's
  ``fcn_hr18_voc12aug_512x512``) can be fine-tuned with ``--weights``. Initialisation as pose training:
  from scratch (the official N(0, 0.001) convolutions), an ImageNet HRNet backbone (``--pretrained``; the
  segmentation head keeps its initialisation), or any HRNetV2 segmentation checkpoint (``--weights``).
- Loss: cross-entropy over the logits upsampled bilinearly to the input size (as the official
  HRNet-Semantic-Segmentation code), ``ignore_index=255`` (crowd regions, outside the image).
- Validation: the person IoU over a validation set, intersection and union summed over all its images.
  Each image is segmented as ``rtpose --seg person`` segments a frame (:class:`rtpose.seg.segmenter.Segmenter`):
  its short side resized to ``min(model.input_size)``, the person probability (softmax summed over the person
  class) resized back and thresholded at 0.5; crowd regions are not scored.
- Checkpoints: ``best.pth`` is written by :func:`rtpose.weights.seg.save_seg_checkpoint` (meta:
  ``seg_classes: voc``, width, classes, ``align_corners``, input size), so ``rtpose --seg person --seg-weights
  OUTPUT/best.pth`` and ``PoseModel(seg="person", seg_weights=…)`` load it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from rtpose.errors import ConfigError
from rtpose.eval.parts import IGNORE_INDEX, confusion_matrix, scores_from_confusion
from rtpose.models import HRNetSeg
from train.augment import AugmentConfig
from train.config import data_path, train_data
from train.seg_dataset import (
    NUM_CLASSES,
    PERSON_CLASS,
    SEG_CLASSES,
    CocoPersonMasks,
    load_mask_images,
    person_labels,
    read_image,
)


def build_seg_train_set(config: dict) -> CocoPersonMasks:
    """The training images of a person-mask config."""
    ann, images = train_data(config)
    return CocoPersonMasks(ann, images, tuple(config["model"]["input_size"]),
                           augment=AugmentConfig.from_dict(config["augment"]), seed=int(config["train"]["seed"]))


def build_seg_model(config: dict, log: Callable[[str], None], prog: str) -> HRNetSeg:
    """An HRNetSeg (VOC's 21 classes) from scratch, from an ImageNet backbone, or from a segmentation file."""
    from rtpose.weights.seg import load_seg_model

    m = config["model"]
    width = int(m["width"])
    if m.get("weights"):
        model = load_seg_model(m["weights"])
        if (model.width, model.num_classes) != (width, NUM_CLASSES):
            raise ConfigError(f"{m['weights']} holds HRNetV2-W{model.width} segmentation with {model.num_classes} "
                              f"classes but person-mask training needs W{width} with VOC's {NUM_CLASSES}; pass "
                              f"--width {model.width} or another --weights.")
        log(f"{prog}: fine-tuning HRNetV2-W{width} segmentation from {m['weights']}")
        return model.train()
    model = HRNetSeg(width=width, num_classes=NUM_CLASSES)
    model.init_weights()
    if m.get("pretrained"):
        from train.checkpoint import load_imagenet_backbone

        report = load_imagenet_backbone(model, m["pretrained"])
        log(f"{prog}: ImageNet backbone {m['pretrained']}: loaded {report['loaded']} of {report['model_tensors']} "
            f"model tensors; {report['not_in_file']} (the segmentation head among them) keep the official "
            "initialisation")
    else:
        log(f"{prog}: HRNetV2-W{width} segmentation from scratch (official initialisation)")
    return model


def empty_seg_model(config: dict) -> HRNetSeg:
    """The model a resumed run loads its state into."""
    return HRNetSeg(width=int(config["model"]["width"]), num_classes=NUM_CLASSES)


def seg_loss(model: HRNetSeg, batch: dict, device: torch.device, use_amp: bool) -> torch.Tensor:
    """Cross-entropy (ignore 255) of the logits upsampled to the labels' ``(H, W)``; ``batch["image"]``
    ``(N, 3, H, W)``, ``batch["labels"]`` int64 ``(N, H, W)``."""
    x = batch["image"].to(device, non_blocking=True)
    labels = batch["labels"].to(device, non_blocking=True)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
        logits = model(x)
    logits = functional.interpolate(logits.float(), size=labels.shape[-2:], mode="bilinear",
                                    align_corners=model.align_corners)
    return functional.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


def check_seg_val_data(config: dict) -> tuple[Path, Path] | None:
    """``(ann, images)`` for validation, checked up front; None when validation is off."""
    if not int(config["val"]["interval"] or 0):
        return None
    ann, images = data_path(config, "val_ann"), data_path(config, "val_images")
    if ann is None or images is None:
        raise ConfigError("Validation needs data.val_ann and data.val_images (or --val-interval 0 to skip it).")
    load_mask_images(ann, images)
    return ann, images


def predict_person_mask(model: HRNetSeg, image_bgr: np.ndarray, short_side: int, device: torch.device) -> np.ndarray:
    """Bool ``(H, W)`` person mask of a BGR image, computed as ``rtpose --seg person`` computes it."""
    from rtpose.seg.segmenter import frame_input, frame_person_probability

    with torch.inference_mode():
        logits = model(torch.from_numpy(frame_input(image_bgr, short_side)).to(device)).float().cpu().numpy()
    return frame_person_probability(logits, (PERSON_CLASS,), image_bgr.shape[:2]) >= 0.5


def person_iou(model: HRNetSeg, ann: str | os.PathLike, images: str | os.PathLike, short_side: int,
               device: torch.device, progress: bool = False) -> dict[str, float]:
    """``{"IoU", "pixel_accuracy"}`` of the person class over the images of ``ann`` that have person masks.

    The model is put in eval mode (the caller restores training mode).
    """
    from tqdm import tqdm

    coco, items = load_mask_images(ann, images)
    model.eval()
    confusion = np.zeros((2, 2), np.int64)
    for item in tqdm(items, desc="val", unit="img", disable=not progress, leave=False):
        labels = person_labels(coco, item.image_id, person_class=1)
        predicted = predict_person_mask(model, read_image(item.path), short_side, device)
        confusion += confusion_matrix(labels, predicted.astype(np.uint8), 2)
    scores = scores_from_confusion(confusion, ("background", "person"), images=len(items))
    iou = float(scores.iou[1])
    return {"IoU": 0.0 if np.isnan(iou) else iou, "pixel_accuracy": scores.pixel_accuracy}


def validate_seg(model: HRNetSeg, config: dict, val: tuple[Path, Path], device: torch.device,
                 progress: bool = True, flip: bool = False) -> dict[str, float]:
    """The validation of a person-mask run: :func:`person_iou` at the config's input size (``flip``, pose's
    flip test, does not apply)."""
    return person_iou(model, *val, min(int(v) for v in config["model"]["input_size"]), device, progress)


def seg_meta(config: dict) -> dict:
    """What an rtpose segmentation checkpoint records besides the model's own facts."""
    return {"input_size": [int(v) for v in config["model"]["input_size"]], "task": "person_mask"}


def seg_last_meta(config: dict, model: HRNetSeg) -> dict:
    """The ``meta`` of ``last.pth``: what :func:`save_seg_checkpoint` records, so the file loads as a model too."""
    return {"width": model.width, "num_classes": model.num_classes, "align_corners": bool(model.align_corners),
            "seg_classes": SEG_CLASSES, **seg_meta(config)}


def save_seg_best(model: HRNetSeg, config: dict, path: Path, epoch: int, score: float) -> None:
    """``best.pth`` through :func:`rtpose.weights.seg.save_seg_checkpoint`, replaced atomically."""
    from rtpose.weights.seg import save_seg_checkpoint

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_seg_checkpoint(model, tmp, SEG_CLASSES, **seg_meta(config), epoch=epoch, person_iou=score)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
