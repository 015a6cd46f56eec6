"""``/metrics``: the run's figures in Prometheus' text format, through its official client library.

Every name starts with ``rtpose_``; per-stream series carry ``stream`` (the index) and ``source`` (the source's
display name, URLs redacted: :attr:`rtpose.io.sources.FrameSource.name`). Counters are read from the run's
:class:`~rtpose.engine.stats.RunStats` when Prometheus scrapes, so they are the figures the end-of-run summary
prints; the latency histogram is observed frame by frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from rtpose.engine.stats import FAILURE_WORDS, RunStats

#: Latency buckets in seconds (frame captured → result ready).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


def stream_stats(stats: RunStats, count: int) -> list[RunStats]:
    """Each stream's figures: ``stats.streams`` for several sources, the run's own for one."""
    return list(stats.streams) if stats.streams else [stats] * min(count, 1)


class RunMetrics:
    """The metrics of one served run.

    Args:
        names: each stream's display name (redacted), in stream order.
        stats: returns the run's figures so far (``PoseStream.stats``); None before the model is loaded.
        sources: the streams' sources (``outages`` and ``reconnects`` of live streams are read from them).
        extra: more collectors' figures: returns ``(name, help, kind, labels, value)`` tuples
            (``kind`` ``"counter"`` or ``"gauge"``), e.g. the HTTP clients and MQTT.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.stats: Callable[[], RunStats] | None = None
        self.sources: Sequence = ()
        self.extra: list[Callable[[], list[tuple]]] = []
        self.recent: dict[int, tuple[float, int]] = {}  # stream → (frames/s, people) of its newest result
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram("rtpose_latency_seconds", "Frame captured to result ready, per frame",
                                 ["stream", "source"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(self)

    def observe(self, stream: int, latency_ms: float, fps: float, people: int) -> None:
        """One result of ``stream`` (run loop thread)."""
        self.latency.labels(str(stream), self.names[stream]).observe(max(latency_ms, 0.0) / 1e3)
        self.recent[stream] = (fps, people)

    def labels(self, stream: int) -> list[str]:
        return [str(stream), self.names[stream]]

    def collect(self):
        """Prometheus' collector protocol: the figures of now."""
        per = ["stream", "source"]
        frames = CounterMetricFamily("rtpose_frames", "Frames processed (one result each)", labels=per)
        captured = CounterMetricFamily("rtpose_frames_captured", "Frames read from the source", labels=per)
        dropped = CounterMetricFamily("rtpose_frames_dropped", "Frames dropped (live sources keep only the newest)",
                                      labels=per)
        people = CounterMetricFamily("rtpose_people", "People found over all processed frames", labels=per)
        fps = GaugeMetricFamily("rtpose_frames_per_second", "Recent processing rate", labels=per)
        now_people = GaugeMetricFamily("rtpose_people_in_frame", "People in the newest result", labels=per)
        outages = CounterMetricFamily("rtpose_stream_outages", "Times a live stream stopped sending", labels=per)
        reconnects = CounterMetricFamily("rtpose_stream_reconnects", "Times a live stream came back", labels=per)
        stats = self.stats() if self.stats is not None else None
        if stats is not None:
            for i, s in enumerate(stream_stats(stats, len(self.names))):
                labels = self.labels(i)
                frames.add_metric(labels, s.frames)
                captured.add_metric(labels, s.captured)
                dropped.add_metric(labels, s.dropped)
                people.add_metric(labels, s.people)
        for i in range(len(self.names)):
            rate, count = self.recent.get(i, (0.0, 0))
            fps.add_metric(self.labels(i), rate)
            now_people.add_metric(self.labels(i), count)
        for i, source in enumerate(self.sources):
            outages.add_metric(self.labels(i), int(getattr(source, "outages", 0)))
            reconnects.add_metric(self.labels(i), int(getattr(source, "reconnects", 0)))
        yield from (frames, captured, dropped, people, fps, now_people, outages, reconnects)
        calls = CounterMetricFamily("rtpose_triton_calls", "Calls to parts served by Triton", labels=["part"])
        failures = CounterMetricFamily("rtpose_triton_failures", "Failed calls to parts served by Triton, by cause",
                                       labels=["part", "cause"])
        for part, counts in (stats.failures if stats is not None else {}).items():
            calls.add_metric([part], counts.get("calls", 0))
            for cause in FAILURE_WORDS:
                failures.add_metric([part, cause], counts.get(cause, 0))
        yield from (calls, failures)
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for source in self.extra:
            for name, text, kind, labels, value in source():
                if name not in families:
                    make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                    families[name] = make(name, text, labels=list(labels))
                families[name].add_metric(list(labels.values()), value)
        yield from families.values()

    def exposition(self) -> tuple[bytes, str]:
        """``(body, content type)`` of a scrape."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["LATENCY_BUCKETS", "RunMetrics", "stream_stats"]
