"""A Triton Inference Server model repository for the pose model (``rtpose export-triton``).

The served graph takes uint8 RGB crops ``(N, 3, H, W)`` and does the normalisation itself
(``(x/255 - mean)/std``, :mod:`rtpose.pose.crops`), and gives float16 heatmaps, so a request carries a
quarter of the bytes of a float32 one and a response half. Layout::

    DIR/hrnet_pose/config.pbtxt
    DIR/hrnet_pose/1/model.onnx          (ONNX Runtime backend; or model.plan for --engine)
    DIR/hrnet_pose/1/model.py            (--python-backend: the same ONNX file run by ONNX Runtime)

The weights' sha256, keypoint set and input size are model ``parameters`` that the client
(:mod:`rtpose.runtime.triton_runtime`) checks before the first frame.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

#: Names of the served model, its input and its output.
MODEL_NAME = "hrnet_pose"
INPUT = "crops"
OUTPUT = "heatmaps"

#: Triton's dynamic batcher: batch sizes it prefers, how long it waits to fill one, and how long a request may
#: wait in the queue before it is rejected (stale frames are never served).
PREFERRED_BATCH = (8, 16, 32)
QUEUE_DELAY_US = 2000
QUEUE_TIMEOUT_US = 200_000


class Uint8Graph(nn.Module):
    """uint8 RGB ``(N, 3, H, W)`` → normalised float32 → HRNet → float16 heatmaps."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from rtpose.pose.crops import MEAN_RGB, STD_RGB

        self.model = model
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD_RGB).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() * (1.0 / 255.0) - self.mean) / self.std
        return self.model(x).half()


def export_uint8_onnx(model: nn.Module, path: Path, input_hw: tuple[int, int], opset: int = 17) -> Path:
    """Export ``model`` wrapped in :class:`Uint8Graph` with a dynamic batch axis (TorchScript exporter)."""
    import copy
    import inspect
    import warnings

    net = Uint8Graph(copy.deepcopy(model).eval().cpu().float()).eval()
    dummy = torch.zeros(1, 3, int(input_hw[0]), int(input_hw[1]), dtype=torch.uint8)
    kwargs = {
        "input_names": [INPUT], "output_names": [OUTPUT],
        "dynamic_axes": {INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        "opset_version": int(opset), "do_constant_folding": True,
    }
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (dummy,), str(path), **kwargs)
    return path


