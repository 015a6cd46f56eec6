"""The viewer window's widgets: actions and shortcuts, menus, the video with its transport bar, and the
side panel (source, live readouts, detection, display, segmentation and model groups).

:class:`WindowLayout` is a mixin of :class:`gui.main_window.MainWindow`: it only builds and lays out;
the slots it connects (``open_file_dialog``, ``toggle_pause``, ``_rerender`` …) are the window's.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QSize, Qt
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui import theme
from gui.widgets import ElidedLabel, LabeledSlider, Readouts, StreamTable, VideoView, make_icon
from rtpose.options.table import SEG_MODES, option
from rtpose.runtime.devices import available_devices
from rtpose.runtime.select import available_backends

#: The segmentation combo's items: none, or a ``seg=`` mode of :class:`rtpose.PoseModel` (the schema's choices).
SEG_CHOICES = ("off", *SEG_MODES)
#: Cameras the source group's spin box offers (from the schema's lowest ``--camera`` index).
MAX_CAMERA_INDEX = 63
#: The background combo's items: the frame as it is, blurred, a colour or an image (each asks which).
BACKGROUND_CHOICES = ("None", "Blur", "Colour…", "Image…")


def _slider(title: str, name: str, value: float, tooltip: str, step: float = 0.05) -> LabeledSlider:
    """A slider over the bounds the options schema gives ``name`` (``conf``, ``kpt_thr``: 0 to 1)."""
    record = option(name)
    return LabeledSlider(title, record.low, record.high, step, record.default if value is None else value,
                         tooltip=tooltip)


class WindowLayout:
    """Builds the window's widgets (mixed into a QMainWindow that has ``config`` and the slots)."""

    def _action(self, text: str, slot, shortcut=None, icon=None, checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(make_icon(icon))
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.WindowShortcut)
        action.setCheckable(checkable)
        tip = tip or text.replace("…", "").replace("&", "")
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})" if shortcut else tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden (full screen)
        return action

    def _build_actions(self) -> None:
        self._icons = {"play": make_icon("play"), "pause": make_icon("pause")}
        self.act_open = self._action("&Open file…", self.open_file_dialog, "Ctrl+O", "open")
        self.act_open_several = self._action("Open &several files…", self.open_files_dialog, "Ctrl+Shift+O",
                                             tip="Open several videos at once: a grid of the streams")
        self.act_open_urls = self._action("Open several &URLs…", self.open_urls_dialog,
                                          tip="Open several stream URLs (one a line): a grid of the streams")
        self.act_weights = self._action("Load &weights…", self.open_weights_dialog, "Ctrl+W", tip="Load HRNet weights")
        self.act_pause = self._action("&Pause", self.toggle_pause, "Space", "pause", tip="Pause / resume")
        self.act_stop = self._action("&Stop", self.stop, None, "stop")
        self.act_back = self._action("Step &back", lambda: self.step(-1), "Left", "back",
                                     tip="One frame back")
        self.act_fwd = self._action("Step &forward", lambda: self.step(1), "Right", "forward",
                                    tip="One frame forward")
        self.act_record = self._action("&Record", self.toggle_record, "Ctrl+R", "record", checkable=True,
                                       tip="Record the annotated video")
        self.act_snapshot = self._action("&Snapshot", self.snapshot, "Ctrl+S", "snapshot",
                                         tip="Save a PNG of the current view")
        self.act_fullscreen = self._action("&Full screen", self.toggle_fullscreen, "F", "fullscreen",
                                           checkable=True)
        self.act_quit = self._action("&Quit", self.close, "Ctrl+Q")
        self.act_leave_fullscreen = self._action("Leave full screen", self._leave_fullscreen, "Esc")
        # Segmentation display toggles (their check boxes are in the side panel; the two stay in step).
        self.act_masks = self._action("Person &masks", lambda on: self.show_masks.setChecked(on), "M",
                                      checkable=True, tip="Tint each person's mask in their track colour")
        self.act_seg_parts = self._action("Body &parts", lambda on: self.show_seg_parts.setChecked(on), "P",
                                          checkable=True, tip="Tint the body parts in the LIP palette")

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.act_open)
        file_menu.addAction(self.act_open_several)
        file_menu.addAction("Open &camera", self.open_camera)
        file_menu.addAction("Open &URL", self.open_url)
        file_menu.addAction(self.act_open_urls)
        file_menu.addSeparator()
        file_menu.addAction(self.act_record)
        file_menu.addAction(self.act_snapshot)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        play = bar.addMenu("&Playback")
        for action in (self.act_pause, self.act_stop, self.act_back, self.act_fwd):
            play.addAction(action)
        play.addSeparator()
        play.addAction(self.realtime)
        view = bar.addMenu("&View")
        for box in (self.show_boxes, self.show_keypoints, self.show_ids, self.show_hud):
            action = QAction(box.text(), self, checkable=True, checked=box.isChecked())
            action.toggled.connect(box.setChecked)
            box.toggled.connect(action.setChecked)
            view.addAction(action)
        view.addSeparator()
        view.addAction(self.act_masks)
        view.addAction(self.act_seg_parts)
        view.addSeparator()
        view.addAction(self.act_fullscreen)
        model = bar.addMenu("&Model")
        model.addAction(self.act_weights)
        model.addAction("Load &segmentation weights…", self.open_seg_weights_dialog)

    def _tool_button(self, action: QAction, text: str | None = None, object_name: str = "") -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setFocusPolicy(Qt.NoFocus)
        button.setIconSize(QSize(18, 18))
        if text is not None:
            button.setText(text)
            button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        if object_name:
            button.setObjectName(object_name)
        return button

    def _build_ui(self, kpt_thr: float) -> None:
        central = QWidget()
        central.setObjectName("central")
        root = QHBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)

        # Left: the video and the transport bar under it.
        left = QVBoxLayout()
        left.setSpacing(0)
        self.view = VideoView()
        left.addWidget(self.view, 1)
        transport = QWidget()
        transport.setObjectName("transport")
        bar = QHBoxLayout(transport)
        bar.setContentsMargins(10, 6, 10, 6)
        bar.setSpacing(6)
        self.btn_back = self._tool_button(self.act_back)
        self.btn_pause = self._tool_button(self.act_pause)
        self.btn_stop = self._tool_button(self.act_stop)
        self.btn_fwd = self._tool_button(self.act_fwd)
        for button in (self.btn_back, self.btn_pause, self.btn_stop, self.btn_fwd):
            bar.addWidget(button)
        self.position = QSlider(Qt.Horizontal)
        self.position.setFocusPolicy(Qt.NoFocus)
        self.position.setToolTip("Position in the file (drag to seek)")
        self.position.sliderReleased.connect(lambda: self.seek(self.position.value()))
        self.position.actionTriggered.connect(self._position_action)
        bar.addWidget(self.position, 1)
        self.position_label = QLabel("--:-- / --:--")
        self.position_label.setObjectName("mono")
        self.position_label.setMinimumWidth(110)
        self.position_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        bar.addWidget(self.position_label)
        bar.addSpacing(8)
        self.btn_record = self._tool_button(self.act_record, "Rec", "record")
        self.btn_snapshot = self._tool_button(self.act_snapshot, "Snapshot")
        self.btn_fullscreen = self._tool_button(self.act_fullscreen)
        for button in (self.btn_record, self.btn_snapshot, self.btn_fullscreen):
            bar.addWidget(button)
        left.addWidget(transport)
        root.addLayout(left, 1)

        # Right: the side panel.
        panel = QWidget()
        panel.setObjectName("sidepanel")
        column = QVBoxLayout(panel)
        column.setContentsMargins(10, 4, 12, 10)
        column.setSpacing(6)
        column.addWidget(self._source_group())
        column.addWidget(self._live_group())
        column.addWidget(self._detection_group(kpt_thr))
        column.addWidget(self._display_group())
        column.addWidget(self._segmentation_group())
        column.addWidget(self._model_group())
        column.addStretch(1)
        self.side_panel = QScrollArea()
        self.side_panel.setWidget(panel)
        self.side_panel.setWidgetResizable(True)
        self.side_panel.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.side_panel.setFixedWidth(336)
        root.addWidget(self.side_panel)
        self.setCentralWidget(central)

        status = self.statusBar()
        status.setSizeGripEnabled(False)
        self.rec_label = QLabel("")
        self.rec_label.setStyleSheet(f"color: {theme.DANGER}; font-weight: 600;")
        self.backend_label = QLabel("loading model…")
        self.snapshot_label = QLabel("")  # the last snapshot's path, until the next action
        self.snapshot_label.setObjectName("muted")
        self.snapshot_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        status.addPermanentWidget(self.snapshot_label)
        status.addPermanentWidget(self.rec_label)
        status.addPermanentWidget(self.backend_label)

    def _source_group(self) -> QGroupBox:
        group = QGroupBox("Source")
        layout = QVBoxLayout(group)
        layout.setSpacing(6)
        self.btn_open = QPushButton(make_icon("open", "#ffffff"), "  Open video or image…")
        self.btn_open.setObjectName("primary")
        self.btn_open.setToolTip("Open a file (Ctrl+O), several at once (Ctrl+Shift+O) — or drop files onto the window")
        self.btn_open.clicked.connect(self.open_file_dialog)
        layout.addWidget(self.btn_open)
        row = QHBoxLayout()
        row.addWidget(QLabel("Camera"))
        self.camera_index = QSpinBox()
        self.camera_index.setRange(int(option("camera").low), MAX_CAMERA_INDEX)
        row.addWidget(self.camera_index, 1)
        self.btn_camera = QPushButton("Open")
        self.btn_camera.clicked.connect(self.open_camera)
        row.addWidget(self.btn_camera)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("rtsp:// or http:// stream URL (several: space between)")
        self.url_edit.returnPressed.connect(self.open_url)
        row.addWidget(self.url_edit, 1)
        self.btn_url = QPushButton("Go")
        self.btn_url.clicked.connect(self.open_url)
        row.addWidget(self.btn_url)
        layout.addLayout(row)
        self.source_label = QLabel("No source — or drop a file onto the window")
        self.source_label.setObjectName("muted")
        self.source_label.setWordWrap(True)
        layout.addWidget(self.source_label)
        return group

    def _live_group(self) -> QGroupBox:
        group = QGroupBox("Live")
        layout = QVBoxLayout(group)
        self.readouts = Readouts()
        layout.addWidget(self.readouts)
        self.stream_table = StreamTable()  # several streams: one row each
        self.stream_table.hide()
        layout.addWidget(self.stream_table)
        return group

    def _detection_group(self, kpt_thr: float) -> QGroupBox:
        group = QGroupBox("Detection")
        layout = QVBoxLayout(group)
        self.conf_slider = _slider("Person confidence", "conf", self.config.conf,
                                   tooltip="Minimum YOLO detection score of a person")
        self.conf_slider.valueChanged.connect(self._set_conf)
        self.kpt_slider = _slider("Keypoint threshold", "kpt_thr", kpt_thr,
                                  tooltip="Keypoints (and limbs) scoring below this are hidden")
        self.kpt_slider.valueChanged.connect(lambda _v: self._rerender())
        layout.addWidget(self.conf_slider)
        layout.addWidget(self.kpt_slider)
        return group

    def _display_group(self) -> QGroupBox:
        group = QGroupBox("Display")
        layout = QVBoxLayout(group)
        self.show_boxes = QCheckBox("Boxes")
        self.show_keypoints = QCheckBox("Skeletons")
        self.show_ids = QCheckBox("Track IDs")
        self.show_hud = QCheckBox("HUD on video")
        for box in (self.show_boxes, self.show_keypoints, self.show_hud):
            box.setChecked(True)
        self.tracking = QCheckBox("Tracking")
        self.tracking.setToolTip("Follow people across frames: stable IDs and smoothed keypoints "
                                 "(on by default, as in 'rtpose run')")
        self.tracking.toggled.connect(self._set_tracking)
        self.tracking.setChecked(self.controller.stream_options.track)
        self.show_ids.setChecked(self.controller.stream_options.track)
        grid = QHBoxLayout()
        col1, col2 = QVBoxLayout(), QVBoxLayout()
        col1.addWidget(self.show_boxes)
        col1.addWidget(self.show_keypoints)
        col1.addWidget(self.show_hud)
        col2.addWidget(self.tracking)
        col2.addWidget(self.show_ids)
        col2.addStretch(1)
        grid.addLayout(col1)
        grid.addLayout(col2)
        layout.addLayout(grid)
        budget_row = QHBoxLayout()
        budget_row.addWidget(QLabel("Frame budget"))
        self.budget = QSpinBox()
        self.budget.setRange(0, 2000)
        self.budget.setSingleStep(10)
        self.budget.setSuffix(" ms")
        self.budget.setSpecialValueText("off")
        self.budget.setToolTip("Keep each frame's model work near this: new people and those who move most get a "
                               "fresh pose, the others' skeletons (drawn hollow) move with their box (as --budget). "
                               "A change applies at once to a source opened with a budget, else to the next source.")
        self.budget.setValue(int(round(self.controller.stream_options.budget_ms or 0)))
        self.budget.valueChanged.connect(self._set_budget)
        budget_row.addWidget(self.budget, 1)
        layout.addLayout(budget_row)
        # Parts of whole-body keypoint sets (body, feet, face, hands), filled in when such a model loads.
        self.parts_widget = QWidget()
        self.parts_layout = QHBoxLayout(self.parts_widget)
        self.parts_layout.setContentsMargins(0, 0, 0, 0)
        self.part_boxes: dict[str, QCheckBox] = {}
        self.parts_widget.hide()
        layout.addWidget(self.parts_widget)
        for box in (self.show_boxes, self.show_keypoints, self.show_ids, self.show_hud):
            box.toggled.connect(lambda _on: self._rerender())
        return group

    def _segmentation_group(self) -> QGroupBox:
        """Display toggles of a segmenting model's results (applied live; greyed out without segmentation)."""
        group = QGroupBox("Segmentation")
        layout = QVBoxLayout(group)
        row = QHBoxLayout()
        self.show_masks = QCheckBox("Masks")
        self.show_seg_parts = QCheckBox("Body parts")
        for box, action in ((self.show_masks, self.act_masks), (self.show_seg_parts, self.act_seg_parts)):
            box.setChecked(True)  # what 'rtpose run --seg' draws
            action.setChecked(True)
            box.toggled.connect(action.setChecked)
            box.toggled.connect(lambda _on: self._rerender())
            row.addWidget(box)
        row.addStretch(1)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.background_label = QLabel("Background")
        row.addWidget(self.background_label)
        self.background_combo = QComboBox()
        self.background_combo.addItems(BACKGROUND_CHOICES)
        self.background_combo.activated.connect(self._background_chosen)
        row.addWidget(self.background_combo, 1)
        layout.addLayout(row)
        return group

    def _model_group(self) -> QGroupBox:
        group = QGroupBox("Model")
        form = QFormLayout(group)
        form.setLabelAlignment(Qt.AlignLeft)
        form.setHorizontalSpacing(10)
        self.backend_combo = QComboBox()
        self.backend_combo.addItems(available_backends())
        self._select(self.backend_combo, self.config.backend)
        self.backend_combo.setToolTip("Pose inference backend (changing it rebuilds the model)")
        self.backend_combo.activated.connect(lambda _i: self._model_choice_changed())
        self.device_combo = QComboBox()
        self.device_combo.addItems(available_devices())
        self._select(self.device_combo, self.config.device)
        self.device_combo.setToolTip("Where the model runs (changing it rebuilds the model)")
        self.device_combo.activated.connect(lambda _i: self._model_choice_changed())
        self.model_label = QLabel("–")
        self.model_label.setObjectName("value")
        self.model_label.setWordWrap(True)
        self.weights_label = ElidedLabel("–")
        self.weights_label.setObjectName("mono")
        self.detector_label = ElidedLabel(Path(self.config.detector or "yolov8n.pt").name)
        self.detector_label.setObjectName("mono")
        runs_on = QHBoxLayout()
        runs_on.addWidget(self.backend_combo, 1)
        runs_on.addWidget(self.device_combo, 1)
        form.addRow("Runs on", runs_on)
        # Triton's servers (shown while the backend is triton): Enter or Connect rebuilds the model.
        self.server_label = QLabel("Server")
        self.server_edit = QLineEdit(self.config.server or "")
        self.server_edit.setPlaceholderText("host:8001[,host2:8001]")
        self.server_edit.setToolTip("The Triton servers' gRPC addresses; Enter connects (rebuilds the model)")
        self.server_edit.returnPressed.connect(self.apply_server)
        self.btn_server = QToolButton()
        self.btn_server.setText("Go")
        self.btn_server.setToolTip("Connect to the Triton servers (rebuilds the model)")
        self.btn_server.clicked.connect(self.apply_server)
        self.server_row = QWidget()
        server_row = QHBoxLayout(self.server_row)
        server_row.setContentsMargins(0, 0, 0, 0)
        server_row.addWidget(self.server_edit, 1)
        server_row.addWidget(self.btn_server)
        form.addRow(self.server_label, self.server_row)
        self._show_server_row(self.config.backend == "triton")
        form.addRow("Model", self.model_label)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights_label, 1)
        button = QToolButton()
        button.setText("Load…")
        button.setToolTip("Load HRNet weights (Ctrl+W)")
        button.setFocusPolicy(Qt.NoFocus)
        button.clicked.connect(self.open_weights_dialog)
        weights_row.addWidget(button)
        form.addRow("Weights", weights_row)
        form.addRow("Detector", self.detector_label)
        self.seg_combo = QComboBox()
        self.seg_combo.addItems(SEG_CHOICES)
        self._select(self.seg_combo, self.config.seg or "off")
        self.seg_combo.setToolTip("Segmentation next to pose: person masks or body parts (changing it rebuilds "
                                  "the model)")
        self.seg_combo.activated.connect(lambda _i: self._seg_choice_changed())
        self.seg_weights_label = ElidedLabel("–")
        self.seg_weights_label.setObjectName("mono")
        seg_button = QToolButton()
        seg_button.setText("Load…")
        seg_button.setToolTip("Load segmentation weights (HRNetV2: VOC for person, LIP for parts)")
        seg_button.setFocusPolicy(Qt.NoFocus)
        seg_button.clicked.connect(self.open_seg_weights_dialog)
        form.addRow("Segment", self.seg_combo)
        seg_row = QHBoxLayout()
        seg_row.addWidget(self.seg_weights_label, 1)
        seg_row.addWidget(seg_button)
        form.addRow("Seg weights", seg_row)
        return group

    def _show_server_row(self, shown: bool) -> None:
        self.server_label.setVisible(shown)
        self.server_row.setVisible(shown)

    @staticmethod
    def _select(combo: QComboBox, text: str) -> None:
        index = combo.findText(text)
        if index < 0:
            combo.addItem(text)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

