"""``PoseResult`` split by kind (people, frame metadata, pixel maps), drawing any result, and supervision.

The results come from the real model on the real ``bus.jpg`` (deterministic HRNet-W18 weights, the real
YOLOv8n-person detector), or are made with extreme values as a model could give them.
"""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

import rtpose
from rtpose.errors import RtposeError
from rtpose.io.sources import Frame
from rtpose.results import FrameMeta, People, PixelMaps, PoseResult
from tests.conftest import BUS, DETECTOR_WEIGHTS, ROOT


@pytest.fixture(scope="module")
def model(small_weights):
    with rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="onnxruntime") as m:
        yield m


@pytest.fixture(scope="module")
def bus_result(model):
    return model(BUS)


@pytest.fixture(scope="module")
def tracked(model):
    """The second of two tracked frames of bus.jpg (track ids from the real tracker)."""
    image = cv2.imread(str(BUS))
    results = list(model.stream([image, image]))
    assert results[-1].track_ids is not None
    return results[-1]


# ---------------------------------------------------------------------------------------------- the parts
def test_a_real_result_has_three_parts_and_every_name_one_owner(bus_result):
    result = bus_result
    n = len(result)
    assert n >= 3
    assert isinstance(result.people, People) and isinstance(result.meta, FrameMeta)
    assert isinstance(result.maps, PixelMaps)
    assert result.people.boxes.shape == (n, 4) and result.people.keypoints.shape == (n, 17, 3)
    assert result.boxes is result.people.boxes and result.keypoints is result.people.keypoints
    assert result.meta.frame is result.frame and result.meta.index == result.index == 0
    assert result.file == "bus.jpg" and "pose" in result.timings_ms and result.latency_ms > 0
    assert result.maps.person_mask is None and result.part_map is None and result.masks is None
    with pytest.raises(AttributeError):
        result.boxes = np.zeros((0, 4))  # the shortcuts read; replace() changes
    with pytest.raises(AttributeError):
        result.parts  # noqa: B018  (the LIP map is part_map; keypoint-set parts are keypoint_parts)


def test_replace_routes_each_field_to_its_part_and_shares_the_rest(bus_result):
    result = bus_result
    ids = np.arange(len(result))
    changed = result.replace(track_ids=ids, fps=12.5, stream=2)
    assert changed.people.track_ids.dtype == np.int64 and (changed.track_ids == ids).all()
    assert changed.meta.fps == 12.5 and changed.stream == 2 and changed.maps is result.maps
    assert result.track_ids is None and result.fps == 0.0  # the original is untouched
    assert np.shares_memory(changed.boxes, result.boxes)  # arrays shared, not copied
    with pytest.raises(TypeError, match="part_map="):
        result.replace(parts=np.zeros((2, 2), np.uint8))
    with pytest.raises(TypeError, match=r"unknown field nonsense=a float32 array of shape \(3000, 3000\)"):
        PoseResult(result.boxes, result.scores, result.keypoints, nonsense=np.zeros((3000, 3000), np.float32))
    with pytest.raises(ValueError, match="one row of track_ids per person"):
        result.replace(track_ids=np.arange(len(result) + 1))


def test_selecting_people_selects_every_per_person_array_and_keeps_the_frame(bus_result):
    h, w = bus_result.image.shape[:2]
    masks = np.zeros((len(bus_result), h, w), bool)
    masks[1, 10:20, 10:20] = True
    result = bus_result.replace(track_ids=np.arange(len(bus_result)) + 5, masks=masks,
                                raw_keypoints=bus_result.keypoints + 1, person_mask=np.zeros((h, w), np.float32))
    picked = result[[1]]
    assert len(picked) == 1 and picked.track_ids.tolist() == [6] and picked.masks[0, 15, 15]
    np.testing.assert_array_equal(picked.raw_keypoints, result.keypoints[[1]] + 1)
    assert picked.frame is result.frame and picked.person_mask is result.person_mask
    assert result[1].track_id == 6 and result.to_dict()["people"][1]["track_id"] == 6


def test_to_dict_keeps_the_json_record(bus_result):
    record = bus_result.to_dict()
    assert set(record) == {"stream", "frame", "timestamp", "file", "people"}
    assert set(record["people"][0]) == {"box", "score", "keypoints", "track_id", "age"}  # schema v3: age
    assert len(record["people"][0]["keypoints"]) == 17


