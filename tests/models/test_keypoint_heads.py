"""Every keypoint set's HRNet loads an mmpose-layout checkpoint and matches the official COCO reference.

A published mmpose file of any set has the COCO file's layout except for the head: ``backbone.*`` with the
official HRNet names and shapes, and ``keypoint_head.final_layer.weight`` ``(K, 32, 1, 1)`` /
``keypoint_head.final_layer.bias`` ``(K,)`` (mmpose 0.x; ``head.final_layer.*`` in 1.x). The state dicts
below are built from the official reference's names and shapes (``hrnet_w32_256x192_state_dict_shapes.json``)
with only the head resized, so nothing is taken from our own model.

What is equal, and why: ``fill.py`` seeds a generator with the tensor's *name* and reads ``prod(shape)``
numbers from it. The backbone tensors are the same names and shapes for every K, so they get identical
values; the head ``(K, 32, 1, 1)`` reads the first ``32 K`` numbers of the same stream as COCO's
``(17, 32, 1, 1)`` (same fan-in, so the same scale), so its first ``min(K, 17)`` output channels are COCO's
first channels, and the bias likewise. Hence: heatmap channels ``0 … min(K, 17) - 1`` of any set equal the
official COCO reference's channels at the same positions, and channels past 17 are new. The positions are
shared, not the meaning (MPII's channel 0 is the right ankle, COCO's is the nose).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rtpose.errors import RtposeError, WeightsError
from rtpose.pose.keypoint_sets import KEYPOINT_SETS
from rtpose.weights.pose import checkpoint_keypoint_set, load_pose_model, trained_input_hw
from tests.conftest import REFERENCE

REF_SHAPES = json.loads((REFERENCE / "hrnet_w32_256x192_state_dict_shapes.json").read_text())
HEAD = ("final_layer.weight", "final_layer.bias")


def official_layout(num_joints: int, fill, head_prefix: str = "keypoint_head.") -> dict[str, torch.Tensor]:
    """An mmpose-layout state_dict for K joints: the reference's names and shapes, only the head resized."""
    shapes = {name: list(shape) for name, shape in REF_SHAPES.items()}
    shapes["final_layer.weight"] = [num_joints, *shapes["final_layer.weight"][1:]]
    shapes["final_layer.bias"] = [num_joints]
    filled = fill({name: torch.empty(shape) for name, shape in shapes.items()})  # reads names and shapes only
    return {(head_prefix if name in HEAD else "backbone.") + name: value for name, value in filled.items()}


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE / "hrnet_w32_256x192.npz")


def test_head_is_the_only_difference(fill_state_dict):
    coco = official_layout(17, fill_state_dict)
    wholebody = official_layout(133, fill_state_dict)
    assert list(coco) == list(wholebody)
    head = [f"keypoint_head.{h}" for h in HEAD]
    assert [k for k in coco if coco[k].shape != wholebody[k].shape] == head
    assert all(torch.equal(coco[k], wholebody[k]) for k in coco if k not in head)
    for k in head:  # the head's first 17 rows are COCO's (fill's number stream is a prefix), the rest are new
        assert torch.equal(wholebody[k][:17], coco[k])
        assert not torch.equal(wholebody[k][17:34], coco[k])
    assert tuple(wholebody["keypoint_head.final_layer.weight"].shape) == (133, 32, 1, 1)


# (set, file name): AP-10K under its published name (the registry entry says "ap10k"), the others unnamed
CASES = [
    ("coco", "any_coco.pth"),
    ("coco_wholebody", "hrnet_w32_coco_wholebody_256x192-853765cd_20200918.pth"),
    ("halpe", "my_halpe.pth"),
    ("mpii", "my_mpii.pth"),
    ("crowdpose", "hrnet_w32_crowdpose_256x192-960be101_20201227.pth"),
    ("ap10k", "hrnet_w32_ap10k_256x256-18aac840_20211029.pth"),
]


@pytest.mark.parametrize(("name", "filename"), CASES, ids=[c[0] for c in CASES])
def test_set_loads_strict_and_matches_reference_in_shared_channels(tmp_path, fill_state_dict, reference, name,
                                                                   filename):
    kset = KEYPOINT_SETS[name]
    k = kset.num_keypoints
    path = tmp_path / filename
    torch.save({"meta": {"mmpose_version": "0.8.0"}, "state_dict": official_layout(k, fill_state_dict)}, path)
    model = load_pose_model(path)
    assert (model.width, model.num_joints) == (32, k)
    assert checkpoint_keypoint_set(path).name == name
    with torch.no_grad():
        out = model(torch.from_numpy(reference["input"])).numpy()
    assert out.shape == (4, k, 64, 48)
    shared = min(k, 17)
    diff = np.abs(out[:, :shared] - reference["heatmaps"][:, :shared]).max()
    assert diff < 1e-3, f"{name}: shared channels differ from the official reference by {diff:.2e}"
    if k > 17:  # the new channels are really new: none repeats a reference channel
        extra = out[:, 17:].reshape(4, k - 17, 1, -1)
        ref = reference["heatmaps"].reshape(4, 1, 17, -1)
        assert np.abs(extra - ref).max(-1).min() > 1e-2


def test_mmpose1_layout_and_wrong_set(tmp_path, fill_state_dict):
    path = tmp_path / "mpii_mmpose1.pth"
    torch.save({"state_dict": official_layout(16, fill_state_dict, head_prefix="head.")}, path)
    assert load_pose_model(path).num_joints == 16
    assert checkpoint_keypoint_set(path).name == "mpii"
    assert trained_input_hw(path) == (256, 256)  # MPII models are 256x256 when nothing else says
    with pytest.raises(WeightsError, match="wrong shape"):
        load_pose_model(path, num_joints=17)
    with pytest.raises(RtposeError, match="has 17"):
        checkpoint_keypoint_set(path, "coco")


def test_17_keypoints_are_body_unless_told(tmp_path, fill_state_dict):
    path = tmp_path / "animals.pth"
    torch.save({"state_dict": official_layout(17, fill_state_dict)}, path)
    assert checkpoint_keypoint_set(path).name == "coco"
    assert checkpoint_keypoint_set(path, "ap10k").name == "ap10k"
    named = tmp_path / "hrnet_w32_ap10k_256x256-18aac840_20211029.pth"
    path.rename(named)
    assert checkpoint_keypoint_set(named).name == "ap10k"
    assert trained_input_hw(named) == (256, 256)
