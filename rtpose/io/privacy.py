"""Privacy for pictures that leave rtpose: faces blurred, or only skeletons on a plain background.

``faces``: each person's face region, found from the head keypoints (COCO's nose, eyes and ears, or the
keypoint set's keypoints of those names) and, where none of them is sure enough, the top of the person's
box, is pixelated and blurred. ``skeleton``: the picture is replaced by a plain background, on which the
run loop then draws the skeletons. Neither needs a segmentation model: a few milliseconds per frame.

Applied where frames are drawn for output (:func:`rtpose.engine.stream.run`), so it reaches every served
view, ``--save`` video and image alike.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtpose.errors import RtposeError

#: ``--privacy`` values.
PRIVACY_MODES = ("faces", "skeleton")
#: Keypoint names that mark the head.
HEAD_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
#: The colour of ``skeleton``'s plain background (BGR).
PLAIN_BACKGROUND = (40, 40, 40)


def parse_privacy(text: str | None) -> str | None:
    """``privacy=`` checked: None, ``"faces"`` or ``"skeleton"``; anything else raises one sentence."""
    if text is None:
        return None
    value = str(text).strip().lower()
    if value not in PRIVACY_MODES:
        raise RtposeError(f"privacy={text!r}: give faces (blur each face) or skeleton (skeletons on a plain "
                          "background).")
    return value


def face_boxes(result, kpt_thr: float = 0.3) -> np.ndarray:
    """float32 ``(N, 4)`` (x1, y1, x2, y2) in image pixels: the face region of each person of ``result``.

    From the sure head keypoints (score >= ``kpt_thr``): a square around them, at least 0.3 box widths wide
    (a face seen from the side shows one eye and one ear); else the top fifth of the box (at least as tall as
    half its width), over its full width.
    """
    names = list(result.keypoint_set.keypoint_names)
    head = [names.index(n) for n in HEAD_KEYPOINTS if n in names]
    out = np.zeros((len(result), 4), np.float32)
    for i, (box, kpts) in enumerate(zip(result.boxes, result.keypoints)):
        x1, y1, x2, y2 = (float(v) for v in box)
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        points = kpts[head][kpts[head][:, 2] >= kpt_thr, :2] if head else np.zeros((0, 2), np.float32)
        if len(points):
            cx, cy = points.mean(axis=0)
            spread = float(np.ptp(points, axis=0).max()) if len(points) > 1 else 0.0
            side = max(1.8 * spread, 0.3 * bw)
            out[i] = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        else:
            out[i] = (x1, y1, x2, y1 + max(0.2 * bh, 0.5 * bw))
    return out


def blur_regions(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Pixelate and blur each box of ``boxes`` ``(N, 4)`` in ``image`` ``(H, W, 3)`` (in place)."""
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in np.asarray(boxes, np.float32).reshape(-1, 4):
        a, b = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
        c, d = min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h)
        if c - a < 2 or d - b < 2:
            continue
        region = image[b:d, a:c]
        small = cv2.resize(region, (max(1, (c - a) // 8), max(1, (d - b) // 8)), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(c - a, d - b) // 4) | 1)
        region[:] = cv2.GaussianBlur(coarse, (k, k), 0)
    return image


def apply_privacy(image: np.ndarray, result, mode: str, kpt_thr: float = 0.3) -> np.ndarray:
    """``image`` ``(H, W, 3)`` BGR (the frame of ``result``) made private, in place: see the module doc."""
    if mode == "skeleton":
        image[:] = PLAIN_BACKGROUND
    elif mode == "faces":
        blur_regions(image, face_boxes(result, kpt_thr))
    else:
        parse_privacy(mode)
    return image


__all__ = ["HEAD_KEYPOINTS", "PLAIN_BACKGROUND", "PRIVACY_MODES", "apply_privacy", "blur_regions", "face_boxes",
           "parse_privacy"]
