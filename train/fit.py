"""``python -m train.fit``: train or fine-tune HRNet on COCO-format keypoints (top-down, GT boxes), or person masks.

Examples::

    python -m train.fit --config hrnet_w32_256x192 --data-root /data/coco --output runs/w32
    python -m train.fit --config hrnet_w48_384x288 --data-root /data/coco --pretrained hrnet_w48-8ef0771d.pth
    python -m train.fit --data-root /data/mydata --train-ann ann/train.json --train-images images \\
        --val-ann ann/val.json --val-images images --weights pose_hrnet_w32_256x192.pth --epochs 20 --lr 1e-4
    python -m train.fit --resume runs/w32/last.pth
    python -m train.fit --task person-mask --data-root /data/coco --output runs/mask_w18

Two tasks, one loop: ``pose`` (the default; every pose config) and ``person_mask`` (config key ``task``, or
``--task person-mask``, whose bundled config is ``hrnet_w18_person_mask``): HRNetV2 segmentation trained on
the ``segmentation`` fields of COCO person annotations, validated by person IoU (:mod:`train.seg_task`).

Each epoch writes ``OUTPUT/last.pth`` atomically (``--resume`` continues from it exactly); validation
COCO AP (every ``val.interval`` epochs and after the last) keeps the best model in ``OUTPUT/best.pth``,
which ``rtpose --weights OUTPUT/best.pth`` loads (a person-mask run: the best person IoU, which
``rtpose --seg person --seg-weights OUTPUT/best.pth`` loads). Per-epoch metrics go to ``OUTPUT/metrics.csv`` (and
TensorBoard under ``OUTPUT/tb`` when it is installed).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from rtpose.cli.common import declare_roles, declare_text
from rtpose.engine.signals import stop_on_signals
from rtpose.errors import RtposeError
from rtpose.export.sidecar import atomic_write_bytes
from rtpose.models import HRNet
from rtpose.options.schema import INPUT_FILE, INPUT_FOLDER, OUTPUT_FOLDER
from rtpose.runtime.torch_runtime import resolve_torch_device
from rtpose.weights.pose import extract_state_dict, infer_architecture, load_state_dict_strict, read_checkpoint
from train import seg_task
from train.augment import AugmentConfig
from train.checkpoint import (
    BEST,
    LAST,
    clean_temporaries,
    load_imagenet_backbone,
    load_training_checkpoint,
    rng_state,
    save_atomic,
    set_rng_state,
)
from train.config import (
    DEFAULT_CONFIG,
    ConfigError,
    data_path,
    dump_config,
    load_config,
    merged,
    parse_override,
    train_data,
)
from train.dataset import CocoKeypoints, DataError
from train.loss import JointsMSELoss

PROG = "train.fit"

CSV_FIELDS = ("epoch", "lr", "loss", "images_per_s", "epoch_s", "AP", "AP50", "AP75", "APm", "APl", "AR")


# ----------------------------------------------------------------------------------------------------
# model initialisation
# ----------------------------------------------------------------------------------------------------
def build_model(config: dict, log: Callable[[str], None] = print) -> HRNet:
    """An HRNet initialised from scratch, from an ImageNet backbone, or from a pose checkpoint."""
    m = config["model"]
    width, joints = int(m["width"]), int(m["num_joints"])
    if m.get("weights"):
        state = extract_state_dict(read_checkpoint(m["weights"]))
        file_width, file_joints = infer_architecture(state)
        if (file_width, file_joints) != (width, joints):
            raise ConfigError(
                f"{m['weights']} holds HRNet-W{file_width} with {file_joints} joints but the config asks for "
                f"W{width} with {joints}; pass --width {file_width} (or another --weights)."
            )
        model = HRNet(width=width, num_joints=joints)
        load_state_dict_strict(model, state, source=str(m["weights"]))
        log(f"{PROG}: fine-tuning from {m['weights']} (all {len(state)} tensors loaded)")
        return model
    model = HRNet(width=width, num_joints=joints)
    model.init_weights()
    if m.get("pretrained"):
        report = load_imagenet_backbone(model, m["pretrained"])
        log(
            f"{PROG}: ImageNet backbone {m['pretrained']}: loaded {report['loaded']} of {report['model_tensors']} "
            f"model tensors; ignored {report['ignored_unknown']} file tensors not in the pose model and "
            f"{report['ignored_shape']} of another shape; {report['not_in_file']} model tensors keep the "
            "official initialisation"
        )
    else:
        log(f"{PROG}: HRNet-W{width} from scratch (official initialisation)")
    return model


def model_meta(config: dict) -> dict:
    m = config["model"]
    return {"width": int(m["width"]), "num_joints": int(m["num_joints"]), "keypoints": config_keypoint_set(config).name,
            "input_size": [int(v) for v in m["input_size"]], "sigma": float(m["sigma"]), "arch": "hrnet"}


def config_keypoint_set(config: dict):
    """The keypoint set of a config: ``model.keypoints`` (default coco), which must have ``model.num_joints``."""
    from rtpose.pose.keypoint_sets import KeypointSetError, keypoint_set_for

    try:
        return keypoint_set_for(int(config["model"]["num_joints"]), config["model"].get("keypoints") or "coco")
    except KeypointSetError as exc:
        raise ConfigError(f"Config model.keypoints / model.num_joints do not agree: {exc}") from None


# ----------------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------------
def build_train_set(config: dict) -> CocoKeypoints:
    ann, images = train_data(config)
    return CocoKeypoints(
        ann, images, tuple(config["model"]["input_size"]), sigma=config["model"]["sigma"],
        augment=AugmentConfig.from_dict(config["augment"]), seed=int(config["train"]["seed"]),
        keypoint_set=config_keypoint_set(config),
    )


def check_val_data(config: dict) -> tuple[Path, Path, str] | None:
    """``(ann, images, boxes)`` for validation, checked up front; None when validation is off."""
    if not int(config["val"]["interval"] or 0):
        return None
    from rtpose.eval.keypoints import load_coco

    ann, images = data_path(config, "val_ann"), data_path(config, "val_images")
    if ann is None or images is None:
        raise ConfigError("Validation needs data.val_ann and data.val_images (or --val-interval 0 to skip it).")
    load_coco(ann)
    if not images.is_dir():
        raise DataError(f"Validation image folder {images} does not exist.")
    boxes = str(config["data"].get("val_boxes") or "gt")
    if boxes != "gt":
        boxes_path = data_path(config, "val_boxes")
        if not boxes_path.is_file():
            raise DataError(f"Validation detections file {boxes_path} does not exist.")
        boxes = str(boxes_path)
    return ann, images, boxes


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled sample order of one epoch (a function of seed and epoch only)."""
    generator = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    return torch.randperm(n, generator=generator).tolist()


