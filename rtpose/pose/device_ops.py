"""The device-resident pose path: crops, normalisation and DARK decoding as batched torch ops.

On CUDA the frame is uploaded once; all crops of the frame are cut by one batched bilinear
sampling (:func:`warp_crops`), normalised there, fed to the backend's device entry point
(``infer_device``), decoded with DARK on the device (:func:`dark_decode`), and only the keypoints
``(N, K, 3)`` come back to the host. The same code runs on CPU tensors, which is how it is tested
against the OpenCV/numpy path (:func:`rtpose.pose.crops.make_input_batch`, :class:`rtpose.pose.codec.HeatmapCodec`).

Geometry is not reimplemented: crop centres/sizes and the 2×3 matrices come from :mod:`rtpose.pose.crops`
(tiny numpy work per box), only the per-pixel work runs here.

Conventions are those of :mod:`rtpose.pose.crops`: pixel (0, 0) is the centre of the top-left pixel; a
crop matrix maps image pixels to crop pixels; heatmap coordinates are input coordinates / stride.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812  (the usual torch spelling)

from rtpose.pose.codec import HeatmapCodec, dark_newton_step
from rtpose.pose.crops import BOX_PADDING, MEAN_RGB, STD_RGB, box_to_center_size, crop_transform
from rtpose.runtime.base import run_batched
from rtpose.utils.timing import StageTimer

#: Largest |difference| allowed between :func:`crops_from_boxes` and ``make_input_batch``, in normalised
#: input units: one uint8 level of the channel with the smallest std (1/255/0.225 ≈ 0.0174). OpenCV
#: rounds each crop to uint8 (≤ half a level) and samples on a 1/32-pixel grid; this path samples in
#: float. Measured on the real COCO images: ≤ 0.0091, i.e. the uint8 rounding.
CROP_TOLERANCE = 1.0 / 255.0 / float(STD_RGB.min())


def upload_image(image_bgr: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """uint8 BGR ``(H, W, 3)`` numpy image → float32 ``(3, H, W)`` BGR tensor on ``device`` (one copy up)."""
    image = torch.from_numpy(np.ascontiguousarray(image_bgr))
    device = torch.device(device)
    if device.type == "cuda":
        image = image.pin_memory().to(device, non_blocking=True)
    return image.permute(2, 0, 1).float()


def crop_matrices(
    boxes_xyxy: np.ndarray, input_hw: tuple[int, int], padding: float = BOX_PADDING
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop centres ``(N, 2)``, sizes ``(N, 2)`` and the crop→image matrices ``(N, 2, 3)`` of boxes ``(N, 4)``."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    centers, sizes = box_to_center_size(boxes, input_hw[1] / input_hw[0], padding)
    inverse = np.stack([crop_transform(c, s, input_hw, inverse=True) for c, s in zip(centers, sizes)])
    return centers, sizes, inverse.reshape(-1, 2, 3).astype(np.float32)


def warp_crops(image: torch.Tensor, crop_to_image: torch.Tensor, output_hw: tuple[int, int]) -> torch.Tensor:
    """All crops of one image in one bilinear sampling call, black (0) outside the image.

    Args:
        image: float ``(C, H, W)`` image (any device).
        crop_to_image: ``(N, 2, 3)`` affine matrices mapping crop pixels to image pixels (the inverse
            of :func:`rtpose.pose.crops.crop_transform`), on the image's device.
        output_hw: crop (H, W).

    Returns:
        ``(N, C, H_out, W_out)`` crops, the same as ``cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT)``
        up to OpenCV's 1/32-pixel fixed-point rounding.
    """
    c, h, w = image.shape
    n = crop_to_image.shape[0]
    out_h, out_w = output_hw
    ys, xs = torch.meshgrid(
        torch.arange(out_h, device=image.device, dtype=torch.float32),
        torch.arange(out_w, device=image.device, dtype=torch.float32),
        indexing="ij",
    )
    grid = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(-1, 3)  # (h*w, 3) crop pixels
    src = grid @ crop_to_image.float().transpose(1, 2)  # (N, h*w, 2) image pixels
    # grid_sample with align_corners=False puts pixel centres at (2i + 1) / size - 1.
    scale = torch.tensor([2.0 / w, 2.0 / h], device=image.device)
    norm = (src + 0.5) * scale - 1.0
    # One sampling call for every crop: the crops' grids are stacked as one tall grid over one image.
    out = F.grid_sample(
        image[None].float(), norm.reshape(1, n * out_h, out_w, 2), mode="bilinear", padding_mode="zeros",
        align_corners=False,
    )
    return out.reshape(c, n, out_h, out_w).permute(1, 0, 2, 3)


@functools.cache
def _mean_std(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # Uploaded once per device, not once per frame.
    mean = torch.as_tensor(MEAN_RGB, device=device).view(1, 3, 1, 1)
    return mean, torch.as_tensor(STD_RGB, device=device).view(1, 3, 1, 1)


def normalize(crops_bgr: torch.Tensor) -> torch.Tensor:
    """float BGR crops ``(N, 3, H, W)`` in 0…255 → model input: RGB, /255, ImageNet-normalised (contiguous)."""
    mean, std = _mean_std(crops_bgr.device)
    rgb = crops_bgr.flip(1) * (1.0 / 255.0)
    return ((rgb - mean) / std).contiguous()


def crops_from_boxes(
    image: torch.Tensor, crop_to_image: torch.Tensor, input_hw: tuple[int, int]
) -> torch.Tensor:
    """float32 model batch ``(N, 3, H, W)`` from an uploaded BGR image ``(3, H_img, W_img)`` (same device)."""
    return normalize(warp_crops(image, crop_to_image, input_hw))


@functools.cache
def _gaussian_1d(kernel: int) -> np.ndarray:
    # The kernel cv2.GaussianBlur(ksize, sigma=0) uses, so this decode is the codec's.
    return cv2.getGaussianKernel(kernel, 0).astype(np.float32).ravel()


def _blur(maps: torch.Tensor, kernel: int) -> torch.Tensor:
    """Gaussian-blur ``(M, h, w)`` maps with zero padding, each rescaled to keep its maximum."""
    g = torch.as_tensor(_gaussian_1d(kernel), device=maps.device)
    x = maps[:, None]
    pad = kernel // 2
    x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, pad))
    x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(pad, 0))[:, 0]
    peak = maps.flatten(1).amax(1)
    blurred_peak = x.flatten(1).amax(1).clamp_min(1e-12)
    return x * (peak / blurred_peak)[:, None, None]


def dark_decode(heatmaps: torch.Tensor, blur_kernel: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax + DARK sub-pixel refinement, the torch twin of :meth:`rtpose.pose.codec.HeatmapCodec.decode`.

    Args:
        heatmaps: float ``(N, K, h, w)`` on any device.
        blur_kernel: DARK's Gaussian blur size (the codec's ``blur_kernel``).

    Returns:
        ``keypoints`` float32 ``(N, K, 2)`` in heatmap pixels and ``scores`` float32 ``(N, K)``.
    """
    heatmaps = heatmaps.float()
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, h * w)
    scores, index = flat.max(dim=1)
    x = index % w
    y = index // w
    xy = torch.stack([x, y], dim=-1).float()
    if n * k == 0:
        return xy.reshape(n, k, 2), scores.reshape(n, k)
    logs = torch.log(_blur(heatmaps.reshape(n * k, h, w), blur_kernel).clamp(1e-3, 50.0))
    logs = F.pad(logs[:, None], (2, 2, 2, 2), mode="replicate")[:, 0]
    m = torch.arange(n * k, device=heatmaps.device)
    xi, yi = x + 2, y + 2

    num_x, num_y, det = dark_newton_step(lambda dy, dx: logs[m, yi + dy, xi + dx])
    ok = det.abs() > 1e-12
    safe = torch.where(ok, det, torch.ones_like(det))
    offsets = torch.stack([num_x / safe, num_y / safe], dim=-1)
    # A flat or saddle-shaped neighbourhood has no reliable maximum: keep the integer argmax.
    bad = ~ok | (offsets.abs().amax(dim=1) > 1.0)
    offsets = torch.where(bad[:, None], torch.zeros_like(offsets), offsets)
    return (xy + offsets).reshape(n, k, 2), scores.reshape(n, k)


