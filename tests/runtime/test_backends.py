"""Every backend this machine has gives the same heatmaps and keypoints on the real reference crops.

Reference: PyTorch float32 on the CPU with the reference W32 weights (itself checked against the
official code in test_hrnet.py). Tolerances:
- FP32 backends: max |Δheatmap| < 1e-4 and identical argmax keypoints (DARK positions within 1e-3 px).
- FP16 backends: max |Δheatmap| < 1% of the largest |heatmap|; the same argmax keypoints except where a
  heatmap has two peaks equal within that tolerance; ≥ 95% of DARK-refined keypoints within 0.1 heatmap
  px (rtpose.export.verify.fp16_close).
CUDA and TensorRT tests skip themselves where there is no GPU or no TensorRT.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from rtpose.errors import EngineError, RtposeError
from rtpose.export.verify import FP16_RTOL, FP32_ATOL, compare_heatmaps, fp16_close
from rtpose.runtime.onnxruntime_runtime import available_providers
from rtpose.runtime.openvino_runtime import openvino_available
from rtpose.runtime.select import create_backend  # the public wrapper without engines_dir (see issue note)
from rtpose.runtime.tensorrt_runtime import INSTALL_HINT, tensorrt_available
from tests.support.backend_helpers import engines_dir, exported, reference_crops

pytestmark = pytest.mark.slow

HAS_CUDA = torch.cuda.is_available()
HAS_TENSORRT_MODULE = importlib.util.find_spec("tensorrt") is not None
HAS_TENSORRT = tensorrt_available()
HAS_OPENVINO = openvino_available()
NO_CUDA = "needs a CUDA GPU (none here)"
NO_TENSORRT = "needs TensorRT and an NVIDIA GPU (pip install 'rtpose[trt-cu12]' or '[trt-cu13]' on a GPU machine)"


@pytest.fixture(scope="module")
def torch_heatmaps(reference_model):
    with torch.inference_mode():
        return reference_model(torch.from_numpy(reference_crops())).numpy()


def assert_same_as_fp32(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == np.float32
    diff = compare_heatmaps(expected, got, (256, 192))
    assert diff["max_abs_diff"] < FP32_ATOL, diff
    assert diff["argmax_mismatches"] == 0 and diff["max_keypoint_diff"] < 1e-3, diff


def assert_fp16_close(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == np.float32
    limit = FP16_RTOL * np.abs(expected).max()
    diff = compare_heatmaps(expected, got, (256, 192), tie_tol=limit)
    assert fp16_close(diff, limit), diff


def test_torch_cpu(reference_weights, torch_heatmaps):
    backend = create_backend("torch", weights=str(reference_weights), device="cpu")
    assert (backend.name, backend.device, backend.input_hw) == ("torch", "cpu fp32", (256, 192))
    assert backend.reason == "requested with backend='torch'"
    assert_same_as_fp32(torch_heatmaps, backend.infer(reference_crops()))


def test_onnxruntime_cpu_fp32(reference_weights, torch_heatmaps):
    exported(reference_weights, fp16=False)
    backend = create_backend("onnxruntime", weights=str(reference_weights), device="cpu", engines_dir=engines_dir())
    assert backend.name == "onnxruntime" and backend.device.startswith("cpu (CPUExecutionProvider")
    assert backend.device.endswith("fp32") and backend.input_hw == (256, 192)
    assert_same_as_fp32(torch_heatmaps, backend.infer(reference_crops()))


def test_onnxruntime_cpu_fp16_graph(reference_weights, torch_heatmaps):
    """ONNX Runtime's CPU provider runs the FP16 graph (the one TensorRT builds), so FP16 is checked here too."""
    exported(reference_weights, fp16=True)
    backend = create_backend(
        "onnxruntime", weights=str(reference_weights), device="cpu", fp16=True, engines_dir=engines_dir()
    )
    assert backend.device.endswith("fp16")
    assert_fp16_close(torch_heatmaps, backend.infer(reference_crops()))


