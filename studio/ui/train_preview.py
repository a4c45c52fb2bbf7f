"""A look at the training data: image samples with their labels, a scatter of two features, a table, or a text.

Loading a user's file may be slow, so `DatasetPreview.load` reads it on a background thread and
shows the result (or the DatasetError message) when it arrives; a newer request wins.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.ui.theme import current_theme
from studio.ui.train_results import (
    GridItem,
    SampleGrid,
    class_name,
    sample_image,
    sample_text,
)

GRID_SAMPLES = 60
SCATTER_SAMPLES = 2000
TABLE_ROWS = 40
TEXT_WINDOWS = 40  # a text's first windows are shown as the text they cut


class _Loaded(QObject):
    """Carries a loader thread's result to the UI thread (queued)."""

    finished = Signal(int, object)


class DatasetPreview(QWidget):
    """Shows a dataset the way that suits it; `load(spec, base_dir)` fills it off the UI thread."""

    loaded = Signal()  # a load finished (shown, or its error shown)
    sample_chosen = Signal(int)  # a sample clicked in the grid or table: its index in the dataset

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetPreview")
        self.summary = QLabel("")
        self.summary.setObjectName("datasetSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.grid = SampleGrid()
        self.grid.setObjectName("datasetGrid")
        self.grid.clicked.connect(self.sample_chosen)
        grid_scroll = QScrollArea()
        grid_scroll.setWidgetResizable(True)
        grid_scroll.setFrameShape(QFrame.Shape.NoFrame)
        grid_scroll.setWidget(self.grid)
        self.scatter = pg.PlotWidget()
        self.scatter.setObjectName("datasetScatter")
        item = self.scatter.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.2)
        self._legend = item.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self._legend.setBrush(pg.mkBrush(0, 0, 0, 0))
        self.table = QTableWidget()
        self.table.setObjectName("datasetTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.currentCellChanged.connect(lambda row, *_: row >= 0 and self.sample_chosen.emit(row))
        self.text = QPlainTextEdit()
        self.text.setObjectName("datasetText")
        self.text.setReadOnly(True)
        self.pages = QStackedWidget()
        for page in (grid_scroll, self.scatter, self.table, self.text):
            self.pages.addWidget(page)
        self._grid_page = grid_scroll
        self.pages.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.pages, 1)
        self._signals = _Loaded(self)
        self._signals.finished.connect(self._on_finished)
        self._token = 0
        self._busy = False
        self.spec: tuple[Any, ...] | None = None  # shown or loading: (dataset, base folder, target, shape, dtype)
        self.fed: tuple[Any, ...] = (None, None)  # the Input's shape and dtype: what the samples are fed as
        self.dataset: Any = None  # the dataset shown
        self.error = ""
        self.mode = ""  # "grid", "scatter", "table" or "text" once a dataset is shown

    @property
    def busy(self) -> bool:
        """True while a load is under way."""
        return self._busy

    def load(
        self,
        spec: str,
        base_dir: Path | None,
        target: str = "",
        input_shape: tuple[int, ...] | None = None,
        input_dtype: str | None = None,
    ) -> None:
        """Read the dataset `spec` on a background thread (nothing happens if it is already shown).

        The Input's shape and dtype matter only where they make a .txt file a text (token ids in one
        dimension): its windows then take the Input's length.
        """
        from studio.train.text_data import wants_text

        fed = (input_shape, input_dtype)
        if not wants_text(input_shape, input_dtype):
            input_shape = input_dtype = None
        key = (spec, str(base_dir or ""), target, input_shape, input_dtype)
        if key == self.spec:
            if fed != self.fed and self.dataset is not None and not self._busy:
                self.fed = fed
                self._show_summary(self.dataset)
            self.fed = fed
            return
        self.spec, self.fed, self.dataset = key, fed, None
        self._token += 1
        token, signals = self._token, self._signals
        self._busy = True
        self.summary.setText(f"Loading {spec}…")
        self.summary.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        def work() -> None:
            from studio.train.datasets import DatasetError, load_dataset

            try:
                result: Any = load_dataset(
                    spec, base_dir=base_dir, target=target, input_shape=input_shape, input_dtype=input_dtype
                )
            except DatasetError as err:
                result = err
            except Exception as err:  # noqa: BLE001 - a reader bug must not kill the thread silently
                result = RuntimeError(
                    f"the data could not be read: {type(err).__name__}: {err}"
                )
            signals.finished.emit(token, result)

        threading.Thread(target=work, name="dataset-preview", daemon=True).start()

    def forget(self) -> None:
        """Drop what is shown so the next `load` reads the data again (the file may have changed)."""
        self.spec = None

    def _on_finished(self, token: int, result: Any) -> None:
        if token != self._token:
            return
        self._busy = False
        if isinstance(result, Exception):
            self.error = str(result)
            self.mode = ""
            self.summary.setText(self.error)
            self.summary.setForegroundRole(QPalette.ColorRole.WindowText)
            _tint(self.summary, current_theme().error)
            self.pages.hide()
        else:
            self.error = ""
            self.summary.setPalette(QPalette())
            self.summary.setForegroundRole(QPalette.ColorRole.WindowText)
            self._show(result)
        self.loaded.emit()

    def _show(self, dataset: Any) -> None:
        self.dataset = dataset
        self._show_summary(dataset)
        x = dataset.x
        first = sample_image(x[0]) if len(x) else None
        if dataset.task == "language_modelling":
            self._show_text(dataset)
        elif first is not None:
            self._show_grid(dataset)
        elif (
            x.ndim == 2
            and x.dtype.kind == "f"
            and (x.shape[1] >= 2 or dataset.task == "regression")
        ):
            self._show_scatter(dataset)
        else:
            self._show_table(dataset)
        self.pages.show()

    def _show_summary(self, dataset: Any) -> None:
        """The dataset's own description, then what the network is fed when the Input's shape differs."""
        from studio.train.datasets import describe_feeding

        lines = [f"<b>{_escape(dataset.name)}</b>: {_escape(dataset.describe())}"]
        fed = describe_feeding(dataset.sample_shape, self.fed[0]) if dataset.task != "language_modelling" else ""
        if fed:
            lines[0] += f", {_escape(fed)}"
        if dataset.source:
            lines.append(f"<span>{_escape(dataset.source)}</span>")
        if dataset.task == "language_modelling":
            shown = {"\n": "⏎", " ": "␣", "\t": "⇥"}
            vocabulary = "".join(shown.get(c, c) for c in dataset.classes)
            lines.append(f"vocabulary: <tt>{_escape(vocabulary)}</tt>")
        self.summary.setText(" · ".join(lines))

    def _show_grid(self, dataset: Any) -> None:
        self.mode = "grid"
        items = []
        for index in range(min(GRID_SAMPLES, len(dataset))):
            label = _target_text(dataset, index)
            items.append(
                GridItem(
                    sample_image(dataset.x[index]),
                    label,
                    tooltip=f"sample {index}: {label}",
                )
            )
        self.grid.set_items(items)
        self.pages.setCurrentWidget(self._grid_page)

    def _show_scatter(self, dataset: Any) -> None:
        self.mode = "scatter"
        plot = self.scatter.getPlotItem()
        plot.clear()
        self._legend.clear()
        count = min(SCATTER_SAMPLES, len(dataset))
        x = dataset.x[:count]
        self._paint_scatter_frame()
        if dataset.task == "classification":
            labels = dataset.y[:count]
            plot.setLabel("bottom", "feature 0")
            plot.setLabel("left", "feature 1")
            for cls in np.unique(labels):
                chosen = labels == cls
                color = _class_color(int(cls))
                plot.plot(
                    x[chosen, 0],
                    x[chosen, 1],
                    pen=None,
                    symbol="o",
                    symbolSize=5,
                    symbolPen=None,
                    symbolBrush=color,
                    name=class_name(dataset.classes, cls),
                )
        else:
            targets = dataset.y[:count].reshape(count, -1)[:, 0]
            plot.setLabel("bottom", "feature 0" if x.shape[1] > 1 else "x")
            plot.setLabel("left", "target")
            plot.plot(
                x[:, 0],
                targets,
                pen=None,
                symbol="o",
                symbolSize=4,
                symbolPen=None,
                symbolBrush=_class_color(0),
            )
        self.pages.setCurrentWidget(self.scatter)

    def _paint_scatter_frame(self) -> None:
        """The scatter's background, axes and legend text in the palette's colours."""
        palette = self.palette()
        self.scatter.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.WindowText)
        plot = self.scatter.getPlotItem()
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setTextPen(pg.mkPen(text))
            plot.getAxis(axis).setPen(
                pg.mkPen(palette.color(QPalette.ColorRole.PlaceholderText))
            )
        self._legend.setLabelTextColor(text)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_legend"):
            self._paint_scatter_frame()
        super().changeEvent(event)

    def _show_text(self, dataset: Any) -> None:
        from studio.train.text_data import decode

        self.mode = "text"
        self.text.setPlainText(decode(dataset.x[:TEXT_WINDOWS].ravel().tolist(), dataset.classes))
        self.pages.setCurrentWidget(self.text)

    def _show_table(self, dataset: Any) -> None:
        self.mode = "table"
        rows = min(TABLE_ROWS, len(dataset))
        self.table.clear()
        self.table.setColumnCount(2)
        self.table.setHorizontalHeaderLabels(["sample", "target"])
        self.table.setRowCount(rows)
        for row in range(rows):
            self.table.setItem(
                row, 0, QTableWidgetItem(sample_text(dataset.x[row], limit=12))
            )
            self.table.setItem(row, 1, QTableWidgetItem(_target_text(dataset, row)))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.pages.setCurrentWidget(self.table)


def _target_text(dataset: Any, index: int) -> str:
    if getattr(dataset, "reconstruction", False):
        return "itself"  # an autoencoder's target is its input
    if dataset.task == "classification":
        return class_name(dataset.classes, dataset.y[index])
    return sample_text(dataset.y[index], limit=2)


def _class_color(index: int) -> QColor:
    dark = current_theme().dark
    hue = (index * 137 + 210) % 360  # golden-angle steps keep neighbours apart
    return QColor.fromHsl(hue, 170, 150 if dark else 115)


def _tint(label: QLabel, color: QColor) -> None:
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, color)
    label.setPalette(palette)


def _escape(text: str) -> str:
    import html

    return html.escape(str(text))
