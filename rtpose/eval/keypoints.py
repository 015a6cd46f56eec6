"""COCO keypoint evaluation, shared by ``rtpose eval`` and training.

The protocol follows the official top-down HRNet / mmpose evaluation:

- **Boxes.** ``boxes="gt"``: every non-crowd person annotation with ``area > 0`` and at least one
  labelled keypoint (``num_keypoints > 0``), its box clipped to the image. This is what the official
  code feeds the network for "ground-truth box" results (people without keypoints are skipped there;
  COCOeval ignores them anyway). Each box scores 1.0. A detection file instead gives COCO results of
  category 1 (``bbox`` as x, y, w, h, plus ``score``); those below ``det_score_thr`` are dropped.
- **Instance score** (the rescoring of the official code): ``box score × mean of the keypoint scores
  above 0.2``; 0 when no keypoint reaches 0.2. COCO AP ranks by this score.
- **Results** are COCO keypoint results: ``image_id``, ``category_id``, ``keypoints`` as 3K numbers
  (x, y, keypoint score) × K (51 for COCO's 17), and ``score``.
- **Keypoint sets.** Any set of :mod:`rtpose.pose.keypoint_sets` with OKS sigmas is evaluated the COCO way
  (pycocotools ``COCOeval`` with the set's sigmas as ``kpt_oks_sigmas``; for COCO these are pycocotools'
  own). The set is the one given, else the one whose keypoint names the annotation category lists, else
  the one with that many keypoints. This is COCO-style AP over all K keypoints; it is not CrowdPose's
  easy/medium/hard protocol (``xtcocotools``' ``keypoints_crowd``).
- **COCO-WholeBody** files split each person into ``keypoints`` (body), ``foot_kpts``, ``face_kpts``,
  ``lefthand_kpts`` and ``righthand_kpts``. :func:`evaluate_keypoint_parts` computes what mmpose's
  ``CocoWholeBodyMetric`` computes with ``xtcocotools`` (``keypoints_body``, ``_foot``, ``_face``,
  ``_lefthand``, ``_righthand``, ``_wholebody``; ``use_area=True``) with pycocotools: per part, the
  ground truth's keypoints are that part's, a person is ignored when none of them is labelled, a
  result is skipped when none of its part scores is positive, and the sigmas are the part's.
  ``evaluate_coco`` on such a file gives the whole-body numbers. (``xtcocotools`` itself has no wheel
  that loads with numpy 2, so rtpose does not depend on it.)

The official code additionally runs OKS non-maximum suppression (threshold 0.9) on detector boxes;
rtpose does not, so AP with detector boxes may differ slightly from published numbers.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from rtpose.errors import DatasetError, RtposeError
from rtpose.log import say, warn
from rtpose.pose.crops import box_to_center_size
from rtpose.pose.estimator import TopDownEstimator
from rtpose.pose.keypoint_sets import KEYPOINT_SETS, KeypointSet, get_keypoint_set, keypoint_set_for
from rtpose.results import PoseResult

#: COCO annotations refer to the stored pixel grid, so EXIF orientation is ignored (as officially).
COCO_IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION

#: Keypoint scores at or below this do not count towards the instance score (official: 0.2).
KEYPOINT_SCORE_THR = 0.2

#: The names of :func:`evaluate_coco`'s metrics, in pycocotools' ``stats`` order.
METRIC_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
#: pycocotools' ``segm`` metrics, in its order.
MASK_METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def instance_score(keypoints: np.ndarray, box_score: float = 1.0, thr: float = KEYPOINT_SCORE_THR) -> float:
    """``box_score × mean(keypoint scores > thr)`` (0 when none exceeds ``thr``) for ``(K, 3)`` keypoints."""
    scores = np.asarray(keypoints, dtype=np.float64)[:, 2]
    valid = scores[scores > thr]
    return float(box_score) * (float(valid.mean()) if len(valid) else 0.0)


#: Results of one image whose keypoints agree with a better-scored result above this OKS are dropped.
OKS_NMS_THR = 0.9


def oks_nms(
    result: PoseResult, thr: float = OKS_NMS_THR, kpt_thr: float = KEYPOINT_SCORE_THR, aspect_ratio: float = 0.75,
    sigmas: np.ndarray | None = None,
) -> PoseResult:
    """Drop duplicate poses of one image, as the official top-down evaluation does (``oks_nms``).

    People are taken by :func:`instance_score`, best first; a person whose keypoints match a kept one
    with OKS > ``thr`` is dropped. OKS uses the COCO sigmas, the mean area of the two people's crops
    (box widened to ``aspect_ratio`` and padded, as the official code), and only the candidate's
    keypoints scoring above ``kpt_thr`` (which is what the official code ends up doing). ``sigmas``
    ``(K,)``: the keypoint set's; None takes the result's. Returns the kept people, in their order.
    """
    if len(result) < 2:
        return result
    kpts = result.keypoints.astype(np.float64)
    _, sizes = box_to_center_size(result.boxes, aspect_ratio)
    areas = sizes.astype(np.float64).prod(axis=1)
    order = list(np.argsort([-instance_score(k, s) for k, s in zip(result.keypoints, result.scores)], kind="stable"))
    if sigmas is None:
        sigmas = result.keypoint_set.oks_sigmas
    variances = (2 * np.asarray(sigmas, np.float64)) ** 2
    keep: list[int] = []
    while order:
        best, rest = order[0], np.array(order[1:], dtype=np.int64)
        keep.append(best)
        if not len(rest):
            break
        d2 = ((kpts[rest, :, :2] - kpts[best, :, :2]) ** 2).sum(-1)
        e = d2 / variances / ((areas[best] + areas[rest])[:, None] / 2 + np.spacing(1)) / 2
        visible = kpts[rest, :, 2] > kpt_thr
        counted = np.maximum(visible.sum(1), 1)
        oks = np.where(visible.any(1), (np.exp(-e) * visible).sum(1) / counted, 0.0)
        order = [int(i) for i in rest[oks <= thr]]
    return result[sorted(keep)]


def coco_results(image_id: int, result: PoseResult, category_id: int = 1) -> list[dict]:
    """COCO keypoint results for the people of one image, scored by :func:`instance_score`."""
    records = []
    masks = None
    if result.masks is not None and len(result):
        from rtpose.seg.masks import encode_rles

        masks = encode_rles(result.masks)
    for i, (box, score, keypoints) in enumerate(zip(result.boxes, result.scores, result.keypoints.astype(np.float64))):
        records.append({
            "image_id": int(image_id),
            "category_id": int(category_id),
            "keypoints": [round(float(v), 3) for v in keypoints.reshape(-1)],
            "score": round(instance_score(keypoints, score), 6),
            "bbox": [round(float(v), 2) for v in (*box[:2], *(box[2:4] - box[:2]))],
        })
        if masks is not None:
            records[-1]["segmentation"] = masks[i]
    return records


def write_results(results: list[dict], path: str | os.PathLike) -> Path:
    """Write COCO results as JSON atomically (a temporary file renamed into place); returns the path.

    The folder is created when missing; check the path with :func:`rtpose.io.paths.output_file` before a
    long evaluation.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(json.dumps(results))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read_json(path: str | os.PathLike, what: str):
    """The parsed contents of a JSON file, or one :class:`DatasetError` sentence naming ``what`` it should be."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist.")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{what} {path} is not valid JSON ({exc}).") from None


def load_coco(ann_file: str | os.PathLike):
    """A pycocotools ``COCO`` for a keypoint annotation file, with a clear error for bad files."""
    from pycocotools.coco import COCO

    ann_file = Path(ann_file)
    data = _read_json(ann_file, "Annotation file")
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise DatasetError(
            f"{ann_file} is not a COCO annotation file (it needs 'images', 'annotations' and 'categories')."
        )
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def clean_person_box(bbox_xywh, width: float, height: float) -> np.ndarray | None:
    """A COCO (x, y, w, h) person box as ``(4,)`` (x1, y1, x2, y2) clipped to the image, or None if empty.

    mmpose 1.x's convention: ``x2 = x + w``, clipped to ``[0, width - 1]`` when the image size is
    known. (The 2019 HRNet code used ``x + w - 1``; the half-pixel difference in the crop centre is
    far below what a model resolves.) Training and evaluation both use this one definition.
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    x1, y1, x2, y2 = x, y, x + max(0.0, w), y + max(0.0, h)
    if width and height:
        x1, x2 = (min(max(v, 0.0), float(width) - 1) for v in (x1, x2))
        y1, y2 = (min(max(v, 0.0), float(height) - 1) for v in (y1, y2))
    else:
        x1, y1 = max(0.0, x1), max(0.0, y1)
    if x2 <= x1 or y2 <= y1:
        return None
    return np.array([x1, y1, x2, y2], dtype=np.float32)


