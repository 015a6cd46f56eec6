"""Stable identities across frames: a small IoU(+OKS) tracker with Hungarian matching, plus One-Euro smoothing.

Why our own tracker and not Ultralytics' ByteTrack / BoT-SORT (``ultralytics.trackers``):

* Measured on ``one-by-one-person.mp4`` (6 people cross one at a time, 1394 frames at 10 fps) with the same
  YOLOv8n-person detections (``benchmarks/tracking.py`` runs all three): ours gives 6 IDs and 0 ID switches at
  10 fps, 6 / 0 at 5 and 3.3 fps (every 2nd / 3rd frame) and 7 / 1 at 2.5 fps; ByteTrack 8 / 2 at 10 fps,
  6 / 0 at 5 and 3.3 fps, 8 / 2 at 2.5 fps; BoT-SORT (no camera-motion compensation, no ReID) 6 / 0 at 10 fps.
  All cost well under 1 ms per frame.
* Ultralytics' trackers need the ``lap`` package, which is not among our dependencies (Ultralytics tries to
  pip-install it at run time, which fails offline).
* ByteTrack only reports *confirmed* tracks: a person seen for the first time gets no ID in that frame (15-20
  detections of the video stay unlabelled), and every person we return would need mapping back from its rows;
  its input is an Ultralytics ``Boxes``-like object (``conf``, ``cls``, ``xywh``, boolean indexing) whose
  interface has changed between Ultralytics releases (8.1 → 8.4), which our ``ultralytics>=8.1`` pin would
  expose us to. BoT-SORT adds camera-motion compensation (sparse optical flow on the full frame, several ms
  on the CPU) that a fixed camera does not need, and ReID that we have no model for.
* Neither can use the keypoints. Ours adds OKS (object keypoint similarity) to IoU when both the track and the
  detection have confident keypoints, which separates two people whose boxes overlap as they cross.

The tracker: each track keeps its last box, a box velocity (pixels/s, exponentially averaged) and its last
keypoints. Per frame, tracks are predicted forward with constant velocity to the frame's timestamp, the
similarity ``(1 - w) * IoU + w * OKS`` (IoU alone when keypoints are missing) between predicted tracks and
detections is computed, and detections are assigned by the Hungarian method
(:func:`scipy.optimize.linear_sum_assignment`, a dependency of Ultralytics) with a gate ``min_similarity``;
tracks seen in the previous frame win over tracks already lost (a small penalty per lost frame). Unmatched
detections with a score of at least ``new_track_score`` start a new track with a fresh ID (IDs are positive,
increasing and never reused); lower-scoring unmatched detections get ``track_id = None``. A track that is not
matched for more than ``max_lost`` consecutive frames ends.

Smoothing: each track owns a :class:`~rtpose.tracking.smoothing.OneEuroFilter` over its K keypoints (speeds in box
heights per second). Keypoints below ``kpt_thr`` do not update it. The filter is new when a track starts,
is dropped when it ends, and restarts when a lost track is matched again (the detection may be someone
else's, and a stale state would drag the keypoints across the image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import numpy as np

from rtpose.errors import InputError
from rtpose.pose.keypoint_sets import COCO, KeypointSet, get_keypoint_set, keypoint_set_for
from rtpose.results import PoseResult

try:
    from scipy.optimize import linear_sum_assignment
except ImportError:  # pragma: no cover - scipy comes with ultralytics
    linear_sum_assignment = None
from rtpose.tracking.smoothing import OneEuroFilter, OneEuroParams

#: COCO keypoint sigmas (OKS), COCO order (other sets: :attr:`rtpose.pose.keypoint_sets.KeypointSet.oks_sigmas`).
COCO_SIGMAS = COCO.oks_sigmas


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas ``(N, M)`` of (x1, y1, x2, y2) boxes, and the areas ``(N,)``, ``(M,)``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    return inter, np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1), np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(N, M)`` of boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)`` in (x1, y1, x2, y2)."""
    inter, area_a, area_b = _intersections(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_containment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area, ``(N, M)``: 1 when one box lies inside the other."""
    inter, area_a, area_b = _intersections(a, b)
    smaller = np.minimum(area_a[:, None], area_b[None, :])
    return np.where(smaller > 0, inter / np.maximum(smaller, 1e-12), 0.0)


def keypoint_oks(
    a_xy: np.ndarray, a_ok: np.ndarray, b_xy: np.ndarray, b_ok: np.ndarray, area: float,
    sigmas: np.ndarray | None = None,
) -> float:
    """OKS of two ``(K, 2)`` keypoint sets over the keypoints valid in both; ``area`` in pixels² sets the scale.

    ``sigmas`` ``(K,)`` are the keypoint set's OKS sigmas; None takes those of the set with K keypoints.
    """
    if sigmas is None:
        sigmas = keypoint_set_for(len(a_xy)).oks_sigmas
    both = a_ok & b_ok
    if not both.any():
        return 0.0
    d2 = ((a_xy[both] - b_xy[both]) ** 2).sum(-1)
    var = (2 * np.asarray(sigmas, np.float64)[both]) ** 2
    return float(np.exp(-d2 / (2 * max(area, 1.0) * var)).mean())


@dataclass
class Track:
    """One identity: its last observed box, velocity, keypoints and filter."""

    track_id: int
    box: np.ndarray  # (4,) last observed box
    timestamp: float  # time of the last observation
    keypoints: np.ndarray  # (K, 3) last keypoints as returned (smoothed when smoothing is on)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box corners, pixels / s
    lost: int = 0  # consecutive frames without a match
    hits: int = 1  # frames matched in all
    age: int = 1  # frames since the track started
    filter: OneEuroFilter | None = None

    def predict(self, timestamp: float, max_horizon: float) -> np.ndarray:
        """The box at ``timestamp``: centre and size moved at constant velocity for at most ``max_horizon`` s,
        the size kept within 0.5-2x of the last one (a box clipped by the frame border changes size fast)."""
        dt = float(np.clip(timestamp - self.timestamp, 0.0, max_horizon))
        centre = (self.box[:2] + self.box[2:]) / 2 + (self.velocity[:2] + self.velocity[2:]) / 2 * dt
        size = self.box[2:] - self.box[:2]
        size = np.clip(size + (self.velocity[2:] - self.velocity[:2]) * dt, 0.5 * size, 2.0 * size)
        return np.concatenate([centre - size / 2, centre + size / 2])


class PoseTracker:
    """Gives people stable track IDs across frames and (optionally) smooths their keypoints.

    Args:
        max_lost: frames a track may go unmatched and still get its ID back (e.g. a short occlusion).
        smooth: One-Euro filter the keypoints of each track.
        smoothing: the filter's parameters (default :class:`OneEuroParams`).
        kpt_thr: keypoints below this score neither count for OKS nor update the filter.
        min_similarity: least similarity (IoU, or IoU/OKS mix) for a detection to continue a track.
        min_containment: second pass over the tracks and detections left unmatched: least intersection over
            the smaller box (a person half-visible at the frame border whose box grows or shrinks a lot between
            frames); above 1 disables the pass.
        oks_weight: weight of OKS in the similarity when both sides have ``min_keypoints`` confident keypoints.
        min_keypoints: confident keypoints needed on both sides for OKS to be used.
        new_track_score: least detection score to start a new track (lower ones may only continue tracks).
        lost_penalty: similarity taken off per frame a track has been lost (recent tracks win ties).
        velocity_momentum: weight of the previous velocity in its exponential average (0 = last step only).
        max_predict_s: longest extrapolation of a lost track's box, seconds.
        keypoint_set: the set of the keypoints (its OKS sigmas are used); None takes each result's own.

    ``update(result)`` returns a new :class:`~rtpose.results.PoseResult` with the same people in the same
    order: ``track_ids`` set (-1 for a low-score detection that continues no track) and, when smoothing,
    ``keypoints`` filtered (the estimator's are kept in ``raw_keypoints``). The given result is not changed.
    """

    def __init__(
        self,
        max_lost: int = 30,
        smooth: bool = True,
        smoothing: OneEuroParams | None = None,
        kpt_thr: float = 0.3,
        min_similarity: float = 0.2,
        min_containment: float = 0.5,
        oks_weight: float = 0.5,
        min_keypoints: int = 4,
        new_track_score: float = 0.4,
        lost_penalty: float = 0.01,
        velocity_momentum: float = 0.7,
        max_predict_s: float = 1.0,
        keypoint_set: KeypointSet | str | None = None,
    ) -> None:
        if max_lost < 0:
            raise InputError(f"max_lost={max_lost!r} must be 0 or more.")
        self.max_lost = int(max_lost)
        self.smooth = bool(smooth)
        self.smoothing = smoothing or OneEuroParams()
        self.kpt_thr = float(kpt_thr)
        self.min_similarity = float(min_similarity)
        self.min_containment = float(min_containment)
        self.oks_weight = float(oks_weight)
        self.min_keypoints = int(min_keypoints)
        self.new_track_score = float(new_track_score)
        self.lost_penalty = float(lost_penalty)
        self.velocity_momentum = float(velocity_momentum)
        self.max_predict_s = float(max_predict_s)
        self.keypoint_set = get_keypoint_set(keypoint_set) if keypoint_set is not None else None
        self._ids = count(1)
        self.tracks: list[Track] = []
        self._last_t: float | None = None
        self._dt = 1.0 / 30

    def reset(self) -> None:
        """End all tracks (their IDs are not reused: IDs keep increasing over the tracker's life)."""
        self.tracks = []
        self._last_t = None

    @property
    def active_ids(self) -> list[int]:
        """IDs of the tracks matched in the latest frame."""
        return [t.track_id for t in self.tracks if t.lost == 0]

    def _frame_time(self, timestamp: float) -> float:
        """A strictly increasing time for this frame (repeated or missing timestamps advance by the last step)."""
        t = float(timestamp) if timestamp is not None and np.isfinite(timestamp) else None
        if self._last_t is None:
            t = 0.0 if t is None else t
        elif t is None or t <= self._last_t:
            t = self._last_t + self._dt
        else:
            self._dt = min(t - self._last_t, 1.0)
        self._last_t = t
        return t

    def _similarity(self, boxes: np.ndarray, keypoints: np.ndarray, sigmas: np.ndarray, t: float) -> np.ndarray:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        pred = np.array([tr.predict(t, self.max_predict_s) for tr in self.tracks]).reshape(-1, 4)
        sim = box_iou(pred, boxes)
        if self.oks_weight > 0:
            for i, tr in enumerate(self.tracks):
                t_ok = tr.keypoints[:, 2] >= self.kpt_thr
                if t_ok.sum() < self.min_keypoints or len(tr.keypoints) != keypoints.shape[1]:
                    continue
                shift = (pred[i, :2] + pred[i, 2:] - tr.box[:2] - tr.box[2:]) / 2  # predicted centre motion
                t_xy = tr.keypoints[:, :2] + shift
                for j, kp in enumerate(keypoints):
                    if sim[i, j] <= 0:
                        continue
                    p_ok = kp[:, 2] >= self.kpt_thr
                    if (p_ok & t_ok).sum() < self.min_keypoints:
                        continue
                    area = float(np.prod(np.clip(boxes[j, 2:] - boxes[j, :2], 1, None)))
                    oks = keypoint_oks(t_xy, t_ok, kp[:, :2], p_ok, area, sigmas)
                    sim[i, j] = (1 - self.oks_weight) * sim[i, j] + self.oks_weight * oks
        lost = np.array([tr.lost for tr in self.tracks], np.float64).reshape(-1, 1)
        return sim - self.lost_penalty * lost

    def _sigmas(self, result: PoseResult) -> np.ndarray:
        """OKS sigmas ``(K,)``: the tracker's set when it has K keypoints, else the result's own."""
        k = result.keypoints.shape[1]
        if self.keypoint_set is not None and self.keypoint_set.num_keypoints == k:
            return self.keypoint_set.oks_sigmas
        return result.keypoint_set.oks_sigmas

    def _containment(self, boxes: np.ndarray, t: float) -> np.ndarray:
        """Containment of each detection with each track's predicted or last box, whichever is higher."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        pred = np.array([tr.predict(t, self.max_predict_s) for tr in self.tracks]).reshape(-1, 4)
        last = np.array([tr.box for tr in self.tracks]).reshape(-1, 4)
        lost = np.array([tr.lost for tr in self.tracks], np.float64).reshape(-1, 1)
        return np.maximum(box_containment(pred, boxes), box_containment(last, boxes)) - self.lost_penalty * lost

    def _associate(self, result: PoseResult, t: float) -> list[tuple[int, int]]:
        """(track, person) pairs: IoU(+OKS) first, then containment among what is left over."""
        if not self.tracks or not len(result):
            return []
        sim = self._similarity(result.boxes, result.keypoints, self._sigmas(result), t)
        matches = assign(sim, self.min_similarity)
        if self.min_containment <= 1.0:
            rows = [i for i in range(len(self.tracks)) if i not in {r for r, _ in matches}]
            cols = [j for j in range(len(result)) if j not in {c for _, c in matches}]
            if rows and cols:
                cont = self._containment(result.boxes, t)[np.ix_(rows, cols)]
                matches += [(rows[r], cols[c]) for r, c in assign(cont, self.min_containment)]
        return matches

    def update(self, result: PoseResult, timestamp: float | None = None) -> PoseResult:
        """Track IDs for (and smoothing of) the people of one frame captured at ``timestamp`` seconds.

        ``result``: a :class:`~rtpose.results.PoseResult` (or a list of :class:`~rtpose.results.Person`).

        ``timestamp`` defaults to the frame's clock (media time for files, capture time for live sources).
        """
        if not isinstance(result, PoseResult):  # a list of Person views
            result = PoseResult.from_people(list(result), self.keypoint_set)
        if timestamp is None:
            timestamp = result.frame.clock if result.frame is not None else None
        t = self._frame_time(timestamp)
        n = len(result)
        track_ids = np.full(n, -1, np.int64)
        keypoints = result.keypoints.copy()
        matches = self._associate(result, t)
        matched_tracks = {r for r, _ in matches}
        matched_people = {c for _, c in matches}
        for r, c in matches:
            track_ids[c] = self._continue(self.tracks[r], result.boxes[c], keypoints[c], t)
        for i, tr in enumerate(self.tracks):
            if i not in matched_tracks:
                tr.lost += 1
                tr.age += 1
        self.tracks = [tr for tr in self.tracks if tr.lost <= self.max_lost]
        for j in range(n):
            if j not in matched_people and result.scores[j] >= self.new_track_score:
                track = self._start(result.boxes[j], keypoints[j], t)
                self.tracks.append(track)
                track_ids[j] = track.track_id
        smoothed = self.smooth and n > 0
        return result.replace(track_ids=track_ids, keypoints=keypoints,
                              raw_keypoints=result.keypoints if smoothed else result.raw_keypoints)

    def _start(self, box: np.ndarray, keypoints: np.ndarray, t: float) -> Track:
        """A new track for a person; smooths ``keypoints`` ``(K, 3)`` in place."""
        track = Track(
            track_id=next(self._ids),
            box=np.asarray(box, np.float64).copy(),
            timestamp=t,
            keypoints=keypoints.copy(),
            filter=OneEuroFilter(self.smoothing) if self.smooth else None,
        )
        self._smooth(track, box, keypoints, t)
        return track

    def _continue(self, track: Track, box: np.ndarray, keypoints: np.ndarray, t: float) -> int:
        """Continue ``track`` with a person; smooths ``keypoints`` in place; returns the track id."""
        box = np.asarray(box, np.float64)
        dt = t - track.timestamp
        if dt > 0:
            step = (box - track.box) / dt
            m = self.velocity_momentum if track.hits > 1 else 0.0
            track.velocity = m * track.velocity + (1 - m) * step
        if track.lost > 0 and track.filter is not None:
            track.filter.reset()  # re-assigned after a loss: start smoothing afresh
        track.box = box.copy()
        track.timestamp = t
        track.lost = 0
        track.hits += 1
        track.age += 1
        self._smooth(track, box, keypoints, t)
        return track.track_id

    def _smooth(self, track: Track, box: np.ndarray, keypoints: np.ndarray, t: float) -> None:
        if track.filter is not None and keypoints.size:
            valid = keypoints[:, 2] >= self.kpt_thr
            height = float(max(box[3] - box[1], 1.0))
            keypoints[:, :2] = track.filter(keypoints[:, :2], t, valid=valid, scale=height)
        track.keypoints = keypoints.copy()


def assign(sim: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Maximum-similarity one-to-one pairs with similarity >= ``threshold`` (Hungarian method)."""
    if sim.size == 0:
        return []
    if linear_sum_assignment is None:  # pragma: no cover
        return _greedy_assignment(sim, threshold)
    rows, cols = linear_sum_assignment(-np.where(sim >= threshold, sim, -1.0))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if sim[r, c] >= threshold]


def _greedy_assignment(sim: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Highest-similarity-first matching (used only when scipy is missing)."""
    pairs = []
    sim = sim.copy()
    while sim.size and sim.max() >= threshold:
        r, c = np.unravel_index(np.argmax(sim), sim.shape)
        pairs.append((int(r), int(c)))
        sim[r, :] = -np.inf
        sim[:, c] = -np.inf
    return pairs


__all__ = ["COCO_SIGMAS", "PoseTracker", "Track", "assign", "box_containment", "box_iou", "keypoint_oks"]
