"""Cost of each keypoint set on the CPU: HRNet forward and DARK decode per person crop, vs COCO-17.

    python benchmarks/keypoint_sets.py [--width 32] [--batch 2] [--repeats 5] [--threads 1]

PyTorch, float32, deterministic weights (the reference ``fill.py``; accuracy does not matter for speed),
each set at its published input size (256x256 for MPII and AP-10K, 384x288 for Halpe). The network differs
only in its last 1x1 convolution, so the forward cost is mostly the input size; the decode (argmax + DARK
on K heatmaps) grows with K. Prints median ms per crop and the ratio to COCO-17 at 256x192. One run; on a
shared machine the numbers move with the load average printed first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from reference_weights import deterministic_model  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from rtpose.pose.codec import HeatmapCodec
from rtpose.pose.keypoint_sets import KEYPOINT_SETS


def _median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}, "
          f"HRNet-W{args.width}, batch {args.batch}, fp32 CPU")
    print(f"{'set':<16}{'K':>4}{'input':>9}{'forward ms/crop':>17}{'decode ms/crop':>16}{'total vs coco':>15}")
    base = None
    for kset in KEYPOINT_SETS.values():
        model = deterministic_model(args.width, kset.num_keypoints)
        x = torch.randn(args.batch, 3, *kset.input_hw, generator=torch.Generator().manual_seed(0))
        forward = _median_ms(lambda m=model, x=x: m(x), args.repeats) / args.batch
        heatmaps = np.ascontiguousarray(model(x).numpy())
        codec = HeatmapCodec(input_hw=kset.input_hw)
        decode = _median_ms(lambda c=codec, h=heatmaps: c.decode(h), args.repeats) / args.batch
        total = forward + decode
        base = base or total
        h, w = kset.input_hw
        print(f"{kset.name:<16}{kset.num_keypoints:>4}{f'{h}x{w}':>9}{forward:>17.1f}{decode:>16.2f}"
              f"{total / base:>14.2f}x")


if __name__ == "__main__":
    main()
