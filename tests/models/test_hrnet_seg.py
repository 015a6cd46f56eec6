"""HRNetSeg is the official HRNetV2: names, shapes and logits match the official code's reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rtpose.models import HRNet, HRNetSeg, seg_output_hw
from tests.conftest import REFERENCE

LIP_NPZ = REFERENCE / "hrnetv2_w48_lip_473x473.npz"
LIP_SHAPES = REFERENCE / "hrnetv2_w48_lip_473x473_state_dict_shapes.json"


@pytest.fixture(scope="module")
def lip_model(fill_state_dict):
    model = HRNetSeg(width=48, num_classes=20)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    return model.eval()


def test_state_dict_names_and_shapes_equal_official():
    expected = json.loads(LIP_SHAPES.read_text())
    got = {name: list(t.shape) for name, t in HRNetSeg(width=48, num_classes=20).state_dict().items()}
    assert list(got) == list(expected)
    assert got == expected


def test_backbone_is_the_pose_backbone():
    """Same names and shapes as the pose HRNet, plus the fuse rows 1–3 of the last unit."""
    pose = {k: v.shape for k, v in HRNet(width=18).state_dict().items() if not k.startswith("final_layer")}
    seg = {k: v.shape for k, v in HRNetSeg(width=18, num_classes=3).state_dict().items()
           if not k.startswith("last_layer")}
    assert all(seg[k] == shape for k, shape in pose.items())
    extra = set(seg) - set(pose)
    assert extra and all(k.startswith("stage4.2.fuse_layers.") and k.split(".")[3] in "123" for k in extra)


def test_logits_match_official(lip_model):
    ref = np.load(LIP_NPZ)
    with torch.no_grad():
        out = lip_model(torch.from_numpy(ref["input"])).numpy()
    assert out.shape == ref["logits"].shape == (2, 20, 119, 119)
    assert np.abs(out - ref["logits"]).max() < 1e-3


@pytest.mark.parametrize(
    ("width", "classes", "align_corners", "hw"),
    [(18, 21, False, (97, 131)), (18, 19, True, (65, 47)), (32, 7, False, (64, 96)), (48, 2, True, (33, 35))],
)
def test_shapes_at_other_widths_classes_and_sizes(fill_state_dict, width, classes, align_corners, hw):
    model = HRNetSeg(width=width, num_classes=classes, align_corners=align_corners)
    assert model.last_layer[0].in_channels == 15 * width
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, *hw), dtype=np.float32)))
    # the official stem: two 3×3 stride-2 padding-1 convolutions
    expected = tuple(math.floor((math.floor((v + 2 - 3) / 2) + 1 + 2 - 3) / 2) + 1 for v in hw)
    assert expected == tuple(math.ceil(v / 4) for v in hw) == seg_output_hw(hw)
    assert out.shape == (2, classes, *expected)
    assert torch.isfinite(out).all()


def test_align_corners_changes_the_result(fill_state_dict):
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((1, 3, 70, 90), dtype=np.float32))
    outs = []
    for align in (False, True):
        model = HRNetSeg(width=18, num_classes=4, align_corners=align)
        model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
        with torch.no_grad():
            outs.append(model.eval()(x))
    assert outs[0].shape == outs[1].shape and not torch.allclose(outs[0], outs[1])


def test_batch_items_are_independent(fill_state_dict):
    model = HRNetSeg(width=18, num_classes=5)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    model.eval()
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((3, 3, 50, 61), dtype=np.float32))
    with torch.no_grad():
        both = model(x)
        one = model(x[1:2])
    assert torch.allclose(both[1:2], one, atol=1e-4)


@pytest.mark.parametrize(("width", "classes", "side", "gflop"), [(48, 20, 473, 163.2), (18, 21, 512, 36.9)])
def test_cost_is_the_published_one(width, classes, side, gflop):
    """2×MAC of the network (counted on the meta device: no arithmetic is done)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = HRNetSeg(width, classes).eval()
        x = torch.zeros(1, 3, side, side)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert counter.get_total_flops() / 1e9 == pytest.approx(gflop, abs=0.1)


def test_lip_flip_index_swaps_left_and_right():
    """For the flip test (LIP's published 55.83 uses it): an involution swapping arms, legs and shoes."""
    from rtpose.seg.classes import get_class_set

    index = get_class_set("lip").flip_index
    assert sorted(index.tolist()) == list(range(20)) and np.array_equal(index[index], np.arange(20))
    assert [(i, int(index[i])) for i in range(20) if index[i] != i] == [(14, 15), (15, 14), (16, 17), (17, 16),
                                                                         (18, 19), (19, 18)]


def test_setting_align_corners_reaches_every_resize(fill_state_dict):
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((1, 3, 45, 70), dtype=np.float32))
    models = []
    for align in (True, False):
        model = HRNetSeg(width=18, num_classes=3, align_corners=align)
        model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
        models.append(model.eval())
    models[1].align_corners = True
    assert all(m.align_corners for m in models[1].modules() if hasattr(m, "upsample"))
    with torch.no_grad():
        assert torch.equal(models[0](x), models[1](x))
