"""How the canvas looks and reads: fonts, pens and brushes per theme, and the text on items."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontInfo,
    QFontMetricsF,
    QGuiApplication,
    QPen,
)

from studio.graph.catalogue.base import Shape
from studio.graph.params import Param
from studio.ui.theme import Theme, current_theme

_UNITS = {
    "out_channels": "{} ch",
    "out_features": "{} out",
    "hidden_size": "{} hidden",
    "num_heads": "{} heads",
    "nhead": "{} heads",
    "embedding_dim": "dim {}",
    "num_embeddings": "{} tokens",
    "num_groups": "{} groups",
    "num_inputs": "{} inputs",
    "num_layers": "{} layers",
    "stride": "s{}",
    "padding": "pad {}",
    "dilation": "dil {}",
    "groups": "g{}",
    "scale_factor": "×{}",
    "dim_feedforward": "ff {}",
    "max_len": "max {}",
}
_KEY_PARAMS = frozenset(
    {"kernel_size", "out_features", "out_channels", "hidden_size", "dim", "p"}
)
_GRID_PARAMS = frozenset({"kernel_size", "shape", "output_size"})
_SUMMARY_ITEMS = 3


TITLE, NAME, DETAIL, PORT, LABEL = range(5)


class CanvasStyle:
    """Fonts, pens and brushes for painting, made once per theme (never per frame)."""

    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        base = ui_pixel_size()  # the platform's text size is the floor at 100% zoom
        self.title_font = _font(base, QFont.Weight.DemiBold)
        self.name_font = _font(base + 1, QFont.Weight.DemiBold)
        self.detail_font = _font(base, QFont.Weight.Normal)
        self.port_font = _font(base, QFont.Weight.Normal)
        self.label_font = _font(base, QFont.Weight.Medium)
        self.title_metrics = QFontMetricsF(self.title_font)
        self.name_metrics = QFontMetricsF(self.name_font)
        self.detail_metrics = QFontMetricsF(self.detail_font)
        self.port_metrics = QFontMetricsF(self.port_font)
        self.label_metrics = QFontMetricsF(self.label_font)
        t = theme
        self.fill = QBrush(t.node_fill)
        self.error_fill = QBrush(t.error_fill)
        self.border = QPen(t.node_border, 1.0)
        self.error_border = QPen(t.error, 1.6)
        self.warning_border = QPen(t.warning, 1.6)
        self.selected_border = QPen(t.node_selected, 2.0)
        halo = QColor(t.node_selected)
        halo.setAlpha(70)
        self.halo = QPen(halo, 4.0)
        self.shadow = QBrush(QColor(0, 0, 0, 70 if t.dark else 22))
        self.title_text = QPen(QColor("#ffffff"))
        self.title_subtext = QPen(QColor(255, 255, 255, 205))
        self.text = QPen(t.node_text)
        self.subtext = QPen(t.node_subtext)
        self.port_in = QBrush(t.port_in)
        self.port_out = QBrush(t.port_out)
        self.port_in_ring = QPen(t.port_in, 1.6)
        self.port_out_ring = QPen(t.port_out, 1.6)
        self.port_target = QPen(t.node_selected, 2.0)
        self.edge = _cap(QPen(t.edge, 1.6))
        self.edge_unknown = _cap(QPen(t.edge, 1.4, Qt.PenStyle.DashLine))
        self.edge_selected = _cap(QPen(t.node_selected, 2.6))
        self.edge_simple = QPen(t.edge, 0)  # cosmetic: one pixel at any zoom
        self.simple_border = QPen(t.node_border, 0)
        self.simple_selected = QPen(t.node_selected, 0)
        self.simple_error = QPen(t.error, 0)
        self.simple_warning = QPen(t.warning, 0)
        for pen in (self.simple_selected, self.simple_error, self.simple_warning):
            pen.setCosmetic(True)
            pen.setWidthF(2.0)
        self.label_fill = QBrush(t.canvas)
        self.label_border = QPen(t.grid_major, 1.0)
        self.label_text = QPen(t.edge_label)
        self.wire = _cap(QPen(t.node_selected, 2.0, Qt.PenStyle.DashLine))
        self._categories: dict[str, QBrush] = {}
        self._widths: dict[tuple[int, str], float] = {}
        self._metrics = (
            self.title_metrics,
            self.name_metrics,
            self.detail_metrics,
            self.port_metrics,
            self.label_metrics,
        )

    def width(self, font: int, text: str) -> float:
        """The advance of `text` in one of the fonts (TITLE, NAME, DETAIL, PORT, LABEL), cached."""
        key = (font, text)
        found = self._widths.get(key)
        if found is None:
            if len(self._widths) > 50_000:
                self._widths.clear()
            found = self._widths[key] = self._metrics[font].horizontalAdvance(text)
        return found

    def elided(self, font: int, text: str, width: float) -> str:
        """`text` cut with an ellipsis to fit `width` (unchanged when it fits)."""
        if self.width(font, text) <= width:
            return text
        return self._metrics[font].elidedText(text, Qt.TextElideMode.ElideRight, width)

    def category_brush(self, category: str) -> QBrush:
        """The title-strip brush of a layer category (made once per category)."""
        brush = self._categories.get(category)
        if brush is None:
            brush = self._categories[category] = QBrush(
                self.theme.category_color(category)
            )
        return brush


_style: CanvasStyle | None = None


def style() -> CanvasStyle:
    """The shared painting style (built from the current theme on first use)."""
    global _style
    if _style is None:
        _style = CanvasStyle(current_theme())
    return _style


def refresh_style() -> CanvasStyle:
    """Rebuild the painting style from the current theme."""
    global _style
    _style = CanvasStyle(current_theme())
    return _style


def ui_pixel_size() -> int:
    """The pixel size of the application's UI font (at least 12, the canvas's own design size)."""
    return max(QFontInfo(QGuiApplication.font()).pixelSize(), 12)


def _font(pixels: int, weight: QFont.Weight) -> QFont:
    font = QFont()
    font.setPixelSize(pixels)
    font.setWeight(weight)
    return font


def _cap(pen: QPen) -> QPen:
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


# ----- text of a node and an edge -----
def format_count(count: int, unit: bool = True) -> str:
    """A parameter count the short way: 650 params, 4.6k params, 1.2M params (or just 1.2M)."""
    if count < 1000:
        number = str(count)
    else:
        for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if count >= size:
                number = f"{count / size:.1f}".rstrip("0").rstrip(".") + suffix
                break
    if not unit:
        return number
    return f"{number} param" if count == 1 else f"{number} params"


def format_shape(shape: Shape | None) -> str:
    """A tensor shape as an edge label, batch first: N×32×8×8 (empty when unknown)."""
    if shape is None:
        return ""
    return "×".join(["N" if d is None else str(d) for d in shape])


def summarize_params(params: dict[str, Any], spec_params: tuple[Param, ...]) -> str:
    """A one-line summary of a layer's key settings, such as "32 ch, 3×3, s2".

    Shown are the first parameter, the usual key ones (kernel size, width, heads) and any
    other that differs from its default, at most three items.
    """
    items: list[str] = []
    for index, param in enumerate(spec_params):
        value = params.get(param.name, param.default)
        at_default = value == param.default
        if (
            at_default
            and param.name not in _KEY_PARAMS
            and (index > 0 or param.kind == "float")
        ):
            continue
        text = _param_text(param, value)
        if text:
            items.append(text)
        if len(items) == _SUMMARY_ITEMS:
            break
    return ", ".join(items)


def _param_text(param: Param, value: Any) -> str:
    words = param.name.replace("_", " ")
    if param.kind == "bool":
        return "" if value == param.default else (words if value else "no " + words)
    if param.special and value == param.min:
        return param.special
    if param.kind == "floats":  # an Input's statistics: too long for a card, so one word says they apply
        return "standardized" if value and param.name == "mean" else ""
    if isinstance(value, tuple):
        if param.name == "kernel_size" and len(value) == 1:
            text = f"k{value[0]}"
        elif param.name in _GRID_PARAMS:
            text = "×".join(str(v) for v in value)
        elif len(set(value)) == 1:
            text = str(value[0])
        else:
            text = "(" + ", ".join(str(v) for v in value) + ")"
    elif value == "none":
        return ""
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    if isinstance(value, str) or param.name in _GRID_PARAMS:
        return text
    unit = _UNITS.get(param.name)
    return unit.format(text) if unit else f"{param.name}={text}"
