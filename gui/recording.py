"""Files the viewer writes: recordings of the annotated stream and snapshots of the current view.

The writing itself is rtpose's (:class:`rtpose.io.sinks.VideoSink`, :func:`cv2.imwrite` through
:class:`rtpose.io.sinks.ImageSink`); this module names the files and reports problems in one sentence.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def timestamped_path(folder: Path, suffix: str) -> Path:
    """``folder/rtpose-YYYYmmdd-HHMMSS{suffix}``, with ``-2``, ``-3``… when that name is taken."""
    base = folder / time.strftime(f"rtpose-%Y%m%d-%H%M%S{suffix}")
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.stem}-{n}{suffix}"), n + 1
    return path


class Recording:
    """The annotated stream of a run, written to a video until :meth:`close`.

    ``real_time`` (live sources): frames dropped to stay current are filled with the previous one, so
    that the video lasts as long as the recording did.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], real_time: bool = False) -> None:
        from rtpose.io.sinks import VideoSink

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._sink = VideoSink(str(path), fps, tuple(size), real_time=real_time)

    def write(self, result, annotated: np.ndarray) -> None:
        self._sink.write(result, annotated)

    @property
    def frames(self) -> int:
        return self._sink.count

    def close(self) -> Path:
        """Finalise the file (an mp4 is playable only after this); returns its path."""
        self._sink.close()
        return self.path


def save_snapshot(image: np.ndarray, path: Path) -> Path:
    """Write ``image`` (BGR) as an image file; one sentence when it cannot be written."""
    from rtpose.io.sinks import ImageSink

    with ImageSink(path) as sink:
        sink.write(None, image)
    return path


__all__ = ["Recording", "save_snapshot", "timestamped_path"]
