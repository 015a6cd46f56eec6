"""The frame budget (rtpose.pose.budget, --budget / --max-age, PoseModel(budget_ms=…)).

- The cost model fits measured costs (deterministic measurements fed in).
- The scheduler's decisions given costs: new people fresh on their first frame whatever the budget,
  nobody's keypoints older than max_age - 1 frames, the crops the budget affords go to the people who
  moved most, streams share a round's crops in turn, the detector runs when the tracks need it.
- Real runs on a crowd video (vtest tiled 2×2, ≈ 25 people a frame): without a budget the output is
  today's (the estimator and the tracker frame by frame); a budget large enough for everything changes
  nothing; a small one refreshes everyone at least every max_age frames, a new track is fresh on its
  first frame, ``age`` is in the JSON lines of a real ``rtpose`` process, whose summary reports the
  budget; bad values are one sentence each, on the command line and in Python.

No timing assertions: with a measured budget the decisions depend on the machine's speed, so real
runs use a budget below one crop's cost (only what must be fresh is posed) or far above everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import rtpose
from rtpose.errors import RtposeError
from rtpose.pose.budget import CostModel, FrameBudget, LinearCost, carry_keypoints
from rtpose.pose.detector import Detections
from rtpose.results import PoseResult
from rtpose.utils.timing import StageTimer
from tests.conftest import DETECTOR_WEIGHTS, ROOT, VIDEO_MULTI

CROWD_FRAMES = 12


@pytest.fixture(scope="module")
def crowd_video(tmp_path_factory):
    """vtest tiled 2×2 (960×720) at four moments of the video: ≈ 25 people a frame, 10 frames/s."""
    cap = cv2.VideoCapture(str(VIDEO_MULTI))
    frames = []
    while len(frames) < 150 + CROWD_FRAMES:
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()
    path = tmp_path_factory.mktemp("crowd") / "crowd2x2.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (960, 720))
    for t in range(CROWD_FRAMES):
        tiles = [frames[t + offset] for offset in (0, 50, 100, 150)]
        writer.write(np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def model(small_weights):
    with rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), device="cpu", backend="onnxruntime") as m:
        yield m


# ---------------------------------------------------------------------------------------------- cost model
def test_linear_cost_fits_measured_costs_and_follows_a_change():
    cost = LinearCost(halflife=1000)
    assert not cost.measured and cost.most_within(50) > 10_000  # unmeasured: everything is allowed
    for n in (1, 4, 8, 2, 16, 1, 8):
        cost.observe(n, 10.0 + 5.0 * n)
    a, b = cost.coefficients
    assert a == pytest.approx(10.0) and b == pytest.approx(5.0)
    assert cost(6) == pytest.approx(40.0) and cost(0) == 0.0
    assert cost.most_within(40.0) == 6 and cost.most_within(14.0) == 0
    one_size = LinearCost()
    for _ in range(3):
        one_size.observe(4, 40.0)
    assert one_size.coefficients == pytest.approx((0.0, 10.0))  # one size seen: through the origin
    moving = LinearCost(halflife=2)
    for n in (1, 8) * 10:
        moving.observe(n, 5.0 * n)
    for n in (1, 8) * 10:
        moving.observe(n, 10.0 * n)  # the machine got busier
    assert moving.coefficients[1] == pytest.approx(10.0, rel=0.05)


def test_carried_keypoints_move_and_scale_with_the_box():
    kpts = np.array([[10, 20, 0.9], [30, 60, 0.5]], np.float32)
    moved = carry_keypoints(kpts, np.array([0, 0, 40, 80]), np.array([100, 50, 180, 210]))
    np.testing.assert_allclose(moved, [[120, 90, 0.9], [160, 170, 0.5]])


# ---------------------------------------------------------------------------------------------- decisions
SHAPE = np.array([
    [0, -0.9], [-0.05, -0.95], [0.05, -0.95], [-0.1, -0.9], [0.1, -0.9], [-0.2, -0.6], [0.2, -0.6], [-0.25, -0.3],
    [0.25, -0.3], [-0.25, 0.0], [0.25, 0.0], [-0.1, 0.0], [0.1, 0.0], [-0.1, 0.5], [0.1, 0.5], [-0.1, 1.0],
    [0.1, 1.0],
], np.float32)
IMAGE = np.zeros((720, 960, 3), np.uint8)


def person_box(x: float, y: float = 300.0, h: float = 160.0) -> np.ndarray:
    return np.array([x - h / 4, y - h / 2, x + h / 4, y + h / 2], np.float32)


def pose_in(box: np.ndarray, score: float = 0.9) -> np.ndarray:
    """A standing person's keypoints filling ``box`` (the perfect pose model of these tests)."""
    centre = (box[:2] + box[2:]) / 2
    xy = centre + SHAPE * (box[3] - box[1]) / 2 / 1.25
    return np.concatenate([xy, np.full((17, 1), score, np.float32)], axis=1)


