"""What the pipeline runs on each round of frames: one two-stage interface for every estimator.

A round is one frame of each stream that has one. The pipeline runs it in two steps, :meth:`Stages.prepare`
(detection, or boxes from the last keypoints with detect-every-N, then the crops) and :meth:`Stages.finish`
(the pose call, decoding, segmentation), on two threads when ``overlap`` is on and the estimator has a
first stage worth running beside the second (:attr:`Stages.overlaps`), else one after the other.

- :class:`TopDownStages`: a :class:`~rtpose.pose.estimator.TopDownEstimator` with a detector (what
  :class:`rtpose.PoseModel` builds): one detector call for the round's frames that need one, one pose call
  for all their people.
- :class:`CallableStages`: any callable ``estimator(image, timer=…) -> PoseResult`` (a stand-in, or a
  TopDownEstimator without a detector, which then says so at its first frame): ``prepare`` keeps the
  images, ``finish`` calls it frame by frame; detect-every-N does not apply.

:func:`stages_for` picks the one for an estimator; :func:`warmup` runs its networks once before a run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from rtpose.pose.det_every import DetectEveryN
from rtpose.pose.detector import Detections, PersonDetector
from rtpose.pose.estimator import TopDownEstimator
from rtpose.results import PoseResult
from rtpose.utils.timing import StageTimer


@runtime_checkable
class Stages(Protocol):
    """The two steps of a round. ``schedules``: per frame, its stream's detect-every-N state or None.

    Stage times go to ``timer`` (passed per call, so one estimator may serve several pipelines at once).
    """

    #: The first stage does real work (detection, crops): running it on its own thread pays off.
    overlaps: bool

    def prepare(self, images: list[np.ndarray], schedules: list[DetectEveryN | None], timer: StageTimer) -> object:
        """Everything before the pose call for ``images`` (``(H, W, 3)`` uint8 BGR); returns what ``finish`` takes."""
        ...

    def finish(self, prepared: object, schedules: list[DetectEveryN | None], timer: StageTimer) -> list[PoseResult]:
        """The pose call and what follows it: one result per image (no frame attached yet)."""
        ...

    def parts(self) -> dict[str, object]:
        """The networks it runs by role (``"pose"``, ``"detector"``), for the run's figures (remote failures)."""
        ...


class TopDownStages:
    """Detector, crops | pose call, decoding (:meth:`TopDownEstimator.prepare` / :meth:`~TopDownEstimator.finish`)."""

    overlaps = True

    def __init__(self, estimator: TopDownEstimator) -> None:
        if estimator.detector is None:
            raise ValueError("estimator: a TopDownEstimator without a detector needs boxes; use CallableStages.")
        self.estimator = estimator

    def _detect(self, images: list[np.ndarray]) -> list[Detections]:
        detector = self.estimator.detector
        if isinstance(detector, PersonDetector):
            return detector.detect_batch(images)  # one batched call for several streams
        return [detector(image) for image in images]  # any callable detector, frame by frame

    def prepare(self, images: list[np.ndarray], schedules: list[DetectEveryN | None], timer: StageTimer):
        with timer.stage("detect"):  # with detect-every-N: the detector, or boxes from the last keypoints
            detections: list[Detections | None] = [None] * len(images)
            due = [k for k, s in enumerate(schedules) if s is None or s.due()]
            if due:
                for k, found in zip(due, self._detect([images[k] for k in due])):
                    detections[k] = found
            for k, schedule in enumerate(schedules):
                if schedule is not None:
                    detections[k] = schedule.detections(images[k], lambda _image, d=detections[k]: d)
        return self.estimator.prepare(images, [d.boxes for d in detections], [d.scores for d in detections],
                                      timer=timer)

    def parts(self) -> dict[str, object]:
        return {"pose": self.estimator.backend, "detector": self.estimator.detector}

    def finish(self, prepared, schedules: list[DetectEveryN | None], timer: StageTimer) -> list[PoseResult]:
        results = self.estimator.finish(prepared, timer=timer)
        for schedule, result in zip(schedules, results):
            if schedule is not None:
                schedule.update(result)
        return results


class CallableStages:
    """A plain callable ``estimator(image, timer=…) -> PoseResult`` as the two stages (all work in :meth:`finish`)."""

    overlaps = False

    def __init__(self, estimator: Callable[..., PoseResult]) -> None:
        self.estimator = estimator

    def prepare(self, images: list[np.ndarray], schedules: list[DetectEveryN | None], timer: StageTimer):
        return images

    def finish(self, prepared, schedules: list[DetectEveryN | None], timer: StageTimer) -> list[PoseResult]:
        return [self.estimator(image, timer=timer) for image in prepared]

    def parts(self) -> dict[str, object]:
        return {"pose": self.estimator.backend} if isinstance(self.estimator, TopDownEstimator) else {}


def stages_for(estimator) -> Stages:
    """The two-stage form of ``estimator``: itself when it implements :class:`Stages`, else
    :class:`TopDownStages` for a TopDownEstimator with a detector, else :class:`CallableStages` for a callable."""
    if isinstance(estimator, Stages):
        return estimator
    if isinstance(estimator, TopDownEstimator) and estimator.detector is not None:
        return TopDownStages(estimator)
    if callable(estimator):
        return CallableStages(estimator)
    raise TypeError(f"estimator: a TopDownEstimator or a callable image -> PoseResult, not {type(estimator).__name__}.")


def warmup(estimator, size: tuple[int, int] | None = None) -> None:
    """Run the detector and the pose backend once so that one-off start-up costs stay out of the timings.

    ``estimator``: a :class:`~rtpose.pose.estimator.TopDownEstimator` (anything else has nothing to warm);
    ``size``: (W, H) of the frames (default 640×480). Nothing is recorded in the estimator's timer.
    """
    if isinstance(estimator, TopDownStages):
        estimator = estimator.estimator
    if not isinstance(estimator, TopDownEstimator):
        return
    w, h = size or (640, 480)
    if estimator.detector is not None:
        estimator.detector(np.full((h, w, 3), 114, np.uint8))
    ih, iw = estimator.backend.input_hw
    estimator.backend.infer(np.zeros((1, 3, ih, iw), np.float32))


__all__ = ["CallableStages", "Stages", "TopDownStages", "stages_for", "warmup"]
