"""The viewer's dark theme: Fusion style, a dark palette and a small stylesheet."""

from __future__ import annotations

from PyQt5.QtGui import QColor, QPalette
from PyQt5.QtWidgets import QApplication

ACCENT = "#2bb3a3"      # teal: primary actions, slider handles, focus
ACCENT_DARK = "#1e7f74"
DANGER = "#e5484d"      # recording, errors
WARNING = "#f5a524"
BG = "#16181d"          # window
PANEL = "#1f2229"       # group boxes, side panel
FIELD = "#272b34"       # inputs, buttons
BORDER = "#333845"
TEXT = "#e6e8ee"
MUTED = "#8b93a7"

STYLESHEET = f"""
QMainWindow, QWidget#central {{ background: {BG}; }}
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QToolTip {{ background: {PANEL}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
QScrollArea, QScrollArea > QWidget > QWidget {{ background: transparent; border: none; }}
QGroupBox {{
    background: {PANEL}; border: 1px solid {BORDER}; border-radius: 8px;
    margin-top: 12px; padding: 8px 8px 6px 8px; font-weight: 600;
}}
QGroupBox::title {{
    subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED};
    text-transform: uppercase; font-size: 8pt; letter-spacing: 1px;
}}
QLabel#muted {{ color: {MUTED}; }}
QLabel#value {{ color: {TEXT}; font-weight: 600; }}
QLabel#mono {{ font-family: "DejaVu Sans Mono", monospace; color: {MUTED}; font-size: 8.5pt; }}
QPushButton, QToolButton {{
    background: {FIELD}; border: 1px solid {BORDER}; border-radius: 6px; padding: 5px 10px;
}}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed, QToolButton:pressed {{ background: {BORDER}; }}
QPushButton:disabled, QToolButton:disabled {{ color: #5b6170; border-color: #2a2e37; }}
QPushButton#primary {{ background: {ACCENT_DARK}; border-color: {ACCENT}; font-weight: 600; }}
QPushButton#primary:hover {{ background: {ACCENT}; }}
QToolButton:checked {{ background: {ACCENT_DARK}; border-color: {ACCENT}; }}
QToolButton#record:checked {{ background: {DANGER}; border-color: #ff7a7e; }}
QLineEdit, QSpinBox, QComboBox {{
    background: {FIELD}; border: 1px solid {BORDER}; border-radius: 6px; padding: 4px 6px;
    selection-background-color: {ACCENT_DARK};
}}
QLineEdit:focus, QSpinBox:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QComboBox QAbstractItemView {{
    background: {FIELD}; border: 1px solid {BORDER}; selection-background-color: {ACCENT_DARK};
}}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{
    background: {TEXT}; width: 14px; height: 14px; margin: -5px 0; border-radius: 7px;
}}
QSlider::handle:horizontal:hover {{ background: {ACCENT}; }}
QSlider::groove:horizontal:disabled {{ background: #2a2e37; }}
QSlider::sub-page:horizontal:disabled {{ background: #3a3f4b; }}
QCheckBox {{ spacing: 8px; }}
QCheckBox::indicator {{
    width: 16px; height: 16px; border-radius: 4px; border: 1px solid {BORDER}; background: {FIELD};
}}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox:disabled, QLabel:disabled, QComboBox:disabled {{ color: #5b6170; }}
QCheckBox::indicator:disabled {{ background: #2a2e37; border-color: #2a2e37; }}
QCheckBox::indicator:checked:disabled {{ background: #3a3f4b; border-color: #3a3f4b; }}
QStatusBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; color: {MUTED}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 6px; }}
QMenuBar {{ background: {PANEL}; border-bottom: 1px solid {BORDER}; }}
QMenuBar::item:selected {{ background: {FIELD}; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; }}
QMenu::item:selected {{ background: {ACCENT_DARK}; }}
QWidget#transport {{ background: {PANEL}; border-top: 1px solid {BORDER}; }}
QWidget#sidepanel {{ background: {BG}; }}
QScrollBar:vertical {{ background: transparent; width: 8px; margin: 0; }}
QScrollBar::handle:vertical {{ background: {BORDER}; border-radius: 4px; min-height: 30px; }}
QScrollBar::handle:vertical:hover {{ background: {MUTED}; }}
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical {{ height: 0; }}
QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical {{ background: transparent; }}
QGroupBox QLabel {{ background: transparent; }}
QGroupBox QCheckBox {{ background: transparent; }}
"""


def apply_theme(app: QApplication) -> None:
    """Fusion style with the dark palette and stylesheet above."""
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.Window: BG, QPalette.WindowText: TEXT, QPalette.Base: FIELD, QPalette.AlternateBase: PANEL,
        QPalette.ToolTipBase: PANEL, QPalette.ToolTipText: TEXT, QPalette.Text: TEXT, QPalette.Button: FIELD,
        QPalette.ButtonText: TEXT, QPalette.BrightText: DANGER, QPalette.Highlight: ACCENT_DARK,
        QPalette.HighlightedText: "#ffffff", QPalette.Link: ACCENT,
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        palette.setColor(QPalette.Disabled, role, QColor("#5b6170"))
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)