def make_loader(dataset: CocoKeypoints, config: dict, epoch: int, device: torch.device) -> DataLoader:
    dataset.set_epoch(epoch)
    batch = int(config["train"]["batch_size"])
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=epoch_order(len(dataset), config["train"]["seed"], epoch),
        num_workers=int(config["train"]["workers"]),
        pin_memory=device.type == "cuda",
        drop_last=len(dataset) > batch,  # BatchNorm needs more than one sample per step
    )


# ----------------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------------
def validate(model: HRNet, config: dict, val: tuple[Path, Path, str], device: torch.device,
             progress: bool = True, flip: bool = False) -> dict[str, float]:
    """COCO keypoint AP of ``model`` on the validation set (the code ``rtpose eval`` uses).

    ``flip``: flip test, which doubles the pose work of a validation (see ``val.flip``).
    """
    from rtpose.eval.keypoints import evaluate_coco, predict_coco
    from rtpose.pose.factory import estimator_for_model

    ann, images, boxes = val
    kset = config_keypoint_set(config)
    estimator = estimator_for_model(model, device=str(device), input_hw=tuple(config["model"]["input_size"]),
                                    flip=flip, keypoint_set=kset)
    results = predict_coco(estimator, ann, images, boxes=boxes,
                           det_score_thr=float(config["data"].get("det_score_thr") or 0.0), progress=progress)
    if not results:
        return {"AP": 0.0}
    return evaluate_coco(ann, results, quiet=True, keypoint_set=kset)