@pytest.mark.skipif(not HAS_OPENVINO, reason="OpenVINO (optional: pip install openvino) is not installed")
def test_openvino_cpu_fp32(reference_weights, torch_heatmaps):
    exported(reference_weights, fp16=False)
    backend = create_backend("openvino", weights=str(reference_weights), device="cpu", engines_dir=engines_dir(),
                             precision="fp32")
    assert backend.name == "openvino" and backend.device.startswith("cpu (OpenVINO") and backend.device.endswith("fp32")
    assert_same_as_fp32(torch_heatmaps, backend.infer(reference_crops()))


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU choice; this machine has a CUDA GPU")
def test_auto_picks_the_fastest_cpu_backend_and_says_why(reference_weights, torch_heatmaps):
    exported(reference_weights, fp16=False)
    backend = create_backend("auto", weights=str(reference_weights), engines_dir=engines_dir())
    fastest = "openvino" if HAS_OPENVINO else "onnxruntime"
    assert backend.name == fastest and backend.device.startswith("cpu")
    import rtpose.runtime.select as select

    why = select.OPENVINO_REASON if HAS_OPENVINO else select.ONNXRUNTIME_REASON
    assert backend.reason.startswith(f"auto: no CUDA GPU; {why}") and "measured" not in backend.reason
    if getattr(backend, "precision", "fp32") == "bf16":  # OpenVINO on a CPU with BF16: the BF16 rule
        from rtpose.runtime.openvino_runtime import bf16_compare

        ok, diff, rule = bf16_compare(torch_heatmaps, backend.infer(reference_crops()), (256, 192))
        assert ok, (diff, rule)
    else:
        assert_same_as_fp32(torch_heatmaps[:2], backend.infer(reference_crops()[:2]))


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU choice; this machine has a CUDA GPU")
def test_auto_without_openvino_picks_onnxruntime(reference_weights, monkeypatch):
    import rtpose.runtime.select as select

    exported(reference_weights, fp16=False)
    monkeypatch.setattr(select, "PREFER_OPENVINO_ON_CPU", False)
    backend = create_backend("auto", weights=str(reference_weights), engines_dir=engines_dir())
    assert backend.name == "onnxruntime"
    assert backend.reason == f"auto: no CUDA GPU; {select.ONNXRUNTIME_REASON}"


def test_public_create_backend_uses_rtpose_engines(reference_weights, monkeypatch):
    from rtpose.runtime import create_backend as public_create_backend

    onnx_path = exported(reference_weights, fp16=False)
    monkeypatch.setenv("RTPOSE_ENGINES", str(engines_dir()))
    backend = public_create_backend("onnxruntime", weights=str(reference_weights), device="cpu")
    assert backend.onnx_path == onnx_path


def test_auto_exports_onnx_once_and_says_so(small_weights, tmp_path, capsys):
    first = create_backend("auto", weights=str(small_weights), device="cpu", input_hw=(128, 96), engines_dir=tmp_path,
                           precision="fp32")  # float32 everywhere, so the FP32 tolerance below applies
    said = capsys.readouterr().err
    assert "exporting it once" in said and str(tmp_path) in said
    again = create_backend("auto", weights=str(small_weights), device="cpu", input_hw=(128, 96), engines_dir=tmp_path,
                           precision="fp32")
    assert capsys.readouterr().err == ""
    assert again.onnx_path == first.onnx_path and first.input_hw == (128, 96)
    crops = np.random.default_rng(0).normal(size=(2, 3, 128, 96)).astype(np.float32)
    expected = create_backend("torch", weights=str(small_weights), device="cpu", input_hw=(128, 96)).infer(crops)
    assert np.abs(again.infer(crops) - expected).max() < FP32_ATOL


def test_weights_may_be_an_onnx_file(reference_weights):
    onnx_path = exported(reference_weights, fp16=False)
    backend = create_backend("auto", weights=str(onnx_path))
    assert backend.name == "onnxruntime" and backend.reason == f"the weights are an ONNX file ({onnx_path.name})"
    with pytest.raises(RtposeError, match="only backend='onnxruntime' or backend='openvino' runs directly"):
        create_backend("torch", weights=str(onnx_path))


