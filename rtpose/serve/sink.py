"""The run loop's side of ``rtpose serve``: each result becomes the stream's newest picture, record and figures.

:class:`ServeSink` is a sink of :func:`rtpose.engine.stream.run`: it encodes the drawn frame as JPEG only when
a viewer watches that stream, serialises the record only when one listens to its poses, and never waits on
a client (see :mod:`rtpose.serve.channels`).
"""

from __future__ import annotations

import json

import cv2
import numpy as np

from rtpose.io.sinks import Sink, frame_record
from rtpose.serve.app import StreamView
from rtpose.serve.metrics import RunMetrics


class ServeSink(Sink):
    """Hands each result of a served run to its stream's viewers and to ``/metrics``.

    Args:
        views: the served streams (:meth:`rtpose.serve.app.HttpServer.attach`), in stream order.
        metrics: the run's :class:`~rtpose.serve.metrics.RunMetrics`.
        sources: the streams' sources (their outages are shown on the page).
        jpeg_quality: 1-100 for the MJPEG pictures.
    """

    needs_image = True

    def __init__(self, views: list[StreamView], metrics: RunMetrics, sources=(), jpeg_quality: int = 80) -> None:
        self.views = views
        self.metrics = metrics
        self.sources = list(sources)
        self._params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
        self.count = 0

    def write(self, result, annotated: np.ndarray | None = None) -> None:
        view = self.views[result.stream]
        if annotated is not None and view.video.wanted:
            ok, buffer = cv2.imencode(".jpg", annotated, self._params)
            if ok:
                view.video.publish(buffer.tobytes())
        if view.poses.wanted:
            view.poses.publish(json.dumps(frame_record(result), separators=(",", ":")))
        self.metrics.observe(result.stream, result.latency_ms, result.fps, len(result))
        source = self.sources[result.stream] if result.stream < len(self.sources) else None
        view.figures = {"fps": round(result.fps, 2), "latency_ms": round(result.latency_ms, 1), "people": len(result),
                        "frames": view.figures.get("frames", 0) + 1, "dropped": int(result.dropped),
                        "outages": int(getattr(source, "outages", 0))}
        self.count += 1

    def close(self) -> None:
        pass  # the server goes on showing the last pictures and figures until the command stops it


__all__ = ["ServeSink"]
