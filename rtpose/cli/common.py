"""Command-line options shared by the commands that run the model (run, eval, gui)."""

from __future__ import annotations

import argparse

from rtpose.runtime.select import backend_names

#: Largest model input side accepted: the official models use at most 384x288; 1024 leaves room for
#: experiments without letting a typo (4096x4096) build a model that runs for minutes per frame.
MAX_INPUT_SIDE = 1024


def parse_size(text: str) -> tuple[int, int]:
    """``"256x192"`` → (256, 192) as (H, W): multiples of 32 (HRNet halves the resolution five times)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 256x192, got {text!r}") from None
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"input size must be positive multiples of 32 such as 256x192, got {text!r}")
    if max(h, w) > MAX_INPUT_SIDE:
        raise argparse.ArgumentTypeError(f"input size {text!r} is too large (at most {MAX_INPUT_SIDE} per side; "
                                         "the official models use 256x192 and 384x288)")
    return h, w


def fraction(text: str) -> float:
    """A number from 0 to 1 (scores, thresholds)."""
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _number(text: str, kind: type):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") \
            from None
    if kind is float and value != value:  # NaN
        raise argparse.ArgumentTypeError("expected a number, got nan")
    return value


def device_name(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    text = text.strip().lower()
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")


def add_model_args(parser: argparse.ArgumentParser, detector: bool = True, precision: bool = True) -> None:
    """``--weights --backend --device --input-size --flip --keypoints`` (``--precision``, the detector's options)."""
    group = parser.add_argument_group("model")
    group.add_argument("--weights", metavar="PATH|NAME",
                       help="HRNet checkpoint (official, mmpose or rtpose training file), an exported .onnx, "
                            "a TensorRT .engine, or a downloaded registry name such as hrnet_w32_coco_256x192")
    group.add_argument("--backend", choices=backend_names(), default="auto",
                       help="pose inference backend; auto picks the fastest available (default: auto)")
    group.add_argument("--device", type=device_name, default="auto", help="cpu, cuda or cuda:N (default: auto)")
    group.add_argument("--server", default=None, metavar="HOST:PORT[,HOST:PORT]",
                       help="with --backend triton: the Triton servers' gRPC addresses (e.g. gpu1:8001,gpu2:8001)")
    group.add_argument("--input-size", type=parse_size, default=None, metavar="HxW",
                       help="model input height x width (default: what the weights were trained for, else 256x192)")
    group.add_argument("--flip", action="store_true", help="flip test: average with the mirrored crop (slower)")
    # keypoint sets (rtpose.pose.keypoint_sets): which set the heatmaps are, and what the detector looks for
    from rtpose.pose.keypoint_sets import KEYPOINT_SETS

    group.add_argument("--keypoints", choices=list(KEYPOINT_SETS), default=None, metavar="NAME",
                       help="keypoint set of the weights when the file cannot say (e.g. ap10k for 17 animal "
                            "keypoints): " + ", ".join(KEYPOINT_SETS) + " (default: from the registry entry or "
                            "the number of heatmaps)")
    seg = parser.add_argument_group("segmentation (HRNetV2 next to pose)")
    seg.add_argument("--seg", choices=("person", "parts"), default=None,
                     help="person: each person's mask from whole-frame segmentation (default weights: VOC HRNetV2-W18, "
                          "downloaded once); parts: body-part parsing of each person (LIP classes; --seg-weights "
                          "needed: the official LIP file has no published checksum, so it is never fetched)")
    seg.add_argument("--seg-weights", metavar="PATH|NAME", default=None,
                     help="segmentation checkpoint (official HRNet-Semantic-Segmentation, mmsegmentation or rtpose "
                          "file) or registry name (rtpose weights list)")
    from rtpose.runtime.seg_select import SEG_BACKENDS

    seg.add_argument("--seg-backend", choices=SEG_BACKENDS, default=None,
                     help="segmentation runtime (default: --backend's when segmentation has it, else auto: a built "
                          "TensorRT engine or PyTorch FP16 on CUDA, OpenVINO or ONNX Runtime on the CPU); onnxruntime "
                          "and openvino export the model once into the engines folder, tensorrt builds an engine "
                          "there once (minutes)")
    seg.add_argument("--seg-classes", metavar="NAME", default=None,
                     help="the file's class set where its class count is ambiguous: voc, lip, cityscapes, ade20k, "
                          "pascal_context, pascal_context60")
    if precision:
        group.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                           help="inference precision: auto runs OpenVINO in bf16 where the CPU has native BF16 "
                                "(AVX-512 BF16/AMX; keypoints checked against FP32), fp32 keeps every backend in "
                                "float32 (default: auto)")
    if detector:
        group.add_argument("--classes", default=None, metavar="IDS|NAMES",
                           help="comma-separated detector classes to pose, ids or names (default: person; "
                                "COCO's animal classes 14-23 for AP-10K models)")
        group.add_argument("--detector", default=None, metavar="PATH|NAME|URL",
                           help="Ultralytics YOLO detector weights or model name, or one served by Triton: "
                                "triton://HOST:8001/yolo_detector (default: yolov8n.pt)")
        group.add_argument("--trust-detector", action="store_true",
                           help="load a --detector file even when it needs unsafe unpickling, which can run any code "
                                "it contains (default: such files are refused; also RTPOSE_TRUST_DETECTOR=1)")
        group.add_argument("--conf", type=fraction, default=0.25,
                           help="person detection confidence, 0 to 1 (default: 0.25)")
        group.add_argument("--max-people", type=positive_int, default=32, help="most people per frame (default: 32)")


def add_tracking_args(parser: argparse.ArgumentParser) -> None:
    """``--det-every``, ``--track``, ``--smooth``, ``--track-buffer``: the :class:`rtpose.options.StreamOptions`
    of ``rtpose run`` and ``rtpose gui`` (one definition)."""
    parser.add_argument("--det-every", type=positive_int, default=1, metavar="N",
                        help="run the detector on one frame in N; between, each person's box comes from their "
                             "previous keypoints (default: 1, every frame)")
    parser.add_argument("--budget", dest="budget_ms", type=positive_float, default=None, metavar="MS",
                        help="keep each frame's model work near MS milliseconds: new people and the people who moved "
                             "most get a fresh pose, the others' keypoints move with their box, the detector runs "
                             "when the tracks need it (default: no budget, everyone every frame)")
    parser.add_argument("--max-age", type=positive_int, default=10, metavar="N",
                        help="with --budget, the most frames a person's keypoints are carried before a fresh pose "
                             "(default: 10)")
    track = parser.add_argument_group("tracking")
    track.add_argument("--track", action=argparse.BooleanOptionalAction, default=True,
                       help="give people identities across frames (default: on)")
    track.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=True,
                       help="smooth tracked keypoints over time (with --track; default: on)")
    track.add_argument("--track-buffer", type=non_negative_int, default=30, metavar="N",
                       help="frames a lost track is kept before its id is retired (default: 30)")


def build_estimator(args: argparse.Namespace, with_detector: bool = True):
    """The estimator of parsed :func:`add_model_args` options (see :func:`rtpose.pose.factory.build_estimator`)."""
    from rtpose.options import ModelOptions
    from rtpose.pose.factory import build_estimator

    return build_estimator(ModelOptions.from_args(args, with_detector=with_detector))
