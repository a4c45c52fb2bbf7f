"""The canvas's Add Layer popup: a search box over the palette's layers, ranked as the palette ranks them, at the cursor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QLineEdit,
    QListView,
    QVBoxLayout,
    QWidget,
)

from studio.ui.palette import (
    SEARCH_ROLE,
    TYPE_ROLE,
    LayerModel,
    SearchResults,
    ranked_items,
)

POPUP_SIZE = (280, 340)


class AddLayerPopup(QFrame):
    """Type to find a layer; Enter (or a double-click) picks the one marked, Escape or a click elsewhere closes."""

    chosen = Signal(str)  # a layer type, or a project block's name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("add_layer_popup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.layers = LayerModel(self)
        self.search = QLineEdit(self)
        self.search.setObjectName("add_layer_search")
        self.search.setPlaceholderText("Add layer: type to search…")
        self.results = SearchResults(self)
        self.list = QListView(self)
        self.list.setObjectName("add_layer_list")
        self.list.setModel(self.results)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setUniformItemSizes(True)
        self.list.setIconSize(QSize(16, 16))
        self.about = QLabel(self)
        self.about.setObjectName("add_layer_about")
        self.about.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.about)
        self.resize(*POPUP_SIZE)
        self.search.textChanged.connect(self.set_query)
        self.search.installEventFilter(self)
        self.list.doubleClicked.connect(self._pick)
        self.list.activated.connect(self._pick)
        self.list.selectionModel().currentChanged.connect(self._describe)
        self.set_query("")

    def set_blocks(self, blocks: Iterable[Any]) -> None:
        """List the project's blocks (each a `Block`) first, as the palette does."""
        if self.layers.set_blocks([block.spec() for block in blocks]):
            self.set_query(self.search.text())

    def set_query(self, text: str) -> None:
        """List what `text` finds, best first and marked (everything, in palette order, for no text)."""
        items = self.layers.layer_items()
        self.results.show(ranked_items(items, text) if text.split() else items)
        if self.results.rowCount():
            self.list.setCurrentIndex(self.results.index(0, 0))

    def _describe(self, index: QModelIndex) -> None:
        """Say what the marked layer does, in its description's first sentence."""
        entry = index.data(SEARCH_ROLE) if index.isValid() else None
        text = entry.description if entry is not None else ""
        self.about.setText(text.split(". ")[0].rstrip(".") + "." if text else "")

    def listed(self) -> list[str]:
        """The layer types listed, in order."""
        return self.results.layer_types()

    def open_at(self, global_pos: QPoint) -> None:
        """Show the popup with its corner at a screen point, kept on the screen, the search box empty and ready for typing."""
        self.search.clear()
        self.layers.refresh_icons()
        self.set_query("")
        quiet = self.palette()  # the theme's, which may have changed since the last time
        quiet.setColor(QPalette.ColorRole.WindowText, quiet.color(QPalette.ColorRole.PlaceholderText))
        self.about.setPalette(quiet)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        x, y = global_pos.x(), global_pos.y()
        if screen is not None:
            x = max(screen.left(), min(x, screen.right() - self.width()))
            y = max(screen.top(), min(y, screen.bottom() - self.height()))
        self.move(x, y)
        self.show()
        self.search.setFocus(Qt.FocusReason.PopupFocusReason)

    def _pick(self, index: QModelIndex) -> None:
        layer_type = index.data(TYPE_ROLE) if index.isValid() else None
        if layer_type:
            self.close()
            self.chosen.emit(layer_type)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._pick(self.list.currentIndex())
                return True
            if key == Qt.Key.Key_Escape:
                self.close()
                return True
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                self._step(key)
                return True
        return super().eventFilter(watched, event)

    def _step(self, key: Qt.Key) -> None:
        """Move the mark through the list while the cursor stays in the search box."""
        rows = self.results.rowCount()
        if not rows:
            return
        page = max(1, self.list.height() // max(1, self.list.sizeHintForRow(0)) - 1)
        moves = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: page, Qt.Key.Key_PageUp: -page}
        row = max(0, min(rows - 1, self.list.currentIndex().row() + moves[key]))
        self.list.setCurrentIndex(self.results.index(row, 0))
