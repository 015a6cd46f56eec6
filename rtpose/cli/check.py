"""``rtpose check``: what this machine has, and does every backend it has give PyTorch FP32's answer?

It prints the environment (torch and its CUDA, GPUs and compute capability, TensorRT, ONNX Runtime
providers, OpenVINO, cameras, display, cache folders, which ``[trt]`` extra fits), then runs every
available backend on real person crops against PyTorch FP32 on the CPU with the same weights, and
prints one table: backend, precision, device, max heatmap error, keypoints moved > 0.5 px (image
pixels), crops/s. When TensorRT is present it builds a small FP16 engine (batch ≤ 8) first. The
device-resident path (:mod:`rtpose.pose.device_ops`: crops, network and DARK on the GPU, or on CPU tensors
without one) is one row of the table.

With ``--seg person|parts`` the segmentation model (``--seg-weights``) is checked the same way: every
segmentation runtime this machine has (:mod:`rtpose.runtime.select`) against PyTorch FP32 on the CPU, on
the whole image ("person") or the people's crops ("parts"), in rows of the same table: max |Δlogit|, the
share of pixels whose label (argmax class) is the same, and the time per call.

Crops: four people in ``bus.jpg``, the image the ``ultralytics`` package ships (a dependency of
rtpose), with their boxes recorded below; ``--image`` with ``--boxes`` (or ``--detector``) uses another
image. Weights: ``--weights``; without it, the first downloaded registry checkpoint, else an untrained
HRNet-W32 with seeded weights, clearly labelled (the comparison of backends is still meaningful, the
keypoints are not). Exit status 1 with one sentence when something is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.cli.check_table import MOVED_PX, Row, format_table
from rtpose.errors import RtposeError, exception_gist

HELP = "report this machine's GPU/backend setup and check every backend against PyTorch FP32 on real crops"

#: The people in Ultralytics' bundled ``bus.jpg`` (810×1080): x1, y1, x2, y2 from yolov8n-person, conf ≥ 0.5.
BUS_BOXES = np.array(
    [[49, 398, 246, 903], [670, 391, 809, 877], [221, 406, 345, 858], [0, 550, 63, 874]], dtype=np.float32
)


def configure(parser: argparse.ArgumentParser) -> None:
    from rtpose.cli.common import declare_roles, declare_text
    from rtpose.options.schema import INPUT_FILE

    parser.add_argument("--weights", metavar="PATH|NAME", default=None,
                        help="HRNet checkpoint or registry name (default: a downloaded one, else labelled "
                             "untrained seeded W32 weights)")
    from rtpose.cli.common import parse_size

    parser.add_argument("--input-size", type=parse_size, default=None, metavar="HxW",
                        help="model input (default: what the weights were trained for, else 256x192)")
    parser.add_argument("--image", default=None, metavar="FILE",
                        help="image with people (default: bus.jpg bundled with ultralytics)")
    parser.add_argument("--boxes", default=None, metavar="X1,Y1,X2,Y2;…", help="person boxes in --image")
    parser.add_argument("--detector", default=None, metavar="PATH|NAME",
                        help="find the people of --image with this YOLO model instead of --boxes")
    parser.add_argument("--iters", type=int, default=3, help="timed calls per backend for crops/s (default: 3)")
    seg = parser.add_argument_group("segmentation (also check the HRNetV2 segmentation model on every runtime)")
    seg.add_argument("--seg", choices=("person", "parts"), default=None,
                     help="person: the whole image; parts: the people's crops (default: no segmentation rows)")
    seg.add_argument("--seg-weights", metavar="PATH|NAME", default=None,
                     help="segmentation checkpoint or registry name (default: the mode's registry checkpoint when "
                          "downloaded, else labelled untrained seeded HRNetV2-W18 weights)")
    seg.add_argument("--seg-size", type=int, default=None, metavar="N",
                     help="the image's short side (person) or the crop side (parts) (default: the weights' "
                          "training size)")
    parser.add_argument("--no-backends", action="store_true", help="only report the environment")
    declare_roles(parser, weights=INPUT_FILE, image=INPUT_FILE, detector=INPUT_FILE, seg_weights=INPUT_FILE)
    declare_text(parser, "boxes")  # reads only: nothing of it can be overwritten


# -- environment ------------------------------------------------------------------------------------


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return str(__import__(module).__version__)
    except Exception as exc:  # a wheel that is installed but cannot load says why
        return f"installed but fails to load ({exception_gist(exc, 100)})"


def find_cameras(indices: range = range(4)) -> list[int]:
    """Camera indices OpenCV can open, probed quietly (on Linux only where ``/dev/videoN`` exists)."""
    import cv2

    found = []
    with contextlib.suppress(Exception):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    for index in indices:
        if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
            continue
        cap = cv2.VideoCapture(index)
        try:
            if cap.isOpened():
                found.append(index)
        finally:
            cap.release()
    return found


def environment() -> tuple[list[tuple[str, str]], list[str]]:
    """``(label, value)`` lines describing this machine, and the problems found (sentences)."""
    import torch

    from rtpose.export.sidecar import default_engines_dir
    from rtpose.runtime.onnxruntime_runtime import available_providers, onnxruntime_conflict
    from rtpose.runtime.tensorrt_runtime import installed_tensorrt_cuda, trt_extra, trt_extra_problem
    from rtpose.weights.registry import cache_dir

    lines: list[tuple[str, str]] = []
    problems: list[str] = []
    lines.append(("python", f"{platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPU cores)"))
    cuda_text = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    lines.append(("torch", f"{torch.__version__}, {cuda_text}, CUDA available: {torch.cuda.is_available()}"))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(i)
            total = torch.cuda.get_device_properties(i).total_memory / 2**30
            lines.append((f"GPU {i}", f"{torch.cuda.get_device_name(i)}, compute capability {major}.{minor}, "
                                      f"{total:.0f} GiB"))
    else:
        lines.append(("GPU", "none visible to torch"))
    trt_version = _version("tensorrt")
    trt_cuda = installed_tensorrt_cuda()
    wheels = f" (wheels for CUDA {trt_cuda})" if trt_cuda else ""
    lines.append(("TensorRT", (trt_version or "not installed") + wheels))
    extra = trt_extra()
    lines.append(("[trt] extra", f'pip install "rtpose[{extra}]" fits torch\'s CUDA {torch.version.cuda}' if extra
                  else "none fits: this torch has no CUDA"))
    problem = trt_extra_problem()
    if problem:
        problems.append(problem)
    if trt_version and trt_version.startswith("installed but"):
        problems.append(f"TensorRT is {trt_version}.")
    ort_version = _version("onnxruntime")
    lines.append(("ONNX Runtime", f"{ort_version}, providers: {', '.join(available_providers())}" if ort_version
                  else "not installed"))
    conflict = onnxruntime_conflict()
    if conflict:
        problems.append(conflict)
    lines.append(("OpenVINO", _version("openvino") or "not installed (optional: pip install \"rtpose[openvino]\")"))
    cameras = find_cameras()
    lines.append(("cameras", ", ".join(f"--camera {i}" for i in cameras) if cameras else "none found (probed 0-3)"))
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    lines.append(("display", display if display else "none (use --no-show; windows and the GUI need one)"))
    for label, folder in (("weights cache", cache_dir()), ("engines folder", default_engines_dir())):
        lines.append((label, f"{folder} ({'exists' if Path(folder).is_dir() else 'not created yet'})"))
    return lines, problems


# -- the backend comparison -------------------------------------------------------------------------


def real_crops(
    image_path: Path, boxes: np.ndarray, input_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model batch float32 ``(N, 3, H, W)``, centres and sizes of ``boxes`` in the image (the host crop path)."""
    import cv2

    from rtpose.pose.crops import make_input_batch

    image = cv2.imread(str(image_path))
    if image is None:
        raise RtposeError(f"Cannot read the image {image_path}; pass an image file OpenCV can open.")
    return make_input_batch(image, boxes, input_hw)


