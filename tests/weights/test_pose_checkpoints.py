"""One loader for every checkpoint layout: official, DataParallel, mmpose 0.x/1.x and rtpose training files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtpose.errors import WeightsError
from rtpose.models import HRNet
from rtpose.weights.pose import checkpoint_meta, load_pose_model


class NotATensor:
    """A pickled custom object: ``weights_only=True`` must refuse to load it."""

    def __init__(self) -> None:
        self.payload = "arbitrary code could run here"


@pytest.fixture(scope="module")
def w18_state(fill_state_dict):
    model = HRNet(width=18)
    return fill_state_dict(model.state_dict())


@pytest.fixture(scope="module")
def expected_output(w18_state):
    model = HRNet(width=18)
    model.load_state_dict(w18_state, strict=True)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32))
    with torch.no_grad():
        return x, model.eval()(x).numpy()


def _layouts(state: dict) -> dict[str, object]:
    backbone = {f"backbone.{k}": v for k, v in state.items() if not k.startswith("final_layer.")}
    head = {k.replace("final_layer.", ""): v for k, v in state.items() if k.startswith("final_layer.")}
    return {
        "official": state,
        "dataparallel": {f"module.{k}": v for k, v in state.items()},
        "mmpose0": {
            "meta": {"epoch": 210, "mmpose_version": "0.8.0"},
            "state_dict": {**backbone, **{f"keypoint_head.final_layer.{k}": v for k, v in head.items()}},
        },
        "mmpose1": {
            "meta": {"epoch": 210},
            "state_dict": {**backbone, **{f"head.final_layer.{k}": v for k, v in head.items()}},
        },
        "rtpose": {"model": state, "meta": {"input_size": [256, 192], "width": 18, "epoch": 3}, "epoch": 3},
    }


@pytest.mark.parametrize("layout", ["official", "dataparallel", "mmpose0", "mmpose1", "rtpose"])
def test_every_layout_loads_strict_with_identical_weights(tmp_path, w18_state, layout):
    path = tmp_path / f"{layout}.pth"
    torch.save(_layouts(w18_state)[layout], path)
    model = load_pose_model(path)
    assert (model.width, model.num_joints) == (18, 17)
    assert not model.training
    loaded = model.state_dict()
    assert list(loaded) == list(w18_state)
    for name, tensor in w18_state.items():
        assert torch.equal(loaded[name], tensor), name


@pytest.mark.parametrize("layout", ["dataparallel", "mmpose0", "mmpose1"])
def test_renamed_layouts_give_identical_outputs(tmp_path, w18_state, expected_output, layout):
    path = tmp_path / f"{layout}.pth"
    torch.save(_layouts(w18_state)[layout], path)
    x, expected = expected_output
    with torch.no_grad():
        np.testing.assert_array_equal(load_pose_model(path)(x).numpy(), expected)


def test_meta_is_read(tmp_path, w18_state):
    path = tmp_path / "rtpose.pth"
    torch.save(_layouts(w18_state)["rtpose"], path)
    assert checkpoint_meta(path)["input_size"] == [256, 192]


def test_wrong_width_names_the_shape_mismatch(small_weights):
    with pytest.raises(WeightsError) as err:
        load_pose_model(small_weights, width=32)
    message = str(err.value)
    assert "HRNet-W32" in message and "wrong shape" in message and "transition1.0.0.weight" in message


def test_missing_and_unexpected_keys_are_named(tmp_path, w18_state):
    state = dict(w18_state)
    state.pop("stage4.2.fuse_layers.0.3.1.running_var")
    state["extra_head.weight"] = torch.zeros(3)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as err:
        load_pose_model(path)
    message = str(err.value)
    assert "1 missing (stage4.2.fuse_layers.0.3.1.running_var)" in message
    assert "1 unexpected (extra_head.weight)" in message


def test_not_an_hrnet_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(10, 4)}, path)
    with pytest.raises(WeightsError, match="not an HRNet"):
        load_pose_model(path)


def test_garbage_and_missing_files_give_one_sentence(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    with pytest.raises(WeightsError) as err:
        load_pose_model(garbage)
    assert "not a readable PyTorch checkpoint" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(WeightsError, match="does not exist"):
        load_pose_model(tmp_path / "nothing.pth")


def test_pickled_objects_are_refused_by_weights_only(tmp_path, w18_state):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": w18_state, "hook": NotATensor()}, path)
    with pytest.raises(WeightsError, match=r"pickled Python objects \(.*NotATensor\), not just tensors"):
        load_pose_model(path)


def test_the_reference_w32_file_loads(reference_weights, reference_model):
    model = load_pose_model(reference_weights)
    assert model.width == 32
    for (name, a), b in zip(model.state_dict().items(), reference_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_input_size_comes_from_the_weights(small_weights, reference_weights, tmp_path):
    """rtpose meta and published file names say what input a checkpoint was trained for; the backend uses it."""
    import shutil

    from rtpose.runtime import create_backend
    from rtpose.weights.pose import trained_input_hw

    state = torch.load(small_weights, weights_only=True)
    trained = tmp_path / "best.pth"
    torch.save({"model": state, "meta": {"width": 18, "num_joints": 17, "input_size": [128, 96]}}, trained)
    assert trained_input_hw(trained) == (128, 96)
    assert create_backend("torch", weights=str(trained), device="cpu").input_hw == (128, 96)
    assert create_backend("torch", weights=str(trained), device="cpu", input_hw=(64, 48)).input_hw == (64, 48)

    published = tmp_path / "hrnet_w32_coco_384x288-d9f0d786_20200708.pth"
    shutil.copy(reference_weights, published)
    assert trained_input_hw(published) == (384, 288)
    assert trained_input_hw(small_weights) is None


def test_registry_name_resolves_to_the_cached_file(reference_weights, tmp_path, monkeypatch):
    import shutil

    from rtpose.runtime import create_backend
    from rtpose.weights.registry import cached_path, get_entry

    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/")  # offline: the first-use download fails
    with pytest.raises(WeightsError, match="Could not download the HRNet weights hrnet_w32_coco_256x192"):
        create_backend("torch", weights="hrnet_w32_coco_256x192", device="cpu")
    target = cached_path(get_entry("hrnet_w32_coco_256x192"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(reference_weights, target)
    backend = create_backend("torch", weights="hrnet_w32_coco_256x192", device="cpu")
    assert backend.input_hw == (256, 192) and backend.name == "torch"


def test_a_yolo_file_as_hrnet_weights_is_one_clear_sentence():
    """A whole pickled model (the real YOLO detector file) is refused by weights_only, with a sentence that says so."""
    from tests.conftest import DETECTOR_WEIGHTS

    with pytest.raises(WeightsError, match=r"pickled Python objects \(ultralytics\..*\), not just tensors") as info:
        load_pose_model(DETECTOR_WEIGHTS)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
