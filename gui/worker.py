"""Off-GUI-thread work: building the model and running the library's stream on a source.

Nothing here captures, infers or draws on its own: the library does (:class:`rtpose.PoseModel`,
:class:`rtpose.engine.stream.PoseStream` and its run loop :func:`rtpose.engine.stream.run`, the same as the command
line's). This module only moves results onto the Qt main thread: the run loop writes each result to a
:class:`GuiSink`, which appends it to a small bounded queue and, if the GUI has not been told yet, emits
one signal (queued connection). The GUI drains the queue on that signal, so a slow GUI never makes the
queue grow: at most :data:`MAX_PENDING` results wait, older ones are dropped.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from pathlib import Path

from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from rtpose.errors import RtposeError, exception_gist
from rtpose.options import ModelOptions, StreamOptions

#: Most results waiting for the GUI thread; older ones are dropped when the GUI lags behind.
MAX_PENDING = 8


#: What the viewer builds its model from: the model options of ``rtpose run`` and of Python (one definition).
ModelConfig = ModelOptions


def build_model(config: ModelConfig):
    """The :class:`rtpose.PoseModel` of the viewer's options."""
    from rtpose.model import PoseModel

    return PoseModel.from_options(dataclasses.replace(config))


def describe_model(model) -> dict:
    """Human-readable facts about a :class:`rtpose.PoseModel`, for the side panel and the HUD (from ``model.info``)."""
    info = model.info
    backend = info.backend
    h, w = backend.input_hw
    return {
        "backend": backend.name,
        "device": f"{backend.device.split(' (')[0].split(',')[0].split(' ')[0]} {backend.precision}",
        "device_full": backend.device,
        "reason": backend.reason,
        "model": f"HRNet-W{backend.width} {h}x{w}" if backend.width else f"HRNet {h}x{w}",
        "weights": str(model.options.weights),
        "detector": Path(info.detector).name if info.detector else "-",
        "seg": _describe_segmenter(getattr(model.estimator, "segmenter", None)),
    }


def _describe_segmenter(segmenter) -> str:
    """``"seg person · HRNetV2-W18 (voc)"``, or "" without segmentation."""
    if segmenter is None:
        return ""
    return f"seg {segmenter.mode} · HRNetV2-W{segmenter.width} ({segmenter.classes.name})"


def _one_sentence(exc: BaseException) -> str:
    if isinstance(exc, RtposeError):
        from rtpose.cli.words import cli_words  # parameters as the viewer's flags (``--weights PATH``)

        return cli_words(exc.render(f"--{exc.parameter.replace('_', '-')}" if exc.parameter else None))
    return f"{type(exc).__name__}: {exception_gist(exc, 200)}"


