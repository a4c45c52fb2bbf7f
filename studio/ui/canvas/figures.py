"""A card's training figures: a sparkline of its recent gradient norm beside its name, a band of its share of zeros along its foot.

Quiet by design: the sparkline is thin and short, in the theme's output colour (amber when the
layer's gradient vanishes, red when it explodes); the band is a hairline track whose filled
part is the share of the card's outputs that are exactly zero (red when the layer is dead).
A finished run's figures stay, drawn at a third of their strength, until the network changes.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen

from studio.ui.canvas.style import NAME, CanvasStyle
from studio.ui.layer_figures import CardFigures

SPARK_WIDTH = 44.0
SPARK_HEIGHT = 11.0
SPARK_MIN = 24.0  # narrower than this the sparkline is left out (the tooltip still tells)
BAND_HEIGHT = 2.5
STALE_OPACITY = 0.4
_LOG_FLOOR = -12.0


def paint_figures(painter: QPainter, s: CanvasStyle, figures: CardFigures, width: float, height: float, name: str, top: float, pad: float) -> None:
    """Draw the sparkline right of the name (row at `top`) and the zeros band along the card's foot."""
    painter.save()
    painter.setOpacity(painter.opacity() * (STALE_OPACITY if figures.stale else 1.0))
    theme = s.theme
    colour = QColor(theme.error if "exploding" in figures.flags else theme.warning if "vanishing" in figures.flags else theme.port_out)
    left = pad + s.width(NAME, name) + 8
    room = min(SPARK_WIDTH, width - pad - 4 - left)
    if room >= SPARK_MIN and len(figures.history) >= 2:
        rect = QRectF(width - pad - 4 - room, top + (17.0 - SPARK_HEIGHT) / 2, room, SPARK_HEIGHT)
        _sparkline(painter, rect, figures.history, figures.history_kind == "grad", colour)
    if figures.zeros is not None:
        band = QRectF(pad, height - 3.5 - BAND_HEIGHT, width - 2 * pad, BAND_HEIGHT)
        track = QColor(theme.node_subtext)
        track.setAlpha(45)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(band, 1, 1)
        fill = QColor(theme.error if "dead" in figures.flags else theme.node_subtext)
        share = max(0.0, min(1.0, figures.zeros))
        if share > 0:
            painter.setBrush(fill)
            painter.drawRoundedRect(QRectF(band.left(), band.top(), max(BAND_HEIGHT, band.width() * share), BAND_HEIGHT), 1, 1)
    painter.restore()


def paint_figures_far(painter: QPainter, s: CanvasStyle, figures: CardFigures, width: float, height: float) -> None:
    """Zoomed far out: the zeros band thick enough to see, and a flagged card's outline in its flag's colour."""
    theme = s.theme
    painter.save()
    painter.setOpacity(painter.opacity() * (STALE_OPACITY if figures.stale else 1.0))
    if figures.zeros is not None and figures.zeros > 0:
        fill = QColor(theme.error if "dead" in figures.flags else theme.node_subtext)
        painter.fillRect(QRectF(0, height - 8, width * min(1.0, figures.zeros), 8), fill)
    if figures.flags:
        colour = theme.error if {"dead", "exploding"} & set(figures.flags) else theme.warning
        painter.setPen(QPen(colour, 0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(0, 0, width, height))
    painter.restore()


def _sparkline(painter: QPainter, rect: QRectF, values: tuple[float, ...], logarithmic: bool, colour: QColor) -> None:
    points = [_scaled(v, logarithmic) for v in values]
    low, high = min(points), max(points)
    span = max(high - low, 1.0 if logarithmic else 1e-6)
    middle = (low + high) / 2
    low = middle - span / 2
    step = rect.width() / max(1, len(points) - 1)
    path = QPainterPath()
    for i, value in enumerate(points):
        point = QPointF(rect.left() + i * step, rect.bottom() - (value - low) / span * rect.height())
        path.moveTo(point) if i == 0 else path.lineTo(point)
    pen = QPen(colour, 1.3)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(path)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawEllipse(path.currentPosition(), 1.8, 1.8)


def _scaled(value: float, logarithmic: bool) -> float:
    if not math.isfinite(value):
        return 12.0 if logarithmic else 0.0
    if logarithmic:
        return math.log10(value) if value > 0 else _LOG_FLOOR
    return value


def figures_tooltip(figures: CardFigures) -> str:
    """The numbers behind the card's figures, for its tooltip."""
    head = "Last run" if figures.stale else "Training"
    if figures.layers > 1:
        head += f" (its {figures.layers} layers: gradient norm combined, activations of the last)"
    lines = [f"{head}:"]
    if figures.mean is not None:
        lines.append(f"  activations: mean {_number(figures.mean)}, spread {_number(figures.std)}")
    if figures.zeros is not None:
        lines.append(f"  zeros: {figures.zeros:.1%} of the outputs")
    lines.append(f"  gradient norm: {_number(figures.grad)}" if figures.grad is not None else "  gradient norm: none (no weights)")
    for kind in figures.flags:
        lines.append(f"  flagged {kind}: see the Problems panel")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.2e}"