def costs(crop_ms: float = 20.0, fixed_ms: float = 10.0, detect_ms: float = 30.0) -> CostModel:
    """A cost model fed deterministic measurements: pose(n) = fixed + crop·n, detect(m) = detect·m."""
    model = CostModel(halflife=1000)
    for n in (1, 5, 10):
        model.pose.observe(n, fixed_ms + crop_ms * n)
        model.detect.observe(1, detect_ms)
    return model


def run_frame(budget: FrameBudget, boxes_per_stream: list[np.ndarray | None], jump: float = 0.0):
    """One round: ``boxes_per_stream[k]`` the detector's boxes for stream k's frame (None: no detection this
    frame); the pose model returns :func:`pose_in` each chosen box, the first carried person's moved ``jump``
    pixels to the right. Returns the chosen rows per stream, the results, and the row that jumped (or None)."""
    streams = list(range(len(boxes_per_stream)))
    detections = [None if b is None else Detections(b, np.full(len(b), 0.9, np.float32)) for b in boxes_per_stream]
    chosen, boxes, _ = budget.plan(streams, [IMAGE] * len(streams), detections)
    results, jumped = [], None
    for k, (rows, crop_boxes) in enumerate(zip(chosen, boxes)):
        kpts = np.stack([pose_in(b) for b in crop_boxes]) if len(crop_boxes) else np.zeros((0, 17, 3), np.float32)
        for j, row in enumerate(rows):
            if jump and jumped is None and budget.states[k].people[row].age > 0:
                kpts[j, :, 0] += jump
                jumped = row
        fresh = PoseResult(crop_boxes, np.ones(len(crop_boxes)), kpts)
        results.append(budget._complete(budget.states[k], rows, fresh, fresh.keypoint_set))
    return chosen, results, jumped


def test_new_people_are_fresh_on_their_first_frame_whatever_the_budget():
    budget = FrameBudget(budget_ms=1.0, max_age=5, costs=costs())
    first = np.stack([person_box(100 + 70 * i) for i in range(10)])
    chosen, (result,), _ = run_frame(budget, [first])
    assert chosen == [list(range(10))] and result.ages.tolist() == [0] * 10  # all new: all posed, over budget
    chosen, (result,), _ = run_frame(budget, [None])
    assert len(chosen[0]) == 2 and sorted(result.ages.tolist()) == [0, 0] + [1] * 8  # one max_age-th: 10 / 5
    newcomer = np.concatenate([first, person_box(850, 600)[None]])
    chosen, (result,), _ = run_frame(budget, [newcomer])
    assert 10 in chosen[0] and result.ages[10] == 0


def test_nobody_is_older_than_max_age_and_the_budget_goes_to_who_moves():
    budget = FrameBudget(budget_ms=100.0, max_age=4, costs=costs(crop_ms=20, fixed_ms=10, detect_ms=30))
    boxes = np.stack([person_box(100 + 80 * i) for i in range(8)])
    run_frame(budget, [boxes])
    ages = []
    for t in range(1, 13):
        moved = boxes.copy()
        moved[5] += [16.0 * t, 0, 16.0 * t, 0]  # person 5 walks (a tenth of their height a frame)
        chosen, (result,), _ = run_frame(budget, [moved])
        ages.append(result.ages.tolist())
        assert len(chosen[0]) == 3  # (100 - 30 detector - 10) / 20 = 3 crops; at least 8 / max_age = 2
    assert max(max(a) for a in ages) == 3  # max_age 4: keypoints at most 3 frames old
    assert all(a[5] == 0 for a in ages)  # the walker is refreshed on every frame


