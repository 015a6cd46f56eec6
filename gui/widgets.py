"""Widgets of the viewer: the video view, labelled sliders and the live readouts."""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import theme


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A ``(H, W, 3)`` uint8 BGR array as a QImage that owns a copy of the pixels."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, int(image.strides[0]), QImage.Format_BGR888).copy()


class VideoView(QWidget):
    """Shows one frame scaled to fit (aspect ratio kept, centred), or a hint when there is none.

    A banner (info or error) can be shown over the top of the view.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(320, 240)
        self._image: QImage | None = None
        self._banner: tuple[str, str] | None = None
        self._hint = "Open a video (Ctrl+O), drop a file here, or pick a camera or URL on the right"
        self.setAttribute(Qt.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(960, 640)

    @property
    def image(self) -> QImage | None:
        """The frame on show (full resolution), or None."""
        return self._image

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self.update()

    def set_banner(self, text: str | None, kind: str = "info") -> None:
        """Show ``text`` over the video ("info", "warning" or "error"); None removes it."""
        self._banner = (text, kind) if text else None
        self.update()

    @property
    def banner(self) -> str | None:
        return self._banner[0] if self._banner else None

    def image_rect(self) -> QRectF:
        """Where the frame is drawn: the largest rectangle of its aspect ratio that fits, centred."""
        if self._image is None or self._image.isNull():
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#0d0f12"))
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        if self._image is not None and not self._image.isNull():
            painter.drawImage(self.image_rect(), self._image)
        else:
            self._paint_hint(painter)
        if self._banner:
            self._paint_banner(painter, *self._banner)
        painter.end()

    def _paint_hint(self, painter: QPainter) -> None:
        rect = QRectF(self.rect()).adjusted(40, 40, -40, -40)
        pen = QPen(QColor(theme.BORDER), 2, Qt.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(rect, 16, 16)
        # A tiny stick figure as the logo.
        cx, cy = rect.center().x(), rect.center().y() - 40
        painter.setPen(QPen(QColor(theme.ACCENT), 4, Qt.SolidLine, Qt.RoundCap))
        pts = {"head": (cx, cy - 34), "neck": (cx, cy - 18), "hip": (cx, cy + 14), "lh": (cx - 22, cy - 2),
               "rh": (cx + 22, cy - 28), "lf": (cx - 16, cy + 44), "rf": (cx + 16, cy + 44)}
        for a, b in (("neck", "hip"), ("neck", "lh"), ("neck", "rh"), ("hip", "lf"), ("hip", "rf")):
            painter.drawLine(int(pts[a][0]), int(pts[a][1]), int(pts[b][0]), int(pts[b][1]))
        painter.setBrush(QColor(theme.ACCENT))
        painter.drawEllipse(int(cx - 8), int(cy - 44), 16, 16)
        painter.setPen(QColor(theme.TEXT))
        font = QFont(self.font())
        font.setPointSizeF(18)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(QRectF(rect.left(), cy + 60, rect.width(), 36), Qt.AlignCenter, "rtpose")
        font.setPointSizeF(10.5)
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(QColor(theme.MUTED))
        painter.drawText(QRectF(rect.left() + 20, cy + 96, rect.width() - 40, 60), Qt.AlignHCenter | Qt.TextWordWrap,
                         self._hint)

    def _paint_banner(self, painter: QPainter, text: str, kind: str) -> None:
        colour = {"error": theme.DANGER, "warning": theme.WARNING}.get(kind, theme.ACCENT_DARK)
        font = QFont(self.font())
        font.setPointSizeF(10.5)
        painter.setFont(font)
        width = min(self.width() - 32, 760)
        bound = painter.boundingRect(QRectF(0, 0, width - 32, 400), Qt.TextWordWrap, text)
        box = QRectF((self.width() - width) / 2, 16, width, bound.height() + 20)
        path = QPainterPath()
        path.addRoundedRect(box, 8, 8)
        fill = QColor(colour)
        fill.setAlpha(225)
        painter.fillPath(path, fill)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(box.adjusted(16, 10, -16, -10), Qt.TextWordWrap | Qt.AlignVCenter, text)


class LabeledSlider(QWidget):
    """A title, a horizontal slider over ``[lo, hi]`` in ``step`` increments and its value, on one row."""

    valueChanged = pyqtSignal(float)  # noqa: N815 (Qt naming)

    def __init__(self, title: str, lo: float, hi: float, step: float, value: float, fmt: str = "{:.2f}",
                 tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lo, self._step, self._fmt = lo, step, fmt
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, round((hi - lo) / step))
        self.slider.setFocusPolicy(Qt.NoFocus)
        self.label = QLabel()
        self.label.setObjectName("value")
        self.label.setMinimumWidth(38)
        self.label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        title_label = QLabel(title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        top = QHBoxLayout()
        top.addWidget(title_label)
        top.addStretch(1)
        top.addWidget(self.label)
        layout.addLayout(top)
        layout.addWidget(self.slider)
        if tooltip:
            self.setToolTip(tooltip)
        self.slider.valueChanged.connect(self._changed)
        self.setValue(value)
        self._changed(self.slider.value())

    def value(self) -> float:
        return round(self._lo + self.slider.value() * self._step, 6)

    def setValue(self, value: float) -> None:  # noqa: N802 (Qt naming)
        self.slider.setValue(round((value - self._lo) / self._step))

    def _changed(self, _position: int) -> None:
        self.label.setText(self._fmt.format(self.value()))
        self.valueChanged.emit(self.value())


class StageBars(QWidget):
    """Per-stage times as labelled horizontal bars (ms), e.g. detect / crop / pose / decode / render."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stages: list[tuple[str, float]] = []
        self.setMinimumHeight(24)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_stages(self, stages: list[tuple[str, float]]) -> None:
        if [s for s, _ in stages] != [s for s, _ in self._stages]:
            self.setFixedHeight(max(24, 17 * len(stages) + 4))
        self._stages = stages
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if not self._stages:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        painter.setFont(font)
        top = max(ms for _, ms in self._stages) or 1.0
        name_w, value_w, row = 58, 64, 17
        bar_w = max(10, self.width() - name_w - value_w - 8)
        palette = ["#2bb3a3", "#4e9cf5", "#a78bfa", "#f472b6", "#f5a524", "#8b93a7", "#34d399"]
        for i, (name, ms) in enumerate(self._stages):
            y = 2 + i * row
            painter.setPen(QColor(theme.MUTED))
            painter.drawText(QRectF(0, y, name_w, row - 4), Qt.AlignLeft | Qt.AlignVCenter, name)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(theme.FIELD))
            painter.drawRoundedRect(QRectF(name_w, y + 4, bar_w, row - 10), 3, 3)
            painter.setBrush(QColor(palette[i % len(palette)]))
            painter.drawRoundedRect(QRectF(name_w, y + 4, max(3.0, bar_w * ms / top), row - 10), 3, 3)
            painter.setPen(QColor(theme.TEXT))
            painter.drawText(QRectF(name_w + bar_w + 4, y, value_w + 4, row - 4), Qt.AlignRight | Qt.AlignVCenter,
                             f"{ms:.1f} ms")
        painter.end()