def test_engine_file_needs_the_tensorrt_backend(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"placeholder")
    with pytest.raises(RtposeError, match="is a TensorRT engine, which only backend='tensorrt' runs directly"):
        create_backend("onnxruntime", weights=str(engine))


@pytest.mark.skipif(HAS_TENSORRT_MODULE, reason="TensorRT is installed here")
def test_tensorrt_without_tensorrt_says_how_to_install(reference_weights, tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"placeholder")
    for weights in (engine, reference_weights):
        with pytest.raises(EngineError) as info:
            create_backend("tensorrt", weights=str(weights), engines_dir=tmp_path)
        assert str(info.value) == INSTALL_HINT


@pytest.mark.skipif(HAS_TENSORRT_MODULE, reason="needs a machine where the TensorRT engine lookup fails")
def test_auto_falls_back_with_the_reason_when_the_engine_lookup_raises(reference_weights, monkeypatch):
    """auto used to abort when the lookup raised; here the real lookup raises (TensorRT cannot be imported)."""
    import rtpose.runtime.tensorrt_runtime as trt_backend

    exported(reference_weights, fp16=False)
    monkeypatch.setattr(trt_backend, "tensorrt_available", lambda: True)  # as if the module imported and a GPU
    backend = create_backend("auto", weights=str(reference_weights), device="cuda:3", engines_dir=engines_dir())
    assert backend.name in ("openvino", "onnxruntime", "torch")
    assert backend.reason.startswith(f"auto: the TensorRT engine lookup failed: {INSTALL_HINT.rstrip('.')}; ")


def test_onnxruntime_cuda_request_that_ends_on_the_cpu_is_refused():
    from rtpose.runtime.onnxruntime_runtime import provider_problem

    active = ["CPUExecutionProvider"]
    problem = provider_problem("cuda:1", True, active)
    assert problem.startswith("ONNX Runtime was asked for cuda:1 but its CUDA provider did not load (active: "
                              "CPUExecutionProvider)")
    assert "\n" not in problem and problem.count(". ") == 0
    assert provider_problem("cuda", True, ["CUDAExecutionProvider", "CPUExecutionProvider"]) is None
    assert provider_problem("auto", False, active) is None  # auto may fall back (and says so in its reason)


@pytest.mark.skipif("CUDAExecutionProvider" in available_providers(), reason="this ONNX Runtime has a CUDA provider")
def test_onnxruntime_cuda_without_the_provider_is_one_sentence(reference_weights):
    onnx_path = exported(reference_weights, fp16=False)
    with pytest.raises(EngineError, match="ONNX Runtime has no CUDA provider here: install onnxruntime-gpu"):
        create_backend("onnxruntime", weights=str(onnx_path), device="cuda")


def test_two_onnxruntime_wheels_are_refused_for_cuda_and_warned_about():
    from rtpose.runtime.onnxruntime_runtime import installed_onnxruntime_packages, onnxruntime_conflict

    assert onnxruntime_conflict(["onnxruntime"]) is None
    both = onnxruntime_conflict(["onnxruntime", "onnxruntime-gpu"])
    assert both == (
        "onnxruntime and onnxruntime-gpu are both installed and overwrite each other's files, so the CUDA provider "
        "may be missing or broken; run pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu."
    )
    assert "onnxruntime" in installed_onnxruntime_packages()  # this machine's real wheel is seen


def test_bad_requests_are_one_sentence(reference_weights, tmp_path):
    with pytest.raises(RtposeError, match="Unknown backend='tflite'"):
        create_backend("tflite", weights=str(reference_weights))
    with pytest.raises(RtposeError, match="does not exist"):
        create_backend("auto", weights=str(tmp_path / "missing.pth"))


# -- GPU paths: run where a GPU (and TensorRT) is lent ---------------------------------------------


