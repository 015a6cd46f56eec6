"""Tracking and smoothing benchmark: identities, ID switches, jitter and lag on a real video.

    python benchmarks/tracking.py                                   # one-by-one-person.mp4, all frames
    python benchmarks/tracking.py --start 480 --end 780             # a frame range
    python benchmarks/tracking.py --weights pose_hrnet_w32.pth      # keypoints from a pose model

What it does:

1. Runs the person detector on every frame of the range (cached in ``--cache``, so later runs are fast).
2. Tracks the detections with ``rtpose.tracking.tracker.PoseTracker`` and, for comparison, with Ultralytics' ByteTrack
   fed the same boxes. Prints per tracker: distinct IDs, long-lived IDs (>= ``--min-len`` frames), ID switches
   and fragmentations, and time per update.
3. Smoothing: jitter (mean frame-to-frame keypoint displacement) with and without the One-Euro filter, the
   noise part of it (mean |second difference|), and the lag smoothing adds.

How ID switches are counted without ground-truth tracks: the default video shows one person at a time, so a
*visit* (a run of frames with a detection, gaps up to ``--gap`` frames bridged) is one person, and its identity
in a frame is the track ID of the highest-scoring detection. Per visit, a **switch** is a frame whose ID
differs from the ID in the visit's previous frame with an ID, **fragments** = distinct IDs - 1, and a **merge**
is an ID seen in more than one visit. Without the one-at-a-time assumption (``--multi``) the tracker-agnostic
count is printed instead: track **births away from the frame border** (a person does not appear out of
nothing in the middle of the image, so such a birth is a fragmentation or a false detection).

Keypoints: with ``--weights`` the HRNet keypoints are smoothed and measured. Without weights (there are no
trained weights in this repository; the deterministic test weights give noise) the five *box points* (4
corners and the centre of each detection box) stand in as keypoints: they are real detector signals with real
jitter. The output says which was used.

Lag: the time shift ``tau`` that best aligns the smoothed signal with the raw one (least squares over all
tracks, sub-frame resolution by linear interpolation), i.e. smoothed(t) ~ raw(t - tau); also the mean
distance between smoothed and raw keypoints in frames where the raw point moves fast (> 2 % of the box height
per frame).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
DEFAULT_VIDEO = SHARED / "data" / "videos" / "one-by-one-person.mp4"
DEFAULT_DETECTOR = SHARED / "models" / "yolov8n-person.pt"


# --------------------------------------------------------------------------------------------- detection
def read_frames(video: Path, start: int, end: int | None, stride: int):
    import cv2

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise SystemExit(f"Cannot open {video}.")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok or (end is not None and index >= end):
            break
        if index >= start and (index - start) % stride == 0:
            yield index, index / fps, frame, fps, size
        index += 1
    cap.release()


def detect(args) -> dict:
    """Per frame: index, timestamp, boxes, scores (and keypoints with --weights), cached on disk."""
    key = f"{Path(args.video).resolve()}|{os.path.getsize(args.video)}|{args.start}|{args.end}|1|" \
          f"{args.detector}|{args.conf}|{args.weights}"
    cache = Path(args.cache) / f"track-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=True)
        return subsample({k: data[k] for k in data.files}, args.stride)
    from rtpose.pose.detector import PersonDetector

    detector = PersonDetector(args.detector, conf=args.conf, device=args.device)
    estimator = None
    if args.weights:
        from rtpose.pose.estimator import TopDownEstimator
        from rtpose.runtime import create_backend

        estimator = TopDownEstimator(create_backend(weights=args.weights, device=args.device))
    frames, times, counts, boxes, scores, kpts = [], [], [], [], [], []
    t0, fps, size = time.perf_counter(), 30.0, (0, 0)
    for index, ts, image, video_fps, video_size in read_frames(Path(args.video), args.start, args.end, 1):
        fps, size = video_fps, video_size
        det = detector(image)
        frames.append(index)
        times.append(ts)
        counts.append(len(det))
        boxes.append(det.boxes)
        scores.append(det.scores)
        if estimator is not None:
            kpts.append(estimator.estimate(image, det).keypoints.reshape(-1, 17, 3))
        if len(frames) % 100 == 0:
            print(f"  detected {len(frames)} frames ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    data = {
        "frames": np.array(frames), "times": np.array(times), "counts": np.array(counts),
        "boxes": np.concatenate(boxes).reshape(-1, 4) if boxes else np.zeros((0, 4), np.float32),
        "scores": np.concatenate(scores) if scores else np.zeros(0, np.float32),
        "fps": np.array(fps), "size": np.array(size),
    }
    if estimator is not None:
        data["keypoints"] = np.concatenate(kpts) if kpts else np.zeros((0, 17, 3), np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    return subsample(data, args.stride)


def subsample(data: dict, stride: int) -> dict:
    """Every ``stride``-th frame of cached detections (a lower frame rate)."""
    if stride == 1:
        return data
    offsets = np.r_[0, np.cumsum(data["counts"])]
    keep = np.arange(0, len(data["frames"]), stride)
    rows = np.concatenate([np.arange(offsets[f], offsets[f + 1]) for f in keep]).astype(int)
    out = dict(data)
    for k in ("frames", "times", "counts"):
        out[k] = data[k][keep]
    for k in ("boxes", "scores", "keypoints"):
        if k in data:
            out[k] = data[k][rows]
    return out


def box_points(box: np.ndarray) -> np.ndarray:
    """17 'keypoints' from a box: corners and centre in slots 0-4 (score 1), the rest score 0."""
    x1, y1, x2, y2 = box
    kp = np.zeros((17, 3), np.float32)
    kp[:5] = [[x1, y1, 1], [x2, y1, 1], [x1, y2, 1], [x2, y2, 1], [(x1 + x2) / 2, (y1 + y2) / 2, 1]]
    return kp


def people_per_frame(data: dict, keypoints: str):
    """One :class:`rtpose.results.PoseResult` per frame of the recorded detections."""
    from rtpose.results import PoseResult

    offsets = np.r_[0, np.cumsum(data["counts"])]
    for f in range(len(data["frames"])):
        sl = slice(offsets[f], offsets[f + 1])
        boxes = data["boxes"][sl].copy()
        if keypoints == "model":
            kp = data["keypoints"][sl].copy()
        elif keypoints == "box":
            kp = np.stack([box_points(b) for b in boxes]) if len(boxes) else np.zeros((0, 17, 3), np.float32)
        else:
            kp = np.zeros((len(boxes), 17, 3), np.float32)
        yield PoseResult(boxes, data["scores"][sl].copy(), kp)


# --------------------------------------------------------------------------------------------- trackers
class _Boxes:
    """The part of Ultralytics' ``Boxes`` its trackers read (8.1 reads xyxy, 8.4 xywh), on numpy arrays."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32).reshape(-1)
        self.cls = np.zeros(len(self.conf), np.float32)

    @property
    def xywh(self) -> np.ndarray:
        xy = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        return np.concatenate([xy, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index])


