"""Category icons painted in code: a rounded square in the category's colour with a white glyph."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap

from studio.graph.catalogue import get_spec
from studio.ui.theme import current_theme

ICON_SIZES = (16, 20, 24, 32, 48, 64)
_cache: dict[tuple[str, bool], QIcon] = {}

Glyph = Callable[[QPainter], None]
"""Draws on a 24 x 24 grid, white strokes, the square already painted."""


def category_icon(category: str) -> QIcon:
    """The icon of a layer category in the current theme (cached)."""
    key = (category, current_theme().dark)
    if key not in _cache:
        icon = QIcon()
        for size in ICON_SIZES:
            icon.addPixmap(category_pixmap(category, size))
        _cache[key] = icon
    return _cache[key]


def layer_icon(layer_type: str) -> QIcon:
    """The icon of a layer type: its category's icon (a plain grey one for an unknown type)."""
    try:
        category = get_spec(layer_type).category
    except KeyError:
        category = ""
    return category_icon(category)


def category_pixmap(
    category: str, size: int, device_pixel_ratio: float = 1.0
) -> QPixmap:
    """Paint the icon of `category` at `size` logical pixels."""
    pixels = max(1, round(size * device_pixel_ratio))
    pixmap = QPixmap(pixels, pixels)
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 24, size / 24)
    color = current_theme().category_color(category)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(QRectF(1, 1, 22, 22), 5, 5)
    pen = QPen(QColor("white"), 1.8 if size >= 20 else 2.1)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    glyph = _GLYPHS.get(category)
    if glyph is not None:
        glyph(painter)
    else:
        _initial(painter, category)
    painter.end()
    return pixmap


def _path(*points: tuple[float, float]) -> QPainterPath:
    path = QPainterPath(QPointF(*points[0]))
    for point in points[1:]:
        path.lineTo(QPointF(*point))
    return path


def _dot(painter: QPainter, x: float, y: float, r: float = 1.6) -> None:
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("white"))
    painter.drawEllipse(QPointF(x, y), r, r)
    painter.restore()


def _input_output(p: QPainter) -> None:
    p.drawPath(_path((6, 12), (16, 12)))
    p.drawPath(_path((12.5, 8), (16.5, 12), (12.5, 16)))
    p.drawLine(QPointF(18.5, 7), QPointF(18.5, 17))


def _utility(p: QPainter) -> None:
    p.drawLine(QPointF(6, 12), QPointF(18, 12))
    _dot(p, 6, 12, 2)
    _dot(p, 18, 12, 2)


def _dense(p: QPainter) -> None:
    left, right = [(7, 7.5), (7, 12), (7, 16.5)], [(17, 9.5), (17, 14.5)]
    pen = p.pen()
    thin = QPen(pen)
    thin.setWidthF(pen.widthF() * 0.55)
    p.setPen(thin)
    for a in left:
        for b in right:
            p.drawLine(QPointF(*a), QPointF(*b))
    p.setPen(pen)
    for x, y in left + right:
        _dot(p, x, y, 1.8)


def _reshape(p: QPainter) -> None:
    p.drawRect(QRectF(5.5, 6, 6, 12))
    p.drawRect(QRectF(12.5, 9, 6.5, 6))


def _regularization(p: QPainter) -> None:
    for i, x in enumerate((7, 12, 17)):
        for j, y in enumerate((7, 12, 17)):
            if (i + 2 * j) % 3 != 1:
                _dot(p, x, y, 1.7)


def _convolution(p: QPainter) -> None:
    p.drawRect(QRectF(6, 6, 12, 12))
    thin = QPen(p.pen())
    thin.setWidthF(p.pen().widthF() * 0.6)
    p.setPen(thin)
    for v in (10, 14):
        p.drawLine(QPointF(v, 6), QPointF(v, 18))
        p.drawLine(QPointF(6, v), QPointF(18, v))


