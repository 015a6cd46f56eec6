"""Save a screenshot of the viewer showing a video frame with skeletons (offscreen, no display needed).

    python benchmarks/gui_screenshot.py --out gui_screenshot.png [--weights W.pth] [--frame 120]
    python benchmarks/gui_screenshot.py --seg parts --seg-weights LIP.pth --background blur --source bus.jpg

Without ``--weights`` it uses HRNet-W18 with the deterministic reference weights of ``../shared/reference``
(untrained, so the skeletons are not meaningful — the screenshot shows the layout and the overlay).
Prints how long the model took to load and how many frames were shown.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))

from reference_weights import deterministic_weights  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from gui import prepare_qt_environment  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gui_screenshot.png", help="PNG to write (default: gui_screenshot.png)")
    parser.add_argument("--source", default=str(SHARED / "data" / "videos" / "vtest-480x360.avi"))
    parser.add_argument("--weights", help="HRNet checkpoint (default: W18 with deterministic reference weights)")
    parser.add_argument("--detector", default=str(SHARED / "models" / "yolov8n-person.pt"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frame", type=int, default=120, help="start at this frame of the file (default: 120)")
    parser.add_argument("--frames", type=int, default=6, help="frames to show before the shot (default: 6)")
    parser.add_argument("--size", default="1360x900", help="window WIDTHxHEIGHT (default: 1360x900)")
    parser.add_argument("--tracking", action="store_true", help="turn tracking on (IDs on the boxes)")
    parser.add_argument("--seg", choices=("person", "parts"), help="segmentation next to pose (as rtpose gui --seg)")
    parser.add_argument("--seg-weights", help="segmentation checkpoint (with --seg)")
    parser.add_argument("--background", help="with --seg: blur, a colour or an image file (as rtpose gui --background)")
    args = parser.parse_args()

    from PyQt5.QtWidgets import QApplication

    prepare_qt_environment()

    from gui.main_window import MainWindow
    from gui.theme import apply_theme
    from gui.worker import ModelConfig

    app = QApplication([sys.argv[0]])
    apply_theme(app)
    weights = args.weights or str(deterministic_weights(18))
    config = ModelConfig(weights=weights, detector=args.detector, device=args.device, seg=args.seg,
                         seg_weights=args.seg_weights)
    window = MainWindow(config, output_dir=tempfile.gettempdir())
    if args.background and not window.set_background(args.background):
        print(window.last_error, file=sys.stderr)
        return 1
    width, height = (int(v) for v in args.size.lower().split("x"))
    window.resize(width, height)
    window.show()
    if args.tracking:
        window.tracking.setChecked(True)

    def wait(predicate, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not predicate():
            app.processEvents()
            time.sleep(0.01)
        return bool(predicate())

    start = time.perf_counter()
    if not wait(lambda: window.estimator is not None or window.model_error, 120) or window.estimator is None:
        print(f"model did not load: {window.model_error}", file=sys.stderr)
        return 1
    print(f"model loaded in {time.perf_counter() - start:.1f} s: {window.model_info}")
    still = Path(args.source).suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")
    window.open_source(args.source, start_index=0 if still else args.frame)
    frames = 1 if still else args.frames
    if not wait(lambda: window.frames_shown >= frames, 300):
        print(f"only {window.frames_shown} frames arrived: {getattr(window, 'last_error', '')}", file=sys.stderr)
        return 1
    if window.controller.running:
        window.toggle_pause()
    wait(lambda: False, 0.3)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    result = window.last_result
    print(f"frames shown: {window.frames_shown}; frame {result.frame.index} with {len(result)} people; "
          f"{result.fps:.1f} FPS; screenshot {out} ({window.width()}x{window.height()})")
    window.close()
    window.wait_for_threads(30.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
