"""The Layer Output panel's pictures: feature maps and attention heads on one colour scale, a heat map, bars.

Imported when the panel first shows a result, so the editor starts without numpy and pyqtgraph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QStackedWidget, QWidget

MAX_MAPS = 64  # feature maps drawn at most; the note says how many there are
MAP_SIZE = 72  # a map's side in pixels
TOP_CLASSES = 3  # classes named above their bars
LUT = pg.colormap.get("viridis").getLookupTable(nPts=256, alpha=False)



class MapGrid(QWidget):
    """Maps drawn on one shared colour scale, each with its caption, in rows that wrap to the width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: list[QImage] = []
        self.captions: list[str] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_maps(self, maps: np.ndarray, captions: list[str]) -> tuple[float, float]:
        """Show these 2-D maps on one colour scale; returns the scale's (low, high)."""
        low, high = float(np.nanmin(maps)), float(np.nanmax(maps))
        span = high - low or 1.0
        levels = np.clip((maps - low) / span * 255, 0, 255).astype(np.uint8)
        self.images = [_image(LUT[level]) for level in levels]
        self.captions = captions
        self.update()
        return low, high

    def _cell(self) -> QSize:
        return QSize(MAP_SIZE + 8, MAP_SIZE + QFontMetrics(self.font()).height() + 8)

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        cell = self._cell()
        columns = max(1, self.width() // cell.width())
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        for index, (image, caption) in enumerate(zip(self.images, self.captions, strict=True)):
            row, column = divmod(index, columns)
            left, top = column * cell.width() + 4, row * cell.height() + 4
            scale = MAP_SIZE / max(image.width(), image.height())
            box = QRectF(left, top, image.width() * scale, image.height() * scale)
            painter.drawImage(box, image)
            painter.drawText(QRectF(left, top + MAP_SIZE + 2, MAP_SIZE, cell.height() - MAP_SIZE - 4), Qt.AlignmentFlag.AlignHCenter, caption)
        painter.end()

    def sizeHint(self) -> QSize:
        cell = self._cell()
        return QSize(cell.width() * 6, cell.height() * 2)


def _image(rgb: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 array as an RGB image (copied, so the array may go)."""
    data = np.ascontiguousarray(rgb)
    height, width = data.shape[:2]
    return QImage(data.data, width, height, width * 3, QImage.Format.Format_RGB888).copy()


class OutputViews(QStackedWidget):
    """The picture of one output: `show` picks it by the tensor's rank and says which in `view`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.maps = MapGrid()
        self.plot = pg.PlotWidget()
        self.plot.getPlotItem().setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setLookupTable(LUT)
        self.addWidget(self.maps)
        self.addWidget(self.plot)
        self.view = ""

    def show_output(self, values: Any, attention: Any, classes: tuple[str, ...]) -> str:
        """Show a layer's output (attention weights instead, when given); returns a note for the reader ("" if none)."""
        values = np.asarray(values, dtype=np.float32)
        self.show()
        if attention is not None:
            return self._show_attention(np.asarray(attention))
        if values.ndim >= 3:
            return self._show_maps(values.reshape(-1, *values.shape[-2:]))
        if values.ndim == 2:
            self._show_heatmap(values)
        elif values.ndim == 1:
            self._show_bars(values, classes)
        else:
            self.view = "value"
            self.hide()
            return f"Value: {float(values):.6g}"
        return ""

    def _show_maps(self, maps: np.ndarray) -> str:
        self.view = "maps"
        shown = maps[:MAX_MAPS]
        low, high = self.maps.set_maps(shown, [f"{i}" for i in range(len(shown))])
        self.setCurrentWidget(self.maps)
        more = f" The first {MAX_MAPS} of {len(maps)} maps are shown." if len(maps) > MAX_MAPS else ""
        return f"Channels on one colour scale, {low:.3g} (dark) to {high:.3g} (bright).{more}"

    def _show_attention(self, weights: np.ndarray) -> str:
        self.view = "attention"
        self.maps.set_maps(weights, [f"head {i}" for i in range(len(weights))])
        self.setCurrentWidget(self.maps)
        return "Attention weights per head: a row is a query position, a column the key positions it attends to."

    def _show_heatmap(self, values: np.ndarray) -> None:
        self.view = "heatmap"
        item = self.plot.getPlotItem()
        item.clear()
        self.heat.setImage(values, levels=(float(values.min()), float(values.max()) or 1.0))
        item.addItem(self.heat)
        item.invertY(True)
        item.setLabel("left", "position")
        item.setLabel("bottom", "feature")
        item.autoRange()
        self.setCurrentWidget(self.plot)

    def _show_bars(self, values: np.ndarray, classes: tuple[str, ...]) -> None:
        self.view = "bars"
        item = self.plot.getPlotItem()
        item.clear()
        item.invertY(False)
        color = self.palette().color(QPalette.ColorRole.Highlight)
        item.addItem(pg.BarGraphItem(x=np.arange(len(values)), height=values, width=0.8, brush=color))
        item.setLabel("left", "value")
        item.setLabel("bottom", "class" if classes else "index")
        if classes and len(classes) == len(values):
            for index in np.argsort(values)[::-1][:TOP_CLASSES]:
                text = pg.TextItem(str(classes[index]), anchor=(0.5, 1.0), color=self.palette().color(QPalette.ColorRole.WindowText))
                text.setPos(float(index), float(max(values[index], 0)))
                item.addItem(text)
        item.autoRange()
        self.setCurrentWidget(self.plot)
