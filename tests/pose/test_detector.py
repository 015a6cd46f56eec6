"""The YOLO person detector and the top-down estimator on a real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtpose.errors import WeightsError
from rtpose.pose.crops import box_to_center_size
from rtpose.pose.detector import PersonDetector
from rtpose.pose.estimator import TopDownEstimator
from rtpose.results import Person, PoseResult
from tests.conftest import BUS, DETECTOR_WEIGHTS


@pytest.fixture(scope="module")
def detector():
    return PersonDetector(DETECTOR_WEIGHTS, device="cpu")


@pytest.fixture(scope="module")
def bus():
    image = cv2.imread(str(BUS))
    assert image is not None
    return image


def test_finds_the_four_people_of_bus(detector, bus):
    detections = detector(bus)
    assert len(detections) == 4
    assert detections.boxes.shape == (4, 4) and detections.boxes.dtype == np.float32
    assert (np.diff(detections.scores) <= 0).all() and (detections.scores >= detector.conf).all()
    h, w = bus.shape[:2]
    boxes = detections.boxes
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    assert ((boxes[:, :2] >= -1) & (boxes[:, 2:] <= [w + 1, h + 1])).all()
    # people are taller than wide
    assert ((boxes[:, 3] - boxes[:, 1]) > (boxes[:, 2] - boxes[:, 0])).all()


def test_max_people_and_confidence(bus):
    assert len(PersonDetector(DETECTOR_WEIGHTS, device="cpu", max_people=2)(bus)) == 2
    assert len(PersonDetector(DETECTOR_WEIGHTS, device="cpu", conf=0.999)(bus)) == 0


def test_missing_weights_path_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="do not exist"):
        PersonDetector(tmp_path / "missing" / "yolo.pt")


class CountingBackend:
    """Wraps a real backend and counts its calls."""

    def __init__(self, backend) -> None:
        self.inner = backend
        self.name, self.device, self.input_hw, self.max_batch = backend.name, backend.device, backend.input_hw, 1024
        self.batch_sizes: list[int] = []

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(len(batch))
        return self.inner.infer(batch)


def test_estimator_on_bus_one_backend_call(detector, bus, small_weights):
    from rtpose.runtime import create_backend

    backend = CountingBackend(create_backend("torch", weights=str(small_weights), device="cpu"))
    estimator = TopDownEstimator(backend, detector=detector)
    people = estimator(bus)
    assert backend.batch_sizes == [4]  # every person in ONE call
    assert isinstance(people, PoseResult) and len(people) == 4 and all(isinstance(p, Person) for p in people)
    for person in people:
        assert person.keypoints.shape == (17, 3) and person.keypoints.dtype == np.float32
        assert np.isfinite(person.keypoints).all()
        # keypoints lie inside the person's crop (the box widened to 3:4 and padded by 1.25), give or take
        # the one heatmap pixel a sub-pixel refinement may add at the border
        center, size = box_to_center_size(person.box, 192 / 256)
        assert (np.abs(person.keypoints[:, :2] - center) <= size / 2 * (1 + 2 / 48)).all()
    stats = estimator.timer.summary()
    assert {"detect", "crop", "pose", "decode"} <= set(stats)
    assert people[0].to_dict()["keypoints"][0][0] == pytest.approx(float(people[0].keypoints[0, 0]), abs=0.01)
