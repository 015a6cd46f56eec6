"""The viewer's segmentation choices: the model's segmentation (off / person / parts, its weights) and the
display toggles (masks, body parts, background effect).

:class:`SegmentationControls` is a mixin of :class:`gui.main_window.MainWindow`: it uses the window's
widgets (built in :mod:`gui.layout`), ``config`` and its ``reload_model``, ``_restart_after_reload``,
``_rerender`` and ``show_error``. What is drawn is decided in :mod:`gui.segview`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import QColorDialog, QFileDialog

from gui.segview import NEEDS_PARTS, NEEDS_SEG, SegDisplay
from rtpose.errors import RtposeError

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff);;All files (*)"


class SegmentationControls:
    """Slots of the segmentation widgets (mixed into the main window, which sets ``_seg_weights``,
    ``_seg_classes``, ``_background`` and ``_background_index`` in its ``__init__``)."""

    def _seg_choice_changed(self) -> None:
        seg = None if self.seg_combo.currentText() == "off" else self.seg_combo.currentText()
        if seg == self.config.seg and self.estimator is not None:
            return
        self._apply_seg(seg)

    def _apply_seg(self, seg: str | None) -> None:
        self.config = dataclasses.replace(self.config, seg=seg, seg_weights=self._seg_weights if seg else None,
                                          seg_classes=self._seg_classes if seg else None)
        self._show_seg_weights()
        self._restart_after_reload()
        self.reload_model()

    def open_seg_weights_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load segmentation weights", str(Path.home()),
                                              "Checkpoints (*.pth *.pt *.ckpt *.bin);;All files (*)")
        if path:
            self.load_seg_weights(path)

    def load_seg_weights(self, path: str) -> None:
        """Use these segmentation weights (rebuilds the model when segmentation is on)."""
        self._seg_weights, self._seg_classes = str(path), None
        if self.config.seg:
            self._apply_seg(self.config.seg)
        else:
            self._show_seg_weights()
            self.statusBar().showMessage("Segmentation weights chosen: pick person or parts in the Segment row to "
                                         "use them.", 10000)

    def _show_seg_weights(self) -> None:
        from rtpose.seg.segmenter import DEFAULT_SEG_WEIGHTS

        seg = self.seg_combo.currentText()
        if self._seg_weights:
            self.seg_weights_label.set_full_text(Path(self._seg_weights).name, self._seg_weights)
        elif seg == "person":
            name = DEFAULT_SEG_WEIGHTS["person"]
            self.seg_weights_label.set_full_text(f"{name} (default)", f"the default checkpoint {name}, downloaded "
                                                                       "on first use")
        elif seg == "parts":
            self.seg_weights_label.set_full_text("none: load a LIP file", "Body parts need LIP weights (the "
                                                 "official file has no published checksum, so it is never fetched)")
        else:
            self.seg_weights_label.set_full_text("–", "Segmentation is off")

    def _update_seg_controls(self, mode: str | None) -> None:
        """Toggles usable only where the model's results have what they draw; greyed ones say why."""
        on = mode is not None
        self.show_masks.setEnabled(on)
        self.act_masks.setEnabled(on)
        self.show_masks.setToolTip("Tint each person's mask in their track colour, the colour of their box (M)"
                                   + ("; the body parts take its place while they are shown" if mode == "parts"
                                      else "") if on else NEEDS_SEG)
        self.show_seg_parts.setEnabled(mode == "parts")
        self.act_seg_parts.setEnabled(mode == "parts")
        self.show_seg_parts.setToolTip("Tint the body parts in the LIP palette (P)" if mode == "parts" else
                                       NEEDS_PARTS if on else NEEDS_SEG)
        for widget in (self.background_combo, self.background_label):
            widget.setEnabled(on)
            widget.setToolTip("Blur or replace what is not a person (the segmentation's person area)" if on
                              else NEEDS_SEG)
        self._rerender()

    def seg_display(self) -> SegDisplay:
        """What the segmentation toggles ask for now (greyed-out toggles draw nothing)."""
        return SegDisplay(masks=self.show_masks.isEnabled() and self.show_masks.isChecked(),
                          parts=self.show_seg_parts.isEnabled() and self.show_seg_parts.isChecked(),
                          background=self._background if self.background_combo.isEnabled() else None)

    def _background_chosen(self, index: int) -> None:
        if index == 0:
            self.set_background(None)
        elif index == 1:
            self.set_background("blur")
        elif index == 2:
            colour = QColorDialog.getColor(QColor(0, 255, 0), self, "Background colour")
            if colour.isValid():
                self.set_background(colour.name())
            else:
                self.background_combo.setCurrentIndex(self._background_index)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Background image", str(Path.home()), IMAGE_FILTER)
            if path:
                self.set_background(path)
            else:
                self.background_combo.setCurrentIndex(self._background_index)

    def set_background(self, spec: str | None) -> bool:
        """The background effect: None, "blur", a colour ("green", "#00ff00", "0,255,0") or an image file.

        A spec :func:`rtpose.io.render.parse_background` refuses is shown in one sentence (False returned).
        """
        from rtpose.io.render import parse_background

        value, index = None, 0
        if spec is not None and spec.strip().lower() not in ("", "none"):
            try:
                value = parse_background(spec)
            except RtposeError as exc:
                self.background_combo.setCurrentIndex(self._background_index)
                self.show_error(str(exc))
                return False
            index = 1 if isinstance(value, str) else 3 if isinstance(value, np.ndarray) else 2
        if index == 2:
            self.background_combo.setItemText(2, f"Colour {spec.strip()}…")
        elif index == 3:
            self.background_combo.setItemText(3, f"Image {Path(spec).name}…")
        self._background, self._background_index = value, index
        self.background_combo.setCurrentIndex(index)
        self._rerender()
        return True


__all__ = ["IMAGE_FILTER", "SegmentationControls"]
