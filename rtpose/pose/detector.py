"""Person detection with Ultralytics YOLO."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtpose.compat import import_ultralytics, ultralytics_to_debug, ultralytics_warnings_only
from rtpose.errors import WeightsError, exception_gist
from rtpose.runtime.devices import resolve_device
from rtpose.settings import TRUST_DETECTOR_ENV, trust_detector

#: The detector used when none is named: Ultralytics fetches this model by name on first use.
DEFAULT_DETECTOR = "yolov8n.pt"
PERSON_CLASS = 0
#: COCO's animal classes (bird, cat, dog, horse, sheep, cow, elephant, bear, zebra, giraffe): AP-10K's default.
ANIMAL_CLASSES: tuple[int, ...] = tuple(range(14, 24))
#: How the detector runs: ``auto`` picks Ultralytics' OpenVINO export on the CPU when it measured faster.
RUNTIMES = ("auto", "torch", "openvino")
#: Set to 1 to load detector files that need unsafe (arbitrary code) unpickling; ``--trust-detector`` sets it.
TRUST_ENV = TRUST_DETECTOR_ENV
detector_trusted = trust_detector


def check_detector_pickle(weights: str | os.PathLike, trusted: bool = False) -> None:
    """Refuse a ``.pt`` detector file whose pickle would run code it names (one sentence), before Ultralytics loads it.

    Ultralytics unpickles ``.pt`` files with ``weights_only=False``, which runs any callable the file names
    (``os.system``…). The file is first loaded with ``torch.load(weights_only=True)`` against Ultralytics' own
    allow-list of model classes (``torch_safe_load(..., safe_only=True)``): a file that passes references nothing
    else, so Ultralytics' own load of it can only build those classes. A file that does not pass is refused,
    unless ``trusted`` (``PoseModel(trust_detector=True)``, ``--trust-detector``) or :func:`detector_trusted`.
    Files that are not ``torch.save`` archives are left to Ultralytics' errors.
    """
    path = Path(weights)
    if path.suffix.lower() != ".pt" or not path.is_file() or trusted or detector_trusted():
        return
    import zipfile

    import torch

    if not zipfile.is_zipfile(path):
        # Not a torch.save() zip: a legacy pickle would run code just the same, so only refuse what is one.
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
            raise WeightsError(
                f"Detector {path} is a legacy pickle that can only be loaded unsafely (it could run any code); "
                f"rtpose refuses it unless you trust the file (trust_detector=True, or {TRUST_ENV}=1)."
            )
        return
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # a damaged archive: Ultralytics' load says so in its own words
        return
    import_ultralytics()
    from ultralytics.nn.tasks import torch_safe_load

    try:
        torch_safe_load(str(path), safe_only=True)
    except TypeError as exc:
        if "outside the supported" not in str(exc):
            return  # damaged or TorchScript: Ultralytics' own load reports it
        allowed = ("torch.", "ultralytics.", "collections.", "numpy.", "builtins.set", "pathlib.")
        odd = [n for n in names if not n.startswith(allowed)] or names
        raise WeightsError(
            f"Detector {path} can only be loaded unsafely: its pickle calls {', '.join(odd[:3])}, which could run any "
            f"code, so rtpose refuses it unless you trust the file (trust_detector=True, or {TRUST_ENV}=1)."
        ) from None
    except Exception:
        return  # not our question here: Ultralytics' load reports what is wrong with the file


@dataclass
class Detections:
    """People found in one image: ``boxes`` float32 ``(N, 4)`` as (x1, y1, x2, y2) pixels, ``scores`` ``(N,)``."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


#: Held while a further model of a pool loads (:meth:`PersonDetector._load_another`).
_LOAD_LOCK = threading.Lock()


class ModelPool:
    """Ultralytics models of one detector, each lent to one call at a time.

    Args:
        first: the model already loaded.
        load: loads one more instance of it when every model is lent out; None: callers wait for one to come back
            (a detector whose model cannot be loaded twice).

    The pool grows to the most calls that ran at once, and no further.
    """

    def __init__(self, first: object, load: Callable[[], object] | None = None) -> None:
        self._idle = [first]
        self._load = load
        self._changed = threading.Condition()
        #: How many models the pool has made (the first included).
        self.size = 1

    @contextlib.contextmanager
    def borrow(self) -> Iterator[object]:
        """A model of this caller's own for the ``with`` block."""
        with self._changed:
            while not self._idle and self._load is None:
                self._changed.wait()
            model = self._idle.pop() if self._idle else None
        if model is None:
            model = self._load()
            with self._changed:
                self.size += 1
        try:
            yield model
        finally:
            with self._changed:
                self._idle.append(model)
                self._changed.notify()


