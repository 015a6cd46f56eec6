"""The device-resident path (rtpose.pose.device_ops) equals today's OpenCV/numpy path, checked on CPU tensors.

Real data: COCO val images and their person boxes (coco_val_dev), the official HRNet heatmaps of the
reference crops, and Gaussian targets of real COCO keypoints. Tolerances:
- crops: max |Δ| < ``CROP_TOLERANCE`` (one uint8 level in normalised units; OpenCV rounds to uint8);
- DARK: keypoints within 0.05 heatmap px, identical scores;
- the whole path (crops → HRNet → DARK → image): keypoints within 0.05 heatmap px of the host path.
The CUDA test skips where there is no GPU.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict

import cv2
import numpy as np
import pytest
import torch

from rtpose.pose.codec import HeatmapCodec
from rtpose.pose.crops import apply_transform, crop_transform, make_input_batch, xywh_to_xyxy
from rtpose.pose.device_ops import (
    CROP_TOLERANCE,
    DevicePosePath,
    crop_matrices,
    crops_from_boxes,
    dark_decode,
    upload_image,
    uses_device_path,
)
from rtpose.pose.estimator import TopDownEstimator
from rtpose.runtime.torch_runtime import TorchBackend
from tests.conftest import VAL_DEV, VAL_DEV_ANN
from tests.support.backend_helpers import reference_heatmaps

HAS_CUDA = torch.cuda.is_available()
INPUT_HW = (256, 192)


@functools.cache
def val_images() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(file name, COCO xyxy boxes (N, 4), keypoints (N, 17, 3)) of every val_dev image with people."""
    ann = json.loads(VAL_DEV_ANN.read_text())
    names = {im["id"]: im["file_name"] for im in ann["images"]}
    boxes, keypoints = defaultdict(list), defaultdict(list)
    for a in ann["annotations"]:
        if a.get("iscrowd") or a["bbox"][2] < 2 or a["bbox"][3] < 2:
            continue
        boxes[a["image_id"]].append(a["bbox"])
        keypoints[a["image_id"]].append(np.reshape(a["keypoints"], (-1, 3)))
    return [
        (names[i], xywh_to_xyxy(np.asarray(boxes[i], np.float32)), np.asarray(keypoints[i], np.float32))
        for i in sorted(boxes)
    ]


def test_there_is_real_data():
    assert len(val_images()) >= 10 and sum(len(b) for _, b, _ in val_images()) >= 30


def test_batched_torch_crops_equal_opencv_crops_on_real_images():
    worst = 0.0
    for name, boxes, _ in val_images():
        image = cv2.imread(str(VAL_DEV / "val2017" / name))
        expected, centers, sizes = make_input_batch(image, boxes, INPUT_HW)
        got_centers, got_sizes, to_image = crop_matrices(boxes, INPUT_HW)
        got = crops_from_boxes(upload_image(image, "cpu"), torch.from_numpy(to_image), INPUT_HW)
        assert got.shape == expected.shape and got.dtype == torch.float32 and got.is_contiguous()
        np.testing.assert_array_equal(got_centers, centers)
        np.testing.assert_array_equal(got_sizes, sizes)
        worst = max(worst, float(np.abs(got.numpy() - expected).max()))
    assert worst < CROP_TOLERANCE, worst


def test_crops_reaching_outside_the_image_are_black_there():
    name, boxes, _ = val_images()[0]
    image = cv2.imread(str(VAL_DEV / "val2017" / name))
    h, w = image.shape[:2]
    corner = np.array([[-w / 4, -h / 4, w / 4, h / 4]], np.float32)  # three quarters of the crop are outside
    expected, _, _ = make_input_batch(image, corner, INPUT_HW)
    _, _, to_image = crop_matrices(corner, INPUT_HW)
    got = crops_from_boxes(upload_image(image, "cpu"), torch.from_numpy(to_image), INPUT_HW).numpy()
    black = expected[0, :, 0, 0]
    assert np.abs(got[0, :, :10, :10] - black[:, None, None]).max() < 1e-5
    assert np.abs(got - expected).max() < CROP_TOLERANCE


