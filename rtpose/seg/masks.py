"""Mask geometry for top-down segmentation: image ↔ person crop, per-person splitting, COCO RLE.

The crops are pose's crops (:mod:`rtpose.pose.crops`): a person box becomes ``center``/``size`` with
:func:`~rtpose.pose.crops.box_to_center_size`, and :func:`~rtpose.pose.crops.crop_transform` maps image pixels to
crop-input pixels. A model output at stride ``s`` (HRNetSeg's logits: ``s = 4``, size
``ceil(H_in / 4)``) has pixel ``i`` centred on crop-input pixel ``s·i``: two 3×3 stride-2 padding-1
convolutions put output pixel ``j`` on input pixel ``2j``. So output coordinates are crop-input
coordinates / ``s``, the convention pose uses for heatmaps, and :func:`crop_matrix` composes the two.

Conventions: pixel centres at integer coordinates (OpenCV's); masks are ``(H, W)`` arrays (bool, uint8 or
float in [0, 1]); many people are a leading axis ``N``. Resampling is bilinear for probabilities and
nearest for labels; everything outside a crop is ``fill`` (0: "not this person").

RLE: COCO's compressed run-length encoding through ``pycocotools.mask`` (``{"size": [H, W], "counts": str}``,
the form COCO result files hold).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from rtpose.errors import InputError
from rtpose.pose.crops import crop_transform

#: Output stride of HRNetSeg's logits.
SEG_STRIDE = 4


def map_hw(input_hw: tuple[int, int], stride: int = 1) -> tuple[int, int]:
    """The (H, W) of a map at ``stride`` over a crop input of ``input_hw``: ``ceil(H / stride)`` (HRNetSeg's)."""
    return tuple(int(math.ceil(int(v) / stride)) for v in input_hw)


def crop_matrix(
    center: np.ndarray,
    size: np.ndarray,
    input_hw: tuple[int, int],
    stride: int = 1,
    rotation: float = 0.0,
    inverse: bool = False,
) -> np.ndarray:
    """The 2×3 affine matrix from image pixels to the pixels of a crop map at ``stride`` (or back).

    ``stride=1`` is :func:`rtpose.pose.crops.crop_transform` itself (the model input); ``stride=4`` maps onto
    HRNetSeg's logits (input coordinates / 4).
    """
    matrix = crop_transform(center, size, input_hw, rotation).astype(np.float64)
    matrix /= float(stride)
    if inverse:
        matrix = cv2.invertAffineTransform(matrix)
    return matrix.astype(np.float32)


def _per_person(array: np.ndarray, n: int) -> list[np.ndarray]:
    return [array] * n if array.ndim == 2 else list(array)


def person_probability(logits: np.ndarray, person_classes: tuple[int, ...] | list[int]) -> np.ndarray:
    """Softmax over the class axis, summed over ``person_classes``: ``(N, C, h, w)`` logits → ``(N, h, w)``.

    For LIP every class but background is part of a person; for VOC it is class 15 alone
    (:attr:`rtpose.seg.classes.SegClassSet.person_classes`). Paste the result with :func:`paste_crops`.
    """
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    return probs[:, list(person_classes)].sum(axis=1)


def masks_to_crops(
    masks: np.ndarray,
    centers: np.ndarray,
    sizes: np.ndarray,
    input_hw: tuple[int, int],
    stride: int = 1,
    rotation: float = 0.0,
) -> np.ndarray:
    """Warp image-space masks into person crops with pose's affine transform (bilinear).

    Args:
        masks: ``(H, W)`` one mask for every crop (e.g. a frame's person mask), or ``(N, H, W)`` one per
            crop; bool or integer (``> 0`` is in) or float in [0, 1] (soft masks).
        centers, sizes: ``(N, 2)`` crops as :func:`rtpose.pose.crops.box_to_center_size` gives them.
        input_hw: the crop input (H, W), e.g. (473, 473).
        stride: 1 for the crop input, 4 for HRNetSeg's logit grid.

    Returns:
        float32 ``(N, h, w)`` in [0, 1], ``(h, w) = map_hw(input_hw, stride)``; outside the image is 0.
    """
    centers = np.asarray(centers, dtype=np.float32).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=np.float32).reshape(-1, 2)
    masks = np.asarray(masks)
    h, w = map_hw(input_hw, stride)
    out = np.zeros((len(centers), h, w), dtype=np.float32)
    for i, mask in enumerate(_per_person(masks, len(centers))):
        src = mask.astype(np.float32) if mask.dtype.kind == "f" else (mask > 0).astype(np.float32)
        matrix = crop_matrix(centers[i], sizes[i], input_hw, stride, rotation)
        out[i] = cv2.warpAffine(src, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0.0)
    return out