# ---------------------------------------------------------------------------------------------- plot never fails
def _extreme(image: np.ndarray) -> PoseResult:
    h, w = image.shape[:2]
    kpts = np.zeros((4, 17, 3), np.float32)
    kpts[..., 2] = 0.9
    kpts[0, :, :2] = 1e30
    kpts[1, :, :2] = -1e30
    kpts[2, :, 0] = np.nan
    kpts[3, :, :2] = [w / 2, h / 2]
    kpts[3, 0] = (np.inf, -np.inf, 0.9)
    boxes = np.array([[0, 0, 1e30, 1e30], [-1e30, -1e30, 5, 5], [np.nan, 0, 10, 10], [10, 10, 60, 80]], np.float32)
    return PoseResult(boxes, [0.9, np.nan, 0.5, 1.0], kpts, track_ids=[1, -1, 2, 3], frame=Frame(0, 0.0, image))


def test_plot_draws_any_result_extreme_coordinates_included():
    image = np.full((120, 160, 3), 40, np.uint8)
    drawn = _extreme(image).plot()
    assert drawn.shape == image.shape and (drawn != image).any() and (image == 40).all()
    # the sane person is drawn where they are
    assert (drawn[60, 80] != 40).any()


def test_plot_draws_empty_results_and_maps_of_another_size():
    image = np.full((90, 70, 3), 40, np.uint8)
    empty = PoseResult.empty(frame=Frame(0, 0.0, image))
    np.testing.assert_array_equal(empty.plot(), image)
    odd = empty.replace(masks=np.zeros((0, 5, 5), bool), part_map=np.full((5, 5), 3, np.uint8),
                        person_mask=np.ones((5, 5), np.float32))
    np.testing.assert_array_equal(odd.plot(), image)
    with pytest.raises(RtposeError, match="pass image="):
        PoseResult.empty().plot()


def test_plot_of_a_real_result_with_whole_body_parts_and_masks(bus_result):
    from rtpose.seg.classes import get_class_set

    h, w = bus_result.image.shape[:2]
    masks = np.zeros((len(bus_result), h, w), bool)
    masks[0, :50, :50] = True
    part_map = np.full((h, w), 200, np.uint8)  # labels beyond the palette are drawn in its last colour
    drawn = bus_result.replace(masks=masks, part_map=part_map, seg_classes=get_class_set("lip")).plot()
    assert drawn.shape == bus_result.image.shape and (drawn != bus_result.image).any()
    only_body = bus_result.plot(keypoint_parts=["body"], boxes=False)
    np.testing.assert_array_equal(only_body, bus_result.plot(boxes=False))  # COCO: the body is every keypoint


# ---------------------------------------------------------------------------------------------- supervision
def test_to_supervision_gives_keypoints_and_detections_with_track_ids(tracked):
    import supervision as sv

    keypoints, detections = tracked.to_supervision()
    n = len(tracked)
    assert isinstance(keypoints, sv.KeyPoints) and isinstance(detections, sv.Detections)
    assert len(keypoints) == len(detections) == n >= 3
    np.testing.assert_array_equal(keypoints.xy, tracked.keypoints[..., :2])
    np.testing.assert_array_equal(keypoints.keypoint_confidence, tracked.keypoints[..., 2])
    np.testing.assert_array_equal(detections.xyxy, tracked.boxes)
    np.testing.assert_array_equal(detections.confidence, tracked.scores)
    np.testing.assert_array_equal(detections.tracker_id, tracked.track_ids)
    np.testing.assert_array_equal(keypoints.data["tracker_id"], tracked.track_ids)
    assert (detections.class_id == 0).all() and list(detections.data["class_name"]) == ["person"] * n
    # supervision's own tools work on them: filter, and draw with its annotators
    kept = detections[detections.confidence > 0.5]
    assert len(kept) == int((tracked.scores > 0.5).sum())
    canvas = sv.EdgeAnnotator().annotate(tracked.image.copy(), keypoints)
    assert canvas.shape == tracked.image.shape and (canvas != tracked.image).any()


def test_to_supervision_of_an_untracked_empty_result():
    keypoints, detections = PoseResult.empty().to_supervision()
    assert len(keypoints) == 0 and len(detections) == 0 and detections.tracker_id is None


def test_to_supervision_without_supervision_names_the_extra():
    code = ("import sys; sys.modules['supervision'] = None\n"
            "from rtpose.results import PoseResult\n"
            "from rtpose.errors import RtposeError\n"
            "try:\n    PoseResult.empty().to_supervision()\n"
            "except RtposeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.strip() == ("to_supervision() needs the supervision package: "
                                  "pip install 'rtpose[supervision]'.")
