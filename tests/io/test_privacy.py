"""``--privacy``: faces blurred from the head keypoints (else the top of the box), or skeletons on a plain
background, in the pictures rtpose writes; on bus.jpg, whose faces' places are known."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rtpose.cli import main
from rtpose.io.privacy import PLAIN_BACKGROUND, apply_privacy, face_boxes, parse_privacy
from rtpose.pose.keypoint_sets import get_keypoint_set
from rtpose.results import PoseResult
from tests.conftest import BUS, DETECTOR_WEIGHTS

#: bus.jpg (810x1080): the man in sunglasses, his face spans about x 265-305, y 412-470; his head keypoints
#: (nose, left eye, right eye, left ear hidden, right ear) as a person would mark them.
FACE = (270, 425, 300, 465)
HEAD = {"nose": (290, 455), "left_eye": (298, 443), "right_eye": (279, 443), "right_ear": (268, 447)}
SUNGLASSES_BOX = (225, 400, 345, 880)
#: the man in the beige coat, with no sure head keypoint: the top of his box is blurred.
COAT_BOX = (50, 400, 240, 900)


def _bus_people() -> PoseResult:
    kset = get_keypoint_set("coco")
    keypoints = np.zeros((2, kset.num_keypoints, 3), np.float32)
    for name, (x, y) in HEAD.items():
        keypoints[0, kset.keypoint_names.index(name)] = (x, y, 0.9)
    keypoints[1, :, :2] = (140, 650)  # somewhere on his body, all unsure
    keypoints[1, :, 2] = 0.1
    return PoseResult([SUNGLASSES_BOX, COAT_BOX], [0.9, 0.9], keypoints, keypoint_set=kset)


def _sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def _outside(shape, boxes) -> np.ndarray:
    keep = np.ones(shape[:2], bool)
    for x1, y1, x2, y2 in boxes:
        keep[max(int(np.floor(y1)), 0):int(np.ceil(y2)), max(int(np.floor(x1)), 0):int(np.ceil(x2))] = False
    return keep


def test_faces_blurs_the_face_of_a_known_image_and_leaves_the_rest_unchanged():
    original = cv2.imread(str(BUS))
    result = _bus_people()
    boxes = face_boxes(result)
    x1, y1, x2, y2 = boxes[0]
    assert x1 <= FACE[0] and y1 <= FACE[1] and x2 >= FACE[2] and y2 >= FACE[3]  # the face is inside
    assert (x2 - x1) < 100  # and it is the face, not the person
    cx1, cy1, cx2, cy2 = boxes[1]
    assert (cx1, cy1, cx2) == COAT_BOX[:3] and 470 <= cy2 <= 500  # the fallback: the top of the box (his head)
    private = apply_privacy(original.copy(), result, "faces")
    assert np.array_equal(private[_outside(original.shape, boxes)], original[_outside(original.shape, boxes)])
    fx1, fy1, fx2, fy2 = FACE
    before, after = original[fy1:fy2, fx1:fx2], private[fy1:fy2, fx1:fx2]
    assert _sharpness(after) < 0.1 * _sharpness(before)  # the features are gone
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 5
    top = (slice(int(cy1), int(cy2)), slice(int(cx1), int(cx2)))
    assert _sharpness(private[top]) < 0.2 * _sharpness(original[top])


def test_skeleton_leaves_nothing_of_the_picture():
    original = cv2.imread(str(BUS))
    private = apply_privacy(original.copy(), _bus_people(), "skeleton")
    assert (private == np.array(PLAIN_BACKGROUND, np.uint8)).all()


def test_privacy_values_are_checked():
    assert parse_privacy(" Faces ") == "faces" and parse_privacy(None) is None
    with pytest.raises(Exception, match="faces .* or skeleton"):
        parse_privacy("eyes")


def _run_bus(tmp_path, weights, name: str, *extra: str) -> tuple[np.ndarray, list[dict]]:
    out, doc = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
    argv = ["--source", str(BUS), "--weights", str(weights), "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu",
            "--no-show", "--save", str(out), "--json", str(doc), *extra]
    assert main(argv) == 0
    return cv2.imread(str(out)), json.loads(doc.read_text())["people"]


@pytest.mark.slow
def test_cli_privacy_changes_only_the_face_regions_or_all_but_the_drawing(tmp_path, small_weights):
    plain, people = _run_bus(tmp_path, small_weights, "plain")
    faces, people_again = _run_bus(tmp_path, small_weights, "faces", "--privacy", "faces")
    skeleton, _ = _run_bus(tmp_path, small_weights, "skeleton", "--privacy", "skeleton")
    assert people == people_again and len(people) == 4  # the same people found: only the picture differs
    result = PoseResult([p["box"] for p in people], [p["score"] for p in people],
                        [p["keypoints"] for p in people])
    boxes = face_boxes(result)
    outside = _outside(plain.shape, boxes)
    assert np.array_equal(faces[outside], plain[outside])  # the rest, drawing included, is unchanged
    changed = np.abs(faces.astype(int) - plain.astype(int)).sum(axis=2) > 0
    for x1, y1, x2, y2 in boxes.astype(int):
        assert changed[max(y1, 0):y2, max(x1, 0):x2].mean() > 0.3  # every face region was blurred
    original = cv2.imread(str(BUS))
    drawn = np.abs(plain.astype(int) - original.astype(int)).sum(axis=2) > 0
    near = cv2.dilate(drawn.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # anti-aliased edges blend in
    assert (skeleton[~near] == np.array(PLAIN_BACKGROUND, np.uint8)).all()  # nothing of the photo is left
    assert (skeleton[drawn] != np.array(PLAIN_BACKGROUND, np.uint8)).any(axis=1).mean() > 0.5  # the drawing is


@pytest.mark.slow
def test_the_run_loop_makes_every_saved_frame_private(tmp_path, small_weights):
    """``--save`` of a video goes through the run loop (as served views do): skeletons on the plain background."""
    from tests.conftest import VIDEO_MULTI

    out = tmp_path / "private.avi"
    argv = ["--source", str(VIDEO_MULTI), "--weights", str(small_weights), "--detector", str(DETECTOR_WEIGHTS),
            "--device", "cpu", "--no-show", "--max-frames", "3", "--save", str(out), "--privacy", "skeleton"]
    assert main(argv) == 0
    cap = cv2.VideoCapture(str(out))
    frames = []
    while (read := cap.read())[0]:
        frames.append(read[1])
    cap.release()
    assert len(frames) == 3
    for frame in frames:
        plain = (np.abs(frame.astype(int) - np.array(PLAIN_BACKGROUND)).max(axis=2) <= 12).mean()
        assert 0.7 < plain < 1.0  # the plain background, and something drawn on it
