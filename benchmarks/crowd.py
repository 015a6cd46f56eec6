"""Crowds against a frame budget (issue 30): speed with ``--budget``, and what carrying poses costs in accuracy.

Builds crowd videos by tiling ``vtest-480x360.avi`` (each tile a different moment of the video, so the
people differ): 2×2 (960×720, ≈ 25 people a frame) and 3×3 (1440×1080, ≈ 55). On each, in the same run,
full processing (no budget) and budgets of 66 and 100 ms (``PoseModel.stream(budget_ms=…)``, ``max_age``
10), printing frames/s, p50/p95 of a frame's model work (detect, schedule, crop, pose, decode, track in
ms, from each result's ``timings_ms``), the share of fresh poses and the detector calls.

Accuracy: the test weights are untrained, so the scheduler's cost in accuracy is measured with real
keypoints. The one-stage baseline ``../shared/models/yolov8n-pose-baseline.pt`` gives every person's
keypoints on every frame (run top-down on each person's crop scaled to ``--baseline-height`` pixels,
default 320: on whole frames it finds few of vtest's small people, see :func:`baseline_poses`). The
scheduler (:class:`rtpose.pose.budget.FrameBudget`, the same code, with the cost model the real budgeted
run measured, frozen) is replayed on those frames with the baseline as detector
(its boxes, when the scheduler asks for a detection) and as pose model (a chosen person's fresh
keypoints are those of the baseline person their box overlaps most, that frame); carried people get
rtpose's propagation of their last fresh keypoints. OKS (COCO's formula and sigmas from
:mod:`rtpose.pose.keypoint_sets`, the box area as the object's area, the baseline's keypoints scoring
>= 0.5 as the visible ones) against the baseline's keypoints of that frame, for every baseline person
(0 when the scheduler has nobody there) and for the carried poses only. The replay leaves out the
tracker's One-Euro smoothing.

    python benchmarks/crowd.py                              # 60 frames, 2x2 and 3x3, W32 deterministic weights
    python benchmarks/crowd.py --frames 30 --grids 2 --budgets 66

Not a test: it prints numbers (and a Markdown table with ``--markdown``).
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_weights import ROOT, SHARED, deterministic_weights  # noqa: E402

sys.path.insert(0, str(ROOT))
import rtpose  # noqa: E402
from rtpose.pose.budget import FrameBudget  # noqa: E402
from rtpose.pose.detector import Detections  # noqa: E402
from rtpose.pose.keypoint_sets import COCO  # noqa: E402
from rtpose.results import PoseResult  # noqa: E402
from rtpose.tracking.tracker import assign, box_iou, keypoint_oks  # noqa: E402

VIDEO = SHARED / "data" / "videos" / "vtest-480x360.avi"
DETECTOR = SHARED / "models" / "yolov8n-person.pt"
BASELINE = SHARED / "models" / "yolov8n-pose-baseline.pt"
MODEL_STAGES = ("detect", "schedule", "crop", "pose", "decode", "track")


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "unknown CPU"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def crowd_video(grid: int, frames: int, folder: Path) -> tuple[Path, list[np.ndarray]]:
    """vtest tiled grid×grid, tile i at ``i × 60`` frames into the video; the video file and its frames."""
    cap = cv2.VideoCapture(str(VIDEO))
    source = []
    need = frames + 60 * (grid * grid - 1)
    while len(source) < need:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        source.append(frame)
    cap.release()
    tiled = []
    for t in range(frames):
        tiles = [source[t + 60 * i] for i in range(grid * grid)]
        tiled.append(np.vstack([np.hstack(tiles[r * grid:(r + 1) * grid]) for r in range(grid)]))
    path = folder / f"crowd{grid}x{grid}.mp4"
    h, w = tiled[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for frame in tiled:
        writer.write(frame)
    writer.release()
    return path, tiled


def run_case(model, video: Path, budget: float | None, max_age: int) -> dict:
    stream = model.stream(str(video), budget_ms=budget, max_age=max_age)
    frame_ms, people = [], 0
    for result in stream:
        frame_ms.append(sum(result.timings_ms.get(s, 0.0) for s in MODEL_STAGES))
        people += len(result)
    stats = stream.stats()
    row = {"budget": budget, "fps": stats.fps, "p50": float(np.percentile(frame_ms, 50)),
           "p95": float(np.percentile(frame_ms, 95)), "people": people / max(len(frame_ms), 1),
           "frames": len(frame_ms)}
    if stats.budget is not None:
        b = stats.budget
        row.update(fresh=b.fresh_share, detector=b.detector_calls, met=float(np.mean(np.array(frame_ms) <= budget)),
                   crop_ms=b.crop_ms, detect_ms=b.detect_ms, costs=copy.deepcopy(stream.pipeline.budget.costs))
    else:
        row.update(fresh=1.0, detector=stats.frames, met=None)
    return row


def baseline_poses(frames: list[np.ndarray], height: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per frame the baseline's people: boxes (N, 4), scores (N,), keypoints (N, 17, 3) in frame pixels.

    The one-stage baseline finds few of vtest's small people on the whole frame (3 of 5 at any input size),
    so it is run top-down: every box of the person detector, enlarged 1.5×, scaled to ``height`` pixels
    high; the baseline's most confident person whose box holds the crop's centre gives that person's
    keypoints (people it finds nobody for are left out).
    """
    from ultralytics import YOLO

    detector, pose = YOLO(str(DETECTOR)), YOLO(str(BASELINE))
    out = []
    for frame in frames:
        det = detector.predict(frame, conf=0.25, verbose=False)[0].boxes
        boxes_in, crops, places = det.xyxy.cpu().numpy(), [], []
        fh, fw = frame.shape[:2]
        for b in boxes_in:
            centre, size = (b[:2] + b[2:]) / 2, (b[2:] - b[:2]) * 1.5
            x1, y1 = (int(max(v, 0)) for v in centre - size / 2)
            x2, y2 = int(min(centre[0] + size[0] / 2, fw)), int(min(centre[1] + size[1] / 2, fh))
            scale = height / max(y2 - y1, 1)
            crops.append(cv2.resize(frame[y1:y2, x1:x2], None, fx=scale, fy=scale))
            places.append((x1, y1, scale, (centre - [x1, y1]) * scale))
        boxes, scores, kpts = [], [], []
        results = pose.predict(crops, imgsz=height, conf=0.1, verbose=False) if crops else []
        for b, conf, r, (x1, y1, scale, mid) in zip(boxes_in, det.conf.cpu().numpy(), results, places):
            xyxy = r.boxes.xyxy.cpu().numpy()
            holds = [k for k, q in enumerate(xyxy) if q[0] <= mid[0] <= q[2] and q[1] <= mid[1] <= q[3]]
            if not holds:
                continue
            best = max(holds, key=lambda k: float(r.boxes.conf[k]))
            xy = r.keypoints.xy[best].cpu().numpy() / scale + [x1, y1]
            kpts.append(np.concatenate([xy, r.keypoints.conf[best].cpu().numpy()[:, None]], 1))
            boxes.append(b)
            scores.append(conf)
        out.append((np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                    np.array(kpts, np.float32).reshape(-1, 17, 3)))
    return out


