"""Training speed of HRNet (images/s): forward + target-weighted MSE + backward + Adam step.

    python benchmarks/train_speed.py                      # W32 256x192, batch 8, CPU (+ CUDA/AMP if present)
    python benchmarks/train_speed.py --width 48 --input-size 384x288 --batch 4 --iters 3

Measures the model step alone on random crops with real-shaped targets (data loading excluded; the
loader runs in parallel worker processes during real training), then the data pipeline alone
(crops, augmentation and targets per second on one core) from ../shared/data/coco_train_mini.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rtpose.models import HRNet  # noqa: E402
from train.loss import JointsMSELoss  # noqa: E402

TRAIN_MINI = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared")) / "data" / "coco_train_mini"


def step_speed(width: int, input_hw: tuple[int, int], batch: int, iters: int, device: str, amp: bool) -> float:
    torch.manual_seed(0)
    dev = torch.device(device)
    model = HRNet(width=width).to(dev).train()
    model.init_weights()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    crit = JointsMSELoss()
    x = torch.randn(batch, 3, *input_hw, device=dev)
    target = torch.rand(batch, 17, input_hw[0] // 4, input_hw[1] // 4, device=dev)
    weight = torch.ones(batch, 17, 1, device=dev)

    def step() -> None:
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=amp):
            out = model(x)
        loss = crit(out.float(), target, weight)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(2 if dev.type == "cpu" else 10):  # warm-up
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return batch * iters / (time.perf_counter() - start)


def data_speed(input_hw: tuple[int, int], samples: int) -> float | None:
    ann = TRAIN_MINI / "person_keypoints_train2017.json"
    if not ann.is_file():
        return None
    from train.augment import AugmentConfig
    from train.dataset import CocoKeypoints

    ds = CocoKeypoints(ann, TRAIN_MINI / "train2017", input_hw, augment=AugmentConfig())
    start = time.perf_counter()
    for i in range(samples):
        ds[i % len(ds)]
    return samples / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--input-size", default="256x192")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--iters", type=int, default=3, help="timed CPU steps (CUDA runs 10x as many)")
    p.add_argument("--cuda-batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="PyTorch CPU threads")
    args = p.parse_args()
    hw = tuple(int(v) for v in args.input_size.lower().split("x"))
    torch.set_num_threads(args.threads)
    print(f"HRNet-W{args.width} {hw[0]}x{hw[1]} training step (forward + loss + backward + Adam)")
    cpu = step_speed(args.width, hw, args.batch, args.iters, "cpu", amp=False)
    print(f"  cpu ({torch.get_num_threads()} threads), fp32, batch {args.batch}: {cpu:.2f} images/s")
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        for amp in (True, False):
            speed = step_speed(args.width, hw, args.cuda_batch, args.iters * 10, "cuda", amp=amp)
            print(f"  cuda ({name}), {'AMP fp16' if amp else 'fp32'}, batch {args.cuda_batch}: {speed:.1f} images/s")
    else:
        print("  cuda: not available on this machine")
    loader = data_speed(hw, 40)
    if loader is not None:
        print(f"data pipeline (read JPEG + augment + crop + targets), one process: {loader:.1f} samples/s")


if __name__ == "__main__":
    main()
