"""Model initialisation for training: scratch, ImageNet backbone (partial), fine-tuning (strict)."""

from __future__ import annotations

import pytest
import torch

from rtpose.models import HRNet
from train.config import ConfigError, load_config, merged
from train.fit import build_model, model_meta
from train.loss import JointsMSELoss


def _config(**overrides) -> dict:
    return merged(load_config("hrnet_w32_256x192"), {"model.width": 8, **overrides})


def test_scratch_uses_the_official_initialisation():
    model = build_model(_config(), log=lambda _: None)
    assert float(model.final_layer.weight.detach().std()) == pytest.approx(0.001, rel=0.2)
    assert float(model.final_layer.bias.detach().abs().max()) == 0.0


def test_imagenet_backbone_loads_what_matches_and_reports_counts(tmp_path):
    source = HRNet(width=8)
    state = {f"module.{k}": v for k, v in source.state_dict().items() if not k.startswith("final_layer")}
    state["module.incre_modules.0.0.conv1.weight"] = torch.zeros(4, 8, 1, 1)  # classification-only tensors
    state["module.classifier.weight"] = torch.zeros(1000, 2048)
    state["module.conv1.weight"] = torch.zeros(64, 3, 5, 5)  # a tensor of another shape
    path = tmp_path / "hrnet_w8_imagenet.pth"
    torch.save(state, path)
    lines = []
    model = build_model(_config(**{"model.pretrained": str(path)}), log=lines.append)
    own = model.state_dict()
    assert torch.equal(own["layer1.0.conv1.weight"], source.state_dict()["layer1.0.conv1.weight"])
    assert not torch.equal(own["conv1.weight"], source.state_dict()["conv1.weight"])
    n_model = len(own)
    loaded = n_model - 2 - 1  # all but final_layer.weight/bias and the wrong-shape conv1.weight
    assert f"loaded {loaded} of {n_model} model tensors; ignored 2 file tensors not in the pose model and 1 of " \
           f"another shape; 3 model tensors keep the official initialisation" in lines[0]


def test_finetune_needs_a_matching_architecture(small_weights):
    model = build_model(_config(**{"model.width": 18, "model.weights": str(small_weights)}), log=lambda _: None)
    reference = torch.load(small_weights, weights_only=True)
    assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())
    with pytest.raises(ConfigError, match="holds HRNet-W18 with 17 joints but the config asks for W8"):
        build_model(_config(**{"model.weights": str(small_weights)}), log=lambda _: None)


def test_joints_mse_loss_matches_the_official_formula():
    torch.manual_seed(0)
    pred, target = torch.rand(3, 17, 8, 6), torch.rand(3, 17, 8, 6)
    weight = (torch.rand(3, 17, 1) > 0.3).float()
    official = 0.0
    for j in range(17):  # JointsMSELoss of the official code, use_target_weight=True
        p, g = pred[:, j].reshape(3, -1), target[:, j].reshape(3, -1)
        official += 0.5 * torch.nn.functional.mse_loss(p * weight[:, j], g * weight[:, j])
    assert JointsMSELoss()(pred, target, weight).item() == pytest.approx((official / 17).item(), rel=1e-6)


def test_meta_is_what_rtpose_checkpoints_understand():
    assert model_meta(_config()) == {"width": 8, "num_joints": 17, "keypoints": "coco", "input_size": [256, 192],
                                     "sigma": 2.0, "arch": "hrnet"}
    w48 = load_config("hrnet_w48_384x288")
    assert (w48["model"]["width"], w48["model"]["input_size"]) == (48, [384, 288])
