"""End-to-end speed: our threaded pipeline (YOLO person detector + HRNet) vs. the YOLOv8n-pose baseline.

Both run on the same frames of the same video on this machine and print frames per second; ours also
prints its per-stage breakdown and end-to-end latency (p50/p95). Not a test: it prints numbers.

On a GPU ours runs twice in one invocation, side by side: the host-crop path (OpenCV crops on the
CPU, numpy DARK) and the device-resident path (rtpose.pose.device_ops: one upload per frame, batched crops,
network and DARK on the GPU, only keypoints come back). ``--paths`` picks them explicitly; on the CPU
the device path needs ``--backend torch`` (it runs there on CPU tensors).

    python benchmarks/pipeline.py                      # vtest, 100 frames, HRNet-W32, auto backend
    python benchmarks/pipeline.py --frames 50 --weights pose_hrnet_w32_256x192.pth --device cuda
    python benchmarks/pipeline.py --size 1280x720 --frames 300 --device cuda   # the issue's 720p measurement

``--size WxH`` first re-encodes the video at that size (vtest has 5+ people in most frames).

Without ``--weights`` the W32 model gets the reference's deterministic weights (``shared/reference/fill.py``):
the speed is the same as with trained weights, but the keypoints are meaningless.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from reference_weights import deterministic_weights  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))





def resized_video(video: str, size: tuple[int, int], frames: int, folder: Path) -> str:
    """``video`` re-encoded at ``size`` (W, H), first ``frames`` + 10 frames, into ``folder`` (lossless-ish MJPG)."""
    import cv2

    cap = cv2.VideoCapture(video)
    out_path = folder / f"{Path(video).stem}-{size[0]}x{size[1]}.avi"
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"MJPG"), cap.get(cv2.CAP_PROP_FPS) or 10, size)
    for _ in range(frames + 10):
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    writer.release()
    cap.release()
    return str(out_path)


def run_ours(args, weights: Path, path: str = "auto") -> dict:
    import numpy as np

    from rtpose.engine.stream import PoseStream, run
    from rtpose.io.render import hud_lines
    from rtpose.options import StreamOptions
    from rtpose.pose.detector import PersonDetector
    from rtpose.pose.estimator import TopDownEstimator
    from rtpose.runtime import create_backend

    backend = create_backend(args.backend, weights=str(weights), device=args.device)
    detector = PersonDetector(args.detector, device=args.device)
    estimator = TopDownEstimator(backend, detector=detector)
    if path == "host":
        estimator.device_path = None
    elif path == "device" and estimator.device_path is None:
        from rtpose.pose.device_ops import DevicePosePath

        if not hasattr(backend, "infer_device"):
            raise SystemExit(f"the device path needs a torch or TensorRT backend, not {backend.name}")
        estimator.device_path = DevicePosePath(backend, estimator.codec)
    # The same stream and run loop as the command line (rtpose.engine.stream.run): the overlay is drawn when
    # --render asks for it (a sink that needs pictures), nothing is written.
    stream = PoseStream(estimator, args.video, StreamOptions(track=False, max_frames=args.frames))
    if estimator.device_path is not None:  # its kernels' first-call costs stay out of the timings too
        w, h = stream.source.size or (640, 480)
        estimator.device_path(np.zeros((h, w, 3), np.uint8), np.array([[0, 0, w / 2, h / 2]], np.float32))
    sinks = [DrawOnly()] if args.render else []
    stats = run(stream, sinks, hud=lambda r: hud_lines(r, backend.name, backend.device))
    return {
        "fps": stats.fps,
        "frames": stats.frames,
        "people": stats.people / stats.frames if stats.frames else 0.0,
        "backend": f"{backend.name} on {backend.device} ({backend.reason})",
        "path": "device-resident" if estimator.device_path is not None else "host crops",
        "detector_device": detector.device,
        "table": stats.format().split("\n", 1)[1],
    }


class DrawOnly:
    """A sink that only asks the run loop to draw each result (the cost of rendering, nothing written)."""

    needs_image = True
    stop_requested = False

    def write(self, result, annotated=None) -> None:
        pass

    def close(self) -> None:
        pass


def run_baseline(args) -> dict:
    import cv2
    import numpy as np
    import torch

    threads = os.cpu_count() or 1
    from ultralytics import YOLO  # lowers torch's thread count to cpu_count - 1: undo it for a fair run

    torch.set_num_threads(threads)
    from rtpose.utils.timing import StageTimer, now

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    model = YOLO(str(args.baseline), task="pose")
    cap = cv2.VideoCapture(str(args.video))
    ok, first = cap.read()
    extra = {"half": True} if device.startswith("cuda") else {}
    model.predict(first, device=device, verbose=False, **extra)  # warm-up
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    timer = StageTimer()
    people = []
    start = now()
    for _ in range(args.frames):
        with timer.stage("capture"):
            ok, frame = cap.read()
        if not ok:
            break
        with timer.stage("predict"):
            result = model.predict(frame, device=device, verbose=False, **extra)[0]
        people.append(len(result.boxes))
    elapsed = now() - start
    cap.release()
    return {
        "fps": len(people) / elapsed,
        "frames": len(people),
        "people": float(np.mean(people)) if people else 0.0,
        "device": device,
        "table": timer.format_table(["capture", "predict"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(SHARED / "data" / "videos" / "vtest-480x360.avi"))
    parser.add_argument("--frames", type=int, default=100, help="frames per run (default: 100)")
    parser.add_argument("--weights", help="HRNet checkpoint/ONNX/engine (default: deterministic W32 weights)")
    parser.add_argument("--detector", default=str(SHARED / "models" / "yolov8n-person.pt"))
    parser.add_argument("--baseline", default=str(SHARED / "models" / "yolov8n-pose-baseline.pt"))
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--render", action="store_true", help="also draw the overlay in our pipeline")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--size", default=None, metavar="WxH", help="re-encode the video at this size first")
    parser.add_argument("--paths", nargs="+", choices=["host", "device"], default=None,
                        help="crop/decode paths to run side by side (default: both on a GPU, host on the CPU)")
    args = parser.parse_args(argv)

    import torch

    print(f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    print(f"video: {args.video}, {args.frames} frames")
    paths = args.paths or (["host", "device"] if torch.cuda.is_available() else ["host"])
    with tempfile.TemporaryDirectory() as tmp:
        if args.size:
            size = tuple(int(v) for v in args.size.lower().split("x"))
            args.video = resized_video(args.video, size, args.frames, Path(tmp))
            print(f"re-encoded at {size[0]}x{size[1]}: {args.video}")
        weights = Path(args.weights) if args.weights else deterministic_weights(32, Path(tmp))
        runs = {path: run_ours(args, weights, path) for path in paths}
        if not args.skip_baseline:
            base = run_baseline(args)
    model = "W32 (deterministic weights)" if not args.weights else weights.name
    for ours in runs.values():
        print(f"\nours, {ours['path']} path: HRNet {model}, pose backend {ours['backend']}, "
              f"detector on {ours['detector_device']}")
        print(f"  {ours['frames']} frames, {ours['people']:.1f} people/frame, {ours['fps']:.2f} frames/s")
        print("  " + ours["table"].replace("\n", "\n  "))
    if len(runs) == 2:
        host, device = runs["host"]["fps"], runs["device"]["fps"]
        print(f"\ndevice-resident / host crops: {device:.2f} / {host:.2f} frames/s = {device / host:.2f}x")
    ours = runs[paths[-1]]
    if args.skip_baseline:
        return 0
    print(f"\nbaseline: YOLOv8n-pose ({Path(args.baseline).name}) through Ultralytics on {base['device']}, "
          "one frame at a time")
    print(f"  {base['frames']} frames, {base['people']:.1f} people/frame, {base['fps']:.2f} frames/s")
    print("  " + base["table"].replace("\n", "\n  "))
    print(f"\nours / baseline: {ours['fps']:.2f} / {base['fps']:.2f} frames/s = {ours['fps'] / base['fps']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
