"""Top-down multi-person pose estimation: detect people, crop them, one batched pose call, decode."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtpose.backends.base import PoseBackend
from rtpose.codec import HeatmapCodec
from rtpose.crops import BOX_PADDING, heatmap_to_image, make_input_batch
from rtpose.detector import Detections, PersonDetector
from rtpose.skeleton import (
    DEFAULT_KEYPOINT_SET,
    KEYPOINT_NAMES,
    KeypointSet,
    KeypointSetError,
    get_keypoint_set,
    keypoint_set_for,
)
from rtpose.timing import StageTimer


@dataclass
class Person:
    """One person in one image.

    Attributes:
        box: float32 ``(4,)`` (x1, y1, x2, y2) in image pixels.
        score: detection confidence (1.0 for given boxes).
        keypoints: float32 ``(K, 3)`` rows of (x, y, score) in the estimator's keypoint set order
            (``(17, 3)`` in COCO order for COCO models), image pixels.
        track_id: identity across frames when tracking is on, else None.
        extra: more about the person, not written by :meth:`to_dict`: ``"keypoint_set"`` (the name of the
            :mod:`rtpose.skeleton` set the keypoints follow, set by the estimator), ``"raw_keypoints"``
            (before smoothing, set by the tracker).
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    track_id: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def pose_score(self) -> float:
        """Mean keypoint score (the usual top-down instance score is this times the box score)."""
        return float(self.keypoints[:, 2].mean())

    def to_dict(self) -> dict:
        """JSON-ready: ``box`` [x1, y1, x2, y2], ``score``, ``keypoints`` [[x, y, score] × K], ``track_id``|None."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)] for x, y, s in self.keypoints],
            "track_id": None if self.track_id is None else int(self.track_id),
        }


class TopDownEstimator:
    """Image → people with keypoints. All people of an image go through the pose backend in one batch.

    Args:
        backend: the pose engine.
        detector: finds the people; may be None when boxes are always given.
        flip: flip test (the flipped crops join the same batch, so still one backend call).
        padding: box enlargement before cropping.
        timer: where per-stage times ("detect", "crop", "pose", "decode") are recorded.
        keypoint_set: the model's :class:`~rtpose.skeleton.KeypointSet` (or its name); None takes the
            backend's ``keypoint_set``, else the set its ``num_joints`` implies, else COCO until the first
            heatmaps say how many keypoints there are. Consumers (JSON writers, renderers) read
            :attr:`keypoint_set`.
        codec: how heatmaps become keypoints (:class:`~rtpose.codec.HeatmapCodec`: DARK decoding, the
            flip merge); None builds the standard one for the backend's input size. A codec is the
            contract between training targets and decoding, as in mmpose: pass the one the model was
            trained with.
    """

    def __init__(
        self,
        backend: PoseBackend,
        detector: PersonDetector | None = None,
        flip: bool = False,
        padding: float = BOX_PADDING,
        timer: StageTimer | None = None,
        keypoint_set: KeypointSet | str | None = None,
        codec: HeatmapCodec | None = None,
    ) -> None:
        self.backend = backend
        self.detector = detector
        self.flip = flip
        self.padding = padding
        self.codec = codec or HeatmapCodec(input_hw=tuple(backend.input_hw))
        if tuple(self.codec.input_hw) != tuple(backend.input_hw):
            raise ValueError(f"The codec is for {self.codec.input_hw} inputs, the backend for {backend.input_hw}.")
        self.timer = timer or StageTimer()
        self._keypoint_set = get_keypoint_set(keypoint_set) if keypoint_set is not None else None
        if self._keypoint_set is None and getattr(backend, "keypoint_set", None) is not None:
            self._keypoint_set = get_keypoint_set(backend.keypoint_set)
        if self._keypoint_set is None and getattr(backend, "num_joints", None):
            self._keypoint_set = keypoint_set_for(int(backend.num_joints))
        #: On CUDA, crops, network and DARK stay on the GPU (rtpose.device); flip test takes the host path.
        self.device_path = None
        if getattr(backend, "torch_device", None) is not None:
            from rtpose.device import DevicePosePath, uses_device_path

            self.device_path = DevicePosePath(backend, self.codec) if uses_device_path(backend) else None

    @property
    def keypoint_set(self) -> KeypointSet:
        """The keypoint set of the model's heatmaps (names, links, flip pairs, sigmas)."""
        return self._keypoint_set if self._keypoint_set is not None else get_keypoint_set(DEFAULT_KEYPOINT_SET)

    def _check_keypoints(self, num_channels: int) -> KeypointSet:
        """The keypoint set for heatmaps with ``num_channels`` channels (fixed by the first heatmaps if unset)."""
        if self._keypoint_set is None:
            self._keypoint_set = keypoint_set_for(num_channels)
        elif self._keypoint_set.num_keypoints != num_channels:
            raise KeypointSetError(
                f"The model gives {num_channels} heatmaps but the keypoint set {self._keypoint_set.name} has "
                f"{self._keypoint_set.num_keypoints} keypoints."
            )
        return self._keypoint_set

    def __call__(self, image_bgr: np.ndarray, timer: StageTimer | None = None) -> list[Person]:
        """Detect the people of a ``(H, W, 3)`` uint8 BGR image and estimate their poses.

        ``timer``: where this call's stage times go (default :attr:`timer`). Callers on several
        threads pass their own, so that no thread swaps a shared attribute under another.
        """
        if self.detector is None:
            raise ValueError("This estimator has no detector: call estimate_boxes() with boxes.")
        timer = timer or self.timer
        with timer.stage("detect"):
            detections = self.detector(image_bgr)
        return self.estimate(image_bgr, detections, timer=timer)

    def estimate(self, image_bgr: np.ndarray, detections: Detections, timer: StageTimer | None = None) -> list[Person]:
        """Poses for given boxes (one batched backend call)."""
        return self.estimate_boxes(image_bgr, detections.boxes, detections.scores, timer=timer)

    def estimate_boxes(
        self,
        image_bgr: np.ndarray,
        boxes_xyxy: np.ndarray,
        box_scores: np.ndarray | None = None,
        timer: StageTimer | None = None,
    ) -> list[Person]:
        """Poses of the people in ``boxes_xyxy`` ``(N, 4)`` (image pixels) of one image."""
        timer = timer or self.timer
        boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        scores = np.ones(len(boxes), np.float32) if box_scores is None else np.asarray(box_scores, np.float32)
        if len(boxes) == 0:
            return []
        name = self.keypoint_set.name  # carried by each person, for renderers and trackers that get only people
        if self.device_path is not None and not self.flip:
            keypoints = self.device_path(image_bgr, boxes, self.padding, timer)
            return [Person(box=b, score=float(s), keypoints=k, extra={"keypoint_set": name})
                    for b, s, k in zip(boxes, scores, keypoints)]
        with timer.stage("crop"):
            batch, centers, sizes = make_input_batch(image_bgr, boxes, self.codec.input_hw, self.padding)
            if self.flip:
                batch = np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])])
        with timer.stage("pose"):
            heatmaps = self.run_backend(batch)
        with timer.stage("decode"):
            if self.flip:
                flips = self._check_keypoints(heatmaps.shape[1]).flip_index
                heatmaps = self.codec.merge_flipped(heatmaps[: len(boxes)], heatmaps[len(boxes) :], flip_index=flips)
            keypoints = self.decode(heatmaps, centers, sizes)
        return [Person(box=b, score=float(s), keypoints=k, extra={"keypoint_set": name})
                for b, s, k in zip(boxes, scores, keypoints)]

    def run_backend(self, batch: np.ndarray) -> np.ndarray:
        """Heatmaps for a batch, split only where it exceeds the backend's maximum batch."""
        step = max(1, int(self.backend.max_batch))
        if len(batch) <= step:
            return self.backend.infer(batch)
        return np.concatenate([self.backend.infer(batch[i : i + step]) for i in range(0, len(batch), step)])

    def close(self) -> None:
        """Release the pose backend's resources (a TensorRT context, an inference session)."""
        self.backend.close()

    def decode(self, heatmaps: np.ndarray, centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Heatmaps ``(N, K, h, w)`` → keypoints ``(N, K, 3)`` as (x, y, score) in image pixels."""
        self._check_keypoints(heatmaps.shape[1])
        xy, scores = self.codec.decode(heatmaps)
        xy = heatmap_to_image(xy, centers, sizes, self.codec.heatmap_hw)
        return np.concatenate([xy, scores[..., None]], axis=-1).astype(np.float32)


__all__ = ["Person", "TopDownEstimator", "KEYPOINT_NAMES"]