def compare_to_reference(
    backend: Any,
    crops: np.ndarray,
    reference: np.ndarray,
    centers: np.ndarray,
    sizes: np.ndarray,
    iters: int = 3,
    label: str | None = None,
) -> Row:
    """Run ``backend`` on ``crops`` and compare with the PyTorch FP32 heatmaps ``reference`` of the same crops.

    Pass rule (:mod:`rtpose.export.pose_onnx`): FP32 on the CPU max |Δheatmap| < ``FP32_ATOL`` and the
    same argmax keypoints; BF16 (OpenVINO) the BF16 rule (``rtpose.runtime.openvino_runtime.bf16_compare``);
    FP16, and FP32 on a GPU (TF32 convolutions), the FP16 rule.
    """
    from rtpose.export.verify import FP16_RTOL, FP32_ATOL, compare_heatmaps, fp16_close
    from rtpose.pose.codec import HeatmapCodec
    from rtpose.pose.crops import heatmap_to_image

    input_hw = (crops.shape[2], crops.shape[3])
    step = max(1, int(getattr(backend, "max_batch", len(crops))))

    def run() -> np.ndarray:
        return np.concatenate([backend.infer(crops[i : i + step]) for i in range(0, len(crops), step)])

    got = run()
    best = float("inf")
    for _ in range(max(1, iters)):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    device = str(backend.device)
    precision = "bf16" if device.endswith(" bf16") else "fp16" if "fp16" in device else "fp32"
    row = Row(label or backend.name, precision, device, crops_per_s=len(crops) / best)
    if got.shape != reference.shape:
        row.ok, row.note = False, f"heatmaps of shape {got.shape}, expected {reference.shape}"
        return row
    limit = FP16_RTOL * max(float(np.abs(reference).max()), 1e-6)
    diff = compare_heatmaps(reference, got, input_hw, tie_tol=limit)
    codec = HeatmapCodec(input_hw=input_hw)
    xy_ref = heatmap_to_image(codec.decode(reference)[0], centers, sizes, codec.heatmap_hw)
    xy_got = heatmap_to_image(codec.decode(got)[0], centers, sizes, codec.heatmap_hw)
    shift = np.linalg.norm(xy_ref - xy_got, axis=-1)
    row.max_heatmap_error = diff["max_abs_diff"]
    row.moved, row.keypoints = int((shift > MOVED_PX).sum()), int(shift.size)
    if precision == "fp32" and device.startswith("cpu"):
        row.ok = diff["max_abs_diff"] < FP32_ATOL and diff["argmax_mismatches"] == 0
        rule = f"max |Δheatmap| < {FP32_ATOL:g} and identical argmax keypoints"
    elif precision == "bf16":
        from rtpose.runtime.openvino_runtime import bf16_compare

        row.ok, _, rule = bf16_compare(reference, got, input_hw)
    else:
        row.ok = fp16_close(diff, limit)
        rule = f"max |Δheatmap| < {FP16_RTOL:g} × max |heatmap| and the FP16 keypoint rule"
    if not row.ok:
        row.note = f"outside tolerance ({rule})"
    return row


