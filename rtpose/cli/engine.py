"""``rtpose build-engine``: a TensorRT engine (FP16 by default) from the pose model, with a JSON sidecar."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtpose.cli.common import add_option
from rtpose.options.schema import INPUT_FILE, OUTPUT_FOLDER, Option
from rtpose.options.table import option

HELP = "compile a TensorRT engine (FP16 by default) from HRNet weights or an exported ONNX file"

#: ``rtpose build-engine``'s options (``--fp16``/``--fp32``, a pair of switches on one ``fp16``, are below).
OPTIONS = {o.name: o for o in (
    option("weights", help="HRNet checkpoint or registry name (downloaded on first use), exported to ONNX first and "
                           "reused (default: hrnet_w32_coco_256x192)"),
    Option("onnx", "path", role=INPUT_FILE, metavar="FILE",
           help="an ONNX file from 'rtpose export-onnx' (its precision is used)"),
    option("input_size", default=(256, 192), help="model input height x width with --weights"),
    Option("max_batch", "int", 32, low=1, metavar="N", help="most people per call; the engine accepts batch 1..N"),
    Option("opt_batch", "int", None, low=1, metavar="N",
           help="batch size TensorRT tunes for (default: min(8, max batch))"),
    Option("workspace", "float", 4.0, low=0.0, above=True, metavar="GB", help="builder workspace"),
    option("device", default="cuda", help="cuda or cuda:N"),
    Option("out", "path", role=OUTPUT_FOLDER, metavar="DIR",
           help="output folder, also for timing.cache (default: ./engines or ~/.cache/rtpose/engines)"),
)}


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    add_option(source, OPTIONS["weights"])
    add_option(source, OPTIONS["onnx"])
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp16", dest="fp16", action="store_true", default=True,
                           help="FP16 engine from an FP16 ONNX graph, strongly typed (the default)")
    precision.add_argument("--fp32", dest="fp16", action="store_false", help="FP32 engine instead")
    for name in ("input_size", "max_batch", "opt_batch", "workspace", "device", "out"):
        add_option(parser, OPTIONS[name])


def main(args: argparse.Namespace) -> int:
    from rtpose.cli.common import check_command_paths
    from rtpose.errors import RtposeError
    from rtpose.export.onnx_graph import onnx_precision
    from rtpose.export.pose_onnx import ensure_onnx
    from rtpose.export.sidecar import read_sidecar
    from rtpose.export.tensorrt import build_engine
    from rtpose.runtime.tensorrt_runtime import cuda_index, gpu_info, import_tensorrt

    check_command_paths(args)
    # Fail fast, before a long export, when this machine cannot build engines.
    import_tensorrt()
    gpu_info(cuda_index(args.device))
    if args.onnx:
        onnx_path = args.onnx
        have = onnx_precision(onnx_path)
        want = "fp16" if args.fp16 else "fp32"
        if have != want:
            flag = " --fp16" if want == "fp16" else ""
            raise RtposeError(
                f"{onnx_path} is an {have} graph but an {want} engine was asked for; export one with "
                f"'rtpose export-onnx --weights W{flag}', or pass --{have}."
            )
    else:
        from rtpose.weights.registry import resolve_weights

        weights = resolve_weights(args.weights)
        onnx_path = ensure_onnx(weights, input_hw=args.input_size, fp16=args.fp16, out_dir=args.out, verify=True)
    path = build_engine(
        onnx_path,
        out_dir=args.out,
        max_batch=args.max_batch,
        opt_batch=args.opt_batch,
        workspace_gb=args.workspace,
        device=args.device,
    )
    print(path)
    weights = args.weights or read_sidecar(path).get("weights")
    if not weights or not Path(weights).is_file():
        from rtpose.log import say

        say("no checkpoint to compare the engine with (give --weights to see its accuracy against PyTorch)")
        return 0
    return print_engine_comparison(path, Path(weights), args.device)


def print_engine_comparison(engine: Path, weights: Path, device: str = "cuda") -> int:
    """Run the new engine and PyTorch FP32 (CPU) on real crops of bus.jpg and print ``rtpose check``'s table row."""
    from rtpose.pose.detector import import_ultralytics

    import_ultralytics()
    from ultralytics.utils import ASSETS

    from rtpose.cli.check import BUS_BOXES, compare_to_reference, format_table, real_crops
    from rtpose.errors import EngineError
    from rtpose.runtime.tensorrt_runtime import TensorRTBackend
    from rtpose.runtime.torch_runtime import TorchBackend
    from rtpose.weights.pose import load_pose_model

    with TensorRTBackend(engine, device=device) as backend:
        crops, centers, sizes = real_crops(Path(ASSETS) / "bus.jpg", BUS_BOXES, backend.input_hw)
        reference = TorchBackend(load_pose_model(weights), device="cpu", input_hw=backend.input_hw).infer(crops)
        row = compare_to_reference(backend, crops, reference, centers, sizes)
    print(f"\n{engine.name} vs PyTorch FP32 ({weights.name}) on {len(crops)} real crops of bus.jpg:")
    print(format_table([row]))
    if not row.ok:
        raise EngineError(f"The engine {engine.name} does not match PyTorch: {row.note}.")
    return 0
