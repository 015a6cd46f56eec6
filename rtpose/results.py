"""What rtpose gives back for one frame: :class:`PoseResult`, made of three parts, one per kind of data.

- ``result.people`` (:class:`People`): the per-person arrays, row ``i`` of each is person ``i``: ``boxes``
  ``(N, 4)``, ``scores`` ``(N,)``, ``keypoints`` ``(N, K, 3)``, ``track_ids`` ``(N,)``, ``raw_keypoints``
  ``(N, K, 3)``, ``masks`` ``(N, H, W)``. Selecting people (``result[mask]``) selects every one of them.
- ``result.meta`` (:class:`FrameMeta`): the per-frame metadata: the source :class:`~rtpose.io.sources.Frame`
  (image, index, times, file), the stream it came from and what it cost (``timings_ms``, ``latency_ms``,
  ``fps``, ``dropped``).
- ``result.maps`` (:class:`PixelMaps`): the frame-sized pixel maps of segmentation: ``person_mask``
  ``(H, W)`` and ``part_map`` ``(H, W)`` with their ``seg_classes``.

Each field name belongs to one part and means one thing; ``result.boxes``, ``result.fps``,
``result.person_mask`` … are read-only shortcuts to it, and :meth:`PoseResult.replace` takes any of them.
``len(result)``, iteration and ``result[i]`` give a per-person view (:class:`Person`).

Coordinates: (x, y) in pixels of the source image, x to the right, y down, origin at the top-left
corner of the top-left pixel; boxes are (x1, y1, x2, y2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from rtpose.errors import RtposeError
from rtpose.io.inputs import InputError, describe
from rtpose.io.render import draw_result
from rtpose.io.sources import Frame
from rtpose.pose.keypoint_sets import DEFAULT_KEYPOINT_SET, KeypointSet, get_keypoint_set, keypoint_set_for
from rtpose.seg.classes import SegClassSet

#: The supervision class id of a person (COCO's class 0, as Ultralytics' detector gives it).
PERSON_CLASS_ID = 0


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


# ---------------------------------------------------------------------------------------------- the three parts
@dataclass(eq=False)
class People:
    """The per-person arrays of a frame: row ``i`` of every array is person ``i`` (``N`` people).

    Attributes:
        boxes: float32 ``(N, 4)`` (x1, y1, x2, y2).
        scores: float32 ``(N,)`` detection scores.
        keypoints: float32 ``(N, K, 3)`` (x, y, score), in :attr:`keypoint_set` order.
        keypoint_set: names, skeleton links, flip pairs and OKS sigmas of the ``K`` keypoints.
        track_ids: int64 ``(N,)`` identities across frames (-1: a low-score person that continues no
            track) when a tracker ran, else None.
        raw_keypoints: float32 ``(N, K, 3)`` before smoothing, when a smoothing tracker ran, else None.
        masks: bool ``(N, H, W)`` each person's pixels, when the model segments (``seg=``), else None.
        ages: int64 ``(N,)`` frames since each person's keypoints were computed (0: fresh; more: carried forward
            with their box under a frame budget, :mod:`rtpose.pose.budget`); None: all fresh.

    A new per-person array is one more optional field here and one entry in :data:`OPTIONAL_DTYPES`:
    checking its length, selecting people and :meth:`PoseResult.replace` then cover it.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    keypoint_set: KeypointSet = field(default_factory=lambda: get_keypoint_set(DEFAULT_KEYPOINT_SET))
    track_ids: np.ndarray | None = None
    raw_keypoints: np.ndarray | None = None
    masks: np.ndarray | None = None
    ages: np.ndarray | None = None

    #: The optional per-person arrays and their dtype (None: kept as given).
    OPTIONAL_DTYPES = {"track_ids": np.int64, "raw_keypoints": np.float32, "masks": bool, "ages": np.int64}

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        k = self.keypoint_set.num_keypoints
        keypoints = np.asarray(self.keypoints, np.float32)
        if keypoints.size and (keypoints.ndim != 3 or keypoints.shape[1:] != (k, 3)):
            raise InputError(f"keypoints of shape {keypoints.shape} do not fit the keypoint set "
                              f"{self.keypoint_set.name}, which has {k} keypoints: (N, {k}, 3) expected.")
        self.keypoints = keypoints.reshape(-1, k, 3)
        n = len(self.boxes)
        if len(self.scores) != n or len(self.keypoints) != n:
            raise InputError(f"people need as many scores and keypoint rows as boxes ({n}), got "
                              f"{len(self.scores)} scores and {len(self.keypoints)} keypoint rows.")
        for name, dtype in self.OPTIONAL_DTYPES.items():
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype)
            if name == "track_ids":
                value = value.reshape(-1)
            if len(value) != n:
                raise InputError(f"people need one row of {name} per person ({n}), got {len(value)}.")
            setattr(self, name, value)

    @classmethod
    def empty(cls, keypoint_set: KeypointSet | str | None = None) -> People:
        """No people, with the keypoints of ``keypoint_set`` (default COCO)."""
        kset = get_keypoint_set(keypoint_set or DEFAULT_KEYPOINT_SET)
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, kset.num_keypoints, 3), np.float32), kset)

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, rows: np.ndarray) -> People:
        """The people at ``rows`` (int indices), every per-person array alike."""
        picked = {name: None if getattr(self, name) is None else getattr(self, name)[rows]
                  for name in self.OPTIONAL_DTYPES}
        return People(self.boxes[rows], self.scores[rows], self.keypoints[rows], self.keypoint_set, **picked)

    def track_id_list(self) -> list[int | None]:
        """Each person's track id, None where there is none."""
        if self.track_ids is None:
            return [None] * len(self)
        return [int(i) if i >= 0 else None for i in self.track_ids]


