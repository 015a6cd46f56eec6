"""rtpose against the two usual ways of running a top-down pose model on a CPU, on the same frames.

Rows, all on the same decoded frames, with the same person detector file (``yolov8n-person.pt``) and the
same deterministic HRNet-W32 256x192 weights (``reference_weights.py``), in one run:

- **ours**: rtpose's default path (``create_backend("auto")``, ``PersonDetector`` defaults) in the
  library's stream (``PoseModel.stream`` over the frames): on this kind of machine OpenVINO with bf16 inference
  precision where the CPU has native BF16, and Ultralytics' OpenVINO export of the detector when it
  measured faster; one batched pose call per frame.
- **ours --det-every N** (``--det-every``, default 3): the same with detection on one frame in N.
- **ours fp32** (``--precision fp32``): the default path with OpenVINO kept in float32, to show the bf16 lever.
- **rtmlib-style loop**: ONNX Runtime (CPU, its default threads) on rtpose's FP32 ONNX export, one crop per call,
  one person after the other, the detector before, all in one thread (as rtmlib's ``Body`` runs).
- **official-demo-style loop**: PyTorch eager, all people of a frame in one batch, the
  detector before, one thread (as the official HRNet demo runs).
- **rtmlib-style loop, openvino detector** (``--peer-openvino-detector``, default on): the rtmlib-style
  loop with rtpose's OpenVINO detector export, so that the pose side's gain can be read on its own.

The two peer loops run the detector as their users would: ``YOLO("yolov8n-person.pt").predict``
(PyTorch eager), which leaves torch with ``cpu_count - 1`` threads (``--peer-torch-threads``
overrides), and each runtime with its own default threads (ONNX Runtime: all cores, spinning).

Printed per row: frames/s, people per frame, per-stage mean ms (``detect``, and ``pose`` = crop +
network + decode), pipeline efficiency (frames/s ÷ the slowest stage's rate, 1.0 = the stages overlap
perfectly) and the ratios ours / rtmlib-style and ours / official-demo-style. With ``--overlap-probe``
(default on) it also measures whether running the detector network of frame t+1 while the pose network
runs on frame t could help on this machine, for several thread splits.

The machine's load average is printed before, after each video and at the end: other processes on
the same cores slow every row (the benchmark itself adds about 2 while it runs). Keypoints are
meaningless (untrained weights); speed is the same as with trained weights.

    python benchmarks/peers.py                       # vtest and one-by-one-person, 50 frames each
    python benchmarks/peers.py --frames 40 --videos vtest
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from reference_weights import deterministic_weights  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))

#: Video → first frame used (one-by-one-person.mp4 is empty for its first ~70 frames).
VIDEOS = {
    "vtest": ("vtest-480x360.avi", 0),
    "one-by-one": ("one-by-one-person.mp4", 240),
}


def load_frames(path: Path, start: int, count: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} cores"


class Frames:
    """Per-frame stage times (ms), summed over the people of a frame."""

    def __init__(self) -> None:
        self.stages: dict[str, list[float]] = defaultdict(list)
        self.people: list[int] = []

    def add_frame(self, times_ms: dict[str, float], people: int) -> None:
        for name, ms in times_ms.items():
            self.stages[name].append(ms)
        self.people.append(people)


def row(name: str, detail: str, frames: Frames, elapsed: float) -> dict:
    stages = {k: float(np.mean(v)) for k, v in frames.stages.items()}
    slowest = max(stages.values())
    fps = len(frames.people) / elapsed
    return {
        "name": name, "detail": detail, "fps": fps, "people": float(np.mean(frames.people)), "stages": stages,
        "efficiency": fps * slowest / 1e3, "slowest": max(stages, key=stages.get),
    }


# ------------------------------------------------------------------ ours
def run_ours(frames: list[np.ndarray], weights: Path, detector_path: Path, engines: Path, det_every: int = 1,
             precision: str = "auto") -> dict:
    from rtpose.model import PoseModel
    from rtpose.pose.detector import PersonDetector
    from rtpose.pose.estimator import TopDownEstimator
    from rtpose.runtime import create_backend
    from rtpose.utils.timing import now

    backend = create_backend("auto", weights=str(weights), device="cpu", engines_dir=str(engines), precision=precision)
    detector = PersonDetector(detector_path, device="cpu", engines_dir=engines)
    estimator = TopDownEstimator(backend, detector=detector)
    model = PoseModel.from_estimator(estimator, det_every=det_every)
    model.warmup((frames[0].shape[1], frames[0].shape[0]))
    estimator.estimate_boxes(frames[0], np.array([[0, 0, 50, 100]] * 4, np.float32))  # batch-4 first-call costs
    out = Frames()
    # The library's stream over the pre-decoded frames (a list: every frame processed, none dropped), no
    # tracking: what a program writes with rtpose.
    start = now()
    for result in model.stream(frames, track=False):
        t = result.timings_ms
        out.add_frame({"detect": t.get("detect", 0.0),
                       "pose": t.get("crop", 0.0) + t.get("pose", 0.0) + t.get("decode", 0.0)}, len(result))
    elapsed = now() - start
    name = "ours" + (f" --det-every {det_every}" if det_every > 1 else "") + (
        f" --precision {precision}" if precision != "auto" else "")
    detail = f"pose {backend.name} {backend.device}; detector {detector.runtime}; threaded pipeline, one batch a frame"
    return row(name, detail, out, elapsed)


# ------------------------------------------------------------------ peers
class PeerDetector:
    """The person detector as a peer loop's user runs it: ``YOLO(...).predict``, Ultralytics' own thread setting.

    Same model file and settings as rtpose's (conf 0.25, NMS IoU 0.6, at most 32 people, 640 px). Ultralytics
    sets torch to ``cpu_count - 1`` threads on its first predict (1 on 2 cores) for everything torch runs
    afterwards; ``torch_threads`` overrides that after the first call.
    """

    def __init__(self, detector_path: Path, runtime: str = "torch", engines: Path | None = None,
                 torch_threads: int | None = None) -> None:
        from ultralytics import YOLO

        weights = detector_path
        if runtime == "openvino":
            from rtpose.export.detector import ensure_openvino_export
            from rtpose.utils.hashing import file_sha256

            meta = ensure_openvino_export(detector_path, file_sha256(detector_path), 640, engines, log=lambda m: None)
            weights = Path(meta["path"])
        self.model, self.runtime, self.torch_threads = YOLO(str(weights), task="detect"), runtime, torch_threads

    def __call__(self, image: np.ndarray) -> np.ndarray:
        result = self.model.predict(image, conf=0.25, iou=0.6, classes=[0], max_det=32, imgsz=640, device="cpu",
                                    verbose=False)[0]
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        return result.boxes.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4)


def run_rtmlib_style(frames: list[np.ndarray], onnx_path: Path, detector_path: Path, detector_runtime: str = "torch",
                     engines: Path | None = None, torch_threads: int | None = None) -> dict:
    from rtpose.pose.codec import HeatmapCodec
    from rtpose.pose.crops import heatmap_to_image, make_input_batch
    from rtpose.runtime.onnxruntime_runtime import OnnxRuntimeBackend
    from rtpose.utils.timing import now

    detector = PeerDetector(detector_path, detector_runtime, engines, torch_threads)
    session = OnnxRuntimeBackend(onnx_path, device="cpu")
    codec = HeatmapCodec(input_hw=session.input_hw)
    detector(frames[0])
    session.infer(np.zeros((1, 3, *session.input_hw), np.float32))
    out = Frames()
    start = now()
    for image in frames:
        t0 = now()
        boxes = detector(image)
        t1 = now()
        for box in boxes:  # one person per call, as rtmlib's top-down loop does
            batch, centers, sizes = make_input_batch(image, box[None], session.input_hw)
            xy, scores = codec.decode(session.infer(batch))
            heatmap_to_image(xy, centers, sizes, codec.heatmap_hw)
        t2 = now()
        out.add_frame({"detect": (t1 - t0) * 1e3, "pose": (t2 - t1) * 1e3}, len(boxes))
    elapsed = now() - start
    name = "rtmlib-style loop" + ("" if detector_runtime == "torch" else f", {detector_runtime} detector")
    detail = f"pose onnxruntime {session.device}, batch 1 per person; detector {detector.runtime}"
    if detector.runtime == "torch":
        import torch

        detail += f" ({torch.get_num_threads()} torch threads)"
    return row(name, detail + "; one thread", out, elapsed)


def run_official_style(frames: list[np.ndarray], detector_path: Path, torch_threads: int | None = None) -> dict:
    import torch
    from reference_weights import deterministic_model

    from rtpose.pose.codec import HeatmapCodec
    from rtpose.pose.crops import heatmap_to_image, make_input_batch
    from rtpose.utils.timing import now

    detector = PeerDetector(detector_path, torch_threads=torch_threads)
    model = deterministic_model(32)
    codec = HeatmapCodec(input_hw=(256, 192))
    detector(frames[0])
    with torch.no_grad():
        model(torch.zeros(1, 3, 256, 192))
    out = Frames()
    start = now()
    for image in frames:
        t0 = now()
        boxes = detector(image)
        t1 = now()
        if len(boxes):
            batch, centers, sizes = make_input_batch(image, boxes, (256, 192))
            with torch.no_grad():
                heatmaps = model(torch.from_numpy(batch)).numpy()
            xy, scores = codec.decode(heatmaps)
            heatmap_to_image(xy, centers, sizes, codec.heatmap_hw)
        t2 = now()
        out.add_frame({"detect": (t1 - t0) * 1e3, "pose": (t2 - t1) * 1e3}, len(boxes))
    elapsed = now() - start
    return row("official-demo-style loop", f"pose torch eager ({torch.get_num_threads()} threads), all people in one "
               "batch; detector torch; one thread", out, elapsed)


# ------------------------------------------------------------------ overlap probe
def overlap_probe(frames: list[np.ndarray], onnx_path: Path, detector_path: Path, engines: Path, people: int,
                  rounds: int = 3) -> list:
    """Detector network (frame t+1) next to the pose network (frame t), as two threads, for thread splits.

    Both networks run through OpenVINO directly (Ultralytics' detector export at the frames' letterbox
    size, the HRNet export in bf16 where the CPU has it) on fixed inputs, so only the networks compete.
    Returns ``(label, frames/s)`` rows: one after the other with all cores each, then concurrently; each
    the best of ``rounds`` runs of ``min(len(frames), 25)`` frames, the configurations interleaved.
    """
    import openvino as ov

    from rtpose.export.detector import ensure_openvino_export
    from rtpose.runtime.openvino_runtime import OpenVinoBackend
    from rtpose.utils.hashing import file_sha256

    meta = ensure_openvino_export(detector_path, file_sha256(detector_path), 640, engines, log=lambda m: None)
    xml = next(Path(meta["path"]).glob("*.xml"))
    h, w = frames[0].shape[:2]
    scale = 640 / max(h, w)
    det_input = np.random.default_rng(0).random((1, 3, int(np.ceil(h * scale / 32) * 32), 640), np.float32)
    pose_input = np.random.default_rng(1).standard_normal((max(1, people), 3, 256, 192)).astype(np.float32)
    core = ov.Core()
    n = min(len(frames), 25)

    def detector(threads: int):
        compiled = core.compile_model(core.read_model(str(xml)), "CPU",
                                      {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
        request = compiled.create_infer_request()
        request.infer({0: det_input})
        return lambda: request.infer({0: det_input})

    def pose(threads: int):
        backend = OpenVinoBackend(onnx_path, threads=threads, precision="auto")
        backend.infer(pose_input)
        return lambda: backend.infer(pose_input)

    cores = os.cpu_count() or 1
    splits = [(cores, cores, False), (1, 1, True), (1, cores, True), (cores, 1, True), (cores, cores, True)]
    runners = {split: (detector(split[0]), pose(split[1])) for split in splits}

    def sequential(det, pos) -> float:
        start = time.perf_counter()
        for _ in range(n):
            det()
            pos()
        return n / (time.perf_counter() - start)

    def overlapped(det, pos) -> float:
        def loop(step):
            for _ in range(n):
                step()

        threads = [threading.Thread(target=loop, args=(det,)), threading.Thread(target=loop, args=(pos,))]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return n / (time.perf_counter() - start)

    best = dict.fromkeys(splits, 0.0)
    for _ in range(rounds):  # configurations interleaved, best of the rounds: other processes come and go
        for split in splits:
            best[split] = max(best[split], (overlapped if split[2] else sequential)(*runners[split]))
    return [
        (f"overlapped, detector {d} + pose {p} threads" if both else f"one after the other, {d}+{p} threads (today)",
         fps)
        for (d, p, both), fps in best.items()
    ]


# ------------------------------------------------------------------ report
def print_rows(rows: list[dict]) -> None:
    print(f"  {'pipeline':<34}{'frames/s':>9}{'people':>8}{'detect ms':>11}{'pose ms':>9}{'effic.':>8}  detail")
    for r in rows:
        s = r["stages"]
        print(f"  {r['name']:<34}{r['fps']:>9.2f}{r['people']:>8.2f}{s.get('detect', 0):>11.1f}{s.get('pose', 0):>9.1f}"
              f"{r['efficiency']:>8.2f}  {r['detail']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50, help="frames per video (default: 50)")
    parser.add_argument("--videos", nargs="+", choices=sorted(VIDEOS), default=["vtest", "one-by-one"])
    parser.add_argument("--detector", default=str(SHARED / "models" / "yolov8n-person.pt"))
    parser.add_argument("--det-every", type=int, default=3, help="N of the 'ours --det-every N' row (0: no such row)")
    parser.add_argument("--no-fp32-row", action="store_true", help="skip the 'ours --precision fp32' row")
    parser.add_argument("--overlap-probe", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--peer-torch-threads", type=int, default=None, metavar="N",
                        help="torch threads of the peer loops (default: what Ultralytics leaves, cpu_count - 1)")
    parser.add_argument("--peer-openvino-detector", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the rtmlib-style loop with our OpenVINO detector export (default: on)")
    args = parser.parse_args(argv)

    import openvino
    import torch

    from rtpose.export.pose_onnx import ensure_onnx
    from rtpose.runtime.openvino_runtime import cpu_has_bf16

    print(f"machine: {os.cpu_count()} CPU cores, BF16: {'yes' if cpu_has_bf16() else 'no'}, torch {torch.__version__}, "
          f"OpenVINO {openvino.__version__.split('-')[0]}")
    print(f"before: {load_text()}")
    detector_path = Path(args.detector)
    with tempfile.TemporaryDirectory() as tmp:
        engines = Path(tmp) / "engines"
        weights = deterministic_weights(32, Path(tmp))
        onnx_path = ensure_onnx(weights, out_dir=engines, log=lambda m: None)
        for key in args.videos:
            name, first = VIDEOS[key]
            frames = load_frames(SHARED / "data" / "videos" / name, first, args.frames)
            print(f"\n{name}: frames {first}-{first + len(frames) - 1} ({frames[0].shape[1]}x{frames[0].shape[0]}), "
                  "HRNet-W32 256x192 deterministic weights, detector " + detector_path.name)
            rows = [run_ours(frames, weights, detector_path, engines)]
            if args.det_every > 1:
                rows.append(run_ours(frames, weights, detector_path, engines, det_every=args.det_every))
            if not args.no_fp32_row:
                rows.append(run_ours(frames, weights, detector_path, engines, precision="fp32"))
            ours = len(rows)
            rtmlib = run_rtmlib_style(frames, onnx_path, detector_path, torch_threads=args.peer_torch_threads)
            official = run_official_style(frames, detector_path, args.peer_torch_threads)
            rows += [rtmlib, official]
            if args.peer_openvino_detector:
                rows.append(run_rtmlib_style(frames, onnx_path, detector_path, "openvino", engines))
            print_rows(rows)
            for r in rows[:ours]:
                print(f"  {r['name']} / rtmlib-style: {r['fps'] / rtmlib['fps']:.2f}x;  "
                      f"{r['name']} / official-demo-style: {r['fps'] / official['fps']:.2f}x"
                      + (f";  / rtmlib-style with the OpenVINO detector: {r['fps'] / rows[-1]['fps']:.2f}x"
                         if args.peer_openvino_detector else ""))
            if args.overlap_probe:
                people = int(round(rows[0]["people"]))
                print(f"  overlap probe ({people} crops per pose call, networks only, frames/s):")
                for label, fps in overlap_probe(frames, onnx_path, detector_path, engines, people):
                    print(f"    {label:<52}{fps:>7.2f}")
            print(f"  ({load_text()})")
    print(f"\nafter: {load_text()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
