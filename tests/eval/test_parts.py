"""Part-map mIoU in ``rtpose eval --labels``: ground truth rendered from real COCO person annotations.

There is no LIP data here, so the label PNGs are made from the COCO polygons of ``coco_val_dev``: each person's
pixels (pycocotools ``annToMask``) above their hips are LIP's ``upper_clothes``, below ``pants``, inside the
box of their face keypoints ``face``; a 3-pixel band along every person's outline is 255 (ignore), as VOC's
label images mark object boundaries. Predictions are written by rtpose's own writers (the ``--json`` records of
:class:`~rtpose.results.PoseResult` and ``--save-masks``'s :class:`~rtpose.io.sinks.MaskSink`) and scored through
the real command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

from rtpose.seg.classes import get_class_set
from tests.conftest import VAL_DEV, VAL_DEV_ANN

LIP = get_class_set("lip")
UPPER, PANTS, FACE, HAIR = (LIP.index(n) for n in ("upper_clothes", "pants", "face", "hair"))
IMAGES = 5


def _render(coco, image_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, owner)``: the LIP label map (255 on outlines) and each pixel's person index (-1: nobody)."""
    info = coco.imgs[image_id]
    h, w = info["height"], info["width"]
    labels = np.zeros((h, w), np.uint8)
    owner = np.full((h, w), -1, np.int32)
    outline = np.zeros((h, w), bool)
    people = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if a["category_id"] == 1]
    for i, ann in enumerate(people):
        with warnings.catch_warnings():  # pycocotools' decode and numpy 2's copy keyword
            warnings.simplefilter("ignore", DeprecationWarning)
            mask = coco.annToMask(ann).astype(bool)
        kp = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
        hips = kp[11:13][kp[11:13, 2] > 0]
        split = hips[:, 1].mean() if len(hips) else ann["bbox"][1] + ann["bbox"][3] / 2
        rows = np.arange(h)[:, None]
        labels[mask] = np.broadcast_to(np.where(rows < split, UPPER, PANTS), (h, w))[mask]
        head = kp[:5][kp[:5, 2] > 0]
        if len(head) >= 2:
            (x0, y0), (x1, y1) = head[:, :2].min(0).astype(int), head[:, :2].max(0).astype(int)
            face = np.zeros((h, w), bool)
            face[y0:y1 + 1, x0:x1 + 1] = True
            labels[mask & face] = FACE
        owner[mask] = i
        m8 = mask.astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        outline |= cv2.dilate(m8, kernel, iterations=1).astype(bool) & ~cv2.erode(m8, kernel, iterations=1).astype(bool)
    labels[outline] = 255
    return labels, owner


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """``(root, truth)``: label PNGs and the images they belong to, and ``{stem: (labels, owner, file)}``."""
    from PIL import Image

    from rtpose.eval.keypoints import load_coco

    coco = load_coco(VAL_DEV_ANN)
    root = tmp_path_factory.mktemp("parts")
    (root / "labels").mkdir()
    (root / "images").mkdir()
    ids = [i for i in sorted(coco.imgs) if coco.getAnnIds(imgIds=[i])][:IMAGES]
    truth = {}
    for image_id in ids:
        name = coco.imgs[image_id]["file_name"]
        labels, owner = _render(coco, image_id)
        png = Image.fromarray(labels, mode="P")
        png.putpalette(LIP.png_palette())
        stem = name.rsplit(".", 1)[0]
        png.save(root / "labels" / f"{stem}.png")
        shutil.copy(VAL_DEV / "val2017" / name, root / "images" / name)
        truth[stem] = (labels, owner, name)
    return root, truth


