"""``rtpose eval``: score COCO keypoint predictions, or run a model on a COCO set and score it.

    rtpose eval --ann ANN.json --results PREDS.json
    rtpose eval --ann ANN.json --images DIR --weights W [--boxes gt|DETS.json] [--flip] [--out results.json]
    rtpose eval --labels LABEL_DIR --results PARTS.jsonl|MASK_DIR [--source IMAGE_DIR] [--seg-classes lip] [--json S]
"""

from __future__ import annotations

import argparse
import sys

from rtpose.options.schema import INPUT_FILE, INPUT_FOLDER, OUTPUT_FILE, Option

HELP = ("score COCO-format keypoint predictions (any keypoint set; with person masks, mask AP too), run a "
        "model on a set and score it (OKS AP; with --seg person, mask AP), or score body-part maps against label "
        "PNGs (per-class IoU, mIoU, pixel accuracy)")


#: ``rtpose eval``'s own options (the model's come from :mod:`rtpose.options.table`).
OPTIONS = (
    Option("ann", "path", role=INPUT_FILE, metavar="ANN.json",
           help="COCO person keypoint annotations (needed unless --labels)"),
    Option("results", "path", role=INPUT_FILE, metavar="PREDS.json",
           help="COCO keypoint results to score; with --labels: rtpose --seg parts --json output, or a folder of "
                "label PNGs (such as --save-masks writes)"),
    Option("images", "path", role=INPUT_FOLDER, metavar="DIR", help="image folder: run the model on the images of "
                                                                    "--ann"),
    Option("boxes", "path", "gt", role=INPUT_FILE, metavar="gt|DETS.json",
           help="person boxes: 'gt' (ground truth) or a COCO detection results file"),
    Option("det_score_thr", "float", 0.0, low=0.0, high=1.0, help="ignore detections scoring below this"),
    Option("out", "path", role=OUTPUT_FILE, metavar="PATH",
           help="also write the predictions with --images as COCO results JSON (default: not written)"),
    Option("quiet", "bool", False, help="no progress bar"),
    Option("labels", "path", role=INPUT_FOLDER, metavar="DIR",
           help="ground-truth label PNGs, one per image named by its file stem (pixel = class index of "
                "--seg-classes, default lip; 255 = ignore): score --results as part maps"),
    Option("source", "path", role=INPUT_FOLDER, metavar="DIR",
           help="with --labels and a --save-masks folder: the image folder that run read, to match its "
                "frame_NNNNNN.png files to image names (default: PNGs are matched by file stem)"),
    Option("json", "path", role=OUTPUT_FILE, metavar="PATH",
           help="with --labels: also write the scores (per-class IoU, mIoU, pixel accuracy) as JSON; - for "
                "standard output"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    from rtpose.cli.common import add_model_args, add_option

    own = {o.name: o for o in OPTIONS}
    add_option(parser, own["ann"])
    what = parser.add_mutually_exclusive_group(required=True)
    add_option(what, own["results"])
    add_option(what, own["images"])
    for name in ("boxes", "det_score_thr", "out", "quiet"):
        add_option(parser, own[name])
    parts = parser.add_argument_group("body-part maps (mIoU)")
    for name in ("labels", "source", "json"):
        add_option(parts, own[name])
    add_model_args(parser, detector=False)


def main(args: argparse.Namespace) -> int:
    from rtpose.cli.common import check_command_paths
    from rtpose.errors import RtposeError
    from rtpose.eval.keypoints import load_coco, predict_coco, write_results
    from rtpose.log import say, warn

    check_command_paths(args)  # no output onto an input (--weights, an image of --images, a label PNG…)
    if args.labels is not None:
        return _part_maps(args)
    for flag, value in (("--source", args.source), ("--json", args.json)):
        if value is not None:
            raise RtposeError(f"{flag} belongs to part-map scoring; give --labels with it.")
    if args.ann is None:
        raise RtposeError("--ann is needed to score keypoints (or give --labels to score part maps).")
    if args.results is not None:
        _report(args.ann, args.results, args.keypoints)
        return 0

    from rtpose.cli.common import build_estimator

    load_coco(args.ann)  # fail on a bad annotation file or an unwritable --out before loading the model
    if args.out:
        from rtpose.io.paths import output_file

        output_file(args.out, "results file (--out)")
    estimator = build_estimator(args, with_detector=False)  # the default checkpoint when none is given
    results = predict_coco(estimator, args.ann, args.images, boxes=args.boxes, det_score_thr=args.det_score_thr,
                           progress=not args.quiet)
    if args.out:
        out = write_results(results, args.out)
        say(f"{len(results)} predictions written to {out}")
    if not results:
        warn("no people to evaluate (no boxes for these images)")
        return 1
    _report(args.ann, results, estimator.keypoint_set)
    return 0


def _report(ann, results, keypoint_set) -> None:
    """Print the AP table and line; for sets with parts in their annotations (COCO-WholeBody), one per part."""
    from rtpose.eval.keypoints import (
        annotation_keypoint_set,
        evaluate_coco,
        evaluate_keypoint_parts,
        format_metrics,
        load_coco,
    )

    kset = annotation_keypoint_set(load_coco(ann), keypoint_set)
    if len(kset.annotation_fields) > 1:
        for part, metrics in evaluate_keypoint_parts(ann, results, keypoint_set=kset, table=sys.stdout).items():
            print(f"{part:<11} {format_metrics(metrics)}")
        return
    print(format_metrics(evaluate_coco(ann, results, keypoint_set=kset, table=sys.stdout)))
    if _has_masks(results):
        from rtpose.eval.keypoints import evaluate_masks

        print("mask " + format_metrics(evaluate_masks(ann, results, table=sys.stdout)))


def _has_masks(results) -> bool:
    """Whether the results carry person masks (``"segmentation"``): then the mask AP is scored too."""
    if not isinstance(results, list):
        import json
        from pathlib import Path

        try:
            results = json.loads(Path(results).read_text())
        except (OSError, ValueError):
            return False
    return isinstance(results, list) and any(isinstance(r, dict) and r.get("segmentation") for r in results)


def _part_maps(args: argparse.Namespace) -> int:
    """``--labels``: per-class IoU, mIoU and pixel accuracy of part maps; the table, and ``--json``."""
    import json

    from rtpose.errors import RtposeError
    from rtpose.eval.parts import evaluate_part_maps
    from rtpose.io.paths import output_file
    from rtpose.seg.classes import get_class_set

    if args.results is None:
        raise RtposeError("--labels scores part maps given with --results (rtpose --seg parts --json output or a "
                          "folder of label PNGs), not a model run on --images.")
    if args.ann is not None:
        raise RtposeError("--labels and --ann are two kinds of ground truth; give one.")
    classes = get_class_set(args.seg_classes or "lip")
    if args.json and args.json != "-":
        output_file(args.json, "--json file")
    scores = evaluate_part_maps(args.labels, args.results, classes, source_dir=args.source)
    print(f"{scores.images} images, {classes.name} classes ({classes.num_classes})")
    print(scores.table())
    if args.json:
        text = json.dumps({"classes": classes.name, **scores.to_dict()}, indent=1)
        if args.json == "-":
            print(text)
        else:
            from pathlib import Path

            Path(args.json).write_text(text + "\n")
    return 0