def gt_boxes(coco, image_id: int) -> np.ndarray:
    """Ground-truth person boxes ``(N, 4)`` (x1, y1, x2, y2) of one image, as the official protocol picks them.

    Non-crowd annotations of category 1 with ``area > 0`` and ``num_keypoints > 0``, in annotation
    order, cleaned with :func:`clean_person_box`.
    """
    info = coco.imgs[image_id]
    boxes = []
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=False)):
        if ann.get("category_id", 1) != 1 or ann.get("area", 1) <= 0 or ann.get("num_keypoints", 0) <= 0:
            continue
        box = clean_person_box(ann["bbox"], info.get("width"), info.get("height"))
        if box is not None:
            boxes.append(box)
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def load_detections(path: str | os.PathLike, det_score_thr: float = 0.0) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Person detections (COCO results, category 1) per image id: ``(boxes xyxy (N, 4), scores (N,))``."""
    path = Path(path)
    dets = _read_json(path, "Detection file")
    if not isinstance(dets, list) or any(not isinstance(d, dict) or not {"image_id", "bbox"} <= set(d) for d in dets):
        raise DatasetError(f"{path} is not a COCO detection results file (a list of {{image_id, bbox, score}}).")
    per_image: dict[int, list] = {}
    for det in dets:
        score = float(det.get("score", 1.0))
        if det.get("category_id", 1) != 1 or score < det_score_thr:
            continue
        x, y, w, h = (float(v) for v in det["bbox"][:4])
        per_image.setdefault(int(det["image_id"]), []).append([x, y, x + w, y + h, score])
    return {
        k: (np.asarray(v, np.float32)[:, :4], np.asarray(v, np.float32)[:, 4]) for k, v in per_image.items()
    }


def predict_coco(
    estimator: TopDownEstimator,
    ann_file: str | os.PathLike,
    images_dir: str | os.PathLike,
    boxes: str = "gt",
    det_score_thr: float = 0.0,
    progress: bool = True,
    oks_nms_thr: float | None = OKS_NMS_THR,
) -> list[dict]:
    """Run the estimator on every image of a COCO annotation file; returns COCO keypoint results.

    Args:
        estimator: the pose estimator (its detector is not used).
        ann_file: COCO keypoint annotations; its ``images`` list says which images are run.
        images_dir: folder holding the images by their ``file_name``.
        boxes: ``"gt"`` for ground-truth boxes (see the module docstring) or the path of a COCO
            detection results file.
        det_score_thr: detections below this score are ignored.
        progress: show a progress bar.
        oks_nms_thr: drop duplicate poses above this OKS (:func:`oks_nms`, as the official protocol);
            None keeps every pose.

    Each image goes through the pose model in one batched call (``estimator.estimate_boxes``).
    """
    from tqdm import tqdm

    coco = load_coco(ann_file)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DatasetError(f"Image folder {images_dir} does not exist.")
    input_h, input_w = estimator.codec.input_hw
    aspect_ratio = input_w / input_h
    detections = None if boxes == "gt" else load_detections(boxes, det_score_thr)
    results: list[dict] = []
    for image_id in tqdm(sorted(coco.imgs), desc="eval", unit="img", disable=not progress):
        if detections is None:
            image_boxes = gt_boxes(coco, image_id)
            scores = np.ones(len(image_boxes), np.float32)
        else:
            image_boxes, scores = detections.get(image_id, (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)))
        if len(image_boxes) == 0:
            continue
        path = images_dir / coco.imgs[image_id]["file_name"]
        image = cv2.imread(str(path), COCO_IMREAD_FLAGS)
        if image is None:
            raise DatasetError(f"Image {path} of {Path(ann_file).name} is missing or unreadable.")
        found = estimator.estimate_boxes(image, image_boxes, scores)
        if oks_nms_thr is not None:
            found = oks_nms(found, oks_nms_thr, aspect_ratio=aspect_ratio)
        results.extend(coco_results(image_id, found))
    return results


def _load_results(results: list[dict] | str | os.PathLike) -> list[dict]:
    if isinstance(results, (str, os.PathLike)):
        path = Path(results)
        results = _read_json(path, "Results file")
        source = str(path)
    else:
        source = "the results"
    if not isinstance(results, list):
        raise DatasetError(f"{source} is not a COCO results list.")
    if not results:
        raise DatasetError(f"{source} hold no predictions, so there is nothing to evaluate.")
    bad = [r for r in results if not isinstance(r, dict) or not {"image_id", "keypoints", "score"} <= set(r)]
    if bad:
        raise DatasetError(f"{source} are not COCO keypoint results (each needs image_id, keypoints and score).")
    return results


def annotation_keypoint_set(coco, keypoint_set: KeypointSet | str | None = None) -> KeypointSet:
    """The keypoint set of a COCO-format annotation file's category 1: ``keypoint_set`` if given (it must
    have the category's number of keypoints), else the set with the category's keypoint names, else the
    set with that many keypoints."""
    category = coco.cats.get(1, {}) if hasattr(coco, "cats") else {}
    names = tuple(category.get("keypoints") or ())
    if keypoint_set is not None:
        chosen = get_keypoint_set(keypoint_set)
        if names and len(names) != chosen.num_keypoints and len(chosen.annotation_fields) == 1:
            raise DatasetError(
                f"The annotations have {len(names)} keypoints per person but the keypoint set {chosen.name} has "
                f"{chosen.num_keypoints}."
            )
        return chosen
    anns = coco.dataset.get("annotations", []) if isinstance(getattr(coco, "dataset", None), dict) else []
    for candidate in KEYPOINT_SETS.values():  # files that split keypoints over fields (COCO-WholeBody)
        if len(candidate.annotation_fields) > 1 and any(
            isinstance(a, dict) and all(f in a for f in candidate.annotation_fields) for a in anns[:50]
        ):
            return candidate
    for candidate in KEYPOINT_SETS.values():
        if names == candidate.keypoint_names:
            return candidate
    try:
        return keypoint_set_for(len(names) or 17)
    except RtposeError as exc:
        raise DatasetError(str(exc)) from None


def evaluate_coco(ann_file: str | os.PathLike, results: list[dict] | str | os.PathLike, quiet: bool = True,
                  keypoint_set: KeypointSet | str | None = None, table: TextIO | None = None) -> dict[str, float]:
    """COCO keypoint AP/AR (pycocotools ``COCOeval``, ``iouType="keypoints"``) of results against annotations.

    The OKS sigmas are those of ``keypoint_set`` (see :func:`annotation_keypoint_set` for the default).
    For a COCO-WholeBody file these are the whole-body numbers of :func:`evaluate_keypoint_parts`.
    pycocotools' standard table goes to ``table`` (a text stream, e.g. ``sys.stdout``) when given, else to
    the ``rtpose`` logger unless ``quiet``; the library prints nothing itself. Returns ``{"AP": …, "AP50":
    …, …, "ARl": …}`` (see :data:`METRIC_NAMES`).
    """
    coco, results, kset = _prepare(ann_file, results, keypoint_set)
    if len(kset.annotation_fields) > 1:
        whole = evaluate_keypoint_parts(ann_file, results, quiet=quiet, keypoint_set=kset,
                                        keypoint_parts=("whole",), table=table)
        return whole["whole"]
    metrics, text = _cocoeval(coco, results, kset.oks_sigmas)
    _show_table(text, quiet, table)
    return metrics


def evaluate_masks(ann_file: str | os.PathLike, results: list[dict] | str | os.PathLike, quiet: bool = True,
                   table: TextIO | None = None) -> dict[str, float]:
    """COCO mask AP/AR of person masks (pycocotools ``COCOeval``, ``iouType="segm"``, category 1).

    ``results``: COCO results with a ``segmentation`` (RLE, the image's size) and a ``score`` each (rtpose's
    ``seg=`` predictions carry both). The table goes to ``table`` or the ``rtpose`` logger as in
    :func:`evaluate_coco`. Returns ``{"AP": …, …, "ARl": …}`` (see :data:`MASK_METRIC_NAMES`).
    """
    from pycocotools.cocoeval import COCOeval

    coco = load_coco(ann_file)
    records = [dict(r) for r in _load_results(results) if isinstance(r, dict) and r.get("segmentation")]
    if not records:
        raise DatasetError("No result has a person mask (\"segmentation\"), so there is no mask AP to compute.")
    for r in records:
        r.setdefault("category_id", 1)
        r.pop("bbox", None)  # pycocotools derives the box of a mask result from the mask
    for ann in coco.dataset.get("annotations", []):
        if not ann.get("segmentation"):
            raise DatasetError(f"Annotation {ann.get('id')} of {Path(ann_file).name} has no segmentation, so "
                               "masks cannot be scored against it.")
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco, coco.loadRes(records), iouType="segm")
        evaluator.params.catIds = [1]
        evaluator.evaluate()
        evaluator.accumulate()
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        evaluator.summarize()
    _show_table(text.getvalue(), quiet, table)
    return {name: float(value) for name, value in zip(MASK_METRIC_NAMES, evaluator.stats)}


def _show_table(text: str, quiet: bool, table: TextIO | None) -> None:
    if table is not None:
        table.write(text)
    elif not quiet:
        say(text.rstrip("\n"))


def evaluate_keypoint_parts(ann_file: str | os.PathLike, results: list[dict] | str | os.PathLike, quiet: bool = True,
                            keypoint_set: KeypointSet | str | None = None,
                            keypoint_parts: tuple[str, ...] | None = None,
                            table: TextIO | None = None) -> dict[str, dict[str, float]]:
    """AP/AR per part of the keypoint set and for all keypoints ("whole"), as mmpose's whole-body metric.

    Results hold all K keypoints (e.g. 133 for COCO-WholeBody); see the module docstring for the
    protocol. ``keypoint_parts`` picks some of the set's parts (``keypoint_set.parts``) and "whole" (default:
    all of them). Returns
    ``{"body": {"AP": …, …}, "feet": …, "face": …, "left_hand": …, "right_hand": …, "whole": …}``.
    """
    coco, results, kset = _prepare(ann_file, results, keypoint_set)
    chosen = keypoint_parts or (*kset.parts, "whole")
    out = {}
    for part in chosen:
        start, stop = (0, kset.num_keypoints) if part == "whole" else kset.parts[part]
        gt = copy.deepcopy(coco.dataset)
        for ann in gt["annotations"]:
            if ann.get("category_id", 1) == 1:
                kpts = annotation_keypoints(ann, kset)
                ann["keypoints"] = kpts[3 * start : 3 * stop] if kpts is not None else [0] * (3 * (stop - start))
                ann["num_keypoints"] = int(np.count_nonzero(np.asarray(ann["keypoints"])[2::3] > 0))
        part_results = []
        for r in results:
            kpts = list(r["keypoints"][3 * start : 3 * stop])
            if np.count_nonzero(np.asarray(kpts)[2::3] > 0):  # xtcocotools skips results without a positive score
                part_results.append({**r, "keypoints": kpts})
        if not part_results:
            raise DatasetError(f"No result has a positive keypoint score for the {part} keypoints.")
        gt_coco = _coco_from_dataset(gt)
        out[part], text = _cocoeval(gt_coco, part_results, kset.oks_sigmas[start:stop])
        _show_table(f"-- {part} ({stop - start} keypoints)\n{text}", quiet, table)
    return out


def annotation_keypoints(ann: dict, keypoint_set: KeypointSet) -> list | None:
    """The ``3 K`` keypoint numbers of one annotation in the set's order (joined from the set's
    ``annotation_fields``), or None when a field is missing."""
    values: list = []
    for name in keypoint_set.annotation_fields:
        if not isinstance(ann.get(name), list):
            return None
        values += ann[name]
    return values


def _coco_from_dataset(dataset: dict):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _prepare(ann_file, results, keypoint_set):
    """The annotations, the checked results (copies) and the keypoint set of an evaluation."""
    coco = load_coco(ann_file)
    results = [dict(r) for r in _load_results(results)]
    unknown = {r["image_id"] for r in results} - set(coco.imgs)
    if unknown:
        raise DatasetError(
            f"{len(unknown)} image ids of the results are not in {Path(ann_file).name} (e.g. {min(unknown)})."
        )
    kset = annotation_keypoint_set(coco, keypoint_set)
    n_kpt = kset.num_keypoints
    _check_annotations(coco, kset, ann_file)
    for r in results:  # mmpose writes COCO-WholeBody results split like the annotations
        joined = annotation_keypoints(r, kset) if len(kset.annotation_fields) > 1 else None
        if joined is not None:
            r["keypoints"] = joined
    if any(len(r["keypoints"]) != 3 * n_kpt for r in results):
        raise DatasetError(f"Every result needs {3 * n_kpt} keypoint numbers (x, y, score) × {n_kpt}.")
    _check_finite(results)
    others = [r for r in results if r.get("category_id", 1) != 1]
    if others:
        warn(f"{len(others)} of {len(results)} results have a category_id other than 1 (person); they are left "
             "out of the keypoint AP")
        results = [r for r in results if r.get("category_id", 1) == 1]
        if not results:
            raise DatasetError("None of the results is a person (category_id 1), so there is nothing to evaluate.")
    for r in results:
        r.setdefault("category_id", 1)
        r.pop("bbox", None)  # loadRes derives boxes and areas from the keypoints
    return coco, results, kset


def _check_annotations(coco, kset: KeypointSet, ann_file) -> None:
    """One sentence, before pycocotools, for annotations it would fail on or score as all -1."""
    name = Path(ann_file).name
    people = [a for a in coco.dataset.get("annotations", []) if isinstance(a, dict) and a.get("category_id", 1) == 1]
    for a in people:
        kpts = annotation_keypoints(a, kset)
        if kpts is None and len(kset.annotation_fields) > 1:
            continue  # a whole-body file may leave out a part's field: scored as unlabelled
        if kpts is None or len(kpts) != 3 * kset.num_keypoints:
            got = "no keypoints list" if kpts is None else f"{len(kpts)} keypoint numbers"
            raise DatasetError(
                f"Annotation {a.get('id')} (image {a.get('image_id')}) of {name} has {got}, but {kset.name} "
                f"annotations have {3 * kset.num_keypoints} ((x, y, visibility) × {kset.num_keypoints})."
            )
    labelled = [a for a in people if not a.get("iscrowd") and np.count_nonzero(
        np.asarray(annotation_keypoints(a, kset) or [0], dtype=np.float64)[2::3] > 0)]
    if not labelled:
        raise DatasetError(
            f"{name} has no person with labelled keypoints, so there is nothing to score against (every metric "
            "would be -1)."
        )


def _cocoeval(coco, results: list[dict], sigmas: np.ndarray) -> tuple[dict[str, float], str]:
    """pycocotools' keypoint evaluation with ``sigmas``: the metrics and the printed table."""
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        detections = coco.loadRes(results)
        evaluator = COCOeval(coco, detections, iouType="keypoints")
        evaluator.params.useSegm = None
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluator.evaluate()
        evaluator.accumulate()
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        evaluator.summarize()
    return {name: float(value) for name, value in zip(METRIC_NAMES, evaluator.stats)}, table.getvalue()


def _check_finite(results: list[dict]) -> None:
    """pycocotools scores NaN keypoints as perfect matches (AP 1.0): refuse them, naming the first one."""
    for index, r in enumerate(results):
        try:
            values = np.asarray(r["keypoints"], dtype=np.float64)
            score = float(r["score"])
        except (TypeError, ValueError):
            raise DatasetError(f"Result {index} (image {r.get('image_id')}) has keypoints or a score that are not "
                               "numbers.") from None
        if not (np.isfinite(values).all() and np.isfinite(score)):
            raise DatasetError(f"Result {index} (image {r.get('image_id')}) has NaN or infinite keypoints or score; "
                               "pycocotools would count them as perfect, so they are refused.")


def format_metrics(metrics: dict[str, float]) -> str:
    """One line: ``AP 0.8609 | AP50 0.9931 | …``."""
    return " | ".join(f"{k} {v:.4f}" for k, v in metrics.items())
