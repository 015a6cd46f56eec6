"""Inputs checked at the door: images, boxes and frame iterables that programs pass to :class:`rtpose.PoseModel`.

Anything that cannot be an image is refused in one sentence that names the parameter and what was
given (its type, shape and dtype, never its contents), before a model runs. Accepted images: ``(H, W, 3)``
BGR, ``(H, W)`` or ``(H, W, 1)`` grey and ``(H, W, 4)`` BGRA arrays of uint8 (uint16 is scaled to 8 bits),
and paths of image files.

The memory bounds of every model input live here too, each derived from the model, each checked before
anything is allocated for the model:

- a frame has at most :data:`MAX_FRAME_PIXELS` pixels (8192 × 8192; more is refused in one sentence:
  the frame-sized maps of segmentation, ``(N, H, W)`` masks among them, grow with it);
- one pose call takes at most :func:`max_crops` crops: :data:`CROP_BATCH_BYTES` of float32 crops at the
  model's input size (flip test counts twice): 3,640 at 256 × 192, 1,618 at 384 × 288; more people in
  one call are refused in one sentence;
- segmentation's whole-frame input (``seg="person"``) has its short side at the model's input size and
  its long side at most :data:`SEG_MAX_ASPECT` times that (:func:`seg_frame_input_hw`): a frame longer
  than 4 : 1 is squeezed to 4 : 1 (the documented downscale), and its person probability is resized back
  to the frame, so a 1 × 5000 image costs a 512 × 2048 input, not 512 × 2,560,000 (22.8 GB).
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

#: The most pixels of one frame (8192 × 8192; an 8K UHD frame has 33 million).
MAX_FRAME_PIXELS = 8192 * 8192
#: The most bytes of float32 crops one pose call builds (flip test included): the crop count cap.
CROP_BATCH_BYTES = 2 << 30
#: Segmentation's whole-frame input: the long side at most this many times the short side.
SEG_MAX_ASPECT = 4
#: Boxes may reach this many image sizes beyond the image (a person cut by the border); further is refused.
BOX_REACH = 4


def describe(value) -> str:
    """A value in a few words: type, shape and dtype of an array, the length of a container, never a long repr."""
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    kind = type(value)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"a {name} of {len(value)} items"
    if isinstance(value, (bool, int, float, complex)) or value is None:
        return repr(value)
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return text if len(text) <= 80 else f"a {name} of {len(value)} characters"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        return f"a {name} of shape {shape}" + (f" and dtype {value.dtype}" if hasattr(value, "dtype") else "")
    return f"a {name}"


def check_frame_size(image_hw: tuple[int, ...], parameter: str = "image") -> None:
    """Refuse, in one sentence naming ``parameter``, a frame of more than :data:`MAX_FRAME_PIXELS` pixels."""
    h, w = int(image_hw[0]), int(image_hw[1])
    if h * w > MAX_FRAME_PIXELS:
        raise InputError(f"{parameter}= is {w}x{h} pixels ({h * w / 1e6:.1f} megapixels); rtpose takes frames of at "
                         f"most {MAX_FRAME_PIXELS / 1e6:.1f} megapixels (8192x8192): downscale it first.")


def max_crops(input_hw: tuple[int, int], flip: bool = False) -> int:
    """The most crops one pose call takes: :data:`CROP_BATCH_BYTES` of float32 ``(3, H, W)`` crops at the
    model's ``input_hw`` (twice as many bytes each with flip test)."""
    per_crop = 3 * int(input_hw[0]) * int(input_hw[1]) * 4 * (2 if flip else 1)
    return max(1, CROP_BATCH_BYTES // per_crop)


def check_crop_count(count: int, input_hw: tuple[int, int], flip: bool = False, parameter: str = "boxes") -> None:
    """Refuse, in one sentence naming ``parameter``, more people in one pose call than :func:`max_crops`."""
    limit = max_crops(input_hw, flip)
    if count > limit:
        raise InputError(f"{parameter}= gives {count} people to one pose call; a {input_hw[0]}x{input_hw[1]} model "
                         f"takes at most {limit} per call{' with flip test' if flip else ''}: pass them in parts.")


def seg_frame_input_hw(image_hw: tuple[int, ...], short_side: int) -> tuple[int, int]:
    """``(h, w)`` of segmentation's whole-frame input for an image of ``image_hw``: the short side at
    ``short_side`` (aspect kept), the long side at most :data:`SEG_MAX_ASPECT` × ``short_side`` (a longer frame
    is squeezed; its probability is resized back to the frame)."""
    h, w = int(image_hw[0]), int(image_hw[1])
    scale = short_side / max(1, min(h, w))
    longest = SEG_MAX_ASPECT * int(short_side)
    return min(longest, max(1, round(h * scale))), min(longest, max(1, round(w * scale)))


def as_bgr_image(image, parameter: str = "image") -> tuple[np.ndarray, str | None]:
    """``(H, W, 3)`` uint8 BGR (C-contiguous) and the file name (None for arrays).

    Args:
        image: an array (BGR, grey, BGRA; uint8 or uint16) or the path of an image file.
        parameter: the caller's parameter name, for the error sentence.
    """
    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        try:
            found = path.is_file()
        except OSError:  # a name longer than the file system allows
            found = False
        if not found:
            raise InputError(f"{parameter}={describe(str(image))}: no such image file.")
        array = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if array is None:
            raise InputError(f"{parameter}={describe(str(image))} is not an image OpenCV can read (unsupported, "
                             "corrupt or too large).")
        check_frame_size(array.shape, parameter)
        return array, path.name
    if image is None:
        raise InputError(f"{parameter}=None: give a BGR image array (as cv2.imread returns) or an image file path.")
    if type(image).__module__.startswith("PIL."):
        raise InputError(f"{parameter}= is a PIL image; rtpose takes BGR arrays as OpenCV reads them: pass "
                         "cv2.cvtColor(np.asarray(img.convert('RGB')), cv2.COLOR_RGB2BGR).")
    if not isinstance(image, np.ndarray):
        raise InputError(f"{parameter}= takes a BGR image array or an image file path, not {describe(image)}.")
    if image.size == 0:
        raise InputError(f"{parameter}= is an empty array (shape {image.shape}).")
    if image.ndim in (2, 3):
        check_frame_size(image.shape, parameter)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise InputError(f"{parameter}= must be a uint8 image (0-255, as cv2.imread returns), not {describe(image)}.")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR), None
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), None
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{parameter}= must be (H, W, 3) BGR, (H, W) grey or (H, W, 4) BGRA, not {describe(image)}.")
    return np.ascontiguousarray(image), None


