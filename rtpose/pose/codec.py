"""The heatmap codec: keypoints ↔ heatmaps, one object for training and inference.

Coordinates: keypoints given to :meth:`HeatmapCodec.encode` are in model-input pixels (the crop);
keypoints returned by :meth:`HeatmapCodec.decode` are in heatmap pixels, which are input pixels
divided by ``stride`` (4). Map them to the image with :func:`rtpose.pose.crops.heatmap_to_image`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Most channels one cv2.GaussianBlur call takes: 512 in OpenCV 4.x, 128 in OpenCV 5.x.
_CV_MAX_CHANNELS = 128


def dark_newton_step(at):
    """DARK's Newton step from the log-heatmap around each integer maximum (numpy or torch alike).

    ``at(dy, dx)`` gives the log values at that offset from every maximum (``(M,)`` arrays). Returns
    ``(num_x, num_y, det)``: the step is ``(num_x / det, num_y / det)`` where the Hessian's
    determinant ``det`` is not ~0 (a flat or saddle-shaped neighbourhood has no reliable maximum).
    """
    centre = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    return -(dyy * dx - dxy * dy), -(dxx * dy - dxy * dx), dxx * dyy - dxy**2


@dataclass(frozen=True)
class HeatmapCodec:
    """Gaussian heatmap targets and argmax + DARK decoding.

    Args:
        input_hw: model input (H, W), e.g. (256, 192).
        sigma: Gaussian standard deviation in heatmap pixels (2 for 64×48 heatmaps).
        stride: input pixels per heatmap pixel (4 for HRNet).
        blur_kernel: Gaussian blur size used by DARK before the Taylor step (11 for sigma 2).
    """

    input_hw: tuple[int, int] = (256, 192)
    sigma: float = 2.0
    stride: int = 4
    blur_kernel: int = 11

    @property
    def heatmap_hw(self) -> tuple[int, int]:
        return self.input_hw[0] // self.stride, self.input_hw[1] // self.stride

    # -- training -----------------------------------------------------------------------------------
    def encode(self, keypoints_xy: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian target heatmaps for one person.

        The Gaussian is centred on the exact sub-pixel location (the unbiased encoding of DARK), so
        :meth:`decode` recovers it to a small fraction of a heatmap pixel.

        Args:
            keypoints_xy: ``(K, 2)`` keypoints in model-input pixels.
            visible: ``(K,)`` COCO visibility (0 = unlabelled, 1 = occluded, 2 = visible) or bools.

        Returns:
            ``heatmaps`` float32 ``(K, h, w)`` with peak 1, and ``weights`` float32 ``(K,)``: 1 for a
            labelled keypoint whose Gaussian touches the heatmap, else 0 (and an all-zero heatmap).
        """
        h, w = self.heatmap_hw
        mu = np.asarray(keypoints_xy, dtype=np.float32) / self.stride
        weights = (np.asarray(visible) > 0).astype(np.float32)
        reach = 3 * self.sigma
        outside = (mu[:, 0] + reach < 0) | (mu[:, 1] + reach < 0) | (mu[:, 0] - reach >= w) | (mu[:, 1] - reach >= h)
        weights[outside] = 0.0
        xs = np.arange(w, dtype=np.float32)
        ys = np.arange(h, dtype=np.float32)
        gx = np.exp(-((xs[None, :] - mu[:, :1]) ** 2) / (2 * self.sigma**2))
        gy = np.exp(-((ys[None, :] - mu[:, 1:]) ** 2) / (2 * self.sigma**2))
        heatmaps = gy[:, :, None] * gx[:, None, :] * weights[:, None, None]
        return heatmaps.astype(np.float32), weights

    # -- inference ----------------------------------------------------------------------------------
    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from heatmaps: argmax, then DARK sub-pixel refinement.

        Args:
            heatmaps: float32 ``(N, K, h, w)``.

        Returns:
            ``keypoints`` float32 ``(N, K, 2)`` in heatmap pixels and ``scores`` float32 ``(N, K)``
            (the heatmap maximum).
        """
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        n, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(n, k, h * w)
        index = flat.argmax(axis=2)
        scores = np.take_along_axis(flat, index[..., None], axis=2)[..., 0]
        xy = np.stack([index % w, index // w], axis=-1).astype(np.float32)
        if n * k:
            xy += self._dark_offsets(heatmaps.reshape(n * k, h, w), xy.reshape(-1, 2)).reshape(n, k, 2)
        return xy, scores

    def _blur(self, maps: np.ndarray) -> np.ndarray:
        """Gaussian-blur ``(M, h, w)`` maps, each rescaled to keep its maximum."""
        out = np.empty_like(maps)
        for start in range(0, len(maps), _CV_MAX_CHANNELS):
            chunk = maps[start : start + _CV_MAX_CHANNELS]
            # Zero padding (as mmpose): reflecting the map at the border would pull DARK towards the edge.
            blurred = cv2.GaussianBlur(
                np.ascontiguousarray(chunk.transpose(1, 2, 0)),
                (self.blur_kernel,) * 2,
                0,
                borderType=cv2.BORDER_CONSTANT,
            )
            out[start : start + len(chunk)] = blurred.reshape(chunk.shape[1], chunk.shape[2], -1).transpose(2, 0, 1)
        peak = maps.reshape(len(maps), -1).max(axis=1)
        blurred_peak = np.maximum(out.reshape(len(out), -1).max(axis=1), 1e-12)
        return out * (peak / blurred_peak)[:, None, None]

    def _dark_offsets(self, maps: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Newton step on the log of the blurred heatmap at each integer maximum: ``(M, 2)`` offsets."""
        logs = np.log(np.clip(self._blur(maps), 1e-3, 50.0))
        logs = np.pad(logs, ((0, 0), (2, 2), (2, 2)), mode="edge")
        m = np.arange(len(maps))
        x = xy[:, 0].astype(np.int64) + 2
        y = xy[:, 1].astype(np.int64) + 2

        num_x, num_y, det = dark_newton_step(lambda dy, dx: logs[m, y + dy, x + dx])
        ok = np.abs(det) > 1e-12
        safe = np.where(ok, det, 1.0)
        offsets = np.stack([num_x / safe, num_y / safe], axis=-1)
        # A flat or saddle-shaped neighbourhood has no reliable maximum: keep the integer argmax.
        offsets[~ok | (np.abs(offsets).max(axis=1) > 1.0)] = 0.0
        return offsets.astype(np.float32)

    @staticmethod
    def merge_flipped(
        heatmaps: np.ndarray, heatmaps_of_flipped: np.ndarray, shift: bool = True, *, flip_index: np.ndarray
    ) -> np.ndarray:
        """Average heatmaps ``(N, K, h, w)`` with those of the horizontally flipped crops.

        The flipped output is mirrored back and its left/right channels swapped by ``flip_index``
        (``(K,)``, the keypoint set's :attr:`~rtpose.pose.keypoint_sets.KeypointSet.flip_index`). With ``shift`` it
        is moved one heatmap pixel to the right, as the official HRNet flip test does, to undo the
        misalignment a pixel-index mirror introduces.
        """
        flip_index = np.asarray(flip_index)
        if flip_index.shape != (heatmaps_of_flipped.shape[1],):
            k = heatmaps_of_flipped.shape[1]
            raise ValueError(f"flip_index has {flip_index.size} entries but the heatmaps have {k} channels")
        back = heatmaps_of_flipped[:, flip_index, :, ::-1]
        if shift:
            back = np.concatenate([back[..., :1], back[..., :-1]], axis=-1)
        return (heatmaps + back) * 0.5
