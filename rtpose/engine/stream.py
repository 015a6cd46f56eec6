"""Streams of results, and the one run loop every application uses.

- :class:`PoseStream` (what :meth:`rtpose.PoseModel.stream` returns) opens a source and runs the threaded
  :class:`~rtpose.engine.pipeline.Pipeline` on it. Iterating it yields one :class:`~rtpose.results.PoseResult` per
  frame; leaving the loop (``break``, an exception in the caller's loop, the iterator being garbage-
  collected) stops the threads and releases the source it opened.
- :func:`run` drives a stream into sinks (video, JSON, window, the viewer's queue): it draws each result
  once when a sink needs pictures, writes every sink, times ``render``, ``write`` and ``e2e``, and returns
  the run's :class:`~rtpose.engine.stats.RunStats`. The command line, the viewer and the benchmarks all run
  through it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from rtpose.engine.pipeline import Pipeline
from rtpose.engine.stages import warmup
from rtpose.engine.stats import RunStats
from rtpose.errors import RtposeError
from rtpose.io.sources import FolderSource, FrameSource
from rtpose.options import StreamOptions
from rtpose.results import PoseResult
from rtpose.utils.timing import now

if TYPE_CHECKING:
    from rtpose.io.sinks import Sink


def is_source_list(source) -> bool:
    """True for a list or tuple of sources (camera indices, paths, URLs, FrameSources): one stream each.

    Any other iterable, and a list of image arrays, is the frames of one stream.
    """
    return isinstance(source, (list, tuple)) and len(source) > 0 and all(
        isinstance(s, (str, os.PathLike, FrameSource)) or (isinstance(s, int) and not isinstance(s, bool))
        for s in source)


def open_any_source(source, options: StreamOptions) -> tuple[FrameSource, bool]:
    """``(frame source, owned)`` for a camera index, path, URL, folder, FrameSource or iterable of frames.

    ``owned``: rtpose opened it, so rtpose closes it.
    """
    from rtpose.io.inputs import ArraySource, InputError, is_frame_iterable
    from rtpose.io.sources import open_source

    if isinstance(source, FrameSource):
        return source, False
    if source is None or isinstance(source, (bool, float)):
        raise InputError(f"source={source!r}: give a camera index, a file, a folder, a stream URL or an iterable "
                         "of frames.")
    if isinstance(source, (int, str, os.PathLike)):
        return open_source(source, realtime=options.realtime, timeout=options.timeout,
                           reconnect_timeout=options.reconnect_timeout), True
    if is_frame_iterable(source):
        return ArraySource(source), True
    raise InputError(f"source= takes a camera index, a path, a URL or an iterable of frames, not "
                     f"{type(source).__name__}.")


class PoseStream:
    """One source (or several) through a model, as an iterable of :class:`~rtpose.results.PoseResult`.

    The public API, for the CLI, the viewer, ``rtpose serve`` and programs:

    - iterate it once (``for result in stream``); leaving the loop stops the threads and releases what
      rtpose opened. :func:`run` drives it into sinks.
    - controls, safe from any thread while it runs: :meth:`pause`, :meth:`resume`, :meth:`seek`,
      :meth:`set_tracking`, :meth:`request_stop` (also from a signal handler), :meth:`close`.
    - state: :attr:`sources`, :attr:`source`, :attr:`real_time`, :attr:`frames_processed`, :attr:`paused`,
      :attr:`running`, :attr:`stills`, :meth:`stats`, :meth:`header`, :meth:`headers`. Why a source ended
      early is on the source itself (``ended_early``, ``end_reason`` of :class:`~rtpose.io.sources.FrameSource`).

    :attr:`pipeline` (the :class:`~rtpose.engine.pipeline.Pipeline` that runs it) is for benchmarks and
    tests; its internals may change.

    Args:
        estimator: the model's :class:`~rtpose.pose.estimator.TopDownEstimator`.
        source: a camera index, path, URL, folder, :class:`~rtpose.io.sources.FrameSource` or iterable of
            frames (see :func:`open_any_source`); or a list of sources, one stream each (see
            :func:`is_source_list`): every stream's people then go through one pose call per round, and
            each result's ``stream`` says which source it came from. Opened here, so that a bad source
            fails at once.
        options: tracking, smoothing, detect-every-N, playback.
        warm: run the detector and the pose model once before the first frame (keeps one-off costs
            out of the figures).

    A folder of unrelated photos (not numbered frames) is estimated photo by photo: no tracking,
    smoothing or detect-every-N across them (:attr:`stills`).
    """

    def __init__(
        self,
        estimator,
        source,
        options: StreamOptions | None = None,
        *,
        warm: bool = True,
    ) -> None:
        self.options = (options or StreamOptions()).validate()
        self.estimator = estimator
        self.sources: list[FrameSource] = []
        self._owned: list[bool] = []
        try:
            for spec in source if is_source_list(source) else [source]:
                opened, owned = open_any_source(spec, self.options)
                self.sources.append(opened)
                self._owned.append(owned)
            self.source = self.sources[0]
            stills = [isinstance(s, FolderSource) and not s.is_sequence for s in self.sources]
            self.stills = all(stills)
            trackers = [None if still else self.options.tracker(estimator.keypoint_set) for still in stills]
            budget = None if self.stills else self.options.budget_ms
            if budget is not None and estimator.segmenter is not None:
                raise RtposeError("budget_ms= does not work with seg= yet: carried people would have no masks.")
            self.pipeline = Pipeline(
                self.sources if len(self.sources) > 1 else self.source, estimator,
                tracker=trackers if len(self.sources) > 1 else trackers[0], max_frames=self.options.max_frames,
                det_every=1 if self.stills else self.options.det_every,
                budget_ms=budget, max_age=self.options.max_age,
            )
        except BaseException:
            self._close_source()
            raise
        self._warm = warm
        self._iterating = False
        self._closed = False

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[PoseResult]:
        if self._iterating or self._closed:
            raise RtposeError("A stream can be iterated once; call model.stream(...) again for another pass.")
        self._iterating = True
        return self._results()

    def _results(self) -> Iterator[PoseResult]:
        try:
            if self._warm:
                warmup(self.estimator, self.source.size)
            self.pipeline.start()
            yield from self.pipeline.results()
        finally:
            self.close()

    # ------------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Ask the stream to end after the frame in the model (safe from signal handlers)."""
        self.pipeline.request_stop()

    def pause(self) -> None:
        self.pipeline.pause()

    def resume(self) -> None:
        self.pipeline.resume()

    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file or folder (the tracker restarts)."""
        self.pipeline.seek(index)

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self.pipeline.paused

    @property
    def running(self) -> bool:
        """True while any of the stream's threads is alive."""
        return self.pipeline.running

    @property
    def frames_processed(self) -> int:
        """Frames processed so far, all sources together (a progress line; :meth:`stats` has the rest)."""
        return self.pipeline.frames_processed

    @property
    def real_time(self) -> tuple[bool, ...]:
        """Per source: frames are processed in real time, keeping only the newest (cameras, network streams,
        ``realtime`` file playback); late frames are dropped. A video written from such a stream should fill
        the dropped frames to keep its duration (:class:`~rtpose.io.sinks.VideoSink` ``real_time=``)."""
        return tuple(capture.drop_frames for capture in self.pipeline.captures)

    def set_tracking(self, track: bool) -> None:
        """Turn tracking on or off from the next frame (a viewer's toggle); keeps the other options."""
        self.options.track = bool(track)
        trackers = [None if self.stills else self.options.tracker(self.estimator.keypoint_set) for _ in self.sources]
        self.pipeline.set_tracker(trackers if len(self.sources) > 1 else trackers[0])

    def set_budget(self, budget_ms: float | None) -> bool:
        """Change the frame budget from the next round (a viewer's control); True when the running stream took it.

        A stream started with a budget takes a new one at once, and None there means a budget that everything
        fits (every pose fresh, the detector on every frame: the output of a run without a budget). A stream
        started without one keeps running without; the value then applies to streams opened later.
        """
        if budget_ms is not None and not float(budget_ms) > 0:
            raise RtposeError(f"budget_ms={budget_ms!r} must be a number of milliseconds more than 0 (or None).")
        self.options.budget_ms = None if budget_ms is None else float(budget_ms)
        if self.pipeline.budget is None:
            return False
        self.pipeline.budget.budget_ms = float("inf") if budget_ms is None else float(budget_ms)
        return True

    def stats(self) -> RunStats:
        """The figures so far (or of the whole run, once it ended)."""
        return self.pipeline.stats()

    def header(self) -> dict:
        """The JSON header of the (first) stream (schema ``rtpose.poses``)."""
        return self.headers()[0]

    def headers(self) -> list[dict]:
        """The JSON header of every stream, in stream order."""
        from rtpose.io.sinks import stream_header

        return [stream_header(s, self.estimator.keypoint_set, i) for i, s in enumerate(self.sources)]

    # ------------------------------------------------------------------ release
    def close(self, timeout: float = 1.0) -> None:
        """Stop the threads and release the sources rtpose opened (safe to call twice).

        A pose call cannot be cut short: the inference threads get up to 30 s more to finish it. A capture
        thread still waiting in a stalled source's read ends when the source is closed.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.pipeline.stop(timeout=timeout)
            if self.pipeline.inferring:
                self.pipeline.join_inference(30.0)
        finally:
            self._close_source()

    def _close_source(self) -> None:
        for source, owned in zip(self.sources, self._owned):
            if owned:
                with contextlib.suppress(Exception):
                    source.close()

    def __enter__(self) -> PoseStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close(timeout=0.5)


def run(
    stream: PoseStream,
    sinks: Sequence[Sink] = (),
    *,
    kpt_thr: float | None = None,
    hud: Callable[[PoseResult], list[str]] | None = None,
    on_result: Callable[[PoseResult], None] | None = None,
    background=None,
    privacy: str | None = None,
) -> RunStats:
    """Run ``stream`` to its end (or until a sink asks to stop), writing every result to ``sinks``.

    Args:
        stream: a :class:`PoseStream` (not iterated yet).
        sinks: :class:`~rtpose.io.sinks.Sink` objects (``write(result, annotated)``, ``close()``,
            ``needs_image``, ``stop_requested``): those that need images get the drawn frame, and one whose
            ``stop_requested`` turns true ends the run.
        kpt_thr: keypoints below this score are not drawn (default: the stream's ``kpt_thr``).
        hud: lines to write in the picture's corner for a result (e.g. :func:`rtpose.io.render.hud_lines`).
        on_result: called after the sinks with each result (progress lines).
        background: blur or replace what is not a person in the pictures (what
            :func:`rtpose.io.render.parse_background` returns; needs a segmenting model).
        privacy: ``"faces"`` or ``"skeleton"``: every picture the sinks get is made private
            (:mod:`rtpose.io.privacy`).

    Every sink is closed when the run ends, however it ends (a video is finalised). Returns the run's
    figures, with ``render``, ``write`` and ``e2e`` added to the stream's stages.
    """
    from rtpose.io.render import draw_hud, draw_output

    threshold = stream.options.kpt_thr if kpt_thr is None else kpt_thr
    timer = stream.pipeline.timer
    drawing = any(sink.needs_image for sink in sinks)
    try:
        for result in stream:
            annotated = None
            if drawing:
                with timer.stage("render"):
                    annotated = draw_output(result, kpt_thr=threshold, background=background, privacy=privacy)
                    if hud is not None:
                        draw_hud(annotated, hud(result))
            with timer.stage("write"):
                for sink in sinks:
                    sink.write(result, annotated)
            timer.add("e2e", now() - result.latency_origin)
            if on_result is not None:
                on_result(result)
            if any(sink.stop_requested for sink in sinks):
                break
    finally:
        try:
            stream.close()
        finally:
            for sink in sinks:
                sink.close()
    return stream.stats()


__all__ = ["PoseStream", "is_source_list", "open_any_source", "run"]
