"""Sidecars and the engine compatibility check (plain Python: runs everywhere, no TensorRT needed)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys

import pytest

from rtpose.errors import EngineError
from rtpose.export.pose_onnx import find_onnx
from rtpose.export.sidecar import (
    check_engine,
    read_sidecar,
    rebuild_command,
    sidecar_path,
    write_sidecar,
)
from rtpose.export.tensorrt import find_engine, gpu_slug
from rtpose.utils.hashing import file_sha256
from tests.conftest import ROOT

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
SHA = "ab" * 32
MACHINE = {"tensorrt_version": "10.13.3.9", "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


def engine_meta(**changes) -> dict:
    meta = {
        "format": "tensorrt",
        "weights": "/models/pose_hrnet_w32_256x192.pth",
        "weights_sha256": SHA,
        "model": "hrnet_w32",
        "input_size": [256, 192],
        "precision": "fp16",
        "batch_range": [1, 32],
        **MACHINE,
    }
    meta.update(changes)
    return meta


def test_round_trip(tmp_path):
    engine = tmp_path / "hrnet_w32_abababababab_256x192_fp16.engine"
    engine.write_bytes(b"not read here")
    path = write_sidecar(engine, engine_meta())
    assert path == sidecar_path(engine) == tmp_path / (engine.name + ".json")
    meta = read_sidecar(engine)
    assert meta == {"sidecar_version": 1, "file": engine.name, **engine_meta()}
    assert json.loads(path.read_text())["gpu_name"] == "NVIDIA H100 80GB HBM3"


def test_onnx_and_engine_sidecars_do_not_collide(tmp_path):
    assert sidecar_path(tmp_path / "m.onnx") != sidecar_path(tmp_path / "m.engine")


def test_missing_or_corrupt_sidecar_is_one_sentence(tmp_path):
    engine = tmp_path / "x.engine"
    with pytest.raises(EngineError, match="has no sidecar x.engine.json") as missing:
        read_sidecar(engine)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(EngineError, match="unreadable") as corrupt:
        read_sidecar(engine)
    for exc in (missing, corrupt):
        assert "\n" not in str(exc.value)


def test_matching_engine_passes():
    check_engine(engine_meta(), input_hw=(256, 192), weights_sha256=SHA, **MACHINE)
    check_engine(engine_meta(), **MACHINE)  # no size or weights wanted: the engine's own are fine


REBUILD = (
    "rebuild it with 'rtpose build-engine --fp16 --weights /models/pose_hrnet_w32_256x192.pth "
    "--input-size {size} --max-batch 32 --out /engines'."
)


@pytest.mark.parametrize(
    ("changes", "wanted", "says", "size"),
    [
        ({"tensorrt_version": "10.0.1.6"}, {}, "built with TensorRT 10.0.1.6 but TensorRT 10.13.3.9 is installed",
         "256x192"),
        ({"gpu_name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}, {},
         "built for NVIDIA GeForce RTX 4090 (compute capability 8.9) but this GPU is NVIDIA H100 80GB HBM3", "256x192"),
        ({"compute_capability": "8.0"}, {}, "(compute capability 8.0)", "256x192"),
        ({}, {"input_hw": (384, 288)}, "its input size is 256x192, not 384x288", "384x288"),
        ({}, {"weights_sha256": "cd" * 32}, "built from other weights (sha256 abababababab…, wanted cdcdcdcdcdcd…)",
         "256x192"),
    ],
    ids=["tensorrt-version", "gpu", "compute-capability", "input-size", "weights-hash"],
)
def test_mismatch_is_one_sentence_with_the_rebuild_command(changes, wanted, says, size):
    with pytest.raises(EngineError) as info:
        check_engine(engine_meta(**changes), engine="/engines/m.engine", **{**MACHINE, **wanted})
    message = str(info.value)
    assert message.startswith("TensorRT engine m.engine cannot be used: ")
    assert says in message
    assert message.endswith(REBUILD.format(size=size))
    assert "\n" not in message and message.count(". ") == 0  # one sentence


def test_several_mismatches_are_listed_in_the_same_sentence():
    with pytest.raises(EngineError) as info:
        check_engine(engine_meta(tensorrt_version="9.9"), input_hw=(384, 288), **MACHINE)
    assert "TensorRT 9.9" in str(info.value) and "not 384x288" in str(info.value)


def test_rebuild_command_for_fp32_and_onnx_built_engines():
    # build-engine builds FP16 by default, so rebuilding an FP32 engine must say --fp32.
    assert rebuild_command({"precision": "fp32", "onnx": "a b.onnx", "input_size": [256, 192]}) == (
        "rtpose build-engine --fp32 --onnx 'a b.onnx' --input-size 256x192"
    )
    with pytest.raises(EngineError) as info:
        check_engine(engine_meta(precision="fp32", tensorrt_version="10.0"), engine="/engines/m.engine", **MACHINE)
    assert "'rtpose build-engine --fp32 --weights " in str(info.value) and "--fp16" not in str(info.value)


def test_rebuild_command_parses_as_the_build_engine_command_it_names(tmp_path):
    """The suggested command, fed to build-engine's own parser, asks for the same precision and size."""
    import shlex

    from rtpose.cli import build_parser

    for precision in ("fp16", "fp32"):
        command = rebuild_command(engine_meta(precision=precision, input_size=[384, 288]), tmp_path)
        args = build_parser("build-engine").parse_args(shlex.split(command)[2:])
        assert args.fp16 == (precision == "fp16") and args.input_size == (384, 288) and args.max_batch == 32


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    from rtpose.export.sidecar import atomic_write_bytes

    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"old cache from TensorRT 10")
    atomic_write_bytes(cache, memoryview(b"new" * 1000))
    assert cache.read_bytes() == b"new" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timing.cache"]
    with pytest.raises(TypeError):
        atomic_write_bytes(cache, "not bytes")  # a failed write keeps the old file and removes its temporary
    assert cache.read_bytes() == b"new" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timing.cache"]