def _roi(matrix_inv: np.ndarray, map_h: int, map_w: int, image_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Image pixels ``(x0, y0, x1, y1)`` (exclusive ends) that a crop map covers, clipped to the image."""
    corners = np.array([[-0.5, -0.5], [map_w - 0.5, -0.5], [-0.5, map_h - 0.5], [map_w - 0.5, map_h - 0.5]],
                       dtype=np.float64)
    pts = corners @ matrix_inv[:, :2].T.astype(np.float64) + matrix_inv[:, 2].astype(np.float64)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 2
    height, width = image_hw
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def paste_crops(
    maps: np.ndarray,
    centers: np.ndarray,
    sizes: np.ndarray,
    input_hw: tuple[int, int],
    image_hw: tuple[int, int],
    stride: int = 1,
    rotation: float = 0.0,
    labels: bool = False,
    fill: float = 0.0,
) -> np.ndarray:
    """Paste crop-space maps of N people back into the image with the inverse of pose's transform.

    Args:
        maps: ``(N, h, w)`` or ``(N, C, h, w)`` crop maps at ``stride`` (probabilities, logits, or integer
            labels with ``labels=True``); ``(h, w)`` is ``map_hw(input_hw, stride)``.
        centers, sizes: ``(N, 2)``, the crops the maps were computed on.
        input_hw: the crop input (H, W) the model saw.
        image_hw: the image (H, W) to paste into.
        stride: the maps' stride over the crop input (4 for HRNetSeg logits, 1 for maps at input size).
        labels: nearest-neighbour sampling (class labels) instead of bilinear.
        fill: the value outside each crop.

    Returns:
        ``(N, H, W)`` or ``(N, C, H, W)`` in the maps' dtype (float32 for floats). Each crop is resampled only
        over the image region it covers. Memory is ``N·C·H·W``: reduce the channels first (e.g. a person
        probability) before pasting whole frames.
    """
    maps = np.asarray(maps)
    squeeze = maps.ndim == 3
    if squeeze:
        maps = maps[:, None]
    if maps.ndim != 4:
        raise InputError(f"maps= must be (N, h, w) or (N, C, h, w), not shape {maps.shape}.")
    n, c, mh, mw = maps.shape
    if (mh, mw) != map_hw(input_hw, stride):
        expected = map_hw(input_hw, stride)
        raise InputError(f"maps= are {mh}x{mw} but a {input_hw} crop at stride {stride} gives {expected}.",
                         parameter="maps")
    centers = np.asarray(centers, dtype=np.float32).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=np.float32).reshape(-1, 2)
    height, width = image_hw
    dtype = maps.dtype if labels else np.float32
    out = np.full((n, c, height, width), fill, dtype=np.float32)
    flags = (cv2.INTER_NEAREST if labels else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    for i in range(n):
        forward = crop_matrix(centers[i], sizes[i], input_hw, stride, rotation).astype(np.float64)
        x0, y0, x1, y1 = _roi(cv2.invertAffineTransform(forward), mh, mw, image_hw)
        if x1 <= x0 or y1 <= y0:
            continue
        # dst (ROI pixel) → src (map pixel): the forward matrix applied to (x + x0, y + y0)
        shifted = forward.copy()
        shifted[:, 2] += forward[:, :2] @ np.array([x0, y0], dtype=np.float64)
        src = maps[i].astype(np.float32)  # labels too: nearest sampling keeps integers (exact below 2**24)
        for k in range(0, c, 4):  # OpenCV warps up to 4 channels at a time
            chunk = np.ascontiguousarray(np.moveaxis(src[k:k + 4], 0, -1))
            warped = cv2.warpAffine(chunk, shifted, (x1 - x0, y1 - y0), flags=flags,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(fill,) * 4)
            if warped.ndim == 2:
                warped = warped[..., None]
            out[i, k:k + 4, y0:y1, x0:x1] = np.moveaxis(warped, -1, 0)
    out = out.astype(dtype, copy=False)
    return out[:, 0] if squeeze else out


def _box_distance(p: np.ndarray, box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    dx = np.maximum(np.maximum(x1 - p[:, 0], p[:, 0] - x2), 0)
    dy = np.maximum(np.maximum(y1 - p[:, 1], p[:, 1] - y2), 0)
    return np.hypot(dx, dy)


def _skeleton_distance(p: np.ndarray, kp: np.ndarray, links: np.ndarray, kpt_thr: float) -> np.ndarray | None:
    """Distance of points ``(P, 2)`` to a person's visible keypoints and the limbs between them, or None."""
    visible = kp[:, 2] >= kpt_thr
    if not visible.any():
        return None
    xy = kp[visible, :2]
    best = np.sqrt(((p[:, None, :] - xy[None]) ** 2).sum(-1)).min(axis=1)
    for a, b in links:
        if visible[a] and visible[b]:
            start, step = kp[a, :2], kp[b, :2] - kp[a, :2]
            t = np.clip(((p - start) @ step) / max(float(step @ step), 1e-6), 0.0, 1.0)
            best = np.minimum(best, np.hypot(*(p - (start + t[:, None] * step)).T))
    return best


def split_person_mask(
    mask: np.ndarray,
    keypoints: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    kpt_thr: float = 0.3,
    box_margin: float = 0.25,
    box_weight: float = 10.0,
    links: np.ndarray | None = None,
) -> np.ndarray:
    """Split a frame-level person mask (e.g. VOC's "person" class over the whole frame) into per-person masks.

    Each mask pixel goes to the person of least cost: the distance to the person's skeleton (visible
    keypoints, score ≥ ``kpt_thr``, and the limbs between them), plus ``box_weight`` × the distance outside
    the person's box. A person without visible keypoints (or every person when ``keypoints`` is None) is
    measured by the box distance alone (the box centre breaks ties). With ``boxes``, a person can only take
    pixels inside their box enlarged by ``box_margin`` of its size on every side; pixels nobody may take stay
    unassigned.

    Args:
        mask: ``(H, W)``; ``> 0`` is person (floats: ``≥ 0.5``).
        keypoints: ``(N, K, 3)`` (x, y, score) in image pixels, or None.
        boxes: ``(N, 4)`` (x1, y1, x2, y2) in image pixels, or None.
        links: ``(L, 2)`` limb index pairs; None takes the links of the keypoint set with K keypoints
            (:mod:`rtpose.pose.keypoint_sets`), if there is one.

    Returns:
        bool ``(N, H, W)``: disjoint masks whose union lies within ``mask``.
    """
    mask = np.asarray(mask)
    on = mask >= 0.5 if mask.dtype.kind == "f" else mask > 0
    if keypoints is None and boxes is None:
        raise InputError("split_person_mask needs keypoints= or boxes= to tell people apart.", parameter="keypoints")
    n = len(keypoints) if keypoints is not None else len(boxes)
    out = np.zeros((n, *on.shape), dtype=bool)
    ys, xs = np.nonzero(on)
    if n == 0 or len(xs) == 0:
        return out
    kp = None if keypoints is None else np.asarray(keypoints, dtype=np.float32).reshape(n, -1, 3)
    bx = None if boxes is None else np.asarray(boxes, dtype=np.float32).reshape(n, 4)
    if links is None and kp is not None:
        from rtpose.pose.keypoint_sets import sets_with

        candidates = sets_with(kp.shape[1])
        links = np.asarray(candidates[0].links if candidates else np.zeros((0, 2)), dtype=np.intp)
    pts = np.stack([xs, ys], axis=1).astype(np.float32)
    best = np.zeros(len(pts), dtype=np.intp)
    best_cost = np.full(len(pts), np.inf, dtype=np.float32)
    chunk = 65536
    for s in range(0, len(pts), chunk):
        p = pts[s:s + chunk]
        cost = np.full((len(p), n), np.inf, dtype=np.float32)
        for i in range(n):
            d = _skeleton_distance(p, kp[i], links, kpt_thr) if kp is not None else None
            if bx is not None:
                x1, y1, x2, y2 = bx[i]
                outside = _box_distance(p, bx[i])
                if d is None:
                    d = outside + 1e-3 * np.hypot(p[:, 0] - (x1 + x2) / 2, p[:, 1] - (y1 + y2) / 2)
                else:
                    d = d + box_weight * outside
                mx, my = box_margin * (x2 - x1), box_margin * (y2 - y1)
                inside = (p[:, 0] >= x1 - mx) & (p[:, 0] <= x2 + mx) & (p[:, 1] >= y1 - my) & (p[:, 1] <= y2 + my)
                d = np.where(inside, d, np.inf)
            if d is not None:
                cost[:, i] = d
        best[s:s + chunk] = cost.argmin(axis=1)
        best_cost[s:s + chunk] = cost[np.arange(len(p)), best[s:s + chunk]]
    assigned = np.isfinite(best_cost)
    out[best[assigned], ys[assigned], xs[assigned]] = True
    return out


# -- COCO RLE ---------------------------------------------------------------------------------------------


def _mask_api():
    try:
        from pycocotools import mask as mask_api
    except ImportError:  # an optional dependency (rtpose[train] / [dev])
        from rtpose.errors import RtposeError

        raise RtposeError("COCO RLE needs pycocotools: pip install pycocotools.") from None
    return mask_api


def _decode(api, rle: dict) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():  # pycocotools' Cython decode warns about numpy 2's __array__ copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        return api.decode([rle])[:, :, 0].astype(bool)


def encode_rle(mask: np.ndarray) -> dict:
    """A ``(H, W)`` mask (``> 0`` is in; floats ``≥ 0.5``) as COCO compressed RLE.

    Returns ``{"size": [H, W], "counts": str}``."""
    return encode_rles(np.asarray(mask)[None])[0]


def encode_rles(masks: np.ndarray) -> list[dict]:
    """``(N, H, W)`` masks as N COCO RLEs (JSON-ready: ``counts`` is a str)."""
    masks = np.asarray(masks)
    binary = masks >= 0.5 if masks.dtype.kind == "f" else masks > 0
    if binary.ndim != 3:
        raise InputError(f"masks= must be (N, H, W), not shape {masks.shape}.")
    if len(binary) == 0:
        return []
    rles = _mask_api().encode(np.asfortranarray(binary.transpose(1, 2, 0).astype(np.uint8)))
    return [{"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")} for r in rles]


def decode_rle(rle: dict) -> np.ndarray:
    """A COCO RLE (compressed with str or bytes counts, or uncompressed with a list) as a bool ``(H, W)`` mask."""
    api = _mask_api()
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        rle = api.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    elif isinstance(counts, str):
        rle = {"size": [h, w], "counts": counts.encode("ascii")}
    return _decode(api, rle)


def decode_rles(rles: list[dict]) -> np.ndarray:
    """N COCO RLEs of one image as bool ``(N, H, W)``."""
    return np.stack([decode_rle(r) for r in rles]) if rles else np.zeros((0, 0, 0), dtype=bool)


def annotation_mask(segmentation, image_hw: tuple[int, int]) -> np.ndarray:
    """A COCO annotation's ``segmentation`` (polygons, or RLE for crowds) as a bool ``(H, W)`` mask."""
    api = _mask_api()
    h, w = image_hw
    if isinstance(segmentation, list):
        return _decode(api, api.merge(api.frPyObjects(segmentation, h, w)))
    return decode_rle(segmentation)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