def check_device_path(
    backend: Any, image_path: Path, boxes: np.ndarray, reference: np.ndarray, centers: np.ndarray,
    sizes: np.ndarray, iters: int = 3,
) -> Row:
    """The device-resident path (torch crops → ``infer_device`` → torch DARK) against the host path's reference.

    Passes when max |Δheatmap| < ``FP16_RTOL`` × max |heatmap| (its crops are not rounded to uint8) and
    95% of the keypoints are within 0.1 heatmap px of the reference's.
    """
    import cv2
    import torch

    from rtpose.export.verify import FP16_RTOL
    from rtpose.pose.codec import HeatmapCodec
    from rtpose.pose.crops import heatmap_to_image
    from rtpose.pose.device_ops import DevicePosePath, crop_matrices, crops_from_boxes, upload_image

    image = cv2.imread(str(image_path))
    input_hw = (reference.shape[2] * 4, reference.shape[3] * 4)
    codec = HeatmapCodec(input_hw=input_hw)
    path = DevicePosePath(backend, codec)
    _, _, to_image = crop_matrices(boxes, input_hw)
    with torch.inference_mode():
        batch = crops_from_boxes(upload_image(image, backend.torch_device),
                                 torch.from_numpy(to_image).to(backend.torch_device), input_hw)
        heatmaps = backend.infer_device(batch).cpu().numpy()
    keypoints = path(image, boxes)
    best = float("inf")
    for _ in range(max(1, iters)):
        start = time.perf_counter()
        path(image, boxes)
        best = min(best, time.perf_counter() - start)
    xy_ref = heatmap_to_image(codec.decode(reference)[0], centers, sizes, codec.heatmap_hw)
    shift = np.linalg.norm(xy_ref - keypoints[..., :2], axis=-1)
    in_heatmap_px = shift / (sizes[:, :1] / codec.heatmap_hw[1])
    error = float(np.abs(heatmaps - reference).max())
    ok = error < FP16_RTOL * float(np.abs(reference).max()) and float((in_heatmap_px <= 0.1).mean()) >= 0.95
    device = str(backend.device)
    return Row(
        "device path (torch crops+DARK)", "fp16" if "fp16" in device else "fp32", device, error,
        int((shift > MOVED_PX).sum()), int(shift.size), len(boxes) / best, ok,
        "" if ok else "keypoints differ from the host crop path by more than 0.1 heatmap px",
    )


