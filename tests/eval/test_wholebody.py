"""Whole-body evaluation (per part and whole, as mmpose's COCO-WholeBody metric) on real COCO people.

There is no COCO-WholeBody annotation file in ``../shared``, so one is made from ``coco_val_dev``: the body
is the real COCO annotation, and feet, face and hands are placed deterministically around the ankles, the
nose and the wrists (labelled where those are). The file has COCO-WholeBody's layout (``foot_kpts``,
``face_kpts``, ``lefthand_kpts``, ``righthand_kpts``), so what is checked is the protocol, not the data.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtpose.eval.keypoints import evaluate_coco, evaluate_keypoint_parts
from rtpose.pose.keypoint_sets import KEYPOINT_SETS
from tests.conftest import VAL_DEV_ANN

WHOLEBODY = KEYPOINT_SETS["coco_wholebody"]
#: field: (anchor body keypoint, second anchor, count): feet at the ankles, face at the nose, hands at the wrists
FIELDS = {"foot_kpts": (15, 16, 6), "face_kpts": (0, 0, 68), "lefthand_kpts": (9, 9, 21),
          "righthand_kpts": (10, 10, 21)}


def wholebody_annotations(path) -> dict:
    """coco_val_dev in COCO-WholeBody layout (see the module docstring)."""
    data = json.loads(VAL_DEV_ANN.read_text())
    rng = np.random.default_rng(0)
    for ann in data["annotations"]:
        body = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
        scale = np.sqrt(max(ann["area"], 1.0)) / 20
        for field, (a, b, n) in FIELDS.items():
            pts = np.zeros((n, 3))
            anchor = body[a] if field != "foot_kpts" else None
            for i in range(n):
                src = body[a] if anchor is not None else body[a if i < 3 else b]
                if src[2] > 0:
                    pts[i, :2] = src[:2] + rng.normal(0, scale, 2)
                    pts[i, 2] = 2
            ann[field] = [round(float(v), 2) for v in pts.reshape(-1)]
    path.write_text(json.dumps(data))
    return data


def results_for(data: dict, noise: float, seed: int = 1, zero_unlabelled: bool = False) -> list[dict]:
    """One result per labelled person: its 133 ground-truth keypoints plus Gaussian noise (pixels × scale).

    ``zero_unlabelled``: unlabelled keypoints score 0, so a part with none labelled has no positive score.
    """
    rng = np.random.default_rng(seed)
    out = []
    for ann in data["annotations"]:
        if ann.get("iscrowd") or ann["num_keypoints"] == 0:
            continue
        kpts = np.concatenate([np.asarray(ann[f], np.float64).reshape(-1, 3) for f in WHOLEBODY.annotation_fields])
        scale = np.sqrt(ann["area"]) / 40
        kpts[:, :2] += rng.normal(0, noise * scale, (len(kpts), 2))
        labelled = kpts[:, 2] > 0
        kpts[:, 2] = rng.uniform(0.5, 1.0, len(kpts))
        if zero_unlabelled:
            kpts[~labelled, 2] = 0.0
        out.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kpts.reshape(-1).tolist(),
                    "score": float(rng.uniform(0.6, 1.0))})
    return out


@pytest.fixture(scope="module")
def wholebody(tmp_path_factory):
    path = tmp_path_factory.mktemp("wholebody") / "wholebody_val_dev.json"
    return path, wholebody_annotations(path)


def test_perfect_results_score_one_in_every_part(wholebody):
    path, data = wholebody
    metrics = evaluate_keypoint_parts(path, results_for(data, noise=0.0, zero_unlabelled=True), quiet=True)
    assert set(metrics) == {"body", "feet", "face", "left_hand", "right_hand", "whole"}
    for part, m in metrics.items():
        assert m["AP"] == pytest.approx(1.0), part
    # a result whose part has no positive score is skipped for that part (xtcocotools' rule); when the
    # unlabelled keypoints score too, those results are false positives of the part (people without feet)
    scored = evaluate_keypoint_parts(path, results_for(data, noise=0.0), quiet=True, keypoint_parts=("feet", "whole"))
    assert scored["feet"]["AP"] < 0.9 and scored["whole"]["AP"] == pytest.approx(1.0)


def test_parts_are_consistent_with_plain_coco_evaluation(wholebody):
    path, data = wholebody
    results = results_for(data, noise=1.0)
    parts = evaluate_keypoint_parts(path, results, quiet=True)
    assert 0.2 < parts["whole"]["AP"] < 0.99
    # the whole-body numbers are what evaluate_coco gives for the file
    assert evaluate_coco(path, results, quiet=True) == parts["whole"]
    # the body part is plain COCO evaluation of the first 17 keypoints against the original annotations
    body = [{**r, "keypoints": r["keypoints"][:51]} for r in results]
    assert evaluate_coco(VAL_DEV_ANN, body, quiet=True) == parts["body"]
    # small parts with small sigmas suffer more from the same relative noise
    assert parts["face"]["AP"] < parts["body"]["AP"]


def _xtcocotools():
    try:
        from xtcocotools.coco import COCO
        from xtcocotools.cocoeval import COCOeval
    except Exception as exc:  # not installed, or its wheel was built against another numpy ABI
        pytest.skip(f"xtcocotools is not usable here ({type(exc).__name__}: {str(exc)[:80]})")
    return COCO, COCOeval


def test_parts_equal_xtcocotools(wholebody, tmp_path):
    """Where xtcocotools works (it has no numpy-2 wheel), our per-part numbers must be its numbers exactly."""
    xt_coco, xt_eval = _xtcocotools()
    path, data = wholebody
    results = results_for(data, noise=1.0)
    ours = evaluate_keypoint_parts(path, results, quiet=True)
    cuts = [0, 17, 23, 91, 112, 133]
    split = [{**r, **{f: r["keypoints"][3 * a:3 * b] for f, a, b in zip(WHOLEBODY.annotation_fields, cuts, cuts[1:])}}
             for r in results]
    (tmp_path / "res.json").write_text(json.dumps(split))
    gt = xt_coco(str(path))
    dt = gt.loadRes(str(tmp_path / "res.json"))
    kinds = {"body": "keypoints_body", "feet": "keypoints_foot", "face": "keypoints_face",
             "left_hand": "keypoints_lefthand", "right_hand": "keypoints_righthand", "whole": "keypoints_wholebody"}
    for part, kind in kinds.items():
        start, stop = (0, 133) if part == "whole" else WHOLEBODY.parts[part]
        evaluator = xt_eval(gt, dt, kind, WHOLEBODY.oks_sigmas[start:stop], use_area=True)
        evaluator.params.useSegm = None
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert ours[part]["AP"] == pytest.approx(float(evaluator.stats[0]), abs=1e-12), part
