"""Segmentation next to pose through the library and the command line: person masks, body parts, outputs.

The segmentation weights are deterministic (the reference's ``fill_state_dict``), so masks are arbitrary
but real: every shape, dtype, RLE, PNG and pixel rule is checked on a real image. The geometry (crops
pasted back) and the model's equality with the official code are proven in ``test_masks.py`` and
``test_seg_hrnet.py``.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import rtpose
from rtpose.errors import RtposeError
from tests.conftest import BUS, DETECTOR_WEIGHTS

pytestmark = pytest.mark.slow


def _model(small_weights, mode, weights):
    return rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="onnxruntime",
                            seg=mode, seg_weights=weights)


def test_person_masks_are_disjoint_inside_the_person_probability_and_round_trip_as_rle(small_weights, seg_weights):
    from rtpose.seg.masks import decode_rles

    with _model(small_weights, "person", seg_weights["voc"]) as model:
        result = model(BUS)
    n, (h, w) = len(result), cv2.imread(str(BUS)).shape[:2]
    assert n >= 3 and result.masks.shape == (n, h, w) and result.masks.dtype == bool
    assert result.person_mask.shape == (h, w) and 0.0 <= result.person_mask.min() <= result.person_mask.max() <= 1.0
    assert result.masks.sum(axis=0).max() <= 1  # no pixel given to two people
    assert not (result.masks.any(axis=0) & (result.person_mask < 0.5)).any()
    assert "segment" in result.timings_ms and result.seg_classes.name == "voc"
    records = result.to_dict()["people"]
    np.testing.assert_array_equal(decode_rles([r["mask"] for r in records]).astype(bool), result.masks)
    assert result[[0, 1]].masks.shape == (2, h, w)


def test_body_parts_of_each_person_in_one_batch(small_weights, seg_weights):
    from rtpose.seg.masks import decode_rle

    with _model(small_weights, "parts", seg_weights["lip"]) as model:
        result = model(BUS)
    n, (h, w) = len(result), cv2.imread(str(BUS)).shape[:2]
    assert result.part_map.shape == (h, w) and result.part_map.dtype == np.uint8 and result.part_map.max() < 20
    assert result.masks.shape == (n, h, w) and result.person_mask is None
    names = set(result.seg_classes.class_names)
    for record, mask in zip(result.to_dict()["people"], result.masks):
        assert set(record["parts"]) <= names - {"background"}
        for rle in record["parts"].values():
            part = decode_rle(rle).astype(bool)
            assert part.any() and not (part & ~mask).any()  # a part lies inside its person's mask


def test_background_replacement_follows_the_person_area():
    from rtpose.io.render import apply_background, parse_background
    from rtpose.results import PoseResult

    image = np.full((60, 80, 3), 100, np.uint8)
    person = np.zeros((60, 80), np.float32)
    person[10:50, 20:40] = 1.0
    result = PoseResult.empty().replace(person_mask=person)
    green = apply_background(image.copy(), result, parse_background("green"))
    assert (green[person == 0] == (0, 255, 0)).all() and (green[person == 1] == 100).all()
    assert parse_background("#ff0000") == (0, 0, 255) and parse_background("0,0,255") == (255, 0, 0)
    with pytest.raises(RtposeError, match="background="):
        parse_background("sparkles")


def test_cli_seg_writes_masks_json_and_background(small_weights, seg_weights, tmp_path, capsys):
    from PIL import Image

    from rtpose.cli import main

    masks, out, picture = tmp_path / "masks", tmp_path / "bus.json", tmp_path / "bus.png"
    code = main(["--source", str(BUS), "--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS),
                 "--device", "cpu", "--backend", "onnxruntime", "--no-show", "--seg", "person",
                 "--seg-weights", str(seg_weights["voc"]), "--save-masks", str(masks), "--json", str(out),
                 "--save", str(picture), "--background", "blur"])
    assert code == 0, capsys.readouterr().err
    people = json.loads(out.read_text())["people"]
    png = Image.open(masks / "frame_000000.png")
    assert png.mode == "P" and png.size == Image.open(BUS).size
    labels = np.asarray(png)
    assert labels.max() <= len(people) and all("mask" in p for p in people)
    assert cv2.imread(str(picture)).shape == cv2.imread(str(BUS)).shape
    assert main(["--source", str(BUS), "--weights", str(small_weights), "--no-show", "--background", "blur"]) == 1
    assert "need --seg" in capsys.readouterr().err
    with pytest.raises(RtposeError, match="seg='nope'"):
        rtpose.PoseModel(small_weights, seg="nope")


def test_ground_truth_masks_as_predictions_score_mask_ap_one_through_rtpose_eval(tmp_path, capsys):
    from pycocotools.coco import COCO

    from rtpose.cli import main
    from tests.conftest import VAL_DEV_ANN

    coco = COCO(str(VAL_DEV_ANN))
    results = []
    for ann in coco.loadAnns(coco.getAnnIds(catIds=[1], iscrowd=False)):
        rle = coco.annToRLE(ann)
        results.append({"image_id": ann["image_id"], "category_id": 1, "score": 1.0,
                        "keypoints": [float(v) for v in ann["keypoints"]],
                        "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")
                                         if isinstance(rle["counts"], bytes) else rle["counts"]}})
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps(results))
    assert main(["eval", "--ann", str(VAL_DEV_ANN), "--results", str(preds)]) == 0
    out = capsys.readouterr().out
    mask_line = next(line for line in out.splitlines() if line.startswith("mask "))
    assert mask_line.startswith("mask AP 1.0000 | AP50 1.0000 | AP75 1.0000"), mask_line