def _parse_boxes(text: str) -> np.ndarray:
    try:
        boxes = np.array([[float(v) for v in part.split(",")] for part in text.split(";") if part.strip()], np.float32)
    except ValueError:
        boxes = np.zeros((0, 3), np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) == 0:
        raise RtposeError(f"--boxes must be X1,Y1,X2,Y2 boxes separated by ';', got {text!r}.")
    return boxes


def _image_and_boxes(args: argparse.Namespace) -> tuple[Path, np.ndarray, str]:
    if args.image is None:
        from rtpose.pose.detector import import_ultralytics

        import_ultralytics()
        from ultralytics.utils import ASSETS

        return Path(ASSETS) / "bus.jpg", BUS_BOXES, "4 people in bus.jpg (bundled with ultralytics)"
    image = Path(args.image)
    if not image.is_file():
        raise RtposeError(f"--image {image} does not exist.")
    if args.boxes:
        boxes = _parse_boxes(args.boxes)
    elif args.detector:
        import cv2

        from rtpose.pose.detector import PersonDetector

        boxes = PersonDetector(args.detector, device="cpu")(cv2.imread(str(image))).boxes
        if len(boxes) == 0:
            raise RtposeError(f"The detector found no person in {image}; pass --boxes or another image.")
    else:
        raise RtposeError("--image needs the people's boxes: --boxes X1,Y1,X2,Y2;… or --detector MODEL.")
    return image, boxes, f"{len(boxes)} people in {image.name}"


def _weights(args: argparse.Namespace, folder: Path) -> tuple[Path, str]:
    from rtpose.weights.registry import REGISTRY, cached_path, resolve_weights

    if args.weights:
        path = resolve_weights(args.weights)
        return path, path.name
    for name, entry in REGISTRY.items():
        if cached_path(entry).is_file():
            return cached_path(entry), f"{name} (downloaded)"
    import torch

    from rtpose.models import HRNet

    torch.manual_seed(0)
    path = folder / "hrnet_w32_untrained_seed0.pth"
    torch.save(HRNet(width=32).state_dict(), path)
    return path, (
        "UNTRAINED HRNet-W32, seed 0 (no --weights and none downloaded: backends compared, keypoints meaningless)"
    )