def _pooling(p: QPainter) -> None:
    p.drawRect(QRectF(5.5, 5.5, 9, 9))
    p.save()
    p.setBrush(QColor("white"))
    p.drawRect(QRectF(13, 13, 5.5, 5.5))
    p.restore()
    p.drawLine(QPointF(10, 5.5), QPointF(10, 14.5))
    p.drawLine(QPointF(5.5, 10), QPointF(14.5, 10))


def _resize(p: QPainter) -> None:
    p.drawLine(QPointF(7, 17), QPointF(17, 7))
    p.drawPath(_path((12, 7), (17, 7), (17, 12)))
    p.drawPath(_path((7, 12), (7, 17), (12, 17)))


def _normalization(p: QPainter) -> None:
    path = QPainterPath(QPointF(4.5, 17.5))
    for i in range(1, 31):
        x = 4.5 + 15 * i / 30
        t = (x - 12) / 3.1
        path.lineTo(QPointF(x, 17.5 - 11 * math.exp(-t * t / 2)))
    p.drawPath(path)


def _activation(p: QPainter) -> None:
    p.drawPath(_path((5, 16), (12, 16), (19, 7)))


def _math(p: QPainter) -> None:
    p.drawPath(_path((4.5, 13.5), (7, 12), (10, 18.5), (13.5, 5.5), (19.5, 5.5)))


def _merge(p: QPainter) -> None:
    path = QPainterPath(QPointF(5, 7))
    path.cubicTo(QPointF(10, 7), QPointF(10, 12), QPointF(13, 12))
    path.moveTo(QPointF(5, 17))
    path.cubicTo(QPointF(10, 17), QPointF(10, 12), QPointF(13, 12))
    path.lineTo(QPointF(19, 12))
    p.drawPath(path)


def _tensor(p: QPainter) -> None:
    p.drawRect(QRectF(5, 5, 14, 14))
    for at in (9.67, 14.33):
        p.drawLine(QPointF(at, 5), QPointF(at, 19))
        p.drawLine(QPointF(5, at), QPointF(19, at))


def _recurrent(p: QPainter) -> None:
    p.drawArc(QRectF(6, 6, 12, 12), 100 * 16, 290 * 16)
    p.drawPath(_path((9.5, 3.8), (12.6, 6.1), (10, 8.8)))


def _embedding(p: QPainter) -> None:
    for y in (7.5, 12, 16.5):
        _dot(p, 6.5, y, 1.5)
        p.drawLine(QPointF(10, y), QPointF(18, y))


def _attention(p: QPainter) -> None:
    eye = QPainterPath(QPointF(4.5, 12))
    eye.quadTo(QPointF(12, 4), QPointF(19.5, 12))
    eye.quadTo(QPointF(12, 20), QPointF(4.5, 12))
    p.drawPath(eye)
    _dot(p, 12, 12, 2.4)


def _reduce(p: QPainter) -> None:
    p.drawPath(_path((17, 6.5), (7.5, 6.5), (12.5, 12), (7.5, 17.5), (17, 17.5)))


def _initial(p: QPainter, category: str) -> None:
    font = QFont()
    font.setBold(True)
    font.setPixelSize(13)
    p.setFont(font)
    p.drawText(
        QRectF(0, 0, 24, 24),
        Qt.AlignmentFlag.AlignCenter,
        (category[:1] or "?").upper(),
    )


def _blocks(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(5, 6, 14, 12), 2, 2)
    p.drawRect(QRectF(8, 9.5, 3, 5))
    p.drawRect(QRectF(13, 9.5, 3, 5))


_GLYPHS: dict[str, Glyph] = {
    "Blocks": _blocks,
    "Input/Output": _input_output,
    "Utility": _utility,
    "Dense": _dense,
    "Reshape": _reshape,
    "Regularization": _regularization,
    "Convolution": _convolution,
    "Pooling": _pooling,
    "Resize": _resize,
    "Normalization": _normalization,
    "Activation": _activation,
    "Math": _math,
    "Merge": _merge,
    "Tensor": _tensor,
    "Recurrent": _recurrent,
    "Embedding": _embedding,
    "Attention": _attention,
    "Reduce": _reduce,
}
