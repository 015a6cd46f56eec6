"""Mask geometry on real COCO masks: crops and back, the stride-4 grid, per-person splitting, COCO RLE."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from rtpose.models import seg_output_hw
from rtpose.pose.crops import box_to_center_size, make_input_batch, xywh_to_xyxy
from rtpose.seg.masks import (
    annotation_mask,
    crop_matrix,
    decode_rle,
    decode_rles,
    encode_rle,
    encode_rles,
    map_hw,
    mask_iou,
    masks_to_crops,
    paste_crops,
    split_person_mask,
)
from tests.conftest import VAL_DEV_ANN

pytest.importorskip("pycocotools")


@pytest.fixture(scope="module")
def coco():
    """``{image_id: (image_hw, [annotation, …])}`` of the non-crowd people of coco_val_dev, with their masks."""
    data = json.loads(VAL_DEV_ANN.read_text())
    images = {i["id"]: i for i in data["images"]}
    out = collections.defaultdict(lambda: [None, []])
    for ann in data["annotations"]:
        if ann["iscrowd"]:
            continue
        info = images[ann["image_id"]]
        hw = (info["height"], info["width"])
        out[ann["image_id"]][0] = hw
        out[ann["image_id"]][1].append({**ann, "mask": annotation_mask(ann["segmentation"], hw)})
    return dict(out)


def _people(coco, min_area=32 * 32):
    return [(hw, a) for hw, anns in coco.values() for a in anns if a["area"] >= min_area]


def test_map_size_is_the_models():
    for hw in [(473, 473), (256, 192), (97, 131), (1, 2)]:
        assert map_hw(hw, 4) == seg_output_hw(hw)


@pytest.mark.parametrize(("input_hw", "stride"), [((473, 473), 1), ((473, 473), 4), ((256, 192), 1)])
def test_masks_survive_crop_and_paste(coco, input_hw, stride):
    people = _people(coco)
    assert len(people) >= 40
    ious = []
    for hw, ann in people:
        center, size = box_to_center_size(xywh_to_xyxy(np.array(ann["bbox"]))[None], input_hw[1] / input_hw[0])
        crops = masks_to_crops(ann["mask"], center, size, input_hw, stride)
        assert crops.shape == (1, *map_hw(input_hw, stride)) and crops.dtype == np.float32
        back = paste_crops(crops, center, size, input_hw, hw, stride)
        assert back.shape == (1, *hw)
        ious.append(mask_iou(back[0] >= 0.5, ann["mask"]))
    assert min(ious) >= 0.95, (min(ious), np.mean(ious))


def test_mask_crops_are_the_pose_crops(coco):
    """The mask is warped exactly as the image: cropping a mask-coloured image equals cropping the mask."""
    hw, anns = next(v for v in coco.values() if len(v[1]) >= 2)
    boxes = xywh_to_xyxy(np.array([a["bbox"] for a in anns]))
    painted = np.zeros((*hw, 3), np.uint8)
    painted[anns[0]["mask"]] = 255
    batch, centers, sizes = make_input_batch(painted, boxes, (256, 192))
    from rtpose.pose.crops import MEAN_RGB, STD_RGB

    red = (batch[:, 0] * STD_RGB[0] + MEAN_RGB[0])  # back to [0, 1]
    crops = masks_to_crops(anns[0]["mask"], centers, sizes, (256, 192))
    assert np.abs(red - crops).max() < 1 / 255 + 1e-4


def test_stride4_grid_samples_the_input_grid_every_4_pixels(coco):
    """Logit pixel (i, j) sits on crop-input pixel (4i, 4j): the two warps sample the same image points."""
    hw, ann = _people(coco)[0]
    center, size = box_to_center_size(xywh_to_xyxy(np.array(ann["bbox"]))[None], 1.0)
    full = masks_to_crops(ann["mask"], center, size, (473, 473), 1)[0]
    quarter = masks_to_crops(ann["mask"], center, size, (473, 473), 4)[0]
    assert np.abs(quarter - full[::4, ::4]).max() < 1e-2  # OpenCV's fixed-point bilinear weights
    forward = crop_matrix(center[0], size[0], (473, 473), 4)
    back = crop_matrix(center[0], size[0], (473, 473), 4, inverse=True)
    assert np.allclose(forward[:, :2] @ back[:, :2], np.eye(2), atol=1e-5)


def test_paste_many_channels_and_labels(coco):
    hw, anns = next(v for v in coco.values() if len(v[1]) >= 3)
    boxes = xywh_to_xyxy(np.array([a["bbox"] for a in anns[:3]]))
    centers, sizes = box_to_center_size(boxes, 1.0)
    label_image = np.zeros(hw, np.int64)
    for k, ann in enumerate(anns[:3]):
        label_image[ann["mask"]] = k + 1
    # six one-hot channels (more than OpenCV's 4 per call) through probability pasting
    onehot = np.stack([label_image == c for c in range(6)]).astype(np.float32)
    crops = np.stack([masks_to_crops(ch, centers, sizes, (129, 129), 4) for ch in onehot], axis=1)
    assert crops.shape == (3, 6, 33, 33)
    pasted = paste_crops(crops, centers, sizes, (129, 129), hw, stride=4)
    assert pasted.shape == (3, 6, *hw)
    single = paste_crops(crops[:, 5], centers, sizes, (129, 129), hw, stride=4)
    assert np.array_equal(pasted[:, 5], single)
    # labels: nearest sampling keeps the integers
    label_crops = np.argmax(crops, axis=1).astype(np.int64)
    labels = paste_crops(label_crops, centers, sizes, (129, 129), hw, stride=4, labels=True, fill=-1)
    assert labels.dtype == np.int64 and set(np.unique(labels)) <= {-1, 0, 1, 2, 3}
    covered = labels[0] >= 0
    assert (labels[0][covered] == label_image[covered]).mean() > 0.95
    with pytest.raises(ValueError, match="stride 1 gives"):
        paste_crops(crops, centers, sizes, (129, 129), hw, stride=1)


def test_rle_round_trip_is_exact(coco):
    from pycocotools import mask as mask_api

    for hw, anns in coco.values():
        masks = np.stack([a["mask"] for a in anns])
        rles = encode_rles(masks)
        assert json.loads(json.dumps(rles)) == rles  # JSON-ready
        assert np.array_equal(decode_rles(rles), masks)
        for rle, mask in zip(rles, masks):
            assert rle["size"] == list(hw)
            assert mask_api.area({"size": rle["size"], "counts": rle["counts"].encode()}) == mask.sum()
        assert np.array_equal(decode_rle(encode_rle(masks[0].astype(np.float32))), masks[0])
    # an uncompressed RLE (COCO crowd annotations) decodes too
    assert decode_rle({"size": [2, 3], "counts": [1, 2, 3]}).T.ravel().tolist() == [0, 1, 1, 0, 0, 0]


def test_split_frame_mask_into_people(coco):
    totals = collections.Counter()
    for _hw, anns in coco.values():
        masks = np.stack([a["mask"] for a in anns])
        union = masks.any(axis=0)
        kp = np.array([a["keypoints"] for a in anns], np.float32).reshape(len(anns), 17, 3)
        kp[..., 2] = kp[..., 2] > 0
        boxes = xywh_to_xyxy(np.array([a["bbox"] for a in anns]))
        parts = split_person_mask(union, keypoints=kp, boxes=boxes)
        assert parts.shape == masks.shape
        assert parts.sum(axis=0).max() <= 1 and not (parts.any(axis=0) & ~union).any()
        if len(anns) == 1:
            assert np.array_equal(parts[0], union)
        for part, mask in zip(parts, masks):
            totals["inter"] += np.logical_and(part, mask).sum()
            totals["union"] += np.logical_or(part, mask).sum()
        by_box = split_person_mask(union, boxes=boxes)
        assert by_box.sum(axis=0).max() <= 1
    assert totals["inter"] / totals["union"] >= 0.9
    with pytest.raises(ValueError, match="keypoints= or boxes="):
        split_person_mask(np.ones((4, 4), bool))


def test_person_probability():
    from rtpose.seg.masks import person_probability

    logits = np.random.default_rng(0).standard_normal((2, 21, 5, 7)).astype(np.float32) * 4
    voc = person_probability(logits, (15,))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert np.allclose(voc, e[:, 15] / e.sum(axis=1), atol=1e-6)
    assert np.allclose(person_probability(logits, range(21)), 1.0, atol=1e-5)


def test_model_output_pastes_onto_the_frame(fill_state_dict, coco):
    """Crops of a real image → HRNetSeg logits (stride 4) → person probability → one map per person in the frame."""
    import cv2
    import torch

    from rtpose.models import HRNetSeg
    from rtpose.seg.masks import person_probability
    from tests.conftest import VAL_DEV

    data = json.loads(VAL_DEV_ANN.read_text())
    info = next(i for i in data["images"] if len(coco.get(i["id"], (None, []))[1]) >= 2)
    image = cv2.imread(str(VAL_DEV / "val2017" / info["file_name"]))
    hw, anns = coco[info["id"]]
    boxes = xywh_to_xyxy(np.array([a["bbox"] for a in anns]))
    batch, centers, sizes = make_input_batch(image, boxes, (97, 97))
    model = HRNetSeg(width=18, num_classes=21)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(batch)).numpy()
    assert logits.shape == (len(anns), 21, *map_hw((97, 97), 4))
    probs = paste_crops(person_probability(logits, (15,)), centers, sizes, (97, 97), hw, stride=4)
    assert probs.shape == (len(anns), *image.shape[:2]) and probs.min() >= 0 and probs.max() <= 1
    for person, (cx, cy), (sw, sh) in zip(probs, centers, sizes):  # non-zero only inside its own crop
        ys, xs = np.nonzero(person)
        assert len(xs) and xs.min() >= cx - sw / 2 - 1 and xs.max() <= cx + sw / 2 + 1
        assert ys.min() >= cy - sh / 2 - 1 and ys.max() <= cy + sh / 2 + 1


@pytest.mark.parametrize(("input_hw", "stride"), [((473, 473), 4), ((256, 192), 1)])
def test_device_paste_samples_as_opencv_does(coco, input_hw, stride):
    """rtpose.pose.device_ops.paste_maps (torch, here on CPU tensors; on CUDA in the pipeline) against paste_crops
    (OpenCV): the ground-truth person masks of coco_val_dev cropped and pasted back by both."""
    import torch

    from rtpose.pose.device_ops import paste_maps

    people = _people(coco)
    diffs, agree = [], []
    for hw, ann in people:
        center, size = box_to_center_size(xywh_to_xyxy(np.array(ann["bbox"]))[None], input_hw[1] / input_hw[0])
        crops = masks_to_crops(ann["mask"], center, size, input_hw, stride)  # (1, h, w) soft masks
        expected = paste_crops(crops, center, size, input_hw, hw, stride, fill=-1.0)
        pasted = paste_maps(torch.from_numpy(crops[:, None]), center, size, input_hw, hw, stride, fill=-1.0)
        assert pasted.shape == (1, 1, *hw) and pasted.dtype == torch.float32
        diffs.append(float(np.abs(pasted[:, 0].numpy() - expected).max()))
        labels = (crops >= 0.5).astype(np.float32) * 7  # one class, as the part labels are pasted
        expected = paste_crops(labels, center, size, input_hw, hw, stride, labels=True, fill=-1)
        pasted = paste_maps(torch.from_numpy(labels[:, None]), center, size, input_hw, hw, stride, labels=True,
                            fill=-1)[:, 0].numpy()
        assert set(np.unique(pasted)) <= {-1.0, 0.0, 7.0}
        agree.append(float((pasted == expected).mean()))
    # OpenCV interpolates on a 1/32-pixel grid: a sample can be off by 1/32 of a neighbour difference (≤ 2 here)
    assert max(diffs) <= 2 / 32 + 1e-5, max(diffs)
    assert min(agree) >= 0.999, min(agree)  # nearest sampling differs only on exact half-pixel ties


def test_device_parts_path_gives_the_cpu_parts(seg_weights, coco):
    """seg='parts' with the logits kept on the runtime's device (a GPU in the pipeline; PyTorch's CPU here) gives
    the masks and part map of the numpy/OpenCV path on a real image."""
    import cv2

    from rtpose.pose.keypoint_sets import get_keypoint_set
    from rtpose.results import PoseResult
    from rtpose.seg.segmenter import Segmenter
    from tests.conftest import VAL_DEV

    data = json.loads(VAL_DEV_ANN.read_text())
    info = next(i for i in data["images"] if len(coco.get(i["id"], (None, []))[1]) >= 3)
    image = cv2.imread(str(VAL_DEV / "val2017" / info["file_name"]))
    boxes = xywh_to_xyxy(np.array([a["bbox"] for a in coco[info["id"]][1]], np.float32))
    coco_set = get_keypoint_set("coco")
    people = PoseResult(boxes, np.ones(len(boxes), np.float32), np.zeros((len(boxes), 17, 3), np.float32), coco_set)
    with Segmenter("parts", seg_weights["lip"], backend="torch", input_size=128) as segmenter:
        assert not segmenter.paste_on_gpu  # the CPU: OpenCV pastes
        cpu = segmenter(image, people)
        segmenter.paste_on_gpu = True  # what a CUDA runtime sets: torch pastes on the logits' device
        device = segmenter(image, people)
    assert device.masks.shape == cpu.masks.shape == (len(boxes), *image.shape[:2])
    assert device.part_map.dtype == cpu.part_map.dtype == np.uint8
    assert cpu.masks.any() and len(np.unique(cpu.part_map)) > 2  # a real parts map, not all background
    assert (device.masks == cpu.masks).mean() >= 0.999
    assert (device.part_map == cpu.part_map).mean() >= 0.995
