"""The layer palette: every catalogue layer by category, searchable, to drag onto the canvas."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from studio.graph.catalogue import CATALOGUE, LayerSpec, categories
from studio.ui.icons import category_icon
from studio.ui.mime import LAYER_MIME
from studio.ui.param_editors import format_value

TYPE_ROLE = Qt.ItemDataRole.UserRole + 1  # the layer type name; None on a category row
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2  # lower-case text a search matches against
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 3

AnyIndex = QModelIndex | QPersistentModelIndex
BLOCKS = "Blocks"


def layer_mime_data(layer_type: str) -> QMimeData:
    """The drag payload of a layer type: its name, UTF-8, under LAYER_MIME (and as plain text)."""
    data = QMimeData()
    data.setData(LAYER_MIME, layer_type.encode("utf-8"))
    data.setText(layer_type)
    return data


def layer_tooltip(spec: LayerSpec) -> str:
    """Rich text describing a layer: what it does and each parameter with its default and help."""
    parts = [
        f"<p style='white-space:pre'><b>{html.escape(spec.type)}</b> &nbsp;<i>{html.escape(spec.category)}</i></p>",
        f"<p>{html.escape(spec.doc)}</p>",
    ]
    if spec.params:
        rows = "".join(
            f"<tr><td style='white-space:pre'><b>{html.escape(p.name)}</b></td>"
            f"<td style='white-space:pre'>&nbsp;{html.escape(format_value(p.default))}&nbsp;</td>"
            f"<td>{html.escape(p.help)}</td></tr>"
            for p in spec.params
        )
        parts.append(
            f"<table cellspacing='0' cellpadding='2' width='420'>{rows}</table>"
        )
    else:
        parts.append("<p><i>No parameters.</i></p>")
    return "<qt>" + "".join(parts) + "</qt>"


class LayerModel(QStandardItemModel):
    """Categories with their layers; a layer row drags out as LAYER_MIME."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        for category in categories():
            group = self._category_item(category)
            for spec in CATALOGUE.values():
                if spec.category == category:
                    group.appendRow(self._layer_item(spec))
            self.appendRow(group)

    @staticmethod
    def _layer_item(spec: LayerSpec) -> QStandardItem:
        item = QStandardItem(category_icon(spec.category), spec.type)
        item.setData(spec.type, TYPE_ROLE)
        item.setData(spec.category, CATEGORY_ROLE)
        item.setData(f"{spec.type} {spec.category} {spec.doc}".lower(), SEARCH_ROLE)
        item.setToolTip(layer_tooltip(spec))
        item.setFlags(
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
        )
        return item

    def set_blocks(self, specs: list[LayerSpec]) -> bool:
        """List these blocks under "Blocks", first (no such category without blocks); False when they are the ones listed."""
        found = self.findItems(BLOCKS)
        group = found[0] if found else None
        listed = [group.child(r).data(TYPE_ROLE) for r in range(group.rowCount())] if group else []
        tips = [group.child(r).toolTip() for r in range(group.rowCount())] if group else []
        wanted = [spec.type for spec in specs]
        if wanted == listed and [layer_tooltip(spec) for spec in specs] == tips:
            return False
        if group is not None:
            self.removeRow(group.row())
        if specs:
            group = self._category_item(BLOCKS)
            for spec in specs:
                group.appendRow(self._layer_item(spec))
            self.insertRow(0, group)
        return True

    @staticmethod
    def _category_item(category: str) -> QStandardItem:
        group = QStandardItem(category_icon(category), category)
        group.setData(category, CATEGORY_ROLE)
        group.setData("", SEARCH_ROLE)
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = group.font()
        font.setBold(True)
        group.setFont(font)
        return group

    def refresh_icons(self) -> None:
        """Repaint the icons in the current theme's colours."""
        for row in range(self.rowCount()):
            group = self.item(row)
            group.setIcon(category_icon(group.data(CATEGORY_ROLE)))
            for child_row in range(group.rowCount()):
                child = group.child(child_row)
                child.setIcon(category_icon(child.data(CATEGORY_ROLE)))

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME]

    def mimeData(self, indexes: Any) -> QMimeData:
        names = [i.data(TYPE_ROLE) for i in indexes if i.data(TYPE_ROLE)]
        return layer_mime_data(names[0]) if names else QMimeData()

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction


