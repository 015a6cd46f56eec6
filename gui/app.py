"""Starting the viewer: ``rtpose gui``, the ``rtpose-gui`` script and ``python -m gui``."""

from __future__ import annotations

import argparse
import os
import sys

import gui  # noqa: F401  (fixes OpenCV's Qt plugin variables before any QApplication exists)
from rtpose.errors import DisplayError, RtposeError


def check_display() -> None:
    """Raise :class:`DisplayError` when Qt would have nothing to draw on (instead of Qt aborting)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return  # e.g. offscreen, vnc, wayland: the user chose
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise DisplayError(
            "No display found for the viewer: run it in a desktop session (DISPLAY or WAYLAND_DISPLAY set), "
            "or use 'rtpose run --no-show' for headless work."
        )


def build_parser() -> argparse.ArgumentParser:
    from rtpose.cli.gui import HELP, configure

    parser = argparse.ArgumentParser(prog="rtpose-gui", description=HELP)
    configure(parser)
    return parser


def create_window(args: argparse.Namespace):
    """The main window for parsed ``rtpose gui`` options (a QApplication must exist)."""
    from gui.main_window import MainWindow
    from gui.worker import ModelConfig

    config = ModelConfig.from_args(args)
    if config.weights:
        try:  # a registry name such as hrnet_w32_coco_256x192 → its cached file
            from rtpose.weights import resolve_weights

            config.weights = str(resolve_weights(config.weights))
        except RtposeError:
            pass  # the model loader reports the problem in the window
        except ImportError:  # pragma: no cover
            pass
    window = MainWindow(config, kpt_thr=getattr(args, "kpt_thr", 0.3), realtime=getattr(args, "realtime", False))
    first = args.camera if getattr(args, "camera", None) is not None else getattr(args, "source", None)
    if first is not None:
        window.open_source(first)
    return window


def run(args: argparse.Namespace) -> int:
    """Open the viewer for parsed options and run until it closes; returns the exit code."""
    check_display()
    from PyQt5.QtCore import Qt
    from PyQt5.QtWidgets import QApplication

    from gui.theme import apply_theme

    QApplication.setAttribute(Qt.AA_EnableHighDpiScaling, True)
    QApplication.setAttribute(Qt.AA_UseHighDpiPixmaps, True)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "rtpose-gui"])
    app.setApplicationName("rtpose viewer")
    apply_theme(app)
    window = create_window(args)
    _close_on_sigint(app, window)
    if getattr(args, "fullscreen", False):
        window.toggle_fullscreen()
    else:
        window.show()
    code = int(app.exec_())
    window.wait_for_threads(10.0)  # a frame still inside the model finishes before the process exits
    return code


def _close_on_sigint(app, window) -> None:
    """Ctrl-C in the terminal closes the window cleanly (Qt's loop would otherwise never let Python see it)."""
    import signal

    from PyQt5.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)  # wakes the interpreter so the Python signal handler runs
    timer.start(200)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rtpose-gui`` and ``python -m gui``."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except RtposeError as exc:
        print(f"rtpose-gui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