def config_text(
    *, platform: str, input_hw: tuple[int, int], num_joints: int, max_batch: int, instances: int, kind: str,
    parameters: dict[str, str], queue_timeout_us: int = QUEUE_TIMEOUT_US, tensorrt_accelerator: bool = True,
) -> str:
    """The ``config.pbtxt`` of the pose model. ``platform``: "onnxruntime_onnx", "tensorrt_plan" or "python"."""
    h, w = int(input_hw[0]), int(input_hw[1])
    head = 'backend: "python"' if platform == "python" else f'platform: "{platform}"'
    preferred = ", ".join(str(b) for b in PREFERRED_BATCH if b <= max_batch)
    lines = [
        f'name: "{MODEL_NAME}"',
        head,
        f"max_batch_size: {int(max_batch)}",
        f'input [ {{ name: "{INPUT}" data_type: TYPE_UINT8 dims: [ 3, {h}, {w} ] }} ]',
        f'output [ {{ name: "{OUTPUT}" data_type: TYPE_FP16 dims: [ {int(num_joints)}, {h // 4}, {w // 4} ] }} ]',
        "dynamic_batching {",
        f"  preferred_batch_size: [ {preferred} ]" if preferred else "",
        f"  max_queue_delay_microseconds: {QUEUE_DELAY_US}",
        "  default_queue_policy {",
        "    timeout_action: REJECT",
        f"    default_timeout_microseconds: {int(queue_timeout_us)}",
        "    allow_timeout_override: true",
        "  }",
        "}",
        f"instance_group [ {{ count: {int(instances)} kind: {kind} }} ]",
    ]
    if platform == "onnxruntime_onnx" and tensorrt_accelerator and kind == "KIND_GPU":
        lines += [
            "optimization { execution_accelerators { gpu_execution_accelerator : [ {",
            '  name : "tensorrt"',
            '  parameters { key: "precision_mode" value: "FP16" }',
            '  parameters { key: "max_workspace_size_bytes" value: "1073741824" }',
            "} ] } }",
        ]
    for key, value in parameters.items():
        lines.append(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
    return "\n".join(line for line in lines if line) + "\n"


#: model.py of the Python backend: runs ``model.onnx`` next to it with ONNX Runtime on the CPU; the tensor names and
#: output types come from the model's config.pbtxt, so the pose model and the detector share it.
PYTHON_MODEL = '''"""Triton Python backend: model.onnx in ONNX Runtime (tensor names and types: config.pbtxt)."""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

TYPES = {"TYPE_FP32": np.float32, "TYPE_FP16": np.float16, "TYPE_UINT8": np.uint8}


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        here = os.path.join(args["model_repository"], args["model_version"])
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [(o["name"], TYPES[o["data_type"]]) for o in config["output"]]
        options = ort.SessionOptions()
        threads = int(config.get("parameters", {}).get("ort_threads", {}).get("string_value", "0") or 0)
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(os.path.join(here, "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    def _run(self, feeds):
        return self.session.run([name for name, _ in self.outputs], feeds)

    def execute(self, requests):
        arrays = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs] for r in requests]
        if len({tuple(a.shape[1:] for a in request) for request in arrays}) == 1:  # one session run for all
            outs = self._run({n: np.concatenate([a[k] for a in arrays]) for k, n in enumerate(self.inputs)})
            sizes, start, parts = [len(a[0]) for a in arrays], 0, []
            for n in sizes:
                parts.append([o[start:start + n] for o in outs])
                start += n
        else:  # differently sized images (the detector's): one run each
            parts = [self._run(dict(zip(self.inputs, request))) for request in arrays]
        return [pb_utils.InferenceResponse(output_tensors=[
                    pb_utils.Tensor(name, np.ascontiguousarray(o, dtype=dtype))
                    for (name, dtype), o in zip(self.outputs, outs)])
                for outs in parts]

    def finalize(self):
        self.session = None
'''


#: Name of the served detector (Ultralytics' ONNX export of ``--detector``).
DETECTOR_NAME = "yolo_detector"
#: ONNX element types → Triton data types (what the two exports use).
_TRITON_TYPES = {"FLOAT": "TYPE_FP32", "FLOAT16": "TYPE_FP16", "UINT8": "TYPE_UINT8"}


def onnx_io(path: Path) -> tuple[list[tuple[str, str, list[int]]], list[tuple[str, str, list[int]]], dict[str, str]]:
    """The inputs and outputs of an ONNX file as ``(name, Triton data type, dims without the batch axis)``, a
    dynamic axis as -1, and its metadata (``metadata_props``)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(value) -> tuple[str, str, list[int]]:
        kind = onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
        return value.name, _TRITON_TYPES.get(kind, f"TYPE_{kind}"), dims[1:]

    return ([describe(v) for v in model.graph.input], [describe(v) for v in model.graph.output],
            {p.key: p.value for p in model.metadata_props})


def _pbtxt_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def detector_config_text(onnx_path: Path, *, max_batch: int, instances: int, kind: str, python: bool,
                         parameters: dict[str, str], queue_timeout_us: int = QUEUE_TIMEOUT_US) -> str:
    """The ``config.pbtxt`` of the detector: names, types and dims read from its ONNX file (dynamic axes -1),
    Ultralytics' export metadata as the ``metadata`` parameter (what Ultralytics' ``TritonRemoteModel`` reads:
    class names, stride, input size, dynamic), then ``parameters``."""
    inputs, outputs, metadata = onnx_io(onnx_path)

    def tensors(items) -> str:
        return ", ".join(f'{{ name: "{n}" data_type: {t} dims: [ {", ".join(str(d) for d in dims)} ] }}'
                         for n, t, dims in items)

    lines = [
        f'name: "{DETECTOR_NAME}"',
        'backend: "python"' if python else 'platform: "onnxruntime_onnx"',
        f"max_batch_size: {int(max_batch)}",
        f"input [ {tensors(inputs)} ]",
        f"output [ {tensors(outputs)} ]",
        "dynamic_batching {",
        f"  max_queue_delay_microseconds: {QUEUE_DELAY_US}",
        "  default_queue_policy { timeout_action: REJECT "
        f"default_timeout_microseconds: {int(queue_timeout_us)} allow_timeout_override: true }}",
        "}",
        f"instance_group [ {{ count: {int(instances)} kind: {kind} }} ]",
        f'parameters {{ key: "metadata" value: {{ string_value: {_pbtxt_string(repr(metadata))} }} }}',
    ]
    lines += [f'parameters {{ key: "{k}" value: {{ string_value: {_pbtxt_string(v)} }} }}'
              for k, v in parameters.items()]
    return "\n".join(lines) + "\n"


def detector_file(detector: str | os.PathLike) -> Path:
    """The detector's ``.pt`` file: ``detector`` itself, or the file Ultralytics resolves a model name to (it downloads
    a model it knows by name once); one sentence when neither works (e.g. offline)."""
    from rtpose.errors import WeightsError, exception_gist
    from rtpose.utils.redact import redact

    path = Path(detector).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise WeightsError(f"detector={str(detector)!r} is a folder; give the YOLO .pt file to export.",
                           parameter="detector")
    if os.sep in str(detector) or path.suffix != ".pt":
        raise WeightsError(f"detector={str(detector)!r} is not a file; give the YOLO .pt file to export.",
                           parameter="detector")
    from rtpose.compat import import_ultralytics, ultralytics_to_debug

    import_ultralytics()
    from ultralytics import YOLO

    try:
        with ultralytics_to_debug():
            return Path(YOLO(str(detector), task="detect").ckpt_path)
    except Exception as exc:  # Ultralytics raises ConnectionError, FileNotFoundError, AttributeError … offline
        raise WeightsError(
            f"Could not get the detector {redact(detector)}: Ultralytics could not fetch it "
            f"({redact(exception_gist(exc))}); pass detector= with a YOLO .pt file you have.",
            parameter="detector") from None


def export_detector(detector: str | os.PathLike, repo: str | os.PathLike, imgsz: int = 640, max_batch: int = 16,
                    instances: int = 1, gpu: bool = True, trusted: bool = False, python_backend: bool = False,
                    queue_timeout_us: int = QUEUE_TIMEOUT_US, ort_threads: int = 0) -> Path:
    """Write ``repo/yolo_detector``: Ultralytics' own ONNX export of ``detector`` (dynamic batch and size,
    float32 ``images (N, 3, H, W)`` RGB in 0..1 → ``output0 (N, 4 + classes, anchors)``, boxes as centre x, y,
    width, height in input pixels), with its config.pbtxt; returns the model's folder.

    ``python_backend``: the ONNX file run by ONNX Runtime in Triton's Python backend (CPU), as for the pose model.
    The detector file's sha256 is the parameter ``detector_sha256``. The model folder is written beside ``repo``
    and moved in when complete (:func:`staged_models`): a failed export leaves ``repo`` as it was.
    """
    import tempfile

    from rtpose.compat import import_ultralytics, ultralytics_to_debug
    from rtpose.errors import WeightsError, exception_gist
    from rtpose.pose.detector import check_detector_pickle
    from rtpose.utils.hashing import file_sha256

    detector = detector_file(detector)
    check_detector_pickle(detector, trusted=trusted)
    import_ultralytics()
    from ultralytics import YOLO

    with staged_models(repo) as stage:
        folder = stage / DETECTOR_NAME
        (folder / "1").mkdir(parents=True)
        with tempfile.TemporaryDirectory() as tmp, ultralytics_to_debug():
            copy = Path(tmp) / detector.name
            shutil.copyfile(detector, copy)  # Ultralytics writes the export next to the file it loaded
            try:
                made = YOLO(str(copy), task="detect").export(format="onnx", imgsz=imgsz, dynamic=True,
                                                             simplify=False, half=False, verbose=False)
            except Exception as exc:  # Ultralytics' exporter raises many types
                raise WeightsError(f"Ultralytics could not export the detector {detector} to ONNX "
                                   f"({exception_gist(exc)}).", parameter="detector") from None
            shutil.move(str(made), folder / "1" / "model.onnx")
        parameters = {"detector_sha256": file_sha256(detector), "imgsz": str(int(imgsz))}
        if python_backend:
            (folder / "1" / "model.py").write_text(PYTHON_MODEL)
            if ort_threads:
                parameters["ort_threads"] = str(int(ort_threads))
        kind = "KIND_GPU" if gpu and not python_backend else "KIND_CPU"
        (folder / "config.pbtxt").write_text(detector_config_text(
            folder / "1" / "model.onnx", max_batch=max_batch, instances=instances, kind=kind, python=python_backend,
            parameters=parameters, queue_timeout_us=queue_timeout_us))
    return Path(repo).expanduser() / DETECTOR_NAME


def export_repository(
    weights: str | os.PathLike,
    repo: str | os.PathLike,
    input_hw: tuple[int, int] | None = None,
    python_backend: bool = False,
    engine: str | os.PathLike | None = None,
    max_batch: int = 64,
    instances: int = 1,
    gpu: bool = True,
    queue_timeout_us: int = QUEUE_TIMEOUT_US,
    ort_threads: int = 0,
) -> Path:
    """Write the model repository ``repo`` for ``weights``; returns the model's folder.

    ``python_backend``: Triton's Python backend runs the ONNX file with ONNX Runtime (CPU; what a
    ``tritonserver`` without the ONNX Runtime backend can serve). ``engine``: a TensorRT plan built from
    the uint8 graph (``model.onnx`` of this repository) for the target GPU; it is copied as ``model.plan``.
    The model folder is written beside ``repo`` and moved in when complete (:func:`staged_models`).
    """
    from rtpose.errors import RtposeError
    from rtpose.utils.hashing import file_sha256
    from rtpose.weights.pose import checkpoint_keypoint_set, load_pose_model, trained_input_hw
    from rtpose.weights.registry import resolve_weights

    _check_engine_file(engine)
    weights = resolve_weights(None if weights is None else str(weights))
    input_hw = tuple(input_hw or trained_input_hw(weights) or (256, 192))
    if input_hw[0] % 4 or input_hw[1] % 4:
        raise RtposeError(f"input_size={input_hw} must be a multiple of 4 in both directions.")
    model = load_pose_model(weights)
    with staged_models(repo) as stage:
        folder = stage / MODEL_NAME
        version = folder / "1"
        version.mkdir(parents=True)
        export_uint8_onnx(model, version / "model.onnx", input_hw)
        parameters = {
            "weights_sha256": file_sha256(weights),
            "keypoints": checkpoint_keypoint_set(weights).name,
            "num_joints": str(int(model.num_joints)),
            "input_size": f"{input_hw[0]}x{input_hw[1]}",
            "model": f"hrnet_w{model.width}",
        }
        if python_backend:
            platform, kind = "python", "KIND_CPU"
            (version / "model.py").write_text(PYTHON_MODEL)
            if ort_threads:
                parameters["ort_threads"] = str(int(ort_threads))
        elif engine is not None:
            platform, kind = "tensorrt_plan", "KIND_GPU"
            shutil.copyfile(Path(engine).expanduser(), version / "model.plan")
        else:
            platform, kind = "onnxruntime_onnx", "KIND_GPU" if gpu else "KIND_CPU"
        (folder / "config.pbtxt").write_text(config_text(
            platform=platform, input_hw=input_hw, num_joints=int(model.num_joints), max_batch=max_batch,
            instances=instances, kind=kind, parameters=parameters, queue_timeout_us=queue_timeout_us,
        ))
    return Path(repo).expanduser() / MODEL_NAME


def _check_engine_file(engine: str | os.PathLike | None) -> None:
    """One sentence, before anything is written, when ``engine`` is given but is not a file."""
    from rtpose.errors import EngineError

    if engine is not None and not Path(engine).expanduser().is_file():
        what = "is a folder" if Path(engine).expanduser().is_dir() else "does not exist"
        raise EngineError(f"engine={str(engine)!r} {what}; give the TensorRT plan built from this repository's "
                          "model.onnx.", parameter="engine")


@contextlib.contextmanager
def staged_models(repo: str | os.PathLike) -> Iterator[Path]:
    """A new folder to write model folders into; when the block ends without error, each model folder in it
    replaces the one of that name in ``repo`` (created when missing), else ``repo`` is left as it was.

    The stage is a temporary folder beside ``repo`` (``.rtpose-stage.PID.RAND.part``, a name ``rtpose cache clean`` and
    the next export know as a leftover), so the moves are renames on one file system. A repository that did not
    exist before and that a failure leaves empty is removed. Raises one sentence (:func:`rtpose.io.paths.output_folder`)
    when ``repo`` cannot be a folder rtpose writes in (a file, a read-only place, a name too long).
    """
    from rtpose.errors import OutputError
    from rtpose.export.sidecar import temp_path
    from rtpose.io.paths import output_folder
    from rtpose.utils.names import check_name_length

    repo = check_name_length(repo, "model repository")
    existed = repo.is_dir()
    output_folder(repo, "model repository")
    stage = temp_path(repo.parent / "rtpose-stage")  # short: a repository name at the length limit still fits
    try:
        try:
            stage.mkdir()
        except OSError as exc:
            raise OutputError(f"Cannot write beside the model repository {repo} ({exc.strerror or exc}); the "
                              "models are written there first and then moved in.") from None
        yield stage
        for model in sorted(stage.iterdir()):
            _replace_folder(model, repo / model.name)
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                repo.rmdir()  # only when empty: whatever else is there stays
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _replace_folder(new: Path, target: Path) -> None:
    """Put the folder ``new`` at ``target`` by renames; an old ``target`` is removed once the new one is in place."""
    from rtpose.export.sidecar import temp_path

    if not target.exists():
        os.replace(new, target)
        return
    old = temp_path(target)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def export_triton_repository(
    weights: str | os.PathLike | None,
    repo: str | os.PathLike,
    *,
    detector: str | os.PathLike | None = None,
    trust_detector: bool = False,
    input_hw: tuple[int, int] | None = None,
    python_backend: bool = False,
    engine: str | os.PathLike | None = None,
    max_batch: int = 64,
    instances: int = 1,
    gpu: bool = True,
    queue_timeout_us: int = QUEUE_TIMEOUT_US,
) -> list[Path]:
    """Write the whole repository: the pose model and, unless ``detector`` is None, the YOLO detector; returns the
    model folders. All or nothing: the detector is resolved and checked before anything is written, both models are
    written into one stage beside ``repo``, and only a complete set is moved in (a failure or a stop signal leaves
    ``repo`` as it was)."""
    from rtpose.engine.signals import stop_signals_raise
    from rtpose.pose.detector import check_detector_pickle

    _check_engine_file(engine)
    with stop_signals_raise(f"writing the model repository {repo}"):
        if detector is not None:
            detector = detector_file(detector)
            check_detector_pickle(detector, trusted=trust_detector)
        with staged_models(repo) as stage:
            export_repository(weights, stage, input_hw=input_hw, python_backend=python_backend, engine=engine,
                              max_batch=max_batch, instances=instances, gpu=gpu, queue_timeout_us=queue_timeout_us)
            if detector is not None:
                export_detector(detector, stage, instances=instances, gpu=gpu, trusted=trust_detector,
                                python_backend=python_backend, queue_timeout_us=queue_timeout_us)
    names = [MODEL_NAME] + ([DETECTOR_NAME] if detector is not None else [])
    return [Path(repo).expanduser() / name for name in names]


__all__ = ["DETECTOR_NAME", "INPUT", "MODEL_NAME", "OUTPUT", "Uint8Graph", "config_text", "detector_config_text",
           "detector_file", "export_detector", "export_repository", "export_triton_repository", "export_uint8_onnx",
           "onnx_io", "staged_models"]