def _write_predictions(folder, truth, change=None) -> tuple:
    """rtpose's ``--json`` lines and ``--save-masks`` PNGs of part maps (the truth, or ``change(labels)`` of it).

    Frames are numbered in the name order of the image folder, as a ``--source`` folder run numbers them.
    Returns ``(json path, mask folder, {stem: predicted labels})``.
    """
    from rtpose.io.sinks import JsonLinesSink, MaskSink
    from rtpose.io.sources import Frame
    from rtpose.results import PoseResult

    folder.mkdir()
    predicted = {}
    with JsonLinesSink(folder / "parts.jsonl") as json_sink, MaskSink(folder / "masks") as mask_sink:
        for index, stem in enumerate(sorted(truth, key=lambda s: truth[s][2])):
            labels, owner, name = truth[stem]
            parts = np.where(labels == 255, 0, labels).astype(np.uint8)  # a model predicts a class everywhere
            if change is not None:
                parts = change(parts)
            n = int(owner.max()) + 1
            masks = np.stack([(owner == i) & (parts > 0) for i in range(n)])
            image = np.zeros((*labels.shape, 3), np.uint8)
            result = PoseResult(np.tile([0, 0, 10, 10], (n, 1)), np.ones(n), np.zeros((n, 17, 3)),
                                frame=Frame(index, 0.0, image, file=name), masks=masks,
                                part_map=np.where(owner >= 0, parts, 0).astype(np.uint8), seg_classes=LIP)
            json_sink.write(result)
            mask_sink.write(result)
            predicted[stem] = result.part_map
    return folder / "parts.jsonl", folder / "masks", predicted