def replay(frames: list[np.ndarray], truth, budget_ms: float | None, max_age: int, costs) -> dict:
    """The scheduler on the baseline's keypoints; OKS against the baseline's keypoints of every frame."""
    budget = FrameBudget(budget_ms or 1e12, max_age, costs=copy.deepcopy(costs) if costs is not None else None)
    state = budget.states[0]
    all_oks, carried_oks, ages = [], [], []
    for image, (boxes, scores, kpts) in zip(frames, truth):
        detect = budget.detect_due([0])[0]
        detections = [Detections(boxes, scores)] if detect else [None]
        chosen, crop_boxes, _ = budget.plan([0], [image], detections)
        fresh = np.zeros((len(chosen[0]), 17, 3), np.float32)
        if len(crop_boxes[0]) and len(boxes):
            overlap = box_iou(crop_boxes[0], boxes)
            for j in range(len(chosen[0])):
                if overlap[j].max() >= 0.3:
                    fresh[j] = kpts[int(overlap[j].argmax())]
        result = budget._complete(state, chosen[0], PoseResult(crop_boxes[0], np.ones(len(fresh)), fresh),
                                  COCO)
        ages += result.ages.tolist()
        pairs = dict((c, r) for r, c in assign(box_iou(result.boxes, boxes), 0.3)) if len(result) else {}
        for g in range(len(boxes)):
            visible = kpts[g, :, 2] >= 0.5
            if visible.sum() < 1:
                continue
            area = float(np.prod(np.clip(boxes[g, 2:] - boxes[g, :2], 1, None)))
            if g not in pairs:
                all_oks.append(0.0)
                continue
            r = pairs[g]
            oks = keypoint_oks(result.keypoints[r, :, :2], np.ones(17, bool), kpts[g, :, :2], visible, area,
                               COCO.oks_sigmas)
            all_oks.append(oks)
            if result.ages[r] > 0:
                carried_oks.append(oks)
    return {"oks_all": float(np.mean(all_oks)) if all_oks else float("nan"),
            "oks_carried": float(np.mean(carried_oks)) if carried_oks else float("nan"),
            "carried_n": len(carried_oks), "n": len(all_oks),
            "replay_fresh": float(np.mean(np.array(ages) == 0)) if ages else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--grids", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--budgets", type=float, nargs="+", default=[66.0, 100.0])
    parser.add_argument("--max-age", type=int, default=10)
    parser.add_argument("--weights", help="HRNet checkpoint (default: deterministic W32 weights)")
    parser.add_argument("--width", type=int, default=32, help="HRNet width of the deterministic weights")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--baseline-height", type=int, default=320, help="crop height for the baseline (pixels)")
    parser.add_argument("--max-people", type=int, default=200, help="most people per frame (rtpose's default: 32)")
    parser.add_argument("--no-accuracy", action="store_true")
    parser.add_argument("--replay-ages", type=int, nargs="*", default=[],
                        help="also replay each budget with these max_age values (accuracy only, same costs)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or str(deterministic_weights(args.width, Path(tmp)))
        print(f"CPU: {cpu_name()}; load average {' '.join(f'{v:.1f}' for v in __import__('os').getloadavg())}")
        rows = []
        with rtpose.PoseModel(weights, detector=str(DETECTOR), device="cpu", backend=args.backend,
                              max_people=args.max_people) as model:
            print(f"pose: {Path(weights).name} on {model.info.backend.name} ({model.info.backend.precision}); "
                  f"detector {DETECTOR.name}; {args.frames} frames per video; max_age {args.max_age}")
            for grid in args.grids:
                video, frames = crowd_video(grid, args.frames, Path(tmp))
                truth = None if args.no_accuracy else baseline_poses(frames, args.baseline_height)
                for budget in [None, *args.budgets]:
                    start = time.perf_counter()
                    row = run_case(model, video, budget, args.max_age)
                    row.update(grid=grid, size=f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                               wall=time.perf_counter() - start)
                    if truth is not None:
                        row.update(replay(frames, truth, budget, args.max_age, row.get("costs")))
                        row["truth_people"] = float(np.mean([len(t[0]) for t in truth]))
                    rows.append(row)
                    print(format_row(row), flush=True)
                    for age in args.replay_ages if truth is not None and budget is not None else []:
                        r = replay(frames, truth, budget, age, row.get("costs"))
                        print(f"    replay with max_age {age}: OKS all {r['oks_all']:.3f}, carried "
                              f"{_f(r['oks_carried'], '.3f')} ({r['carried_n']}), fresh {100 * r['replay_fresh']:.0f}%",
                              flush=True)
        if args.markdown:
            print()
            print(markdown(rows))


def _f(value, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


def format_row(r: dict) -> str:
    budget = "full" if r["budget"] is None else f"{r['budget']:g} ms"
    text = (f"{r['grid']}x{r['grid']} {r['size']} {budget:>7}: {r['fps']:5.1f} frames/s, model work p50 "
            f"{r['p50']:6.1f} ms p95 {r['p95']:6.1f} ms, {r['people']:.1f} people/frame, fresh "
            f"{100 * r['fresh']:5.1f}%, detector {r['detector']}/{r['frames']}")
    if r["met"] is not None:
        text += f", within budget {100 * r['met']:.0f}% (crop {r['crop_ms']:.1f} ms, detector {r['detect_ms']:.1f} ms)"
    if "oks_all" in r:
        text += (f"; OKS all {_f(r['oks_all'], '.3f')} ({r['n']}), carried {_f(r['oks_carried'], '.3f')} "
                 f"({r['carried_n']}); baseline {r['truth_people']:.1f} people/frame")
    return text


def markdown(rows: list[dict]) -> str:
    lines = ["| crowd | budget | frames/s | p50 ms | p95 ms | people/frame | fresh | detector calls | within budget "
             "| OKS all | OKS carried |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        budget = "full" if r["budget"] is None else f"{r['budget']:g} ms"
        met = "-" if r["met"] is None else f"{100 * r['met']:.0f}%"
        lines.append(
            f"| {r['grid']}x{r['grid']} {r['size']} | {budget} | {r['fps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} "
            f"| {r['people']:.1f} | {100 * r['fresh']:.0f}% | {r['detector']}/{r['frames']} | {met} "
            f"| {_f(r.get('oks_all'), '.3f')} | {_f(r.get('oks_carried'), '.3f')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