# ----------------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------------
class MetricsLog:
    """``metrics.csv`` (one row per epoch, columns ``fields``) and TensorBoard scalars when TensorBoard is
    installed."""

    def __init__(self, folder: Path, resume_epoch: int | None, fields: tuple[str, ...] = CSV_FIELDS) -> None:
        self.path = folder / "metrics.csv"
        self.fields = fields
        rows = []
        if resume_epoch is not None and self.path.is_file():
            with self.path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if r.get("epoch", "").isdigit()
                        and int(r["epoch"]) <= resume_epoch]
        with self.path.open("w", newline="") as handle:  # drop rows of epochs a killed run did not save
            writer = csv.DictWriter(handle, self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(folder / "tb"))
        except Exception:  # TensorBoard is optional
            self.tb = None

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, self.fields, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        if self.tb is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key if key in ("lr", "loss", "images_per_s", "epoch_s") else f"val/{key}",
                                       value, row["epoch"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# ----------------------------------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """What differs between the tasks :func:`train` runs; everything else (optimiser, schedule, AMP,
    checkpoints, resume, signals, metrics, progress) is one loop.

    Attributes:
        samples: what one sample is, for the log ("people", "images").
        metric: the validation score that picks ``best.pth`` (higher is better).
        fields: the columns of ``metrics.csv``.
        build_dataset: ``config`` → the training set (``set_epoch``, ``len``, items for the loss).
        check_val: ``config`` → what ``validate`` needs, checked before training, or None (no validation).
        build_model: ``(config, log)`` → the initialised model; ``empty_model``: ``config`` → one to resume into.
        loss: ``(model, batch, device, use_amp)`` → the scalar loss of a batch.
        validate: ``(model, config, val, device, progress, flip)`` → scores including ``metric``.
        meta: ``(config, model)`` → the ``meta`` record of every checkpoint.
        save_best: ``(model, config, path, epoch, score)`` writes ``best.pth``.
    """

    name: str
    samples: str
    metric: str
    fields: tuple[str, ...]
    build_dataset: Callable
    check_val: Callable
    build_model: Callable
    empty_model: Callable
    loss: Callable
    validate: Callable
    meta: Callable
    save_best: Callable


def _pose_loss(model, batch: dict, device: torch.device, use_amp: bool) -> torch.Tensor:
    x = batch["image"].to(device, non_blocking=True)
    target = batch["target"].to(device, non_blocking=True)
    weight = batch["target_weight"].to(device, non_blocking=True)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
        output_maps = model(x)
    return JointsMSELoss()(output_maps.float(), target, weight)


def _pose_best(model, config: dict, path: Path, epoch: int, score: float) -> None:
    save_atomic({"model": model.state_dict(), "meta": model_meta(config), "epoch": epoch, "best_ap": score,
                 "config": config}, path)


TASKS: dict[str, Task] = {
    "pose": Task(
        "pose", "people", "AP", CSV_FIELDS, build_train_set, check_val_data, build_model,
        lambda config: HRNet(width=int(config["model"]["width"]), num_joints=int(config["model"]["num_joints"])),
        _pose_loss, validate, lambda config, model: model_meta(config), _pose_best,
    ),
    "person_mask": Task(
        "person_mask", "images", "IoU", (*CSV_FIELDS[:5], "IoU", "pixel_accuracy"), seg_task.build_seg_train_set,
        seg_task.check_seg_val_data, lambda config, log: seg_task.build_seg_model(config, log, PROG),
        seg_task.empty_seg_model, seg_task.seg_loss, seg_task.validate_seg, seg_task.seg_last_meta,
        seg_task.save_seg_best,
    ),
}
#: The bundled config each task starts from when ``--task`` is given without ``--config``.
TASK_CONFIGS = {"pose": DEFAULT_CONFIG, "person_mask": "hrnet_w18_person_mask"}


def task_of(config: dict) -> Task:
    """The :class:`Task` of a config: its ``task`` key (default ``pose``)."""
    name = str(config.get("task") or "pose").replace("-", "_")
    if name not in TASKS:
        raise ConfigError(f"Unknown task {config.get('task')!r}; choose one of {', '.join(TASKS)}.")
    return TASKS[name]


# ----------------------------------------------------------------------------------------------------
# the training loop
# ----------------------------------------------------------------------------------------------------

def _output_folder(value) -> Path:
    """The run's output folder, created now, before the data and the model load; one sentence (no traceback) when
    it cannot be one: an existing file, a path under a file, a read-only place, a name too long."""
    from rtpose.io.paths import output_folder
    from rtpose.utils.names import check_name_length

    if value is None or not str(value).strip():
        raise ConfigError("No output folder: pass --output DIR (or set output: in the config).")
    return output_folder(check_name_length(str(value), "output folder (--output)"), "output folder (--output)")


def train(config: dict | None, resume: str | os.PathLike | None = None, progress: bool = True,
          log: Callable[[str], None] = print, resume_overrides: dict | None = None,
          stop_requested: Callable[[], bool] = lambda: False) -> dict:
    """Train with ``config`` (or continue the run saved in ``resume``); returns a summary dict.

    With ``resume``, the checkpoint's config is used, updated by ``resume_overrides`` (dotted keys;
    e.g. more epochs, another device). The config's ``task`` picks what is trained (:data:`TASKS`). Summary:
    ``epochs`` (completed), ``losses`` (mean loss per epoch run now), ``best_ap`` (the best validation score:
    AP for pose, person IoU for person masks; -1 before any), ``metric`` (its name), ``last`` / ``best``
    checkpoint paths, ``images_per_s`` (last epoch).

    ``stop_requested`` is asked after every step: when it says yes, the step's data loader is closed
    (its worker processes end) and :class:`KeyboardInterrupt` is raised; ``last.pth`` holds the last
    finished epoch.
    """
    state = None
    if resume is not None:
        state = load_training_checkpoint(resume)
        config = merged(state["config"], resume_overrides or {})
        log(f"{PROG}: resuming {resume} after epoch {state['epoch']}")
    task = task_of(config)
    output = _output_folder(config["output"])
    device = resolve_torch_device(str(config.get("device") or "auto"))
    if config["train"].get("threads"):
        torch.set_num_threads(int(config["train"]["threads"]))
    torch.manual_seed(int(config["train"]["seed"]))

    dataset = task.build_dataset(config)
    val = task.check_val(config)
    if state is None:
        model = task.build_model(config, log)
    else:
        model = task.empty_model(config)
        load_state_dict_strict(model, state["model"], source=str(resume), model_text=f"the {task.name} model")
    model.to(device)

    t = config["train"]
    if str(t.get("optimizer", "adam")).lower() != "adam":
        raise ConfigError(f"Unsupported optimizer {t['optimizer']!r}; only adam is implemented.")
    optimizer = torch.optim.Adam(model.parameters(), lr=float(t["lr"]), weight_decay=float(t.get("weight_decay") or 0))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(v) for v in t["lr_steps"]], float(t["lr_factor"]))
    use_amp = bool(t.get("amp", True)) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, best_ap = 0, -1.0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, best_ap = int(state["epoch"]), float(state.get("best_ap", -1.0))
        if state.get("rng"):
            set_rng_state(state["rng"])

    clean_temporaries(output)
    atomic_write_bytes(output / "config.yaml", dump_config(config).encode())
    metrics = MetricsLog(output, start_epoch if state is not None else None, task.fields)
    meta = task.meta(config, model)
    epochs = int(t["epochs"])
    max_steps = t.get("max_steps_per_epoch")
    if start_epoch >= epochs:
        log(f"{PROG}: {output / LAST} has finished all {epochs} epochs already; nothing to train (raise --epochs "
            "to train further)")
        metrics.close()
        return {"epochs": start_epoch, "losses": [], "best_ap": best_ap, "metric": task.metric, "last": output / LAST,
                "best": output / BEST, "images_per_s": 0.0}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if int(t["workers"]) > cores:
        log(f"{PROG}: train.workers {t['workers']} > {cores} CPU cores here: loading data with {cores} processes")
        t["workers"] = cores
    log(f"{PROG}: {len(dataset)} training {task.samples}, {task.name} HRNet-W{meta['width']} {meta['input_size'][0]}x"
        f"{meta['input_size'][1]} on {device}{' with AMP' if use_amp else ''}; epochs {start_epoch + 1}..{epochs}; "
        f"writing to {output}")

    summary = {"epochs": start_epoch, "losses": [], "best_ap": best_ap, "metric": task.metric, "last": output / LAST,
               "best": output / BEST, "images_per_s": 0.0}
    try:
        from tqdm import tqdm

        for epoch in range(start_epoch, epochs):
            if stop_requested():
                raise KeyboardInterrupt
            model.train()
            loader = make_loader(dataset, config, epoch, device)
            steps = len(loader) if not max_steps else min(len(loader), int(max_steps))
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="step", disable=not progress,
                       dynamic_ncols=True, leave=False)
            loss_sum, images, started = 0.0, 0, time.perf_counter()
            for step, batch in enumerate(loader):
                if stop_requested():
                    break
                if step >= steps:
                    break
                loss = task.loss(model, batch, device, use_amp)
                if not use_amp and not torch.isfinite(loss):
                    raise RtposeError(f"The loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                                      "lower the learning rate.")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                loss_sum += float(loss.item()) * len(batch["image"])
                images += len(batch["image"])
                speed = images / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix(loss=f"{loss_sum / images:.3e}", img_s=f"{speed:.1f}")
                bar.update(1)
            bar.close()
            if stop_requested():  # the loop's iterator is gone, and its worker processes with it
                raise KeyboardInterrupt
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            elapsed = time.perf_counter() - started
            row = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / max(images, 1),
                   "images_per_s": images / max(elapsed, 1e-9), "epoch_s": elapsed}
            interval = int(config["val"]["interval"] or 0)
            if val is not None and ((epoch + 1) % interval == 0 or epoch + 1 == epochs):
                flip_mode = config["val"]["flip"]
                flip = flip_mode is True or (flip_mode == "last" and epoch + 1 == epochs)
                val_started = time.perf_counter()
                scores = task.validate(model, config, val, device, progress=progress, flip=flip)
                row["val_s"] = time.perf_counter() - val_started
                if flip:
                    log(f"{PROG}: validation with flip test took {row['val_s']:.1f} s (about half of it the flipped "
                        "crops; --val-flip last flips only the final validation, off never)")
                row.update({k: scores.get(k, float("nan")) for k in task.fields[5:]})
                if scores[task.metric] > best_ap:
                    best_ap = scores[task.metric]
                    task.save_best(model, config, output / BEST, epoch + 1, best_ap)
            metrics.write(row)
            save_atomic(
                {"model": model.state_dict(), "meta": meta, "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch + 1,
                 "best_ap": best_ap, "config": config, "rng": rng_state()},
                output / LAST,
            )
            ap_text = f", {task.metric} {row[task.metric]:.4f} (best {best_ap:.4f})" if task.metric in row else ""
            log(f"{PROG}: epoch {epoch + 1}/{epochs}: loss {row['loss']:.4e}, lr {lr:.2e}, "
                f"{row['images_per_s']:.1f} img/s, {elapsed:.1f} s{ap_text}")
            summary["epochs"] = epoch + 1
            summary["losses"].append(row["loss"])
            summary["images_per_s"] = row["images_per_s"]
            summary["best_ap"] = best_ap
    finally:
        metrics.close()
    return summary


# ----------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------
def _size(text: str) -> list[int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 256x192, got {text!r}") from None
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"HRNet input sizes must be positive multiples of 32, got {text!r}")
    return [h, w]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.split("\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None,
                   help=f"YAML file or bundled config name (default: {DEFAULT_CONFIG}; also hrnet_w48_384x288, "
                        "hrnet_w18_person_mask, ...)")
    p.add_argument("--resume", metavar="LAST.pth", help="continue the run saved in this checkpoint (its config wins)")
    p.add_argument("--task", choices=("pose", "person-mask"),
                   help="what to train: pose (keypoint heatmaps) or person-mask (HRNetV2 segmentation of COCO person "
                        "masks); default: the config's task; without --config, the task's bundled config "
                        "(hrnet_w32_256x192, hrnet_w18_person_mask)")
    d = p.add_argument_group("data (paths relative to --data-root unless absolute)")
    d.add_argument("--data-root", help="dataset folder")
    d.add_argument("--train-ann", help="training annotations (COCO person keypoints JSON)")
    d.add_argument("--train-images", help="training image folder")
    d.add_argument("--val-ann", help="validation annotations")
    d.add_argument("--val-images", help="validation image folder")
    d.add_argument("--val-boxes", metavar="gt|DETS.json", help="validation person boxes: gt or a detections file")
    m = p.add_argument_group("model")
    m.add_argument("--width", type=int, help="HRNet width (18, 32, 48, ...)")
    m.add_argument("--input-size", type=_size, metavar="HxW", help="model input, e.g. 256x192")
    init = m.add_mutually_exclusive_group()
    init.add_argument("--pretrained", metavar="PATH", help="ImageNet HRNet backbone to start from")
    init.add_argument("--weights", metavar="PATH", help="fine-tune from any checkpoint rtpose can load")
    o = p.add_argument_group("training")
    o.add_argument("--epochs", type=int)
    o.add_argument("--batch-size", type=int)
    o.add_argument("--lr", type=float)
    o.add_argument("--lr-steps", type=lambda s: [int(v) for v in s.split(",") if v], metavar="E1,E2",
                   help="epochs where the learning rate drops ×lr_factor")
    o.add_argument("--workers", type=int, help="data loading processes")
    o.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    o.add_argument("--threads", type=int, help="PyTorch CPU threads (default: all cores)")
    o.add_argument("--seed", type=int)
    o.add_argument("--no-amp", action="store_true", help="full precision on CUDA too")
    o.add_argument("--no-augment", action="store_true", help="plain GT-box crops (debugging, overfitting)")
    o.add_argument("--max-steps-per-epoch", type=int, help="cap the steps of each epoch (smoke runs)")
    o.add_argument("--val-interval", type=int, help="validate every N epochs (0 = never)")
    o.add_argument("--val-flip", choices=("on", "off", "last"),
                   help="flip test during validation: every time, never, or only the final one (it doubles the "
                        "pose work of a validation)")
    o.add_argument("--output", help="output folder for checkpoints and metrics")
    o.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set augment.rotation_factor=30 (repeatable)")
    o.add_argument("--quiet", action="store_true", help="no progress bars")
    declare_roles(p, config=INPUT_FILE, resume=INPUT_FILE, data_root=INPUT_FOLDER, train_ann=INPUT_FILE,
                  train_images=INPUT_FOLDER, val_ann=INPUT_FILE, val_images=INPUT_FOLDER, val_boxes=INPUT_FILE,
                  pretrained=INPUT_FILE, weights=INPUT_FILE, output=OUTPUT_FOLDER,
                  writes={"output": (LAST, BEST, "config.yaml", "metrics.csv", "tb")})
    declare_text(p, "device", "set")
    return p


#: The data options that are relative to ``--data-root`` unless absolute.
_UNDER_DATA_ROOT = ("train_ann", "train_images", "val_ann", "val_images", "val_boxes")


def check_args_paths(args: argparse.Namespace) -> None:
    """Before anything loads: no output onto an input (:func:`rtpose.io.paths.check_paths`, the data options
    resolved under ``--data-root`` as training reads them), and an ``--output`` that can be a folder."""
    from rtpose.cli.common import check_command_paths
    from rtpose.io.paths import writable_folder

    root = Path(args.data_root).expanduser() if args.data_root else None
    resolved = {name: str(root / value) for name in _UNDER_DATA_ROOT
                if (value := getattr(args, name)) and root is not None and not Path(value).expanduser().is_absolute()}
    check_command_paths(args, **resolved)
    if args.output:
        from rtpose.utils.names import check_name_length

        output = check_name_length(args.output, "--output folder")
        if output.exists() and not output.is_dir():
            raise ConfigError(f"--output {args.output} is a file; give a folder for the checkpoints and metrics.")
        existing = next((p for p in (output, *output.parents) if p.exists()), None)
        if existing is None or not writable_folder(existing):
            raise ConfigError(f"--output {args.output}: cannot write there (no permission, or a read-only file "
                              "system).")


def config_from_args(args: argparse.Namespace) -> dict:
    task = None if args.task is None else args.task.replace("-", "_")
    config = load_config(args.config or TASK_CONFIGS[task or "pose"])
    if task and task_of(config).name != task:
        raise ConfigError(f"--task {args.task} does not fit the config {args.config}, whose task is "
                          f"{task_of(config).name}.")
    task_of(config)
    overrides = {
        "data.root": args.data_root, "data.train_ann": args.train_ann, "data.train_images": args.train_images,
        "data.val_ann": args.val_ann, "data.val_images": args.val_images, "data.val_boxes": args.val_boxes,
        "model.width": args.width, "model.input_size": args.input_size, "model.pretrained": args.pretrained,
        "model.weights": args.weights, "train.epochs": args.epochs, "train.batch_size": args.batch_size,
        "train.lr": args.lr, "train.lr_steps": args.lr_steps, "train.workers": args.workers, "device": args.device,
        "train.threads": args.threads,
        "train.seed": args.seed, "train.max_steps_per_epoch": args.max_steps_per_epoch,
        "val.interval": args.val_interval, "output": args.output,
        "train.amp": False if args.no_amp else None, "augment.enabled": False if args.no_augment else None,
        "val.flip": None if args.val_flip is None else {"on": True, "off": False, "last": "last"}[args.val_flip],
    }
    config = merged(config, overrides)
    config = merged(config, dict(parse_override(text) for text in args.set))
    for key in ("train.epochs", "train.batch_size"):
        section, name = key.split(".")
        if int(config[section][name]) <= 0:
            raise ConfigError(f"{key} must be positive, got {config[section][name]}.")
    if not math.isfinite(float(config["train"]["lr"])) or float(config["train"]["lr"]) <= 0:
        raise ConfigError(f"train.lr must be positive, got {config['train']['lr']}.")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Ctrl-C, SIGTERM (docker stop, a cluster's scheduler) and SIGHUP stop after the step in progress:
    # the data loader is closed (its worker processes end with it) and the run exits with 128 + N. A
    # second signal interrupts at once.
    with stop_on_signals(lambda _signum: None) as stop:
        return _run(args, stop)


def _run(args: argparse.Namespace, stop) -> int:
    try:
        check_args_paths(args)
        if args.resume:
            allowed = {"train.epochs": args.epochs, "train.workers": args.workers, "device": args.device,
                       "val.interval": args.val_interval, "train.threads": args.threads}
            free = ("resume", "epochs", "workers", "device", "val_interval", "threads", "quiet", "config")
            ignored = [k for k, v in vars(args).items()
                       if v not in (None, False, [], DEFAULT_CONFIG) and k not in free and not k.startswith("_")]
            if ignored:
                raise ConfigError("With --resume only --epochs, --workers, --threads, --device and --val-interval may "
                                  f"change (got --{ignored[0].replace('_', '-')}).")
            summary = train(None, resume=args.resume, progress=not args.quiet, resume_overrides=allowed,
                            stop_requested=lambda: stop.requested)
        else:
            summary = train(config_from_args(args), progress=not args.quiet, stop_requested=lambda: stop.requested)
    except RtposeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        name = stop.name or "Ctrl-C"
        print(f"{PROG}: stopped by {name}; continue with --resume OUTPUT/{LAST}", file=sys.stderr)
        return stop.exit_code or 130
    best = (f", best {summary['metric']} {summary['best_ap']:.4f} in {summary['best']}" if summary["best_ap"] >= 0
            else "")
    print(f"{PROG}: done after {summary['epochs']} epochs: {summary['last']}{best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