@dataclass(eq=False)
class FrameMeta:
    """What is known of the frame itself: where it came from and what it cost.

    Attributes:
        frame: the :class:`~rtpose.io.sources.Frame` the people were found in (its image is never drawn
            on), or None for a result not made from a frame.
        stream: the index of the frame's source when a model runs on several (0 for one).
        timings_ms: this frame's stage times in ms (capture, queue, detect, crop, pose, decode, track, segment).
        latency_ms: how old the frame's information is when its result is ready, in ms.
        fps: recent processing rate (results per second over the last ~30 frames).
        dropped: frames dropped so far by the stream (live sources keep only the newest frame).
        origin: the :func:`rtpose.utils.timing.now` time latency counts from.
    """

    frame: Frame | None = None
    stream: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    fps: float = 0.0
    dropped: int = 0
    origin: float | None = None

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


@dataclass(eq=False)
class PixelMaps:
    """The frame-sized maps of segmentation (``seg=``), in the frame's pixels; None where the model made none.

    Attributes:
        person_mask: float32 ``(H, W)`` the probability that a pixel is a person (``seg="person"``).
        part_map: uint8 ``(H, W)`` the body-part class of every pixel (``seg="parts"``; 0 background).
        seg_classes: the :class:`~rtpose.seg.classes.SegClassSet` of the segmentation model (``part_map``'s
            classes and palette).
    """

    person_mask: np.ndarray | None = None
    part_map: np.ndarray | None = None
    seg_classes: SegClassSet | None = None


_PARTS = {"people": People, "meta": FrameMeta, "maps": PixelMaps}
#: Each field name and the part it belongs to (one meaning per name).
_OWNER = {f.name: part for part, kind in _PARTS.items() for f in dataclasses.fields(kind)}
#: Names that meant something else before the split: the name to use now.
_RENAMED = {"parts": "part_map"}


def _route(fields: dict, where: str) -> dict[str, dict]:
    """``{part: {name: value}}`` for keyword fields of any part; one sentence for a name no part has."""
    routed: dict[str, dict] = {part: {} for part in _PARTS}
    for name, value in fields.items():
        if name not in _OWNER:
            hint = f" (the body-part label map is now {_RENAMED[name]}=)" if name in _RENAMED else ""
            raise TypeError(f"{where} got an unknown field {name}={describe(value)}{hint}; "
                            f"its fields: {', '.join(sorted(_OWNER))}.")
        routed[_OWNER[name]][name] = value
    return routed


