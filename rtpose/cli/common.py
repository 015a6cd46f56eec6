"""Command-line options shared by the commands that run the model (run, eval, gui)."""

from __future__ import annotations

import argparse
import sys

from rtpose.backends import BACKEND_NAMES


def parse_size(text: str) -> tuple[int, int]:
    """``"256x192"`` → (256, 192) as (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 256x192, got {text!r}") from None
    if h % 4 or w % 4 or h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"input size must be positive multiples of 4, got {text!r}")
    return h, w


def add_model_args(parser: argparse.ArgumentParser, detector: bool = True) -> None:
    """``--weights --backend --device --input-size --flip`` (and the detector's options)."""
    group = parser.add_argument_group("model")
    group.add_argument("--weights", metavar="PATH|NAME",
                       help="HRNet checkpoint (official, mmpose or rtpose training file), an exported .onnx, "
                            "a TensorRT .engine, or a downloaded registry name such as hrnet_w32_coco_256x192")
    group.add_argument("--backend", choices=BACKEND_NAMES, default="auto",
                       help="pose inference backend; auto picks the fastest available (default: auto)")
    group.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (default: auto)")
    group.add_argument("--input-size", type=parse_size, default=None, metavar="HxW",
                       help="model input height x width (default: what the weights were trained for, else 256x192)")
    group.add_argument("--flip", action="store_true", help="flip test: average with the mirrored crop (slower)")
    # keypoint sets (rtpose.skeleton): which set the heatmaps are, and what the detector looks for
    from rtpose.skeleton import KEYPOINT_SETS

    group.add_argument("--keypoints", choices=list(KEYPOINT_SETS), default=None, metavar="NAME",
                       help="keypoint set of the weights when the file cannot say (e.g. ap10k for 17 animal "
                            "keypoints): " + ", ".join(KEYPOINT_SETS) + " (default: from the registry entry or "
                            "the number of heatmaps)")
    if detector:
        group.add_argument("--classes", default=None, metavar="IDS|NAMES",
                           help="comma-separated detector classes to pose, ids or names (default: person; "
                                "COCO's animal classes 14-23 for AP-10K models)")
        group.add_argument("--detector", default=None, metavar="PATH|NAME",
                           help="Ultralytics YOLO detector weights or model name (default: yolov8n.pt)")
        group.add_argument("--conf", type=float, default=0.25, help="person detection confidence (default: 0.25)")
        group.add_argument("--max-people", type=int, default=32, help="most people per frame (default: 32)")


def build_estimator(args: argparse.Namespace, with_detector: bool = True, quiet: bool = False):
    """A :class:`~rtpose.estimator.TopDownEstimator` from the options of :func:`add_model_args`."""
    from rtpose.backends import create_backend
    from rtpose.detector import DEFAULT_DETECTOR, PersonDetector
    from rtpose.estimator import TopDownEstimator

    keypoint_set = _keypoint_set(args)
    backend = create_backend(args.backend, weights=args.weights, device=args.device, input_hw=args.input_size)
    if not quiet:
        reason = getattr(backend, "reason", "")
        print(f"rtpose: pose backend {backend.name} on {backend.device}" + (f" ({reason})" if reason else ""),
              file=sys.stderr)
    detector = None
    if with_detector:
        classes = keypoint_set.detector_classes
        if getattr(args, "classes", None):
            classes = [c for c in args.classes.split(",") if c.strip()]
        detector = PersonDetector(
            args.detector or DEFAULT_DETECTOR, conf=args.conf, max_people=args.max_people, device=args.device,
            classes=classes,
        )
    return TopDownEstimator(backend, detector=detector, flip=args.flip, keypoint_set=keypoint_set)


def _keypoint_set(args: argparse.Namespace):
    """The keypoint set of ``--weights`` (``--keypoints`` when given), found before anything slow starts."""
    from rtpose.checkpoints import checkpoint_keypoint_set
    from rtpose.weights import resolve_weights

    if args.weights is None:
        return None
    return checkpoint_keypoint_set(resolve_weights(args.weights), getattr(args, "keypoints", None))
