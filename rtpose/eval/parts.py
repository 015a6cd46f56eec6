"""Part-map (human parsing) evaluation: per-class IoU, mean IoU and pixel accuracy from a confusion matrix.

Ground truth is a folder of label PNGs, one per image, LIP/VOC style: a pixel's value is its class index
(indexed-colour "P" PNGs are read as their indices, not their colours), 255 is "ignore". An image's PNG
has the image's file stem (``100034_483681.png`` for ``100034_483681.jpg``).

Predictions are either

- rtpose JSON output (``--json`` of ``rtpose --seg parts``: JSON Lines, or the single document of one
  image): every frame record names its ``file``, and each person's ``"parts"`` maps class names to COCO
  RLEs in the image's size; a pixel no person claims is background; or
- a folder of label PNGs: indexed PNGs as ``rtpose --seg parts --save-masks DIR`` writes them (the frame's
  part map, pixel = class index), or any label PNGs named by image stem. ``--save-masks`` names its files
  ``frame_000012.png``; frame ``i`` is the ``i``-th image of the folder the run read
  (:class:`rtpose.io.sources.FolderSource`'s name order), so with ``source_dir`` these map to image stems.

The scores follow the usual semantic-segmentation protocol (LIP, VOC, mmsegmentation): one confusion matrix
``M[g, p]`` (pixels of true class ``g`` predicted as ``p``) summed over all images, ignore pixels left out;
``IoU_c = M[c, c] / (row_c + column_c − M[c, c])``; mIoU is the mean over classes whose IoU is defined
(the class occurs in the ground truth or the predictions); pixel accuracy is ``trace(M) / M.sum()``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtpose.errors import DatasetError, InputError
from rtpose.seg.classes import SegClassSet, get_class_set

#: Label value of pixels that are not scored.
IGNORE_INDEX = 255


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``(C, C)`` int64 counts ``M[g, p]`` of two ``(H, W)`` integer label maps (``np.bincount``).

    Ground-truth pixels equal to ``ignore_index`` are left out; a ground-truth value ≥ ``num_classes`` (other
    than ``ignore_index``) or a prediction outside ``[0, num_classes)`` is an error.
    """
    gt = np.asarray(gt).astype(np.int64, copy=False)
    pred = np.asarray(pred).astype(np.int64, copy=False)
    if gt.shape != pred.shape:
        raise InputError(f"pred= is {pred.shape} but the ground truth gt= is {gt.shape}; label maps must be one size.")
    keep = gt != ignore_index
    g, p = gt[keep], pred[keep]
    if g.size and (g.min() < 0 or g.max() >= num_classes):
        raise InputError(f"gt= holds the label {int(g.max() if g.max() >= num_classes else g.min())} is not a "
                         f"class of {num_classes} (nor {ignore_index}, ignore).", parameter="gt")
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        raise InputError(f"pred= holds the label {int(p.max() if p.max() >= num_classes else p.min())} is not a class "
                         f"of {num_classes}.", parameter="pred")
    return np.bincount(g * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass(frozen=True)
class PartScores:
    """The scores of a confusion matrix.

    Attributes:
        class_names: one per class.
        iou: ``(C,)`` float64 IoU per class, NaN for a class in neither ground truth nor predictions.
        miou: mean of the defined IoUs.
        pixel_accuracy: correctly labelled scored pixels / scored pixels.
        confusion: ``(C, C)`` int64 ``M[ground truth, prediction]``.
        images: how many images were scored.
    """

    class_names: tuple[str, ...]
    iou: np.ndarray
    miou: float
    pixel_accuracy: float
    confusion: np.ndarray
    images: int

    def to_dict(self) -> dict:
        """JSON-ready: ``{"mIoU", "pixel_accuracy", "images", "iou": {class name: IoU or None}}``."""
        return {
            "mIoU": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "images": self.images,
            "iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(self.class_names, self.iou)},
        }

    def table(self) -> str:
        """A text table: one line per class (IoU in %), then mIoU and pixel accuracy."""
        width = max(len(n) for n in self.class_names)
        lines = [f"{'class':<{width}}  IoU (%)"]
        for name, value in zip(self.class_names, self.iou):
            lines.append(f"{name:<{width}}  {'  n/a' if np.isnan(value) else f'{100 * value:6.2f}'}")
        lines.append(f"{'mIoU':<{width}}  {100 * self.miou:6.2f}")
        lines.append(f"{'pixel acc':<{width}}  {100 * self.pixel_accuracy:6.2f}")
        return "\n".join(lines)


def scores_from_confusion(confusion: np.ndarray, class_names: Iterable[str], images: int = 0) -> PartScores:
    """Per-class IoU, mIoU and pixel accuracy of a ``(C, C)`` confusion matrix (see the module docstring)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    total = confusion.sum()
    defined = iou[~np.isnan(iou)]
    return PartScores(tuple(class_names), iou, float(defined.mean()) if defined.size else float("nan"),
                      float(tp.sum() / total) if total else float("nan"), confusion, int(images))


# -- reading labels and predictions -----------------------------------------------------------------------


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """A label PNG as ``(H, W)`` uint8 class indices: a palette ("P") image's indices, a grey image's values.

    An RGB image is refused (its colours are not class indices).
    """
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "I", "I;16"):
                raise DatasetError(f"{path} is a {image.mode} image; label PNGs hold one class index per pixel "
                                   "(indexed or greyscale).")
            labels = np.asarray(image)
    except OSError as exc:
        raise DatasetError(f"{path} is not a readable PNG ({exc}).") from None
    if labels.max(initial=0) > 255:
        raise DatasetError(f"{path} has labels above 255.")
    return labels.astype(np.uint8)


def label_folder(folder: str | os.PathLike, what: str) -> dict[str, Path]:
    """The ``*.png`` files of a folder by file stem; one sentence naming ``what`` when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{what} {folder} does not exist or is not a folder.")
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() == ".png" and p.is_file()}
    if not files:
        raise DatasetError(f"{what} {folder} holds no PNG label images.")
    return files