class Readouts(QWidget):
    """Live numbers: a big FPS figure, latency, people, dropped frames, frame index and the stage bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fps = QLabel("–")
        font = QFont(self.font())
        font.setPointSizeF(22)
        font.setBold(True)
        self.fps.setFont(font)
        self.fps.setStyleSheet(f"color: {theme.ACCENT};")
        self.fps_unit = fps_unit = QLabel("FPS")
        fps_unit.setObjectName("muted")
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        for i, (key, title) in enumerate((("latency", "Latency"), ("people", "People"), ("dropped", "Dropped"),
                                          ("frame", "Frame"))):
            name = QLabel(title)
            name.setObjectName("muted")
            value = QLabel("–")
            value.setObjectName("value")
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            grid.addWidget(name, i // 2, (i % 2) * 2)
            grid.addWidget(value, i // 2, (i % 2) * 2 + 1)
            self.values[key] = value
        self.bars = StageBars()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.fps)
        top.addWidget(fps_unit, 0, Qt.AlignBottom)
        top.addStretch(1)
        layout.addLayout(top)
        layout.addLayout(grid)
        layout.addWidget(self.bars)

    def clear(self) -> None:
        self.fps.setText("–")
        self.fps_unit.setText("FPS")
        for label in self.values.values():
            label.setText("–")
        self.bars.set_stages([])

    def update_from(self, fps: float | None, latency_ms: float, people: int, dropped: int, frame: str,
                    stages: list[tuple[str, float]]) -> None:
        """``fps`` None: a still image, where a frame rate means nothing."""
        self.fps.setText("–" if fps is None else f"{fps:.1f}")
        self.fps_unit.setText("still image" if fps is None else "FPS")
        self.values["latency"].setText(f"{latency_ms:.0f} ms")
        self.values["people"].setText(str(people))
        self.values["dropped"].setText(str(dropped))
        self.values["frame"].setText(frame)
        self.bars.set_stages(stages)


class StreamTable(QTableWidget):
    """One row per stream of a run over several sources: its number (name in the tooltip; the source group
    lists the numbered names), FPS, latency, people and drops."""

    COLUMNS = ("#", "FPS", "Latency", "People", "Dropped")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(self.COLUMNS)
        for column, tip in enumerate(("Stream (its name is in the tooltip and in the Source group)",
                                      "Results per second of the stream", "Latency of its newest result, ms",
                                      "People in its newest frame", "Frames dropped to stay current")):
            self.horizontalHeaderItem(column).setToolTip(tip)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.NoSelection)
        self.setFocusPolicy(Qt.NoFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        header = self.horizontalHeader()
        for column in range(len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents if column == 0 else QHeaderView.Stretch)
        self.names: list[str] = []

    def set_streams(self, names: list[str]) -> None:
        """A row per stream, named (figures empty until :meth:`update_stream`)."""
        self.names = [str(n) for n in names]
        self.setRowCount(len(names))
        for row, name in enumerate(self.names):
            item = QTableWidgetItem(str(row + 1))
            item.setToolTip(name)
            self.setItem(row, 0, item)
            for column in range(1, len(self.COLUMNS)):
                self.setItem(row, column, self._value("–"))
        height = self.horizontalHeader().height() + sum(self.rowHeight(r) for r in range(len(names))) + 4
        self.setFixedHeight(height)
        self.setVisible(len(names) > 1)

    def update_stream(self, row: int, fps: float, latency_ms: float, people: int, dropped: int) -> None:
        if not 0 <= row < self.rowCount():
            return
        for column, text in enumerate((f"{fps:.1f}", f"{latency_ms:.0f}", str(people), str(dropped)), 1):
            self.item(row, column).setText(text)

    def figures(self, row: int) -> dict[str, str]:
        """The texts of a row, by column title, and the stream's ``name`` (tests, tooltips)."""
        texts = {title: self.item(row, column).text() for column, title in enumerate(self.COLUMNS)}
        return {**texts, "name": self.names[row]}

    @staticmethod
    def _value(text: str) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
        return item


