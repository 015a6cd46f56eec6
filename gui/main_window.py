"""The viewer's main window: what it does with models, sources, frames, recordings and snapshots.

Its widgets are built in :mod:`gui.layout`; the segmentation choices are handled in :mod:`gui.seg_controls`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QTimer
from PyQt5.QtGui import QCloseEvent
from PyQt5.QtWidgets import (
    QAction,
    QCheckBox,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QSlider,
)

from gui import overlay
from gui.layout import WindowLayout
from gui.recording import Recording, save_snapshot, timestamped_path
from gui.seg_controls import SegmentationControls
from gui.segview import draw_segmentation, seg_mode
from gui.widgets import bgr_to_qimage
from gui.worker import ModelConfig, ModelLoader, PipelineController
from rtpose.engine.stats import STAGE_ORDER
from rtpose.errors import RtposeError
from rtpose.io.privacy import apply_privacy, parse_privacy
from rtpose.options import StreamOptions
from rtpose.utils.redact import redact_url

VIDEO_FILTER = (
    "Videos and images (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv *.jpg *.jpeg *.png *.bmp);;"
    "All files (*)"
)


def weights_help() -> str:
    """What to do when no model could be loaded, in one sentence."""
    return ("No HRNet model is loaded: use Model ▸ Load weights… (Ctrl+W) or start with 'rtpose gui --weights PATH' "
            "(see 'rtpose weights list').")


class MainWindow(WindowLayout, SegmentationControls, QMainWindow):
    """The rtpose viewer.

    Args:
        config: how to build the model (weights, detector, backend, device…).
        stream_options: tracking, smoothing and detect-every-N (the command line's options).
        kpt_thr: initial keypoint score threshold of the overlay.
        realtime: play files at their own frame rate (dropping frames) instead of every frame.
        output_dir: where recordings and snapshots go (default: the current folder).
        load_model: build the estimator right away (off the GUI thread).
        privacy: None, "faces" or "skeleton" (:mod:`rtpose.io.privacy`): applied to every picture the viewer
            draws, so what it shows, records and snapshots is private alike.
    """

    def __init__(self, config: ModelConfig | None = None, *, kpt_thr: float = 0.3, realtime: bool = False,
                 output_dir: str | Path | None = None, load_model: bool = True,
                 stream_options: StreamOptions | None = None, privacy: str | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.privacy = parse_privacy(privacy) if privacy else None
        self.output_dir = Path(output_dir) if output_dir else Path.cwd()
        self.model = None
        self.estimator = None
        self.model_info: dict = {}
        self.model_error: str | None = None
        self.last_result = None
        self.last_annotated: np.ndarray | None = None
        self.frames_shown = 0
        self.recorder: Recording | None = None
        self.last_snapshot: Path | None = None
        self._pending_open: tuple | None = None
        self._resume_after_load: tuple | None = None
        self._source_info: dict = {}
        self._stream_results: dict = {}  # several streams: the newest result of each, by stream index
        self._stream_images: dict[int, np.ndarray] = {}  # … and its drawn picture
        self._tile: tuple[int, int] = (640, 360)
        self.hud_rect: tuple[int, int, int, int] | None = None  # where the last HUD was drawn
        self._render_ms = 0.0
        self._last_readout = 0.0
        self._closing = False
        self._stale_models: list = []  # replaced models, closed once no stream uses them
        # Segmentation: the weights chosen (kept while segmentation is off) and the background effect.
        self._seg_weights: str | None = self.config.seg_weights
        self._seg_classes: str | None = self.config.seg_classes
        self._background = None  # what rtpose.io.render.parse_background returned, or None
        self._background_index = 0

        self.loader = ModelLoader(self)
        self.loader.loaded.connect(self._model_loaded)
        self.loader.failed.connect(self._model_failed)
        self.controller = PipelineController(self, stream_options=stream_options)
        self.controller.started.connect(self._run_started)
        self.controller.results_ready.connect(self._results_ready)
        self.controller.finished.connect(self._run_finished)
        self.controller.error.connect(self._source_failed)

        self.setWindowTitle("rtpose viewer")
        self.setAcceptDrops(True)
        self.resize(1360, 900)
        self._build_actions()
        self.realtime = QAction("Real-time playback of files", self, checkable=True, checked=realtime)
        self.realtime.setToolTip("Play files at their own frame rate, dropping frames inference cannot keep up with "
                                 "(applies to the next file opened)")
        self._build_ui(kpt_thr)
        self._build_menus()
        self._update_seg_controls(None)
        self._show_seg_weights()
        self._update_controls()
        if load_model:
            self.reload_model()

    # --------------------------------------------------------------------------------- model
    def reload_model(self) -> None:
        """(Re)build the estimator from :attr:`config` on a background thread.

        Without weights the default registry checkpoint is used, downloaded on first use.
        """
        from rtpose.weights.registry import DEFAULT_WEIGHTS

        if self.model is not None:
            self._stale_models.append(self.model)
        self.model = self.estimator = None
        self.model_error = None
        self.backend_label.setText("loading model…")
        self.model_label.setText("loading…")
        weights = self.config.weights
        self.weights_label.set_full_text(Path(weights).name if weights else f"{DEFAULT_WEIGHTS} (default)",
                                         str(weights or f"the default checkpoint {DEFAULT_WEIGHTS}, downloaded on "
                                                         "first use; Ctrl+W loads others"))
        self.loader.load(self.config)
        self.statusBar().showMessage("Loading the model…" if weights else
                                     f"Loading the default model {DEFAULT_WEIGHTS} (downloaded on first use)…")
        self._update_controls()

    def _close_stale_models(self, timeout: float = 5.0) -> None:
        """Release replaced models (a TensorRT context, sessions) once no stream thread uses them."""
        if self._stale_models and self.controller.wait_idle(timeout):
            for model in self._stale_models:
                model.close()
            self._stale_models.clear()

    def set_model(self, model, config: ModelConfig | None = None) -> None:
        """Use a :class:`rtpose.PoseModel` built elsewhere (tests, embedding); ``config``: what it was built from."""
        from gui.worker import describe_model

        if config is not None:
            self.config = config
            self._sync_model_controls()
        self.loader.cancel(timeout=0.0)
        if self.model is not None and self.model is not model:
            self._restart_after_reload()
            self._stale_models.append(self.model)
        self._model_loaded(model, describe_model(model))

    def set_estimator(self, estimator, config: ModelConfig | None = None) -> None:
        """Use an estimator built elsewhere (:func:`rtpose.pose.factory.build_estimator`)."""
        from rtpose.model import PoseModel

        self.set_model(PoseModel.from_estimator(estimator, config or self.config), config)

    def _model_loaded(self, model, info: dict) -> None:
        if self._closing:
            return
        estimator = model.estimator
        if estimator.detector is not None:
            estimator.detector.conf = self.conf_slider.value()
        self._close_stale_models()
        self._show_parts(estimator.keypoint_set)
        self.model, self.estimator, self.model_info, self.model_error = model, estimator, info, None
        self._update_seg_controls(seg_mode(estimator))
        self.model_label.setText(f"{info['model']}\n{info['backend']} · {info['device']}"
                                 + (f"\n+ {info['seg']}" if info.get("seg") else ""))
        self.model_label.setToolTip(f"{info['backend']} on {info.get('device_full', info['device'])}"
                                    + (f"\n{info['reason']}" if info.get("reason") else ""))
        self.detector_label.set_full_text(info["detector"])
        self.backend_label.setText(f"{info['model']} · {info['backend']} · {info['device']}")
        if self.view.banner and self.view.banner.startswith(("No HRNet", "Model:")):
            self.view.set_banner(None)
        self.statusBar().showMessage("Model ready" + (" — open a video, a camera or a URL" if not
                                                      self.controller.running else ""), 5000)
        pending, self._pending_open = self._pending_open, None
        resume, self._resume_after_load = self._resume_after_load, None
        if pending is not None:
            self._open(*pending)
        elif resume is not None:
            self._open(*resume)
        self._update_controls()

    def _show_parts(self, keypoint_set) -> None:
        """One check box per part of the model's keypoint set (whole body: body, feet, face, hands)."""
        for box in self.part_boxes.values():
            self.parts_layout.removeWidget(box)
            box.deleteLater()
        self.part_boxes = {}
        if len(keypoint_set.parts) > 1:
            for part in keypoint_set.parts:
                box = QCheckBox(part.replace("_", " ").capitalize())
                box.setChecked(True)
                box.setToolTip(f"Draw the {part.replace('_', ' ')} keypoints of {keypoint_set.title}")
                box.toggled.connect(lambda _on: self._rerender())
                self.parts_layout.addWidget(box)
                self.part_boxes[part] = box
        self.parts_widget.setVisible(bool(self.part_boxes))

    def _model_failed(self, message: str) -> None:
        if self._closing:
            return
        self.model_error = message
        self._pending_open = self._resume_after_load = None
        self._update_seg_controls(None)
        self.model_label.setText("not loaded")
        self.backend_label.setText("no model")
        self.show_error(message if message.startswith("No HRNet") else f"Model: {message}")
        self._update_controls()

    def _model_choice_changed(self) -> None:
        backend, device = self.backend_combo.currentText(), self.device_combo.currentText()
        server = (self.server_edit.text().strip() or None) if backend == "triton" else None  # only triton has one
        self._show_server_row(backend == "triton")
        if backend == "triton" and server is None:
            self.server_edit.setFocus()
            self.statusBar().showMessage("Type the Triton servers' gRPC address (host:8001) and press Enter.", 15000)
            return
        unchanged = (backend, device) == (self.config.backend, self.config.device) and (
            backend != "triton" or server == self.config.server)
        if unchanged and self.estimator is not None:
            return
        self.config = dataclasses.replace(self.config, backend=backend, device=device, server=server)
        self._restart_after_reload()
        self.reload_model()

    def apply_server(self) -> None:
        """Enter in the server field (or Connect): rebuild the model on those Triton servers, even if unchanged."""
        if self.backend_combo.currentText() != "triton":
            return
        server = self.server_edit.text().strip()
        if not server:
            self.server_edit.setFocus()
            self.show_error("Type the Triton servers' gRPC address first (host:8001, several: comma between).")
            return
        self.config = dataclasses.replace(self.config, backend="triton", server=server)
        self._restart_after_reload()
        self.reload_model()

    def _sync_model_controls(self) -> None:
        """The model panel's choices as :attr:`config` says (a model set from outside)."""
        self._select(self.backend_combo, self.config.backend)
        self._select(self.device_combo, self.config.device)
        self._select(self.seg_combo, self.config.seg or "off")
        self.server_edit.setText(self.config.server or "")
        self._show_server_row(self.config.backend == "triton")
        if self.config.seg:
            self._seg_weights, self._seg_classes = self.config.seg_weights, self.config.seg_classes
        self._show_seg_weights()

    def _restart_after_reload(self) -> None:
        """Remember what runs so it restarts (at the same frame) with the new model."""
        if self.controller.running and self._source_info:
            index = self.last_result.frame.index + 1 if self.last_result is not None else 0
            spec = self._source_info["spec"]
            self.controller.stop()
            self._resume_after_load = (spec, index if not self._source_info.get("is_live") and not self._multi
                                       else 0)

    def open_weights_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load HRNet weights", str(Path.home()),
                                              "Checkpoints (*.pth *.pt *.ckpt *.bin);;All files (*)")
        if path:
            self.load_weights(path)

    def load_weights(self, path: str) -> None:
        self.config = dataclasses.replace(self.config, weights=str(path))
        self._restart_after_reload()
        self.reload_model()

    def _set_conf(self, value: float) -> None:
        self.config.conf = value
        detector = getattr(self.estimator, "detector", None)
        if detector is not None:
            detector.conf = value  # read by the detector on every frame

    def _set_budget(self, value: int) -> None:
        self.controller.set_budget(float(value) if value > 0 else None)  # 0: off

    def _set_tracking(self, on: bool) -> None:
        self.controller.set_tracking(on)  # applied by the pose thread between two frames
        self.show_ids.setChecked(on)

    # -------------------------------------------------------------------------------- sources
    def open_source(self, spec: str | int, start_index: int = 0) -> None:
        """Open a camera index, file, folder or URL and start estimating (files: from ``start_index``)."""
        if isinstance(spec, str) and spec.strip().isdigit():
            spec = int(spec)
        self._open(spec, start_index)

    def open_sources(self, specs: list) -> None:
        """Open several sources at once (files, URLs, camera indices): one stream each, shown in a grid."""
        specs = [int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in specs
                 if not (isinstance(s, str) and not s.strip())]
        if len(specs) == 1:
            self._open(specs[0])
        elif specs:
            self._open(list(specs))

    def _open(self, spec, start_index: int = 0) -> None:
        self.snapshot_label.setText("")
        if self.estimator is None:
            if self.loader.busy:
                self._pending_open = (spec, start_index)
                self.statusBar().showMessage("The model is still loading: the source opens when it is ready.")
                return
            self.show_error(self.model_error or weights_help())
            return
        self.view.set_banner(None)
        what = f"{len(spec)} sources" if isinstance(spec, list) else redact_url(str(spec))  # never a password
        self.statusBar().showMessage(f"Opening {what}…")
        self.source_label.setText(f"Opening {what}…")
        self.controller.open(spec, self.estimator, realtime=self.realtime.isChecked(), start_index=start_index)
        self._update_controls()

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video or image", str(Path.cwd()), VIDEO_FILTER)
        if path:
            self.open_source(path)

    def open_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open several videos (one stream each)", str(Path.cwd()),
                                                VIDEO_FILTER)
        if paths:
            self.open_sources(paths)

    def open_urls_dialog(self) -> None:
        text, ok = QInputDialog.getMultiLineText(self, "Open several URLs",
                                                 "Stream URLs, files or camera numbers, one a line:",
                                                 self.url_edit.text().strip())
        if ok:
            self.open_sources(text.split())

    def open_camera(self) -> None:
        self.open_source(int(self.camera_index.value()))

    def open_url(self) -> None:
        url = self.url_edit.text().strip()
        if not url:
            self.url_edit.setFocus()
            self.show_error("Type a stream URL first (rtsp://…, http://…).")
            return
        self.open_sources(url.split())  # URLs have no spaces: several URLs open as several streams

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_sources(files)

    # ------------------------------------------------------------------------------- transport
    def toggle_pause(self) -> None:
        if self.controller.stream is None:
            if self._source_info and not self.controller.running:  # finished or stopped: play again
                self._open(self._source_info["spec"], 0)
            return
        if self.controller.paused:
            self.controller.resume()
            self.statusBar().showMessage("Playing", 2000)
        else:
            self.controller.pause()
            self.statusBar().showMessage("Paused — Space resumes" + ("" if self._multi else
                                                                      ", ←/→ step through frames"), 4000)
        self._update_controls()

    def stop(self) -> None:
        self._pending_open = self._resume_after_load = None
        self.controller.stop()
        self._update_controls()

    def step(self, delta: int) -> None:
        """Show the frame ``delta`` frames away (files only); pauses playback."""
        if not self._seekable():
            return
        if not self.controller.paused:
            self.controller.pause()
        current = self.last_result.frame.index if self.last_result is not None else 0
        self.seek(current + delta)
        self._update_controls()

    def seek(self, index: int) -> None:
        if self._seekable():
            count = self._source_info["frame_count"]
            index = max(0, min(int(index), count - 1))
            self.controller.seek(index)
            self.position.setValue(index)

    def _position_action(self, action: int) -> None:
        if action in (QSlider.SliderPageStepAdd, QSlider.SliderPageStepSub, QSlider.SliderSingleStepAdd,
                      QSlider.SliderSingleStepSub):
            QTimer.singleShot(0, lambda: self.seek(self.position.value()))

    def _seekable(self) -> bool:
        return bool(self.controller.stream is not None and self._source_info.get("frame_count")
                    and not self._source_info.get("is_live") and not self._multi)

    @property
    def _multi(self) -> bool:
        """Several streams run (or ran): a grid, per-stream readouts, no seeking."""
        return len(self._source_info.get("streams", ())) > 1

    @property
    def _still(self) -> bool:
        """One still image: no frame rate to show."""
        info = self._source_info
        return bool(info) and not self._multi and info.get("frame_count") == 1 and not info.get("is_live")

    def _run_started(self, info: dict) -> None:
        self._source_info = info
        self.last_result = None
        self.frames_shown = 0
        self._stream_results, self._stream_images = {}, {}
        streams = info.get("streams") or [info]
        self.stream_table.set_streams([s["name"] for s in streams])
        if self._multi:
            self._tile = overlay.tile_size([s.get("size") or (0, 0) for s in streams])
            self._show_multi_started(streams)
            return
        count = info.get("frame_count")
        self.position.setRange(0, max(0, (count or 1) - 1))
        self.position.setValue(0)
        size = info.get("size")
        facts = [info["name"], "live" if info["is_live"] else (f"{count} frames" if count else "")]
        if size:
            facts.append(f"{size[0]}×{size[1]}")
        if info.get("fps"):
            facts.append(f"{info['fps']:.3g} fps")
        self.source_label.setText(" · ".join(f for f in facts if f))
        self.setWindowTitle(f"{info['name']} — rtpose viewer")
        self.statusBar().showMessage(f"Playing {info['name']}", 3000)
        self.readouts.clear()
        self._update_controls()

    def _show_multi_started(self, streams: list[dict]) -> None:
        self.position.setRange(0, 0)
        self.position_label.setText(f"{len(streams)} streams")
        self.source_label.setText("\n".join(
            f"{i + 1}. {s['name']}" + (" · live" if s["is_live"] else "")
            + (f" · {s['size'][0]}×{s['size'][1]}" if s.get("size") and s["size"][0] else "")
            for i, s in enumerate(streams)))
        self.setWindowTitle(f"{len(streams)} streams: {self._source_info['name']} — rtpose viewer")
        self.statusBar().showMessage(f"Playing {len(streams)} streams", 3000)
        self.readouts.clear()
        self._update_controls()

    def _source_failed(self, message: str) -> None:
        """Opening failed: nothing runs, so nothing of the previous source stays (frame, title, figures)."""
        self._source_info = {}
        self.last_result = self.last_annotated = None
        self._stream_results, self._stream_images = {}, {}
        self.frames_shown = 0
        self.view.set_image(None)
        self.setWindowTitle("rtpose viewer")
        self.source_label.setText("No source")
        self.readouts.clear()
        self.stream_table.set_streams([])
        self.position.setRange(0, 0)
        self.position_label.setText("--:-- / --:--")
        self.show_error(message)
        self._update_controls()

    def _run_finished(self, reason: str, summary: dict) -> None:
        if self._closing:
            return
        frames = self.frames_shown
        if reason == "end":
            self.statusBar().showMessage(f"End of {self._source_info.get('name', 'the source')}: {frames} frames "
                                         "shown — Space plays it again", 8000)
        elif reason == "stopped":
            self.statusBar().showMessage(f"Stopped after {frames} frames", 5000)
        else:
            name = self._source_info.get("name", "")
            names = [s["name"] for s in self._source_info.get("streams", ())] + [name]
            # The error sentence names the source already (most do): do not say it twice.
            named = any(str(n) and str(n) in reason for n in names)
            self.show_error(reason if named else f"{name or 'The source'} stopped: {reason}")
        if self.recorder is not None and self._resume_after_load is None:
            self.stop_recording()  # the end of the source, an error or Stop finalise the recording
        self._update_controls()

    # ---------------------------------------------------------------------------------- frames
    def _results_ready(self) -> None:
        results = self.controller.take_results()
        if not results or self._closing:
            return
        if self._multi:
            self._results_ready_grid(results)
            return
        for result in results:
            start = time.perf_counter()
            annotated = self.render(result)
            self._render_ms = (time.perf_counter() - start) * 1e3
            if self.recorder is not None:
                self._record(result, annotated)
        self.last_result, self.last_annotated = results[-1], annotated
        first = self.frames_shown == 0
        self.frames_shown += len(results)
        self.view.set_image(bgr_to_qimage(annotated))
        if not self.position.isSliderDown():
            self.position.blockSignals(True)
            self.position.setValue(result.frame.index)
            self.position.blockSignals(False)
        now = time.perf_counter()
        if now - self._last_readout > 0.1 or self.controller.paused:
            self._last_readout = now
            self._update_readouts(result)
        if first:
            self._update_controls()

    def _results_ready_grid(self, results: list) -> None:
        """Several streams: draw each new result, and show every stream's newest picture in its tile."""
        start = time.perf_counter()
        drawn = {}
        for result in results:  # the newest of each stream is enough
            self._stream_results[int(result.stream)] = result
            drawn[int(result.stream)] = result
        for index, result in drawn.items():
            self._stream_images[index] = self.render(result)
        self._render_ms = (time.perf_counter() - start) * 1e3 / max(1, len(drawn))
        self._compose()
        if self.recorder is not None:
            self._record(results[-1], self.last_annotated)
        self.last_result = results[-1]
        first = self.frames_shown == 0
        self.frames_shown += len(results)
        now = time.perf_counter()
        if now - self._last_readout > 0.1 or self.controller.paused:
            self._last_readout = now
            self._update_stream_readouts()
        if first:
            self._update_controls()

    def _compose(self) -> None:
        """The grid of the streams' newest pictures, on show and in :attr:`last_annotated`."""
        streams = len(self._source_info.get("streams", ()))
        grid = overlay.compose_grid(self._stream_images, streams, self._tile)
        self.last_annotated = grid
        self.view.set_image(bgr_to_qimage(grid))

    def _update_stream_readouts(self) -> None:
        results = [self._stream_results[i] for i in sorted(self._stream_results)]
        for result in results:
            self.stream_table.update_stream(int(result.stream), result.fps, result.latency_ms, len(result),
                                            result.dropped)
        if results:
            newest = self.last_result
            stages = {k: float(v) for k, v in newest.timings_ms.items()}
            stages["render"] = self._render_ms
            order = [s for s in STAGE_ORDER if s in stages] + sorted(s for s in stages if s not in STAGE_ORDER)
            self.readouts.update_from(sum(r.fps for r in results), max(r.latency_ms for r in results),
                                      sum(len(r) for r in results), sum(r.dropped for r in results),
                                      f"{len(results)} streams", [(s, stages[s]) for s in order])

    def hud_lines(self, result) -> list[str]:
        """The HUD of ``result``: FPS (none for a still image), latency, people, backend and device."""
        lines = overlay.hud_lines(result, self.model_info.get("backend", ""), self.model_info.get("device", ""),
                                  still=self._still)
        if self._multi:  # which stream this tile shows, numbered as in the side panel's table
            streams = self._source_info["streams"]
            name = streams[result.stream]["name"] if result.stream < len(streams) else ""
            lines.insert(0, f"{result.stream + 1}. {Path(str(name)).name or name}")
        return lines

    def render(self, result) -> np.ndarray:
        """The frame of ``result`` with the overlay as the controls say (segmentation, boxes, skeletons, IDs, HUD).

        The HUD goes in the corner of the frame where it covers the fewest people.
        """
        parts = [name for name, box in self.part_boxes.items() if box.isChecked()] if self.part_boxes else None
        image = draw_segmentation(result.image.copy(), result, self.seg_display())
        if self.privacy is not None:
            apply_privacy(image, result, self.privacy, kpt_thr=self.kpt_slider.value())
        result.plot(image, kpt_thr=self.kpt_slider.value(), boxes=self.show_boxes.isChecked(),
                    keypoints=self.show_keypoints.isChecked(), ids=self.show_ids.isChecked(), keypoint_parts=parts,
                    masks=False, copy=False)
        if self.show_hud.isChecked():
            self.hud_rect = overlay.draw_hud(image, self.hud_lines(result), result.boxes)
        return image

    def _rerender(self) -> None:
        """Redraw the last frame after a display setting changed (so it applies even while paused)."""
        if self._multi and self._stream_results:
            self._stream_images = {i: self.render(r) for i, r in self._stream_results.items()}
            self._compose()
        elif self.last_result is not None:
            self.last_annotated = self.render(self.last_result)
            self.view.set_image(bgr_to_qimage(self.last_annotated))

    def _update_readouts(self, result) -> None:
        stages = dict(result.timings_ms)
        if not self._source_info.get("is_live"):
            stages.pop("queue", None)  # a file is read ahead on purpose: its frames' wait is not a cost
        stages["render"] = self._render_ms
        order = [s for s in STAGE_ORDER if s in stages] + sorted(s for s in stages if s not in STAGE_ORDER)
        count = self._source_info.get("frame_count")
        frame = f"{result.frame.index + 1}/{count}" if count else str(result.frame.index + 1)
        self.readouts.update_from(None if self._still else result.fps, result.latency_ms, len(result),
                                  result.dropped, frame, [(s, float(stages[s])) for s in order])
        fps = self._source_info.get("fps")
        if count and fps:
            self.position_label.setText(f"{_clock(result.frame.index / fps)} / {_clock(count / fps)}")
        elif count:
            self.position_label.setText(f"{result.frame.index + 1} / {count}")
        else:
            self.position_label.setText(f"live  #{result.frame.index}")

    # ------------------------------------------------------------------------- record / snapshot
    def toggle_record(self) -> None:
        if self.recorder is not None:
            self.stop_recording()
        else:
            self.snapshot_label.setText("")
            self.start_recording()

    def start_recording(self, path: str | Path | None = None) -> bool:
        """Record the annotated stream to ``path`` (default: a time-stamped .mp4 in :attr:`output_dir`)."""
        if self.controller.stream is None or not self._source_info:
            self.act_record.setChecked(False)
            self.show_error("Start a source first, then record.")
            return False
        path = Path(path) if path else timestamped_path(self.output_dir, ".mp4")
        if not self._may_write(path, "recording"):
            self.act_record.setChecked(False)
            return False
        size = self._source_info.get("size")
        if self.last_annotated is not None:
            size = (self.last_annotated.shape[1], self.last_annotated.shape[0])
        fps = self._source_info.get("fps") or (self.last_result.fps if self.last_result else 0) or 25.0
        real_time = bool(self._source_info.get("is_live"))
        if self._multi:  # the grid changes once per result of any stream, frame numbers interleave
            fps = sum(s.get("fps") or 25.0 for s in self._source_info["streams"])
            real_time = False
        try:
            self.recorder = Recording(path, fps, tuple(size), real_time=real_time)
        except (RtposeError, OSError) as exc:
            self.recorder = None
            self.act_record.setChecked(False)
            self.show_error(f"Could not record to {path}: {exc}")
            return False
        self.act_record.setChecked(True)
        self.rec_label.setText("● REC")
        self.statusBar().showMessage(f"Recording to {path}", 4000)
        return True

    def _may_write(self, path: Path, what: str) -> bool:
        """Whether ``path`` is no input of the viewer's (the open source, a file of its folder, the weights,
        the detector): the command line's one check (:func:`rtpose.io.paths.check_paths`); else say why."""
        from rtpose.io.paths import PathUse, check_paths
        from rtpose.options.schema import INPUT_FILE, OUTPUT_FILE, SOURCE

        spec = self._source_info.get("spec")
        specs = spec if isinstance(spec, list) else [spec]
        uses = [PathUse("source", SOURCE, s) for s in specs if isinstance(s, (str, Path))]
        uses += [PathUse(name, INPUT_FILE, value) for name, value in (("weights", self.config.weights),
                                                                      ("detector", self.config.detector))
                 if value]
        try:
            check_paths([*uses, PathUse(f"the {what}", OUTPUT_FILE, path)])
        except RtposeError as exc:
            self.show_error(str(exc))
            return False
        return True

    def _record(self, result, annotated: np.ndarray) -> None:
        try:
            self.recorder.write(result, annotated)
        except Exception as exc:  # noqa: BLE001 - a full disk must not crash the viewer
            self.show_error(f"Recording stopped: {exc}")
            self.stop_recording()

    def stop_recording(self) -> Path | None:
        """Finalise the recording; returns its path."""
        recorder, self.recorder = self.recorder, None
        self.act_record.setChecked(False)
        self.rec_label.setText("")
        if recorder is None:
            return None
        try:
            path = recorder.close()
        except Exception as exc:  # noqa: BLE001
            self.show_error(f"Could not finish the recording {recorder.path}: {exc}")
            return None
        self.statusBar().showMessage(f"Saved recording {path} ({recorder.frames} frames)", 8000)
        return path

    def snapshot(self, path: str | Path | None = None) -> Path | None:
        """Save the current view (the annotated frame, full resolution) as a PNG; returns its path."""
        if self.last_annotated is None:
            self.show_error("Nothing to snapshot yet: open a source first.")
            return None
        path = Path(path) if path else timestamped_path(self.output_dir, ".png")
        if not self._may_write(path, "snapshot"):
            return None
        try:
            save_snapshot(self.last_annotated, path)
        except RtposeError as exc:
            self.show_error(str(exc))
            return None
        self.last_snapshot = path
        self.statusBar().showMessage(f"Saved snapshot {path}", 6000)
        self.snapshot_label.setText(f"Snapshot: {path}")  # stays until the next action
        self.snapshot_label.setToolTip(str(path))
        return path

    # ------------------------------------------------------------------------------------ misc
    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self._leave_fullscreen()
        else:
            self.side_panel.hide()
            self.menuBar().hide()
            self.showFullScreen()
            self.act_fullscreen.setChecked(True)

    def _leave_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        self.side_panel.show()
        self.menuBar().show()
        self.act_fullscreen.setChecked(False)

    def show_error(self, message: str) -> None:
        """Tell the user: in the status bar and over the video (never a blocking dialog)."""
        self.statusBar().showMessage(message, 15000)
        self.view.set_banner(message, "error" if not message.startswith("No HRNet") else "warning")
        self.last_error = message

    def _update_controls(self) -> None:
        running = self.controller.stream is not None
        seekable = self._seekable()
        paused = self.controller.paused
        self.act_stop.setEnabled(self.controller.running)
        self.act_pause.setEnabled(running or bool(self._source_info))
        self.act_pause.setIcon(self._icons["play" if paused or not running else "pause"])
        self.act_pause.setText("Play" if paused or not running else "Pause")
        for widget in (self.act_back, self.act_fwd, self.position):
            widget.setEnabled(seekable)
        self.act_record.setEnabled(running or self.recorder is not None)
        self.act_snapshot.setEnabled(self.last_annotated is not None)
        self.btn_record.setText("Stop rec" if self.recorder is not None else "Rec")

    def wait_for_threads(self, timeout: float = 10.0) -> bool:
        """After closing: wait until every background thread has really ended (before the process exits)."""
        end = time.monotonic() + timeout
        ok = self.controller.wait_idle(timeout)
        return self.loader.wait_idle(max(0.0, end - time.monotonic())) and ok

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        """Stop every thread (within a second) and finalise a recording, then close."""
        self._closing = True
        self.loader.cancel(timeout=0.2)
        self.controller.stop(timeout=1.0)
        self.stop_recording()
        if self.model is not None:
            self._stale_models.append(self.model)
            self.model = self.estimator = None
        super().closeEvent(event)

    def release_models(self, timeout: float = 10.0) -> None:
        """After closing: release every model once the threads using it have ended."""
        self._close_stale_models(timeout)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds < 3600 else time.strftime("%H:%M:%S",
                                                                                            time.gmtime(seconds))
