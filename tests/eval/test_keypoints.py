"""COCO keypoint evaluation: exact pycocotools numbers, the ``rtpose eval`` command, and model evaluation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rtpose.eval.keypoints import (
    DatasetError,
    coco_results,
    evaluate_coco,
    gt_boxes,
    instance_score,
    load_coco,
    predict_coco,
    write_results,
)
from rtpose.results import Person, PoseResult
from tests.conftest import DATA, VAL_DEV, VAL_DEV_ANN

EXAMPLE_ANN = DATA / "eval" / "example_coco_val.json"
EXAMPLE_PREDS = DATA / "eval" / "example_coco_preds.json"
EXAMPLE_DETS = DATA / "eval" / "test_coco_det_AP_H_56.json"


def test_example_predictions_score_exactly(capsys):
    import sys

    metrics = evaluate_coco(EXAMPLE_ANN, EXAMPLE_PREDS, table=sys.stdout)
    assert metrics["AP"] == pytest.approx(0.8609, abs=5e-5)
    assert metrics["AP50"] == pytest.approx(0.9931, abs=5e-5)
    assert metrics["AP75"] == pytest.approx(0.9109, abs=5e-5)
    assert list(metrics) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    table = capsys.readouterr().out
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.861" in table
    # the same from a list, quietly
    assert evaluate_coco(EXAMPLE_ANN, json.loads(EXAMPLE_PREDS.read_text()), quiet=True) == metrics
    assert capsys.readouterr().out == ""


def test_cli_scores_a_results_file():
    run = subprocess.run(
        [sys.executable, "-m", "rtpose", "eval", "--ann", str(EXAMPLE_ANN), "--results", str(EXAMPLE_PREDS)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "maxDets= 20 ] = 0.861" in run.stdout
    assert "AP 0.8609 | AP50 0.9931 | AP75 0.9109" in run.stdout


def test_bad_inputs_give_one_sentence(tmp_path):
    with pytest.raises(DatasetError, match="hold no predictions"):
        evaluate_coco(EXAMPLE_ANN, [], quiet=True)
    with pytest.raises(DatasetError, match="does not exist"):
        evaluate_coco(tmp_path / "missing.json", EXAMPLE_PREDS, quiet=True)
    with pytest.raises(DatasetError, match="not a COCO annotation file"):
        evaluate_coco(EXAMPLE_PREDS, EXAMPLE_PREDS, quiet=True)
    with pytest.raises(DatasetError, match="not COCO keypoint results"):
        evaluate_coco(EXAMPLE_ANN, EXAMPLE_DETS, quiet=True)
    not_json = tmp_path / "x.json"
    not_json.write_text("{oops")
    with pytest.raises(DatasetError, match="not valid JSON"):
        evaluate_coco(EXAMPLE_ANN, not_json, quiet=True)
    wrong_ids = [dict(r, image_id=123456789) for r in json.loads(EXAMPLE_PREDS.read_text())]
    with pytest.raises(DatasetError, match="not in example_coco_val.json"):
        evaluate_coco(EXAMPLE_ANN, wrong_ids, quiet=True)


def test_rescoring_rule():
    kpts = np.zeros((17, 3), np.float32)
    kpts[:, 2] = 0.1
    kpts[:4, 2] = [0.9, 0.5, 0.3, 0.19]  # 0.19 is not above the 0.2 threshold
    assert instance_score(kpts, 0.8) == pytest.approx(0.8 * (0.9 + 0.5 + 0.3) / 3)
    assert instance_score(np.zeros((17, 3)), 1.0) == 0.0
    person = Person(box=np.array([10, 20, 50, 120], np.float32), score=0.8, keypoints=kpts)
    (result,) = coco_results(7, PoseResult.from_people([person]))
    assert result["image_id"] == 7 and result["category_id"] == 1 and len(result["keypoints"]) == 51
    assert result["score"] == pytest.approx(instance_score(kpts, 0.8), abs=1e-6)
    assert result["bbox"] == [10, 20, 40, 100]


def test_gt_boxes_follow_the_official_protocol():
    coco = load_coco(VAL_DEV_ANN)
    total = sum(len(gt_boxes(coco, i)) for i in coco.imgs)
    with_keypoints = [a for a in coco.dataset["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    assert total == len(with_keypoints) == 52
    for image_id, info in coco.imgs.items():
        boxes = gt_boxes(coco, image_id)
        assert ((boxes[:, 0] >= 0) & (boxes[:, 2] <= info["width"]) & (boxes[:, 3] <= info["height"])).all()


@pytest.fixture(scope="module")
def two_image_ann(tmp_path_factory):
    """coco_val_dev cut down to two images with people, so a model runs on a handful of crops."""
    data = json.loads(VAL_DEV_ANN.read_text())
    counts: dict[int, int] = {}
    for a in data["annotations"]:
        if a["num_keypoints"] > 0 and not a["iscrowd"]:
            counts[a["image_id"]] = counts.get(a["image_id"], 0) + 1
    keep = sorted(i for i, n in counts.items() if n <= 2)[:2]
    data["images"] = [im for im in data["images"] if im["id"] in keep]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    path = tmp_path_factory.mktemp("ann") / "two_images.json"
    path.write_text(json.dumps(data))
    return path, keep


def test_cli_runs_a_model_and_writes_results(two_image_ann, small_weights, tmp_path, capsys):
    from rtpose.cli import main

    ann, image_ids = two_image_ann
    out = tmp_path / "preds.json"
    code = main(["eval", "--ann", str(ann), "--images", str(VAL_DEV / "val2017"), "--weights", str(small_weights),
                 "--device", "cpu", "--out", str(out), "--quiet"])
    assert code == 0
    assert "AP " in capsys.readouterr().out
    results = json.loads(out.read_text())
    assert 2 <= len(results) <= 4 and {r["image_id"] for r in results} == set(image_ids)
    for r in results:
        assert r["category_id"] == 1 and len(r["keypoints"]) == 51 and r["score"] >= 0
        assert np.isfinite(r["keypoints"]).all()
    metrics = evaluate_coco(ann, out, quiet=True)
    assert set(metrics) >= {"AP", "AR"}
    # the writer round-trips
    assert json.loads(write_results(results, tmp_path / "again" / "r.json").read_text()) == results


def test_cli_eval_errors(small_weights, capsys, tmp_path, monkeypatch):
    from rtpose.cli import main

    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/")  # offline
    assert main(["eval", "--ann", str(EXAMPLE_ANN), "--images", str(VAL_DEV / "val2017")]) == 1
    assert "Could not download the HRNet weights hrnet_w32_coco_256x192" in capsys.readouterr().err
    assert main(["eval", "--ann", str(EXAMPLE_ANN), "--images", "/no/such/dir", "--weights", str(small_weights),
                 "--device", "cpu"]) == 1
    assert "Image folder /no/such/dir does not exist" in capsys.readouterr().err


def test_oks_nms_drops_duplicates_and_keeps_distinct_people():
    """On real annotations: a near-copy of a person is dropped, every distinct person of every image is kept."""
    from rtpose.eval.keypoints import oks_nms
    from rtpose.results import Person, PoseResult

    coco = load_coco(VAL_DEV_ANN)
    kept_total = people_total = 0
    for image_id in coco.imgs:
        people = []
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], iscrowd=False)):
            if ann["num_keypoints"] == 0:
                continue
            kpts = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
            kpts[:, 2] = (kpts[:, 2] > 0).astype(np.float32)
            x, y, w, h = ann["bbox"]
            people.append(Person(box=np.array([x, y, x + w, y + h], np.float32), score=1.0, keypoints=kpts))
        people_total += len(people)
        kept_total += len(oks_nms(PoseResult.from_people(people)))
        if len(people) >= 2:
            copy = Person(box=people[1].box + 1, score=0.9, keypoints=people[1].keypoints.copy())
            copy.keypoints[:, :2] += 1.0
            kept = oks_nms(PoseResult.from_people([*people, copy]))
            assert len(kept) == len(people)  # the copy (lower score) is the one dropped
            np.testing.assert_array_equal(kept.boxes, [p.box for p in people])
    assert people_total == 52 and kept_total == people_total


def test_predict_with_a_real_detection_file(small_weights):
    """Detector boxes from a COCO detection file: thresholded, one batched call per image, OKS-NMS only removes."""
    from rtpose.pose.estimator import TopDownEstimator
    from rtpose.runtime import create_backend

    dets = [d for d in json.loads(EXAMPLE_DETS.read_text()) if d["score"] > 0.5]
    estimator = TopDownEstimator(create_backend("torch", weights=str(small_weights), device="cpu"))
    images = VAL_DEV / "val2017"
    kept = predict_coco(estimator, EXAMPLE_ANN, images, boxes=str(EXAMPLE_DETS), det_score_thr=0.5, progress=False)
    every = predict_coco(estimator, EXAMPLE_ANN, images, boxes=str(EXAMPLE_DETS), det_score_thr=0.5,
                         progress=False, oks_nms_thr=None)
    assert len(every) == len(dets) == 18
    assert 0 < len(kept) <= len(every)
    def rows(items):
        return np.array(sorted([r["image_id"], *r["bbox"]] for r in items))

    assert np.allclose(rows(every), rows(dets), atol=0.01)  # the poses sit on exactly the given boxes
    assert all(len(r["keypoints"]) == 51 for r in every)
