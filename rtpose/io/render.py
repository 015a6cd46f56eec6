"""Drawing people and a heads-up display on BGR frames: the one implementation shared by the CLI and GUI.

Works for every keypoint set (:mod:`rtpose.pose.keypoint_sets`): limbs take the set's official link colour;
keypoints are filled with a colour that goes from red (score at the threshold) through yellow to green
(score 1), so unsure joints stand out. Keypoints and limbs below ``kpt_thr`` are not drawn. The small
parts of whole-body sets (face, hands) are drawn finer than the body: thinner links, smaller dots
without a rim. ``keypoint_parts`` picks which of the set's named parts are drawn (a viewer's part toggles).
People whose keypoints were carried forward from an earlier frame (``result.ages`` > 0, under a frame budget)
are drawn hollow: keypoints as rings without fill, limbs one pixel thin.

Drawing never fails on a result the model returned: coordinates far outside the image are clipped to a
margin around it (a box of 1e30 becomes a line at the margin), NaN and infinite ones are not drawn, and
pixel maps of another size than the image are not drawn.

This module reads results through :class:`Drawable` (what it needs of a :class:`rtpose.results.PoseResult`)
and never imports :mod:`rtpose.results`, which draws through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import cv2
import numpy as np

from rtpose.pose.keypoint_sets import KeypointSet


class Drawable(Protocol):
    """What drawing reads of a result (:class:`rtpose.results.PoseResult` is one).

    Per person: ``boxes`` ``(N, 4)``, ``scores`` ``(N,)``, ``keypoints`` ``(N, K, 3)``, ``ages`` ``(N,)`` | None
    (frames since the keypoints were computed) and ``masks`` ``(N, H, W)`` | None. Per frame: ``person_mask`` /
    ``part_map`` ``(H, W)`` | None and ``seg_classes``; the HUD's ``fps``, ``latency_ms`` and ``dropped``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    keypoint_set: KeypointSet
    ages: np.ndarray | None
    masks: np.ndarray | None
    person_mask: np.ndarray | None
    part_map: np.ndarray | None
    seg_classes: object | None
    fps: float
    latency_ms: float
    dropped: int

    def __len__(self) -> int: ...

    def track_id_list(self) -> list[int | None]: ...


#: Box colours for tracked people (BGR), picked by ``track_id``.
TRACK_PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 56, 56), (56, 56, 255), (56, 255, 56), (255, 157, 151), (255, 112, 31), (0, 194, 255),
    (255, 178, 29), (207, 210, 49), (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52),
    (0, 212, 187), (44, 153, 168), (52, 69, 147), (100, 115, 255), (142, 0, 236), (203, 56, 255),
)
#: Parts drawn finer than the body (thin links, small dots): they are dense and small on the image.
FINE_PARTS: frozenset[str] = frozenset({"face", "left_hand", "right_hand"})
#: Box colour when there is no track id (BGR).
BOX_COLOUR: tuple[int, int, int] = (60, 220, 255)


def confidence_colour(score: float, kpt_thr: float = 0.3) -> tuple[int, int, int]:
    """BGR fill colour of a keypoint: red at ``kpt_thr`` → yellow → green at 1."""
    t = float(np.clip((score - kpt_thr) / max(1.0 - kpt_thr, 1e-6), 0.0, 1.0))
    if t < 0.5:
        return (0, int(round(255 * 2 * t)), 255)
    return (0, 255, int(round(255 * 2 * (1.0 - t))))


def track_colour(track_id: int | None) -> tuple[int, int, int]:
    """Box colour for a track id (a fixed colour when None)."""
    return BOX_COLOUR if track_id is None else TRACK_PALETTE[int(track_id) % len(TRACK_PALETTE)]


def _scale(image: np.ndarray) -> tuple[int, int]:
    """Line thickness and keypoint radius for the image size (1 px and 3 px at 480×360)."""
    short = min(image.shape[:2])
    return max(1, int(round(short / 360))), max(2, int(round(short / 120)))