def _backends(weights: Path, input_hw: tuple[int, int], engines: Path, say) -> list[tuple[str, Any]]:
    """``(label, factory)`` for every backend this machine can try, in table order."""
    import torch

    from rtpose.runtime.onnxruntime_runtime import available_providers
    from rtpose.runtime.openvino_runtime import openvino_available
    from rtpose.runtime.select import create_backend
    from rtpose.runtime.tensorrt_runtime import tensorrt_available

    def make(backend: str, device: str, fp16: bool | None = None):
        return lambda: create_backend(backend, str(weights), device, input_hw, fp16, engines_dir=str(engines))

    out: list[tuple[str, Any]] = []
    if importlib.util.find_spec("onnxruntime") is not None:
        out.append(("onnxruntime", make("onnxruntime", "cpu", False)))
        if "CUDAExecutionProvider" in available_providers():
            out.append(("onnxruntime", make("onnxruntime", "cuda", False)))
    if openvino_available():
        out.append(("openvino", make("openvino", "cpu")))
    if torch.cuda.is_available():
        out.append(("torch", make("torch", "cuda", True)))
    if tensorrt_available():

        def engine():
            from rtpose.export.pose_onnx import ensure_onnx
            from rtpose.export.tensorrt import build_engine, find_engine
            from rtpose.runtime.tensorrt_runtime import TensorRTBackend, gpu_info, import_tensorrt
            from rtpose.utils.hashing import file_sha256

            gpu, cc = gpu_info(0)
            path = find_engine(engines, file_sha256(weights), input_hw, import_tensorrt().__version__, gpu, cc)
            if path is None:
                say("building a small FP16 TensorRT engine (batch 1…8) for the check; this takes a minute or two")
                onnx_path = ensure_onnx(weights, input_hw, fp16=True, out_dir=engines, log=say)
                path = build_engine(onnx_path, out_dir=engines, max_batch=8, log=say)
            return TensorRTBackend(path)

        out.append(("tensorrt", engine))
    return out


def main(args: argparse.Namespace) -> int:
    from rtpose.cli.check_seg import check_seg_args
    from rtpose.log import say

    check_seg_args(args)
    lines, problems = environment()
    width = max(len(label) for label, _ in lines)
    print("environment")
    for label, value in lines:
        print(f"  {label:<{width}}  {value}")
    if args.no_backends:
        return _finish(problems)

    import torch

    from rtpose.export.sidecar import default_engines_dir
    from rtpose.runtime.torch_runtime import TorchBackend
    from rtpose.weights.pose import load_pose_model, trained_input_hw

    image, boxes, people = _image_and_boxes(args)
    with tempfile.TemporaryDirectory(prefix="rtpose-check-") as tmp:
        weights, weights_label = _weights(args, Path(tmp))
        input_hw = args.input_size or trained_input_hw(weights) or (256, 192)
        crops, centers, sizes = real_crops(image, boxes, input_hw)
        reference_backend = TorchBackend(load_pose_model(weights), device="cpu", input_hw=input_hw)
        with torch.inference_mode():
            reference = reference_backend.infer(crops)
        print(f"\nbackends vs PyTorch FP32 on the CPU: {len(crops)} crops ({people}), weights {weights_label}, "
              f"input {input_hw[0]}x{input_hw[1]}")
        rows = [compare_to_reference(reference_backend, crops, reference, centers, sizes, args.iters,
                                     label="torch (reference)")]
        device_backend = reference_backend
        if torch.cuda.is_available():
            try:
                device_backend = TorchBackend(load_pose_model(weights), device="cuda", input_hw=input_hw)
            except RuntimeError as exc:
                problems.append(f"PyTorch cannot use the GPU ({exception_gist(exc)})")
        rows.append(check_device_path(device_backend, image, boxes, reference, centers, sizes, args.iters))
        engines = default_engines_dir()
        for label, factory in _backends(weights, input_hw, engines, say):
            try:
                backend = factory()
            except (RtposeError, RuntimeError, OSError, ImportError) as exc:
                rows.append(Row(label, "-", "-", ok=False, note=f"could not start: {exception_gist(exc)}"))
                continue
            try:
                rows.append(compare_to_reference(backend, crops, reference, centers, sizes, args.iters, label))
            finally:
                close = getattr(backend, "close", None)
                if close is not None:
                    close()
        if args.seg is not None:
            from rtpose.cli.check_seg import seg_rows

            more, intro = seg_rows(args, image, boxes, engines, Path(tmp), say)
            print(intro)
            rows += more
        print(format_table(rows))
    for row in rows:
        if not row.ok:
            problems.append(f"{row.backend} on {row.device} {row.note}")
    return _finish(problems)


def _finish(problems: list[str]) -> int:
    if problems:
        raise RtposeError(problems[0].rstrip(".") + "." if len(problems) == 1 else
                          f"{len(problems)} problems: " + "; ".join(p.rstrip(".") for p in problems) + ".")
    print("\nrtpose check: everything available works and agrees with PyTorch FP32")
    return 0
