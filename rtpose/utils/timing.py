"""Per-stage timing: the one small utility every part of rtpose measures with.

Times are wall-clock seconds from :func:`time.perf_counter`; summaries are in milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

now = time.perf_counter


class StageTimer:
    """Collects durations per named stage (thread-safe) and summarises them.

    Keeps the most recent ``window`` samples per stage, so memory stays bounded on endless streams.

    >>> timer = StageTimer()
    >>> with timer.stage("pose"):
    ...     pass
    >>> timer.summary()["pose"]["count"]
    1
    """

    def __init__(self, window: int = 10_000) -> None:
        self._samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self._counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block as one sample of ``name``."""
        start = now()
        try:
            yield
        finally:
            self.add(name, now() - start)

    def add(self, name: str, seconds: float) -> None:
        """Record one duration of ``seconds`` for stage ``name``."""
        with self._lock:
            self._samples[name].append(seconds)
            self._counts[name] += 1

    def last_ms(self, name: str) -> float | None:
        """The latest sample of ``name`` in milliseconds, or None."""
        with self._lock:
            samples = self._samples.get(name)
            return samples[-1] * 1e3 if samples else None

    def mean_ms(self, name: str, last: int | None = None) -> float | None:
        """Mean of the latest ``last`` samples (all kept samples when None) in ms, or None."""
        with self._lock:
            samples = list(self._samples.get(name, ()))
        if last is not None:
            samples = samples[-last:]
        return float(np.mean(samples) * 1e3) if samples else None

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage: ``count``, ``mean_ms``, ``p50_ms``, ``p95_ms``, ``max_ms`` over the kept samples."""
        with self._lock:
            items = [(k, np.asarray(v) * 1e3, self._counts[k]) for k, v in self._samples.items() if v]
        return {
            name: {
                "count": count,
                "mean_ms": float(ms.mean()),
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "max_ms": float(ms.max()),
            }
            for name, ms, count in items
        }

    def format_table(self, order: list[str] | None = None) -> str:
        """A plain-text table of :meth:`summary`, stages in ``order`` first."""
        summary = self.summary()
        names = [n for n in (order or []) if n in summary] + sorted(n for n in summary if n not in (order or []))
        lines = [f"{'stage':<12}{'count':>8}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"]
        for n in names:
            s = summary[n]
            lines.append(
                f"{n:<12}{s['count']:>8d}{s['mean_ms']:>10.1f}{s['p50_ms']:>10.1f}{s['p95_ms']:>10.1f}{s['max_ms']:>10.1f}"
            )
        return "\n".join(lines)
