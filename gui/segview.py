"""What the viewer draws of a segmenting model's results: person masks, body parts, a background effect.

The drawing is the library's (:func:`rtpose.io.render.apply_background`, :func:`rtpose.io.render.draw_masks`);
this module only decides, from the viewer's toggles, which of them run: the background first (it blends
the frame with the person area), then the body parts or, while those are hidden, the masks (the parts
take the masks' place, as in ``rtpose run --seg parts``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rtpose.io.render import apply_background, draw_masks

#: Why a toggle is greyed out, shown as its tooltip.
NEEDS_SEG = ("Needs a segmentation model: choose person or parts in the Model group's Segment row "
             "(or start with --seg person)")
NEEDS_PARTS = ("Needs body-part segmentation (LIP classes): choose parts in the Model group's Segment row "
               "(or start with --seg parts)")


@dataclasses.dataclass
class SegDisplay:
    """The viewer's segmentation toggles.

    Attributes:
        masks: tint each person's mask (``result.masks``, ``(N, H, W)`` bool) in their track colour (the
            colour of their box), unless the parts are drawn.
        parts: tint the body parts (``result.part_map``, ``(H, W)`` uint8 labels) in the class set's palette.
        background: None, or what :func:`rtpose.io.render.parse_background` returns ("blur", a BGR tuple or
            a BGR image of any size) for everything outside the person area.
    """

    masks: bool = True
    parts: bool = True
    background: str | tuple[int, int, int] | np.ndarray | None = None


def seg_mode(estimator) -> str | None:
    """"person", "parts" or None: the segmentation an estimator adds to its results."""
    segmenter = getattr(estimator, "segmenter", None)
    return None if segmenter is None else segmenter.mode


def draw_segmentation(image: np.ndarray, result, display: SegDisplay) -> np.ndarray:
    """Draw (in place) on ``image`` (``(H, W, 3)`` uint8 BGR, the result's pixel frame) what ``display`` asks.

    A result without masks or parts is left as it is.
    """
    if display.background is not None and (result.masks is not None or result.person_mask is not None
                                           or result.part_map is not None):
        apply_background(image, result, display.background)
    if display.parts and result.part_map is not None:
        draw_masks(image, result)
    elif display.masks and result.masks is not None:
        draw_masks(image, result.replace(part_map=None))  # without parts, the library tints the masks
    return image


__all__ = ["NEEDS_PARTS", "NEEDS_SEG", "SegDisplay", "draw_segmentation", "seg_mode"]
