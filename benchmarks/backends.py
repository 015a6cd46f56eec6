"""Crops per second of every pose backend this machine has, at several batch sizes (not a test).

    python benchmarks/backends.py [--weights W.pth] [--batches 1 4 8 16 32] [--iters N]
                                  [--backends torch-cpu onnxruntime-cpu ...] [--engines DIR] [--compile]

Each row times ``backend.infer(numpy batch) → numpy heatmaps`` (host-to-device and back included),
best of ``--iters`` calls after one warm-up call per batch size. Exception: the "device only" rows
(``torch-cuda-eager``/``-graph``/``-compile`` and ``tensorrt (device in/out)``, i.e.
``backend.infer_device`` on a CUDA tensor) time the network on a batch already on the GPU, which is
what the device-resident path (``rtpose.pose.device_ops``) sees. Default batches: 1–64 on a GPU, 1–32 on the CPU.

On a GPU it also prints the share of the physical limit: crops/s × FLOP per crop / the GPU's dense
FP16 tensor-core peak (table below, by GPU name). HRNet-W32 256x192 is ≈15.3 GFLOP per crop (the
count of the convolutions' multiply-adds × 2 is printed too).

Without ``--weights`` it uses W32 with the deterministic reference weights (speed does not depend on
the values). ONNX files (and a TensorRT engine, max batch = the largest batch) are made in
``--engines`` (default: a temporary folder) and reused when they are already there.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reference_weights import deterministic_weights  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

GFLOP_W32_256x192 = 15.3

#: Dense (no sparsity) FP16 tensor-core TFLOP/s, matched against the CUDA device name in this order.
GPU_FP16_TFLOPS = [
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
    ("V100", 125.0),
    ("T4", 65.0),
]


def gpu_peak_tflops(name: str) -> float | None:
    for key, tflops in GPU_FP16_TFLOPS:
        if key.lower() in name.lower():
            return tflops
    return None



def conv_gflops(model: torch.nn.Module, input_hw: tuple[int, int]) -> float:
    """2 × multiply-adds of every convolution for one crop (what the 15.3 GFLOP figure counts)."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        model(torch.zeros(1, 3, *input_hw))
    for h in handles:
        h.remove()
    return 2 * macs / 1e9


def time_call(fn: Callable[[], object], iters: int, sync: Callable[[], None] = lambda: None) -> float:
    """Best wall time of ``iters`` calls after one warm-up call."""
    fn()
    sync()
    best = float("inf")
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def make_backends(names: list[str], weights: Path, engines: Path, input_hw, max_batch: int) -> dict[str, object]:
    from rtpose.runtime.select import create_backend

    def ort(device: str, fp16: bool):
        return create_backend("onnxruntime", str(weights), device, input_hw, fp16, engines_dir=str(engines))

    out: dict[str, object] = {}
    for name in names:
        try:
            if name == "torch-cpu":
                out[name] = create_backend("torch", str(weights), device="cpu", input_hw=input_hw)
            elif name == "onnxruntime-cpu":
                out[name] = ort("cpu", False)
            elif name == "onnxruntime-cpu-fp16":
                out[name] = ort("cpu", True)
            elif name in ("openvino-cpu", "openvino-cpu-bf16"):
                from rtpose.export.pose_onnx import ensure_onnx
                from rtpose.runtime.openvino_runtime import OpenVinoBackend

                precision = "bf16" if name.endswith("bf16") else "fp32"
                out[name] = OpenVinoBackend(ensure_onnx(weights, input_hw, out_dir=engines), precision=precision)
            elif name == "onnxruntime-cuda":
                out[name] = ort("cuda", False)
            elif name == "torch-cuda":
                out[name] = create_backend("torch", str(weights), device="cuda", input_hw=input_hw, fp16=True)
            elif name == "tensorrt":
                from rtpose.export.pose_onnx import ensure_onnx
                from rtpose.export.tensorrt import build_engine, find_engine
                from rtpose.runtime.tensorrt_runtime import TensorRTBackend, gpu_info, import_tensorrt
                from rtpose.utils.hashing import file_sha256

                gpu, cc = gpu_info(0)
                engine = find_engine(engines, file_sha256(weights), input_hw, import_tensorrt().__version__, gpu, cc)
                if engine is None or TensorRTBackend(engine).max_batch < max_batch:
                    onnx_path = ensure_onnx(weights, input_hw, fp16=True, out_dir=engines)
                    engine = build_engine(onnx_path, out_dir=engines, max_batch=max_batch, opt_batch=max_batch)
                out[name] = TensorRTBackend(engine)
        except Exception as exc:  # a benchmark reports what it could not run and goes on
            print(f"  {name}: skipped ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]})")
    return out