def test_dark_decode_equals_the_codec_on_official_heatmaps_of_real_crops():
    heatmaps = reference_heatmaps()
    expected_xy, expected_scores = HeatmapCodec(input_hw=INPUT_HW).decode(heatmaps)
    xy, scores = dark_decode(torch.from_numpy(heatmaps), HeatmapCodec().blur_kernel)
    assert xy.shape == (4, 17, 2) and xy.dtype == torch.float32
    assert np.abs(xy.numpy() - expected_xy).max() < 0.05
    np.testing.assert_array_equal(scores.numpy(), expected_scores)


def test_dark_decode_equals_the_codec_on_targets_of_real_keypoints():
    codec = HeatmapCodec(input_hw=INPUT_HW)
    maps, truth = [], []
    for name, boxes, keypoints in val_images()[:8]:
        image = cv2.imread(str(VAL_DEV / "val2017" / name))
        _, centers, sizes = make_input_batch(image, boxes, INPUT_HW)
        for c, s, kp in zip(centers, sizes, keypoints):
            in_crop = apply_transform(kp[:, :2], crop_transform(c, s, INPUT_HW))
            heatmaps, weights = codec.encode(in_crop, kp[:, 2])
            maps.append(heatmaps)
            truth.append((in_crop / codec.stride, weights))
    maps = np.stack(maps)
    expected_xy, _ = codec.decode(maps)
    xy, _ = dark_decode(torch.from_numpy(maps), codec.blur_kernel)
    assert np.abs(xy.numpy() - expected_xy).max() < 0.05
    labelled = np.stack([w for _, w in truth]) > 0
    assert labelled.sum() > 100
    error = np.abs(xy.numpy() - np.stack([t for t, _ in truth])).max(-1)[labelled]
    assert np.median(error) < 0.05  # and DARK finds the encoded sub-pixel positions


def test_device_path_equals_the_host_path_on_cpu(reference_model):
    backend = TorchBackend(reference_model, device="cpu", input_hw=INPUT_HW)
    estimator = TopDownEstimator(backend)
    assert estimator.device_path is None and not uses_device_path(backend)  # the CPU keeps the host path
    path = DevicePosePath(backend, estimator.codec)
    heatmap_w = estimator.codec.heatmap_hw[1]
    for name, boxes, _ in val_images()[:3]:
        image = cv2.imread(str(VAL_DEV / "val2017" / name))
        host = estimator.estimate_boxes(image, boxes).keypoints
        got = path(image, boxes)
        assert got.shape == host.shape and got.dtype == np.float32
        _, sizes, _ = crop_matrices(boxes, INPUT_HW)
        image_px_per_heatmap_px = sizes[:, 0] / heatmap_w
        shift = np.abs(got[..., :2] - host[..., :2]).max(-1) / image_px_per_heatmap_px[:, None]
        assert shift.max() < 0.05, shift.max()
        assert np.abs(got[..., 2] - host[..., 2]).max() < 1e-2


def test_torch_backend_returns_c_contiguous_nchw_even_when_channels_last(reference_model):
    backend = TorchBackend(reference_model, device="cpu", input_hw=INPUT_HW, channels_last=True)
    crops = np.load(VAL_DEV.parents[1] / "reference" / "hrnet_w32_256x192.npz")["input"][:2]
    out = backend.infer(crops)
    assert out.flags["C_CONTIGUOUS"] and out.dtype == np.float32 and out.shape == (2, 17, 64, 48)
    assert np.abs(out - reference_heatmaps()[:2]).max() < 1e-3


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (none here)")
def test_estimator_uses_the_device_path_on_cuda(reference_model):
    gpu = TorchBackend(reference_model, device="cuda", input_hw=INPUT_HW, fp16=False)
    cpu = TorchBackend(reference_model, device="cpu", input_hw=INPUT_HW)
    on_gpu, on_cpu = TopDownEstimator(gpu), TopDownEstimator(cpu)
    assert on_gpu.device_path is not None and on_cpu.device_path is None
    name, boxes, _ = val_images()[0]
    image = cv2.imread(str(VAL_DEV / "val2017" / name))
    a = on_gpu.estimate_boxes(image, boxes).keypoints
    b = on_cpu.estimate_boxes(image, boxes).keypoints
    _, sizes, _ = crop_matrices(boxes, INPUT_HW)
    # cuDNN may use TF32: the FP16-level rule of 0.1 heatmap px.
    assert (np.abs(a[..., :2] - b[..., :2]).max(-1) / (sizes[:, :1] / 48)).max() < 0.1
