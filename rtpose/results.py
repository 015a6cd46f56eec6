"""What rtpose gives back for one frame: :class:`PoseResult`, all people as arrays.

The pose model computes every person of a frame in one batch, and the result keeps them that way:
``boxes`` ``(N, 4)``, ``scores`` ``(N,)``, ``keypoints`` ``(N, K, 3)`` and ``track_ids`` ``(N,)``, all in
image pixels. Tracking, smoothing, detect-every-N, drawing, the JSON writers and evaluation read these
arrays. ``len(result)``, iteration and ``result[i]`` give a per-person view (:class:`Person`) for code
that prefers one person at a time; ``result[mask]`` or ``result[[0, 2]]`` is a smaller result.

Coordinates: (x, y) in pixels of the source image, x to the right, y down, origin at the top-left
corner of the top-left pixel; boxes are (x1, y1, x2, y2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from rtpose.pose.keypoint_sets import DEFAULT_KEYPOINT_SET, KeypointSet, get_keypoint_set, keypoint_set_for


@dataclass(frozen=True)
class Person:
    """One person of a :class:`PoseResult` (a view: the arrays are the result's rows).

    Attributes:
        box: float32 ``(4,)`` (x1, y1, x2, y2) in image pixels.
        score: detection confidence (1.0 for given boxes).
        keypoints: float32 ``(K, 3)`` rows of (x, y, score) in the keypoint set's order, image pixels.
        track_id: identity across frames when tracking is on, else None.
        keypoint_set: the :class:`~rtpose.pose.keypoint_sets.KeypointSet` the keypoints follow (None: the set
            with K keypoints, COCO for 17).
        age: frames since the keypoints were computed (0: fresh; more: carried forward under a frame budget).
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    track_id: int | None = None
    keypoint_set: KeypointSet | None = None
    age: int = 0

    @property
    def pose_score(self) -> float:
        """Mean keypoint score (the usual top-down instance score is this times the box score)."""
        return float(self.keypoints[:, 2].mean()) if len(self.keypoints) else 0.0

    def to_dict(self) -> dict:
        """JSON-ready: ``box`` [x1, y1, x2, y2], ``score``, ``keypoints`` [[x, y, score] × K], ``track_id``|None,
        ``age``."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)] for x, y, s in self.keypoints],
            "track_id": None if self.track_id is None else int(self.track_id),
            "age": int(self.age),
        }


def _empty_keypoints(keypoint_set: KeypointSet) -> np.ndarray:
    return np.zeros((0, keypoint_set.num_keypoints, 3), np.float32)


@dataclass
class PoseResult:
    """The people of one frame, as arrays (see the module docstring for coordinates).

    Attributes:
        boxes: float32 ``(N, 4)`` (x1, y1, x2, y2).
        scores: float32 ``(N,)`` detection scores.
        keypoints: float32 ``(N, K, 3)`` (x, y, score), in :attr:`keypoint_set` order.
        keypoint_set: names, skeleton links, flip pairs and OKS sigmas of the ``K`` keypoints.
        track_ids: int64 ``(N,)`` identities across frames (-1: a low-score person that continues no
            track) when a tracker ran, else None.
        raw_keypoints: ``(N, K, 3)`` before smoothing, when a smoothing tracker ran, else None.
        frame: the :class:`~rtpose.io.sources.Frame` the people were found in (its image is never drawn
            on), or None for a bare image given to the model.
        timings_ms: this frame's stage times in ms (capture, queue, detect, crop, pose, decode, track).
        latency_ms: how old the frame's information is when its result is ready, in ms.
        fps: recent processing rate (results per second over the last ~30 frames).
        dropped: frames dropped so far by the stream (live sources keep only the newest frame).
        origin: the :func:`rtpose.utils.timing.now` time latency counts from.
        stream: the index of the frame's source when a model runs on several (0 for one).
        masks: bool ``(N, H, W)`` each person's pixels, when the model segments (``seg=``), else None.
        person_mask: float32 ``(H, W)`` the probability that a pixel is a person (``seg="person"``), else None.
        parts: uint8 ``(H, W)`` body-part class of every pixel (``seg="parts"``; 0 background), else None.
        seg_classes: the :class:`~rtpose.seg.classes.SegClassSet` of ``parts`` / the segmentation model.
        ages: int64 ``(N,)`` frames since each person's keypoints were computed (0: fresh; more: carried forward
            with their box under a frame budget, :mod:`rtpose.pose.budget`); None: all fresh.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    keypoint_set: KeypointSet = field(default_factory=lambda: get_keypoint_set(DEFAULT_KEYPOINT_SET))
    track_ids: np.ndarray | None = None
    raw_keypoints: np.ndarray | None = None
    frame: object | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    fps: float = 0.0
    dropped: int = 0
    origin: float | None = None
    stream: int = 0
    masks: np.ndarray | None = None
    person_mask: np.ndarray | None = None
    parts: np.ndarray | None = None
    seg_classes: object | None = None
    ages: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        k = self.keypoint_set.num_keypoints
        keypoints = np.asarray(self.keypoints, np.float32)
        if keypoints.size and (keypoints.ndim != 3 or keypoints.shape[1:] != (k, 3)):
            raise ValueError(f"keypoints of shape {keypoints.shape} do not fit the keypoint set "
                             f"{self.keypoint_set.name}, which has {k} keypoints: (N, {k}, 3) expected")
        self.keypoints = keypoints.reshape(-1, k, 3)
        n = len(self.boxes)
        if len(self.scores) != n or len(self.keypoints) != n:
            raise ValueError(f"a PoseResult needs as many scores and keypoint rows as boxes ({n}), got "
                             f"{len(self.scores)} scores and {len(self.keypoints)} keypoint rows")
        if self.track_ids is not None:
            self.track_ids = np.asarray(self.track_ids, np.int64).reshape(-1)
            if len(self.track_ids) != n:
                raise ValueError(f"a PoseResult needs one track id per person ({n}), got {len(self.track_ids)}")
        if self.ages is not None:
            self.ages = np.asarray(self.ages, np.int64).reshape(-1)
            if len(self.ages) != n:
                raise ValueError(f"a PoseResult needs one age per person ({n}), got {len(self.ages)}")

    @classmethod
    def empty(cls, keypoint_set: KeypointSet | str | None = None, **fields) -> PoseResult:
        """A result with no people."""
        kset = get_keypoint_set(keypoint_set or DEFAULT_KEYPOINT_SET)
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), _empty_keypoints(kset), kset, **fields)

    @classmethod
    def from_people(cls, people: Sequence[Person], keypoint_set: KeypointSet | str | None = None,
                    **fields) -> PoseResult:
        """A result made of per-person views (e.g. a filtered ``[p for p in result if …]``)."""
        if keypoint_set is not None:
            kset = get_keypoint_set(keypoint_set)
        elif people and people[0].keypoint_set is not None:
            kset = people[0].keypoint_set
        else:
            kset = keypoint_set_for(len(people[0].keypoints)) if people else get_keypoint_set(DEFAULT_KEYPOINT_SET)
        if not people:
            return cls.empty(kset, **fields)
        ids = [p.track_id for p in people]
        track_ids = None if all(i is None for i in ids) else np.array([-1 if i is None else i for i in ids])
        ages = np.array([p.age for p in people]) if any(p.age for p in people) else None
        return cls(np.stack([p.box for p in people]), np.array([p.score for p in people]),
                   np.stack([p.keypoints for p in people]), kset, track_ids=track_ids, ages=ages, **fields)

    # ------------------------------------------------------------------ per-person views
    def __len__(self) -> int:
        return len(self.boxes)

    def __iter__(self) -> Iterator[Person]:
        return (self._person(i) for i in range(len(self)))

    def __getitem__(self, index):
        """``result[i]``: a :class:`Person`; ``result[mask]``, ``result[[i, j]]``, ``result[a:b]``: a PoseResult."""
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"person {i} of a result with {len(self)} people")
            return self._person(i % len(self))
        rows = np.arange(len(self))[index]
        return self.replace(
            boxes=self.boxes[rows], scores=self.scores[rows], keypoints=self.keypoints[rows],
            track_ids=None if self.track_ids is None else self.track_ids[rows],
            raw_keypoints=None if self.raw_keypoints is None else self.raw_keypoints[rows],
            masks=None if self.masks is None else self.masks[rows],
            ages=None if self.ages is None else self.ages[rows],
        )

    def _person(self, i: int) -> Person:
        track_id = None
        if self.track_ids is not None and self.track_ids[i] >= 0:
            track_id = int(self.track_ids[i])
        age = 0 if self.ages is None else int(self.ages[i])
        return Person(self.boxes[i], float(self.scores[i]), self.keypoints[i], track_id, self.keypoint_set, age)

    def replace(self, **changes) -> PoseResult:
        """A copy with some fields changed (arrays are shared, not copied)."""
        return dataclasses.replace(self, **changes)

    def track_id_list(self) -> list[int | None]:
        """Each person's track id, None where there is none."""
        if self.track_ids is None:
            return [None] * len(self)
        return [int(i) if i >= 0 else None for i in self.track_ids]

    # ------------------------------------------------------------------ frame facts
    @property
    def image(self) -> np.ndarray | None:
        """The frame's BGR image ``(H, W, 3)`` uint8 (not drawn on), or None."""
        return None if self.frame is None else self.frame.image

    @property
    def index(self) -> int:
        """The frame's index in its source (0 for a bare image)."""
        return 0 if self.frame is None else int(self.frame.index)

    @property
    def file(self) -> str | None:
        """The image's file name for folders and single images, else None."""
        return None if self.frame is None else self.frame.file

    @property
    def timestamp(self) -> float | None:
        """As in the JSON: media time in s for files, Unix time of the capture for live sources, None for photos."""
        frame = self.frame
        if frame is None:
            return None
        if frame.media_time is not None:
            return float(frame.media_time)
        return float(frame.wall_time) if frame.file is None else None

    @property
    def latency_origin(self) -> float | None:
        """:attr:`origin`, or the frame's capture time when none was recorded."""
        if self.origin is not None:
            return self.origin
        return None if self.frame is None else self.frame.timestamp

    # ------------------------------------------------------------------ views
    def to_dict(self) -> dict:
        """One frame record of the ``rtpose.poses`` JSON schema: ``stream``, ``frame``, ``timestamp``, ``file``,
        ``people``."""
        timestamp = self.timestamp
        return {
            "stream": int(self.stream),
            "frame": self.index,
            "timestamp": None if timestamp is None else round(timestamp, 6),
            "file": self.file,
            "people": self._people_records(),
        }

    def _people_records(self) -> list[dict]:
        records = [p.to_dict() for p in self]
        if self.masks is not None and len(records):
            from rtpose.seg.masks import encode_rles

            for record, rle in zip(records, encode_rles(self.masks)):
                record["mask"] = rle
            if self.parts is not None and self.seg_classes is not None:
                names = self.seg_classes.class_names
                for record, mask in zip(records, self.masks):
                    labels = np.where(mask, self.parts, 0)
                    present = [c for c in np.unique(labels) if mask.any() and c != self.seg_classes.background]
                    record["parts"] = {names[c]: encode_rles((labels == c)[None])[0] for c in present}
        return records

    def plot(
        self,
        image: np.ndarray | None = None,
        *,
        kpt_thr: float = 0.3,
        boxes: bool = True,
        keypoints: bool = True,
        ids: bool = True,
        parts: Iterable[str] | None = None,
        masks: bool = True,
        copy: bool = True,
    ) -> np.ndarray:
        """The people drawn on ``image`` (default: a copy of the frame's image); see
        :func:`rtpose.io.render.draw_result`."""
        from rtpose.io.render import draw_result

        if image is None:
            if self.image is None:
                raise ValueError("this result has no frame image: pass image= to plot()")
            image = self.image
        return draw_result(image, self, kpt_thr=kpt_thr, show_boxes=boxes, show_keypoints=keypoints, show_ids=ids,
                           parts=parts, show_masks=masks, copy=copy)

    def __repr__(self) -> str:
        where = f"frame {self.index}" if self.frame is not None else "image"
        where = f"stream {self.stream} {where}" if self.stream else where
        tracked = ", tracked" if self.track_ids is not None else ""
        return f"PoseResult({where}: {len(self)} people, {self.keypoint_set.name} keypoints{tracked})"


__all__ = ["Person", "PoseResult"]
