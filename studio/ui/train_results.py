"""What a finished run shows: a confusion matrix and a grid of sample predictions (wrong ones in red)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QImage,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.ui.theme import current_theme

THUMB = 48
CELL_GAP = 8
IMAGE_CHANNELS = (1, 3, 4)


def sample_image(sample: Any) -> QImage | None:
    """A sample as a picture when it is one (C×H×W with 1, 3 or 4 channels, or H×W); else None.

    Values are stretched to the sample's own range, so normalized data shows as well as raw.
    """
    try:
        x = np.asarray(sample, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] not in IMAGE_CHANNELS or min(x.shape[1:]) < 2:
        return None
    x = np.nan_to_num(x[:3] if x.shape[0] == 4 else x)
    low, high = float(x.min()), float(x.max())
    scaled = (x - low) * (255.0 / (high - low)) if high > low else np.zeros_like(x)
    pixels = np.ascontiguousarray(
        scaled.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
    )
    height, width, channels = pixels.shape
    fmt = (
        QImage.Format.Format_Grayscale8
        if channels == 1
        else QImage.Format.Format_RGB888
    )
    return QImage(pixels.data, width, height, width * channels, fmt).copy()


def sample_text(sample: Any, limit: int = 4) -> str:
    """A non-image sample as a few of its values: '0.52, -1.3, …'."""
    try:
        values = np.asarray(sample).ravel()
    except (TypeError, ValueError):
        return "?"
    shown = ", ".join(_short(v) for v in values[:limit])
    return shown + (", …" if values.size > limit else "")


def _short(value: Any) -> str:
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return f"{float(value):.3g}"


def class_name(classes: Sequence[str], index: Any) -> str:
    """The name of a class id, or the id itself when there is no name for it."""
    try:
        number = int(index)
    except (TypeError, ValueError):
        return str(index)
    return str(classes[number]) if 0 <= number < len(classes) else str(number)


@dataclass(frozen=True)
class GridItem:
    """One cell of a sample grid: a picture (or a few values), a caption, and whether it is wrong."""

    image: QImage | None
    caption: str
    values: str = ""
    wrong: bool = False
    tooltip: str = ""


class SampleGrid(QWidget):
    """Thumbnails with captions in rows that wrap to the width; wrong predictions framed in red."""

    clicked = Signal(int)  # the index of the cell clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[GridItem] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)

    def mousePressEvent(self, event: Any) -> None:
        for index in range(len(self.items)):
            if self._cell_at(index).contains(event.position()):
                self.clicked.emit(index)
                return
        super().mousePressEvent(event)

    def set_items(self, items: Sequence[GridItem]) -> None:
        """Show these cells (replacing the old ones)."""
        self.items = list(items)
        self.updateGeometry()
        self.update()

    def _cell_size(self) -> QSize:
        metrics = QFontMetrics(self.font())
        width = max(
            THUMB,
            max((metrics.horizontalAdvance(i.caption) for i in self.items), default=0),
        )
        width = min(width, THUMB * 2) + 6
        return QSize(width, THUMB + metrics.height() + 10)

    def _columns(self, width: int) -> int:
        return max(1, (width + CELL_GAP) // (self._cell_size().width() + CELL_GAP))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if not self.items:
            return 0
        rows = -(-len(self.items) // self._columns(width))
        return rows * (self._cell_size().height() + CELL_GAP)

    def sizeHint(self) -> QSize:
        cell = self._cell_size()
        columns = min(len(self.items), 8) or 1
        width = columns * (cell.width() + CELL_GAP)
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        cell = self._cell_size()
        return QSize(
            cell.width(), self.heightForWidth(cell.width()) if self.items else 0
        )

    def resizeEvent(self, event: Any) -> None:
        self.setMinimumHeight(self.heightForWidth(self.width()))
        super().resizeEvent(event)

    def _cell_at(self, index: int) -> QRectF:
        cell = self._cell_size()
        columns = self._columns(self.width())
        row, column = divmod(index, columns)
        return QRectF(
            column * (cell.width() + CELL_GAP),
            row * (cell.height() + CELL_GAP),
            cell.width(),
            cell.height(),
        )

    def event(self, event: Any) -> bool:
        from PySide6.QtCore import QEvent
        from PySide6.QtWidgets import QToolTip

        if event.type() == QEvent.Type.ToolTip:
            for index, item in enumerate(self.items):
                if item.tooltip and self._cell_at(index).contains(event.position()):
                    QToolTip.showText(event.globalPos(), item.tooltip, self)
                    return True
            QToolTip.hideText()
            event.ignore()
            return True
        return super().event(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        theme = current_theme()
        text_color = palette.color(QPalette.ColorRole.WindowText)
        frame_color = palette.color(QPalette.ColorRole.Mid)
        metrics = QFontMetrics(self.font())
        for index, item in enumerate(self.items):
            cell = self._cell_at(index)
            if not cell.intersects(QRectF(event.rect())):
                continue
            box = QRectF(cell.center().x() - THUMB / 2, cell.top() + 2, THUMB, THUMB)
            if item.image is not None:
                smooth = min(item.image.width(), item.image.height()) > THUMB // 2
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
                painter.drawImage(box, item.image)
            else:
                painter.fillRect(box, palette.color(QPalette.ColorRole.AlternateBase))
                painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(
                    box.adjusted(2, 2, -2, -2),
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    item.values,
                )
            pen = QPen(
                theme.error if item.wrong else frame_color, 2.5 if item.wrong else 1.0
            )
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(box.adjusted(-1, -1, 1, 1))
            painter.setPen(theme.error if item.wrong else text_color)
            caption = QRectF(
                cell.left(), box.bottom() + 3, cell.width(), metrics.height() + 2
            )
            text = metrics.elidedText(
                item.caption, Qt.TextElideMode.ElideRight, int(cell.width())
            )
            painter.drawText(
                caption, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text
            )
        painter.end()


class ConfusionMatrixView(QWidget):
    """A heatmap of true class (rows) against predicted class (columns), with counts in the cells."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confusionMatrix")
        self.counts = np.zeros((0, 0), dtype=np.int64)
        self.classes: list[str] = []
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def set_matrix(self, counts: Any, classes: Sequence[str]) -> None:
        """Show a square matrix of counts; `classes` names its rows and columns."""
        matrix = np.asarray(counts, dtype=np.int64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            matrix = np.zeros((0, 0), dtype=np.int64)
        self.counts = matrix
        n = len(matrix)
        self.classes = [class_name(classes, i) for i in range(n)]
        self.updateGeometry()
        self.update()

    def _geometry(self) -> tuple[float, float, float]:
        """(left margin for row names, top margin for column titles, cell size)."""
        metrics = QFontMetrics(self.font())
        n = max(1, len(self.counts))
        names = max((metrics.horizontalAdvance(c) for c in self.classes), default=0)
        left = min(names, 90) + metrics.height() + 10
        top = 2 * metrics.height() + 4
        room = min(self.width() - left - 4, self.height() - top - 4)
        cell = max(6.0, min(40.0, room / n))
        return left, top, cell

    def sizeHint(self) -> QSize:
        n = max(1, len(self.counts))
        metrics = QFontMetrics(self.font())
        cell = 30 if n <= 10 else 16
        return QSize(int(120 + n * cell), int(2 * metrics.height() + 12 + n * cell))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, 140)

    def paintEvent(self, event: QPaintEvent) -> None:
        if not len(self.counts):
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        palette, theme = self.palette(), current_theme()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.WindowText)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        metrics = QFontMetrics(self.font())
        left, top, cell = self._geometry()
        n = len(self.counts)
        totals = self.counts.sum(axis=1)
        count_font = self.font()
        count_font.setPixelSize(max(7, min(metrics.height() - 4, int(cell * 0.6))))
        count_metrics = QFontMetrics(count_font)
        widest = count_metrics.horizontalAdvance(str(int(self.counts.max())))
        show_counts = cell >= widest + 2 and cell >= count_metrics.height() - 2
        painter.setFont(count_font)
        for row in range(n):
            for column in range(n):
                count = int(self.counts[row, column])
                share = count / totals[row] if totals[row] else 0.0
                tint = theme.node_selected if row == column else theme.error
                color = _blend(base, tint, 0.12 + 0.88 * share if count else 0.0)
                rect = QRectF(left + column * cell, top + row * cell, cell, cell)
                painter.fillRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), color)
                if show_counts and count:
                    painter.setPen(_readable_on(color, text))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
        painter.setFont(self.font())
        painter.setPen(text)
        for index, name in enumerate(self.classes):
            row_rect = QRectF(0, top + index * cell, left - 6, cell)
            label = metrics.elidedText(
                name, Qt.TextElideMode.ElideRight, int(left - metrics.height() - 10)
            )
            if cell >= metrics.height() - 2:
                painter.drawText(
                    row_rect,
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    label,
                )
                column_label = metrics.elidedText(
                    name, Qt.TextElideMode.ElideRight, int(cell) + 2
                )
                column_rect = QRectF(
                    left + index * cell - 4,
                    top - metrics.height() - 2,
                    cell + 8,
                    metrics.height(),
                )
                painter.drawText(
                    column_rect, Qt.AlignmentFlag.AlignCenter, column_label
                )
        painter.setPen(muted)
        width = n * cell
        painter.drawText(
            QRectF(left, 0, width, metrics.height() + 2),
            Qt.AlignmentFlag.AlignCenter,
            "predicted",
        )
        painter.save()
        painter.translate(metrics.height() * 0.2, top + n * cell / 2)
        painter.rotate(-90)
        painter.drawText(
            QRectF(-n * cell / 2, 0, n * cell, metrics.height() + 2),
            Qt.AlignmentFlag.AlignCenter,
            "true",
        )
        painter.restore()
        painter.end()


