"""Detection every N frames (rtpose.pose.det_every, Pipeline(det_every=N), rtpose --det-every N).

- Geometry of the box made from keypoints, on synthetic people.
- Synthetic tracks: people walking through a frame; the detector runs on frames 0, N, 2N, … only,
  each person keeps a box that still holds their keypoints between detections, a newcomer is found
  at the next detection, a person whose keypoints fade is dropped until then, a seek detects again.
- Real data: keypoints of a trained pose model (the YOLOv8n-pose baseline) on vtest give boxes that
  overlap the person detector's boxes of the next frame (median IoU ≥ 0.55, ≥ 65% above 0.5; measured
  0.64 and 75% over 24 frames, against 0.47 and 45% without the 1.25 expansion), and the real pipeline
  on vtest runs the detector on one frame in N.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from rtpose.engine.pipeline import Pipeline
from rtpose.pose.det_every import KEYPOINT_BOX_EXPANSION, DetectEveryN, boxes_from_keypoints
from rtpose.pose.detector import Detections, PersonDetector
from rtpose.results import Person, PoseResult
from tests.conftest import BASELINE_POSE_WEIGHTS, DETECTOR_WEIGHTS, VIDEO_MULTI

IMAGE_WH = (640, 480)
#: A standing person's 17 COCO keypoints relative to the hips' centre, in units of their height / 2.
SHAPE = np.array([
    [0, -0.9], [-0.05, -0.95], [0.05, -0.95], [-0.1, -0.9], [0.1, -0.9], [-0.2, -0.6], [0.2, -0.6], [-0.25, -0.3],
    [0.25, -0.3], [-0.25, 0.0], [0.25, 0.0], [-0.1, 0.0], [0.1, 0.0], [-0.1, 0.5], [0.1, 0.5], [-0.1, 1.0],
    [0.1, 1.0],
], np.float32)


def person_keypoints(center_xy, height: float, score: float = 0.9) -> np.ndarray:
    xy = np.asarray(center_xy, np.float32) + SHAPE * height / 2
    return np.concatenate([xy, np.full((17, 1), score, np.float32)], axis=1)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def test_box_spans_the_visible_keypoints_enlarged_around_their_centre():
    kpts = person_keypoints((300, 240), 200)
    kpts[0, 2] = 0.1  # the nose scores low: ignored
    kpts[0, :2] = (300, 0)
    boxes, valid = boxes_from_keypoints(kpts[None], IMAGE_WH, kpt_thr=0.3)
    kept = kpts[1:, :2]
    low, high = kept.min(0), kept.max(0)
    center, half = (low + high) / 2, (high - low) / 2 * KEYPOINT_BOX_EXPANSION
    assert valid.tolist() == [True]
    np.testing.assert_allclose(boxes[0], np.concatenate([center - half, center + half]), atol=1e-4)
    # clipped to the image; too few visible keypoints → no box
    edge = person_keypoints((5, 240), 200)
    faded = person_keypoints((300, 240), 200, score=0.1)
    faded[:2, 2] = 0.9
    boxes, valid = boxes_from_keypoints(np.stack([edge, faded]), IMAGE_WH)
    assert valid.tolist() == [True, False] and boxes[0, 0] == 0 and (boxes[1] == 0).all()
    assert boxes_from_keypoints(np.zeros((0, 17, 3)), IMAGE_WH)[0].shape == (0, 4)


class Walkers:
    """Synthetic tracks: person i at x0 + v·t (height 200 px); a stand-in detector and a perfect pose model."""

    def __init__(self, starts, velocity=6.0, enters=None, fades=None):
        self.starts, self.velocity = list(starts), velocity
        self.enters = enters or {}  # person → first frame they are in the picture
        self.fades = fades or {}  # person → frame from which their keypoints score low
        self.t = 0
        self.detector_frames: list[int] = []

    def present(self) -> list[int]:
        return [i for i in range(len(self.starts)) if self.t >= self.enters.get(i, 0)]

    def keypoints(self, i: int) -> np.ndarray:
        score = 0.05 if self.t >= self.fades.get(i, 10**9) else 0.9
        return person_keypoints((self.starts[i] + self.velocity * self.t, 240), 200, score)

    def detect(self, image) -> Detections:
        self.detector_frames.append(self.t)
        kpts = [self.keypoints(i) for i in self.present()]
        boxes = [np.concatenate([k[:, :2].min(0) - 5, k[:, :2].max(0) + 5]) for k in kpts]
        return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.8, np.float32))

    def estimate(self, image, detections: Detections) -> PoseResult:
        """The people whose hips lie in a given box, with their true keypoints (a perfect pose model)."""
        people = []
        for box, score in zip(detections.boxes, detections.scores):
            for i in self.present():
                kpts = self.keypoints(i)
                hips = kpts[11:13, :2].mean(0)
                if box[0] <= hips[0] <= box[2] and box[1] <= hips[1] <= box[3]:
                    people.append(Person(box=box, score=float(score), keypoints=kpts))
                    break
        return PoseResult.from_people(people)


def test_synthetic_tracks_keep_their_boxes_between_detections():
    world = Walkers(starts=[100, 300, 500], enters={2: 6}, fades={1: 14})
    schedule = DetectEveryN(4)
    image = np.zeros((IMAGE_WH[1], IMAGE_WH[0], 3), np.uint8)
    found = []
    for t in range(20):
        world.t = t
        detections = schedule.detections(image, world.detect)
        people = world.estimate(image, detections)
        schedule.update(people)
        found.append(len(people))
        for person in people:  # the box the pose model got still holds the whole person
            kx, ky = person.keypoints[:, 0], person.keypoints[:, 1]
            assert person.box[0] <= kx.min() and kx.max() <= person.box[2]
            assert person.box[1] <= ky.min() and ky.max() <= person.box[3]
    assert world.detector_frames == [0, 4, 8, 12, 16] and schedule.detector_calls == 5
    # two people, the newcomer (frame 6) found at frame 8, person 1 fades at 14 and is gone at 15
    assert found[:8] == [2] * 8 and found[8:14] == [3] * 6
    assert found[14] == 3 and found[15] == 2  # its faded keypoints still came out at 14; no box at 15
    assert found[16] == 3  # the detector finds it again (it is still in the picture)
    schedule.reset()
    world.t = 20
    schedule.detections(image, world.detect)
    assert world.detector_frames[-1] == 20  # a reset (seek) detects on the next frame


def test_every_one_detects_on_every_frame_and_n_must_be_positive():
    world = Walkers(starts=[200])
    schedule = DetectEveryN(1)
    image = np.zeros((480, 640, 3), np.uint8)
    for t in range(5):
        world.t = t
        schedule.update(world.estimate(image, schedule.detections(image, world.detect)))
    assert world.detector_frames == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        DetectEveryN(0)


@pytest.fixture(scope="module")
def vtest_frames():
    cap = cv2.VideoCapture(str(VIDEO_MULTI))
    frames = [cap.read()[1] for _ in range(16)]
    cap.release()
    assert all(f is not None for f in frames)
    return frames


def test_keypoint_boxes_of_a_trained_pose_model_overlap_the_next_detections(vtest_frames):
    from ultralytics import YOLO

    pose = YOLO(str(BASELINE_POSE_WEIGHTS), task="pose")
    detector = PersonDetector(DETECTOR_WEIGHTS, device="cpu", runtime="torch")
    overlaps = []
    for before, after in zip(vtest_frames, vtest_frames[1:]):
        result = pose.predict(before, imgsz=960, device="cpu", verbose=False)[0]  # vtest's people are small
        if result.keypoints is None or not len(result.keypoints):
            continue
        kpts = np.concatenate([result.keypoints.xy.numpy(), result.keypoints.conf.numpy()[..., None]], axis=-1)
        boxes, valid = boxes_from_keypoints(kpts, (before.shape[1], before.shape[0]))
        detected = detector(after).boxes
        if valid.any() and len(detected):
            overlaps += list(iou(boxes[valid], detected).max(axis=1))
    assert len(overlaps) >= 30
    assert np.median(overlaps) >= 0.55 and np.mean(np.array(overlaps) > 0.5) >= 0.65, overlaps


class CountingDetector:
    def __init__(self, detector) -> None:
        self.inner, self.calls = detector, 0

    def __call__(self, image):
        self.calls += 1
        return self.inner(image)


def test_real_pipeline_on_vtest_detects_on_one_frame_in_n(small_weights):
    from rtpose.io.sources import open_source
    from rtpose.pose.estimator import TopDownEstimator
    from rtpose.runtime import create_backend

    detector = CountingDetector(PersonDetector(DETECTOR_WEIGHTS, device="cpu", runtime="torch"))
    estimator = TopDownEstimator(create_backend("torch", weights=str(small_weights), device="cpu"), detector=detector)
    frames, every = 7, 3
    with open_source(str(VIDEO_MULTI)) as source:
        pipeline = Pipeline(source, estimator, max_frames=frames, det_every=every)
        pipeline.start()
        results = list(pipeline.results(timeout=120))
        pipeline.stop()
    assert [r.frame.index for r in results] == list(range(frames))
    assert detector.calls == pipeline.det_every[0].detector_calls == math.ceil(frames / every)
    assert len(results[0]) >= 3  # vtest has several pedestrians
    for r in results:
        assert "detect" in r.timings_ms
        h, w = r.frame.image.shape[:2]
        for person in r:
            assert (person.box >= 0).all() and person.box[2] <= w and person.box[3] <= h
    for previous, r in zip(results, results[1:]):
        if r.frame.index % every:  # a frame without detection has at most the people of the frame before
            assert len(r) <= len(previous)


def test_cli_det_every_runs_and_bad_values_are_one_sentence(tmp_path, small_weights, capsys):
    import json

    from rtpose.cli import main

    jsonl = tmp_path / "out.jsonl"
    argv = ["--source", str(VIDEO_MULTI), "--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS),
            "--device", "cpu", "--backend", "torch", "--no-show", "--max-frames", "4", "--json", str(jsonl),
            "--det-every", "2"]
    assert main(argv) == 0
    assert "4 frames processed" in capsys.readouterr().err
    assert [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()[1:]] == [0, 1, 2, 3]  # header first
    with pytest.raises(SystemExit) as stop:
        main(["--source", str(VIDEO_MULTI), "--det-every", "0"])
    assert stop.value.code != 0 and "--det-every: must be at least 1" in capsys.readouterr().err