def test_streams_share_the_round_in_turn():
    budget = FrameBudget(budget_ms=130.0, max_age=30, streams=3, costs=costs(crop_ms=20, fixed_ms=10))
    crowds = [np.stack([person_box(100 + 70 * i, 200 + 100 * k) for i in range(6)]) for k in range(3)]
    run_frame(budget, crowds)
    chosen, _, _ = run_frame(budget, [None, None, None])
    # (130 - 10) / 20 = 6 crops; forced: one 30th of 6 people = 1 per stream; the other 3 go round: 2 each
    assert [len(c) for c in chosen] == [2, 2, 2]


def test_detector_runs_when_tracks_cannot_be_trusted():
    budget = FrameBudget(budget_ms=60.0, max_age=6, costs=costs(crop_ms=20, fixed_ms=10, detect_ms=30))
    state = budget.states[0]
    assert state.needs_detection(6) == "nobody tracked"
    boxes = np.stack([person_box(200 + 100 * i) for i in range(6)])
    run_frame(budget, [boxes])
    assert state.needs_detection(6) is None
    run_frame(budget, [None])
    assert state.needs_detection(6) is None
    _, _, jumped = run_frame(budget, [None], jump=80.0)  # a carried person's fresh pose is elsewhere
    assert jumped is not None and state.needs_detection(6) == "a track drifted from its keypoints"
    for _ in range(3):  # the drifted track takes a neighbour's detection, is outbid, carried once, dropped
        run_frame(budget, [boxes])
    assert state.needs_detection(6) is None and len(state.people) == 6
    for _ in range(4):
        run_frame(budget, [None])
        assert state.needs_detection(6) is None
    run_frame(budget, [None])
    assert state.needs_detection(6) == "time bound"  # max_age frames since the last detection
    assert budget.detect_due([0]) == [True]
    run_frame(budget, [boxes])
    budget.budget_ms = 61.0
    assert budget.detect_due([0]) == [True]  # the detector (30 ms) and the one crop due (30 ms) fit in 61 ms
    budget.budget_ms = 59.0
    assert budget.detect_due([0]) == [False]  # they do not: the tracks are trusted
    budget.costs = costs(crop_ms=1, fixed_ms=1, detect_ms=5)  # a faster machine: everything fits
    assert budget._all_fits([0])


def test_one_or_two_people_are_processed_in_full_when_that_is_near_the_budget():
    budget = FrameBudget(budget_ms=66.0, max_age=10, costs=costs(crop_ms=25, fixed_ms=0, detect_ms=20))
    two = np.stack([person_box(300), person_box(600)])
    run_frame(budget, [two])
    # 20 ms detector + 2 × 25 ms crops = 70 ms: within 1.2 × 66 ms, so the detector runs and both are fresh
    assert budget.detect_due([0]) == [True]
    chosen, (result,), _ = run_frame(budget, [two])
    assert chosen == [[0, 1]] and result.ages.tolist() == [0, 0]
    three = np.stack([person_box(200), person_box(450), person_box(700)])
    run_frame(budget, [three])
    assert budget.detect_due([0]) == [True]  # 20 + 25 ms for the one crop due: the detector still fits
    chosen, (result,), _ = run_frame(budget, [None])  # without it: 66 ms hold two crops, one person is carried
    assert len(chosen[0]) == 2 and sorted(result.ages.tolist()) == [0, 0, 1]


def test_a_person_the_detector_misses_once_is_kept_and_detected_again():
    budget = FrameBudget(budget_ms=60.0, max_age=6, costs=costs(crop_ms=20, fixed_ms=10, detect_ms=30))
    state = budget.states[0]
    boxes = np.stack([person_box(200 + 100 * i) for i in range(5)])
    run_frame(budget, [boxes])
    _, (result,), _ = run_frame(budget, [boxes[:4]])  # person 4 is missed once: carried one frame
    assert len(result) == 5 and state.needs_detection(6) == "a person was not detected"
    _, (result,), _ = run_frame(budget, [boxes[:4]])  # missed again: gone
    assert len(result) == 4 and state.needs_detection(6) is None


# ---------------------------------------------------------------------------------------------- real runs
def _frames(stream) -> list[PoseResult]:
    return list(stream)


