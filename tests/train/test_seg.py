"""Person-mask training (``python -m train.fit --task person-mask``) on real COCO person masks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import DETECTOR_WEIGHTS, TRAIN_MINI, TRAIN_MINI_ANN

pytestmark = pytest.mark.skipif(not TRAIN_MINI_ANN.is_file(), reason="needs ../shared/data/coco_train_mini")

TRAIN_IMAGES = TRAIN_MINI / "train2017"


def _subset(path: Path, image_ids: list[int]) -> Path:
    """A COCO file with some images of coco_train_mini and all their annotations."""
    data = json.loads(TRAIN_MINI_ANN.read_text())
    ids = set(image_ids)
    sub = {"categories": data["categories"], "images": [i for i in data["images"] if i["id"] in ids],
           "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}
    path.write_text(json.dumps(sub))
    return path


def _largest_people(n: int) -> list[int]:
    """The ``n`` images of coco_train_mini whose non-crowd people cover most of the picture."""
    data = json.loads(TRAIN_MINI_ANN.read_text())
    sizes = {i["id"]: i["width"] * i["height"] for i in data["images"]}
    cover: dict[int, float] = {}
    for a in data["annotations"]:
        if not a["iscrowd"]:
            cover[a["image_id"]] = cover.get(a["image_id"], 0.0) + a["area"] / sizes[a["image_id"]]
    return sorted(cover, key=lambda i: -cover[i])[:n]


def _decode(segmentation, h: int, w: int) -> np.ndarray:
    """An annotation's mask straight from ``pycocotools.mask`` (polygons merged, RLE as given)."""
    from pycocotools import mask as mask_api

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rles = mask_api.frPyObjects(segmentation, h, w)
        rle = mask_api.merge(rles) if isinstance(rles, list) else rles
        return mask_api.decode(rle).astype(bool)


def test_targets_are_people_with_crowds_ignored():
    """Every image of coco_train_mini with a crowd: person pixels 15, crowd pixels no person covers 255."""
    from rtpose.eval.keypoints import load_coco
    from train.seg_dataset import PERSON_CLASS, person_labels

    coco = load_coco(TRAIN_MINI_ANN)
    crowded = sorted({a["image_id"] for a in coco.dataset["annotations"] if a["iscrowd"]})
    assert crowded
    for image_id in crowded:
        info = coco.imgs[image_id]
        h, w = info["height"], info["width"]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        people = np.zeros((h, w), bool)
        crowd = np.zeros((h, w), bool)
        for a in anns:
            mask = _decode(a["segmentation"], h, w)
            if a["iscrowd"]:
                assert isinstance(a["segmentation"], dict)  # crowds are RLE, people polygons: both are read
                crowd |= mask
            else:
                people |= mask
        labels = person_labels(coco, image_id)
        assert np.array_equal(labels == PERSON_CLASS, people)
        assert np.array_equal(labels == 255, crowd & ~people)
        assert (labels == 255).any() and np.array_equal(labels == 0, ~people & ~crowd)


def _fit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.fit", *args], capture_output=True, text=True, timeout=900)


OVERFIT_IMAGES = 3
OVERFIT_EPOCHS = 8
OVERFIT_INPUT = "96x96"


