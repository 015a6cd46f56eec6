"""Building an estimator: the one place that turns "weights, backend, device, detector…" into one.

The command line (``rtpose``, ``rtpose eval``), the viewer, ``python -m train.evaluate`` and the
training loop's validation all build their estimators here, so that they load the same weights the
same way, pick backends by the same rules and say so in the same words.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from rtpose.errors import RtposeError
from rtpose.log import say


@dataclasses.dataclass
class ModelOptions:
    """What an estimator is built from: the model options of ``rtpose run`` and ``rtpose gui``.

    Attributes:
        weights: checkpoint, ``.onnx``, ``.engine`` or registry name; None: the default checkpoint
            (downloaded on first use).
        backend / device: see :func:`rtpose.backends.create_backend`.
        input_size: model input (H, W); None: what the weights were trained for.
        flip: flip test.
        precision: "auto", "fp32" or "bf16" (OpenVINO's CPU inference precision; see
            :mod:`rtpose.backends.select`).
        keypoints: the keypoint set's name when the weights do not say (``--keypoints``).
        detector: YOLO weights or model name; None: :data:`rtpose.detector.DEFAULT_DETECTOR`.
        conf / max_people: detection confidence and most people per image.
        classes: detector classes (ids or names) instead of the keypoint set's.
        with_detector: False for estimators that are always given boxes (evaluation).
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
    with_detector: bool = True

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides) -> ModelOptions:
        """The options of parsed command-line arguments (``--classes a,b`` becomes a list)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in vars(args).items() if k in names and v is not None}
        if isinstance(values.get("classes"), str):
            values["classes"] = [c.strip() for c in values["classes"].split(",") if c.strip()]
        return cls(**{**values, **overrides})


def check_device(device: str) -> None:
    """One sentence, before any model loads, when ``device`` names a GPU this machine does not have."""
    if not device.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise RtposeError(f"--device {device} asks for an NVIDIA GPU, but PyTorch sees none on this machine "
                          "(use --device cpu, or auto to use a GPU only where there is one).")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= count:
        raise RtposeError(f"--device {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}.")


def build_estimator(options: ModelOptions):
    """A :class:`~rtpose.estimator.TopDownEstimator` for ``options``.

    The device is checked and the weights resolved first (the default checkpoint, downloaded on
    first use, when none are given); their keypoint set decides the detector's classes unless
    ``options.classes`` names others. The chosen backend and the reason are said on stderr.
    """
    from rtpose.backends import create_backend
    from rtpose.checkpoints import checkpoint_keypoint_set
    from rtpose.detector import DEFAULT_DETECTOR, PersonDetector
    from rtpose.estimator import TopDownEstimator
    from rtpose.weights import resolve_weights

    check_device(options.device)
    weights = resolve_weights(options.weights)
    keypoint_set = checkpoint_keypoint_set(weights, options.keypoints)
    backend = create_backend(options.backend, weights=str(weights), device=options.device,
                             input_hw=options.input_size, precision=options.precision)
    say(f"pose backend {backend.name} on {backend.device}" + (f" ({backend.reason})" if backend.reason else ""))
    detector = None
    if options.with_detector:
        detector = PersonDetector(
            options.detector or DEFAULT_DETECTOR, conf=options.conf, max_people=options.max_people,
            device=options.device, classes=options.classes or keypoint_set.detector_classes,
        )
        say(f"detector {Path(detector.weights).name} on {detector.device}: {detector.note}")
    return TopDownEstimator(backend, detector=detector, flip=options.flip, keypoint_set=keypoint_set)


def estimator_for_model(model, *, device: str = "auto", input_hw: tuple[int, int] = (256, 192), flip: bool = False,
                        keypoint_set=None):
    """A box-given estimator around an HRNet already in memory (training's validation), on PyTorch.

    The model is not modified (the backend works on a copy).
    """
    import copy

    from rtpose.backends.torch_backend import TorchBackend
    from rtpose.estimator import TopDownEstimator

    backend = TorchBackend(copy.deepcopy(model).eval(), device=str(device), input_hw=tuple(input_hw))
    return TopDownEstimator(backend, detector=None, flip=flip, keypoint_set=keypoint_set)


__all__ = ["ModelOptions", "build_estimator", "check_device", "estimator_for_model"]
