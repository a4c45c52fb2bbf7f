"""The Layer Output panel: what the selected layer computes for one sample of the dataset.

The view suits the tensor: a grid of feature maps for (C, H, W), a heat map for (T, D), bars for
a vector (the top classes named for the network's output), one T×T map per head for an attention
layer. The network runs on a background thread (`studio.train.node_output` keeps the built model,
so clicking through layers is quick); a newer request wins, and a problem is one line in the panel.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.graph.project import project_from_dict, project_to_dict
from studio.ui.document import Document

MAX_MAPS = 64  # feature maps drawn at most; the note says how many there are
MAP_SIZE = 72  # a map's side in pixels
TOP_CLASSES = 3  # classes named above their bars
_LUT = pg.colormap.get("viridis").getLookupTable(nPts=256, alpha=False)


class _Done(QObject):
    """Carries a worker thread's result to the UI thread (queued)."""

    finished = Signal(int, object)


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
        self.images = [_image(_LUT[level]) for level in levels]
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


class LayerOutputPanel(QWidget):
    """The selected layer's output for the sample picked here (or in the dataset preview)."""

    shown = Signal()  # a result (or its problem) is on screen

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerOutput")
        self.document = document
        self.title = QLabel("Select a layer to see its output")
        self.title.setObjectName("layerOutputTitle")
        self.sample = QSpinBox()
        self.sample.setObjectName("layerOutputSample")
        self.sample.setPrefix("sample ")
        self.sample.setRange(0, 0)
        self.sample.setKeyboardTracking(False)
        self.sample.valueChanged.connect(lambda _value: self.refresh())
        self.note = QLabel("")
        self.note.setObjectName("layerOutputNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.maps = MapGrid()
        self.plot = pg.PlotWidget()
        self.plot.getPlotItem().setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setLookupTable(_LUT)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.maps)
        self.pages.addWidget(self.plot)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.sample)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.note)
        layout.addWidget(self.pages, 1)
        self.view = ""  # "maps", "heatmap", "bars", "attention", "value" or "" (nothing shown)
        self.message = ""  # the problem shown instead of a picture
        self.result: Any = None
        self.node_id: str | None = None
        self._token = 0
        self._done = _Done(self)
        self._done.finished.connect(self._on_finished)
        self._timer = QTimer(self, singleShot=True, interval=250, timeout=self.refresh)
        document.selection_changed.connect(lambda _ids: self.refresh())
        document.analysed.connect(lambda *_: self._timer.start())
        document.training_changed.connect(lambda _name: self._timer.start())
        document.reset.connect(self.refresh)
        document.level_changed.connect(self.refresh)

    def set_sample(self, index: int) -> None:
        """Show the sample at `index` of the project's dataset (the dataset preview's pick)."""
        if index > self.sample.maximum():
            self.sample.setMaximum(index)
        self.sample.setValue(index)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.refresh)  # once shown: isVisible() is true then

    def _selected(self) -> tuple[str | None, str]:
        """The selected layer as the network runs it (a flattened id inside a block opened through an instance), and its name."""
        ids = self.document.selected_ids
        if len(ids) != 1:
            return None, ""
        node = self.document.graph.node(ids[0])
        prefix = ""
        for level in self.document.levels:
            if level.instance is None:
                return None, node.name  # a block opened on its own runs nowhere
            prefix += f"{level.instance}.0."
        return prefix + ids[0], node.name

    def refresh(self) -> None:
        """Compute the selected layer's output for the chosen sample, off the UI thread."""
        if not self.isVisible():
            return
        node_id, name = self._selected()
        self.node_id = node_id
        self._token += 1
        if node_id is None:
            self.title.setText("Select one layer to see its output" if not name else f"{name}: open its block through an instance to run it")
            self._clear()
            return
        self.title.setText(f"<b>{name}</b> · computing…")
        project = project_from_dict(project_to_dict(self.document.project))  # a snapshot: edits go on while it runs
        path, index, token, done = self.document.path, self.sample.value(), self._token, self._done

        def work() -> None:
            from studio.train.node_output import NodeOutputError, node_output

            try:
                result: Any = node_output(project, str(path) if path else None, node_id, index)
            except NodeOutputError as err:
                result = err
            except Exception as err:  # noqa: BLE001 - a bug must reach the panel as a line, not kill the thread
                result = RuntimeError(f"the output could not be computed: {type(err).__name__}: {err}")
            done.finished.emit(token, result)

        threading.Thread(target=work, name="layer-output", daemon=True).start()

    def _clear(self) -> None:
        self.view, self.result, self.message = "", None, ""
        self.note.setText("")
        self.pages.hide()

    def _on_finished(self, token: int, result: Any) -> None:
        if token != self._token:
            return
        if isinstance(result, Exception):
            self._clear()
            self.message = str(result).splitlines()[0] if str(result) else type(result).__name__
            self.title.setText(self.title.text().replace(" · computing…", ""))
            self.note.setText(self.message)
        else:
            self._show(result)
        self.shown.emit()

    def _show(self, result: Any) -> None:
        self.result, self.message = result, ""
        if result.samples:
            self.sample.blockSignals(True)
            self.sample.setMaximum(result.samples - 1)
            self.sample.blockSignals(False)
        values = np.asarray(result.values, dtype=np.float32)
        shape = "×".join(str(d) for d in values.shape) or "one value"
        label = f" · target {result.label}" if result.label else ""
        self.title.setText(f"<b>{result.name}</b> · {shape}{label}")
        notes = []
        if not result.trained:
            notes.append("The project has no weights yet: this is the untrained (seeded) network.")
        elif result.fresh:
            notes.append(f"The weights do not fit {', '.join(result.fresh[:4])}: {'those layers keep' if len(result.fresh) > 1 else 'it keeps'} the seeded start.")
        if result.attention is not None:
            notes.append(self._show_attention(result.attention))
        elif values.ndim >= 3:
            notes.append(self._show_maps(values.reshape(-1, *values.shape[-2:])))
        elif values.ndim == 2:
            self._show_heatmap(values)
        elif values.ndim == 1:
            self._show_bars(values, result.classes if result.node in self.document.network.nodes and self._feeds_output(result.node) else ())
        else:
            self.view = "value"
            notes.append(f"Value: {float(values):.6g}")
            self.pages.hide()
        self.note.setText(" ".join(n for n in notes if n))

    def _feeds_output(self, node_id: str) -> bool:
        """True for the network's Output and the layer that feeds it (its bars are the classes)."""
        graph = self.document.network
        if graph.node(node_id).type == "Output":
            return True
        return any(graph.node(e.dst).type == "Output" for e in graph.out_edges(node_id))

    def _show_maps(self, maps: np.ndarray) -> str:
        self.view = "maps"
        shown = maps[:MAX_MAPS]
        low, high = self.maps.set_maps(shown, [f"{i}" for i in range(len(shown))])
        self.pages.setCurrentWidget(self.maps)
        self.pages.show()
        more = f" The first {MAX_MAPS} of {len(maps)} maps are shown." if len(maps) > MAX_MAPS else ""
        return f"Channels on one colour scale, {low:.3g} (dark) to {high:.3g} (bright).{more}"

    def _show_attention(self, weights: np.ndarray) -> str:
        self.view = "attention"
        self.maps.set_maps(weights, [f"head {i}" for i in range(len(weights))])
        self.pages.setCurrentWidget(self.maps)
        self.pages.show()
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
        self.pages.setCurrentWidget(self.plot)
        self.pages.show()

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
        self.pages.setCurrentWidget(self.plot)
        self.pages.show()
