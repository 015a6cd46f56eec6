"""``rtpose.PoseModel``: the one object a program needs.

::

    import rtpose

    with rtpose.PoseModel() as model:                      # default COCO weights, fastest backend here
        result = model("people.jpg")                        # PoseResult: boxes (N, 4), keypoints (N, K, 3)
        for result in model.stream("video.mp4"):            # tracked, smoothed; break stops the threads
            print(result.index, len(result), result.track_ids)

Images are ``(H, W, 3)`` uint8 BGR arrays (as OpenCV reads them), grey or BGRA arrays, or image file
paths. All coordinates are image pixels. Messages go to the ``rtpose`` logger (silent unless the
program attaches a handler; :func:`rtpose.log.attach_stderr` prints them as the command line does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rtpose.engine.stream import PoseStream
from rtpose.io.inputs import InputError, as_bgr_image, as_boxes
from rtpose.io.sources import Frame
from rtpose.options import MODEL, STREAM, ModelOptions, StreamOptions
from rtpose.pose.keypoint_sets import KeypointSet
from rtpose.results import PoseResult
from rtpose.runtime.base import BackendInfo
from rtpose.utils.timing import StageTimer, now

#: Keyword defaults: the schema's (:mod:`rtpose.options.table`), so the library and the command line agree.
_DEFAULT = {record.name: record.default for record in (*MODEL, *STREAM)}


@dataclass(frozen=True)
class ModelInfo:
    """What a :class:`PoseModel` runs, as data.

    Attributes:
        backend: the pose backend (name, device, precision, input size, max batch, why it was chosen).
        keypoint_set: the name of the keypoint set (``coco``, ``coco_wholebody``, …).
        num_keypoints: K.
        input_hw: model input (H, W).
        max_batch: the most crops one pose call takes (bigger batches are split there).
        flip: flip test on.
        detector: the detector's file name, or None for a model that is always given boxes.
        detector_device: where the detector runs ("cpu", "cuda"), or None.
        detector_runtime: "torch" or "openvino", and why, or None.
        segmentation: the segmentation runtime (name, device, precision, why; ``input_hw`` is the square crop
            for ``seg="parts"``, (S, S) for the frames' short side S for ``seg="person"``), or None without ``seg``.
    """

    backend: BackendInfo
    keypoint_set: str
    num_keypoints: int
    input_hw: tuple[int, int]
    max_batch: int
    flip: bool
    detector: str | None
    detector_device: str | None
    detector_runtime: str | None
    segmentation: BackendInfo | None = None


class PoseModel:
    """A person detector and an HRNet pose model, ready for images and streams.

    Args:
        weights: HRNet checkpoint, ``.onnx``, ``.engine`` or registry name; None: the default COCO model
            (downloaded on first use, sha256-checked).
        backend: "auto" (the fastest this machine has), "torch", "onnxruntime", "openvino", "tensorrt" or
            "triton" (a client of Triton servers, see ``server``).
        device: "auto", "cpu", "cuda" or "cuda:N" (the detector and the pose model alike).
        precision: "auto", "fp32" or "bf16" (OpenVINO on CPUs with native BF16).
        input_size: model input (H, W); None: what the weights were trained for.
        keypoints: the keypoint set's name when the weights do not say (e.g. "ap10k").
        flip: flip test (mirrored crops join the same batch).
        detector: Ultralytics YOLO weights or model name, or a detector served by Triton
            (``"triton://HOST:8001/yolo_detector"``, README "Many machines"); None: ``yolov8n.pt``.
        conf: detection confidence, 0 to 1.
        max_people: most people per image.
        classes: detector classes (ids or names) instead of the keypoint set's.
        det_every: in streams, run the detector on one frame in N (boxes from the last keypoints between).
        budget_ms: in streams, keep each frame's model work near this many ms: new people and those who moved
            most get a fresh pose, the others' keypoints move with their box (``result.ages``), the detector
            runs when the tracks need it (:mod:`rtpose.pose.budget`). None: every person every frame.
        max_age: with ``budget_ms``, the most frames a person's keypoints are carried before a fresh pose.
        trust_detector: load a detector file whose pickle needs unsafe loading (it could run code); without
            it such a file is refused in one sentence.
        seg: "person" adds each person's mask (``result.masks``) and the frame's person probability
            (``result.person_mask``); "parts" adds body parts (``result.part_map``, LIP classes) and masks
            (see :mod:`rtpose.seg.segmenter`). None: pose only.
        seg_weights: the HRNetV2 segmentation checkpoint or registry name (None: the mode's default).
        seg_classes: the class set's name where the file's class count is ambiguous ("voc", "lip", …).
        seg_backend: the segmentation runtime: "auto", "torch", "onnxruntime", "openvino" or "tensorrt"; None:
            ``backend`` when segmentation has it, else "auto" (see :mod:`rtpose.runtime.seg_select`).
        server: with backend="triton": the Triton servers' gRPC addresses, "host:8001[,host2:8001]"
            (serving what ``rtpose export-triton`` wrote).

    Bad values are one :class:`~rtpose.errors.OptionError` sentence naming the parameter (``.parameter``), raised
    before any model loads; the checks are the command line's (:mod:`rtpose.options`). Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(
        self,
        weights: str | None = None,
        *,
        backend: str = _DEFAULT["backend"],
        device: str = _DEFAULT["device"],
        precision: str = _DEFAULT["precision"],
        input_size: tuple[int, int] | None = _DEFAULT["input_size"],
        keypoints: str | None = _DEFAULT["keypoints"],
        flip: bool = _DEFAULT["flip"],
        detector: str | None = _DEFAULT["detector"],
        conf: float = _DEFAULT["conf"],
        max_people: int = _DEFAULT["max_people"],
        classes: Sequence[int | str] | None = _DEFAULT["classes"],
        det_every: int = _DEFAULT["det_every"],
        budget_ms: float | None = _DEFAULT["budget_ms"],
        max_age: int = _DEFAULT["max_age"],
        trust_detector: bool = _DEFAULT["trust_detector"],
        seg: str | None = _DEFAULT["seg"],
        seg_weights: str | None = _DEFAULT["seg_weights"],
        seg_classes: str | None = _DEFAULT["seg_classes"],
        seg_backend: str | None = _DEFAULT["seg_backend"],
        server: str | None = _DEFAULT["server"],
    ) -> None:
        options = ModelOptions(
            weights=weights, backend=backend, device=device, input_size=input_size, flip=flip, precision=precision,
            keypoints=keypoints, detector=detector, conf=conf, max_people=max_people, classes=classes,
            trust_detector=trust_detector, seg=seg, seg_weights=seg_weights, seg_classes=seg_classes, server=server,
            seg_backend=seg_backend,
        )
        self._build(options, det_every, budget_ms, max_age)

    def _build(self, options: ModelOptions, det_every: int, budget_ms: float | None = None, max_age: int = 10) -> None:
        from rtpose.pose.factory import build_estimator

        self.stream_defaults = StreamOptions(det_every=det_every, budget_ms=budget_ms, max_age=max_age).validate()
        self.options = options.validate()
        self.estimator = build_estimator(self.options)
        self._closed = False

    @classmethod
    def from_options(cls, options: ModelOptions, det_every: int = 1, budget_ms: float | None = None,
                     max_age: int = 10) -> PoseModel:
        """A model for :class:`~rtpose.options.ModelOptions` (what the command line and the viewer build)."""
        model = cls.__new__(cls)
        model._build(options, det_every, budget_ms, max_age)
        return model

    @classmethod
    def from_estimator(cls, estimator, options: ModelOptions | None = None, det_every: int = 1) -> PoseModel:
        """A model around an estimator built elsewhere (:func:`rtpose.pose.factory.build_estimator`, tests)."""
        model = cls.__new__(cls)
        model.options = options or ModelOptions()
        model.stream_defaults = StreamOptions(det_every=det_every).validate()
        model.estimator = estimator
        model._closed = False
        return model

    # ------------------------------------------------------------------ facts
    @property
    def keypoint_set(self) -> KeypointSet:
        """Names, skeleton links, flip pairs and OKS sigmas of the model's keypoints."""
        return self.estimator.keypoint_set

    @property
    def info(self) -> ModelInfo:
        """What runs where, and why (see :class:`ModelInfo`)."""
        from rtpose.runtime.select import describe

        backend = self.estimator.backend
        info = getattr(backend, "info", None) or describe(backend)
        detector = self.estimator.detector
        kset = self.keypoint_set
        return ModelInfo(
            backend=info, keypoint_set=kset.name, num_keypoints=kset.num_keypoints, input_hw=info.input_hw,
            max_batch=info.max_batch, flip=bool(self.estimator.flip),
            detector=None if detector is None else detector.weights,
            detector_device=None if detector is None else detector.device,
            detector_runtime=None if detector is None else f"{detector.runtime}: {detector.note}",
            segmentation=None if self.estimator.segmenter is None else self.estimator.segmenter.info,
        )

    # ------------------------------------------------------------------ one image
    def __call__(self, image, boxes=None, scores=None) -> PoseResult:
        """The people of one image, in one batched pose call.

        Args:
            image: ``(H, W, 3)`` uint8 BGR array (grey, BGRA and uint16 arrays are converted) or an image
                file path.
            boxes: ``(N, 4)`` person boxes (x1, y1, x2, y2) in pixels to use instead of the detector.
            scores: ``(N,)`` scores of ``boxes`` (default 1.0).

        Returns:
            a :class:`~rtpose.results.PoseResult` (no track ids) whose ``frame`` holds the image.
        """
        self._check_open()
        array, file = as_bgr_image(image, "image")
        timer = StageTimer()
        start = now()
        if boxes is None:
            if self.estimator.detector is None:
                raise InputError("This model has no detector: pass boxes=(N, 4) with the people's boxes.")
            result = self.estimator(array, timer=timer)
        else:
            box_array = as_boxes(boxes, array.shape, "boxes")
            score_array = None
            if scores is not None:
                score_array = np.asarray(scores, np.float32).reshape(-1)
                if len(score_array) != len(box_array):
                    raise InputError(f"scores= has {len(score_array)} values for {len(box_array)} boxes.")
            result = self.estimator.estimate_boxes(array, box_array, score_array, timer=timer)
        frame = Frame(0, start, array, file=file)
        timings = {name: s["mean_ms"] * s["count"] for name, s in timer.summary().items()}
        return result.replace(frame=frame, timings_ms=timings, latency_ms=(now() - start) * 1e3, origin=start)

    # ------------------------------------------------------------------ streams
    def stream(
        self,
        source,
        *,
        track: bool = _DEFAULT["track"],
        smooth: bool = _DEFAULT["smooth"],
        realtime: bool = _DEFAULT["realtime"],
        max_frames: int | None = _DEFAULT["max_frames"],
        track_buffer: int = _DEFAULT["track_buffer"],
        kpt_thr: float = _DEFAULT["kpt_thr"],
        det_every: int | None = None,
        timeout: float = _DEFAULT["timeout"],
        reconnect_timeout: float = _DEFAULT["reconnect_timeout"],
        budget_ms: float | None = None,
        max_age: int | None = None,
    ) -> PoseStream:
        """Results of every frame of ``source``, computed on background threads while you iterate.

        Args:
            source: a camera index (``0``), a video, image or folder path, a stream URL (``rtsp://``,
                ``http://``), or any iterable of frames (arrays or image paths); or a list of sources
                (``[0, "rtsp://…", "video.mp4"]``): one stream each, every stream's people in one pose
                call per round, and each result's ``stream`` is its source's index in the list.
            track: stable ``track_ids`` across frames.
            smooth: One-Euro smoothing of tracked keypoints.
            realtime: play files at their frame rate (dropping what inference cannot keep up with);
                cameras and streams are always live (the newest frame is processed).
            max_frames: stop after this many frames.
            track_buffer: frames a lost person keeps their id.
            kpt_thr: keypoints below this score neither count for tracking nor update the smoothing.
            det_every: detector on one frame in N (default: the model's ``det_every``).
            timeout: seconds to wait for a stream to connect.
            reconnect_timeout: seconds a network stream that stopped may take to come back (it is
                reopened meanwhile) before it ends; 0: it ends at once.
            budget_ms: frame budget in ms (default: the model's ``budget_ms``; see :mod:`rtpose.pose.budget`).
            max_age: with a budget, the most frames keypoints are carried (default: the model's ``max_age``).

        The source is opened here (a bad one fails at once). Iterate the returned
        :class:`~rtpose.engine.stream.PoseStream`; leaving the loop in any way stops its threads and releases the
        source. ``stream.stats()`` gives the run's figures.
        """
        self._check_open()
        options = StreamOptions(track=track, smooth=smooth, track_buffer=track_buffer, kpt_thr=kpt_thr,
                                det_every=self.stream_defaults.det_every if det_every is None else det_every,
                                realtime=realtime, max_frames=max_frames, timeout=timeout,
                                reconnect_timeout=reconnect_timeout,
                                budget_ms=self.stream_defaults.budget_ms if budget_ms is None else budget_ms,
                                max_age=self.stream_defaults.max_age if max_age is None else max_age)
        return PoseStream(self.estimator, source, options)

    def warmup(self, size: tuple[int, int] | None = None) -> None:
        """Run the detector and the pose model once (first-call costs), for frames of ``size`` (W, H)."""
        from rtpose.engine.pipeline import warmup

        warmup(self.estimator, size)

    # ------------------------------------------------------------------ release
    def _check_open(self) -> None:
        if self._closed:
            raise InputError("This PoseModel is closed.")

    def close(self) -> None:
        """Release the pose backend (sessions, GPU memory); safe to call twice."""
        if not self._closed:
            self._closed = True
            self.estimator.close()

    def __enter__(self) -> PoseModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        backend = self.estimator.backend
        return f"PoseModel({backend.name} on {backend.device}, {self.keypoint_set.name}, input {backend.input_hw})"


__all__ = ["ModelInfo", "PoseModel"]
