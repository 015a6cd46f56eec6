"""Inputs checked at the door: short typed errors (never the repr of a large object), sane boxes, the memory caps.

The unit checks call :mod:`rtpose.io.inputs` directly; the library checks go through a real
``PoseModel`` (deterministic HRNet-W18, the real YOLOv8n-person detector) as a program calls it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import rtpose
from rtpose.io.inputs import (
    MAX_FRAME_PIXELS,
    SEG_MAX_ASPECT,
    InputError,
    as_bgr_image,
    as_boxes,
    check_crop_count,
    check_frame_size,
    max_crops,
    seg_frame_input_hw,
)
from tests.conftest import BUS, DETECTOR_WEIGHTS

SHORT = 300  # characters: one sentence, whatever was passed


@pytest.fixture(scope="module")
def model(small_weights):
    with rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="onnxruntime") as m:
        yield m


def _message(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert len(text) < SHORT and "\n" not in text, text[:500]
    return text


@pytest.mark.parametrize(("value", "words"), [
    (np.zeros((1080, 1920, 3), np.uint8).tolist(), "a list of 1080 items"),
    (tuple(range(100_000)), "a tuple of 100000 items"),
    ("x" * 100_000, "no such image file"),
    (np.zeros((1080, 1920, 3), np.float64), "float64 array of shape (1080, 1920, 3)"),
    ({"image": np.zeros((500, 500))}, "a dict of 1 items"),
    (bytearray(10_000_000), "a bytearray"),
])
def test_a_wrong_image_is_described_by_type_shape_and_dtype_never_its_contents(value, words):
    with pytest.raises(InputError) as error:
        as_bgr_image(value, "image")
    text = _message(error)
    assert text.startswith("image=") and words in text


def test_the_model_refuses_an_image_as_a_list_in_a_short_sentence(model):
    image = cv2.imread(str(BUS))
    with pytest.raises(InputError) as error:
        model(image.tolist())
    assert "a list of 1080 items" in _message(error)


@pytest.mark.parametrize("bad", [1e30, -1e30, float("nan"), float("inf"), -float("inf"), 1e7])
def test_boxes_outside_any_sane_range_are_refused(bad):
    boxes = np.array([[10, 10, 50, 80], [20, 20, 60, 90]], np.float64)
    boxes[1, 2] = bad
    with pytest.raises(InputError) as error:
        as_boxes(boxes, (480, 640, 3), "boxes")
    assert _message(error).startswith("boxes=")


def test_boxes_partly_outside_the_image_are_kept():
    boxes = as_boxes([[-100, -50, 700, 500], [600, 400, 2000, 1500]], (480, 640, 3))
    assert boxes.dtype == np.float32 and boxes.shape == (2, 4)


def test_the_model_refuses_a_box_of_1e30_and_plots_what_it_returns(model):
    image = cv2.imread(str(BUS))
    with pytest.raises(InputError, match="boxes= has a coordinate of 1e"):
        model(image, boxes=[[0, 0, 1e30, 1e30]])
    h, w = image.shape[:2]
    result = model(image, boxes=[[-3 * w, -3 * h, 4 * w, 4 * h], [10, 10, 11, 11]])  # the extremes allowed
    drawn = result.plot()
    assert len(result) == 2 and drawn.shape == image.shape and np.isfinite(result.keypoints).all()


def test_frame_pixels_are_capped_with_one_sentence():
    check_frame_size((8192, 8192))
    with pytest.raises(InputError) as error:
        check_frame_size((20000, 20000), "image")
    assert "20000x20000 pixels (400.0 megapixels)" in _message(error)
    big = np.broadcast_to(np.zeros(1, np.uint8), (MAX_FRAME_PIXELS // 4 + 1, 4, 3))  # no memory behind it
    with pytest.raises(InputError, match="downscale it first"):
        as_bgr_image(big, "image")


def test_crop_count_per_call_follows_the_model_input():
    assert max_crops((256, 192)) == 3640 and max_crops((384, 288)) == 1618
    assert max_crops((256, 192), flip=True) == 1820
    check_crop_count(3640, (256, 192))
    with pytest.raises(InputError) as error:
        check_crop_count(1619, (384, 288), parameter="boxes")
    assert "1619 people" in _message(error) and "at most 1618" in str(error.value)


def test_the_model_refuses_more_boxes_than_a_call_takes_before_cropping(model):
    image = cv2.imread(str(BUS))
    boxes = np.tile(np.array([[10, 10, 100, 200]], np.float32), (max_crops((256, 192)) + 1, 1))
    with pytest.raises(InputError, match="pass them in parts"):
        model(image, boxes=boxes)


@pytest.mark.parametrize(("hw", "want"), [
    ((1080, 1920), (512, 910)),
    ((1, 5000), (512, 2048)),
    ((5000, 1), (2048, 512)),
    ((20000, 20000), (512, 512)),
    ((100, 100), (512, 512)),
])
def test_segmentation_input_keeps_the_short_side_and_caps_the_long_one(hw, want):
    got = seg_frame_input_hw(hw, 512)
    assert got == want and max(got) <= SEG_MAX_ASPECT * 512
