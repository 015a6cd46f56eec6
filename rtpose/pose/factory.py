"""Building an estimator: the one place that turns "weights, backend, device, detector…" into one.

The command line (``rtpose``, ``rtpose eval``), the viewer, ``python -m train.evaluate`` and the
training loop's validation all build their estimators here, so that they load the same weights the
same way, pick backends by the same rules and say so in the same words.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rtpose.log import say
from rtpose.options import ModelOptions

if TYPE_CHECKING:
    from rtpose.pose.detector import PersonDetector


def build_estimator(options: ModelOptions):
    """A :class:`~rtpose.pose.estimator.TopDownEstimator` for ``options``.

    The options are checked and the weights resolved first (the default checkpoint, downloaded on
    first use, when none are given); their keypoint set decides the detector's classes unless
    ``options.classes`` names others. The chosen backend and the reason are said through the
    ``rtpose`` logger. ``device="auto"`` is resolved once, for the detector and the pose backend.
    """
    from rtpose.pose.detector import DEFAULT_DETECTOR
    from rtpose.pose.estimator import TopDownEstimator
    from rtpose.runtime import create_backend
    from rtpose.runtime.devices import resolve_device
    from rtpose.weights.pose import checkpoint_keypoint_set
    from rtpose.weights.registry import resolve_weights

    options.validate()
    if options.backend == "triton":  # the servers hold the model and say its keypoint set
        from rtpose.pose.keypoint_sets import get_keypoint_set

        backend = create_backend("triton", weights=options.weights, input_hw=options.input_size, server=options.server)
        keypoint_set = get_keypoint_set(options.keypoints or backend.keypoint_set or "coco")
    else:
        weights = resolve_weights(options.weights)
        keypoint_set = checkpoint_keypoint_set(weights, options.keypoints)
        backend = create_backend(options.backend, weights=str(weights), device=options.device,
                                 input_hw=options.input_size, precision=options.precision)
    say(f"pose backend {backend.info.summary}")
    detector = None
    if options.with_detector:
        detector = make_detector(
            options.detector or DEFAULT_DETECTOR, conf=options.conf, max_people=options.max_people,
            device=resolve_device(options.device), classes=options.classes or keypoint_set.detector_classes,
            trusted=options.trust_detector,
        )
        say(f"detector {Path(detector.weights).name} on {detector.device}: {detector.note}")
    estimator = TopDownEstimator(backend, detector=detector, flip=options.flip, keypoint_set=keypoint_set)
    if options.seg is not None:
        from rtpose.runtime.select import seg_backend_for
        from rtpose.seg.segmenter import Segmenter

        segmenter = Segmenter(options.seg, options.seg_weights, options.seg_classes,
                              device=resolve_device(options.device), precision=options.precision,
                              backend=seg_backend_for(options.seg_backend, options.backend))
        say(f"segmentation {options.seg}: HRNetV2-W{segmenter.width} {segmenter.weights.name} "
            f"({segmenter.classes.dataset}, {segmenter.classes.num_classes} classes) on {segmenter.info.summary}")
        estimator.segmenter = segmenter
    return estimator


def make_detector(weights: str | None = None, **kwargs) -> PersonDetector:
    """A :class:`~rtpose.pose.detector.PersonDetector` for ``weights`` (default:
    :data:`~rtpose.pose.detector.DEFAULT_DETECTOR`), or, for a Triton URL (``triton://HOST:PORT/MODEL``, ``grpc://…``,
    ``http://…``), a :class:`~rtpose.pose.triton_detector.TritonDetector` with the same keyword arguments
    (those only a local model has, e.g. ``device``, do not apply to it)."""
    from rtpose.pose.detector import DEFAULT_DETECTOR, PersonDetector
    from rtpose.pose.triton_detector import TritonDetector, is_triton_url

    weights = weights or DEFAULT_DETECTOR
    if is_triton_url(weights):
        return TritonDetector(str(weights), **kwargs)
    return PersonDetector(weights, **kwargs)


def estimator_for_model(model, *, device: str = "auto", input_hw: tuple[int, int] = (256, 192), flip: bool = False,
                        keypoint_set=None):
    """A box-given estimator around an HRNet already in memory (training's validation), on PyTorch.

    The model is not modified (the backend works on a copy).
    """
    import copy

    from rtpose.pose.estimator import TopDownEstimator
    from rtpose.runtime.torch_runtime import TorchBackend

    backend = TorchBackend(copy.deepcopy(model).eval(), device=str(device), input_hw=tuple(input_hw))
    return TopDownEstimator(backend, detector=None, flip=flip, keypoint_set=keypoint_set)


__all__ = ["ModelOptions", "build_estimator", "estimator_for_model", "make_detector"]
