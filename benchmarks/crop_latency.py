"""CPU latency of the pose model per person crop, and HRNet parameter counts.

    python benchmarks/crop_latency.py [--width 32] [--input-size 256x192] [--batches 1 8] [--threads N]

PyTorch, float32, eval mode, deterministic weights (the reference ``fill.py`` when ../shared is
present, else a fixed seed): accuracy does not matter for speed. Prints ms per forward call and
per crop for each batch size (median of several runs after warm-up), then the parameter counts of
HRNet-W18/W32/W48.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from reference_weights import deterministic_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from rtpose.models import HRNet


@torch.inference_mode()
def time_batch(model: HRNet, batch: int, input_hw: tuple[int, int], repeats: int, warmup: int) -> list[float]:
    x = torch.randn(batch, 3, *input_hw, generator=torch.Generator().manual_seed(0))
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--input-size", default="256x192")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    args = parser.parse_args()
    input_hw = tuple(int(v) for v in args.input_size.lower().split("x"))
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "")
    model = deterministic_model(args.width)
    print(f"HRNet-W{args.width} {input_hw[0]}x{input_hw[1]}, fp32, CPU")
    for batch in args.batches:
        times = time_batch(model, batch, input_hw, args.repeats, args.warmup)
        med = statistics.median(times) * 1000
        print(f"  batch {batch:>2}: {med:8.1f} ms per call, {med / batch:7.1f} ms per crop "
              f"(min {min(times) * 1000 / batch:.1f}, {args.repeats} runs)")
    print("parameters:")
    for width in (18, 32, 48):
        count = sum(p.numel() for p in HRNet(width=width).parameters())
        print(f"  HRNet-W{width}: {count:,}")


if __name__ == "__main__":
    main()