def to_image(points_xy: torch.Tensor, heatmap_to_image: torch.Tensor) -> torch.Tensor:
    """Heatmap points ``(N, K, 2)`` → image pixels with per-crop matrices ``(N, 2, 3)``."""
    return points_xy @ heatmap_to_image[:, :, :2].transpose(1, 2) + heatmap_to_image[:, None, :, 2]


class DevicePosePath:
    """Image + boxes → keypoints with every per-pixel step on the backend's device.

    Args:
        backend: a pose backend with ``torch_device`` and ``infer_device(batch) -> heatmaps`` (torch
            tensors on that device: float32 ``(N, 3, H, W)`` → ``(N, K, H/4, W/4)``).
        codec: the estimator's codec (input size, stride, DARK blur size).
        sync_stages: wait for the device at each stage end, so the timer's stage times are true (on
            CUDA the work is asynchronous otherwise); the keypoints are the same either way.
    """

    def __init__(self, backend, codec: HeatmapCodec, sync_stages: bool = True) -> None:
        self.backend = backend
        self.codec = codec
        self.device = torch.device(backend.torch_device)
        self.sync_stages = sync_stages

    def _sync(self) -> None:
        if self.sync_stages and self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()

    @torch.inference_mode()
    def __call__(
        self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray, padding: float = BOX_PADDING,
        timer: StageTimer | None = None,
    ) -> np.ndarray:
        """Keypoints float32 ``(N, K, 3)`` as (x, y, score) in image pixels for boxes ``(N, 4)``."""
        timer = timer or StageTimer()
        input_hw = tuple(self.codec.input_hw)
        with timer.stage("crop"):
            centers, sizes, to_crop_source = crop_matrices(boxes_xyxy, input_hw, padding)
            back = np.stack([crop_transform(c, s, self.codec.heatmap_hw, inverse=True) for c, s in zip(centers, sizes)])
            matrices = torch.from_numpy(np.concatenate([to_crop_source, back])).to(self.device)
            image = upload_image(image_bgr, self.device)
            batch = crops_from_boxes(image, matrices[: len(centers)], input_hw)
            self._sync()
        with timer.stage("pose"):
            heatmaps = run_batched(self.backend, batch, on_device=True)
            self._sync()
        with timer.stage("decode"):
            xy, scores = dark_decode(heatmaps, self.codec.blur_kernel)
            xy = to_image(xy, matrices[len(centers) :])
            keypoints = torch.cat([xy, scores[..., None]], dim=-1).cpu().numpy()
        return keypoints.astype(np.float32, copy=False)


