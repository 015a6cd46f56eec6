"""``rtpose export-onnx``: the pose model as ONNX (dynamic batch), checked and verified against PyTorch."""

from __future__ import annotations

import argparse

from rtpose.cli.common import add_options
from rtpose.options.schema import INPUT_FILE, OUTPUT_FILE, Option
from rtpose.options.table import option

#: Highest opset PyTorch's TorchScript ONNX exporter (the one rtpose uses) writes.
MAX_OPSET = 20

HELP = "export the pose model to ONNX (dynamic batch axis), check it and verify it against PyTorch"

#: ``rtpose export-onnx``'s options.
OPTIONS = (
    option("weights", help="HRNet checkpoint (official/mmpose/rtpose) or a registry name, downloaded on first use "
                           "(default: hrnet_w32_coco_256x192)"),
    Option("fp16", "bool", False,
           help="FP16 weights and compute with float32 input/output (for 'rtpose build-engine --fp16')"),
    option("input_size", default=(256, 192), help="model input height x width"),
    Option("out", "path", role=OUTPUT_FILE, metavar="DIR_OR_FILE",
           help="output folder (default: ./engines, or ~/.cache/rtpose/engines) or a .onnx file name"),
    Option("opset", "int", 17, low=17, high=MAX_OPSET, help=f"ONNX opset, 17 to {MAX_OPSET}",
           extra={"range_words": f"opset must be 17 to {MAX_OPSET}"}),
    Option("verify_on", "path", role=INPUT_FILE, metavar="IMAGE|NPZ",
           help="verify on crops of this image or the 'input' array of an .npz (default: synthetic)"),
    Option("no_verify", "bool", False, help="skip the ONNX Runtime vs PyTorch comparison"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_options(parser, OPTIONS)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtpose.cli.common import check_command_paths
    from rtpose.export.pose_onnx import export_onnx
    from rtpose.export.verify import load_verification_crops
    from rtpose.weights.registry import resolve_weights

    check_command_paths(args)
    out_dir, out_path = args.out, None
    if args.out and args.out.endswith(".onnx"):
        out_path = Path(args.out)
        out_dir = out_path.parent
    weights = resolve_weights(args.weights)
    if out_path is not None:
        from rtpose.io.paths import check_distinct

        check_distinct({"--out": out_path}, {"--weights": weights, "--verify-on": args.verify_on})
    crops, label = (None, "")
    if not args.no_verify:
        crops, label = load_verification_crops(args.verify_on, args.input_size)
    path = export_onnx(
        weights,
        out_dir=out_dir,
        input_hw=args.input_size,
        fp16=args.fp16,
        opset=args.opset,
        verify=not args.no_verify,
        crops=crops,
        crops_label=label,
        out_path=out_path,
    )
    print(path)
    return 0
