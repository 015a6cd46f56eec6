"""A ``cv2.VideoCapture`` stand-in for cameras: an integer index serves a real video at a camera's pace.

rtpose opens cameras with ``cv2.VideoCapture(index)``. This machine has no camera, so tests replace
``cv2.VideoCapture`` itself (the OpenCV boundary) with :func:`capture_factory`: an integer index that
is plugged in gets a :class:`FakeCamera`, which decodes a real video file with OpenCV and hands out
its frames the way a live camera does; every other index is a closed capture, as OpenCV returns for a
missing device; strings (files, URLs) go to the real ``cv2.VideoCapture``.

A camera's pace: frame ``i`` exists at ``t0 + i / fps`` after the device opened. ``read()`` blocks
until the next frame exists; a reader that falls behind gets the newest frame (the sensor ran on, the
missed frames are gone), and the video loops, since a camera never ends. ``unplug_after=N`` makes
every read after the N-th fail, as an unplugged USB camera does; ``busy=True`` never opens.

In a subprocess: ``python -m tests.support.fake_camera --camera 0=VIDEO[,unplug_after=N] -- RTPOSE ARGS``
runs ``rtpose.cli.main`` with the stand-in installed.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

_REAL_CAPTURE = cv2.VideoCapture


@dataclass
class Device:
    """A plugged-in camera: the video it films, and how it fails."""

    video: str
    unplug_after: int | None = None
    busy: bool = False


class FakeCamera:
    """The capture of one fake camera (the subset of ``cv2.VideoCapture`` that camera users call)."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._file = None if device.busy else _REAL_CAPTURE(device.video)
        self._opened = self._file is not None and self._file.isOpened()
        if self._opened:
            fps = self._file.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if fps and fps > 0 else 30.0
            self.width = int(self._file.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(self._file.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._t0 = time.perf_counter()
        self._last_index = -1  # index (on the camera's clock) of the last frame handed out
        self._file_index = -1  # index of the last frame decoded from the file
        self.frames_served = 0
        self.frames_missed = 0  # frames the reader was too slow for

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self._opened

    def get(self, prop: int) -> float:
        if not self._opened:
            return 0.0
        return {
            cv2.CAP_PROP_FPS: self.fps,
            cv2.CAP_PROP_FRAME_WIDTH: float(self.width),
            cv2.CAP_PROP_FRAME_HEIGHT: float(self.height),
            cv2.CAP_PROP_FRAME_COUNT: -1.0,  # what V4L2 reports for a live device
        }.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        return False

    def grab(self) -> bool:
        ok, _ = self.read()
        return ok

    def read(self, image: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        with self._lock:
            if not self._opened:
                return False, None
            if self.device.unplug_after is not None and self.frames_served >= self.device.unplug_after:
                return False, None
            index = max(self._last_index + 1, int((time.perf_counter() - self._t0) * self.fps))
            delay = self._t0 + index / self.fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # the frame does not exist yet
            self.frames_missed += index - self._last_index - 1
            frame = self._frame_at(index)
            self._last_index = index
            self.frames_served += 1
            return True, frame

    def _frame_at(self, index: int) -> np.ndarray:
        """Decode forward to the frame the camera sees at ``index`` (the video loops)."""
        frame = None
        while self._file_index < index or frame is None:
            ok, frame = self._file.read()
            if not ok:
                self._file.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._file.read()
                if not ok:
                    raise RuntimeError(f"{self.device.video} has no frames")
            self._file_index += 1
        return frame

    def release(self) -> None:
        with self._lock:
            self._opened = False
            if self._file is not None:
                self._file.release()
                self._file = None


def capture_factory(devices: dict[int, Device], opened: list | None = None):
    """A ``cv2.VideoCapture`` replacement: the given camera indices are plugged in (see module doc)."""

    def video_capture(spec=None, *args, **kwargs):
        if isinstance(spec, int) and not isinstance(spec, bool):
            device = devices.get(spec)
            camera = FakeCamera(device) if device is not None else FakeCamera(Device("", busy=True))
            if opened is not None:
                opened.append(camera)
            return camera
        return _REAL_CAPTURE(spec, *args, **kwargs) if spec is not None else _REAL_CAPTURE()

    return video_capture


def install(devices: dict[int, Device], monkeypatch=None) -> list:
    """Replace ``cv2.VideoCapture`` (with pytest's ``monkeypatch`` when given); returns the opened cameras."""
    opened: list = []
    factory = capture_factory(devices, opened)
    if monkeypatch is not None:
        monkeypatch.setattr(cv2, "VideoCapture", factory)
    else:
        cv2.VideoCapture = factory
    return opened


def parse_device(text: str) -> tuple[int, Device]:
    """``"0=path.avi,unplug_after=20"`` → ``(0, Device("path.avi", unplug_after=20))``."""
    index, _, rest = text.partition("=")
    video, *options = rest.split(",")
    device = Device(video)
    for option in options:
        key, _, value = option.partition("=")
        if key == "unplug_after":
            device.unplug_after = int(value)
        elif key == "busy":
            device.busy = value not in ("0", "false", "")
        else:
            raise SystemExit(f"unknown camera option {key!r}")
    return int(index), device


def main(argv: list[str]) -> int:
    """``--camera I=VIDEO[,unplug_after=N] [...] -- ARGS``: ``rtpose ARGS`` with those cameras plugged in."""
    split = argv.index("--")
    devices: dict[int, Device] = {}
    words = argv[:split]
    for flag, value in zip(words[::2], words[1::2]):
        if flag != "--camera":
            raise SystemExit(f"unknown option {flag}")
        index, device = parse_device(value)
        devices[index] = device
    install(devices)
    from rtpose.cli import main as rtpose_main

    return rtpose_main(argv[split + 1 :])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