def make_icon(kind: str, colour: str = theme.TEXT, size: int = 36) -> QIcon:
    """Flat transport icons drawn in code (the style's icons are too dark on the dark theme).

    ``kind``: play, pause, stop, back, forward, record, snapshot, fullscreen, open.
    """
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(Qt.NoPen)
    p.setBrush(QColor(colour))
    s = size / 36.0

    def poly(*points: tuple[float, float]) -> None:
        p.drawPolygon(QPolygonF([QPointF(x * s, y * s) for x, y in points]))

    if kind == "play":
        poly((11, 7), (29, 18), (11, 29))
    elif kind == "pause":
        p.drawRoundedRect(QRectF(9 * s, 8 * s, 6 * s, 20 * s), 1.5 * s, 1.5 * s)
        p.drawRoundedRect(QRectF(21 * s, 8 * s, 6 * s, 20 * s), 1.5 * s, 1.5 * s)
    elif kind == "stop":
        p.drawRoundedRect(QRectF(9 * s, 9 * s, 18 * s, 18 * s), 2.5 * s, 2.5 * s)
    elif kind == "back":
        p.drawRect(QRectF(8 * s, 9 * s, 4 * s, 18 * s))
        poly((28, 9), (14, 18), (28, 27))
    elif kind == "forward":
        p.drawRect(QRectF(24 * s, 9 * s, 4 * s, 18 * s))
        poly((8, 9), (22, 18), (8, 27))
    elif kind == "record":
        p.setBrush(QColor(theme.DANGER))
        p.drawEllipse(QRectF(9 * s, 9 * s, 18 * s, 18 * s))
    elif kind == "snapshot":
        p.drawRoundedRect(QRectF(5 * s, 11 * s, 26 * s, 18 * s), 3 * s, 3 * s)
        p.drawRect(QRectF(13 * s, 7 * s, 10 * s, 5 * s))
        p.setBrush(QColor(theme.PANEL))
        p.drawEllipse(QRectF(12 * s, 14 * s, 12 * s, 12 * s))
        p.setBrush(QColor(colour))
        p.drawEllipse(QRectF(15 * s, 17 * s, 6 * s, 6 * s))
    elif kind == "fullscreen":
        pen = QPen(QColor(colour), 3 * s, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin)
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        for (x, y, dx, dy) in ((8, 8, 1, 1), (28, 8, -1, 1), (8, 28, 1, -1), (28, 28, -1, -1)):
            p.drawPolyline(QPolygonF([QPointF(x * s, (y + 7 * dy) * s), QPointF(x * s, y * s),
                                      QPointF((x + 7 * dx) * s, y * s)]))
    elif kind == "open":
        poly((5, 10), (14, 10), (17, 13), (31, 13), (31, 28), (5, 28))
    p.end()
    icon = QIcon(pixmap)
    disabled = QPixmap(pixmap)
    q = QPainter(disabled)
    q.setCompositionMode(QPainter.CompositionMode_SourceIn)
    q.fillRect(disabled.rect(), QColor("#4a4f5c"))
    q.end()
    icon.addPixmap(disabled, QIcon.Disabled)
    return icon


class ElidedLabel(QLabel):
    """A one-line label that elides its text in the middle when too narrow (full text in the tooltip)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.set_full_text(text)

    def set_full_text(self, text: str, tooltip: str | None = None) -> None:
        self._full = text
        self.setToolTip(tooltip if tooltip is not None else text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, Qt.ElideMiddle, max(20, self.width())))