class UltralyticsTracker:
    """Ultralytics' BYTETracker / BOTSORT behind the PoseTracker interface (boxes only, no smoothing)."""

    def __init__(self, kind: str = "bytetrack", max_lost: int = 30) -> None:
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        cfg = IterableSimpleNamespace(**YAML.load(check_yaml(f"{kind}.yaml")))
        cfg.track_buffer = max_lost
        if kind == "botsort":
            from ultralytics.trackers import BOTSORT

            cfg.gmc_method = "none"  # fixed camera; sparse optical flow would need the frames
            cfg.with_reid = False
            self.tracker = BOTSORT(cfg, frame_rate=30) if _takes_frame_rate(BOTSORT) else BOTSORT(cfg)
        else:
            from ultralytics.trackers import BYTETracker

            self.tracker = BYTETracker(cfg, frame_rate=30) if _takes_frame_rate(BYTETracker) else BYTETracker(cfg)

    def update(self, result, timestamp):
        if not len(result):
            self.tracker.update(_Boxes(np.zeros((0, 4)), np.zeros(0)), None)
            return result.replace(track_ids=np.zeros(0, np.int64))
        rows = self.tracker.update(_Boxes(result.boxes, result.scores), None)
        track_ids = np.full(len(result), -1, np.int64)
        for row in np.asarray(rows).reshape(-1, 8):
            track_ids[int(row[7])] = int(row[4])
        return result.replace(track_ids=track_ids)

    def reset(self):
        self.tracker.reset()


def _takes_frame_rate(cls) -> bool:
    import inspect

    return "frame_rate" in inspect.signature(cls.__init__).parameters