def draw_result(
    image: np.ndarray,
    result: Drawable,
    *,
    kpt_thr: float = 0.3,
    show_boxes: bool = True,
    show_keypoints: bool = True,
    show_ids: bool = True,
    copy: bool = True,
    keypoint_parts: Iterable[str] | None = None,
    show_masks: bool = True,
) -> np.ndarray:
    """Draw the boxes, skeletons and keypoints of a result (a :class:`Drawable`) on a BGR image.

    Args:
        image: ``(H, W, 3)`` uint8 BGR, in the pixel coordinates of the result.
        result: the people (``boxes`` ``(N, 4)``, ``scores``, ``keypoints`` ``(N, K, 3)``, ``track_ids``)
            and their :attr:`~rtpose.results.PoseResult.keypoint_set`.
        kpt_thr: keypoints scoring below this are hidden, and so are limbs touching them.
        show_boxes / show_keypoints / show_ids: what to draw (ids are drawn with the box).
        copy: draw on a copy (True) or in place (False).
        keypoint_parts: names of the keypoint set's parts to draw (``keypoint_set.parts``, e.g.
            ``{"body", "face"}``); None draws all. A limb is drawn when both its ends are in drawn parts.
        show_masks: tint each person's mask (``result.masks``) in their track colour, or the body-part map
            (``result.part_map``) in the class set's palette, where the result has them.

    Returns:
        The drawn image (``image`` itself when ``copy`` is False).
    """
    out = image.copy() if copy else image
    if show_masks:
        draw_masks(out, result)
    thickness, radius = _scale(out)
    kset = result.keypoint_set
    fine = _fine_mask(kset)
    shown = kset.part_mask(keypoint_parts) if keypoint_parts is not None else np.ones(kset.num_keypoints, bool)
    limit = _margin(out)
    ages = result.ages if result.ages is not None else np.zeros(len(result), np.int64)
    for box, score, kpts, track_id, age in zip(result.boxes, result.scores, result.keypoints, result.track_id_list(),
                                               ages):
        if show_boxes and np.isfinite(box).all():
            x1, y1, x2, y2 = _pixels(box, limit)
            colour = track_colour(track_id)
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
            label = f"{float(score):.2f}"
            if show_ids and track_id is not None:
                label = f"#{track_id} {label}"
            _label(out, label, (x1, y1), colour)
        if not show_keypoints:
            continue
        visible = (kpts[:, 2] >= kpt_thr) & shown & np.isfinite(kpts).all(axis=1)
        points = [_pixels(xy, limit) for xy in kpts[:, :2]]
        for (a, b), colour in zip(kset.links, kset.link_colours_bgr):
            if visible[a] and visible[b]:
                width = 1 if (fine[a] and fine[b]) or age > 0 else thickness + 1
                cv2.line(out, points[a], points[b], colour, width, cv2.LINE_AA)
        for i in np.flatnonzero(visible):
            colour = confidence_colour(float(kpts[i, 2]), kpt_thr)
            if fine[i]:
                cv2.circle(out, points[i], max(1, radius // 2), colour, -1, cv2.LINE_AA)
                continue
            if age > 0:  # carried: a ring, no fill
                cv2.circle(out, points[i], radius, colour, 1, cv2.LINE_AA)
                continue
            cv2.circle(out, points[i], radius + 1, (0, 0, 0), -1, cv2.LINE_AA)  # dark rim
            cv2.circle(out, points[i], radius, colour, -1, cv2.LINE_AA)
    return out


def _margin(image: np.ndarray) -> int:
    """How far outside ``image`` a drawn coordinate may lie (beyond it nothing shows; OpenCV needs int32)."""
    return 2 * max(image.shape[:2]) + 16


def _pixels(values: np.ndarray, limit: int) -> tuple[int, ...]:
    """Coordinates as ints, clipped to [-limit, limit] (NaN gives 0: callers draw only finite ones)."""
    return tuple(int(round(v)) for v in np.clip(np.nan_to_num(np.asarray(values, np.float64)), -limit, limit))


def _fits(array: np.ndarray | None, image_hw: tuple[int, ...]) -> bool:
    """A pixel map (``(H, W)`` or ``(N, H, W)``) of the image's size."""
    return array is not None and tuple(array.shape[-2:]) == tuple(image_hw[:2])


def draw_masks(image: np.ndarray, result: Drawable, alpha: float = 0.45) -> np.ndarray:
    """Tint (in place) each person's mask in their track colour, or the body-part map in its palette colour.

    Maps of another size than ``image`` are not drawn.
    """
    part_map = result.part_map
    if _fits(part_map, image.shape) and result.seg_classes is not None:
        palette = np.asarray(result.seg_classes.palette, np.uint8)[:, ::-1]  # RGB → BGR
        labels = np.minimum(part_map, len(palette) - 1)
        where = labels != (result.seg_classes.background or 0)
        image[where] = (image[where] * (1 - alpha) + palette[labels[where]] * alpha).astype(np.uint8)
        return image
    if not _fits(result.masks, image.shape):
        return image
    for mask, track_id in zip(result.masks, result.track_id_list()):
        colour = np.array(track_colour(track_id), np.float32)
        image[mask] = (image[mask] * (1 - alpha) + colour * alpha).astype(np.uint8)
    return image


def person_area(result: Drawable, image_hw: tuple[int, int]) -> np.ndarray:
    """float32 ``(H, W)`` in [0, 1]: how much each pixel is a person (the person probability, else the masks,
    else the body-part map), resized to ``image_hw`` where the map has another size."""
    if result.person_mask is not None:
        area = np.clip(np.nan_to_num(result.person_mask), 0.0, 1.0).astype(np.float32)
    elif result.masks is not None and len(result.masks):
        area = result.masks.any(axis=0).astype(np.float32)
    elif result.part_map is not None:
        area = (result.part_map > 0).astype(np.float32)
    else:
        return np.zeros(image_hw, np.float32)
    if area.shape != tuple(image_hw):
        area = cv2.resize(area, (image_hw[1], image_hw[0]), interpolation=cv2.INTER_LINEAR)
    return area


def parse_background(spec: str) -> str | tuple[int, int, int] | np.ndarray:
    """``--background``: "blur", a colour ("green", "#00ff00", "0,255,0" as R,G,B) or an image file."""
    from pathlib import Path

    from rtpose.errors import RtposeError

    named = {"black": (0, 0, 0), "white": (255, 255, 255), "green": (0, 255, 0), "blue": (0, 0, 255),
             "grey": (128, 128, 128), "gray": (128, 128, 128)}
    text = spec.strip().lower()
    if text == "blur":
        return "blur"
    if text in named:
        r, g, b = named[text]
        return (b, g, r)
    if text.startswith("#") and len(text) == 7:
        try:
            r, g, b = (int(text[i:i + 2], 16) for i in (1, 3, 5))
            return (b, g, r)
        except ValueError:
            pass
    parts = text.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        r, g, b = (int(p) for p in parts)
        return (b, g, r)
    if Path(spec).is_file():
        image = cv2.imread(spec, cv2.IMREAD_COLOR)
        if image is None:
            raise RtposeError(f"background={spec!r} is not an image OpenCV can read.")
        return image
    raise RtposeError(f"background={spec!r}: give 'blur', a colour (green, #00ff00, 0,255,0) or an image file.")


def apply_background(image: np.ndarray, result: Drawable, background) -> np.ndarray:
    """Blur or replace everything that is not a person (in place): the video-call effect.

    ``background``: what :func:`parse_background` returns. The edge is soft: pixels are blended by the
    person probability (or the masks).
    """
    h, w = image.shape[:2]
    alpha = person_area(result, (h, w))[..., None]
    if isinstance(background, str):  # blur
        k = max(3, (min(h, w) // 20) | 1)
        behind = cv2.GaussianBlur(image, (k, k), 0)
    elif isinstance(background, np.ndarray):
        behind = cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA)
    else:
        behind = np.empty_like(image)
        behind[:] = background
    image[:] = (image * alpha + behind * (1 - alpha)).astype(np.uint8)
    return image


def draw_output(result: Drawable, *, kpt_thr: float = 0.3, background=None, privacy: str | None = None
                ) -> np.ndarray:
    """The picture of ``result`` that leaves rtpose: its frame with the people drawn, on a copy.

    ``background``: what :func:`parse_background` returns (needs masks); ``privacy``: ``"faces"`` or
    ``"skeleton"`` (:func:`rtpose.io.privacy.apply_privacy`), applied before the skeletons are drawn.
    """
    if background is None and privacy is None:
        return result.plot(kpt_thr=kpt_thr)
    canvas = result.image.copy()
    if background is not None:
        apply_background(canvas, result, background)
    if privacy is not None:
        from rtpose.io.privacy import apply_privacy

        apply_privacy(canvas, result, privacy, kpt_thr=kpt_thr)
    masks = background is None and privacy != "skeleton"
    return result.plot(canvas, kpt_thr=kpt_thr, masks=masks, copy=False)


def _fine_mask(keypoint_set: KeypointSet) -> np.ndarray:
    """bool ``(K,)``: the keypoints of :data:`FINE_PARTS` in ``keypoint_set``."""
    fine = [p for p in keypoint_set.parts if p in FINE_PARTS]
    return keypoint_set.part_mask(fine) if fine else np.zeros(keypoint_set.num_keypoints, dtype=bool)


def _label(image: np.ndarray, text: str, corner: tuple[int, int], colour: tuple[int, int, int]) -> None:
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, min(image.shape[:2]) / 900)
    (w, h), base = cv2.getTextSize(text, font, scale, 1)
    x, y = max(0, corner[0]), max(h + base, corner[1])
    cv2.rectangle(image, (x, y - h - base), (x + w + 2, y), colour, -1)
    cv2.putText(image, text, (x + 1, y - base // 2 - 1), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


def draw_hud(image: np.ndarray, lines: list[str], *, copy: bool = False) -> np.ndarray:
    """Write ``lines`` in the top-left corner on a darkened panel (in place unless ``copy``)."""
    out = image.copy() if copy else image
    if not lines:
        return out
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.45, min(out.shape[:2]) / 720)
    sizes = [cv2.getTextSize(line, font, scale, 1) for line in lines]
    line_h = max(h + b for (_, h), b in sizes) + 4
    width = max(w for (w, _), _ in sizes) + 12
    height = line_h * len(lines) + 6
    h_img, w_img = out.shape[:2]
    x2, y2 = min(width, w_img), min(height, h_img)
    panel = out[:y2, :x2]
    panel[:] = (panel.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %
    for i, line in enumerate(lines):
        cv2.putText(out, line, (6, 4 + line_h * (i + 1) - 4), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def hud_lines(result: Drawable, backend_name: str = "", device: str = "") -> list[str]:
    """The standard HUD of a result (a :class:`Drawable`): FPS, latency, people, backend/device."""
    lines = [f"{result.fps:5.1f} FPS  latency {result.latency_ms:.0f} ms", f"{len(result)} people"]
    if result.dropped:
        lines[-1] += f"  dropped {result.dropped}"
    if backend_name or device:
        lines.append(f"{backend_name} {device}".strip())
    return lines


__all__ = ["FINE_PARTS", "Drawable", "apply_background", "confidence_colour", "draw_hud", "draw_masks", "draw_output",
           "draw_result", "hud_lines", "parse_background", "person_area", "track_colour"]
