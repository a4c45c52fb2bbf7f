"""The words an empty canvas shows in its middle: how to add a first layer, and a button that opens an example."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from studio.graph.model import NodeAdded, NodeRemoved
from studio.ui.document import Document
from studio.ui.theme import current_theme

NETWORK_HINT = (
    "<p style='font-size:large'><b>An empty network</b></p>"
    "<p>Drag a layer from the <b>Layers</b> panel onto the canvas,<br>"
    "or right-click here and choose <b>Add layer…</b></p>"
)
BLOCK_HINT = (
    "<p style='font-size:large'><b>An empty block</b></p>"
    "<p>Drag layers from the <b>Layers</b> panel into it:<br>"
    "its Input and Output layers become the ports of its instances</p>"
)
SPACING = 14


class EmptyHint(QObject):
    """Shown while the level on the canvas has no layers; the clicks it does not use reach the canvas."""

    examples_requested = Signal()

    def __init__(self, document: Document, viewport: QWidget) -> None:
        super().__init__(viewport)
        self.document, self.viewport = document, viewport
        self.label = QLabel(viewport)
        self.label.setObjectName("canvasHint")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.button = QPushButton("Open an Example…", viewport)
        self.button.setObjectName("canvasHintExamples")
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.setToolTip("Start from one of the example networks (File › New from Example…)")
        self.button.clicked.connect(self.examples_requested)
        self.apply_theme()
        viewport.installEventFilter(self)
        document.graph_changed.connect(self._on_graph_changed)
        document.reset.connect(self.refresh)
        document.level_changed.connect(self.refresh)
        self.refresh()

    @property
    def shown(self) -> bool:
        """True while the hint is up."""
        return not self.label.isHidden()

    def refresh(self) -> None:
        """Show the hint when the level shown is empty (the example button only at the network), hide it otherwise."""
        empty = len(self.document.graph) == 0
        at_network = not self.document.levels
        self.label.setText(NETWORK_HINT if at_network else BLOCK_HINT)
        self.label.setVisible(empty)
        self.button.setVisible(empty and at_network)
        if empty:
            self._place()

    def _on_graph_changed(self, event: object) -> None:
        if isinstance(event, NodeAdded | NodeRemoved):
            self.refresh()

    def _place(self) -> None:
        self.label.adjustSize()
        self.button.adjustSize()
        area = self.viewport.rect()
        button_height = self.button.height() + SPACING if not self.button.isHidden() else 0
        top = area.center().y() - (self.label.height() + button_height) // 2
        self.label.move(area.center().x() - self.label.width() // 2, top)
        self.button.move(area.center().x() - self.button.width() // 2, top + self.label.height() + SPACING)

    def apply_theme(self) -> None:
        """Write the hint in the theme's quieter text colour."""
        self.label.setStyleSheet(f"QLabel#canvasHint {{ color: {current_theme().node_subtext.name()}; background: transparent; }}")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.viewport and event.type() == QEvent.Type.Resize and self.shown:
            self._place()
        return super().eventFilter(watched, event)
