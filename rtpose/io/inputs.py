"""Inputs checked at the door: images, boxes and frame iterables that programs pass to :class:`rtpose.PoseModel`.

Anything that cannot be an image is refused in one sentence that names the parameter and what was
given, before a model runs. Accepted images: ``(H, W, 3)`` BGR, ``(H, W)`` or ``(H, W, 1)`` grey and
``(H, W, 4)`` BGRA arrays of uint8 (uint16 is scaled to 8 bits), and paths of image files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from rtpose.errors import InputError, SourceError
from rtpose.io.sources import Frame, FrameSource
from rtpose.utils.timing import now


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"{type(value).__module__}.{type(value).__name__}" if type(value).__module__ != "builtins" else repr(value)


def as_bgr_image(image, parameter: str = "image") -> tuple[np.ndarray, str | None]:
    """``(H, W, 3)`` uint8 BGR (C-contiguous) and the file name (None for arrays).

    Args:
        image: an array (BGR, grey, BGRA; uint8 or uint16) or the path of an image file.
        parameter: the caller's parameter name, for the error sentence.
    """
    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise InputError(f"{parameter}={str(image)!r}: no such image file.")
        array = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if array is None:
            raise InputError(f"{parameter}={str(image)!r} is not an image OpenCV can read (unsupported or corrupt).")
        return array, path.name
    if image is None:
        raise InputError(f"{parameter}=None: give a BGR image array (as cv2.imread returns) or an image file path.")
    if type(image).__module__.startswith("PIL."):
        raise InputError(f"{parameter}= is a PIL image; rtpose takes BGR arrays as OpenCV reads them: pass "
                         "cv2.cvtColor(np.asarray(img.convert('RGB')), cv2.COLOR_RGB2BGR).")
    if not isinstance(image, np.ndarray):
        raise InputError(f"{parameter}= takes a BGR image array or an image file path, not {_describe(image)}.")
    if image.size == 0:
        raise InputError(f"{parameter}= is an empty array (shape {image.shape}).")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise InputError(f"{parameter}= must be a uint8 image (0-255, as cv2.imread returns), not {_describe(image)}.")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR), None
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), None
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{parameter}= must be (H, W, 3) BGR, (H, W) grey or (H, W, 4) BGRA, not {_describe(image)}.")
    return np.ascontiguousarray(image), None


def as_boxes(boxes, image_shape: tuple[int, ...], parameter: str = "boxes") -> np.ndarray:
    """float32 ``(N, 4)`` (x1, y1, x2, y2) in image pixels; one sentence for anything else."""
    try:
        array = np.asarray(boxes, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{parameter}= must be (N, 4) boxes (x1, y1, x2, y2) in pixels, not {_describe(boxes)}.") \
            from None
    if array.size == 0:
        return np.zeros((0, 4), np.float32)
    if array.ndim == 1 and array.shape[0] == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise InputError(f"{parameter}= must be (N, 4) boxes (x1, y1, x2, y2) in pixels, not shape {array.shape}.")
    if not np.isfinite(array).all():
        raise InputError(f"{parameter}= holds NaN or infinite coordinates.")
    if ((array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1])).any():
        raise InputError(f"{parameter}= must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1 (corners, not x, y, w, h "
                         "with w or h of 0).")
    return array


class ArraySource(FrameSource):
    """Frames from a program: any iterable of images (arrays or paths), read one by one, none dropped.

    ``name``: what messages call it. Each item is checked like ``PoseModel(image)`` (one sentence
    naming ``source[i]`` for an item that is not an image).
    """

    def __init__(self, frames: Iterable, name: str = "frames", fps: float | None = None) -> None:
        super().__init__()
        self.name = name
        self.fps = fps
        self.frame_count = len(frames) if isinstance(frames, Sequence) else None
        self._frames: Iterator = iter(frames)

    def read(self) -> Frame | None:
        try:
            item = next(self._frames)
        except StopIteration:
            return None
        index = self._next_index
        image, file = as_bgr_image(item, f"source[{index}]")
        if self.size is None:
            self.size = (image.shape[1], image.shape[0])
        self._next_index += 1
        media_time = index / self.fps if self.fps else None
        return Frame(index, now(), image, media_time=media_time, file=file)

    def seek(self, index: int) -> None:
        raise SourceError(f"{self.name} is an iterable of frames: it cannot seek.")

    def close(self) -> None:
        close = getattr(self._frames, "close", None)  # a generator given by the program
        if callable(close):
            close()


def is_frame_iterable(source) -> bool:
    """True for a list, tuple, generator or other iterable of frames (not a path, URL or camera index)."""
    if isinstance(source, (str, bytes, os.PathLike, int, np.ndarray, FrameSource)):
        return False
    return isinstance(source, Iterable)


__all__ = ["ArraySource", "InputError", "as_bgr_image", "as_boxes", "is_frame_iterable"]