def _eval(*args):
    return subprocess.run([sys.executable, "-m", "rtpose", "eval", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_truth_as_predictions_scores_one(dataset, tmp_path):
    root, truth = dataset
    jsonl, masks, _ = _write_predictions(tmp_path / "pred", truth)
    for results, extra in ((jsonl, ()), (masks, ("--source", root / "images"))):
        out = tmp_path / f"scores_{results.name}.json"
        run = _eval("--labels", root / "labels", "--results", results, *extra, "--json", out)
        assert run.returncode == 0, run.stderr
        scores = json.loads(out.read_text())
        assert scores["mIoU"] == 1.0 and scores["pixel_accuracy"] == 1.0 and scores["images"] == IMAGES
        present = {k for k, v in scores["iou"].items() if v is not None}
        assert present == {"background", "upper_clothes", "pants", "face"}
        assert "mIoU" in run.stdout and "upper_clothes" in run.stdout and "100.00" in run.stdout


def _canvas(maps: list[np.ndarray]) -> np.ndarray:
    """The maps side by side on one canvas (padded with False), so one RLE holds a class over all images."""
    h = max(m.shape[0] for m in maps)
    return np.concatenate([np.pad(m, ((0, h - m.shape[0]), (0, 0))) for m in maps], axis=1)


def test_perturbed_predictions_match_pycocotools_iou(dataset, tmp_path):
    from pycocotools import mask as mask_api

    root, truth = dataset
    kernel = np.ones((9, 9), np.uint8)

    def change(parts):
        out = parts.copy()
        upper = parts == UPPER
        out[upper & ~cv2.erode(upper.astype(np.uint8), kernel).astype(bool)] = 0  # eroded upper clothes
        face = parts == FACE
        out[face & (np.arange(parts.shape[0])[:, None] % 3 == 0)] = HAIR  # every third face row is hair
        return out

    jsonl, masks, predicted = _write_predictions(tmp_path / "pred", truth, change)
    stems = sorted(truth)
    gts = [truth[s][0] for s in stems]
    preds = [predicted[s] for s in stems]
    expected = {}
    for c, name in enumerate(LIP.class_names):
        gt_c = _canvas([g == c for g in gts])
        pred_c = _canvas([(p == c) & (g != 255) for p, g in zip(preds, gts)])
        if not gt_c.any() and not pred_c.any():
            expected[name] = None
            continue
        rles = mask_api.encode(np.asfortranarray(np.stack([gt_c, pred_c], -1).astype(np.uint8)))
        expected[name] = float(mask_api.iou([rles[1]], [rles[0]], [0])[0, 0])
    valid = [g != 255 for g in gts]
    accuracy = sum(int(((p == g) & v).sum()) for p, g, v in zip(preds, gts, valid)) / sum(int(v.sum()) for v in valid)

    for results, extra in ((jsonl, ()), (masks, ("--source", root / "images"))):
        out = tmp_path / f"scores_{results.name}.json"
        run = _eval("--labels", root / "labels", "--results", results, *extra, "--json", out)
        assert run.returncode == 0, run.stderr
        scores = json.loads(out.read_text())
        assert set(scores["iou"]) == set(expected)
        for name, value in expected.items():
            if value is None:
                assert scores["iou"][name] is None, name
            else:
                assert scores["iou"][name] == pytest.approx(value, abs=1e-9), name
        assert 0 < expected["upper_clothes"] < 1 and 0 < expected["face"] < 1 and expected["hair"] == 0  # no true hair
        defined = [v for v in expected.values() if v is not None]
        assert scores["mIoU"] == pytest.approx(sum(defined) / len(defined), abs=1e-9)
        assert scores["pixel_accuracy"] == pytest.approx(accuracy, abs=1e-12)


def _one_sentence(run) -> str:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rtpose: error:"), run.stderr
    return lines[0]


def test_bad_inputs_give_one_sentence(dataset, tmp_path):
    from PIL import Image

    root, truth = dataset
    jsonl, masks, _ = _write_predictions(tmp_path / "pred", truth)
    assert "Label folder" in _one_sentence(_eval("--labels", tmp_path / "nowhere", "--results", jsonl))
    assert "Prediction folder" in _one_sentence(_eval("--labels", root / "labels", "--results", tmp_path / "nowhere"))
    # an image without a prediction: the PNG folder without --source names frames, not images
    assert "have no prediction" in _one_sentence(_eval("--labels", root / "labels", "--results", masks))
    first = sorted(masks.iterdir())[0]
    first.unlink()
    assert "1 of the 5 label images have no prediction" in _one_sentence(
        _eval("--labels", root / "labels", "--results", masks, "--source", root / "images"))
    # class count mismatch: the JSON names LIP parts that VOC does not have; a label beyond LIP's 20 classes
    assert "voc does not have" in _one_sentence(
        _eval("--labels", root / "labels", "--results", jsonl, "--seg-classes", "voc"))
    wrong = tmp_path / "wrong_labels"
    shutil.copytree(root / "labels", wrong)
    stem = sorted(truth)[0]
    labels = truth[stem][0].copy()
    labels[0, 0] = 20
    Image.fromarray(labels, mode="L").save(wrong / f"{stem}.png")
    message = _one_sentence(_eval("--labels", wrong, "--results", jsonl))
    assert "20" in message and "lip" in message
    assert "--ann" in _one_sentence(_eval("--labels", root / "labels", "--results", jsonl, "--ann", VAL_DEV_ANN))
    assert "--labels" in _one_sentence(_eval("--ann", VAL_DEV_ANN, "--results", jsonl, "--json", tmp_path / "s.json"))
    assert "nonsense" in _one_sentence(
        _eval("--labels", root / "labels", "--results", jsonl, "--seg-classes", "nonsense"))


@pytest.mark.slow
def test_a_real_parts_run_scores_the_same_from_json_and_from_save_masks(dataset, tmp_path, small_weights):
    """``rtpose --seg parts`` (an HRNetV2-W18 with LIP's classes and deterministic weights) writes ``--json`` and
    ``--save-masks`` for the images; both score identically against the labels (the JSON's per-person part RLEs
    rebuild the frame's part map that the PNGs hold)."""
    import torch

    from rtpose.models import HRNetSeg
    from rtpose.weights.seg import save_seg_checkpoint
    from tests.conftest import DETECTOR_WEIGHTS

    root, _ = dataset
    torch.manual_seed(0)
    model = HRNetSeg(width=18, num_classes=LIP.num_classes)
    model.init_weights()
    with torch.no_grad():
        model.last_layer[3].bias.copy_(torch.linspace(-1.0, 1.0, LIP.num_classes))  # not all background
        model.last_layer[3].weight.normal_(0.0, 0.05)
    weights = save_seg_checkpoint(model.eval(), tmp_path / "lip_w18.pth", "lip")
    run = subprocess.run(
        [sys.executable, "-m", "rtpose", "--source", str(root / "images"), "--weights", str(small_weights),
         "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu", "--backend", "torch", "--seg", "parts",
         "--seg-weights", str(weights), "--json", str(tmp_path / "parts.jsonl"), "--save-masks",
         str(tmp_path / "masks"), "--no-show"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    scores = []
    for results, extra in ((tmp_path / "parts.jsonl", ()), (tmp_path / "masks", ("--source", root / "images"))):
        out = tmp_path / f"scores_{results.name}.json"
        ran = _eval("--labels", root / "labels", "--results", results, *extra, "--json", out)
        assert ran.returncode == 0, ran.stderr
        scores.append(json.loads(out.read_text()))
    assert scores[0] == scores[1]
    assert scores[0]["images"] == IMAGES and 0 < scores[0]["pixel_accuracy"] < 1
    assert sum(v is not None for v in scores[0]["iou"].values()) > 4  # the model's parts and the truth's
