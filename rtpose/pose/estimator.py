"""Top-down multi-person pose estimation: detect people, crop them, one batched pose call, decode."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtpose.io.inputs import check_crop_count, check_frame_size
from rtpose.pose.codec import HeatmapCodec
from rtpose.pose.crops import BOX_PADDING, heatmap_to_image, make_input_batch
from rtpose.pose.detector import Detections, PersonDetector
from rtpose.pose.keypoint_sets import (
    DEFAULT_KEYPOINT_SET,
    KeypointSet,
    KeypointSetError,
    get_keypoint_set,
    keypoint_set_for,
)
from rtpose.results import PoseResult
from rtpose.runtime.base import Runtime, run_batched
from rtpose.utils.timing import StageTimer


@dataclass
class PreparedCrops:
    """Several images' people between :meth:`TopDownEstimator.prepare` and :meth:`TopDownEstimator.finish`.

    ``boxes`` ``(N_i, 4)`` and ``scores`` ``(N_i,)`` per image; ``batch`` the float32 crops ``(ΣN_i, 3, H, W)``
    of all of them in image order (followed by their mirror images with flip test: ``(2ΣN_i, 3, H, W)``),
    with their crops' ``centers`` and ``sizes`` ``(ΣN_i, 2)``; all None when there is nobody or the device
    path crops on the GPU.
    """

    images: list[np.ndarray]
    boxes: list[np.ndarray]
    scores: list[np.ndarray]
    batch: np.ndarray | None = None
    centers: np.ndarray | None = None
    sizes: np.ndarray | None = None


class TopDownEstimator:
    """Image → people with keypoints. All people of an image go through the pose backend in one batch.

    Args:
        backend: the pose engine.
        detector: finds the people; may be None when boxes are always given.
        flip: flip test (the flipped crops join the same batch, so still one backend call).
        padding: box enlargement before cropping.
        timer: where per-stage times ("detect", "crop", "pose", "decode") are recorded.
        keypoint_set: the model's :class:`~rtpose.pose.keypoint_sets.KeypointSet` (or its name); None takes the
            backend's ``keypoint_set``, else the set its ``num_joints`` implies, else COCO until the first
            heatmaps say how many keypoints there are. Consumers (JSON writers, renderers) read
            :attr:`keypoint_set`.
        codec: how heatmaps become keypoints (:class:`~rtpose.pose.codec.HeatmapCodec`: DARK decoding, the
            flip merge); None builds the standard one for the backend's input size. A codec is the
            contract between training targets and decoding, as in mmpose: pass the one the model was
            trained with.
    """

    def __init__(
        self,
        backend: Runtime,
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
        #: Person masks or body parts after pose (a :class:`rtpose.seg.segmenter.Segmenter`), or None.
        self.segmenter = None
        #: On CUDA, crops, network and DARK stay on the GPU (rtpose.pose.device_ops); flip test takes the host path.
        self.device_path = None
        if getattr(backend, "torch_device", None) is not None:
            from rtpose.pose.device_ops import DevicePosePath, uses_device_path

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

    def __call__(self, image_bgr: np.ndarray, timer: StageTimer | None = None) -> PoseResult:
        """Detect the people of a ``(H, W, 3)`` uint8 BGR image and estimate their poses.

        ``timer``: where this call's stage times go (default :attr:`timer`). Callers on several
        threads pass their own, so that no thread swaps a shared attribute under another.
        """
        if self.detector is None:
            raise ValueError("This estimator has no detector: call estimate_boxes() with boxes.")
        check_frame_size(image_bgr.shape, "image_bgr")
        timer = timer or self.timer
        with timer.stage("detect"):
            detections = self.detector(image_bgr)
        return self.estimate(image_bgr, detections, timer=timer)

    def estimate(self, image_bgr: np.ndarray, detections: Detections, timer: StageTimer | None = None) -> PoseResult:
        """Poses for given boxes (one batched backend call)."""
        return self.estimate_boxes(image_bgr, detections.boxes, detections.scores, timer=timer)

    def estimate_boxes(
        self,
        image_bgr: np.ndarray,
        boxes_xyxy: np.ndarray,
        box_scores: np.ndarray | None = None,
        timer: StageTimer | None = None,
    ) -> PoseResult:
        """Poses of the people in ``boxes_xyxy`` ``(N, 4)`` (image pixels) of one image, in one batched call.

        ``box_scores``: ``(N,)`` (default 1.0). The result has no frame; the caller attaches one.
        """
        return self.estimate_many([image_bgr], [boxes_xyxy], [box_scores], timer=timer)[0]

    def estimate_many(
        self,
        images_bgr: list[np.ndarray],
        boxes: list[np.ndarray],
        scores: list[np.ndarray | None],
        timer: StageTimer | None = None,
    ) -> list[PoseResult]:
        """Poses of the people of several images (several streams' frames): all their crops in one batch.

        Args:
            images_bgr: ``(H_i, W_i, 3)`` uint8 images.
            boxes: per image, ``(N_i, 4)`` boxes (x1, y1, x2, y2) in that image's pixels.
            scores: per image, ``(N_i,)`` box scores or None (1.0).

        Returns:
            one :class:`~rtpose.results.PoseResult` per image. The crops of all images go through the
            backend together (split only at its ``max_batch``); on the GPU's device path, image by image.
            The same as :meth:`finish` of :meth:`prepare`, which a pipeline runs on two threads.
        """
        timer = timer or self.timer
        return self.finish(self.prepare(images_bgr, boxes, scores, timer), timer)

    def prepare(
        self,
        images_bgr: list[np.ndarray],
        boxes: list[np.ndarray],
        scores: list[np.ndarray | None],
        timer: StageTimer | None = None,
    ) -> PreparedCrops:
        """The first half of :meth:`estimate_many`: the crops of every person (stage ``crop``), no model call.

        On the GPU's device path (and for images without people) nothing is cropped here: :meth:`finish`
        does it on the device.
        """
        timer = timer or self.timer
        for image in images_bgr:
            check_frame_size(image.shape, "images_bgr")
        boxes = [np.asarray(b, dtype=np.float32).reshape(-1, 4) for b in boxes]
        check_crop_count(sum(len(b) for b in boxes), self.codec.input_hw, self.flip)
        scores = [np.ones(len(b), np.float32) if s is None else np.asarray(s, np.float32)
                  for b, s in zip(boxes, scores)]
        prepared = PreparedCrops(list(images_bgr), boxes, scores)
        if sum(len(b) for b in boxes) == 0 or (self.device_path is not None and not self.flip):
            return prepared
        with timer.stage("crop"):
            parts = [make_input_batch(image, b, self.codec.input_hw, self.padding)
                     for image, b in zip(images_bgr, boxes) if len(b)]
            batch = np.concatenate([p[0] for p in parts])
            if self.flip:  # the flipped crops join the same batch
                batch = np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])])
            prepared.batch = batch
            prepared.centers = np.concatenate([p[1] for p in parts])
            prepared.sizes = np.concatenate([p[2] for p in parts])
        return prepared

    def finish(self, prepared: PreparedCrops, timer: StageTimer | None = None) -> list[PoseResult]:
        """The second half of :meth:`estimate_many`: the pose call (stage ``pose``), decoding, segmentation."""
        timer = timer or self.timer
        results = self._poses(prepared, timer)
        if self.segmenter is not None:
            results = [self.segmenter(image, result, timer) for image, result in zip(prepared.images, results)]
        return results

    def _poses(self, prepared: PreparedCrops, timer: StageTimer) -> list[PoseResult]:
        boxes, scores = prepared.boxes, prepared.scores
        if sum(len(b) for b in boxes) == 0:
            return [PoseResult.empty(self.keypoint_set) for _ in boxes]
        if prepared.batch is None:  # the device path
            results = []
            for image, b, s in zip(prepared.images, boxes, scores):
                if not len(b):
                    results.append(PoseResult.empty(self.keypoint_set))
                    continue
                keypoints = self.device_path(image, b, self.padding, timer)
                results.append(PoseResult(b, s, keypoints, self._check_keypoints(keypoints.shape[1])))
            return results
        n = len(prepared.centers)
        with timer.stage("pose"):
            heatmaps = self.run_backend(prepared.batch)
        with timer.stage("decode"):
            if self.flip:
                flips = self._check_keypoints(heatmaps.shape[1]).flip_index
                heatmaps = self.codec.merge_flipped(heatmaps[:n], heatmaps[n:], flip_index=flips)
            keypoints = self.decode(heatmaps, prepared.centers, prepared.sizes)
        results, start = [], 0
        for b, s in zip(boxes, scores):
            results.append(PoseResult(b, s, keypoints[start:start + len(b)], self.keypoint_set))
            start += len(b)
        return results

    def run_backend(self, batch: np.ndarray) -> np.ndarray:
        """Heatmaps for a batch, split only where it exceeds the backend's maximum batch."""
        return run_batched(self.backend, batch)

    def close(self) -> None:
        """Release the pose backend's resources (a TensorRT context, an inference session), the segmenter's,
        and the detector's where it holds some (a Triton client)."""
        self.backend.close()
        if self.segmenter is not None:
            self.segmenter.close()
        if callable(getattr(self.detector, "close", None)):
            self.detector.close()

    def decode(self, heatmaps: np.ndarray, centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Heatmaps ``(N, K, h, w)`` → keypoints ``(N, K, 3)`` as (x, y, score) in image pixels."""
        self._check_keypoints(heatmaps.shape[1])
        xy, scores = self.codec.decode(heatmaps)
        xy = heatmap_to_image(xy, centers, sizes, self.codec.heatmap_hw)
        return np.concatenate([xy, scores[..., None]], axis=-1).astype(np.float32)


__all__ = ["TopDownEstimator"]
