"""Shared fixtures: paths to the real data and models in ../shared, and deterministic HRNet weights."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
MODELS = SHARED / "models"
REFERENCE = SHARED / "reference"

DETECTOR_WEIGHTS = MODELS / "yolov8n-person.pt"
BASELINE_POSE_WEIGHTS = MODELS / "yolov8n-pose-baseline.pt"
VAL_DEV = DATA / "coco_val_dev"
VAL_DEV_ANN = VAL_DEV / "person_keypoints_val2017.json"
TRAIN_MINI = DATA / "coco_train_mini"
TRAIN_MINI_ANN = TRAIN_MINI / "person_keypoints_train2017.json"
VIDEO_MULTI = DATA / "videos" / "vtest-480x360.avi"
VIDEO_ONE_BY_ONE = DATA / "videos" / "one-by-one-person.mp4"
BUS = DATA / "images" / "bus.jpg"


@pytest.fixture(scope="session", autouse=True)
def library_messages_on_stderr():
    """Show the library's messages on stderr, as the command line and the viewer do (the library alone has
    only a NullHandler), so that tests of library functions can read what a user of the apps would see."""
    from rtpose.log import attach_stderr

    attach_stderr()


def _load_fill():
    spec = importlib.util.spec_from_file_location("reference_fill", REFERENCE / "fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill_state_dict


@pytest.fixture(scope="session")
def fill_state_dict():
    """The reference ``fill_state_dict`` (deterministic weights from names and shapes)."""
    return _load_fill()


@pytest.fixture(scope="session")
def seg_weights(tmp_path_factory, fill_state_dict) -> dict[str, Path]:
    """Deterministic HRNetV2-W18 segmentation checkpoints: ``{"voc": 21 classes, "lip": 20 classes}``."""
    from rtpose.models import HRNetSeg
    from rtpose.weights.seg import save_seg_checkpoint

    folder = tmp_path_factory.mktemp("seg")
    paths = {}
    for classes, name in ((21, "voc"), (20, "lip")):
        net = HRNetSeg(width=18, num_classes=classes)
        net.load_state_dict(fill_state_dict(net.state_dict()), strict=True)
        paths[name] = save_seg_checkpoint(net, folder / f"hrnetv2_w18_{name}.pth", seg_classes=name)
    return paths


@pytest.fixture(scope="session")
def reference_model(fill_state_dict):
    """HRNet-W32 with the reference's deterministic weights, in eval mode on the CPU."""
    from rtpose.models import HRNet

    model = HRNet(width=32)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    return model.eval()


@pytest.fixture(scope="session")
def reference_weights(tmp_path_factory, reference_model) -> Path:
    """An official-layout checkpoint file (plain state_dict) of the reference W32 weights."""
    import torch

    path = tmp_path_factory.mktemp("weights") / "pose_hrnet_w32_256x192_reference.pth"
    torch.save(reference_model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory, fill_state_dict) -> Path:
    """A fast HRNet-W18 checkpoint (deterministic weights) for CLI and pipeline tests."""
    import torch

    from rtpose.models import HRNet

    model = HRNet(width=18)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    path = tmp_path_factory.mktemp("weights") / "pose_hrnet_w18_reference.pth"
    torch.save(model.state_dict(), path)
    return path