@pytest.mark.skipif(not HAS_CUDA, reason=NO_CUDA)
def test_torch_cuda_fp16(reference_weights, torch_heatmaps):
    backend = create_backend("torch", weights=str(reference_weights), device="cuda")
    assert backend.fp16 and backend.device.endswith("fp16") and backend.channels_last
    got = backend.infer(reference_crops())
    assert got.flags["C_CONTIGUOUS"]  # the channels-last network's output comes back as NCHW
    assert_fp16_close(torch_heatmaps, got)
    on_device = backend.infer_device(torch.from_numpy(reference_crops()).cuda())
    assert on_device.is_cuda and on_device.is_contiguous() and on_device.dtype == torch.float32


@pytest.mark.skipif(not HAS_CUDA or HAS_TENSORRT, reason="needs a CUDA GPU without TensorRT")
def test_auto_on_a_gpu_without_tensorrt_uses_torch_cuda(reference_weights):
    backend = create_backend("auto", weights=str(reference_weights), engines_dir=engines_dir())
    assert backend.name == "torch" and backend.fp16
    assert backend.reason.startswith("auto: PyTorch on CUDA because no TensorRT engine can be used")


@pytest.mark.skipif("CUDAExecutionProvider" not in available_providers(), reason="needs onnxruntime-gpu and a GPU")
def test_onnxruntime_cuda_fp32(reference_weights, torch_heatmaps):
    exported(reference_weights, fp16=False)
    backend = create_backend("onnxruntime", weights=str(reference_weights), device="cuda", engines_dir=engines_dir())
    assert backend.session.get_providers()[0] == "CUDAExecutionProvider"  # not a silent CPU fallback
    assert backend.device.startswith("cuda:0 (CUDAExecutionProvider)")
    got = backend.infer(reference_crops())
    # cuDNN may use TF32 or other algorithms: FP16-level tolerance, not the bit-near FP32 one.
    assert_fp16_close(torch_heatmaps, got)


@pytest.fixture(scope="module")
def fp16_engine(reference_weights):
    from rtpose.export.tensorrt import build_engine

    return build_engine(exported(reference_weights, fp16=True), out_dir=engines_dir(), max_batch=8,
                        log=lambda message: None)


@pytest.mark.skipif(not HAS_TENSORRT, reason=NO_TENSORRT)
def test_tensorrt_fp16_engine(fp16_engine, reference_weights, torch_heatmaps):
    from rtpose.export.sidecar import read_sidecar
    from rtpose.utils.hashing import file_sha256

    meta = read_sidecar(fp16_engine)
    assert meta["precision"] == "fp16" and meta["batch_range"] == [1, 8] and meta["input_size"] == [256, 192]
    assert meta["weights_sha256"] == file_sha256(reference_weights)
    backend = create_backend("tensorrt", weights=str(fp16_engine))
    assert backend.name == "tensorrt" and backend.max_batch == 8
    assert_fp16_close(torch_heatmaps, backend.infer(reference_crops()))
    for batch in (1, 3, 8):  # the dynamic batch profile
        index = np.arange(batch) % 4
        assert_fp16_close(torch_heatmaps[index], backend.infer(reference_crops()[index]))


@pytest.mark.skipif(not HAS_TENSORRT, reason=NO_TENSORRT)
def test_auto_picks_a_matching_engine(fp16_engine, reference_weights):
    backend = create_backend("auto", weights=str(reference_weights), engines_dir=engines_dir())
    assert backend.name == "tensorrt" and backend.engine_path == fp16_engine
    assert backend.reason.startswith("auto: a TensorRT engine built for this GPU and these weights")


