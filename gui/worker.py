"""Off-GUI-thread work: building the estimator, opening sources and running :class:`rtpose.pipeline.Pipeline`.

Nothing here captures, infers or draws on its own: the pipeline does, on its threads. This module only
moves its results onto the Qt main thread. ``Pipeline(on_result=…)`` calls back on the inference thread;
the callback appends the result to a small bounded queue and, if the GUI has not been told yet, emits
one signal (queued connection). The GUI drains the queue on that signal, so a slow GUI never makes the
queue grow: at most :data:`MAX_PENDING` results wait, older ones are dropped (and counted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import time
from collections import deque
from pathlib import Path

from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from rtpose.errors import RtposeError, exception_gist
from rtpose.factory import ModelOptions, build_estimator

#: Most results waiting for the GUI thread; older ones are dropped when the GUI lags behind.
MAX_PENDING = 8


#: What the viewer builds its estimator from: the model options of ``rtpose run`` (one definition).
ModelConfig = ModelOptions


def available_devices() -> list[str]:
    """``auto``, ``cpu`` and each CUDA device PyTorch sees."""
    devices = ["auto", "cpu"]
    try:
        import torch

        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except Exception:  # pragma: no cover - torch is a dependency; a broken CUDA setup just means cpu
        pass
    return devices


def describe_estimator(estimator, config: ModelConfig) -> dict:
    """Human-readable facts about a built estimator, for the side panel and the HUD."""
    backend = estimator.backend
    model = getattr(backend, "model", None)
    width = getattr(model, "width", None)
    if width is None:  # ONNX Runtime / TensorRT: the artefact's name says it (hrnet_w32_…)
        artefact = str(getattr(backend, "onnx_path", "") or getattr(backend, "engine_path", "") or config.weights)
        match = re.search(r"w(\d{2})(?!\d)", Path(artefact).name.lower())
        width = int(match.group(1)) if match else None
    h, w = backend.input_hw
    detector = getattr(estimator, "detector", None)
    return {
        "backend": backend.name,
        "device": re.sub(r"\s*\([^)]*\)", "", str(backend.device)).strip(),  # "cpu (…) fp32" → "cpu fp32"
        "device_full": str(backend.device),
        "reason": getattr(backend, "reason", ""),
        "model": f"HRNet-W{width} {h}x{w}" if width else f"HRNet {h}x{w}",
        "weights": str(config.weights),
        "detector": Path(str(getattr(detector, "weights", config.detector or "-"))).name,
    }


def _one_sentence(exc: BaseException) -> str:
    if isinstance(exc, RtposeError):
        return str(exc)
    return f"{type(exc).__name__}: {exception_gist(exc, 200)}"


class ModelLoader(QObject):
    """Builds estimators on a background thread; ``loaded(estimator, info)`` or ``failed(message)``."""

    loaded = pyqtSignal(object, dict)
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, builder=build_estimator) -> None:
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
                estimator = self._builder(config)
                info = describe_estimator(estimator, config)
            except BaseException as exc:  # noqa: BLE001 - any failure is shown to the user, never raised
                if generation == self._generation:
                    self.failed.emit(_one_sentence(exc))
                return
            if generation == self._generation:
                self.loaded.emit(estimator, info)

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


class PipelineController(QObject):
    """Opens a source and runs a :class:`~rtpose.pipeline.Pipeline` on it, off the GUI thread.

    Signals (all delivered on the GUI thread):
        started(dict): the source is open and frames flow; keys ``name``, ``is_live``, ``fps``, ``size``,
            ``frame_count``, ``spec``.
        results_ready(): call :meth:`take_results` for the results that arrived.
        finished(str, dict): the run ended; a reason ("end", "stopped" or an error sentence) and the
            pipeline's summary.
        error(str): opening the source failed (one sentence); nothing is running.
    """

    started = pyqtSignal(dict)
    results_ready = pyqtSignal()
    finished = pyqtSignal(str, dict)
    error = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, tracker_factory=None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: deque = deque(maxlen=MAX_PENDING)
        self._notified = False
        self._pipeline = None
        self._source = None
        self._opener: threading.Thread | None = None
        self._generation = 0
        self._stopping = False
        self.tracker_factory = tracker_factory
        self._retired: list = []
        self.info: dict = {}
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._check_running)

    # -- state -----------------------------------------------------------------------------------------
    @property
    def pipeline(self):
        return self._pipeline

    @property
    def running(self) -> bool:
        """True while a source is opening or the pipeline runs."""
        opening = self._opener is not None and self._opener.is_alive()
        return opening or (self._pipeline is not None and bool(self._pipeline.running))

    @property
    def paused(self) -> bool:
        return self._pipeline is not None and bool(self._pipeline.paused)

    # -- commands --------------------------------------------------------------------------------------
    def open(self, spec: str | int, estimator, *, realtime: bool = False, start_index: int = 0,
             timeout: float = 10.0) -> None:
        """Stop what runs, then open ``spec`` and start the pipeline on a background thread."""
        self.stop()
        self._generation += 1
        generation = self._generation

        def work() -> None:
            from rtpose.pipeline import Pipeline
            from rtpose.sources import open_source

            source = None
            try:
                source = open_source(spec, realtime=realtime, timeout=timeout)
                if start_index and source.frame_count:
                    source.seek(min(start_index, source.frame_count - 1))
                tracker = self.tracker_factory() if self.tracker_factory else None
                pipeline = Pipeline(source, estimator, tracker=tracker, on_result=self._on_result)
                if generation != self._generation:  # superseded or stopped while opening
                    source.close()
                    return
                info = {"spec": spec, "name": source.name, "is_live": bool(source.is_live), "fps": source.fps,
                        "size": tuple(source.size), "frame_count": source.frame_count}
                with self._lock:
                    self._pending.clear()
                    self._notified = False
                self._source, self._pipeline, self.info = source, pipeline, info
                pipeline.start()
            except BaseException as exc:  # noqa: BLE001 - shown to the user, never raised on this thread
                if source is not None:
                    with contextlib.suppress(Exception):
                        source.close()
                if generation == self._generation:
                    self.error.emit(_one_sentence(exc))
                return
            self.started.emit(info)

        self._opener = threading.Thread(target=work, name="rtpose-gui-open", daemon=True)
        self._opener.start()
        self._poll.start()

    def pause(self) -> None:
        if self._pipeline is not None:
            self._pipeline.pause()

    def resume(self) -> None:
        if self._pipeline is not None:
            self._pipeline.resume()

    def seek(self, index: int) -> None:
        if self._pipeline is not None and self.info.get("frame_count"):
            self._pipeline.seek(max(0, min(int(index), self.info["frame_count"] - 1)))

    def stop(self, timeout: float = 1.0) -> dict:
        """Stop the run (joins the pipeline's threads within ``timeout``); returns its summary."""
        self._generation += 1
        opener, self._opener = self._opener, None
        if opener is not None and opener.is_alive() and opener is not threading.current_thread():
            opener.join(timeout)  # a stream that does not answer is abandoned (daemon, bounded by its timeout)
        pipeline, self._pipeline = self._pipeline, None
        summary: dict = {}
        if pipeline is not None:
            self._stopping = True
            try:
                pipeline.stop(timeout=timeout)
                if pipeline.running:  # a frame still in the model: its thread ends after it
                    self._retired.append(pipeline)
                summary = self._summary(pipeline)
            finally:
                self._stopping = False
            self._close_source()
            self.finished.emit("stopped", summary)
        self._poll.stop()
        return summary

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no thread of ours runs any more (a stopped pipeline may still finish a frame).

        Call before the interpreter exits: a daemon thread killed inside PyTorch aborts the process.
        """
        def idle() -> bool:
            self._retired = [p for p in self._retired if p.running]
            opening = self._opener is not None and self._opener.is_alive()
            return not self._retired and not opening and (self._pipeline is None or not self._pipeline.running)

        return wait_until(idle, timeout)

    def take_results(self) -> list:
        """The results that arrived since the last call (oldest first)."""
        with self._lock:
            results = list(self._pending)
            self._pending.clear()
            self._notified = False
        return results

    # -- internals -------------------------------------------------------------------------------------
    def _on_result(self, result) -> None:
        """Pipeline callback, on the inference thread."""
        with self._lock:
            self._pending.append(result)
            if self._notified:
                return
            self._notified = True
        self.results_ready.emit()

    def _check_running(self) -> None:
        pipeline = self._pipeline
        if pipeline is None or pipeline.running or self._stopping:
            return
        # The pipeline ended on its own: end of a file, a lost camera or a failure on its threads.
        self._pipeline = None
        self._poll.stop()
        error = getattr(pipeline, "error", None)
        try:
            pipeline.stop(timeout=1.0)
        except BaseException as exc:  # noqa: BLE001
            error = error or exc
        summary = self._summary(pipeline)
        source = self._source
        if error is None and source is not None and source.is_live and getattr(source, "ended_early", False):
            error = f"{source.name} stopped sending frames (camera unplugged or stream ended)."
        self._close_source()
        if self._pending:
            self.results_ready.emit()
        if isinstance(error, str):
            self.finished.emit(error, summary)
        else:
            self.finished.emit(_one_sentence(error) if error else "end", summary)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            with contextlib.suppress(Exception):  # already closed by the pipeline
                source.close()

    @staticmethod
    def _summary(pipeline) -> dict:
        try:
            summary = pipeline.summary()
            return summary if isinstance(summary, dict) else {"text": str(summary)}
        except Exception:  # noqa: BLE001
            return {}


def wait_until(predicate, timeout: float) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (used when closing)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