def test_file_sha256(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"hrnet" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"hrnet" * 1000).hexdigest()


def test_find_engine_picks_a_fitting_fp16_engine(tmp_path):
    """Engine selection reads sidecars only (the files are placeholders; nothing is deserialised)."""
    for name, changes in {
        "fp32.engine": {"precision": "fp32"},
        "fp16.engine": {},
        "other-gpu.engine": {"gpu_name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"},
        "other-size.engine": {"input_size": [384, 288], "batch_range": [1, 64]},
    }.items():
        (tmp_path / name).write_bytes(b"placeholder")
        write_sidecar(tmp_path / name, engine_meta(**changes))
    write_sidecar(tmp_path / "no-file.engine", engine_meta(batch_range=[1, 128]))
    assert find_engine(tmp_path, SHA, (256, 192), **MACHINE) == tmp_path / "fp16.engine"
    assert find_engine(tmp_path, "cd" * 32, (256, 192), **MACHINE) is None
    assert find_engine(tmp_path / "absent", SHA, (256, 192), **MACHINE) is None


def test_find_onnx_matches_weights_size_and_precision(tmp_path):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"placeholder")
    write_sidecar(onnx_file, {"format": "onnx", "weights_sha256": SHA, "input_size": [256, 192], "precision": "fp16"})
    assert find_onnx(SHA, (256, 192), "fp16", tmp_path) == onnx_file
    assert find_onnx(SHA, (256, 192), "fp32", tmp_path) is None
    assert find_onnx(SHA, (384, 288), "fp16", tmp_path) is None


def test_trt_extra_matches_torchs_cuda():
    from rtpose.runtime.tensorrt_runtime import trt_extra, trt_extra_problem

    assert (trt_extra("12"), trt_extra("13")) == ("trt-cu12", "trt-cu13")
    assert trt_extra_problem(torch_cuda="13", tensorrt_cuda="13") is None
    problem = trt_extra_problem(torch_cuda="13", tensorrt_cuda="12")
    assert problem == (
        "TensorRT is installed for CUDA 12 but torch was built for CUDA 13; uninstall tensorrt-cu12 and run "
        'pip install "rtpose[trt-cu13]".'
    )


def test_trt_extras_in_pyproject_pin_one_cuda_each():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["trt-cu12"] == ["tensorrt-cu12>=10,<12"]
    assert all(req.startswith("tensorrt-cu13") for req in extras["trt-cu13"])
    assert not any("pycuda" in req for name in extras for req in extras[name])


def test_gpu_slug():
    assert gpu_slug("NVIDIA H100 80GB HBM3") == "h100-80gb-hbm3"


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here, so the missing-TensorRT message cannot be shown")
def test_cli_build_engine_without_tensorrt_says_how_to_install(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"never read: the TensorRT check comes first")
    run = subprocess.run(
        [sys.executable, "-m", "rtpose", "build-engine", "--fp16", "--weights", str(weights), "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    from rtpose.runtime.tensorrt_runtime import INSTALL_HINT, trt_extra

    assert run.stderr.strip().splitlines() == [f"rtpose: error: {INSTALL_HINT}"]
    extra = trt_extra()
    assert f'"rtpose[{extra}]"' in INSTALL_HINT if extra else "built without CUDA" in INSTALL_HINT
    assert list(tmp_path.iterdir()) == [weights]  # nothing exported before failing


def test_cuda_device_names():
    from rtpose.runtime.tensorrt_runtime import cuda_index

    assert (cuda_index("auto"), cuda_index("cuda"), cuda_index("cuda:2")) == (0, 0, 2)
    with pytest.raises(EngineError, match="TensorRT runs on an NVIDIA GPU, not on 'cpu'"):
        cuda_index("cpu")


def test_gpu_info_without_a_gpu_is_one_sentence():
    import torch

    from rtpose.runtime.tensorrt_runtime import gpu_info, tensorrt_available

    if torch.cuda.is_available():
        name, capability = gpu_info(0)
        assert name == torch.cuda.get_device_name(0) and capability.count(".") == 1
        with pytest.raises(EngineError, match=f"There is no CUDA device 99 \\(found {torch.cuda.device_count()}\\)"):
            gpu_info(99)
    else:
        with pytest.raises(EngineError, match="TensorRT needs an NVIDIA GPU, and CUDA \\(through torch\\) finds none"):
            gpu_info(0)
        assert not tensorrt_available()
