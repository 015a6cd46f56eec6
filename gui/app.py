"""Starting the viewer: ``rtpose gui``, the ``rtpose-gui`` script and ``python -m gui``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from rtpose.compat import prepare_qt_environment
from rtpose.engine.signals import stop_on_signals
from rtpose.errors import DisplayError, RtposeError
from rtpose.io.sinks import x11_display_reachable

#: Debian/Ubuntu package of each shared library Qt's xcb platform plugin loads (what ``apt-get install`` needs).
XCB_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
}


def xcb_plugin_path() -> Path | None:
    """PyQt5's xcb platform plugin (``libqxcb.so``), or None when this PyQt5 has none."""
    from PyQt5.QtCore import QLibraryInfo

    path = Path(QLibraryInfo.location(QLibraryInfo.PluginsPath)) / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def missing_libraries(binary: Path) -> list[str]:
    """Shared libraries ``binary`` needs that the dynamic loader cannot find (from ``ldd``; [] if no ldd)."""
    try:
        output = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split("=>")[0].strip() for line in output.splitlines() if "=> not found" in line]


def check_display() -> None:
    """Raise :class:`DisplayError` with one sentence where Qt would abort instead.

    No display, a ``DISPLAY`` no X server answers, and system libraries that Qt's xcb plugin needs but
    that are not installed (Qt prints a long message and aborts the process).
    """
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return  # e.g. offscreen, vnc, wayland: the user chose
    if not sys.platform.startswith("linux"):
        return
    display = os.environ.get("DISPLAY")
    if not display:
        if os.environ.get("WAYLAND_DISPLAY") and not platform:
            return  # Qt picks its Wayland plugin
        raise DisplayError(
            "No display found for the viewer: run it in a desktop session (DISPLAY or WAYLAND_DISPLAY set), "
            "or use 'rtpose run --no-show' for headless work."
        )
    if not x11_display_reachable(display):
        raise DisplayError(
            f"DISPLAY={display} names an X server that does not answer: check DISPLAY (and, over ssh, X "
            "forwarding), or use 'rtpose run --no-show' for headless work."
        )
    plugin = xcb_plugin_path()
    missing = missing_libraries(plugin) if plugin is not None else []
    if missing:
        packages = sorted({XCB_PACKAGES.get(name, name) for name in missing})
        raise DisplayError(
            f"The viewer needs system libraries that are not installed ({', '.join(missing)}); on Debian or "
            f"Ubuntu install them with 'sudo apt-get install {' '.join(packages)}'."
        )


def build_parser() -> argparse.ArgumentParser:
    from gui.options import HELP, configure

    parser = argparse.ArgumentParser(prog="rtpose-gui", description=HELP)
    configure(parser)
    return parser


def create_window(args: argparse.Namespace):
    """The main window for parsed ``rtpose gui`` options (a QApplication must exist)."""
    from gui.main_window import MainWindow
    from gui.worker import ModelConfig
    from rtpose.options import StreamOptions

    config = ModelConfig.from_args(args)
    stream_options = StreamOptions.from_args(args, realtime=False, max_frames=None).validate()
    window = MainWindow(config, kpt_thr=getattr(args, "kpt_thr", 0.3), realtime=getattr(args, "realtime", False),
                        stream_options=stream_options, privacy=getattr(args, "privacy", None))
    if getattr(args, "background", None):
        window.set_background(args.background)
    sources = getattr(args, "source", None)
    if isinstance(sources, str):  # a Namespace built by hand
        sources = [sources]
    if getattr(args, "camera", None) is not None:
        window.open_source(args.camera)
    elif sources and len(sources) > 1:
        window.open_sources(sources)  # one stream each, in a grid
    elif sources:
        window.open_source(sources[0])
    return window


def run(args: argparse.Namespace) -> int:
    """Open the viewer for parsed options and run until it closes; returns the exit code."""
    from rtpose.cli.words import cli_words
    from rtpose.log import attach_stderr

    attach_stderr(translate=cli_words)  # the viewer shows the library's messages on stderr, as the CLI does
    check_background(args)
    prepare_qt_environment()  # before the QApplication exists
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
    _wake_python_regularly(app)
    if getattr(args, "fullscreen", False):
        window.toggle_fullscreen()
    else:
        window.show()
    # Ctrl-C, SIGTERM and SIGHUP close the window cleanly: a recording is finalised, threads end.
    with stop_on_signals(lambda _signum: window.close(), second_interrupts=False) as stop:
        code = int(app.exec_())
        window.wait_for_threads(10.0)  # a frame still inside the model finishes before the process exits
        window.release_models()
    return stop.exit_code or code


def check_background(args: argparse.Namespace) -> None:
    """One sentence now, before Qt and the model, for a ``--background`` that cannot work."""
    spec = getattr(args, "background", None)
    if not spec:
        return
    if not getattr(args, "seg", None):
        raise RtposeError("--background needs --seg person or --seg parts.")
    from rtpose.io.render import parse_background

    parse_background(spec)  # a file that is no image, a colour it cannot read


def _wake_python_regularly(app) -> None:
    """Let Python's signal handlers run while Qt's event loop waits (they run only between bytecodes)."""
    from PyQt5.QtCore import QTimer

    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(200)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rtpose-gui`` and ``python -m gui``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except RtposeError as exc:
        from rtpose.cli import error_sentence  # the parameter as this parser's flag, secrets hidden

        print(f"rtpose-gui: error: {error_sentence(exc, parser)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
