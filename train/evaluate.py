"""``python -m train.evaluate``: score a checkpoint on a COCO keypoint set and print the AP table.

Examples::

    python -m train.evaluate --weights runs/w32/best.pth --ann /data/coco/annotations/person_keypoints_val2017.json \\
        --images /data/coco/val2017
    python -m train.evaluate --weights pose_hrnet_w32_256x192.pth --ann val.json --images val2017 \\
        --boxes COCO_val2017_detections_AP_H_56_person.json --flip --out results.json

The input size defaults to the one recorded in an rtpose training checkpoint (``meta.input_size``),
else 256x192. Prediction and scoring are :func:`rtpose.evaluation.predict_coco` and
:func:`rtpose.evaluation.evaluate_coco`, the code behind ``rtpose eval``.
"""

from __future__ import annotations

import argparse
import sys

from rtpose.errors import RtposeError

PROG = "train.evaluate"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, metavar="PATH", help="any checkpoint rtpose can load")
    p.add_argument("--ann", required=True, metavar="ANN.json", help="COCO person keypoint annotations")
    p.add_argument("--images", required=True, metavar="DIR", help="the images of --ann")
    p.add_argument("--boxes", default="gt", metavar="gt|DETS.json",
                   help="person boxes: gt or a COCO detection results file (default: gt)")
    p.add_argument("--det-score-thr", type=float, default=0.0, help="ignore detections scoring below this")
    p.add_argument("--input-size", default=None, metavar="HxW",
                   help="model input (default: the checkpoint's meta.input_size, else 256x192)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    p.add_argument("--flip", action="store_true", help="flip test")
    p.add_argument("--out", default=None, metavar="PATH", help="also write the predictions (COCO results JSON)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def evaluate(weights: str, ann: str, images: str, boxes: str = "gt", input_size: tuple[int, int] | None = None,
             device: str = "auto", flip: bool = False, det_score_thr: float = 0.0, out: str | None = None,
             progress: bool = True, quiet: bool = False) -> dict[str, float]:
    """COCO keypoint metrics of a checkpoint (prints pycocotools' table unless ``quiet``)."""
    from rtpose.backends.torch_backend import TorchBackend
    from rtpose.checkpoints import load_pose_model, trained_input_hw
    from rtpose.estimator import TopDownEstimator
    from rtpose.evaluation import evaluate_coco, load_coco, predict_coco, write_results

    load_coco(ann)  # a bad annotation file fails before the model loads
    if input_size is None:
        input_size = trained_input_hw(weights) or (256, 192)
    model = load_pose_model(weights)
    estimator = TopDownEstimator(TorchBackend(model, device=device, input_hw=tuple(input_size)), flip=flip)
    results = predict_coco(estimator, ann, images, boxes=boxes, det_score_thr=det_score_thr, progress=progress)
    if out:
        write_results(results, out)
    if not results:
        raise RtposeError(f"No people to evaluate: {ann} gives no boxes for its images.")
    return evaluate_coco(ann, results, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        size = None
        if args.input_size:
            from rtpose.cli.common import parse_size

            try:
                size = parse_size(args.input_size)
            except argparse.ArgumentTypeError as exc:
                raise RtposeError(f"--input-size: {exc}.") from None
        from rtpose.evaluation import format_metrics

        metrics = evaluate(args.weights, args.ann, args.images, boxes=args.boxes, input_size=size,
                           device=args.device, flip=args.flip, det_score_thr=args.det_score_thr, out=args.out,
                           progress=not args.quiet)
    except RtposeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(format_metrics(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
