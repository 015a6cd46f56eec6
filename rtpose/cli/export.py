"""``rtpose export-onnx``: the pose model as ONNX (dynamic batch), checked and verified against PyTorch."""

from __future__ import annotations

import argparse

from rtpose.cli.common import parse_size

#: Highest opset PyTorch's TorchScript ONNX exporter (the one rtpose uses) writes.
MAX_OPSET = 20


def opset_version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 17 <= value <= MAX_OPSET:
        raise argparse.ArgumentTypeError(f"opset must be 17 to {MAX_OPSET}, got {value}")
    return value

HELP = "export the pose model to ONNX (dynamic batch axis), check it and verify it against PyTorch"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", metavar="PATH|NAME",
                        help="HRNet checkpoint (official/mmpose/rtpose) or a registry name, downloaded on first use "
                             "(default: hrnet_w32_coco_256x192)")
    parser.add_argument("--fp16", action="store_true",
                        help="FP16 weights and compute with float32 input/output (for 'rtpose build-engine --fp16')")
    parser.add_argument("--input-size", type=parse_size, default=(256, 192), metavar="HxW",
                        help="model input height x width (default: 256x192)")
    parser.add_argument("--out", metavar="DIR_OR_FILE", default=None,
                        help="output folder (default: ./engines, or ~/.cache/rtpose/engines) or a .onnx file name")
    parser.add_argument("--opset", type=opset_version, default=17,
                        help=f"ONNX opset, 17 to {MAX_OPSET} (default: 17)")
    parser.add_argument("--verify-on", metavar="IMAGE|NPZ", default=None,
                        help="verify on crops of this image or the 'input' array of an .npz (default: synthetic)")
    parser.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtpose.export.pose_onnx import export_onnx
    from rtpose.export.verify import load_verification_crops
    from rtpose.weights.registry import resolve_weights

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
