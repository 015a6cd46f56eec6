"""Segmentation next to pose: person masks and body-part parsing with HRNetV2 (:class:`rtpose.models.HRNetSeg`).

Two modes (``PoseModel(seg=…)``, ``rtpose --seg …``), each one batched model call per frame:

- ``"person"``: whole-frame semantic segmentation (default weights: mmsegmentation's VOC
  ``fcn_hr18_voc12aug_512x512``, person = class 15). The frame is resized so that its short side is the
  model's training size (keeping the aspect ratio; any size works, HRNetSeg needs no multiple of 32), the
  per-pixel person probability is resized back to the frame (``person_mask``), and the pixels above 0.5
  are split between the people found (:func:`rtpose.seg.masks.split_person_mask`: nearest skeleton, within
  each person's box) into ``masks``.
- ``"parts"``: body-part parsing (LIP's 20 classes) of each person on the same crop centres and scales as
  pose (square crops at the model's input size), all people in one batch; the labels are pasted back
  with the inverse transform (:func:`rtpose.seg.masks.paste_crops`) into ``part_map`` (a frame label map) and
  ``masks`` (each person's non-background pixels). On a GPU runtime (PyTorch on CUDA, TensorRT) the logits
  stay on the GPU and are pasted there with the device path's sampling
  (:func:`rtpose.pose.device_ops.parts_from_logits`);
  only the masks and the part map come back.

The logits come from a runtime chosen like the pose backend (``seg_backend=``, see
:mod:`rtpose.runtime.select`): PyTorch (CPU, or CUDA in FP16), ONNX Runtime, OpenVINO or TensorRT, the
ONNX ones on an export made once (dynamic H and W for "person", a fixed square with a dynamic batch for
"parts"). Results: :attr:`rtpose.results.PoseResult.masks` ``(N, H, W)``
bool, ``person_mask`` ``(H, W)`` float32 probability, ``part_map`` ``(H, W)`` uint8 class labels,
``seg_classes`` (the :class:`~rtpose.seg.classes.SegClassSet`).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from rtpose.errors import RtposeError
from rtpose.io.inputs import check_frame_size, seg_frame_input_hw
from rtpose.pose.crops import BOX_PADDING, box_to_center_size, crop_transform, normalize_crops, warp_crop
from rtpose.results import PoseResult
from rtpose.utils.timing import StageTimer

MODES = ("person", "parts")
#: Registry checkpoints each mode uses when no ``seg_weights`` are given.
DEFAULT_SEG_WEIGHTS = {"person": "fcn_hr18_voc12aug_512x512", "parts": "hrnetv2_w48_lip_473x473"}


def frame_input(image: np.ndarray, short_side: int) -> np.ndarray:
    """"person" mode's model input: a BGR frame ``(H, W, 3)`` resized (aspect kept) so that its short side is
    ``short_side``, its long side at most 4 times that (:func:`rtpose.io.inputs.seg_frame_input_hw`),
    normalised: float32 ``(1, 3, h, w)``."""
    h, w = image.shape[:2]
    size_h, size_w = seg_frame_input_hw((h, w), short_side)  # the long side capped: a very long frame is squeezed
    grows = size_h > h or size_w > w
    resized = cv2.resize(image, (size_w, size_h), interpolation=cv2.INTER_LINEAR if grows else cv2.INTER_AREA)
    return normalize_crops(resized[None])


def frame_person_probability(logits: np.ndarray, person_classes, image_hw: tuple[int, int]) -> np.ndarray:
    """The person probability of a frame, float32 ``(H, W)``, from the logits ``(1, C, h, w)`` of its
    :func:`frame_input` (summed over ``person_classes``, resized back to ``image_hw``)."""
    from rtpose.seg.masks import person_probability

    probability = person_probability(logits, tuple(person_classes))[0]
    return cv2.resize(probability, (image_hw[1], image_hw[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32)


class Segmenter:
    """An HRNetSeg in one of :data:`MODES`, applied to a frame and the people pose found in it.

    Args:
        mode: "person" or "parts".
        weights: a segmentation checkpoint (official, mmseg or rtpose layout) or a registry name; None: the
            mode's :data:`DEFAULT_SEG_WEIGHTS` (VOC is downloaded and checked on first use; LIP has no
            published checksum, so it is never fetched automatically: the error says where to get it).
        classes: the class set's name where the file's class count is ambiguous (``seg_classes=``).
        device: "cpu", "cuda" or "cuda:N" (resolved already).
        input_size: the model input: the short side for "person", the square crop side for "parts"; None:
            the registry entry's training size (512 for VOC, 473 for LIP), else the size the file records
            (``python -m train.fit --task person-mask`` records its input), else 512 / 473.
        backend: the runtime, one of :data:`rtpose.runtime.select.SEG_BACKENDS` ("auto": TensorRT on CUDA
            when an engine is built, else PyTorch there; OpenVINO, else ONNX Runtime, on the CPU).
        precision: "auto", "fp32" or "bf16" (as for pose: OpenVINO runs bf16 on CPUs with native BF16 under
            "auto"; "fp32" also keeps PyTorch and TensorRT in float32 on a GPU).
        engines_dir: where ONNX exports and engines are kept (default: the engines folder).
    """

    def __init__(self, mode: str, weights: str | os.PathLike | None = None, classes: str | None = None,
                 device: str = "cpu", input_size: int | None = None, backend: str = "auto", precision: str = "auto",
                 engines_dir: str | os.PathLike | None = None) -> None:
        from rtpose.runtime.select import check_seg_backend, create_seg_runtime, describe
        from rtpose.weights.pose import read_checkpoint
        from rtpose.weights.registry import find_entry, resolve_weights
        from rtpose.weights.seg import (
            checkpoint_seg_classes,
            extract_seg_state_dict,
            infer_seg_architecture,
            recorded_input_size,
        )

        if mode not in MODES:
            raise RtposeError(f"Unknown seg={mode!r}; choose one of {', '.join(MODES)}.")
        check_seg_backend(backend, precision)
        self.mode = mode
        path = resolve_weights(str(weights) if weights is not None else DEFAULT_SEG_WEIGHTS[mode],
                               parameter="seg_weights")
        self.weights = path
        self.classes = checkpoint_seg_classes(path, classes)
        if mode == "parts" and self.classes.background is None:
            raise RtposeError(f"seg='parts' needs a body-part model with a background class (LIP); "
                              f"{path.name} has the {self.classes.name} classes.")
        if mode == "person" and not self.classes.person_classes:
            raise RtposeError(f"seg='person' needs a model with a person class; {path.name} has the "
                              f"{self.classes.name} classes, none of them a person.")
        entry = find_entry(path.name)
        checkpoint = read_checkpoint(path)
        trained = (min(entry.input_hw) if entry is not None and entry.kind == "segmentation"
                   else recorded_input_size(checkpoint))
        self.input_size = int(input_size or trained or (512 if mode == "person" else 473))
        self.width = infer_seg_architecture(extract_seg_state_dict(checkpoint, source=str(path)))[0]
        #: Where the logits come from (a :class:`rtpose.runtime.base.Runtime`), and what it is as data.
        self.runtime = create_seg_runtime(backend, path, mode, self.input_size, device=device, precision=precision,
                                          engines_dir=engines_dir, seg_classes=self.classes.name)
        self.info = self.runtime.info = describe(self.runtime, (self.input_size, self.input_size), self.width)
        #: "parts" on a GPU runtime: the crops' logits are pasted into the frame there (the device path's sampling).
        self.paste_on_gpu = self.runtime.on_gpu
        self.device = self.runtime.device

    def _logits(self, batch: np.ndarray, on_device: bool = False):
        """float32 ``(N, 3, H, W)`` normalised → float32 logits ``(N, C, H/4, W/4)`` (rounded up): numpy, or
        with ``on_device`` a torch tensor on the runtime's GPU."""
        from rtpose.runtime.base import run_batched

        return run_batched(self.runtime, batch, on_device)

    def frame_input(self, image: np.ndarray) -> np.ndarray:
        """"person" mode's model input: the BGR frame ``(H, W, 3)`` resized so that its short side is
        ``input_size``, normalised: float32 ``(1, 3, h, w)``."""
        return frame_input(image, self.input_size)

    def crops_input(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """"parts" mode's model input: the square crops of ``boxes`` ``(N, 4)`` (x1, y1, x2, y2, image pixels) on
        pose's crop centres and scales, normalised: float32 ``(N, 3, input_size, input_size)``."""
        side = (self.input_size, self.input_size)
        centers, sizes = box_to_center_size(np.asarray(boxes, np.float32).reshape(-1, 4), 1.0, BOX_PADDING)
        crops = [warp_crop(image, crop_transform(c, s, side), side) for c, s in zip(centers, sizes)]
        return normalize_crops(np.stack(crops)) if crops else np.zeros((0, 3, *side), np.float32)

    def close(self) -> None:
        """Release the runtime (a session, a TensorRT context, GPU memory); safe to call twice."""
        self.runtime.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, image_bgr: np.ndarray, result: PoseResult, timer: StageTimer | None = None) -> PoseResult:
        """``result`` with ``masks``, ``person_mask`` / ``part_map`` and ``seg_classes`` for ``image_bgr``."""
        check_frame_size(image_bgr.shape, "image_bgr")
        timer = timer or StageTimer()
        with timer.stage("segment"):
            if self.mode == "person":
                return self._person(image_bgr, result)
            return self._parts(image_bgr, result)

    def _person(self, image: np.ndarray, result: PoseResult) -> PoseResult:
        from rtpose.seg.masks import split_person_mask

        logits = self._logits(self.frame_input(image))
        person = frame_person_probability(logits, self.classes.person_classes, image.shape[:2])
        # no people: the boxes (0, 4) give masks (0, H, W); the person probability is kept all the same
        masks = split_person_mask(person >= 0.5, result.keypoints if len(result) else None, result.boxes,
                                  links=np.asarray(result.keypoint_set.links))
        return result.replace(masks=masks.astype(bool), person_mask=person, seg_classes=self.classes)

    def _parts(self, image: np.ndarray, result: PoseResult) -> PoseResult:
        from rtpose.seg.masks import paste_crops

        h, w = image.shape[:2]
        side = (self.input_size, self.input_size)
        if not len(result):
            return result.replace(masks=np.zeros((0, h, w), bool), part_map=np.zeros((h, w), np.uint8),
                                  seg_classes=self.classes)
        centers, sizes = box_to_center_size(result.boxes, 1.0, BOX_PADDING)
        if self.paste_on_gpu:  # the logits stay on the GPU; only the masks and the part map come back
            from rtpose.pose.device_ops import parts_from_logits

            masks, parts = parts_from_logits(self._logits(self.crops_input(image, result.boxes), on_device=True),
                                             centers, sizes, side, (h, w), self.classes.background)
            return result.replace(masks=masks.cpu().numpy(), part_map=parts.cpu().numpy(), seg_classes=self.classes)
        logits = self._logits(self.crops_input(image, result.boxes))  # (N, C, h, w) at stride 4
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        sureness = (shifted.max(axis=1) / shifted.sum(axis=1)).astype(np.float32)  # (N, h, w)
        # labels and sureness are pasted, not the C logit channels: N·H·W each, whatever the frame size
        labels = paste_crops(logits.argmax(axis=1).astype(np.float32), centers, sizes, side, (h, w), stride=4,
                             labels=True, fill=-1).astype(np.int16)
        sure = paste_crops(sureness, centers, sizes, side, (h, w), stride=4, fill=-1.0)
        background = self.classes.background
        masks = (labels >= 0) & (labels != background)
        # the frame's map: at each pixel the part of the person whose crop is most sure of it
        best = np.where(labels >= 0, sure, -np.inf).argmax(axis=0)
        chosen = np.take_along_axis(np.where(masks, labels, background), best[None], axis=0)[0]
        return result.replace(masks=masks, part_map=chosen.astype(np.uint8), seg_classes=self.classes)


__all__ = ["DEFAULT_SEG_WEIGHTS", "MODES", "Segmenter"]
