"""A per-frame time budget for crowds: who gets a fresh pose this frame, and when the detector runs.

Top-down pose costs one crop per person. With ``budget_ms`` set, each round of frames (one frame per
stream) keeps its model work (detector, crops, pose call, decoding) near the budget:

- **Costs are measured, not assumed.** :class:`CostModel` fits ``pose(n) = a + b·n`` ms for a pose call
  on ``n`` crops (stages ``crop`` + ``pose`` + ``decode``) and ``detect(m) = c + d·m`` ms for a detector
  call on ``m`` frames, by exponentially weighted least squares over the rounds as they run (recent
  rounds weigh most, so a machine that gets busier is followed). Until the first measurement a round is
  processed in full.
- **Who is refreshed** (:meth:`FrameBudget.prepare`): new people first (a person is always fresh on
  their first frame), everyone whose pose would otherwise reach ``max_age`` frames (nobody's
  keypoints are older than ``max_age - 1`` frames), and, oldest first, at least one ``max_age``-th of
  the others every frame (so that the refreshes forced by age are spread evenly over the frames instead of
  falling due together); these are done even when they overrun the budget.
  The crops left in the budget go, across the round's streams in turn (fairly), to the people with the
  highest priority (:meth:`_Person.priority`): how far their box has moved (and is predicted to move)
  since their last fresh pose in box heights, how old the pose is (``age / max_age``), and how unsure it
  was (``1 -`` mean keypoint score).
- **Everyone else is carried**: their last fresh keypoints move with their box, translated and scaled
  from the box they were computed in to the current one (:func:`carry_keypoints`); the tracker then
  smooths them as any keypoints. Each person's ``age`` (``PoseResult.ages``) says how many frames ago
  their keypoints were computed (0: fresh).
- **The detector runs when needed** (:meth:`FrameBudget.detect_due`): when the whole round (detector and
  every person fresh) fits in :data:`FULL_SLACK` × the budget (then nothing changes against running
  without a budget: with one or two people, the output is today's), when the detector and the crops
  due anyway fit (one call refreshes every box), or
  when the tracks can no longer be trusted: a fresh pose's keypoint box drifted from where its track was
  predicted (IoU below :data:`DRIFT_IOU`), a detection missed someone (they are carried one frame), a
  fresh pose's confidence dropped (below :data:`CONFIDENCE_DROP` of its previous one, or too few
  keypoints for a box), nobody is tracked, or ``max_age`` frames passed since the last detection (half
  that while someone is at the picture's border, where people come and go). Between detections each
  person's box is predicted from their last observed boxes (constant velocity); a fresh pose corrects it
  (the shift and scale between the keypoint box of the fresh pose and that of the carried one), as
  detect-every-N takes boxes from keypoints (:mod:`rtpose.pose.det_every`).

``budget_ms`` below one crop's measured cost cannot be met: this is known after the first
:data:`WARN_AFTER` measured pose calls (the very first ones are slower) and said once as a warning (the
run goes on: new people and the oldest poses are still refreshed). Without a budget nothing here runs.
Coordinates are image pixels, boxes (x1, y1, x2, y2).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from rtpose.log import warn
from rtpose.pose.det_every import boxes_from_keypoints
from rtpose.pose.detector import Detections
from rtpose.results import PoseResult
from rtpose.tracking.tracker import assign, box_iou

#: Default of ``max_age``: frames a person's keypoints may be carried before a fresh pose is forced.
DEFAULT_MAX_AGE = 10
#: A fresh pose whose keypoint box overlaps the carried pose's keypoint box less than this: detect next frame.
DRIFT_IOU = 0.5
#: A fresh pose whose mean keypoint score falls below this share of its previous one: detect next frame.
CONFIDENCE_DROP = 0.7
#: Least IoU between a predicted box and a detection for the detection to continue that person.
MATCH_IOU = 0.2
#: Share of the image's short side counted as its border (people enter and leave there).
BORDER = 0.02
#: Weight of motion (box heights) against age (share of ``max_age``) in the priority of a fresh pose.
MOTION_WEIGHT = 5.0
#: Pose calls measured before a budget below one crop's cost is reported (the first calls run slow).
WARN_AFTER = 3
#: A round that would be complete (detector, everybody fresh) within this many times the budget is done complete
#: (e.g. two people at 66 ms on two cores: a 20 ms detector and two 25 ms crops); the issue's p95 bound.
FULL_SLACK = 1.2
#: Stages whose time grows with the number of crops (the pose call's cost).
POSE_STAGES = ("crop", "pose", "decode")


class LinearCost:
    """``cost(n) = a + b·n`` ms, fitted online by exponentially weighted least squares.

    Args:
        halflife: rounds after which a measurement weighs half.

    With a single size seen so far the fit goes through the origin (``a = 0``); ``a`` and ``b`` are kept
    non-negative and ``b`` positive.
    """

    def __init__(self, halflife: float = 30.0) -> None:
        self.decay = 0.5 ** (1.0 / float(halflife))
        self.samples = 0
        self._s = np.zeros(5)  # Σw, Σw·n, Σw·n², Σw·y, Σw·n·y

    def observe(self, n: int, ms: float) -> None:
        """Add one measurement: ``n`` units took ``ms`` milliseconds."""
        if n <= 0 or not math.isfinite(ms) or ms < 0:
            return
        n = float(n)
        self._s = self._s * self.decay + np.array([1.0, n, n * n, ms, n * ms])
        self.samples += 1

    @property
    def coefficients(self) -> tuple[float, float]:
        """``(a, b)`` in ms and ms per unit; (0, 0) before any measurement."""
        s0, s1, s2, t0, t1 = self._s
        if s0 <= 0:
            return 0.0, 0.0
        mean_n, mean_y = s1 / s0, t0 / s0
        var = s2 / s0 - mean_n**2
        if var > 1e-6 * max(mean_n**2, 1.0):
            b = (t1 / s0 - mean_n * mean_y) / var
            a = mean_y - b * mean_n
            if b > 0 and a >= 0:
                return float(a), float(b)
            if b > 0:  # a < 0: through the origin
                return 0.0, float(t1 / s2)
        return 0.0, float(t0 / s1)  # one size (or a fit without a positive slope): cost per unit

    @property
    def measured(self) -> bool:
        return self.samples > 0

    def __call__(self, n: int) -> float:
        """Predicted ms for ``n`` units (0 for none)."""
        if n <= 0:
            return 0.0
        a, b = self.coefficients
        return a + b * n

    def most_within(self, ms: float) -> int:
        """The most units whose predicted cost is at most ``ms`` (a very large number before any measurement)."""
        a, b = self.coefficients
        if not self.measured or b <= 0 or not math.isfinite(ms):
            return 1 << 30
        return max(0, int(math.floor((ms - a) / b + 1e-9)))


class CostModel:
    """What a pose call on ``n`` crops (:attr:`pose`) and a detector call on ``m`` frames (:attr:`detect`) cost
    here, in ms (:class:`LinearCost` each), measured from the stage timings of the rounds as they run."""

    def __init__(self, halflife: float = 30.0) -> None:
        self.pose = LinearCost(halflife)
        self.detect = LinearCost(halflife)

    @property
    def measured(self) -> bool:
        return self.pose.measured and self.detect.measured


def carry_keypoints(keypoints: np.ndarray, from_box: np.ndarray, to_box: np.ndarray) -> np.ndarray:
    """Keypoints ``(K, 3)`` computed in ``from_box`` moved with the box to ``to_box`` (translation and
    per-axis scale about the boxes' centres); scores unchanged."""
    kpts = np.array(keypoints, np.float32, copy=True)
    f, t = np.asarray(from_box, np.float64), np.asarray(to_box, np.float64)
    f_size = np.maximum(f[2:] - f[:2], 1.0)
    t_size = np.maximum(t[2:] - t[:2], 1.0)
    kpts[:, :2] = ((kpts[:, :2] - (f[:2] + f[2:]) / 2) * (t_size / f_size) + (t[:2] + t[2:]) / 2).astype(np.float32)
    return kpts


@dataclass
class _Person:
    """One person followed by the budget: their box now and their last fresh pose."""

    box: np.ndarray  # (4,) the box this frame: observed (detector, fresh pose) or predicted
    score: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # box centre, pixels per frame
    observed: np.ndarray | None = None  # the last observed box
    since_observed: int = 0  # frames since then
    fresh_box: np.ndarray | None = None  # the box the last fresh keypoints were computed in
    fresh: np.ndarray | None = None  # (K, 3) the last fresh keypoints; None: never posed (new)
    age: int = 0  # frames since the last fresh pose
    missed: bool = False  # the last detection did not find them

    def observe(self, box: np.ndarray) -> None:
        box = np.asarray(box, np.float64)
        if self.observed is not None and self.since_observed > 0:
            step = ((box[:2] + box[2:]) - (self.observed[:2] + self.observed[2:])) / 2 / self.since_observed
            self.velocity = 0.5 * self.velocity + 0.5 * step
        self.box, self.observed, self.since_observed = box.copy(), box.copy(), 0

    def predict(self) -> None:
        self.since_observed += 1
        self.box = self.box + np.concatenate([self.velocity, self.velocity])

    def carried(self) -> np.ndarray:
        return carry_keypoints(self.fresh, self.fresh_box, self.box)

    def priority(self, max_age: int) -> float:
        """Larger: more in need of a fresh pose: the pose's age by the next frame as a share of ``max_age``, plus
        :data:`MOTION_WEIGHT` × the motion since the fresh pose and to the next frame (box heights; a moving
        body changes its pose), plus how unsure the pose was (1 - mean keypoint score)."""
        ref = self.fresh_box
        height = max(float(ref[3] - ref[1]), 1.0)
        moved = np.linalg.norm((self.box[:2] + self.box[2:] - ref[:2] - ref[2:]) / 2) / height
        size = abs(math.log(max(float(self.box[3] - self.box[1]), 1.0) / height))
        ahead = np.linalg.norm(self.velocity) / height
        unsure = 1.0 - float(self.fresh[:, 2].mean())
        return float((self.age + 1) / max_age + MOTION_WEIGHT * (moved + size + ahead) + unsure)


class _StreamState:
    """The people of one stream between frames, and whether its detector must run next."""

    def __init__(self) -> None:
        self.people: list[_Person] = []
        self.since_detection: int | None = None  # None: never detected (or reset)
        self.distrust: str | None = None  # why the next frame needs the detector
        self.image_wh = (1 << 30, 1 << 30)

    def at_border(self) -> bool:
        w, h = self.image_wh
        margin = BORDER * min(w, h)
        return any(p.box[0] <= margin or p.box[1] <= margin or p.box[2] >= w - 1 - margin
                   or p.box[3] >= h - 1 - margin for p in self.people)

    def needs_detection(self, max_age: int) -> str | None:
        """Why this stream's next frame needs the detector, or None."""
        if self.since_detection is None or not self.people:
            return "nobody tracked"
        if self.distrust:
            return self.distrust
        bound = max(1, max_age // 2) if self.at_border() else max_age
        return "time bound" if self.since_detection + 1 >= bound else None


@dataclass
class BudgetStats:
    """What the budget did over a run.

    Attributes:
        budget_ms: the budget per round (one frame per stream).
        max_age: the most frames a pose is carried.
        frames: frames processed.
        fresh: poses computed (age 0).
        carried: poses carried forward from an earlier frame.
        detector_calls: frames the detector ran on.
        frame_p50_ms / frame_p95_ms: a round's model work (detect, schedule, crop, pose, decode), ms.
        met: share of rounds whose model work stayed within the budget.
        crop_ms: the measured cost of one more crop (``b`` of :class:`LinearCost`), ms.
        detect_ms: the measured cost of one detector call on one frame, ms.
    """

    budget_ms: float
    max_age: int
    frames: int = 0
    fresh: int = 0
    carried: int = 0
    detector_calls: int = 0
    frame_p50_ms: float = 0.0
    frame_p95_ms: float = 0.0
    met: float = 0.0
    crop_ms: float = 0.0
    detect_ms: float = 0.0

    @property
    def fresh_share(self) -> float:
        total = self.fresh + self.carried
        return self.fresh / total if total else 1.0

    def line(self) -> str:
        """One line for the run summary."""
        return (f"budget {self.budget_ms:g} ms: {self.fresh} fresh and {self.carried} carried poses "
                f"({100 * self.fresh_share:.0f}% fresh, max age {self.max_age}), detector on {self.detector_calls} "
                f"of {self.frames} frames; model work p50 {self.frame_p50_ms:.1f} ms, p95 {self.frame_p95_ms:.1f} ms, "
                f"within budget in {100 * self.met:.0f}% of rounds (one crop {self.crop_ms:.1f} ms, "
                f"detector {self.detect_ms:.1f} ms)")


@dataclass
class BudgetRound:
    """One round between :meth:`FrameBudget.prepare` and :meth:`FrameBudget.finish`."""

    streams: list[int]
    prepared: object  # the estimator's PreparedCrops of the chosen people
    chosen: list[list[int]]  # per frame, the indices (into that stream's people) posed fresh
    detected: list[bool]


class FrameBudget:
    """Keeps each round's model work within ``budget_ms`` (see the module docstring).

    Args:
        budget_ms: the budget of one round (one frame of each stream), ms; > 0.
        max_age: the most frames a pose is carried (1: every pose fresh); >= 1.
        streams: how many streams share the budget.
        costs: the cost model (a new one, measured as the rounds run, when None).

    Use per round, in order (the pipeline does)::

        work = budget.prepare(estimator, streams, images, timer)   # detector when needed, chosen crops
        results = budget.finish(estimator, work, timer)              # pose call, carried people, ages
    """

    def __init__(self, budget_ms: float, max_age: int = DEFAULT_MAX_AGE, streams: int = 1,
                 costs: CostModel | None = None) -> None:
        if not float(budget_ms) > 0:
            raise ValueError(f"budget_ms={budget_ms!r} must be more than 0.")
        if int(max_age) < 1:
            raise ValueError(f"max_age={max_age!r} must be at least 1.")
        self.budget_ms = float(budget_ms)
        self.max_age = int(max_age)
        self.costs = costs or CostModel()
        self.states = [_StreamState() for _ in range(int(streams))]
        self.fresh = self.carried = self.detector_calls = self.frames = 0
        self._frame_ms: deque[float] = deque(maxlen=10_000)
        self._warned = False

    def reset(self, stream: int) -> None:
        """Forget a stream's people (after a seek): its next frame is detected and posed in full."""
        self.states[stream] = _StreamState()

    # ------------------------------------------------------------------ planning
    def _all_fits(self, streams: list[int]) -> bool:
        """Whether the detector on every frame and a fresh pose for everybody fit in :data:`FULL_SLACK` × the
        budget (a round that complete is done complete: the output of a run without a budget)."""
        if not self.costs.measured:
            return True
        people = sum(len(self.states[s].people) for s in streams)
        return self.costs.detect(len(streams)) + self.costs.pose(people) <= FULL_SLACK * self.budget_ms

    def detect_due(self, streams: list[int]) -> list[bool]:
        """Per frame of the round (stream ``streams[k]``), whether the detector runs on it: on every frame when the
        whole round fits; else where the tracks need it (:meth:`_StreamState.needs_detection`), or everywhere when
        the detector and the crops the frames need anyway (one ``max_age``-th of the people) fit in the budget
        (one detector call refreshes every box, for about the cost of a crop or two)."""
        if self._all_fits(streams):
            return [True] * len(streams)
        needed = [self.states[s].needs_detection(self.max_age) is not None for s in streams]
        least = sum(math.ceil(len(self.states[s].people) / self.max_age) for s in streams)
        if self.costs.detect(len(streams)) + self.costs.pose(least) <= self.budget_ms:
            return [True] * len(streams)
        return needed

    def plan(self, streams: list[int], images: list[np.ndarray], detections: list[Detections | None]
             ) -> tuple[list[list[int]], list[np.ndarray], list[np.ndarray]]:
        """Match the detections to the people, predict the others, choose who is posed fresh.

        ``detections[k]``: the detector's boxes for frame ``k`` (stream ``streams[k]``) or None where it did
        not run. Returns per frame the chosen people's indices, their boxes ``(n, 4)`` and scores ``(n,)``.
        """
        forced, optional = [], []
        full = self._all_fits(streams) and all(d is not None for d in detections)
        for k, (s, image) in enumerate(zip(streams, images)):
            state = self.states[s]
            state.image_wh = (image.shape[1], image.shape[0])
            for person in state.people:
                person.predict()
            if detections[k] is not None:
                state.since_detection, state.distrust = 0, None
                self._match(state, detections[k], keep_missed=not full)
            else:
                state.since_detection += 1
            new = [i for i, p in enumerate(state.people) if p.fresh is None]
            old = [i for i, p in enumerate(state.people) if p.fresh is not None]
            # oldest first: those at max_age, then enough others that everyone's turn comes round evenly
            old.sort(key=lambda i, st=state: (-st.people[i].age, -st.people[i].priority(self.max_age)))
            quota = max(math.ceil(len(old) / self.max_age),
                        sum(state.people[i].age + 1 >= self.max_age for i in old))
            rest = sorted(old[quota:], key=lambda i, st=state: -st.people[i].priority(self.max_age))
            forced.append(new + old[:quota])
            optional.append(rest)
        detect_ms = self.costs.detect(sum(d is not None for d in detections))
        room = self.costs.pose.most_within(self.budget_ms - detect_ms) - sum(len(m) for m in forced)
        chosen = [list(m) for m in forced]
        if full:
            room = sum(len(o) for o in optional)
        while room > 0 and any(optional):  # the streams in turn: the one with the fewest chosen goes first
            k = min((k for k in range(len(streams)) if optional[k]), key=lambda k: (len(chosen[k]), k))
            chosen[k].append(optional[k].pop(0))
            room -= 1
        boxes, scores = [], []
        for k, s in enumerate(streams):
            chosen[k].sort()
            people = self.states[s].people
            boxes.append(np.array([people[i].box for i in chosen[k]], np.float32).reshape(-1, 4))
            scores.append(np.array([people[i].score for i in chosen[k]], np.float32))
        return chosen, boxes, scores

    def _match(self, state: _StreamState, detections: Detections, keep_missed: bool) -> None:
        """Detections continue the people whose predicted boxes they overlap; the others are new people.

        A person no detection continues has left, or the detector missed them: with ``keep_missed`` one who
        is away from the border and was found by the detection before is kept (carried) and the next frame
        is detected again, so that a single miss does not lose them until the next detection; else dropped.
        """
        boxes = np.asarray(detections.boxes, np.float64).reshape(-1, 4)
        pairs = assign(box_iou(np.array([p.box for p in state.people]).reshape(-1, 4), boxes), MATCH_IOU) \
            if state.people and len(boxes) else []
        people = []
        continued = {c: r for r, c in pairs}
        for j, box in enumerate(boxes):
            if j in continued:
                person = state.people[continued[j]]
                person.observe(box)
                person.score = float(detections.scores[j])
            else:
                person = _Person(box=box.copy(), score=float(detections.scores[j]))
                person.observe(box)
            people.append(person)
        matched = {r for r, _ in pairs}
        w, h = state.image_wh
        margin = BORDER * min(w, h)
        for r, person in enumerate(state.people):
            if r in matched:
                person.missed = False
            elif keep_missed and not person.missed and person.fresh is not None and margin < person.box[0] and \
                    margin < person.box[1] and person.box[2] < w - 1 - margin and person.box[3] < h - 1 - margin:
                person.missed = True
                people.append(person)
                state.distrust = "a person was not detected"
        state.people = people

    # ------------------------------------------------------------------ the round
    def prepare(self, estimator, streams: list[int], images: list[np.ndarray], timer):
        """The detector where needed (stage ``detect``), the choice of people (stage ``schedule``) and their crops
        (the estimator's ``prepare``, stage ``crop``). Returns a :class:`BudgetRound` for :meth:`finish`."""
        detector = estimator.detector
        with timer.stage("schedule"):
            due = [k for k, wanted in enumerate(self.detect_due(streams)) if wanted]
        detections: list[Detections | None] = [None] * len(streams)
        if due:
            with timer.stage("detect"):
                batch_call = getattr(detector, "detect_batch", None)
                found = (batch_call([images[k] for k in due]) if batch_call is not None
                         else [detector(images[k]) for k in due])
            for k, d in zip(due, found):
                detections[k] = d
        with timer.stage("schedule"):
            chosen, boxes, scores = self.plan(streams, images, detections)
        prepared = estimator.prepare(images, boxes, scores, timer=timer)
        return BudgetRound(streams, prepared, chosen, [d is not None for d in detections])

    def finish(self, estimator, work: BudgetRound, timer) -> list[PoseResult]:
        """The pose call on the chosen people (the estimator's ``finish``), then every frame's people: fresh
        ones with their new keypoints, the others carried; ``ages`` set. Measures the round's costs."""
        fresh_results = estimator.finish(work.prepared, timer=timer)
        frame = getattr(timer, "frame", None)
        if frame is not None:
            self._measure(frame, sum(len(c) for c in work.chosen), sum(work.detected))
        results = []
        for s, chosen, result in zip(work.streams, work.chosen, fresh_results):
            results.append(self._complete(self.states[s], chosen, result, estimator.keypoint_set))
        self.detector_calls += sum(work.detected)
        self.frames += len(work.streams)
        return results

    def _measure(self, frame: dict[str, float], crops: int, detected: int) -> None:
        if crops:
            self.costs.pose.observe(crops, sum(frame.get(name, 0.0) for name in POSE_STAGES))
        if detected and "detect" in frame:
            self.costs.detect.observe(detected, frame["detect"])
        self._frame_ms.append(sum(frame.get(name, 0.0) for name in ("detect", "schedule", *POSE_STAGES)))
        if not self._warned and self.costs.pose.samples >= WARN_AFTER and self.costs.pose(1) > self.budget_ms:
            self._warned = True
            warn(f"budget_ms={self.budget_ms:g} is less than one person's pose costs here (measured "
                 f"{self.costs.pose(1):.0f} ms): frames will take longer, and only new people and those reaching "
                 f"max_age={self.max_age} get a fresh pose.")

    def _complete(self, state: _StreamState, chosen: list[int], result: PoseResult, keypoint_set) -> PoseResult:
        """This frame's people: the chosen ones' fresh keypoints, the others' carried ones."""
        people = state.people
        k = keypoint_set.num_keypoints
        keypoints = np.zeros((len(people), k, 3), np.float32)
        ages = np.zeros(len(people), np.int64)
        fresh_rows = dict(zip(chosen, range(len(chosen))))
        for i, person in enumerate(people):
            if i in fresh_rows:
                keypoints[i] = result.keypoints[fresh_rows[i]]
                self._refresh(state, person, keypoints[i])
                self.fresh += 1
            else:
                person.age += 1
                keypoints[i] = person.carried()
                ages[i] = person.age
                self.carried += 1
        boxes = np.array([p.box for p in people], np.float32).reshape(-1, 4)
        scores = np.array([p.score for p in people], np.float32)
        return PoseResult(boxes, scores, keypoints, keypoint_set, ages=ages)

    def _refresh(self, state: _StreamState, person: _Person, kpts: np.ndarray) -> None:
        """A fresh pose for ``person``: checked against the carried one; between detections it corrects the
        track's box (the shift and scale from the carried pose's keypoint box to the fresh one's)."""
        between = bool(state.since_detection)
        new_box, valid = boxes_from_keypoints(kpts[None], state.image_wh)
        if not valid[0]:
            if between:
                state.distrust = "a fresh pose has too few keypoints for a box"
        elif person.fresh is not None:
            old_box, old_valid = boxes_from_keypoints(person.carried()[None], state.image_wh)
            if old_valid[0]:
                if box_iou(new_box, old_box)[0, 0] < DRIFT_IOU:
                    state.distrust = "a track drifted from its keypoints"
                if between:
                    corners = np.array([[*person.box[:2], 1.0], [*person.box[2:], 1.0]], np.float32)
                    person.observe(carry_keypoints(corners, old_box[0], new_box[0])[:, :2].reshape(4))
            if float(kpts[:, 2].mean()) < CONFIDENCE_DROP * float(person.fresh[:, 2].mean()):
                state.distrust = "a pose's confidence dropped"
        person.fresh_box = person.box.copy()
        person.fresh = np.array(kpts, np.float32, copy=True)
        person.age = 0

    def stats(self) -> BudgetStats:
        """The run's figures so far."""
        frame_ms = np.asarray(self._frame_ms, np.float64)
        a, b = self.costs.pose.coefficients
        return BudgetStats(
            budget_ms=self.budget_ms, max_age=self.max_age, frames=self.frames, fresh=self.fresh,
            carried=self.carried, detector_calls=self.detector_calls,
            frame_p50_ms=float(np.percentile(frame_ms, 50)) if len(frame_ms) else 0.0,
            frame_p95_ms=float(np.percentile(frame_ms, 95)) if len(frame_ms) else 0.0,
            met=float((frame_ms <= self.budget_ms).mean()) if len(frame_ms) else 0.0,
            crop_ms=b, detect_ms=self.costs.detect(1),
        )


__all__ = ["BudgetRound", "BudgetStats", "CostModel", "DEFAULT_MAX_AGE", "FrameBudget", "LinearCost",
           "carry_keypoints"]
