"""New from example: a gallery of the shipped example projects, each with a drawn thumbnail."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.graph.project import Project, ProjectFileError, load_project
from studio.ui.theme import current_theme

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
THUMBNAIL = QSize(220, 120)


def example_paths() -> list[Path]:
    """The shipped example projects, digits first (the one the quick start uses)."""
    paths = sorted(EXAMPLES_DIR.glob("*.lstudio"))
    return sorted(paths, key=lambda p: p.stem != "digits_cnn")


def thumbnail(project: Project, size: QSize = THUMBNAIL) -> QPixmap:
    """A small drawing of the network: its layers as category-coloured boxes, its edges as lines."""
    theme = current_theme()
    pixmap = QPixmap(size)
    pixmap.fill(theme.canvas)
    graph = project.graph
    if not graph.nodes:
        return pixmap
    xs = [n.position[0] for n in graph.nodes.values()]
    ys = [n.position[1] for n in graph.nodes.values()]
    box_w, box_h, margin = 14.0, 9.0, 10.0
    span_x, span_y = max(max(xs) - min(xs), 1.0), max(max(ys) - min(ys), 1.0)
    scale = min(
        (size.width() - 2 * margin - box_w) / span_x,
        (size.height() - 2 * margin - box_h) / span_y,
    )
    used_w, used_h = span_x * scale + box_w, span_y * scale + box_h
    left, top = (size.width() - used_w) / 2, (size.height() - used_h) / 2

    def corner(node_id: str) -> tuple[float, float]:
        x, y = graph.node(node_id).position
        return left + (x - min(xs)) * scale, top + (y - min(ys)) * scale

    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(theme.edge, 1.2))
    for edge in graph.edges:
        (x1, y1), (x2, y2) = corner(edge.src), corner(edge.dst)
        start, end = QPointF(x1 + box_w, y1 + box_h / 2), QPointF(x2, y2 + box_h / 2)
        if (
            end.x() < start.x()
        ):  # wrapped to the next band: back along the middle, as on the canvas
            mid, turn = (start.y() + end.y()) / 2, 4.0
            points = [
                start,
                QPointF(start.x() + turn, start.y()),
                QPointF(start.x() + turn, mid),
            ]
            points += [
                QPointF(end.x() - turn, mid),
                QPointF(end.x() - turn, end.y()),
                end,
            ]
            painter.drawPolyline(points)
        else:
            painter.drawLine(start, end)
    painter.setPen(QPen(theme.node_border, 0.8))
    for node in graph.nodes.values():
        x, y = corner(node.id)
        painter.setBrush(theme.category_color(node.spec.category))
        painter.drawRoundedRect(QRectF(x, y, box_w, box_h), 2.5, 2.5)
    painter.end()
    return pixmap


class ExampleGallery(QDialog):
    """Pick an example project to start from; `chosen_path` holds the choice after `exec()`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New from Example")
        self.chosen_path: Path | None = None
        self.examples = QListWidget(self)
        self.examples.setObjectName("exampleGallery")
        self.examples.setViewMode(QListWidget.ViewMode.IconMode)
        self.examples.setIconSize(THUMBNAIL)
        self.examples.setGridSize(
            QSize(THUMBNAIL.width() + 24, THUMBNAIL.height() + 64)
        )
        self.examples.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.examples.setMovement(QListWidget.Movement.Static)
        self.examples.setWordWrap(True)
        self.examples.setSpacing(6)
        for path in example_paths():
            try:
                project = load_project(path)
            except ProjectFileError:
                continue
            item = QListWidgetItem(QIcon(thumbnail(project)), _title(path))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            about = f"{project.description} {len(project.graph)} layers."
            item.setData(Qt.ItemDataRole.ToolTipRole, about)
            self.examples.addItem(item)
        self.about = QLabel(self)
        self.about.setObjectName("exampleDescription")
        self.about.setWordWrap(True)
        self.examples.currentItemChanged.connect(self._describe)
        self.examples.setCurrentRow(0)
        self.examples.itemActivated.connect(self._open_item)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open
            | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.examples)
        layout.addWidget(self.about)
        layout.addWidget(buttons)
        self.resize(
            4 * (THUMBNAIL.width() + 36) + 60, 2 * (THUMBNAIL.height() + 64) + 80
        )

    def _describe(self, item: QListWidgetItem | None) -> None:
        self.about.setText(f"<b>{item.text()}</b>: {item.toolTip()}" if item else "")

    def _open_item(self, _item: QListWidgetItem) -> None:
        self.accept()

    def accept(self) -> None:
        item = self.examples.currentItem()
        self.chosen_path = Path(item.data(Qt.ItemDataRole.UserRole)) if item else None
        super().accept()


def _title(path: Path) -> str:
    special = {
        "mlp": "MLP",
        "lstm_classifier": "LSTM classifier",
        "digits_cnn": "Digits CNN",
        "resnet_small": "ResNet (small)",
        "lenet5": "LeNet-5",
    }
    return special.get(path.stem, path.stem.replace("_", " ").capitalize())
