"""The bar above the canvas that says which block is open (`Network › BasicBlock`) and leads back up."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from studio.ui.document import Document

NETWORK = "Network"
SEPARATOR = "›"


class Breadcrumb(QWidget):
    """Shown while a block is open: a button per level above it (a click goes back there), the open block last."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("breadcrumb")
        self.document = document
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Window)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(8, 3, 10, 3)
        self._layout.setSpacing(4)
        self._texts: list[str] = []
        document.level_changed.connect(self.refresh)
        document.reset.connect(self.refresh)
        document.blocks_changed.connect(lambda _names: self.refresh())
        self.refresh()

    def crumbs(self) -> list[str]:
        """The levels shown, the network first."""
        return list(self._texts)

    def refresh(self) -> None:
        """Rebuild the crumbs from the document's open levels (hidden at the network)."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        levels = self.document.levels
        self._texts = [NETWORK, *(level.block for level in levels)]
        for depth, text in enumerate(self._texts):
            if depth:
                self._layout.addWidget(_muted(SEPARATOR))
            if depth < len(levels):
                button = QToolButton(self)
                button.setObjectName(f"crumb{depth}")
                button.setText(text)
                button.setAutoRaise(True)
                button.setToolTip(f"Back to {'the network' if depth == 0 else 'block ' + text}")
                button.clicked.connect(lambda _checked=False, d=depth: self.document.go_up(d))
                self._layout.addWidget(button)
            else:
                current = QLabel(text, self)
                current.setObjectName("crumbCurrent")
                font = current.font()
                font.setBold(True)
                current.setFont(font)
                self._layout.addWidget(current)
        if levels:
            self._layout.addWidget(_muted(self._context_text()))
        self._layout.addStretch(1)
        if levels:
            self._layout.addWidget(_muted("Esc: up one level"))
        self.setVisible(bool(levels))

    def _context_text(self) -> str:
        level = self.document.levels[-1]
        if level.instance is None:
            return "  (on its own: the shapes its Inputs hold)"
        above = self.document.stack.analyses[-2].graph if len(self.document.stack.analyses) > 1 else self.document.network
        node = above.nodes.get(level.instance)
        return f"  as '{node.name}' runs it" if node is not None else ""


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    return label
