"""``rtpose eval``: score COCO keypoint predictions, or run a model on a COCO set and score it.

    rtpose eval --ann ANN.json --results PREDS.json
    rtpose eval --ann ANN.json --images DIR --weights W [--boxes gt|DETS.json] [--flip] [--out results.json]
"""

from __future__ import annotations

import argparse
import sys

HELP = "score COCO keypoint predictions, or run a model on a COCO keypoint set and score it (pycocotools OKS AP)"


def configure(parser: argparse.ArgumentParser) -> None:
    from rtpose.cli.common import add_model_args, fraction

    parser.add_argument("--ann", required=True, metavar="ANN.json", help="COCO person keypoint annotations")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--results", metavar="PREDS.json", help="COCO keypoint results to score")
    what.add_argument("--images", metavar="DIR", help="image folder: run the model on the images of --ann")
    parser.add_argument("--boxes", default="gt", metavar="gt|DETS.json",
                        help="person boxes: 'gt' (ground truth) or a COCO detection results file (default: gt)")
    parser.add_argument("--det-score-thr", type=fraction, default=0.0,
                        help="ignore detections scoring below this (default: 0.0)")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="also write the predictions with --images as COCO results JSON (default: not written)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_args(parser, detector=False)


def main(args: argparse.Namespace) -> int:
    from rtpose.evaluation import evaluate_coco, format_metrics, load_coco, predict_coco, write_results

    if args.results is not None:
        metrics = evaluate_coco(args.ann, args.results)
        print(format_metrics(metrics))
        return 0

    from rtpose.cli.common import build_estimator
    from rtpose.weights import resolve_weights

    load_coco(args.ann)  # fail on a bad annotation file or an unwritable --out before loading the model
    if args.out:
        from rtpose.paths import output_file

        output_file(args.out, "results file (--out)")
    args.weights = str(resolve_weights(args.weights))  # the default checkpoint when none is given
    estimator = build_estimator(args, with_detector=False)
    results = predict_coco(estimator, args.ann, args.images, boxes=args.boxes, det_score_thr=args.det_score_thr,
                           progress=not args.quiet)
    if args.out:
        out = write_results(results, args.out)
        print(f"rtpose: {len(results)} predictions written to {out}", file=sys.stderr)
    if not results:
        print("rtpose: no people to evaluate (no boxes for these images).", file=sys.stderr)
        return 1
    metrics = evaluate_coco(args.ann, results)
    print(format_metrics(metrics))
    return 0