@pytest.mark.slow
def test_overfit_lowers_loss_raises_iou_and_the_checkpoint_loads_in_rtpose(tmp_path, small_weights):
    """HRNetV2-W18 trained through the command line on the 3 images of coco_train_mini whose people cover
    most of the picture (96x96 inputs, no augmentation, full-batch Adam steps): the epoch loss falls, and the
    person IoU on those images, measured by the same code before and after, rises. ``best.pth`` then loads
    through ``rtpose --seg person --seg-weights`` and ``PoseModel(seg="person", seg_weights=…)``.
    """
    from rtpose.weights.seg import checkpoint_seg_classes, load_seg_model
    from train.config import load_config, merged
    from train.seg_dataset import CocoPersonMasks
    from train.seg_task import build_seg_model, person_iou, predict_person_mask, seg_loss

    ann = _subset(tmp_path / "ann.json", _largest_people(OVERFIT_IMAGES))
    out = tmp_path / "run"
    args = ["--task", "person-mask", "--data-root", str(TRAIN_MINI), "--train-ann", str(ann),
            "--train-images", "train2017", "--val-ann", str(ann), "--val-images", "train2017", "--width", "18",
            "--input-size", OVERFIT_INPUT, "--epochs", str(OVERFIT_EPOCHS), "--batch-size", str(OVERFIT_IMAGES),
            "--lr", "5e-3", "--no-augment", "--workers", "0", "--threads", "2", "--device", "cpu",
            "--val-interval", str(OVERFIT_EPOCHS), "--seed", "0", "--output", str(out), "--quiet"]
    # the untrained model: the one the run starts from (same config, same seed)
    config = merged(load_config("hrnet_w18_person_mask"), {"model.width": 18})
    torch.manual_seed(0)
    untrained = build_seg_model(config, lambda _: None, "test")
    side = int(OVERFIT_INPUT.split("x")[0])
    iou_before = person_iou(untrained, ann, TRAIN_IMAGES, side, torch.device("cpu"))["IoU"]
    dataset = CocoPersonMasks(ann, TRAIN_IMAGES, (side, side))
    batch = {k: torch.stack([dataset[i][k] for i in range(len(dataset))]) for k in ("image", "labels")}
    untrained.train()
    with torch.no_grad():
        loss_before = float(seg_loss(untrained, batch, torch.device("cpu"), False))

    run = _fit(*args)
    assert run.returncode == 0, run.stderr
    assert "3 training images" in run.stdout and "best IoU" in run.stdout
    with (out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(1, OVERFIT_EPOCHS + 1))
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < losses[0] and losses[0] == pytest.approx(loss_before, rel=1e-4)

    trained = load_seg_model(out / "best.pth")  # rtpose's loader, strict
    assert checkpoint_seg_classes(out / "best.pth").name == "voc"
    iou_after = person_iou(trained, ann, TRAIN_IMAGES, side, torch.device("cpu"))["IoU"]
    assert iou_after == pytest.approx(float(rows[-1]["IoU"]), abs=1e-6)  # what the run reported
    assert iou_after > iou_before, f"person IoU {iou_after:.3f} after training, {iou_before:.3f} before"

    # the file in rtpose: the library's person mask is this model's, at the input size the file records
    import cv2

    from rtpose import PoseModel

    image_path = TRAIN_IMAGES / json.loads(ann.read_text())["images"][0]["file_name"]
    image = cv2.imread(str(image_path))
    with PoseModel(weights=small_weights, detector=DETECTOR_WEIGHTS, device="cpu", backend="torch",
                   seg="person", seg_weights=out / "best.pth") as model:
        result = model(image)
    assert result.person_mask is not None and result.person_mask.shape == image.shape[:2]
    expected = predict_person_mask(trained, image, side, torch.device("cpu"))
    assert np.mean((result.person_mask >= 0.5) == expected) > 0.999
    # and on the command line
    json_out = tmp_path / "one.json"
    cli = subprocess.run([sys.executable, "-m", "rtpose", "--source", str(image_path), "--weights", str(small_weights),
                          "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu", "--backend", "torch", "--seg",
                          "person", "--seg-weights", str(out / "best.pth"), "--json", str(json_out), "--no-show"],
                         capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    record = json.loads(json_out.read_text())
    assert all("mask" in p for p in record["people"]) and len(record["people"]) == len(result)


def test_bad_inputs_give_one_sentence(tmp_path, small_weights):
    data = json.loads(TRAIN_MINI_ANN.read_text())
    for a in data["annotations"]:
        a.pop("segmentation", None)
    no_masks = tmp_path / "no_masks.json"
    no_masks.write_text(json.dumps(data))
    base = ["--task", "person-mask", "--data-root", str(TRAIN_MINI), "--train-images", "train2017",
            "--val-interval", "0", "--device", "cpu", "--output", str(tmp_path / "run")]
    cases = [
        (["--train-ann", str(no_masks)], "no person annotation with a 'segmentation'"),
        (["--train-ann", str(TRAIN_MINI_ANN), "--weights", str(small_weights)], "not an HRNetV2 segmentation model"),
        (["--train-ann", str(TRAIN_MINI_ANN), "--config", "hrnet_w32_256x192"], "does not fit the config"),
        (["--train-ann", str(TRAIN_MINI_ANN), "--train-images", "nowhere"], "does not exist"),
    ]
    for extra, words in cases:
        run = _fit(*base, *extra)
        assert run.returncode != 0
        assert "Traceback" not in run.stderr, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("train.fit: error:") and words in lines[0], run.stderr
