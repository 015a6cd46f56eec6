"""Keypoint sets from the command line: a whole-body model end to end, --keypoints, --classes, weights list."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from rtpose.cli import main
from rtpose.errors import WeightsError
from rtpose.models import HRNet
from rtpose.pose.detector import ANIMAL_CLASSES, PersonDetector
from rtpose.pose.keypoint_sets import KEYPOINT_SETS
from tests.conftest import BUS, DETECTOR_WEIGHTS, VIDEO_MULTI
from tests.support.cli_helpers import one_error_line


@pytest.fixture(scope="module")
def wholebody_weights(tmp_path_factory, fill_state_dict):
    """HRNet-W18 with 133 heatmaps and the reference's deterministic weights, in mmpose 0.x layout."""
    state = fill_state_dict(HRNet(width=18, num_joints=133).state_dict())
    mmpose = {("keypoint_head." if k.startswith("final_layer.") else "backbone.") + k: v for k, v in state.items()}
    path = tmp_path_factory.mktemp("weights") / "hrnet_w18_wholebody_reference.pth"
    torch.save({"meta": {"mmpose_version": "0.8.0"}, "state_dict": mmpose}, path)
    return path


@pytest.mark.slow
def test_wholebody_video_end_to_end(tmp_path, wholebody_weights, monkeypatch, capsys):
    monkeypatch.setenv("RTPOSE_ENGINES", str(tmp_path / "engines"))
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    argv = ["--source", str(VIDEO_MULTI), "--weights", str(wholebody_weights), "--detector", str(DETECTOR_WEIGHTS),
            "--device", "cpu", "--no-show", "--max-frames", "4", "--save", str(video), "--json", str(jsonl)]
    assert main(argv) == 0
    assert "4 frames processed" in capsys.readouterr().err
    header, *records = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line is valid JSON
    assert header["keypoints"]["set"] == "coco_wholebody" and len(header["keypoints"]["names"]) == 133
    assert [r["frame"] for r in records] == list(range(4))
    assert all(len(r["people"]) >= 1 for r in records)
    assert all(len(p["keypoints"]) == 133 and len(p["keypoints"][0]) == 3 for r in records for p in r["people"])
    # the exported ONNX file's sidecar records the set
    sidecars = list((tmp_path / "engines").glob("*.onnx.json"))
    assert len(sidecars) == 1 and json.loads(sidecars[0].read_text())["keypoints"] == "coco_wholebody"
    # every confident keypoint of frame 0, of every part, was drawn into the saved video
    source = cv2.VideoCapture(str(VIDEO_MULTI)).read()[1].astype(int)
    saved = cv2.VideoCapture(str(video)).read()[1].astype(int)
    kset = KEYPOINT_SETS["coco_wholebody"]
    drawn = {part: [0, 0] for part in kset.parts}
    for person in records[0]["people"]:
        for i, (x, y, s) in enumerate(person["keypoints"]):
            xi, yi = int(round(x)), int(round(y))
            if s < 0.3 or not (1 <= xi < source.shape[1] - 1 and 1 <= yi < source.shape[0] - 1):
                continue
            counts = drawn[kset.part_of(i)]
            counts[1] += 1
            window = np.s_[yi - 1:yi + 2, xi - 1:xi + 2]
            counts[0] += int(np.abs(source[window] - saved[window]).max() > 30)
    assert all(total > 0 and hit >= 0.95 * total for hit, total in drawn.values()), drawn


def test_keypoints_option_that_does_not_fit_is_one_sentence(wholebody_weights, capsys):
    argv = ["--source", str(BUS), "--weights", str(wholebody_weights), "--detector", str(DETECTOR_WEIGHTS),
            "--device", "cpu", "--no-show", "--keypoints", "mpii"]
    assert main(argv) != 0
    assert "133 keypoints but the keypoint set mpii has 16" in one_error_line(capsys)


def test_unknown_keypoint_set_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--source", str(BUS), "--weights", "w.pth", "--keypoints", "hands"])
    assert info.value.code != 0
    assert "invalid choice: 'hands'" in capsys.readouterr().err


def test_detector_classes():
    image = cv2.imread(str(BUS))
    assert len(PersonDetector(DETECTOR_WEIGHTS, device="cpu", classes=("person",))(image)) == 4
    animals = PersonDetector(DETECTOR_WEIGHTS, device="cpu", classes=ANIMAL_CLASSES)
    assert animals.classes == list(range(14, 24)) and len(animals(image)) == 0  # no animals on the bus photo
    buses = PersonDetector(DETECTOR_WEIGHTS, device="cpu", classes=["bus"])
    assert len(buses(image)) >= 1
    with pytest.raises(WeightsError, match="has no class 'unicorn'"):
        PersonDetector(DETECTOR_WEIGHTS, device="cpu", classes=["unicorn"])
    assert KEYPOINT_SETS["ap10k"].detector_classes == ANIMAL_CLASSES
    assert all(s.detector_classes == (0,) for s in KEYPOINT_SETS.values() if s.name != "ap10k")


def test_weights_list_shows_set_and_metric(capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("hrnet", "pose_hrnet"))}
    assert "coco_wholebody" in rows["hrnet_w48_coco_wholebody_384x288_dark"]
    assert "whole AP 0.661" in rows["hrnet_w48_coco_wholebody_384x288_dark"]
    assert "mpii" in rows["hrnet_w32_mpii_256x256"] and "256x256" in rows["hrnet_w32_mpii_256x256"]
    assert "CrowdPose AP 0.675" in rows["hrnet_w32_crowdpose_256x192"]
    assert "ap10k" in rows["hrnet_w32_ap10k_256x256"] and "AP-10K AP 0.722" in rows["hrnet_w32_ap10k_256x256"]
    assert "halpe" in rows["hrnet_w48_halpe_384x288_dark_plus"]
    assert "COCO AP 0.746" in rows["hrnet_w32_coco_256x192"]