@pytest.mark.skipif(not HAS_TENSORRT, reason=NO_TENSORRT)
def test_tensorrt_from_a_worker_thread_and_closed_from_another(fp16_engine, torch_heatmaps):
    import threading

    from rtpose.runtime.tensorrt_runtime import TensorRTBackend

    results: dict[str, object] = {}

    def work() -> None:
        try:
            backend = TensorRTBackend(fp16_engine)
            results["heatmaps"] = backend.infer(reference_crops())
            results["device"] = backend.infer_device(torch.from_numpy(reference_crops()).cuda()).cpu().numpy()
            results["backend"] = backend
        except Exception as exc:  # reported in the main thread
            results["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert "error" not in results, results.get("error")
    assert_fp16_close(torch_heatmaps, results["heatmaps"])
    assert_fp16_close(torch_heatmaps, results["device"])
    backend = results["backend"]
    free_before = torch.cuda.mem_get_info()[0]
    backend.close()  # from the main thread: TensorRT objects and torch buffers go
    torch.cuda.empty_cache()
    assert torch.cuda.mem_get_info()[0] >= free_before
    with pytest.raises(EngineError, match="is closed"):
        backend.infer(reference_crops())
    backend.close()  # idempotent


@pytest.mark.skipif(not HAS_TENSORRT, reason=NO_TENSORRT)
def test_tensorrt_fp32_engine(reference_weights, torch_heatmaps, tmp_path):
    from rtpose.export.sidecar import read_sidecar, rebuild_command
    from rtpose.export.tensorrt import build_engine

    engine = build_engine(exported(reference_weights, fp16=False), out_dir=tmp_path, max_batch=4,
                          log=lambda message: None)
    meta = read_sidecar(engine)
    assert meta["precision"] == "fp32" and "--fp32" in rebuild_command(meta)
    backend = create_backend("tensorrt", weights=str(engine))
    assert backend.device.split(")")[1].strip().startswith("fp32")
    # TF32 may be used by TensorRT's FP32 kernels: FP16-level rule.
    assert_fp16_close(torch_heatmaps, backend.infer(reference_crops()))
    backend.close()


@pytest.mark.skipif(not HAS_TENSORRT, reason=NO_TENSORRT)
def test_tensorrt_build_with_a_stale_timing_cache(reference_weights, tmp_path):
    from rtpose.export.tensorrt import TIMING_CACHE, build_engine

    cache = tmp_path / TIMING_CACHE
    cache.write_bytes(b"TensorRT 10 timing cache, or garbage" * 100)
    said: list[str] = []
    engine = build_engine(exported(reference_weights, fp16=True), out_dir=tmp_path, max_batch=2, log=said.append)
    assert engine.is_file()
    assert any("starting an empty timing cache" in line for line in said), said
    assert cache.read_bytes() != b"TensorRT 10 timing cache, or garbage" * 100  # replaced by a real one
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    said.clear()
    build_engine(exported(reference_weights, fp16=True), out_dir=tmp_path, max_batch=2, log=said.append)
    assert any(line.startswith("reusing timing cache") for line in said), said


def test_a_new_backend_is_one_table_entry(monkeypatch, small_weights, tmp_path, capsys):
    """One BackendSpec in BACKENDS: --backend accepts it, create_backend builds it, the viewer offers it."""
    import json

    from rtpose.cli import main
    from rtpose.runtime import select
    from rtpose.runtime.torch_runtime import TorchBackend
    from rtpose.weights.pose import load_pose_model
    from tests.conftest import BUS, DETECTOR_WEIGHTS

    class ThreadedTorch(TorchBackend):  # a backend of its own name (here: PyTorch underneath)
        name = "threaded-torch"

    def build(request):
        return ThreadedTorch(load_pose_model(request.path), device="cpu", input_hw=request.input_hw)

    monkeypatch.setitem(select.BACKENDS, "threaded-torch", select.BackendSpec("threaded-torch", "torch", build))
    backend = create_backend("threaded-torch", weights=str(small_weights))
    assert backend.name == "threaded-torch" and backend.reason == "requested with backend='threaded-torch'"
    assert "threaded-torch" in select.available_backends() and "threaded-torch" in select.backend_names()
    out = tmp_path / "bus.json"
    assert main(["--source", str(BUS), "--weights", str(small_weights), "--backend", "threaded-torch",
                 "--detector", str(DETECTOR_WEIGHTS), "--no-show", "--json", str(out)]) == 0
    assert "pose backend threaded-torch" in capsys.readouterr().err
    assert len(json.loads(out.read_text())["people"]) == 4  # (the viewer's list: tests/gui/test_gui.py)
