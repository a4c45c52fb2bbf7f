"""Light and dark colours for the editor, following the system's colour scheme."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

CATEGORY_HUES = {
    "Input/Output": 0,
    "Utility": 220,
    "Dense": 210,
    "Reshape": 45,
    "Regularization": 300,
    "Convolution": 28,
    "Pooling": 165,
    "Resize": 60,
    "Normalization": 275,
    "Activation": 125,
    "Math": 10,
    "Merge": 335,
    "Tensor": 78,
    "Recurrent": 190,
    "Embedding": 95,
    "Attention": 250,
    "Reduce": 12,
    "Blocks": 145,
}


@dataclass(frozen=True)
class Theme:
    """The colours every view draws with."""

    dark: bool
    canvas: QColor
    grid_minor: QColor
    grid_major: QColor
    node_fill: QColor
    node_border: QColor
    node_selected: QColor
    node_text: QColor
    node_subtext: QColor
    error: QColor
    error_fill: QColor
    warning: QColor
    edge: QColor
    edge_label: QColor
    port_in: QColor
    port_out: QColor

    def category_color(self, category: str) -> QColor:
        """The accent colour of a layer category (the node's title strip, the palette icon)."""
        if category not in CATEGORY_HUES or category == "Input/Output":
            return QColor.fromHsl(0, 0, 120 if self.dark else 105)
        return QColor.fromHsl(CATEGORY_HUES[category], 150, 110 if self.dark else 120)


LIGHT = Theme(
    dark=False,
    canvas=QColor("#f6f7f9"),
    grid_minor=QColor("#e8eaee"),
    grid_major=QColor("#d8dbe1"),
    node_fill=QColor("#ffffff"),
    node_border=QColor("#aab0ba"),
    node_selected=QColor("#2f7de1"),
    node_text=QColor("#1d2128"),
    node_subtext=QColor("#5b6270"),
    error=QColor("#d13b3b"),
    error_fill=QColor("#fdeaea"),
    warning=QColor("#c98a00"),
    edge=QColor("#7b8494"),
    edge_label=QColor("#3d4450"),
    port_in=QColor("#4f8fda"),
    port_out=QColor("#43a36b"),
)

DARK = Theme(
    dark=True,
    canvas=QColor("#1e2127"),
    grid_minor=QColor("#262a31"),
    grid_major=QColor("#30353e"),
    node_fill=QColor("#2b3038"),
    node_border=QColor("#4a515d"),
    node_selected=QColor("#5aa0ff"),
    node_text=QColor("#e6e9ef"),
    node_subtext=QColor("#a3aab7"),
    error=QColor("#ff6b6b"),
    error_fill=QColor("#4a2a2e"),
    warning=QColor("#f0b429"),
    edge=QColor("#8a93a3"),
    edge_label=QColor("#c7ccd6"),
    port_in=QColor("#6aa8f0"),
    port_out=QColor("#5cc489"),
)

_override: Theme | None = None


def system_is_dark() -> bool:
    """True when the desktop asks for a dark colour scheme (or its window colour is dark)."""
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def current_theme() -> Theme:
    """The theme in use: one chosen with `use_theme`, else the system's."""
    if _override is not None:
        return _override
    return DARK if system_is_dark() else LIGHT


def use_theme(theme: Theme | None) -> None:
    """Force a theme (None: follow the system again) and give Qt's widgets a matching palette."""
    global _override
    _override = theme
    app = QGuiApplication.instance()
    if app is None:
        return
    if theme is None or not theme.dark:
        app.setPalette(QPalette())  # type: ignore[attr-defined]  # the system's own: following it, `system_is_dark` must not read a dark palette set here
    if current_theme().dark:
        app.setPalette(dark_palette())  # type: ignore[attr-defined]


def dark_palette() -> QPalette:
    """A Fusion-friendly dark palette for the widgets around the canvas."""
    p = QPalette()
    base, window, text, muted = (
        QColor("#1b1e23"),
        QColor("#24282f"),
        QColor("#e6e9ef"),
        QColor("#7d8594"),
    )
    for role, color in {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: QColor("#2f343d"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#2c3139"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff6b6b"),
        QPalette.ColorRole.Highlight: QColor("#3d7bd9"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Link: QColor("#6aa8f0"),
        QPalette.ColorRole.PlaceholderText: muted,
    }.items():
        p.setColor(role, color)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, muted)
    return p
