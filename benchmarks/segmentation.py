"""The per-frame cost of segmentation next to pose, on the same video: pose alone, + person masks, + body parts.

All three rows run the library's stream (``PoseModel.stream``) over the same frames with the same pose
model and detector; the segmentation models are HRNetV2-W18 (VOC, 21 classes, whole frame at the short
side 512) and HRNetV2-W18 with 20 LIP classes on 473×473 person crops (the official LIP model is W48:
``--parts-width 48`` for its cost). Weights are deterministic (``shared/reference/fill.py``) unless given:
the cost is the same as with trained weights. Prints frames/s and the mean ms of each stage, with the
CPU named. Not a test: it prints numbers.

    python benchmarks/segmentation.py --frames 10
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))

from reference_weights import deterministic_weights  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from streams import cpu_model  # noqa: E402


def seg_weights(width: int, classes: int, name: str, folder: Path) -> Path:
    from rtpose.models import HRNetSeg
    from rtpose.weights.seg import save_seg_checkpoint

    spec = importlib.util.spec_from_file_location("fill", SHARED / "reference" / "fill.py")
    fill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fill)
    net = HRNetSeg(width=width, num_classes=classes)
    net.load_state_dict(fill.fill_state_dict(net.state_dict()), strict=True)
    return save_seg_checkpoint(net, folder / f"hrnetv2_w{width}_{name}.pth", seg_classes=name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(SHARED / "data" / "videos" / "vtest-480x360.avi"))
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--weights", help="HRNet pose checkpoint (default: deterministic W32)")
    parser.add_argument("--detector", default=str(SHARED / "models" / "yolov8n-person.pt"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parts-width", type=int, default=18, choices=(18, 32, 48))
    parser.add_argument("--seg-backend", default=None, help="segmentation runtime (default: as rtpose chooses)")
    args = parser.parse_args(argv)

    import rtpose

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = args.weights or str(deterministic_weights(32, folder))
        rows = {"pose alone": {}, "pose + person masks": {"seg": "person",
                                                          "seg_weights": seg_weights(18, 21, "voc", folder)},
                "pose + body parts": {"seg": "parts", "seg_weights": seg_weights(args.parts_width, 20, "lip", folder)}}
        print(f"machine: {cpu_model()}; video {Path(args.video).name}, {args.frames} frames, device {args.device}")
        for name, extra in rows.items():
            if extra:
                extra["seg_backend"] = args.seg_backend
            with rtpose.PoseModel(weights, detector=args.detector, device=args.device, **extra) as model:
                stream = model.stream(args.video, max_frames=args.frames)
                people = sum(len(r) for r in stream)
                stats = stream.stats()
                info = model.info
            stages = "  ".join(f"{s} {stats.stages[s].mean_ms:.0f}" for s in ("detect", "pose", "segment")
                               if s in stats.stages)
            runs_on = f"pose {info.backend.name} {info.backend.precision}" + (
                f", seg {info.segmentation.name} {info.segmentation.precision}" if info.segmentation else "")
            print(f"{name:<22} {stats.fps:6.2f} frames/s  {people / max(stats.frames, 1):4.1f} people/frame  "
                  f"mean ms: {stages}  ({runs_on})")
    print(f"(load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
