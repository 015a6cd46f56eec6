"""JSON sidecars of exported ONNX files and TensorRT engines, and the engine compatibility check.

Every artefact ``X`` in ``engines/`` has a sidecar ``X.json`` (e.g. ``hrnet_w32_….engine.json``)
that records what it was made from and for: the weights' sha256, the input size, the precision,
the batch range and, for engines, the TensorRT version, GPU name and compute capability. A TensorRT
engine only runs on the TensorRT version and GPU it was built with, so :func:`check_engine` compares
the sidecar with the running machine and raises :class:`~rtpose.errors.EngineError` with one
sentence that gives the exact ``rtpose build-engine`` command to rebuild.

Plain Python: nothing here imports TensorRT, so all of it is tested on any machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rtpose.errors import EngineError

SIDECAR_VERSION = 1
#: The TensorRT timing cache in the engines folder (one per folder, reused by every build there).
TIMING_CACHE = "timing.cache"


def default_engines_dir() -> Path:
    """Where exported ONNX files and engines go when no ``--out`` is given: ``$RTPOSE_ENGINES`` or
    ``<cache>/engines`` (:func:`rtpose.settings.engines_dir`; never the current directory)."""
    from rtpose.settings import engines_dir

    return engines_dir()


def sidecar_path(artifact: str | os.PathLike) -> Path:
    """``model.engine`` → ``model.engine.json`` (the full name is kept so .onnx and .engine never collide)."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def size_text(input_hw: tuple[int, int] | list[int]) -> str:
    """(256, 192) → ``"256x192"`` (height x width, as ``--input-size`` takes it)."""
    return f"{int(input_hw[0])}x{int(input_hw[1])}"


def artifact_stem(width: int | None, weights_sha256: str | None, input_hw: tuple[int, int], precision: str) -> str:
    """File name stem shared by the ONNX file and engines of one model: ``hrnet_w32_1a2b3c4d5e6f_256x192_fp16``."""
    model = f"hrnet_w{width}" if width else "hrnet"
    digest = (weights_sha256 or "unknown")[:12]
    return f"{model}_{digest}_{size_text(input_hw)}_{precision}"


#: Ending of the lock files next to artefacts (see :func:`artifact_lock`).
LOCK_SUFFIX = ".lock"


def temp_path(path: str | os.PathLike) -> Path:
    """A temporary name next to ``path``, unique to this process and call: ``.NAME.PID.RANDOM.part``.

    Writers write there and ``os.replace`` it onto ``path``, so that processes exporting the same artefact at
    once never write into one file, and readers never see half a file. The PID lets ``rtpose cache clean`` tell
    the leftovers of a killed process from the file of a running one (:func:`owner_alive`).
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")


def owner_alive(name: str) -> bool:
    """Whether the process whose PID a temporary name carries (``.X.PID.RAND.part``, ``.detector-export-PID-…``)
    still runs; False for names without a PID."""
    import re

    match = re.search(r"\.(\d+)\.[0-9a-f]{8}\.part$", name) or re.search(r"^\.detector-export-(\d+)-", name)
    if not match:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def artifact_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the artefact ``path`` (a ``.NAME.lock`` file beside it) within the block.

    Processes that export the same artefact at once (two cameras started together, a service per camera)
    take turns: the first exports, the others wait here and then find its file. The lock goes with the
    process (``flock``), so a killed exporter never blocks the next one. Where ``flock`` does not exist
    (Windows) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}{LOCK_SUFFIX}")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def atomic_write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_sidecar(artifact: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write ``meta`` (plus the artefact's file name and the sidecar format version) next to ``artifact``."""
    data = {"sidecar_version": SIDECAR_VERSION, "file": Path(artifact).name, **meta}
    path = sidecar_path(artifact)
    tmp = temp_path(path)
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def sidecar_width(meta: dict[str, Any]) -> int | None:
    """The HRNet width a sidecar records (``width``, or its ``model`` field ``hrnet_wNN``), or None."""
    if isinstance(meta.get("width"), int):
        return int(meta["width"])
    model = str(meta.get("model", ""))
    digits = model.removeprefix("hrnet_w")
    return int(digits) if model.startswith("hrnet_w") and digits.isdigit() else None