def _blend(base: QColor, tint: QColor, amount: float) -> QColor:
    a = max(0.0, min(1.0, amount))
    return QColor(
        round(base.red() + (tint.red() - base.red()) * a),
        round(base.green() + (tint.green() - base.green()) * a),
        round(base.blue() + (tint.blue() - base.blue()) * a),
    )


def _readable_on(fill: QColor, text: QColor) -> QColor:
    return QColor("#ffffff") if fill.lightnessF() < 0.5 else QColor("#1d2128")


class ResultsView(QWidget):
    """After a classification run: accuracy in words, the confusion matrix and sample predictions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainResults")
        self.headline = QLabel("Results appear here after a classification run.")
        self.headline.setObjectName("resultsHeadline")
        self.headline.setWordWrap(True)
        self.headline.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.matrix = ConfusionMatrixView()
        self.predictions = SampleGrid()
        self.predictions.setObjectName("predictionGrid")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 0, 0)
        self.predictions_title = QLabel("Sample predictions (label → predicted)")
        holder_layout.addWidget(self.predictions_title)
        holder_layout.addWidget(self.predictions)
        holder_layout.addStretch(1)
        scroll.setWidget(holder)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(self.matrix, 2)
        body.addWidget(scroll, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.headline)
        layout.addLayout(body, 1)
        self._body = [self.matrix, scroll]
        for widget in self._body:
            widget.hide()

    def clear(
        self, text: str = "Results appear here after a classification run."
    ) -> None:
        """Show only a line of text."""
        self.headline.setText(text)
        for widget in self._body:
            widget.hide()

    def show_evaluation(self, event: dict[str, Any], classes: Sequence[str]) -> None:
        """Fill the matrix and the grid from an "evaluation" event (its own class names first)."""
        classes = event.get("classes") or classes
        counts = np.asarray(event.get("confusion") or [], dtype=np.int64)
        if counts.ndim == 2 and counts.size:
            correct, total = int(np.trace(counts)), int(counts.sum())
            share = correct / total if total else 0.0
            split = "Training data" if event.get("split") == "train" else "Validation"
            self.headline.setText(
                f"{split}: {share:.1%} correct ({correct:,} of {total:,}). "
                "Rows are the true classes, columns what the network predicted."
            )
        self.matrix.set_matrix(
            counts if counts.ndim == 2 else np.zeros((0, 0)), classes
        )
        items = []
        for sample in event.get("samples") or []:
            label, predicted = sample.get("label"), sample.get("predicted")
            x = sample.get("x")
            image = sample_image(x) if x is not None else None
            truth, guess = class_name(classes, label), class_name(classes, predicted)
            items.append(
                GridItem(
                    image,
                    f"{truth} → {guess}",
                    values="" if image is not None or x is None else sample_text(x),
                    wrong=label != predicted,
                    tooltip=f"label: {truth}\npredicted: {guess}",
                )
            )
        self.predictions.set_items(items)
        self.predictions_title.setVisible(bool(items))
        for widget in self._body:
            widget.show()