class LayerFilter(QSortFilterProxyModel):
    """Keeps the layers whose name, category or description contain every word searched for."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self.setRecursiveFilteringEnabled(True)

    def set_text(self, text: str) -> None:
        """Filter by the words of `text` (case-insensitive substrings); '' shows everything."""
        words = text.lower().split()
        if words == self._words:
            return
        self.beginFilterChange()
        self._words = words
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        if not self._words:
            return True
        haystack = index.data(SEARCH_ROLE) or ""
        return bool(haystack) and all(word in haystack for word in self._words)


class PaletteWidget(QWidget):
    """A search box over a tree of layers; drag one onto the canvas, or double-click it to add it."""

    add_requested = Signal(str)  # a layer type name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("palette")
        self.search = QLineEdit()
        self.search.setObjectName("palette_search")
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(
            "Filter by name, category or description; Enter adds the first match"
        )

        self.model = LayerModel(self)
        self.proxy = LayerFilter(self)
        self.proxy.setSourceModel(self.model)
        self.tree = QTreeView()
        self.tree.setObjectName("palette_tree")
        self.tree.setModel(self.proxy)
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAnimated(True)
        self.tree.setIndentation(14)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.expandAll()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)

        self._expanded_before_search: set[str] | None = None
        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self._add_first_match)
        self.search.installEventFilter(self)
        self.tree.doubleClicked.connect(self._request_add)
        self.tree.installEventFilter(self)

    def set_blocks(self, blocks: Iterable[Any]) -> None:
        """List the project's blocks (each a `Block`) under "Blocks", draggable like layers."""
        if self.model.set_blocks([block.spec() for block in blocks]):
            group = self.model.findItems(BLOCKS)
            if group and not self.search.text().split():
                self.tree.setExpanded(self.proxy.mapFromSource(group[0].index()), True)

    # ----- searching -----
    def set_filter(self, text: str) -> None:
        """Show only the layers matching `text` (the search box shows it too)."""
        if self.search.text() != text:
            self.search.setText(text)  # comes back here through textChanged
            return
        searching = bool(text.split())
        if searching and self._expanded_before_search is None:
            self._expanded_before_search = self._expanded_categories()
        self.proxy.set_text(text)
        if searching:
            self.tree.expandAll()
        elif self._expanded_before_search is not None:
            self._restore_expanded(self._expanded_before_search)
            self._expanded_before_search = None

    def visible_layer_types(self) -> list[str]:
        """The layer types the filter lets through, in display order."""
        found = []
        for row in range(self.proxy.rowCount()):
            group = self.proxy.index(row, 0)
            for child in range(self.proxy.rowCount(group)):
                found.append(self.proxy.index(child, 0, group).data(TYPE_ROLE))
        return found

    def visible_categories(self) -> list[str]:
        """The categories that still hold a matching layer."""
        return [
            self.proxy.index(row, 0).data(CATEGORY_ROLE)
            for row in range(self.proxy.rowCount())
        ]

    def _expanded_categories(self) -> set[str]:
        return {
            self.proxy.index(row, 0).data(CATEGORY_ROLE)
            for row in range(self.proxy.rowCount())
            if self.tree.isExpanded(self.proxy.index(row, 0))
        }

    def _restore_expanded(self, expanded: set[str]) -> None:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            self.tree.setExpanded(index, index.data(CATEGORY_ROLE) in expanded)

    # ----- adding -----
    def _request_add(self, index: QModelIndex) -> None:
        layer_type = index.data(TYPE_ROLE)
        if layer_type:
            self.add_requested.emit(layer_type)

    def _add_first_match(self) -> None:
        types = self.visible_layer_types()
        if self.search.text().strip() and types:
            self.add_requested.emit(types[0])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if watched is self.tree and event.key() in (
                Qt.Key.Key_Return,
                Qt.Key.Key_Enter,
            ):
                self._request_add(self.tree.currentIndex())
                return True
            if watched is self.search and event.key() == Qt.Key.Key_Down:
                self._focus_first_layer()
                return True
            if (
                watched is self.search
                and event.key() == Qt.Key.Key_Escape
                and self.search.text()
            ):
                self.search.clear()
                return True
        return super().eventFilter(watched, event)

    def _focus_first_layer(self) -> None:
        group = self.proxy.index(0, 0)
        first = self.proxy.index(0, 0, group) if group.isValid() else QModelIndex()
        if first.isValid():
            self.tree.setCurrentIndex(first)
            self.tree.setFocus(Qt.FocusReason.OtherFocusReason)

    # ----- theme -----
    def apply_theme(self) -> None:
        """Repaint the category icons in the current theme's colours."""
        self.model.refresh_icons()
