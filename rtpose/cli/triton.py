"""``rtpose export-triton``: a Triton Inference Server model repository for the pose model."""

from __future__ import annotations

import argparse

from rtpose.cli.common import check_command_paths, declare_roles, parse_size
from rtpose.options.schema import INPUT_FILE, OUTPUT_FOLDER

HELP = ("write a Triton Inference Server model repository: the pose model (uint8 crops in, fp16 heatmaps out) and "
        "the YOLO detector (Ultralytics' ONNX export)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", metavar="PATH|NAME",
                        help="HRNet checkpoint or registry name (default: hrnet_w32_coco_256x192)")
    parser.add_argument("--repo", required=True, metavar="DIR", help="model repository folder to write")
    parser.add_argument("--input-size", type=parse_size, default=None, metavar="HxW",
                        help="model input height x width (default: what the weights were trained for)")
    parser.add_argument("--python-backend", action="store_true",
                        help="serve the ONNX file with ONNX Runtime inside Triton's Python backend (CPU)")
    parser.add_argument("--engine", metavar="PLAN", default=None,
                        help="a TensorRT plan built from this repository's model.onnx for the server's GPU: "
                             "served with the tensorrt_plan platform")
    parser.add_argument("--cpu", action="store_true", help="ONNX Runtime backend on the server's CPU (KIND_CPU)")
    parser.add_argument("--max-batch", type=int, default=64, help="max_batch_size (default: 64)")
    parser.add_argument("--instances", type=int, default=1, help="model instances (default: 1)")
    parser.add_argument("--detector", metavar="PATH|NAME", default=None,
                        help="the Ultralytics YOLO detector written (its own ONNX export) as model yolo_detector "
                             "(default: yolov8n.pt)")
    parser.add_argument("--no-detector", action="store_true", help="write the pose model only")
    parser.add_argument("--trust-detector", action="store_true",
                        help="load a --detector file even when it needs unsafe unpickling (it could run code)")
    parser.add_argument("--queue-timeout-ms", type=float, default=200.0,
                        help="a request waiting longer in Triton's queue is rejected (default: 200)")
    declare_roles(parser, weights=INPUT_FILE, repo=OUTPUT_FOLDER, engine=INPUT_FILE, detector=INPUT_FILE)


def main(args: argparse.Namespace) -> int:
    from rtpose.errors import RtposeError, WeightsError
    from rtpose.export.triton import export_triton_repository
    from rtpose.pose.detector import DEFAULT_DETECTOR

    check_command_paths(args)
    if args.no_detector and args.detector:
        raise RtposeError("--no-detector and --detector contradict each other; pass one of them.")
    for flag, value in (("--max-batch", args.max_batch), ("--instances", args.instances)):
        if value < 1:
            raise RtposeError(f"{flag} must be at least 1, not {value}.")
    if args.queue_timeout_ms <= 0:
        raise RtposeError(f"--queue-timeout-ms must be above 0, not {args.queue_timeout_ms:g}.")

    try:
        folders = export_triton_repository(
            args.weights, args.repo, detector=None if args.no_detector else (args.detector or DEFAULT_DETECTOR),
            trust_detector=args.trust_detector, input_hw=args.input_size, python_backend=args.python_backend,
            engine=args.engine, max_batch=args.max_batch, instances=args.instances, gpu=not args.cpu,
            queue_timeout_us=int(args.queue_timeout_ms * 1000),
        )
    except WeightsError as exc:
        if exc.parameter != "detector" or args.detector:
            raise
        raise WeightsError(f"{exc.render('--detector').rstrip('.')}, or --no-detector to write the pose model only.",
                           parameter="detector") from None
    for folder in folders:
        print(folder)
    return 0