def prediction_folder(folder: str | os.PathLike, source_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Prediction PNGs by image stem: ``frame_000012.png`` (``--save-masks``) becomes the stem of the 12th
    image of ``source_dir`` when given; other files keep their own stem."""
    import re

    files = label_folder(folder, "Prediction folder")
    if source_dir is None:
        return files
    from rtpose.errors import RtposeError
    from rtpose.io.sources import FolderSource

    try:
        images = FolderSource(source_dir).files
    except (OSError, RtposeError) as exc:
        raise DatasetError(f"--source {source_dir}: {exc}") from None
    out: dict[str, Path] = {}
    for stem, path in files.items():
        match = re.fullmatch(r"frame_(\d+)", stem)
        if match and int(match.group(1)) < len(images):
            out[images[int(match.group(1))].stem] = path
        else:
            out[stem] = path
    return out


def _records(path: Path) -> list[dict]:
    """The frame records of an rtpose JSON output (JSON Lines, or one document); header lines dropped."""
    if not path.is_file():
        raise DatasetError(f"Results file {path} does not exist.")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        documents = [json.loads(text)]
    except json.JSONDecodeError:
        documents = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                documents.append(json.loads(line))
            except json.JSONDecodeError:
                raise DatasetError(f"{path} line {number} is not JSON; part maps are scored from rtpose --json "
                                   "output (JSON Lines or one JSON document).") from None
    frames = [d for d in documents if isinstance(d, dict) and isinstance(d.get("people"), list)]
    if not frames:
        raise DatasetError(f"{path} holds no rtpose frame records (objects with 'file' and 'people').")
    return frames


def json_part_maps(path: str | os.PathLike, classes: SegClassSet) -> dict[str, list[tuple[int, dict]]]:
    """The part RLEs of rtpose JSON output per image stem: ``[(class index, RLE), …]`` over all people.

    Render one with :func:`render_parts`. Frames without a ``file`` (videos) cannot be matched and are
    refused; a class name outside ``classes`` is refused.
    """
    path = Path(path)
    out: dict[str, list[tuple[int, dict]]] = {}
    with_parts = False
    for frame in _records(path):
        if not frame.get("file"):
            raise DatasetError(f"{path} has a frame without a 'file' name (a video?); part maps are matched to "
                               "label PNGs by image file name.")
        items = out.setdefault(Path(str(frame["file"])).stem, [])
        for person in frame["people"]:
            parts = person.get("parts") if isinstance(person, dict) else None
            if not isinstance(parts, dict):
                continue
            with_parts = True
            for name, rle in parts.items():
                if name not in classes.class_names:
                    raise DatasetError(f"{path} has a part {name!r} that the class set {classes.name} does not "
                                       f"have (pass the right --seg-classes).")
                items.append((classes.class_names.index(name), rle))
    if not with_parts:
        raise DatasetError(f"No person in {path} has \"parts\"; write them with rtpose --seg parts --json.")
    return out


def render_parts(items: list[tuple[int, dict]], shape: tuple[int, int], background: int = 0) -> np.ndarray:
    """A ``(H, W)`` uint8 label map from ``(class index, RLE)`` pairs: ``background`` where no RLE is set.

    Where people overlap, the later one's label wins (rtpose's people do not overlap).
    """
    from rtpose.seg.masks import decode_rle

    labels = np.full(shape, background, dtype=np.uint8)
    for index, rle in items:
        size = tuple(int(v) for v in rle.get("size", ()))
        if size != tuple(shape):
            raise DatasetError(f"A part RLE is {size[0]}x{size[1]} but its label image is {shape[0]}x{shape[1]}.")
        labels[decode_rle(rle)] = index
    return labels


def evaluate_part_maps(
    labels_dir: str | os.PathLike,
    predictions: str | os.PathLike,
    classes: SegClassSet | str = "lip",
    source_dir: str | os.PathLike | None = None,
) -> PartScores:
    """Per-class IoU, mIoU and pixel accuracy of part maps against a folder of label PNGs.

    Args:
        labels_dir: ground-truth label PNGs (class index per pixel, 255 ignore), one per image stem.
        predictions: rtpose JSON output with ``"parts"`` (a file), or a folder of label PNGs (see the module
            docstring).
        classes: the class set of both (default LIP's 20); its background fills pixels no person claims.
        source_dir: for a ``--save-masks`` folder, the image folder the run read (names ``frame_N.png``).

    Every ground-truth image needs a prediction (a JSON frame, or a PNG); a frame without people counts as
    all background. A label outside the class set is an error naming the file.
    """
    classes = get_class_set(classes)
    gt_files = label_folder(labels_dir, "Label folder")
    predictions = Path(predictions)
    from_json = predictions.is_file()
    if from_json:
        json_maps = json_part_maps(predictions, classes)
        available = set(json_maps)
    else:
        pred_files = prediction_folder(predictions, source_dir)
        available = set(pred_files)
    missing = sorted(set(gt_files) - available)
    if missing:
        raise DatasetError(f"{len(missing)} of the {len(gt_files)} label images have no prediction in {predictions} "
                           f"(e.g. {missing[0]}).")
    n = classes.num_classes
    background = classes.background if classes.background is not None else 0
    confusion = np.zeros((n, n), dtype=np.int64)
    for stem, gt_path in gt_files.items():
        gt = read_label_png(gt_path)
        pred = render_parts(json_maps[stem], gt.shape, background) if from_json else read_label_png(pred_files[stem])
        try:
            confusion += confusion_matrix(gt, pred, n)
        except ValueError as exc:
            raise DatasetError(f"{gt_path.name}: {exc}; the class set {classes.name} has {n} classes (pass the "
                               "right --seg-classes).") from None
    return scores_from_confusion(confusion, classes.class_names, images=len(gt_files))


__all__ = [
    "IGNORE_INDEX",
    "PartScores",
    "confusion_matrix",
    "evaluate_part_maps",
    "json_part_maps",
    "label_folder",
    "read_label_png",
    "render_parts",
    "scores_from_confusion",
]
