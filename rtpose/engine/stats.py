"""What a run did, as data: :class:`RunStats` (frames, drops, rate, per-stage figures).

The end-of-run table the CLI prints is one view of it (:meth:`RunStats.format`); the viewer and the
benchmarks read its fields.

Stages, all in ms (see the README's table): ``capture``, ``queue``, ``detect``, ``crop``, ``pose``,
``decode``, ``track`` (the stream's), ``render``, ``write`` (the run loop's), ``latency`` and ``e2e``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

#: Stage order of the summary table.
STAGE_ORDER = ["capture", "queue", "schedule", "detect", "crop", "pose", "decode", "segment", "track", "render",
               "write", "latency", "e2e"]


@dataclass(frozen=True)
class StageStats:
    """One stage's figures in ms over the kept samples: ``count``, ``mean``, ``p50``, ``p95``, ``max``."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True)
class RunStats:
    """The figures of one stream run.

    Attributes:
        source: the source's display name (URLs redacted).
        frames: frames processed (one result each).
        captured: frames read from the source.
        dropped: frames dropped (live sources keep only the newest frame), by rtpose and the source.
        skipped: unreadable files skipped in a folder.
        elapsed_s: from the start of the stream to its end (or now, while it runs).
        people: people found over all processed frames.
        pose_calls: batched pose-model calls (frames with at least one person).
        stages: per-stage figures, in :data:`STAGE_ORDER` where they exist.
        streams: each source's own figures (frames, drops, people) when a run reads several, else empty.
        failures: for a model served by Triton, per part ("pose", "detector"): its ``calls`` and the failed ones
            by cause (``down``, ``deadline``, ``rejected``, ``error``; :mod:`rtpose.runtime.triton_runtime`).
        budget: with a frame budget, its :class:`~rtpose.pose.budget.BudgetStats` (fresh and carried poses,
            detector calls, model work p50/p95 against the budget), else None.
    """

    source: str
    frames: int = 0
    captured: int = 0
    dropped: int = 0
    skipped: int = 0
    elapsed_s: float = 0.0
    people: int = 0
    pose_calls: int = 0
    stages: dict[str, StageStats] = field(default_factory=dict)
    streams: tuple[RunStats, ...] = ()
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    budget: object | None = None

    @property
    def fps(self) -> float:
        """Processed frames per second over the whole run."""
        return self.frames / self.elapsed_s if self.frames and self.elapsed_s > 0 else 0.0

    @property
    def people_per_call(self) -> float:
        """How many people one pose call carried on average."""
        return self.people / self.pose_calls if self.pose_calls else 0.0

    def stage(self, name: str) -> StageStats | None:
        """The figures of stage ``name``, or None when it never ran."""
        return self.stages.get(name)

    def to_dict(self) -> dict:
        """JSON-ready, with ``fps`` and ``people_per_call``."""
        return {**asdict(self), "fps": self.fps, "people_per_call": self.people_per_call,
                "streams": [s.to_dict() for s in self.streams]}

    def head(self) -> str:
        """One line: source, frames processed, dropped, skipped, frames/s."""
        return (
            f"source {self.source}: {self.frames} frames processed, {self.dropped} dropped, "
            + (f"{self.skipped} skipped (unreadable), " if self.skipped else "")
            + f"{self.fps:.1f} frames/s over {self.elapsed_s:.1f} s"
        )

    def format(self) -> str:
        """The end-of-run table: a head line (frames, dropped, skipped, frames/s), a row per part served by Triton
        (its failed calls by cause), then one row per stage."""
        lines = [self.head()]
        if self.streams:
            lines[0] = (f"{len(self.streams)} streams: {self.frames} frames processed, {self.dropped} dropped, "
                        f"{self.fps:.1f} frames/s over {self.elapsed_s:.1f} s; {self.people} people in "
                        f"{self.pose_calls} pose calls ({self.people_per_call:.1f} per call)")
            lines += [f"  stream {i} {s.head()}" for i, s in enumerate(self.streams)]
        elif self.pose_calls:
            lines[0] += f"; {self.people} people in {self.pose_calls} pose calls ({self.people_per_call:.1f} per call)"
        lines += [failure_row(part, counts) for part, counts in self.failures.items()]
        if self.budget is not None:
            lines.append(self.budget.line())
        lines += [f"{'stage':<12}{'count':>8}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"]
        for name, s in self.stages.items():
            lines.append(f"{name:<12}{s.count:>8d}{s.mean_ms:>10.1f}{s.p50_ms:>10.1f}{s.p95_ms:>10.1f}{s.max_ms:>10.1f}")
        return "\n".join(lines)


#: Failure causes of a Triton-served part, as the summary names them.
FAILURE_WORDS = {"down": "server down", "deadline": "past deadline", "rejected": "rejected (queue full)",
                 "error": "server error"}


def failure_row(part: str, counts: dict[str, int]) -> str:
    """``"triton pose: 3 of 40 calls failed (server down 3, past deadline 0, rejected (queue full) 0, server
    error 0)"``."""
    failed = sum(counts.get(cause, 0) for cause in FAILURE_WORDS)
    causes = ", ".join(f"{words} {counts.get(cause, 0)}" for cause, words in FAILURE_WORDS.items())
    return f"triton {part}: {failed} of {counts.get('calls', 0)} calls failed ({causes})"


@runtime_checkable
class RemoteCalls(Protocol):
    """A part served over the network (Triton's pose backend and detector): its calls, and its failed calls by
    cause (:data:`FAILURE_WORDS`)."""

    calls: int
    failures: dict[str, int]


def remote_failures(parts: dict[str, object]) -> dict[str, dict[str, int]]:
    """The calls and failures (by cause) of the ``parts`` (name → part, e.g. ``"pose"`` → the pose backend,
    ``"detector"`` → the detector) that are served remotely (:class:`RemoteCalls`); empty when none is."""
    return {name: {"calls": int(part.calls), **{cause: int(n) for cause, n in part.failures.items()}}
            for name, part in parts.items() if isinstance(part, RemoteCalls)}


def stage_stats(summary: dict[str, dict[str, float]]) -> dict[str, StageStats]:
    """:meth:`rtpose.utils.timing.StageTimer.summary` as :class:`StageStats`, in :data:`STAGE_ORDER` first."""
    names = [n for n in STAGE_ORDER if n in summary] + sorted(n for n in summary if n not in STAGE_ORDER)
    return {
        n: StageStats(int(summary[n]["count"]), summary[n]["mean_ms"], summary[n]["p50_ms"], summary[n]["p95_ms"],
                      summary[n]["max_ms"])
        for n in names
    }


__all__ = ["FAILURE_WORDS", "RemoteCalls", "RunStats", "STAGE_ORDER", "StageStats", "failure_row", "remote_failures",
           "stage_stats"]