@pytest.mark.slow
def test_without_a_budget_the_output_is_todays(model):
    streamed = _frames(model.stream(str(VIDEO_MULTI), max_frames=8))
    tracker = rtpose.options.StreamOptions().tracker(model.keypoint_set)
    cap = cv2.VideoCapture(str(VIDEO_MULTI))
    for result in streamed:
        ok, image = cap.read()
        expected = tracker.update(model.estimator(image), result.frame.clock)
        np.testing.assert_array_equal(result.boxes, expected.boxes)
        np.testing.assert_array_equal(result.keypoints, expected.keypoints)
        np.testing.assert_array_equal(result.track_ids, expected.track_ids)
        assert result.ages is None and all(p.to_dict()["age"] == 0 for p in result)
    cap.release()


@pytest.mark.slow
def test_a_budget_large_enough_for_everything_changes_nothing(model, crowd_video):
    today = _frames(model.stream(str(crowd_video), max_frames=6))
    budgeted = model.stream(str(crowd_video), max_frames=6, budget_ms=1e9)
    results = _frames(budgeted)
    assert len(results) == len(today) == 6
    for a, b in zip(today, results):
        assert len(a) >= 15  # a crowd
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.track_ids, b.track_ids)
        assert b.ages.tolist() == [0] * len(b)
    stats = budgeted.stats().budget
    assert stats.detector_calls == 6 and stats.carried == 0 and stats.fresh == sum(len(r) for r in results)


@pytest.mark.slow
def test_a_small_budget_refreshes_everyone_within_max_age(model, crowd_video, capsys):
    capsys.readouterr()
    stream = model.stream(str(crowd_video), budget_ms=1.0, max_age=4)
    results = _frames(stream)
    assert len(results) == CROWD_FRAMES
    ages = np.concatenate([r.ages for r in results])
    assert ages.max() <= 3 and (ages > 0).mean() > 0.5  # most poses carried, none older than 3 frames
    tracks = {t for r in results for t in r.track_ids.tolist() if t >= 0}
    assert len(tracks) >= 15
    stats = stream.stats()
    assert stats.budget.carried > stats.budget.fresh > 0 and stats.budget.detector_calls < CROWD_FRAMES
    assert "carried poses" in stats.format()
    err = capsys.readouterr().err
    # said once (in the library's words, or the command line's after an in-process CLI call set its handler)
    assert err.count("1 is less than one person's pose costs here") == 1


@pytest.mark.slow
def test_a_new_person_is_fresh_on_their_first_frame_on_a_real_crowd(model, crowd_video):
    """The scheduler with the real detector and pose model on the crowd, its costs fed (deterministic decisions)."""
    budget = FrameBudget(budget_ms=1.0, max_age=4, costs=costs())
    cap = cv2.VideoCapture(str(crowd_video))
    before: list = []  # last frame's people
    newcomers = carried = 0
    for _ in range(CROWD_FRAMES):
        ok, image = cap.read()
        assert ok
        work = budget.prepare(model.estimator, [0], [image], StageTimer())
        (result,) = budget.finish(model.estimator, work, StageTimer())
        people = budget.states[0].people
        assert len(result) == len(people) and result.ages.max() <= 3
        for person, age in zip(people, result.ages.tolist()):
            if not any(person is p for p in before):
                newcomers += 1
                assert age == 0  # a person the scheduler has not seen before is posed on their first frame
            carried += age > 0
        before = list(people)
    cap.release()
    assert newcomers >= 15 and carried > 0 and budget.detector_calls < CROWD_FRAMES


@pytest.mark.slow
def test_rtpose_run_writes_ages_in_the_json_lines(tmp_path, small_weights, crowd_video):
    out = tmp_path / "crowd.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "rtpose", "--source", str(crowd_video), "--weights", str(small_weights), "--detector",
         str(DETECTOR_WEIGHTS), "--device", "cpu", "--backend", "onnxruntime", "--no-show", "--json", str(out),
         "--budget", "1", "--max-age", "3", "--max-frames", "8"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    header, *records = [json.loads(line) for line in out.read_text().splitlines()]
    assert header["version"] == 3 and len(records) == 8
    ages = [p["age"] for r in records for p in r["people"]]
    assert max(ages) <= 2 and min(ages) == 0 and sum(a > 0 for a in ages) > len(ages) / 2
    assert "budget 1 ms:" in proc.stderr and "carried poses" in proc.stderr
    assert proc.stderr.count("--budget 1 is less than one person's pose costs here") == 1


