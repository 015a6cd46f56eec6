"""The options schema shared by Python (:class:`rtpose.PoseModel`), the command line and the viewer.

- :class:`ModelOptions`: what a model is built from (weights, backend, device, detector…).
- :class:`StreamOptions`: how a stream of frames is processed (tracking, smoothing, detect-every-N,
  playback).

Both check their values with :meth:`validate`, in sentences that name the Python parameter
(``conf=1.5``); the command line says the same with its flag (``--conf 1.5``, see
:func:`rtpose.cli.common.cli_words`).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from rtpose.errors import RtposeError

PRECISIONS = ("auto", "fp32", "bf16")


def _namespace_values(cls, args: argparse.Namespace) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


@dataclasses.dataclass
class ModelOptions:
    """What a pose model is built from.

    Attributes:
        weights: checkpoint, ``.onnx``, ``.engine`` or registry name; None: the default checkpoint
            (downloaded on first use).
        backend: "auto" or a backend name (see :func:`rtpose.runtime.create_backend`).
        device: "auto", "cpu", "cuda" or "cuda:N" (one resolution for the detector and the pose model).
        input_size: model input (H, W); None: what the weights were trained for.
        flip: flip test.
        precision: "auto", "fp32" or "bf16" (see :mod:`rtpose.runtime.select`).
        keypoints: the keypoint set's name when the weights do not say.
        detector: YOLO weights or model name, or a Triton URL (``triton://HOST:PORT/MODEL``);
            None: :data:`rtpose.pose.detector.DEFAULT_DETECTOR`.
        conf: detection confidence, 0 to 1.
        max_people: most people per image.
        classes: detector classes (ids or names) instead of the keypoint set's.
        trust_detector: load a detector file whose pickle needs unsafe loading (it could run code);
            without it such a file is refused in one sentence.
        seg: None, "person" (whole-frame person masks) or "parts" (LIP body parts per person); see
            :mod:`rtpose.seg.segmenter`.
        seg_weights: the segmentation checkpoint or registry name (None: the mode's default).
        seg_classes: the segmentation class set's name where the file's class count is ambiguous.
        seg_backend: the segmentation runtime ("auto", "torch", "onnxruntime", "openvino", "tensorrt"); None:
            ``backend`` when it is one of those, else "auto" (see :mod:`rtpose.runtime.seg_select`).
        with_detector: False for models that are always given boxes (evaluation).
        server: for backend "triton": the Triton servers' gRPC addresses, ``"host:8001[,host2:8001]"``.
    """

    weights: str | None = None
    backend: str = "auto"
    device: str = "auto"
    input_size: tuple[int, int] | None = None
    flip: bool = False
    precision: str = "auto"
    keypoints: str | None = None
    detector: str | None = None
    conf: float = 0.25
    max_people: int = 32
    classes: Sequence[int | str] | None = None
    trust_detector: bool = False
    seg: str | None = None
    seg_weights: str | None = None
    seg_classes: str | None = None
    seg_backend: str | None = None
    with_detector: bool = True
    server: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides) -> ModelOptions:
        """The options of parsed command-line arguments (``--classes a,b`` becomes a list)."""
        values = _namespace_values(cls, args)
        if isinstance(values.get("classes"), str):
            values["classes"] = [c.strip() for c in values["classes"].split(",") if c.strip()]
        return cls(**{**values, **overrides})

    def validate(self) -> ModelOptions:
        """One sentence naming the parameter for a value that cannot work; returns self."""
        from rtpose.pose.keypoint_sets import KEYPOINT_SETS
        from rtpose.runtime.devices import check_device
        from rtpose.runtime.select import backend_names

        if self.weights is not None and not isinstance(self.weights, (str, bytes)) and not hasattr(
                self.weights, "__fspath__"):
            raise RtposeError(f"weights= takes a file path or a registry name, not {type(self.weights).__name__}.")
        if self.backend not in backend_names():
            raise RtposeError(f"Unknown backend={self.backend!r}; choose one of {', '.join(backend_names())}.")
        if self.precision not in PRECISIONS:
            raise RtposeError(f"Unknown precision={self.precision!r}; choose one of {', '.join(PRECISIONS)}.")
        check_device(self.device)
        if self.input_size is not None:
            try:
                h, w = (int(v) for v in self.input_size)
            except (TypeError, ValueError):
                raise RtposeError(f"input_size={self.input_size!r} is not (height, width) such as (256, 192).") \
                    from None
            if h <= 0 or w <= 0 or h % 32 or w % 32:
                raise RtposeError(f"input_size={self.input_size!r}: height and width must be positive multiples "
                                  "of 32, such as (256, 192).")
            self.input_size = (h, w)
        if self.keypoints is not None and self.keypoints not in KEYPOINT_SETS:
            raise RtposeError(f"Unknown keypoints={self.keypoints!r}; choose one of {', '.join(KEYPOINT_SETS)}.")
        if not 0.0 <= float(self.conf) <= 1.0:
            raise RtposeError(f"conf={self.conf!r} must be between 0 and 1.")
        if int(self.max_people) < 1:
            raise RtposeError(f"max_people={self.max_people!r} must be at least 1.")
        if self.seg is not None and self.seg not in ("person", "parts"):
            raise RtposeError(f"Unknown seg={self.seg!r}; choose 'person' or 'parts' (or None).")
        if self.seg is None and (self.seg_weights or self.seg_classes or self.seg_backend):
            raise RtposeError("seg_weights=, seg_classes= and seg_backend= need seg='person' or seg='parts'.")
        from rtpose.runtime.seg_select import check_seg_backend

        check_seg_backend(self.seg_backend, self.precision)
        return self


@dataclasses.dataclass
class StreamOptions:
    """How a stream of frames is processed.

    Attributes:
        track: give people identities across frames.
        smooth: One-Euro filter the keypoints of each track (with ``track``).
        track_buffer: frames a lost track is kept before its id is retired.
        kpt_thr: keypoints below this score neither count for tracking nor update the filter.
        det_every: run the detector on one frame in N; between, boxes come from the last keypoints.
        realtime: play files at their frame rate, dropping frames inference cannot keep up with.
        max_frames: stop after this many processed frames (None: to the end).
        timeout: seconds to wait for a stream to connect.
        reconnect_timeout: seconds a network stream that stopped may take to come back before it ends
            (0: it ends at once).
        budget_ms: keep each frame's model work near this many ms by posing only some people afresh and
            running the detector when needed (:mod:`rtpose.pose.budget`); None: every person every frame.
        max_age: with ``budget_ms``, the most frames a person's keypoints are carried before a fresh pose.
    """

    track: bool = True
    smooth: bool = True
    track_buffer: int = 30
    kpt_thr: float = 0.3
    det_every: int = 1
    realtime: bool = False
    max_frames: int | None = None
    timeout: float = 10.0
    reconnect_timeout: float = 30.0
    budget_ms: float | None = None
    max_age: int = 10

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides) -> StreamOptions:
        """The options of parsed command-line arguments."""
        return cls(**{**_namespace_values(cls, args), **overrides})

    def validate(self) -> StreamOptions:
        """One sentence naming the parameter for a value that cannot work; returns self."""
        if int(self.track_buffer) < 0:
            raise RtposeError(f"track_buffer={self.track_buffer!r} must be 0 or more.")
        if not 0.0 <= float(self.kpt_thr) <= 1.0:
            raise RtposeError(f"kpt_thr={self.kpt_thr!r} must be between 0 and 1.")
        if int(self.det_every) < 1:
            raise RtposeError(f"det_every={self.det_every!r} must be at least 1.")
        if self.max_frames is not None and int(self.max_frames) < 1:
            raise RtposeError(f"max_frames={self.max_frames!r} must be at least 1 (or None for all).")
        if not float(self.timeout) > 0:
            raise RtposeError(f"timeout={self.timeout!r} must be more than 0 seconds.")
        if not float(self.reconnect_timeout) >= 0:
            raise RtposeError(f"reconnect_timeout={self.reconnect_timeout!r} must be 0 seconds or more.")
        if self.budget_ms is not None:
            if isinstance(self.budget_ms, bool) or not isinstance(self.budget_ms, (int, float)) or not (
                    0 < float(self.budget_ms) < float("inf")):
                raise RtposeError(f"budget_ms={self.budget_ms!r} must be a number of milliseconds more than 0 "
                                  "(or None for no budget).")
            if int(self.det_every) != 1:
                raise RtposeError(f"budget_ms= and det_every={self.det_every!r} are alternatives: the budget runs "
                                  "the detector when needed, det_every on a fixed interval; give one.")
        if isinstance(self.max_age, bool) or not isinstance(self.max_age, int) or self.max_age < 1:
            raise RtposeError(f"max_age={self.max_age!r} must be a whole number of frames, at least 1.")
        return self

    def tracker(self, keypoint_set=None):
        """A new :class:`~rtpose.tracking.tracker.PoseTracker` for these options, or None when ``track`` is off."""
        if not self.track:
            return None
        from rtpose.tracking.tracker import PoseTracker

        return PoseTracker(max_lost=self.track_buffer, smooth=self.smooth, kpt_thr=self.kpt_thr,
                           keypoint_set=keypoint_set)


__all__ = ["ModelOptions", "PRECISIONS", "StreamOptions"]