# --------------------------------------------------------------------------------------------- metrics
def visits(present: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs of True (positions), runs separated by at most ``gap`` False positions joined."""
    runs, start, last = [], None, None
    for i, p in enumerate(present):
        if not p:
            continue
        if start is None:
            start = i
        elif i - last > gap + 1:
            runs.append((start, last))
            start = i
        last = i
    if start is not None:
        runs.append((start, last))
    return runs


def id_metrics(ids_per_frame: list[list[int | None]], top_id: list[int | None], boxes_per_frame, size, args) -> dict:
    lengths: dict[int, int] = {}
    for ids in ids_per_frame:
        for i in ids:
            if i is not None:
                lengths[i] = lengths.get(i, 0) + 1
    out = {"ids": len(lengths), "long_ids": sum(v >= args.min_len for v in lengths.values())}
    # births away from the border
    w, h = size
    seen, inner = set(), 0
    for ids, boxes in zip(ids_per_frame, boxes_per_frame):
        for i, b in zip(ids, boxes):
            if i is None or i in seen:
                continue
            seen.add(i)
            margin = args.border * max(w, h)
            if b[0] > margin and b[1] > margin and b[2] < w - margin and b[3] < h - margin:
                inner += 1
    out["inner_births"] = inner
    if not args.multi:
        present = np.array([bool(len(b)) for b in boxes_per_frame])
        vs = visits(present, max(1, round(args.gap / args.stride)))
        switches = frags = 0
        owner: dict[int, int] = {}
        merges = set()
        for k, (a, b) in enumerate(vs):
            prev, distinct = None, set()
            for f in range(a, b + 1):
                i = top_id[f]
                if i is None:
                    continue
                distinct.add(i)
                if prev is not None and i != prev:
                    switches += 1
                prev = i
                if owner.setdefault(i, k) != k:
                    merges.add(i)
            frags += max(len(distinct) - 1, 0)
        out.update(visits=len(vs), switches=switches, fragments=frags, merges=len(merges))
    return out


def run_tracker(tracker, data, keypoints: str):
    ids, top, boxes, raw, smooth = [], [], [], [], []
    times = data["times"]
    t_total = 0.0
    for f, given in enumerate(people_per_frame(data, keypoints)):
        t0 = time.perf_counter()
        result = tracker.update(given, float(times[f]))
        t_total += time.perf_counter() - t0
        track_ids = result.track_id_list()
        ids.append(track_ids)
        top.append(track_ids[0] if len(result) else None)  # detections come highest score first
        boxes.append(list(result.boxes))
        raw_keypoints = result.raw_keypoints if result.raw_keypoints is not None else result.keypoints
        for j, track_id in enumerate(track_ids):
            if track_id is not None:
                height = result.boxes[j, 3] - result.boxes[j, 1]
                raw.append((f, track_id, raw_keypoints[j], height))
                smooth.append((f, track_id, result.keypoints[j], height))
    return ids, top, boxes, raw, smooth, t_total / max(len(times), 1)


def series(records, thr: float):
    """{track: (frames, (T, K, 2) xy, (T, K) valid, median box height)} from (frame, track, keypoints, height)."""
    by: dict[int, list] = {}
    for f, tid, kp, h in records:
        by.setdefault(tid, []).append((f, kp, h))
    out = {}
    for tid, rows in by.items():
        frames = np.array([r[0] for r in rows])
        kp = np.array([r[1] for r in rows], np.float64)
        out[tid] = (frames, kp[..., :2], kp[..., 2] >= thr, float(np.median([r[2] for r in rows])))
    return out


def jitter_metrics(raw_s, smooth_s, stride: int) -> dict:
    d1r, d1s, d2r, d2s, lag_pairs, fast_dev, still_r, still_s = [], [], [], [], [], [], [], []
    for tid, (fr, xr, vr, height) in raw_s.items():
        _, xs, _, _ = smooth_s[tid]
        fast_px = 0.02 * max(height, 1.0)
        consecutive = np.diff(fr) == stride
        both = vr[1:] & vr[:-1] & consecutive[:, None]
        d1r.append(np.linalg.norm(np.diff(xr, axis=0), axis=-1)[both])
        d1s.append(np.linalg.norm(np.diff(xs, axis=0), axis=-1)[both])
        c2 = consecutive[1:] & consecutive[:-1]
        v3 = vr[2:] & vr[1:-1] & vr[:-2] & c2[:, None]
        d2r.append(np.linalg.norm(xr[2:] - 2 * xr[1:-1] + xr[:-2], axis=-1)[v3])
        d2s.append(np.linalg.norm(xs[2:] - 2 * xs[1:-1] + xs[:-2], axis=-1)[v3])
        if len(fr) > 3 and consecutive.all():
            lag_pairs.append((xr, xs, vr))
        if len(fr) > 4:  # still: the point moves < 1 % of the box height over a centred 4-frame window
            c4 = (fr[4:] - fr[:-4]) == 4 * stride
            still = (np.linalg.norm(xr[4:] - xr[:-4], axis=-1) < 0.5 * fast_px) & c4[:, None]
            still &= vr[4:] & vr[:-4] & both[1:-2]
            still_r.append(np.linalg.norm(np.diff(xr, axis=0), axis=-1)[1:-2][still])
            still_s.append(np.linalg.norm(np.diff(xs, axis=0), axis=-1)[1:-2][still])
        step = np.linalg.norm(np.diff(xr, axis=0), axis=-1)
        fast = both & (step > 0)
        fast_dev.append(np.linalg.norm(xs[1:] - xr[1:], axis=-1)[fast & (step > fast_px)])
    cat = lambda a: np.concatenate(a) if a else np.zeros(0)  # noqa: E731
    res = {
        "jitter_raw": cat(d1r).mean(), "jitter_smooth": cat(d1s).mean(),
        "accel_raw": cat(d2r).mean(), "accel_smooth": cat(d2s).mean(),
        "fast_dev": cat(fast_dev).mean() if len(cat(fast_dev)) else float("nan"),
        "fast_n": len(cat(fast_dev)),
        "still_raw": cat(still_r).mean() if len(cat(still_r)) else float("nan"),
        "still_smooth": cat(still_s).mean() if len(cat(still_s)) else float("nan"),
        "still_n": len(cat(still_r)),
    }
    res["lag_frames"] = best_lag(lag_pairs)
    return res


def best_lag(pairs, max_lag: float = 3.0, step: float = 0.05) -> float:
    """tau (frames) minimising mean |smoothed(t) - raw(t - tau)|² over all tracks (raw linearly interpolated)."""
    if not pairs:
        return float("nan")
    taus = np.arange(0.0, max_lag + 1e-9, step)
    errs = []
    for tau in taus:
        total, n = 0.0, 0
        for xr, xs, vr in pairs:
            t = np.arange(len(xr)) - tau
            ok = t >= 0
            i0 = np.floor(t[ok]).astype(int)
            frac = (t[ok] - i0)[:, None, None]
            i1 = np.minimum(i0 + 1, len(xr) - 1)
            shifted = xr[i0] * (1 - frac) + xr[i1] * frac
            valid = vr[ok] & vr[i0] & vr[i1]
            diff = np.sum((xs[ok] - shifted) ** 2, axis=-1)[valid]
            total += diff.sum()
            n += diff.size
        errs.append(total / max(n, 1))
    return float(taus[int(np.argmin(errs))])


# --------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", default=str(DEFAULT_VIDEO))
    parser.add_argument("--start", type=int, default=0, help="first frame")
    parser.add_argument("--end", type=int, default=None, help="frame after the last")
    parser.add_argument("--stride", type=int, default=1, help="use every Nth frame (simulates a lower frame rate)")
    parser.add_argument("--detector", default=str(DEFAULT_DETECTOR))
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default=None, help="HRNet checkpoint: measure jitter on model keypoints")
    parser.add_argument("--max-lost", type=int, default=30)
    parser.add_argument("--min-len", type=int, default=10, help="frames for an ID to count as long-lived")
    parser.add_argument("--gap", type=int, default=15, help="frames without a detection bridged within a visit")
    parser.add_argument("--border", type=float, default=0.03, help="frame-border margin for births (fraction)")
    parser.add_argument("--multi", action="store_true", help="several people at once: skip visit-based counts")
    parser.add_argument("--min-cutoff", type=float, default=None)
    parser.add_argument("--beta", type=float, default=None)
    parser.add_argument("--d-cutoff", type=float, default=None)
    parser.add_argument("--no-ultralytics", action="store_true", help="skip the ByteTrack / BoT-SORT comparison")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "rtpose" / "bench"))
    args = parser.parse_args(argv)

    from rtpose.tracking.smoothing import OneEuroParams
    from rtpose.tracking.tracker import PoseTracker

    t0 = time.perf_counter()
    data = detect(args)
    fps = float(data["fps"]) / args.stride
    size = tuple(int(v) for v in data["size"])
    print(f"video {args.video}: frames {args.start}..{int(data['frames'][-1])} every {args.stride} "
          f"({len(data['frames'])} frames, {fps:.1f} fps), detections {int(data['counts'].sum())} "
          f"[{time.perf_counter() - t0:.1f} s]")

    defaults = OneEuroParams()
    params = OneEuroParams(
        args.min_cutoff if args.min_cutoff is not None else defaults.min_cutoff,
        args.beta if args.beta is not None else defaults.beta,
        args.d_cutoff if args.d_cutoff is not None else defaults.d_cutoff,
    )

    print("\n== identities ==")
    trackers = {"rtpose PoseTracker": lambda: PoseTracker(max_lost=args.max_lost, smooth=False)}
    if not args.no_ultralytics:
        trackers["ultralytics ByteTrack"] = lambda: UltralyticsTracker("bytetrack", args.max_lost)
        trackers["ultralytics BoT-SORT"] = lambda: UltralyticsTracker("botsort", args.max_lost)
    cols = ["ids", "long_ids", "inner_births"] + ([] if args.multi else ["visits", "switches", "fragments", "merges"])
    print(f"{'tracker':<24}" + "".join(f"{c:>13}" for c in cols) + f"{'ms/update':>11}{'unlabelled':>11}")
    for name, make in trackers.items():
        try:
            tracker = make()
        except Exception as exc:  # an Ultralytics version without these classes
            print(f"{name:<24} unavailable: {exc}")
            continue
        ids, top, boxes, _, _, t_upd = run_tracker(tracker, data, "none")
        m = id_metrics(ids, top, boxes, size, args)
        unlabelled = sum(i is None for row in ids for i in row)
        print(f"{name:<24}" + "".join(f"{m[c]:>13}" for c in cols) + f"{t_upd * 1e3:>11.3f}{unlabelled:>11}")

    source = "model" if args.weights else "box"
    what = (f"HRNet keypoints from {args.weights}" if args.weights else
            "box points (4 corners + centre of each detection box; no pose weights given)")
    print(f"\n== smoothing: One-Euro {params}, on {what} ==")
    raw_rec = smooth_rec = None
    for label, smooth in (("off", False), ("on", True)):
        tracker = PoseTracker(max_lost=args.max_lost, smooth=smooth, smoothing=params)
        _, _, _, raw, sm, t_upd = run_tracker(tracker, data, source)
        if smooth:
            raw_rec, smooth_rec = raw, sm
        print(f"  tracker update with smoothing {label}: {t_upd * 1e3:.3f} ms/frame")
    m = jitter_metrics(series(raw_rec, 0.3), series(smooth_rec, 0.3), 1)
    print(f"  jitter (mean frame-to-frame displacement, px): raw {m['jitter_raw']:.3f}  "
          f"smoothed {m['jitter_smooth']:.3f}"
          f"  ({m['jitter_raw'] / m['jitter_smooth']:.2f}x lower)")
    print(f"  jitter of still points ({m['still_n']} points moving < 1 % of height over 4 frames): "
          f"raw {m['still_raw']:.3f}  smoothed {m['still_smooth']:.3f}  "
          f"({m['still_raw'] / m['still_smooth']:.2f}x lower)")
    print(f"  noise  (mean |2nd difference|, px):            raw {m['accel_raw']:.3f}  "
          f"smoothed {m['accel_smooth']:.3f}"
          f"  ({m['accel_raw'] / m['accel_smooth']:.2f}x lower)")
    print(f"  lag: best alignment smoothed(t) ~ raw(t - tau): tau = {m['lag_frames']:.2f} frames"
          f" = {m['lag_frames'] / fps * 1e3:.0f} ms at {fps:.1f} fps")
    print(f"  in fast motion (> 2 % of height per frame, {m['fast_n']} points): "
          f"mean |smoothed - raw| = {m['fast_dev']:.2f} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
