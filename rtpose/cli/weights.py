"""``rtpose weights list | download NAME | verify PATH [--name NAME]``."""

from __future__ import annotations

import argparse

from rtpose.cli.common import add_option, declare_text
from rtpose.options.schema import INPUT_FILE, Option

HELP = "list, download and verify HRNet checkpoints (cache: $RTPOSE_CACHE/weights or ~/.cache/rtpose/weights)"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="show the known checkpoints and whether they are cached")
    download = sub.add_parser("download", help="download a known checkpoint into the cache and verify it")
    download.add_argument("name", metavar="NAME", help="registry name, e.g. hrnet_w32_coco_256x192")
    download.add_argument("--force", action="store_true", help="download again even when cached")
    download.add_argument("--base-url", default=None, metavar="URL",
                          help="download from this mirror instead (also: $RTPOSE_WEIGHTS_URL)")
    verify = sub.add_parser("verify", help="check a file's sha256 against the registry and load it as an HRNet")
    add_option(verify, Option("path", "path", role=INPUT_FILE, metavar="PATH", help="checkpoint file"), "path")
    verify.add_argument("--name", default=None, help="registry entry it must match (default: find it)")
    declare_text(download, "name", "base_url")
    declare_text(verify, "name")


def main(args: argparse.Namespace) -> int:
    return {"list": _list, "download": _download, "verify": _verify}[args.action](args)


def _list(args: argparse.Namespace) -> int:
    from rtpose.weights.registry import REGISTRY, cache_dir, cached_path

    print(f"{'name':<40}{'width':>6}{'input':>9}  {'keypoints':<22}{'published':<26}{'source':<9}status")
    for entry in REGISTRY.values():
        h, w = entry.input_hw
        if cached_path(entry).is_file():
            status = "cached"
        elif entry.downloadable:
            status = "rtpose weights download " + entry.name
        elif entry.manual_url is not None:
            status = "manual download: " + entry.manual_url
        else:
            status = "manual download (official HRNet model zoo)"
        metric = entry.metric or (f"COCO AP {entry.coco_ap:.3f}" if entry.coco_ap else "-")
        classes = f"seg: {entry.seg_classes}" if entry.kind == "segmentation" else entry.keypoints
        print(f"{entry.name:<40}{'W' + str(entry.width):>6}{f'{h}x{w}':>9}  {classes:<22}{metric:<26}"
              f"{entry.source:<9}{status}")
    print(f"\ncache: {cache_dir()}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from rtpose.weights.registry import cached_path, download, get_entry

    entry = get_entry(args.name)
    already = cached_path(entry).is_file() and not args.force
    path = download(entry, base_url=args.base_url, force=args.force)
    print(f"{entry.name}: {'already cached' if already else 'downloaded and verified'}: {path}")
    h, w = entry.input_hw
    if entry.kind == "segmentation":
        print(f"a {entry.seg_classes} segmentation model ({h}x{w} input): load it with rtpose.weights.seg")
    else:
        print(f"use it with: --weights {entry.name} --input-size {h}x{w}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rtpose.weights.pose import load_pose_model
    from rtpose.weights.registry import verify_file

    result = verify_file(args.path, args.name)
    print(f"file:    {result.path}")
    print(f"sha256:  {result.sha256}")
    if result.ok:
        print(f"matches: {result.entry.name} ({result.entry.source}, published sha256 {result.entry.sha256})")
    elif result.checked_against is not None:
        expected = result.checked_against.sha256 or "unknown"
        print(f"MISMATCH: {result.checked_against.name} has sha256 {expected}…")
    else:
        print("matches: no registry entry (not a known published checkpoint)")
    entry = result.entry or result.checked_against
    if entry is not None and entry.kind == "segmentation":
        from rtpose.weights.seg import load_seg_model

        seg = load_seg_model(args.path)
        params = sum(p.numel() for p in seg.parameters())
        print(f"model:   HRNetV2-W{seg.width} segmentation, {seg.num_classes} classes, {params:,} parameters "
              "(loads strictly)")
        return 0 if result.ok or result.checked_against is None else 1
    model = load_pose_model(args.path)
    params = sum(p.numel() for p in model.parameters())
    print(f"model:   HRNet-W{model.width}, {model.num_joints} joints, {params:,} parameters (loads strictly)")
    return 0 if result.ok or result.checked_against is None else 1