def read_sidecar(artifact: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of ``artifact``; EngineError when it is missing or not valid JSON."""
    path = sidecar_path(artifact)
    if not path.is_file():
        raise EngineError(
            f"{artifact} has no sidecar {path.name}, so rtpose cannot tell what it was built for; "
            f"rebuild it with 'rtpose build-engine --fp16 --weights W' (or 'rtpose export-onnx --weights W')."
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"Sidecar {path} is unreadable ({exc}); rebuild the file it describes.") from None
    if not isinstance(data, dict):
        raise EngineError(f"Sidecar {path} does not hold a JSON object; rebuild the file it describes.")
    return data


def rebuild_command(meta: dict[str, Any], out_dir: str | os.PathLike | None = None) -> str:
    """The ``rtpose build-engine`` command that rebuilds the engine a sidecar describes, on this machine."""
    parts = ["rtpose", "build-engine"]
    # build-engine builds FP16 unless told otherwise, so an FP32 engine needs --fp32 said out loud.
    parts.append("--fp16" if meta.get("precision", "fp16") == "fp16" else "--fp32")
    if meta.get("weights"):
        parts += ["--weights", str(meta["weights"])]
    elif meta.get("onnx"):
        parts += ["--onnx", str(meta["onnx"])]
    else:
        parts += ["--weights", "W"]
    if meta.get("input_size"):
        parts += ["--input-size", size_text(meta["input_size"])]
    batch = meta.get("batch_range")
    if batch:
        parts += ["--max-batch", str(int(batch[1]))]
    if out_dir is not None:
        parts += ["--out", str(out_dir)]
    return " ".join(shlex.quote(p) for p in parts)


def check_engine(
    meta: dict[str, Any],
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    input_hw: tuple[int, int] | None = None,
    weights_sha256: str | None = None,
    engine: str | os.PathLike | None = None,
) -> None:
    """Raise EngineError (one sentence with the rebuild command) unless the engine fits this machine.

    Args:
        meta: the engine's sidecar.
        tensorrt_version: the running TensorRT's version (``tensorrt.__version__``).
        gpu_name: the current GPU's name.
        compute_capability: the current GPU's compute capability, e.g. ``"9.0"``.
        input_hw: the input size the caller needs, or None to accept the engine's.
        weights_sha256: the weights the caller wants, or None to accept the engine's.
        engine: the engine file, for the message.
    """
    where = Path(engine).name if engine is not None else meta.get("file", "the engine")
    out_dir = Path(engine).parent if engine is not None else None
    problems = []
    if meta.get("format") not in (None, "tensorrt"):
        problems.append(f"it is a {meta.get('format')} file, not a TensorRT engine")
    if str(meta.get("tensorrt_version")) != str(tensorrt_version):
        problems.append(f"it was built with TensorRT {meta.get('tensorrt_version')} but TensorRT {tensorrt_version} "
                        "is installed")
    built_gpu = (meta.get("gpu_name"), str(meta.get("compute_capability")))
    if built_gpu != (gpu_name, str(compute_capability)):
        problems.append(f"it was built for {built_gpu[0]} (compute capability {built_gpu[1]}) but this GPU is "
                        f"{gpu_name} (compute capability {compute_capability})")
    if input_hw is not None and meta.get("input_size") and tuple(meta["input_size"]) != tuple(input_hw):
        problems.append(f"its input size is {size_text(meta['input_size'])}, not {size_text(input_hw)}")
    if weights_sha256 is not None and meta.get("weights_sha256") != weights_sha256:
        problems.append(f"it was built from other weights (sha256 {str(meta.get('weights_sha256'))[:12]}…, "
                        f"wanted {weights_sha256[:12]}…)")
    if problems:
        wanted = dict(meta)
        if input_hw is not None:
            wanted["input_size"] = list(input_hw)
        raise EngineError(
            f"TensorRT engine {where} cannot be used: {'; '.join(problems)}; "
            f"rebuild it with '{rebuild_command(wanted, out_dir)}'."
        )


def engine_matches(meta: dict[str, Any], **machine: Any) -> bool:
    """True when :func:`check_engine` accepts ``meta`` for ``machine`` (same keyword arguments)."""
    try:
        check_engine(meta, **machine)
    except EngineError:
        return False
    return True


_legacy_noted: set[Path] = set()


def search_dirs(directory: str | os.PathLike) -> list[Path]:
    """The folders searched for artefacts of ``directory``: itself and, when it is the default engines folder, an
    ``./engines`` folder an older rtpose exported to (:func:`rtpose.settings.legacy_engines_dir`; said once)."""
    from rtpose.log import say
    from rtpose.settings import legacy_engines_dir

    directory = Path(directory)
    legacy = legacy_engines_dir()
    if legacy is None:
        return [directory]
    try:
        is_default = directory.resolve() == default_engines_dir().resolve()
    except OSError:
        is_default = False
    if not is_default:
        return [directory]
    if legacy not in _legacy_noted:
        _legacy_noted.add(legacy)
        say(f"note: also reading exports from {legacy} (an older rtpose's engines folder in the current directory); "
            f"new exports go to {directory} (move the files there, or set RTPOSE_ENGINES={legacy})")
    return [directory, legacy]


def find_artifacts(directory: str | os.PathLike, suffix: str) -> list[tuple[Path, dict[str, Any]]]:
    """``(artifact, sidecar)`` for every readable sidecar of a ``*suffix`` file in ``directory`` (and, for the
    default engines folder, in a legacy ``./engines``: :func:`search_dirs`)."""
    found = []
    for folder in search_dirs(directory):
        if not folder.is_dir():
            continue
        for side in sorted(folder.glob(f"*{suffix}.json")):
            artifact = side.with_name(side.name[: -len(".json")])
            if not artifact.is_file():
                continue
            try:
                found.append((artifact, read_sidecar(artifact)))
            except EngineError:
                continue
    return found
