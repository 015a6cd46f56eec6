"""What pose and segmentation each bring to the one runtime stack (:mod:`rtpose.runtime.select`).

A task says how its checkpoint becomes each engine's input: the network for PyTorch, the ONNX export for ONNX
Runtime and OpenVINO (:mod:`rtpose.export.pose_onnx`, :mod:`rtpose.export.seg_onnx`), the TensorRT engine and its
profile (:mod:`rtpose.export.tensorrt`), and what a runtime must be to serve it. Choosing and building the runtime,
``auto`` and its reason are the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtpose.errors import EngineError

if TYPE_CHECKING:
    from rtpose.runtime.base import Runtime
    from rtpose.runtime.select import Request

#: Model input (H, W) of a pose checkpoint when neither the caller nor the checkpoint says otherwise.
DEFAULT_INPUT_HW = (256, 192)


@dataclass(frozen=True)
class PoseTask:
    """The pose HRNet: crops ``(N, 3, H, W)`` of a fixed size → heatmaps ``(N, K, H/4, W/4)``."""

    #: The task's name in a table entry's ``tasks``.
    kind: str = "pose"
    #: The parameter that chooses its runtime (named in messages).
    param: str = "backend"
    #: Whether ``backend="tensorrt"`` builds a missing engine (pose: no, ``rtpose build-engine`` does).
    builds_engines: bool = False
    #: PyTorch's memory format on CUDA (None: channels-last there).
    channels_last: bool | None = None

    def default_input_hw(self, path: Path) -> tuple[int, int]:
        from rtpose.weights.pose import trained_input_hw

        return trained_input_hw(path) or DEFAULT_INPUT_HW

    def load_model(self, path: Path) -> Any:
        from rtpose.weights.pose import load_pose_model

        return load_pose_model(path)

    def onnx(self, request: Request, fp16: bool = False) -> Path:
        from rtpose.export.pose_onnx import ensure_onnx

        return ensure_onnx(request.path, input_hw=request.input_hw, fp16=fp16, out_dir=request.engines)

    def engine(self, request: Request, build: bool = False) -> tuple[Path | None, str]:
        from rtpose.export.tensorrt import matching_pose_engine

        return matching_pose_engine(request.path, request.device, request.input_hw, request.engines)

    def check(self, runtime: Runtime) -> None:
        """One sentence when ``runtime`` does not run a pose model of a fixed input size."""
        name = runtime.artifact.name if runtime.artifact is not None else runtime.name
        shapes = runtime.io_shapes
        if shapes is not None and not shapes[2]:
            runtime.close()
            raise EngineError(
                f"{name} is not an HRNet pose model: it takes {shapes[0]} and gives {shapes[1]}, where rtpose needs "
                "images (N, 3, H, W) → heatmaps (N, K, H/4, W/4); export one with 'rtpose export-onnx'."
            )
        if runtime.input_hw is None:
            runtime.close()
            raise EngineError(f"{name} has no fixed input height and width; re-export it with rtpose.")


@dataclass(frozen=True)
class SegTask:
    """The segmentation HRNetSeg in ``mode``: "person" (whole frames, dynamic H and W) or "parts" (square crops,
    dynamic batch) → logits ``(N, C, ceil(H/4), ceil(W/4))``.

    Attributes:
        mode: "person" or "parts".
        seg_classes: the class set's name, recorded in the export's sidecar.
    """

    mode: str = "person"
    seg_classes: str | None = None
    kind: str = "segmentation"
    param: str = "seg_backend"
    builds_engines: bool = True
    channels_last: bool | None = False

    def default_input_hw(self, path: Path) -> tuple[int, int]:
        raise EngineError("a segmentation runtime needs its input size")  # the Segmenter always gives it

    def load_model(self, path: Path) -> Any:
        from rtpose.weights.seg import load_seg_model

        return load_seg_model(path)

    def onnx(self, request: Request, fp16: bool = False) -> Path:
        from rtpose.export.seg_onnx import ensure_seg_onnx

        return ensure_seg_onnx(request.path, request.input_hw, dynamic_hw=self.mode == "person", fp16=fp16,
                               out_dir=request.engines, seg_classes=self.seg_classes)

    def engine(self, request: Request, build: bool = True) -> tuple[Path | None, str]:
        from rtpose.export.tensorrt import ensure_seg_engine

        return ensure_seg_engine(request.path, self.mode, request.input_hw[0], request.device, request.engines,
                                 fp16=request.precision != "fp32", build=build)

    def check(self, runtime: Runtime) -> None:
        """One sentence when ``runtime`` does not run images to maps."""
        shapes = runtime.io_shapes
        if shapes is not None and not shapes[2]:
            runtime.close()
            raise EngineError(f"{runtime.artifact} is not an rtpose segmentation model: it takes {shapes[0]} and "
                              f"gives {shapes[1]}.")


#: The pose task (the one :func:`rtpose.runtime.select.create_backend` builds for).
POSE = PoseTask()

__all__ = ["DEFAULT_INPUT_HW", "POSE", "PoseTask", "SegTask"]
