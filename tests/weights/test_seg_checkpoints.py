"""Segmentation weights: official and mmsegmentation layouts load strictly; class sets; registry entries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtpose.errors import WeightsError
from rtpose.models import HRNetSeg
from rtpose.seg.classes import SEG_CLASS_SETS, SegClassesError, class_set_for, get_class_set
from rtpose.weights.registry import REGISTRY, find_entry, resolve_weights
from rtpose.weights.seg import (
    checkpoint_seg_classes,
    extract_seg_state_dict,
    infer_seg_architecture,
    load_seg_model,
    save_seg_checkpoint,
)


def _filled(fill_state_dict, width=18, classes=21, zero_head_bias=False) -> HRNetSeg:
    model = HRNetSeg(width=width, num_classes=classes)
    state = fill_state_dict(model.state_dict())
    if zero_head_bias:
        state["last_layer.0.bias"] = torch.zeros_like(state["last_layer.0.bias"])
    model.load_state_dict(state, strict=True)
    return model.eval()


def _to_mmseg(state: dict) -> dict:
    out = {}
    for name, value in state.items():
        if name == "last_layer.0.bias":
            continue  # mmseg's ConvModule before a BN has no bias
        for old, new in (("last_layer.0.", "decode_head.convs.0.conv."), ("last_layer.1.", "decode_head.convs.0.bn."),
                         ("last_layer.3.", "decode_head.conv_seg.")):
            if name.startswith(old):
                name = new + name[len(old):]
                break
        else:
            name = "backbone." + name
        out[name] = value
    return out


def _logits(model, hw=(64, 96)):
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 3, *hw), dtype=np.float32))
    with torch.no_grad():
        return model(x)


def test_mmseg_file_loads_and_gives_the_same_logits(tmp_path, fill_state_dict, capsys):
    reference = _filled(fill_state_dict, zero_head_bias=True)
    path = tmp_path / "fcn_hr18_512x512_40k_voc12aug_20200613_224401-1b4b76cd.pth"
    torch.save({"meta": {"CLASSES": ["background"] * 21}, "state_dict": _to_mmseg(reference.state_dict())}, path)
    loaded = load_seg_model(path)
    assert (loaded.width, loaded.num_classes, loaded.align_corners) == (18, 21, False)
    assert "last_layer.0.bias" in capsys.readouterr().err
    assert torch.count_nonzero(loaded.last_layer[0].bias) == 0
    assert torch.equal(_logits(loaded), _logits(reference))
    assert checkpoint_seg_classes(path).name == "voc"  # registry entry of the published file name


def test_official_file_with_model_prefix_and_loss_entries(tmp_path, fill_state_dict, capsys):
    reference = _filled(fill_state_dict, classes=20)
    state = {"model." + k: v for k, v in reference.state_dict().items()}
    state["loss.criterion.weight"] = torch.ones(20)
    path = tmp_path / "hrnet_lip_5583_torch04.pth"
    torch.save(state, path)
    loaded = load_seg_model(path)
    err = capsys.readouterr().err
    assert "ignored 1 training-only entries (loss.*)" in err
    assert loaded.num_classes == 20 and not loaded.align_corners
    expected = reference.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    assert torch.equal(_logits(loaded, (45, 37)), _logits(reference, (45, 37)))
    assert checkpoint_seg_classes(path).name == "lip"
    # the same file wrapped as a training checkpoint ("state_dict") loads too
    wrapped = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 3, "state_dict": state}, wrapped)
    assert load_seg_model(wrapped).num_classes == 20


def test_registry_align_corners_and_explicit_overrides(tmp_path, fill_state_dict):
    model = _filled(fill_state_dict, classes=150)
    path = tmp_path / "hrnet_ade20k_4312_torch04.pth"
    torch.save({"model." + k: v for k, v in model.state_dict().items()}, path)
    assert load_seg_model(path).align_corners is True  # the ADE20K config's default
    assert load_seg_model(path, align_corners=False).align_corners is False
    with pytest.raises(WeightsError, match="does not fit HRNetV2-W18 segmentation with 19 classes"):
        load_seg_model(path, num_classes=19)
    with pytest.raises(WeightsError, match="does not fit HRNetV2-W32"):
        load_seg_model(path, width=32)


def test_rtpose_layout_records_classes(tmp_path, fill_state_dict):
    model = _filled(fill_state_dict, classes=60)
    model.align_corners = True
    path = save_seg_checkpoint(model, tmp_path / "mine.pth", seg_classes="pascal_context60")
    loaded = load_seg_model(path)
    assert loaded.align_corners is True and loaded.num_classes == 60
    assert checkpoint_seg_classes(path).name == "pascal_context60"
    with pytest.raises(SegClassesError, match="has 21"):
        checkpoint_seg_classes(path, "voc")


def test_pose_file_is_not_a_segmentation_model(tmp_path, small_weights):
    with pytest.raises(WeightsError, match="not an HRNetV2 segmentation model"):
        load_seg_model(small_weights)


def test_infer_architecture_from_names_only(fill_state_dict):
    state = extract_seg_state_dict(_to_mmseg(HRNetSeg(width=48, num_classes=19).state_dict()))
    assert infer_seg_architecture(state) == (48, 19)


def test_class_sets():
    voc = get_class_set("voc")
    assert voc.num_classes == 21 and voc.class_names[15] == "person" and voc.person_classes == (15,)
    assert voc.index("person") == 15
    lip = get_class_set("LIP")
    assert lip.num_classes == 20 and lip.class_names[0] == "background" and set(lip.person_classes) == set(range(1, 20))
    assert get_class_set("cityscapes").class_names[11] == "person"
    ade = get_class_set("ade20k")
    assert ade.num_classes == 150 and ade.class_names[ade.person_classes[0]] == "person"
    assert get_class_set("pascal_context").num_classes == 59 and get_class_set("pascal_context60").num_classes == 60
    for s in SEG_CLASS_SETS.values():
        assert s.palette.shape == (s.num_classes, 3) and s.palette.dtype == np.uint8
        assert len({tuple(c) for c in s.palette}) == s.num_classes  # every class its own colour
        assert len(set(s.class_names)) == s.num_classes
        assert class_set_for(s.num_classes) is s
    with pytest.raises(SegClassesError, match="known sets"):
        get_class_set("coco_stuff")


def test_ambiguous_or_unknown_counts_need_a_name(monkeypatch):
    twin = SEG_CLASS_SETS["lip"].__class__("cihp", "CIHP", SEG_CLASS_SETS["lip"].class_names, (1,), 0,
                                           SEG_CLASS_SETS["lip"].palette)
    monkeypatch.setitem(SEG_CLASS_SETS, "cihp", twin)
    with pytest.raises(SegClassesError, match="could be any of lip, cihp; pass seg_classes="):
        class_set_for(20)
    assert class_set_for(20, "cihp") is twin
    with pytest.raises(SegClassesError, match="No known segmentation class set has 7 classes.*seg_classes="):
        class_set_for(7)


def test_indexed_png_palette_round_trip(tmp_path):
    from PIL import Image

    lip = get_class_set("lip")
    labels = (np.arange(20 * 30).reshape(20, 30) % 20).astype(np.uint8)
    image = Image.fromarray(labels, mode="P")
    image.putpalette(lip.png_palette())
    image.save(tmp_path / "labels.png")
    back = Image.open(tmp_path / "labels.png")
    assert back.mode == "P" and np.array_equal(np.asarray(back), labels)
    assert np.array_equal(np.asarray(back.convert("RGB")), lip.colorize(labels))


def test_registry_segmentation_entries():
    seg = {name: e for name, e in REGISTRY.items() if e.kind == "segmentation"}
    mmseg = [e for e in seg.values() if e.source == "mmseg"]
    official = [e for e in seg.values() if e.source == "official"]
    assert {e.seg_classes for e in mmseg} >= {"voc", "cityscapes", "ade20k"}
    assert {e.seg_classes for e in official} == {"lip", "cityscapes", "ade20k", "pascal_context"}
    for e in mmseg:
        assert e.url == f"https://download.openmmlab.com/mmsegmentation/v0.5/hrnet/{e.filename.rsplit('_', 2)[0]}/" \
                        f"{e.filename}"
        assert e.filename.removesuffix(".pth").endswith("-" + e.sha256) and len(e.sha256) == 8
    for e in official:
        assert e.url is None and e.sha256 is None and e.manual_url.endswith("/" + e.filename)
    voc = find_entry("fcn_hr18_512x512_40k_voc12aug_20200613_224401-1b4b76cd.pth")
    assert (voc.width, voc.input_hw, voc.metric) == (18, (512, 512), "VOC mIoU 72.90")
    lip = find_entry("hrnet_lip_5583_torch04.pth")
    assert (lip.width, lip.input_hw, lip.seg_classes) == (48, (473, 473), "lip") and "55.83" in lip.metric


def test_official_files_are_never_fetched(tmp_path, monkeypatch):
    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/")  # would fail loudly if contacted
    with pytest.raises(WeightsError, match="no published checksum.*models.storage/releases/download/HRNet-OCR/"
                                           "hrnet_lip_5583_torch04.pth"):
        resolve_weights("hrnetv2_w48_lip_473x473")
    assert not (tmp_path / "cache").exists()


def test_cli_verify_loads_a_segmentation_file(tmp_path, fill_state_dict, capsys):
    from rtpose.cli import main

    model = _filled(fill_state_dict, zero_head_bias=True)
    path = tmp_path / "fcn_hr18_512x512_40k_voc12aug_20200613_224401-1b4b76cd.pth"
    torch.save({"state_dict": _to_mmseg(model.state_dict())}, path)
    assert main(["weights", "verify", str(path)]) == 1  # not the published bytes: the checksum differs
    out = capsys.readouterr().out
    assert "MISMATCH: fcn_hr18_voc12aug_512x512" in out
    assert "HRNetV2-W18 segmentation, 21 classes" in out and "loads strictly" in out