def torch_device_variants(weights: Path, input_hw, batches: list[int], iters: int, compile_too: bool):
    """Device-only timings for PyTorch CUDA FP16 channels-last: eager, CUDA graph, torch.compile."""
    from rtpose.weights.pose import load_pose_model

    model = load_pose_model(weights).cuda().half().to(memory_format=torch.channels_last).eval()
    results: dict[str, dict[int, float]] = {"torch-cuda-eager (device only)": {}, "torch-cuda-graph (device only)": {}}
    compiled = None
    if compile_too:
        results["torch-cuda-compile (device only)"] = {}
        compiled = torch.compile(model, mode="max-autotune-no-cudagraphs")
    sync = torch.cuda.synchronize
    with torch.inference_mode():
        for batch in batches:
            x = torch.randn(batch, 3, *input_hw, device="cuda").half().to(memory_format=torch.channels_last)
            results["torch-cuda-eager (device only)"][batch] = time_call(lambda x=x: model(x), iters, sync)
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    model(x)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model(x)
            results["torch-cuda-graph (device only)"][batch] = time_call(graph.replay, iters, sync)
            if compiled is not None:
                for _ in range(2):
                    compiled(x)
                results["torch-cuda-compile (device only)"][batch] = time_call(lambda x=x: compiled(x), iters, sync)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="HRNet checkpoint (default: W32 reference weights)")
    parser.add_argument("--width", type=int, default=32, help="HRNet width without --weights (default: 32)")
    parser.add_argument("--input-size", default="256x192", help="HxW (default: 256x192)")
    parser.add_argument("--batches", type=int, nargs="+", default=None,
                        help="batch sizes (default: 1 4 8 16 32 64 on a GPU, 1 4 8 16 32 on the CPU)")
    parser.add_argument("--iters", type=int, default=None, help="timed calls per batch (default: 1 on CPU, 20 on GPU)")
    parser.add_argument("--backends", nargs="+", default=None,
                        help="torch-cpu onnxruntime-cpu onnxruntime-cpu-fp16 openvino-cpu openvino-cpu-bf16 torch-cuda "
                             "onnxruntime-cuda tensorrt (default: all that can run here)")
    parser.add_argument("--engines", type=Path, default=None, help="folder for ONNX files and engines (default: temp)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile on CUDA (slow to compile)")
    args = parser.parse_args()
    input_hw = tuple(int(v) for v in args.input_size.lower().split("x"))
    cuda = torch.cuda.is_available()
    args.batches = args.batches or ([1, 4, 8, 16, 32, 64] if cuda else [1, 4, 8, 16, 32])
    iters = args.iters or (20 if cuda else 1)
    engines = args.engines or Path(tempfile.mkdtemp(prefix="rtpose-bench-"))
    engines.mkdir(parents=True, exist_ok=True)
    weights = args.weights or deterministic_weights(args.width, engines)

    from rtpose.runtime.onnxruntime_runtime import available_providers, cpu_threads
    from rtpose.runtime.tensorrt_runtime import tensorrt_available
    from rtpose.weights.pose import load_pose_model

    names = args.backends
    if names is None:
        names = ["torch-cpu", "onnxruntime-cpu"]
        if importlib.util.find_spec("openvino") is not None:
            from rtpose.runtime.openvino_runtime import cpu_has_bf16

            names += ["openvino-cpu"] + (["openvino-cpu-bf16"] if cpu_has_bf16() else [])
        if cuda:
            names = ["torch-cuda"] + (["onnxruntime-cuda"] if "CUDAExecutionProvider" in available_providers() else [])
            names += ["tensorrt"] if tensorrt_available() else []
    model = load_pose_model(weights)
    gflop = conv_gflops(model, input_hw)
    gpu = torch.cuda.get_device_name(0) if cuda else None
    peak = gpu_peak_tflops(gpu) if gpu else None
    print(f"HRNet-W{model.width} {input_hw[0]}x{input_hw[1]}: {gflop:.2f} GFLOP per crop by conv count "
          f"(issue figure for W32 256x192: {GFLOP_W32_256x192}); torch {torch.__version__}")
    print(f"machine: {platform.processor() or platform.machine()}, {cpu_threads()} CPU threads"
          + (f", GPU {gpu} (dense FP16 peak {peak} TFLOP/s)" if gpu else ", no CUDA GPU"))
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"timing: best of {iters} call(s) after a warm-up call, per batch size{load}")
    backends = make_backends(names, weights, engines, input_hw, max(args.batches))

    rng = np.random.default_rng(0)
    results: dict[str, dict[int, float]] = {f"{name} [{b.device}]": {} for name, b in backends.items()}
    # Batch-major order: the backends are timed side by side, so a busy machine skews them alike.
    for batch in args.batches:
        crops = rng.standard_normal((batch, 3, *input_hw), dtype=np.float32)
        for (name, backend), row in zip(backends.items(), results.values()):
            if batch > backend.max_batch:
                continue
            row[batch] = time_call(lambda b=backend, c=crops: b.infer(c), iters)
            print(f"  {name:<22} batch {batch:>3}: {batch / row[batch]:10.1f} crops/s  "
                  f"({1000 * row[batch] / batch:.2f} ms/crop)", flush=True)
    for name, backend in backends.items():
        if not (cuda and hasattr(backend, "infer_device") and name == "tensorrt"):
            continue
        row = results[f"{name} (device in/out) [{backend.device}]"] = {}
        for batch in args.batches:
            if batch > backend.max_batch:
                continue
            x = torch.randn(batch, 3, *input_hw, device=backend.torch_device)
            row[batch] = time_call(lambda b=backend, x=x: b.infer_device(x), iters, torch.cuda.synchronize)
    if cuda and (args.backends is None or "torch-cuda" in args.backends):
        results.update(torch_device_variants(weights, input_hw, args.batches, iters, args.compile))

    flop = (GFLOP_W32_256x192 if (model.width, input_hw) == (32, (256, 192)) else gflop) * 1e9
    print()
    cell = 17 if peak else 10
    print("crops/s" + (f"  (in brackets: share of the {peak:g} TFLOP/s dense FP16 peak)" if peak else ""))
    print(f"{'backend':<64}" + "".join(f"{'batch ' + str(b):>{cell}}" for b in args.batches))
    for name, row in results.items():
        cells = []
        for batch in args.batches:
            if batch not in row:
                cells.append(f"{'-':>{cell}}")
                continue
            rate = batch / row[batch]
            text = f"{rate:.1f}" if not peak else f"{rate:.0f} ({100 * rate * flop / (peak * 1e12):.1f}%)"
            cells.append(f"{text:>{cell}}")
        print(f"{name[:63]:<64}" + "".join(cells))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