class PersonDetector:
    """Finds people (COCO class 0), or the objects of ``classes``, in BGR images with an Ultralytics YOLO model.

    Args:
        weights: a ``.pt``/``.onnx``/engine path, or a model name Ultralytics knows (e.g. "yolov8n.pt").
        conf: minimum detection confidence.
        iou: IoU threshold of non-maximum suppression.
        max_people: most people kept per image (highest scores first).
        device: "cpu", "cuda", "cuda:N" or "auto".
        half: FP16 inference (CUDA only; ignored on the CPU).
        imgsz: inference image size (longest side, pixels).
        classes: the detector's class ids or names to keep (default: person); e.g. :data:`ANIMAL_CLASSES`
            for the AP-10K animal models. Each must be one of the model's classes.
        runtime: "auto" (on the CPU, Ultralytics' own OpenVINO export of a ``.pt`` detector when OpenVINO is
            installed and the export measured faster, see :mod:`rtpose.export.detector`), "torch" or "openvino"
            (the export whatever it measured). The export is made once into ``engines_dir`` (default:
            :func:`rtpose.export.sidecar.default_engines_dir`), keyed by the detector file's sha256.

    Safe to share between threads, and threads detect side by side. One Ultralytics model would make them take
    turns (its predictor holds a lock around each inference, and ``predict`` rewrites the predictor's arguments
    outside it; Ultralytics' advice for threads is a model per thread), so each call borrows a model of its own
    from :attr:`models` (a :class:`ModelPool`): the one loaded here, or another instance of the same file loaded
    when calls overlap.
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
        classes: Sequence[int | str] = (PERSON_CLASS,),
        runtime: str = "auto",
        engines_dir: str | os.PathLike | None = None,
        trusted: bool = False,
    ) -> None:

        YOLO = import_ultralytics().YOLO  # noqa: N806 (Ultralytics' class name)
        weights = str(weights)
        looks_like_path = os.sep in weights or Path(weights).suffix not in (".pt", "") or Path(weights).exists()
        if looks_like_path and not Path(weights).exists():
            raise WeightsError(f"Detector weights {weights} do not exist.")
        if looks_like_path and Path(weights).is_file() and Path(weights).stat().st_size == 0:
            raise WeightsError(f"Detector weights {weights} are an empty file.")
        self.device = resolve_device(device)
        self.half = bool(half) and self.device.startswith("cuda")
        self.conf, self.iou, self.max_people, self.imgsz = conf, iou, max_people, imgsz
        self.weights = weights
        check_detector_pickle(weights, trusted)
        with ultralytics_to_debug():
            self._load(YOLO, weights, classes, runtime, engines_dir)

    def _load(self, YOLO, weights: str, classes, runtime: str, engines_dir) -> None:  # noqa: N803
        """Load the model, check it is a detector, pick its runtime (Ultralytics' messages at debug level)."""
        try:
            self.model = YOLO(weights, task="detect")
            # Ultralytics loads lazily: one tiny prediction now, so that a file that is not a YOLO model
            # (an HRNet .pth, a truncated file) fails here, with our sentence, not on the first frame.
            self.model.predict(np.zeros((32, 32, 3), np.uint8), device=self.device, imgsz=32, verbose=False)
        except Exception as exc:  # ultralytics raises many types (AssertionError for a .pth) for bad files
            raise WeightsError(
                f"Could not load {weights} as an Ultralytics YOLO detector ({exception_gist(exc)}); detector= takes "
                "a YOLO detection model such as 'yolov8n.pt'."
            ) from None
        if getattr(self.model, "task", "detect") != "detect":
            raise WeightsError(f"{weights} is a YOLO '{self.model.task}' model, not a detector.")
        self.classes = resolve_classes(classes, getattr(self.model, "names", None) or {}, weights)
        #: What each further model of the pool is loaded from (the file, or the OpenVINO export folder).
        self._source = str(getattr(self.model, "ckpt_path", None) or weights)
        #: "torch" or "openvino", and why (for the start-up line).
        self.runtime, self.note = "torch", "PyTorch"
        if runtime not in RUNTIMES:
            raise WeightsError(f"Unknown detector runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
        if runtime != "torch":
            self._use_openvino_export(runtime == "openvino", engines_dir)
        self.models = ModelPool(self.model, self._load_another)

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
        from rtpose.export.detector import ensure_openvino_export
        from rtpose.export.sidecar import default_engines_dir
        from rtpose.utils.hashing import file_sha256

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
            self.model, self._source = model, str(meta["path"])
        except Exception as exc:  # an export failing must not stop a run that PyTorch can do
            first = exception_gist(exc)
            if forced:
                raise WeightsError(f"Could not export or load the detector for OpenVINO ({first}).") from None
            self.note = f"PyTorch (the OpenVINO export failed: {first})"
            return
        self.runtime = "openvino"
        self.note = (f"OpenVINO, Ultralytics' export {Path(meta['path']).name} (measured {measured['openvino']:.0f} vs "
                     f"{measured['torch']:.0f} ms per frame with PyTorch)")

    def _load_quietly(self, model) -> None:
        """Compile an exported ``model`` now, without the two lines Ultralytics prints on stdout when it does."""
        with ultralytics_warnings_only():
            model.predict(np.full((self.imgsz // 2, self.imgsz, 3), 114, np.uint8), classes=list(self.classes),
                          imgsz=self.imgsz, device=self.device, verbose=False)

    def _load_another(self) -> object:
        """One more instance of the loaded model, for :attr:`models` (loaded and warmed up quietly)."""
        from ultralytics import YOLO

        with _LOAD_LOCK:  # one at a time: _load_quietly sets Ultralytics' process-wide log level and restores it
            model = YOLO(self._source, task="detect")
            self._load_quietly(model)
        return model

    def __call__(self, image_bgr: np.ndarray) -> Detections:
        """People in one ``(H, W, 3)`` uint8 BGR image, highest score first."""
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images_bgr: list[np.ndarray]) -> list[Detections]:
        """People in each of several images (of any sizes), in one batched detector call (many streams)."""
        with self.models.borrow() as model:
            results = model.predict(
                list(images_bgr) if len(images_bgr) > 1 else images_bgr[0],
                conf=self.conf,
                iou=self.iou,
                classes=list(self.classes),
                max_det=self.max_people,
                device=self.device,
                **({"half": True} if self.half else {}),
                imgsz=self.imgsz,
                verbose=False,
            )
            found = []
            for result in results:
                boxes = result.boxes
                order = np.argsort(-boxes.conf.cpu().numpy(), kind="stable")
                found.append(Detections(
                    boxes=boxes.xyxy.cpu().numpy().astype(np.float32)[order].reshape(-1, 4),
                    scores=boxes.conf.cpu().numpy().astype(np.float32)[order],
                ))
        return found


def resolve_classes(classes: Sequence[int | str], names: dict[int, str], weights: str = "the detector") -> list[int]:
    """Class ids for ``classes`` (ids or names) of a model with class ``names``; one sentence if one is unknown."""
    by_name = {str(n).lower(): int(i) for i, n in names.items()}
    ids = []
    for c in classes:
        text = str(c).strip()
        if text.lstrip("-").isdigit():
            ids.append(int(text))
        elif text.lower() in by_name:
            ids.append(by_name[text.lower()])
        else:
            ids.append(None)
        if ids[-1] is None or (names and ids[-1] not in names):
            known = ", ".join(f"{i} {n}" for i, n in list(names.items())[:12]) + (" …" if len(names) > 12 else "")
            raise WeightsError(
                f"The detector {weights} has no class {text!r} (its classes: {known}); pick others with --classes "
                "or a detector that knows them (e.g. --detector yolov8n.pt for COCO's 80 classes)."
            )
    if not ids:
        raise WeightsError("No detector classes given; pass --classes with at least one class id or name.")
    return ids
