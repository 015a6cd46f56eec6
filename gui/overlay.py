"""What the viewer draws over frames besides the people: the HUD, placed where it covers nobody, and the
grid that shows several streams in one picture (as :class:`rtpose.io.sinks.GridWindowSink` does for the CLI).

No Qt here: numpy and OpenCV on BGR arrays.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: HUD text: font and padding (the look of :func:`rtpose.io.render.draw_hud`).
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MARGIN = 4  # pixels between the HUD and the image edge


def hud_lines(result, backend: str = "", device: str = "", *, still: bool = False) -> list[str]:
    """The HUD of a result: FPS and latency, people (and drops), backend and device.

    ``still``: the result is of a single image, where a frame rate means nothing: no FPS is shown.
    """
    from rtpose.io.render import hud_lines as standard

    lines = standard(result, backend, device)
    if still:
        lines[0] = f"still image  latency {result.latency_ms:.0f} ms"
    return lines


def hud_size(shape: tuple[int, ...], lines: list[str]) -> tuple[int, int, int, float]:
    """``(width, height, line height, font scale)`` of the HUD of ``lines`` on an image of ``shape``."""
    scale = max(0.45, min(shape[:2]) / 720)
    sizes = [cv2.getTextSize(line, _FONT, scale, 1) for line in lines]
    line_h = max(h + b for (_, h), b in sizes) + 4
    return max(w for (w, _), _ in sizes) + 12, line_h * len(lines) + 6, line_h, scale


def _overlap(rect: tuple[int, int, int, int], boxes: np.ndarray) -> float:
    """Total area of ``boxes`` (x1, y1, x2, y2 rows) inside ``rect``."""
    if not len(boxes):
        return 0.0
    x1, y1, x2, y2 = rect
    w = np.clip(np.minimum(boxes[:, 2], x2) - np.maximum(boxes[:, 0], x1), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], y2) - np.maximum(boxes[:, 1], y1), 0, None)
    return float((w * h).sum())


def hud_rect(shape: tuple[int, ...], lines: list[str], boxes=()) -> tuple[int, int, int, int]:
    """Where the HUD goes: ``(x1, y1, x2, y2)`` in the corner that covers the least of the people's boxes.

    Corners are tried top-left, top-right, bottom-left, bottom-right; the first that covers no box wins,
    else the one covering the least box area.
    """
    h_img, w_img = shape[:2]
    width, height, _, _ = hud_size(shape, lines)
    width, height = min(width, w_img), min(height, h_img)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    left, top = min(_MARGIN, w_img - width), min(_MARGIN, h_img - height)
    right, bottom = max(0, w_img - width - _MARGIN), max(0, h_img - height - _MARGIN)
    corners = [(left, top), (right, top), (left, bottom), (right, bottom)]
    best = min(corners, key=lambda c: (_overlap((c[0], c[1], c[0] + width, c[1] + height), boxes),
                                       corners.index(c)))
    return best[0], best[1], best[0] + width, best[1] + height


def draw_hud(image: np.ndarray, lines: list[str], boxes=()) -> tuple[int, int, int, int] | None:
    """Write ``lines`` on a darkened panel in the corner of ``image`` that hides the fewest people (in place).

    Returns the panel's rectangle ``(x1, y1, x2, y2)`` (None when there are no lines).
    """
    if not lines:
        return None
    x1, y1, x2, y2 = hud_rect(image.shape, lines, boxes)
    _, _, line_h, scale = hud_size(image.shape, lines)
    panel = image[y1:y2, x1:x2]
    panel[:] = (panel.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %
    for i, line in enumerate(lines):
        cv2.putText(image, line, (x1 + 6, y1 + line_h * (i + 1)), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return x1, y1, x2, y2


def grid_shape(streams: int) -> tuple[int, int]:
    """``(rows, columns)`` of the grid of ``streams`` tiles (as square as it gets, wider than tall)."""
    columns = max(1, math.ceil(math.sqrt(streams)))
    return max(1, math.ceil(streams / columns)), columns


def tile_size(sizes: list[tuple[int, int]], most: tuple[int, int] = (640, 480)) -> tuple[int, int]:
    """The (W, H) of a grid tile for streams of frame ``sizes``: the largest frame, shrunk to fit ``most``."""
    sizes = [(int(w), int(h)) for w, h in sizes if w and h] or [(640, 360)]
    w, h = max(w for w, _ in sizes), max(h for _, h in sizes)
    scale = min(1.0, most[0] / w, most[1] / h)
    return max(2, int(w * scale)) // 2 * 2, max(2, int(h * scale)) // 2 * 2


def tile_rect(index: int, streams: int, tile: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` of stream ``index``'s tile in the grid."""
    _, columns = grid_shape(streams)
    row, col = divmod(int(index), columns)
    w, h = tile
    return col * w, row * h, (col + 1) * w, (row + 1) * h


def compose_grid(images: dict[int, np.ndarray], streams: int, tile: tuple[int, int],
                 canvas: np.ndarray | None = None) -> np.ndarray:
    """The newest picture of each stream (``images[stream]``) fitted into its tile of a grid (black around).

    ``canvas``: the previous grid, updated in place for the streams in ``images`` (others keep their tile).
    """
    rows, columns = grid_shape(streams)
    w, h = tile
    if canvas is None or canvas.shape != (rows * h, columns * w, 3):
        canvas = np.zeros((rows * h, columns * w, 3), np.uint8)
    for index, image in images.items():
        scale = min(w / image.shape[1], h / image.shape[0])
        size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
        fitted = image if size == (image.shape[1], image.shape[0]) else cv2.resize(image, size,
                                                                                   interpolation=cv2.INTER_AREA)
        x1, y1, x2, y2 = tile_rect(index, streams, tile)
        cell = canvas[y1:y2, x1:x2]
        cell[:] = 0
        oy, ox = (h - fitted.shape[0]) // 2, (w - fitted.shape[1]) // 2
        cell[oy:oy + fitted.shape[0], ox:ox + fitted.shape[1]] = fitted
    return canvas


__all__ = ["compose_grid", "draw_hud", "grid_shape", "hud_lines", "hud_rect", "hud_size", "tile_rect", "tile_size"]
