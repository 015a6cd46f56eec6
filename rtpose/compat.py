"""Every work-around for a third-party library's behaviour (OpenCV, FFmpeg, Ultralytics, PyTorch, Qt), in one place.

Nothing here runs at import. Each quirk is applied at one documented moment:

=============================== ======================================================================
Function                        When it runs, and what it changes
=============================== ======================================================================
:func:`quiet_opencv`            around each ``cv2.VideoCapture`` open/read that may fail (a block):
                                OpenCV's log level is SILENT inside, the program's level comes back
                                after; on first use it also sets ``OPENCV_FFMPEG_LOGLEVEL=-8`` unless set
                                (FFmpeg's "[h264 @ 0x…]" lines; read when OpenCV first opens a file)
:func:`quiet_ffmpeg`            the FFmpeg part alone (idempotent; :func:`quiet_opencv` calls it)
:func:`import_ultralytics`      every import of Ultralytics in rtpose: PyTorch's CPU thread count,
                                which importing Ultralytics changes, is put back; its first-import
                                banner (stdout) goes to rtpose's debug messages
:func:`ultralytics_to_debug`    around Ultralytics calls (a block): its stdout, logger and warnings go to
                                rtpose's logger at debug level; its handlers come back after
:func:`ultralytics_warnings_only` around a first prediction (a block): Ultralytics' logger at WARNING
:func:`prepare_qt_environment`  by the viewer before its ``QApplication`` exists: Qt variables that
                                opencv-python points at its bundled Qt are dropped, and Qt's xcb GL
                                integration is off unless the user set it
:func:`opencv_qt_fonts`         before OpenCV's first ``imshow`` window: ``QT_QPA_FONTDIR`` at the system's
                                fonts when opencv-python's points at a folder it does not ship
=============================== ======================================================================
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_previous = 0


def quiet_ffmpeg() -> None:
    """FFmpeg's own log lines ("[h264 @ 0x…] …", "partial file") would interleave with rtpose's: a damaged file is
    reported in one sentence instead. ``OPENCV_FFMPEG_LOGLEVEL`` set by the user wins. Idempotent."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log lines for a block: a failed open is rtpose's one-sentence error instead, and a
    stream's "Stream timeout triggered" warnings are rtpose's one line about the outage.

    Process-wide; counted, so that blocks of several threads (many streams) nest and the level the program
    had comes back when the last one ends.
    """
    import cv2

    global _quiet_depth, _quiet_previous
    quiet_ffmpeg()
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_previous = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                cv2.utils.logging.setLogLevel(_quiet_previous)


def import_ultralytics():
    """Import Ultralytics without letting it change PyTorch's CPU thread count.

    Importing it sets ``torch.set_num_threads(cpu_count - 1)``, which would slow every PyTorch model of the
    process; every import of Ultralytics in rtpose goes through here. What the first import prints on stdout
    (it creates its settings file) goes to rtpose's debug messages. Returns the ``ultralytics`` module.
    """
    import torch

    threads = torch.get_num_threads()
    with contextlib.redirect_stdout(_ToDebug()):  # a first import writes a settings file and says so on stdout
        import ultralytics
    torch.set_num_threads(threads)
    return ultralytics


class _ToDebug(io.TextIOBase):
    """A text stream whose lines go to the ``rtpose`` logger at debug level."""

    def __init__(self) -> None:
        self._line = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        from rtpose.log import debug

        self._line += text
        *lines, self._line = self._line.split("\n")
        for line in lines:
            if line.strip():
                debug(f"ultralytics: {line.strip()}")
        return len(text)


class _ForwardToDebug(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from rtpose.log import debug

        debug(f"ultralytics: {record.getMessage().strip()}")


@contextlib.contextmanager
def ultralytics_to_debug() -> Iterator[None]:
    """Ultralytics' banners, export reports and warnings (stdout, its logger, Python warnings) go to the
    ``rtpose`` logger at debug level while the block runs (``--verbose`` shows them); errors still raise.
    Ultralytics' own handlers come back when the block ends."""
    logger = logging.getLogger("ultralytics")
    handlers, propagate = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [_ForwardToDebug()], False
    try:
        with contextlib.redirect_stdout(_ToDebug()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.handlers, logger.propagate = handlers, propagate


@contextlib.contextmanager
def ultralytics_warnings_only() -> Iterator[None]:
    """Ultralytics' logger at WARNING within the block (compiling an exported model prints two lines on stdout)."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def prepare_qt_environment() -> None:
    """Make PyQt5 and opencv-python live in one process; the viewer calls it before its ``QApplication`` exists.

    The opencv-python wheel points ``QT_QPA_PLATFORM_PLUGIN_PATH`` (and ``QT_QPA_FONTDIR``) at the Qt plugins it
    bundles for its own ``highgui`` windows; PyQt5 would then load OpenCV's ``libqxcb.so`` against its own Qt
    libraries and abort with "Could not load the Qt platform plugin xcb". The variables are only read when the
    ``QApplication`` is created, so clearing them works whether ``cv2`` was imported before or after.

    It also keeps Qt's xcb platform from loading OpenGL (``QT_XCB_GL_INTEGRATION=none``, unless the user set it):
    the viewer paints with the CPU, and on Mesa systems Mesa's GL brings its own LLVM into the process; when
    PyTorch then loads Triton, which carries another LLVM, the process crashes. Idempotent.
    """
    with contextlib.suppress(ImportError):  # opencv is a hard dependency of rtpose
        import cv2  # noqa: F401  (importing cv2 is what sets the variables; do it now, then undo it)
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR", "QT_PLUGIN_PATH"):
        value = os.environ.get(name, "")
        if value and "cv2" in value.replace("\\", "/").split("/"):
            del os.environ[name]
    os.environ.setdefault("QT_XCB_GL_INTEGRATION", "none")


def opencv_qt_fonts() -> None:
    """opencv-python's Qt looks for fonts in a folder the wheel does not ship (``QT_QPA_FONTDIR``) and warns about
    it on every window: point it at the system's fonts instead (read when OpenCV's first window opens)."""
    current = os.environ.get("QT_QPA_FONTDIR")
    if current is None or Path(current).is_dir():
        return
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if Path(folder).is_dir():
            os.environ["QT_QPA_FONTDIR"] = folder
            return


__all__ = ["import_ultralytics", "opencv_qt_fonts", "prepare_qt_environment", "quiet_ffmpeg", "quiet_opencv",
           "ultralytics_to_debug", "ultralytics_warnings_only"]
