"""HRNet is the official architecture: names, shapes and outputs match the official code's reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rtpose.models import HRNet
from tests.conftest import REFERENCE


def test_state_dict_names_and_shapes_equal_official():
    expected = json.loads((REFERENCE / "hrnet_w32_256x192_state_dict_shapes.json").read_text())
    got = {name: list(t.shape) for name, t in HRNet(width=32).state_dict().items()}
    assert list(got) == list(expected)
    assert got == expected


def test_parameter_count_w32():
    assert sum(p.numel() for p in HRNet(width=32).parameters()) == 28_536_113


def test_output_matches_official_heatmaps(reference_model):
    ref = np.load(REFERENCE / "hrnet_w32_256x192.npz")
    with torch.no_grad():
        out = reference_model(torch.from_numpy(ref["input"])).numpy()
    assert out.shape == ref["heatmaps"].shape == (4, 17, 64, 48)
    assert np.abs(out - ref["heatmaps"]).max() < 1e-3


@pytest.mark.parametrize("width", [18, 32, 48])
def test_widths_and_resolution(width):
    model = HRNet(width=width, num_joints=17).eval()
    assert model.final_layer.in_channels == width
    assert model.stage4[-1].branches[3][0].conv1.in_channels == 8 * width
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 128, 96))
    assert out.shape == (2, 17, 32, 24)