@pytest.mark.parametrize(("args", "words"), [
    (["--budget", "0"], "--budget: must be more than 0, got 0"),
    (["--budget", "-5"], "--budget: must be more than 0, got -5"),
    (["--budget", "abc"], "--budget: expected a number, got abc"),
    (["--max-age", "0"], "--max-age: must be at least 1, got 0"),
    (["--budget", "50", "--det-every", "3"], "--budget and --det-every are alternatives"),
])
def test_bad_values_on_the_command_line_are_one_sentence(args, words, small_weights):
    proc = subprocess.run([sys.executable, "-m", "rtpose", "--source", str(VIDEO_MULTI), "--weights",
                           str(small_weights), "--no-show", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"budget_ms": 0}, "budget_ms=0: must be more than 0"),
    ({"budget_ms": -5.0}, "budget_ms=-5.0: must be more than 0"),
    ({"budget_ms": "abc"}, "budget_ms='abc': expected a number"),
    ({"max_age": 0}, "max_age=0: must be at least 1"),
    ({"budget_ms": 50, "det_every": 3}, "budget_ms= and det_every= are alternatives"),
])
def test_bad_values_in_python_are_one_sentence(kwargs, words, small_weights):
    with pytest.raises(RtposeError) as error:
        rtpose.PoseModel(small_weights, detector=str(DETECTOR_WEIGHTS), **kwargs)  # before any model loads
    assert str(error.value).startswith(words) and str(error.value).count(".") <= 2


@pytest.mark.slow
def test_bad_values_of_a_stream_are_one_sentence(model):
    with pytest.raises(RtposeError, match=r"^budget_ms=-1: must be"):
        model.stream(str(VIDEO_MULTI), budget_ms=-1)
    with pytest.raises(RtposeError, match=r"^max_age=0: must be"):
        model.stream(str(VIDEO_MULTI), budget_ms=50, max_age=0)


def test_carried_keypoints_are_drawn_hollow():
    from rtpose.io.render import draw_result

    kpts = np.zeros((1, 17, 3), np.float32)
    kpts[0, 0] = (100, 100, 0.9)  # one visible keypoint (the nose), no limbs
    person = PoseResult(np.array([[60, 40, 140, 160]]), np.ones(1), kpts)
    image = np.zeros((240, 240, 3), np.uint8)
    fresh = draw_result(image, person.replace(ages=np.array([0])), show_boxes=False)
    carried = draw_result(image, person.replace(ages=np.array([2])), show_boxes=False)
    assert fresh[100, 100].any() and not carried[100, 100].any()  # a filled dot against a ring
    assert carried[100 - 3:100 + 4, 100 - 3:100 + 4].any()
    two = PoseResult(np.zeros((2, 4)), np.ones(2), np.zeros((2, 17, 3)), ages=[0, 3])
    assert PoseResult.from_people(list(two)).ages.tolist() == [0, 3] and two[[1]].ages.tolist() == [3]
    assert [p.to_dict()["age"] for p in two] == [0, 3]


@pytest.mark.slow
def test_the_budget_changes_while_a_stream_runs(model):
    stream = model.stream(str(VIDEO_MULTI), budget_ms=1.0, max_age=3, max_frames=14)
    ages = []
    for result in stream:
        ages.append(result.ages.tolist())
        if len(ages) == 4:
            assert stream.set_budget(None)  # the viewer's "off": everything fits from the next round
    assert any(a > 0 for frame in ages[:4] for a in frame)
    assert all(a == 0 for frame in ages[-3:] for a in frame)
    unbudgeted = model.stream(str(VIDEO_MULTI), max_frames=1)
    assert not unbudgeted.set_budget(50.0)  # started without a budget: applies to streams opened later
    unbudgeted.close()


@pytest.mark.slow
def test_streams_share_one_budget(model, crowd_video):
    stream = model.stream([str(crowd_video), str(VIDEO_MULTI)], budget_ms=1.0, max_age=3, max_frames=6)
    results = _frames(stream)
    assert sorted({r.stream for r in results}) == [0, 1] and len(results) == 12
    assert all(r.ages is not None and (len(r) == 0 or r.ages.max() <= 2) for r in results)
    assert any(r.ages.max() > 0 for r in results if r.stream == 0 and len(r))  # the crowd's poses are carried
    stats = stream.stats()
    assert stats.budget.frames == 12 and stats.budget.fresh + stats.budget.carried == sum(len(r) for r in results)