def as_boxes(boxes, image_shape: tuple[int, ...], parameter: str = "boxes") -> np.ndarray:
    """float32 ``(N, 4)`` (x1, y1, x2, y2) in image pixels; one sentence for anything else."""
    try:
        array = np.asarray(boxes, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{parameter}= must be (N, 4) boxes (x1, y1, x2, y2) in pixels, not {describe(boxes)}.") \
            from None
    if array.size == 0:
        return np.zeros((0, 4), np.float32)
    if array.ndim == 1 and array.shape[0] == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise InputError(f"{parameter}= must be (N, 4) boxes (x1, y1, x2, y2) in pixels, not shape {array.shape}.")
    if not np.isfinite(array).all():
        raise InputError(f"{parameter}= holds NaN or infinite coordinates.")
    reach = BOX_REACH * max(int(image_shape[0]), int(image_shape[1]))
    if (np.abs(array) > reach).any():
        worst = float(array.flat[np.abs(array).argmax()])
        raise InputError(f"{parameter}= has a coordinate of {worst:g}, beyond {BOX_REACH} image sizes ({reach} "
                         "pixels) from the image: boxes are (x1, y1, x2, y2) in the image's pixels.")
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


__all__ = ["BOX_REACH", "CROP_BATCH_BYTES", "MAX_FRAME_PIXELS", "SEG_MAX_ASPECT", "ArraySource", "InputError",
           "as_bgr_image", "as_boxes", "check_crop_count", "check_frame_size", "describe", "is_frame_iterable",
           "max_crops", "seg_frame_input_hw"]