class ModelLoader(QObject):
    """Builds models on a background thread; ``loaded(model, info)`` or ``failed(message)``."""

    loaded = pyqtSignal(object, dict)
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, builder=build_model) -> None:
        super().__init__(parent)
        self._builder = builder
        self._thread: threading.Thread | None = None
        self._generation = 0

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def load(self, config: ModelConfig) -> None:
        """Start building; a newer request supersedes an older one still in flight."""
        self._generation += 1
        generation = self._generation
        config = dataclasses.replace(config)

        def work() -> None:
            try:
                model = self._builder(config)
                info = describe_model(model)
            except BaseException as exc:  # noqa: BLE001 - any failure is shown to the user, never raised
                if generation == self._generation:
                    self.failed.emit(_one_sentence(exc))
                return
            if generation == self._generation:
                self.loaded.emit(model, info)

        self._thread = threading.Thread(target=work, name="rtpose-gui-model", daemon=True)
        self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for a build in flight to end (see :meth:`PipelineController.wait_idle`)."""
        return wait_until(lambda: not self.busy, timeout)

    def cancel(self, timeout: float = 0.5) -> None:
        """Forget the request in flight (its result is dropped) and wait briefly for the thread."""
        self._generation += 1
        if self._thread is not None:
            self._thread.join(timeout)


class GuiSink:
    """The viewer's sink for the library's run loop: results go to a bounded queue, and one signal says so."""

    needs_image = False  # the viewer draws on the GUI thread, with its own toggles
    stop_requested = False

    def __init__(self, controller: PipelineController, generation: int | None = None) -> None:
        self.controller = controller
        self.generation = generation
        self.count = 0

    def write(self, result, annotated=None) -> None:
        self.count += 1
        self.controller._on_result(result, self.generation)

    def close(self) -> None:
        pass


class PipelineController(QObject):
    """Opens a source and runs the library's stream on it (:func:`rtpose.engine.stream.run`), off the GUI thread.

    Signals (all delivered on the GUI thread):
        started(dict): the source is open and frames flow; keys ``name``, ``is_live``, ``fps``, ``size``,
            ``frame_count``, ``spec`` (of the first source), and ``streams``: one such dict per source
            (several when ``spec`` is a list; then ``frame_count`` is None: several streams cannot seek).
        results_ready(): call :meth:`take_results` for the results that arrived.
        finished(str, object): the run ended; a reason ("end", "stopped" or an error sentence) and its
            :class:`~rtpose.engine.stats.RunStats` (None when it never started).
        error(str): opening the source failed (one sentence); nothing is running.

    Args:
        stream_options: tracking, smoothing, detect-every-N (the command line's options; ``realtime``
            and ``max_frames`` are set per :meth:`open`).
    """

    started = pyqtSignal(dict)
    results_ready = pyqtSignal()
    finished = pyqtSignal(str, object)
    error = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, stream_options: StreamOptions | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: deque = deque(maxlen=MAX_PENDING)
        self._notified = False
        self._stream = None
        self._runner: threading.Thread | None = None
        self._run_error: BaseException | None = None
        self._stats = None
        self._generation = 0
        self._stopping = False
        self.stream_options = stream_options or StreamOptions()
        self._retired: list[threading.Thread] = []
        self.info: dict = {}
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._check_running)

    # -- state -----------------------------------------------------------------------------------------
    @property
    def stream(self):
        """The :class:`~rtpose.engine.stream.PoseStream` running, or None."""
        return self._stream

    @property
    def running(self) -> bool:
        """True while a source is opening or the stream runs."""
        return self._runner is not None and self._runner.is_alive()

    @property
    def paused(self) -> bool:
        return self._stream is not None and bool(self._stream.paused)

    # -- commands --------------------------------------------------------------------------------------
    def open(self, spec: str | int | list, estimator, *, realtime: bool = False, start_index: int = 0,
             timeout: float = 10.0) -> None:
        """Stop what runs, then open ``spec`` and run the stream on it on a background thread.

        ``spec``: one source, or a list of sources: one :class:`~rtpose.engine.stream.PoseStream` over all of them
        (``start_index`` then does not apply).
        """
        self.stop()
        self._generation += 1
        generation = self._generation
        options = dataclasses.replace(self.stream_options, realtime=realtime, timeout=timeout, max_frames=None)

        def work() -> None:
            from rtpose.engine.stream import PoseStream, run

            try:
                stream = PoseStream(estimator, spec, options)
                if start_index and len(stream.sources) == 1 and stream.source.frame_count:
                    stream.source.seek(min(start_index, stream.source.frame_count - 1))
            except BaseException as exc:  # noqa: BLE001 - shown to the user, never raised on this thread
                if generation == self._generation:
                    self.error.emit(_one_sentence(exc))
                return
            if generation != self._generation:  # superseded or stopped while opening
                stream.close()
                return
            streams = [{"spec": s, "name": source.name, "is_live": bool(source.is_live), "fps": source.fps,
                        "size": tuple(source.size or (0, 0)), "frame_count": source.frame_count}
                       for s, source in zip(spec if isinstance(spec, (list, tuple)) else [spec], stream.sources)]
            info = {**streams[0], "spec": spec, "streams": streams}
            if len(streams) > 1:
                info.update(name=", ".join(s["name"] for s in streams), frame_count=None,
                            is_live=any(s["is_live"] for s in streams))
            with self._lock:
                self._pending.clear()
                self._notified = False
            self._stream, self.info, self._run_error, self._stats = stream, info, None, None
            self.started.emit(info)
            try:
                self._stats = run(stream, [GuiSink(self, generation)])
            except BaseException as exc:  # noqa: BLE001 - reported by _check_running on the GUI thread
                self._run_error = exc
                self._stats = stream.stats()

        self._runner = threading.Thread(target=work, name="rtpose-gui-run", daemon=True)
        self._runner.start()
        self._poll.start()

    def pause(self) -> None:
        if self._stream is not None:
            self._stream.pause()

    def resume(self) -> None:
        if self._stream is not None:
            self._stream.resume()

    def seek(self, index: int) -> None:
        if self._stream is not None and self.info.get("frame_count"):
            self._stream.seek(max(0, min(int(index), self.info["frame_count"] - 1)))

    def set_tracking(self, on: bool) -> None:
        """Tracking on or off, for the stream that runs (from its next frame) and those opened later."""
        self.stream_options.track = bool(on)
        if self._stream is not None:
            self._stream.set_tracking(on)

    def set_budget(self, budget_ms: float | None) -> None:
        """The frame budget (None: off) for the stream that runs, where it started with one, and those opened
        later (see :meth:`rtpose.engine.stream.PoseStream.set_budget`)."""
        self.stream_options.budget_ms = budget_ms
        if self._stream is not None:
            self._stream.set_budget(budget_ms)

    def stop(self, timeout: float = 1.0):
        """Stop the run (joins its thread within ``timeout``); returns its :class:`~rtpose.engine.stats.RunStats`."""
        self._generation += 1
        runner, stream = self._runner, self._stream
        self._runner, self._stream = None, None
        with self._lock:  # results of the stopped run are not shown any more
            self._pending.clear()
            self._notified = False
        stats = None
        if stream is not None:
            self._stopping = True
            try:
                stream.request_stop()
                if runner is not None and runner is not threading.current_thread():
                    runner.join(timeout)
                stats = stream.stats()
            finally:
                self._stopping = False
            self.finished.emit("stopped", stats)
        if runner is not None and runner.is_alive():  # opening a slow stream, or a frame still in the model
            self._retired.append(runner)
        self._poll.stop()
        return stats

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no thread of ours runs any more (a stopped stream may still finish a frame).

        Call before the interpreter exits: a daemon thread killed inside PyTorch aborts the process.
        """
        def idle() -> bool:
            self._retired = [t for t in self._retired if t.is_alive()]
            return not self._retired and not self.running

        return wait_until(idle, timeout)

    def take_results(self) -> list:
        """The results that arrived since the last call (oldest first)."""
        with self._lock:
            results = list(self._pending)
            self._pending.clear()
            self._notified = False
        return results

    # -- internals -------------------------------------------------------------------------------------
    def _on_result(self, result, generation: int | None = None) -> None:
        """Run-loop sink, on the run thread (results of a run stopped or superseded are dropped)."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._pending.append(result)
            if self._notified:
                return
            self._notified = True
        self.results_ready.emit()

    def _check_running(self) -> None:
        runner, stream = self._runner, self._stream
        if runner is None or runner.is_alive() or self._stopping:
            return
        # The run ended on its own: end of a file, a lost camera or a failure on its threads.
        self._runner, self._stream = None, None
        self._poll.stop()
        error = self._run_error
        if stream is None:  # opening failed: error() was emitted already
            return
        if error is None:
            lost = [s for s in stream.sources if s.is_live and getattr(s, "ended_early", False)]
            if lost:  # a stream that did not come back says why; others stopped sending frames
                error = " ".join(getattr(s, "end_reason", None)
                                 or f"{s.name} stopped sending frames (camera unplugged or stream ended)."
                                 for s in lost)
        if self._pending:
            self.results_ready.emit()
        if isinstance(error, str):
            self.finished.emit(error, self._stats)
        else:
            self.finished.emit(_one_sentence(error) if error else "end", self._stats)


def wait_until(predicate, timeout: float) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (used when closing)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
