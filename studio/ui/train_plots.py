"""Live training curves: loss, accuracy and learning rate, fed from growing numpy buffers.

NOTE: events only append to buffers and mark a curve dirty; `redraw()` (called by the panel's
timer, about 30 times a second) hands each dirty curve its data once. pyqtgraph is imported
with this module, so the panel imports it only when it is first shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QWidget

from studio.ui.theme import current_theme

SMOOTHING = 0.8  # EMA weight of the past, per training step
MAX_MARKED_EPOCHS = 40  # beyond this many epochs, the per-epoch points get no markers
OVERLAY_STYLES = (Qt.PenStyle.DashLine, Qt.PenStyle.DotLine)


class GrowingBuffer:
    """x and y values in preallocated arrays that double when full; `view()` is what is filled."""

    def __init__(self, capacity: int = 256) -> None:
        self._data = np.empty((2, max(1, capacity)), dtype=np.float64)
        self.size = 0

    @property
    def capacity(self) -> int:
        """How many points fit before the arrays grow."""
        return int(self._data.shape[1])

    def append(self, x: float, y: float) -> None:
        """Add one point (growing the arrays to twice their size when full)."""
        if self.size == self.capacity:
            grown = np.empty((2, self.capacity * 2), dtype=np.float64)
            grown[:, : self.size] = self._data
            self._data = grown
        self._data[0, self.size] = x
        self._data[1, self.size] = y
        self.size += 1

    def clear(self) -> None:
        """Forget the points (the arrays are kept)."""
        self.size = 0

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """The filled part: (x, y), views into the buffer."""
        return self._data[0, : self.size], self._data[1, : self.size]


class _Series:
    """One live curve and its buffer."""

    def __init__(self, item: pg.PlotDataItem) -> None:
        self.item = item
        self.buffer = GrowingBuffer()
        self.dirty = False
        self.top = (
            0.0  # the largest y so far (the plots' ranges follow it, not each point)
        )

    def append(self, x: float, y: float) -> None:
        if math.isfinite(y):
            self.buffer.append(x, y)
            self.top = max(self.top, y)
            self.dirty = True

    def clear(self) -> None:
        self.buffer.clear()
        self.top = 0.0
        self.dirty = True

    def redraw(self) -> bool:
        if not self.dirty:
            return False
        self.dirty = False
        x, y = self.buffer.view()
        self.item.setData(x, y)
        return True


class TrainingCurves(QWidget):
    """Three plots side by side: loss (per step, smoothed, validation), accuracy, learning rate."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingCurves")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.loss_plot = _plot("lossPlot")
        self.accuracy_plot = _plot("accuracyPlot")
        self.lr_plot = _plot("lrPlot")
        self.accuracy_plot.getPlotItem().getViewBox().setLimits(yMin=-2, yMax=102)
        for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
            plot.getPlotItem().getViewBox().enableAutoRange(x=False)
        self.loss_plot.getPlotItem().getViewBox().enableAutoRange(y=False)
        self.lr_plot.getPlotItem().getViewBox().enableAutoRange(y=False)
        # room for the title that names the three curves
        self.loss_plot.setMinimumWidth(180)
        layout.addWidget(self.loss_plot, 5)
        layout.addWidget(self.accuracy_plot, 4)
        layout.addWidget(self.lr_plot, 3)
        loss, acc, lr = (
            self.loss_plot.getPlotItem(),
            self.accuracy_plot.getPlotItem(),
            self.lr_plot.getPlotItem(),
        )
        self._loss_legend = loss.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self._accuracy_legend = acc.addLegend(offset=(-8, -8), labelTextSize="8pt")
        self._loss_legend.setVisible(False)
        self._accuracy_legend.setVisible(False)
        self.series = {
            "step_loss": _Series(loss.plot()),
            "smoothed_loss": _Series(loss.plot()),
            "val_loss": _Series(loss.plot(symbol="o", symbolSize=6)),
            "val_accuracy": _Series(acc.plot(symbol="o", symbolSize=6)),
            "lr": _Series(lr.plot()),
        }
        self._overlays: list[tuple[pg.PlotWidget, pg.PlotDataItem]] = []
        self._overlay_tops: dict[str, float] = {}
        self._ranges: dict[str, float] = {}
        self._epochs = 1
        self._overlay_rows: list[tuple[str, list[dict[str, Any]]]] = []
        self._ema: float | None = None
        self.apply_theme()

    # ----- data -----
    def clear(self, epochs: int = 1) -> None:
        """Forget the curves of the current run (overlays stay); the x axes span `epochs`."""
        for series in self.series.values():
            series.clear()
        self._ema = None
        self._epochs = max(1, epochs)
        self.redraw()

    def set_epochs(self, epochs: int) -> None:
        """Make the x axes span the whole run, so they stay put while it trains."""
        self._epochs = max(1, epochs)
        symbol = "o" if epochs <= MAX_MARKED_EPOCHS else None
        for name in ("val_loss", "val_accuracy"):
            self.series[name].item.setSymbol(symbol)
        self._fit_ranges()

    def add_step(
        self,
        x: float,
        loss: float | None,
        mean_loss: float | None,
        steps: int,
        lr: float | None,
    ) -> None:
        """Record a (coalesced) step event at `x` epochs: the raw loss, the EMA over `steps` steps, the lr."""
        if loss is not None:
            self.series["step_loss"].append(x, float(loss))
        mean = mean_loss if mean_loss is not None else loss
        if mean is not None and math.isfinite(mean):
            if self._ema is None:
                self._ema = float(mean)
            else:
                keep = SMOOTHING ** max(1, steps)
                self._ema = keep * self._ema + (1.0 - keep) * float(mean)
            self.series["smoothed_loss"].append(x, self._ema)
        if lr is not None:
            self.series["lr"].append(x, float(lr))

    def add_epoch(
        self, x: float, val_loss: float | None, val_accuracy: float | None
    ) -> None:
        """Record an epoch's validation loss and accuracy (a fraction) at `x` epochs."""
        if val_loss is not None:
            self.series["val_loss"].append(x, float(val_loss))
        if val_accuracy is not None:
            self.series["val_accuracy"].append(x, 100.0 * float(val_accuracy))

    def redraw(self) -> int:
        """Give each changed curve its data; return how many were redrawn."""
        drawn = sum(series.redraw() for series in self.series.values())
        if drawn:
            self._fit_ranges()
        return drawn

    def _fit_ranges(self) -> None:
        """Set the axes' ranges when they must grow (in 1-2-5 steps), not at every point.

        NOTE: a range that changes redraws the axes and the grid; following each new point that
        way cost most of the UI thread's time while training.
        """
        series, overlays = self.series, self._overlay_tops
        epochs = max(self._epochs, overlays.get("epochs", 0))
        loss = max(
            series["step_loss"].top,
            series["smoothed_loss"].top,
            series["val_loss"].top,
            overlays.get("val_loss", 0.0),
        )
        wanted = {
            "x": float(epochs),
            "loss": _nice_ceiling(loss),
            "lr": _nice_ceiling(series["lr"].top),
        }
        if wanted["x"] != self._ranges.get("x"):
            for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
                plot.getPlotItem().setXRange(0.0, wanted["x"], padding=0.02)
        for key, plot in (("loss", self.loss_plot), ("lr", self.lr_plot)):
            if wanted[key] != self._ranges.get(key):
                plot.getPlotItem().setYRange(0.0, wanted[key], padding=0.02)
        self._ranges = wanted

    def point_count(self, name: str) -> int:
        """How many points a live curve holds (step_loss, smoothed_loss, val_loss, val_accuracy, lr)."""
        return self.series[name].buffer.size

    def drawn_count(self, name: str) -> int:
        """How many points a live curve shows now."""
        x, _y = self.series[name].item.getOriginalDataset()
        return 0 if x is None else len(x)

    # ----- overlays of saved runs -----
    def set_overlays(self, runs: Sequence[tuple[str, list[dict[str, Any]]]]) -> None:
        """Draw earlier runs' validation loss and accuracy per epoch (dashed), labelled; [] removes them."""
        for plot, item in self._overlays:
            plot.getPlotItem().removeItem(item)
            plot.getPlotItem().legend.removeItem(item)
        self._overlays = []
        self._overlay_rows = list(runs)
        self._overlay_tops = {}
        live = (
            (self._loss_legend, self.series["val_loss"].item),
            (self._accuracy_legend, self.series["val_accuracy"].item),
        )
        for legend, item in live:
            legend.removeItem(item)
            if runs:  # named first, above the runs it is compared with
                legend.addItem(item, "this run")
        colors = _overlay_colors()
        for index, (label, rows) in enumerate(runs):
            color = colors[index % len(colors)]
            style = OVERLAY_STYLES[index % len(OVERLAY_STYLES)]
            pen = pg.mkPen(color, width=2, style=style)
            for key, plot, scale in (
                ("val_loss", self.loss_plot, 1.0),
                ("val_accuracy", self.accuracy_plot, 100.0),
            ):
                xs, ys = _column(rows, key, scale)
                if not xs:
                    continue
                tops = self._overlay_tops
                tops["epochs"] = max(tops.get("epochs", 0.0), max(xs))
                tops[key] = max(tops.get(key, 0.0), max(ys))
                item = plot.getPlotItem().plot(
                    xs,
                    ys,
                    pen=pen,
                    name=label,
                    symbol="t",
                    symbolSize=5,
                    symbolBrush=color,
                    symbolPen=None,
                )
                item.setZValue(-1)
                self._overlays.append((plot, item))
        for legend in (self._loss_legend, self._accuracy_legend):
            legend.setVisible(bool(legend.items))
        self._fit_ranges()

    @property
    def overlay_count(self) -> int:
        """How many overlay curves are drawn (two per run with both metrics)."""
        return len(self._overlays)

    # ----- looks -----
    def apply_theme(self) -> None:
        """Take the background, axes and curve colours from the palette and the theme."""
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.WindowText)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        theme = current_theme()
        accent = QColor(theme.node_selected)
        faint = QColor(accent)
        faint.setAlpha(110)
        lr_color = QColor.fromHsl(275, 140, 150 if theme.dark else 110)
        titles = {
            self.loss_plot: "Loss: "
            + " · ".join(
                _colored(name, color)
                for name, color in (
                    ("per step", _opaque(faint, background)),
                    ("smoothed", accent),
                    ("validation", theme.warning),
                )
            ),
            self.accuracy_plot: "Validation accuracy (%)",
            self.lr_plot: "Learning rate",
        }
        for plot, title in titles.items():
            plot.setBackground(background)
            item = plot.getPlotItem()
            item.setTitle(title, size="9pt", color=text.name())
            for axis in ("left", "bottom"):
                ax = item.getAxis(axis)
                ax.setPen(pg.mkPen(muted))
                ax.setTextPen(pg.mkPen(text))
        series = self.series
        series["step_loss"].item.setPen(pg.mkPen(faint, width=1))
        series["smoothed_loss"].item.setPen(pg.mkPen(accent, width=2))
        _symbols(series["val_loss"].item, theme.warning, background)
        _symbols(series["val_accuracy"].item, theme.port_out, background)
        series["lr"].item.setPen(pg.mkPen(lr_color, width=2))
        for legend in (self._loss_legend, self._accuracy_legend):
            fill = QColor(background)
            fill.setAlpha(200)
            legend.setBrush(pg.mkBrush(fill))
            legend.setPen(pg.mkPen(muted))
            legend.setLabelTextColor(text)
        if self._overlay_rows:
            self.set_overlays(self._overlay_rows)

    def changeEvent(self, event: Any) -> None:
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.PaletteChange:
            self.apply_theme()
        super().changeEvent(event)