def uses_device_path(backend) -> bool:
    """True when ``backend`` runs on a CUDA device and takes device tensors (``infer_device``)."""
    device = getattr(backend, "torch_device", None)
    return device is not None and torch.device(device).type == "cuda" and hasattr(backend, "infer_device")


def paste_maps(
    maps: torch.Tensor,
    centers: np.ndarray,
    sizes: np.ndarray,
    input_hw: tuple[int, int],
    image_hw: tuple[int, int],
    stride: int = 1,
    labels: bool = False,
    fill: float = 0.0,
) -> torch.Tensor:
    """:func:`rtpose.seg.masks.paste_crops` on the maps' device: crop maps pasted back into the image.

    Args:
        maps: float ``(N, C, h, w)`` crop maps at ``stride`` over the crop input ``input_hw`` (class labels as
            floats with ``labels=True``), any device.
        centers, sizes: ``(N, 2)`` numpy, the crops the maps were computed on.
        image_hw: the image (H, W) to paste into.
        labels: nearest sampling (class labels) instead of bilinear.
        fill: the value outside each crop.

    Returns:
        float32 ``(N, C, H, W)`` on the maps' device; each crop is resampled only over the image region it
        covers (the geometry, matrices and regions, is :mod:`rtpose.seg.masks`'s).
    """
    from rtpose.seg.masks import _roi, crop_matrix

    n, c, mh, mw = maps.shape
    height, width = image_hw
    out = torch.full((n, c, height, width), float(fill), dtype=torch.float32, device=maps.device)
    for i in range(n):
        forward = crop_matrix(centers[i], sizes[i], input_hw, stride).astype(np.float64)  # image px → map px
        x0, y0, x1, y1 = _roi(cv2.invertAffineTransform(forward), mh, mw, image_hw)
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = torch.meshgrid(torch.arange(y0, y1, device=maps.device, dtype=torch.float64),
                                torch.arange(x0, x1, device=maps.device, dtype=torch.float64), indexing="ij")
        matrix = torch.from_numpy(forward).to(maps.device)
        u = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
        v = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
        # align_corners=True: -1 and 1 are the centres of the first and last map pixels
        grid = torch.stack([u * 2.0 / max(mw - 1, 1) - 1.0, v * 2.0 / max(mh - 1, 1) - 1.0], dim=-1).float()
        # outside the map a bilinear sample blends towards zero: sample (map - fill), add fill back
        sampled = F.grid_sample(maps[i : i + 1].float() - fill, grid[None], mode="nearest" if labels else "bilinear",
                                padding_mode="zeros", align_corners=True)[0] + fill
        out[i, :, y0:y1, x0:x1] = sampled
    return out


def parts_from_logits(
    logits: torch.Tensor,
    centers: np.ndarray,
    sizes: np.ndarray,
    input_hw: tuple[int, int],
    image_hw: tuple[int, int],
    background: int,
    stride: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Body-part parsing of the people's crops pasted into the frame, on the logits' device.

    Args:
        logits: ``(N, C, h, w)`` part logits of N square crops at ``stride``.
        centers, sizes: ``(N, 2)`` numpy, the crops.
        background: the background class.

    Returns:
        ``(masks (N, H, W) bool, parts (H, W) uint8)``: each person's non-background pixels, and the frame's
        part map where at each pixel the person whose crop is most sure of it decides (as the CPU path,
        :meth:`rtpose.seg.segmenter.Segmenter._parts`).
    """
    logits = logits.float()
    sureness = torch.softmax(logits, dim=1).amax(dim=1, keepdim=True)  # (N, 1, h, w)
    labels = logits.argmax(dim=1, keepdim=True).float()
    labels = paste_maps(labels, centers, sizes, input_hw, image_hw, stride, labels=True, fill=-1)[:, 0].round()
    sure = paste_maps(sureness, centers, sizes, input_hw, image_hw, stride, fill=-1.0)[:, 0]
    masks = (labels >= 0) & (labels != background)
    best = torch.where(labels >= 0, sure, torch.full_like(sure, -float("inf"))).argmax(dim=0)
    owned = torch.where(masks, labels, torch.full_like(labels, float(background)))
    parts = torch.gather(owned, 0, best[None])[0]
    return masks, parts.to(torch.uint8)
