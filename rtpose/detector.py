"""Person detection with Ultralytics YOLO."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtpose.errors import WeightsError

#: The detector used when none is named: Ultralytics fetches this model by name on first use.
DEFAULT_DETECTOR = "yolov8n.pt"
PERSON_CLASS = 0
#: How the detector runs: ``auto`` picks Ultralytics' OpenVINO export on the CPU when it measured faster.
RUNTIMES = ("auto", "torch", "openvino")


@dataclass
class Detections:
    """People found in one image: ``boxes`` float32 ``(N, 4)`` as (x1, y1, x2, y2) pixels, ``scores`` ``(N,)``."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


class PersonDetector:
    """Finds people (COCO class 0) in BGR images with an Ultralytics YOLO model.

    Args:
        weights: a ``.pt``/``.onnx``/engine path, or a model name Ultralytics knows (e.g. "yolov8n.pt").
        conf: minimum detection confidence.
        iou: IoU threshold of non-maximum suppression.
        max_people: most people kept per image (highest scores first).
        device: "cpu", "cuda", "cuda:N" or "auto".
        half: FP16 inference (CUDA only; ignored on the CPU).
        imgsz: inference image size (longest side, pixels).
        runtime: "auto" (on the CPU, Ultralytics' own OpenVINO export of a ``.pt`` detector when OpenVINO is
            installed and the export measured faster, see :mod:`rtpose.detector_export`), "torch" or "openvino"
            (the export whatever it measured). The export is made once into ``engines_dir`` (default:
            :func:`rtpose.backends.sidecar.default_engines_dir`), keyed by the detector file's sha256.
    """

    def __init__(
        self,
        weights: str | os.PathLike = DEFAULT_DETECTOR,
        conf: float = 0.25,
        iou: float = 0.6,
        max_people: int = 32,
        device: str = "auto",
        half: bool = True,
        imgsz: int = 640,
        runtime: str = "auto",
        engines_dir: str | os.PathLike | None = None,
    ) -> None:
        import torch

        threads = torch.get_num_threads()
        from ultralytics import YOLO  # sets torch's CPU threads to cpu_count - 1 on import

        torch.set_num_threads(threads)
        weights = str(weights)
        looks_like_path = os.sep in weights or Path(weights).suffix not in (".pt", "") or Path(weights).exists()
        if looks_like_path and not Path(weights).exists():
            raise WeightsError(f"Detector weights {weights} do not exist.")
        try:
            self.model = YOLO(weights, task="detect")
        except Exception as exc:  # ultralytics raises many types for bad or unreachable files
            raise WeightsError(f"Could not load the detector {weights} ({str(exc).splitlines()[0][:160]}).") from None
        if getattr(self.model, "task", "detect") != "detect":
            raise WeightsError(f"{weights} is a YOLO '{self.model.task}' model, not a detector.")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.half = bool(half) and self.device.startswith("cuda")
        self.conf, self.iou, self.max_people, self.imgsz = conf, iou, max_people, imgsz
        self.weights = weights
        #: "torch" or "openvino", and why (for the start-up line).
        self.runtime, self.note = "torch", "PyTorch"
        if runtime not in RUNTIMES:
            raise WeightsError(f"Unknown detector runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
        if runtime != "torch":
            self._use_openvino_export(runtime == "openvino", engines_dir)

    def _use_openvino_export(self, forced: bool, engines_dir) -> None:
        """Switch to Ultralytics' OpenVINO export (cached) where it applies and measured faster (or ``forced``)."""
        import importlib.util

        ckpt = Path(str(getattr(self.model, "ckpt_path", None) or self.weights))
        why_not = ""
        if self.device != "cpu":
            why_not = "the OpenVINO export is for the CPU"
        elif ckpt.suffix != ".pt" or not ckpt.is_file():
            why_not = f"{ckpt.name} is not a PyTorch .pt file"
        elif importlib.util.find_spec("openvino") is None:
            why_not = "OpenVINO is not installed"
        if why_not:
            if forced:
                raise WeightsError(f"The detector cannot run on OpenVINO: {why_not}.")
            return
        from rtpose.backends.sidecar import default_engines_dir, file_sha256
        from rtpose.detector_export import ensure_openvino_export

        engines = Path(engines_dir) if engines_dir is not None else default_engines_dir()
        try:
            meta = ensure_openvino_export(ckpt, file_sha256(ckpt), self.imgsz, engines, torch_model=self.model)
            measured = meta["measured_ms"]
            if meta["faster"] != "openvino" and not forced:
                self.note = (f"PyTorch (its OpenVINO export measured slower: {measured['openvino']:.0f} vs "
                             f"{measured['torch']:.0f} ms per frame)")
                return
            from ultralytics import YOLO

            model = YOLO(meta["path"], task="detect")
            self._load_quietly(model)
            self.model = model
        except Exception as exc:  # an export failing must not stop a run that PyTorch can do
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            if forced:
                raise WeightsError(f"Could not export or load the detector for OpenVINO ({first}).") from None
            self.note = f"PyTorch (the OpenVINO export failed: {first})"
            return
        self.runtime = "openvino"
        self.note = (f"OpenVINO, Ultralytics' export {Path(meta['path']).name} (measured {measured['openvino']:.0f} vs "
                     f"{measured['torch']:.0f} ms per frame with PyTorch)")

    def _load_quietly(self, model) -> None:
        """Compile an exported ``model`` now, without the two lines Ultralytics prints on stdout when it does."""
        import logging

        from ultralytics.utils import LOGGER

        level = LOGGER.level
        LOGGER.setLevel(logging.WARNING)
        try:
            model.predict(np.full((self.imgsz // 2, self.imgsz, 3), 114, np.uint8), classes=[PERSON_CLASS],
                          imgsz=self.imgsz, device=self.device, verbose=False)
        finally:
            LOGGER.setLevel(level)

    def __call__(self, image_bgr: np.ndarray) -> Detections:
        """People in one ``(H, W, 3)`` uint8 BGR image, highest score first."""
        result = self.model.predict(
            image_bgr,
            conf=self.conf,
            iou=self.iou,
            classes=[PERSON_CLASS],
            max_det=self.max_people,
            device=self.device,
            **({"half": True} if self.half else {}),
            imgsz=self.imgsz,
            verbose=False,
        )[0]
        boxes = result.boxes
        order = np.argsort(-boxes.conf.cpu().numpy(), kind="stable")
        return Detections(
            boxes=boxes.xyxy.cpu().numpy().astype(np.float32)[order].reshape(-1, 4),
            scores=boxes.conf.cpu().numpy().astype(np.float32)[order],
        )
