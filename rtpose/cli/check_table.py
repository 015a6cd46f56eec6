"""The rows and the table ``rtpose check`` prints (pose backends and segmentation runtimes alike)."""

from __future__ import annotations

from dataclasses import dataclass

#: Keypoint shifts larger than this (image pixels) are counted as "moved".
MOVED_PX = 0.5


@dataclass
class Row:
    """One line of the comparison table."""

    backend: str
    precision: str
    device: str
    #: max |Δheatmap| (pose) or max |Δlogit| (segmentation) against the reference.
    max_heatmap_error: float | None = None
    moved: int | None = None
    keypoints: int = 0
    crops_per_s: float | None = None
    ok: bool = True
    note: str = ""
    #: segmentation: the share of pixels whose label (argmax class) is the reference's.
    labels_same: float | None = None
    #: segmentation: the best time of one call, in ms.
    ms_per_call: float | None = None


def format_table(rows: list[Row]) -> str:
    """The comparison as a plain-text table."""
    head = ("backend", "precision", "device", "max |Δheatmap|/|Δlogit|", f"kpts moved >{MOVED_PX:g}px/labels same",
            "speed", "result")
    cells = []
    for r in rows:
        agreement = "-" if r.moved is None else f"{r.moved}/{r.keypoints}"
        if r.labels_same is not None:
            agreement = f"{r.labels_same:.2%}"
        speed = "-" if r.crops_per_s is None else f"{r.crops_per_s:.1f} crops/s"
        if r.ms_per_call is not None:
            speed = f"{r.ms_per_call:.1f} ms/call"
        cells.append((
            r.backend, r.precision, r.device[:58],
            "-" if r.max_heatmap_error is None else f"{r.max_heatmap_error:.2e}",
            agreement, speed, ("ok" if r.ok else "FAIL") + (f": {r.note}" if r.note else ""),
        ))
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip() for cell in cells]
    return "\n".join(lines)


__all__ = ["MOVED_PX", "Row", "format_table"]