def _plot(name: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setObjectName(name)
    plot.setMinimumSize(130, 110)
    item = plot.getPlotItem()
    item.setLabel("bottom", "epoch")
    item.showGrid(x=True, y=True, alpha=0.25)
    item.setDownsampling(auto=True, mode="peak")
    item.setClipToView(True)
    item.setMenuEnabled(False)
    item.hideButtons()
    item.getViewBox().setMouseEnabled(x=True, y=False)
    for axis in ("left", "bottom"):
        # the grid belongs to the axes, so each new point would replay their drawing: cache it
        item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return plot


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten above `value` with a little room."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    wanted = value * 1.05
    power = 10.0 ** math.floor(math.log10(wanted))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= wanted:
            return step * power
    return 10.0 * power


def _colored(text: str, color: QColor) -> str:
    return f'<span style="color: {color.name()}">{text}</span>'


def _opaque(color: QColor, background: QColor) -> QColor:
    """A translucent colour as it looks on `background` (for text, which ignores alpha)."""
    a = color.alphaF()
    return QColor(
        round(color.red() * a + background.red() * (1 - a)),
        round(color.green() * a + background.green() * (1 - a)),
        round(color.blue() * a + background.blue() * (1 - a)),
    )


def _symbols(item: pg.PlotDataItem, color: QColor, background: QColor) -> None:
    item.setPen(pg.mkPen(color, width=2))
    item.setSymbolBrush(pg.mkBrush(color))
    item.setSymbolPen(pg.mkPen(background, width=1))


def _overlay_colors() -> list[QColor]:
    dark = current_theme().dark
    return [
        QColor.fromHsl(hue, 150, 165 if dark else 105) for hue in (330, 190, 45, 100)
    ]


def _column(
    rows: Iterable[dict[str, Any]], key: str, scale: float
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        value, epoch = row.get(key), row.get("epoch")
        if (
            isinstance(value, (int, float))
            and isinstance(epoch, (int, float))
            and math.isfinite(value)
        ):
            xs.append(float(epoch))
            ys.append(scale * float(value))
    return xs, ys
