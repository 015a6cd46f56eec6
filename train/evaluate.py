"""``python -m train.evaluate``: score a checkpoint on a COCO keypoint set and print the AP table.

Examples::

    python -m train.evaluate --weights runs/w32/best.pth --ann /data/coco/annotations/person_keypoints_val2017.json \\
        --images /data/coco/val2017
    python -m train.evaluate --weights pose_hrnet_w32_256x192.pth --ann val.json --images val2017 \\
        --boxes COCO_val2017_detections_AP_H_56_person.json --flip --out results.json

It is ``rtpose eval`` under the name training users look for: the same options and checks. The input
size defaults to the one recorded in an rtpose training checkpoint (``meta.input_size``), else 256x192.
:func:`evaluate` is the same for Python callers (scripts, tests).
"""

from __future__ import annotations

import sys

from rtpose.errors import RtposeError


def evaluate(weights: str, ann: str, images: str, boxes: str = "gt", input_size: tuple[int, int] | None = None,
             device: str = "auto", flip: bool = False, det_score_thr: float = 0.0, out: str | None = None,
             progress: bool = True, quiet: bool = False) -> dict[str, float]:
    """COCO keypoint metrics of a checkpoint (pycocotools' table to the ``rtpose`` logger unless ``quiet``)."""
    from rtpose.eval.keypoints import evaluate_coco, load_coco, predict_coco, write_results
    from rtpose.options import ModelOptions
    from rtpose.pose.factory import build_estimator

    load_coco(ann)  # a bad annotation file fails before the model loads
    estimator = build_estimator(ModelOptions(weights=weights, backend="torch", device=device, input_size=input_size,
                                             flip=flip, with_detector=False))
    results = predict_coco(estimator, ann, images, boxes=boxes, det_score_thr=det_score_thr, progress=progress)
    if out:
        write_results(results, out)
    if not results:
        raise RtposeError(f"No people to evaluate: {ann} gives no boxes for its images.")
    return evaluate_coco(ann, results, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    """``python -m train.evaluate ARGS`` is ``rtpose eval ARGS``: one evaluation command, one set of checks.

    (Its options are the same; ``--out`` is checked before the evaluation starts.)
    """
    from rtpose.cli import main as rtpose_main

    return rtpose_main(["eval", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