def _alias(part: str, name: str) -> property:
    def get(self: PoseResult):
        return getattr(getattr(self, part), name)

    get.__doc__ = f"``result.{part}.{name}`` (read-only; :meth:`PoseResult.replace` changes it)."
    return property(get)


# ---------------------------------------------------------------------------------------------- the result
class PoseResult:
    """The people of one frame (:attr:`people`), the frame's metadata (:attr:`meta`), its pixel maps (:attr:`maps`).

    ``PoseResult(boxes, scores, keypoints, keypoint_set, **fields)`` takes the per-person arrays and any
    field of the three parts by name (``track_ids=``, ``frame=``, ``fps=``, ``person_mask=`` …); see the
    module docstring for the parts and for coordinates.
    """

    __slots__ = ("meta", "maps", "people")

    def __init__(self, boxes, scores, keypoints, keypoint_set: KeypointSet | str | None = None, **fields) -> None:
        routed = _route(fields, "PoseResult()")
        kset = get_keypoint_set(keypoint_set or DEFAULT_KEYPOINT_SET)
        self.people = People(boxes, scores, keypoints, kset, **routed["people"])
        self.meta = FrameMeta(**routed["meta"])
        self.maps = PixelMaps(**routed["maps"])

    @classmethod
    def from_parts(cls, people: People, meta: FrameMeta | None = None, maps: PixelMaps | None = None) -> PoseResult:
        """A result of the three parts (shared, not copied)."""
        result = cls.__new__(cls)
        result.people, result.meta, result.maps = people, meta or FrameMeta(), maps or PixelMaps()
        return result

    @classmethod
    def empty(cls, keypoint_set: KeypointSet | str | None = None, **fields) -> PoseResult:
        """A result with no people."""
        kset = get_keypoint_set(keypoint_set or DEFAULT_KEYPOINT_SET)
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, kset.num_keypoints, 3), np.float32), kset, **fields)

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

    # ------------------------------------------------------------------ shortcuts (one owner per name)
    boxes = _alias("people", "boxes")
    scores = _alias("people", "scores")
    keypoints = _alias("people", "keypoints")
    keypoint_set = _alias("people", "keypoint_set")
    track_ids = _alias("people", "track_ids")
    raw_keypoints = _alias("people", "raw_keypoints")
    masks = _alias("people", "masks")
    ages = _alias("people", "ages")
    frame = _alias("meta", "frame")
    stream = _alias("meta", "stream")
    timings_ms = _alias("meta", "timings_ms")
    latency_ms = _alias("meta", "latency_ms")
    fps = _alias("meta", "fps")
    dropped = _alias("meta", "dropped")
    origin = _alias("meta", "origin")
    image = _alias("meta", "image")
    index = _alias("meta", "index")
    file = _alias("meta", "file")
    timestamp = _alias("meta", "timestamp")
    latency_origin = _alias("meta", "latency_origin")
    person_mask = _alias("maps", "person_mask")
    part_map = _alias("maps", "part_map")
    seg_classes = _alias("maps", "seg_classes")

    # ------------------------------------------------------------------ per-person views
    def __len__(self) -> int:
        return len(self.people)

    def __iter__(self) -> Iterator[Person]:
        return (self._person(i) for i in range(len(self)))

    def __getitem__(self, index):
        """``result[i]``: a :class:`Person`; ``result[mask]``, ``result[[i, j]]``, ``result[a:b]``: a PoseResult
        with those people (every per-person array alike) and the same frame metadata and pixel maps."""
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"person {i} of a result with {len(self)} people")
            return self._person(i % len(self))
        rows = np.arange(len(self))[index]
        return self.from_parts(self.people.select(rows), self.meta, self.maps)

    def _person(self, i: int) -> Person:
        track_id = None
        if self.track_ids is not None and self.track_ids[i] >= 0:
            track_id = int(self.track_ids[i])
        age = 0 if self.ages is None else int(self.ages[i])
        return Person(self.boxes[i], float(self.scores[i]), self.keypoints[i], track_id, self.keypoint_set, age)

    def replace(self, **changes) -> PoseResult:
        """A copy with some fields changed, named as the parts name them (``track_ids=``, ``frame=``,
        ``part_map=`` …) or whole parts (``people=``, ``meta=``, ``maps=``). Arrays are shared, not copied."""
        whole = {part: changes.pop(part) for part in _PARTS if part in changes}
        routed = _route(changes, "PoseResult.replace()")
        parts = {part: whole.get(part, getattr(self, part)) for part in _PARTS}
        parts = {part: dataclasses.replace(value, **routed[part]) if routed[part] else value
                 for part, value in parts.items()}
        return self.from_parts(parts["people"], parts["meta"], parts["maps"])

    def track_id_list(self) -> list[int | None]:
        """Each person's track id, None where there is none."""
        return self.people.track_id_list()

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
            if self.part_map is not None and self.seg_classes is not None:
                names = self.seg_classes.class_names
                for record, mask in zip(records, self.masks):
                    labels = np.where(mask, self.part_map, 0)
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
        keypoint_parts: Iterable[str] | None = None,
        masks: bool = True,
        copy: bool = True,
    ) -> np.ndarray:
        """The people drawn on ``image`` (default: a copy of the frame's image); see
        :func:`rtpose.io.render.draw_result` (``keypoint_parts``: the keypoint set's parts to draw, e.g.
        ``{"body", "face"}``)."""
        if image is None:
            if self.image is None:
                raise InputError("this result has no frame image: pass image= to plot().")
            image = self.image
        return draw_result(image, self, kpt_thr=kpt_thr, show_boxes=boxes, show_keypoints=keypoints, show_ids=ids,
                           keypoint_parts=keypoint_parts, show_masks=masks, copy=copy)

    def to_supervision(self):
        """The people as supervision's ``(KeyPoints, Detections)`` (``pip install rtpose[supervision]``).

        ``KeyPoints``: ``xy`` ``(N, K, 2)``, ``keypoint_confidence`` ``(N, K)``, ``detection_confidence`` and
        ``class_id`` (:data:`PERSON_CLASS_ID`) per person. ``Detections``: ``xyxy`` ``(N, 4)``, ``confidence``,
        ``class_id``, ``tracker_id`` (the track ids, -1 where none, when a tracker ran) and ``mask`` (the
        person masks, when the model segments). Both carry ``data["class_name"]`` "person"; the track ids are
        also ``KeyPoints.data["tracker_id"]``. Arrays are copies.
        """
        try:
            import supervision as sv
        except ImportError:
            raise RtposeError("to_supervision() needs the supervision package: pip install 'rtpose[supervision]'.") \
                from None
        n = len(self)
        class_id = np.full(n, PERSON_CLASS_ID, np.int64)
        data = {"class_name": np.array(["person"] * n, dtype=object)}
        tracker_id = None if self.track_ids is None else self.track_ids.copy()
        keypoint_data = dict(data) if tracker_id is None else {**data, "tracker_id": tracker_id}
        keypoints = sv.KeyPoints(xy=self.keypoints[..., :2].copy(), class_id=class_id,
                                 keypoint_confidence=self.keypoints[..., 2].copy(),
                                 detection_confidence=self.scores.copy(), data=keypoint_data)
        detections = sv.Detections(xyxy=self.boxes.copy(), confidence=self.scores.copy(), class_id=class_id.copy(),
                                   tracker_id=tracker_id, mask=None if self.masks is None else self.masks.copy(),
                                   data=data)
        return keypoints, detections

    def __repr__(self) -> str:
        where = f"frame {self.index}" if self.frame is not None else "image"
        where = f"stream {self.stream} {where}" if self.stream else where
        tracked = ", tracked" if self.track_ids is not None else ""
        return f"PoseResult({where}: {len(self)} people, {self.keypoint_set.name} keypoints{tracked})"


__all__ = ["PERSON_CLASS_ID", "FrameMeta", "People", "Person", "PixelMaps", "PoseResult"]
