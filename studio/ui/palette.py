"""The layer palette: every catalogue layer by category, searchable, to drag onto the canvas."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QIdentityProxyModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QMenu,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from studio.graph.catalogue import LayerSpec, categories, get_spec
from studio.graph.layer_search import SearchEntry, catalogue_entries, layer_entry, rank
from studio.ui.icons import category_icon
from studio.ui.mime import LAYER_MIME, LIBRARY_MIME
from studio.ui.param_editors import format_value

TYPE_ROLE = Qt.ItemDataRole.UserRole + 1  # the layer type name; None on a category row
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2  # the row's `SearchEntry` (studio.graph.layer_search); None on a category row
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 3
OFFER_ROLE = Qt.ItemDataRole.UserRole + 4  # a library block's key (studio.ui.palette_library); None elsewhere

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


class LayerRows(QStandardItemModel):
    """Rows of layers and blocks that drag out as LAYER_MIME (a library block as LIBRARY_MIME)."""

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME, LIBRARY_MIME]

    def mimeData(self, indexes: Any) -> QMimeData:
        offers = [i.data(OFFER_ROLE) for i in indexes if i.data(OFFER_ROLE)]
        if offers:
            data = QMimeData()
            data.setData(LIBRARY_MIME, offers[0].encode("utf-8"))
            return data
        names = [i.data(TYPE_ROLE) for i in indexes if i.data(TYPE_ROLE)]
        return layer_mime_data(names[0]) if names else QMimeData()

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction


class LayerModel(LayerRows):
    """Categories with their layers; the project's blocks (and the library's, `palette_library`) first."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        entries = catalogue_entries()
        for category in categories():
            group = self._category_item(category)
            for entry in entries:
                if entry.category == category:
                    group.appendRow(self._layer_item(entry, entry.key))
            self.appendRow(group)

    @staticmethod
    def _layer_item(entry: SearchEntry, tooltip_of: LayerSpec | str) -> QStandardItem:
        item = QStandardItem(category_icon(entry.category), entry.name)
        item.setData(entry.key, TYPE_ROLE)
        item.setData(entry.category, CATEGORY_ROLE)
        item.setData(entry, SEARCH_ROLE)
        item.setToolTip(layer_tooltip(get_spec(tooltip_of) if isinstance(tooltip_of, str) else tooltip_of))
        item.setFlags(
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
        )
        return item

    def set_group(self, category: str, items: list[QStandardItem], row: int) -> None:
        """Put a group of these rows at `row`, in place of any group called `category` (none without rows)."""
        for found in self.findItems(category):
            self.removeRow(found.row())
        if items:
            group = self._category_item(category)
            for item in items:
                group.appendRow(item)
            self.insertRow(min(row, self.rowCount()), group)

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
            for k, spec in enumerate(specs):
                group.appendRow(self._layer_item(block_entry(spec, k), spec))
            self.insertRow(0, group)
        return True

    @staticmethod
    def _category_item(category: str) -> QStandardItem:
        group = QStandardItem(category_icon(category), category)
        group.setData(category, CATEGORY_ROLE)
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = group.font()
        font.setBold(True)
        group.setFont(font)
        return group

    def layer_items(self) -> list[QStandardItem]:
        """Every layer and block row, in the order listed."""
        return [
            self.item(row).child(child)
            for row in range(self.rowCount())
            for child in range(self.item(row).rowCount())
        ]

    def refresh_icons(self) -> None:
        """Repaint the icons in the current theme's colours."""
        for row in range(self.rowCount()):
            group = self.item(row)
            group.setIcon(category_icon(group.data(CATEGORY_ROLE)))
            for child_row in range(group.rowCount()):
                child = group.child(child_row)
                child.setIcon(category_icon(child.data(CATEGORY_ROLE)))


def block_entry(spec: LayerSpec, index: int, order: int = -2) -> SearchEntry:
    """A block as a search entry; blocks come before catalogue layers that match as well (`order` -2: the project's, -1: a library's)."""
    return replace(layer_entry(spec), category=BLOCKS, order=(order, index))


def ranked_items(items: list[QStandardItem], query: str) -> list[QStandardItem]:
    """The rows `query` finds (each row's `SearchEntry` in SEARCH_ROLE), best first."""
    by_entry = {id(item.data(SEARCH_ROLE)): item for item in items if item.data(SEARCH_ROLE) is not None}
    entries = [item.data(SEARCH_ROLE) for item in items if item.data(SEARCH_ROLE) is not None]
    return [by_entry[id(entry)] for entry in rank(query, entries)]


class SearchResults(LayerRows):
    """The layers a search finds, best first, in one flat list (clones of the palette's rows)."""

    def show(self, items: list[QStandardItem]) -> None:
        """List these rows (copies: the palette keeps its own)."""
        self.clear()
        for item in items:
            self.appendRow(item.clone())

    def layer_types(self) -> list[str]:
        """The layer types (and block names) listed, in order."""
        return [self.item(row).data(TYPE_ROLE) or self.item(row).text() for row in range(self.rowCount())]


class PaletteWidget(QWidget):
    """A search box over a tree of layers; drag one onto the canvas, or double-click it to add it.

    While the box holds a search, the tree shows the matches as one ranked list (best first,
    the first one current), so Enter adds what the list shows on top.
    """

    add_requested = Signal(str)  # a layer type name
    open_requested = Signal(str)  # a block's name: show its layers
    offer_requested = Signal(str)  # a library block's key: copy it into the project and add an instance

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("palette")
        self.search = QLineEdit()
        self.search.setObjectName("palette_search")
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(
            "Find a layer by name (exact names first), other frameworks' names, category or description;"
            " Enter adds the top match beside the selected layer"
        )

        self.model = LayerModel(self)
        self.proxy = QIdentityProxyModel(self)  # the tree's view of the model while nothing is searched
        self.proxy.setSourceModel(self.model)
        self.results = SearchResults(self)
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
        self._query = ""
        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self._add_first_match)
        self.search.installEventFilter(self)
        self.tree.doubleClicked.connect(self._request_add)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._menu_extras: list[Callable[[QModelIndex, QMenu], None]] = []
        self.tree.customContextMenuRequested.connect(self._show_menu)
        self.tree.installEventFilter(self)
        for signal in (self.model.rowsInserted, self.model.rowsRemoved):
            signal.connect(lambda *_: self._rank_again())

    def set_blocks(self, blocks: Iterable[Any]) -> None:
        """List the project's blocks (each a `Block`) under "Blocks", draggable like layers."""
        if self.model.set_blocks([block.spec() for block in blocks]):
            group = self.model.findItems(BLOCKS)
            if group and not self.searching:
                self.tree.setExpanded(self.proxy.mapFromSource(group[0].index()), True)

    # ----- searching -----
    @property
    def searching(self) -> bool:
        """True while the search box holds a search (the tree shows the ranked matches)."""
        return bool(self._query)

    def set_filter(self, text: str) -> None:
        """Show the layers matching `text`, best first ('' shows the categories again); the search box shows it too."""
        if self.search.text() != text:
            self.search.setText(text)  # comes back here through textChanged
            return
        query = " ".join(text.split())
        if query == self._query:
            return
        if query and not self._query:
            self._expanded_before_search = self._expanded_categories()
        self._query = query
        if query:
            self._rank_again()
            return
        self.results.clear()
        self.tree.setModel(self.proxy)
        self.tree.setRootIsDecorated(True)
        if self._expanded_before_search is not None:
            self._restore_expanded(self._expanded_before_search)
            self._expanded_before_search = None

    def _rank_again(self) -> None:
        if not self._query:
            return
        self.results.show(ranked_items(self.model.layer_items(), self._query))
        if self.tree.model() is not self.results:
            self.tree.setModel(self.results)
            self.tree.setRootIsDecorated(False)
        if self.results.rowCount():
            self.tree.setCurrentIndex(self.results.index(0, 0))
            self.tree.scrollToTop()

    def visible_layer_types(self) -> list[str]:
        """The layer types listed, in display order (best first while searching)."""
        if self.searching:
            return self.results.layer_types()
        found = []
        for row in range(self.proxy.rowCount()):
            group = self.proxy.index(row, 0)
            for child in range(self.proxy.rowCount(group)):
                layer_type = self.proxy.index(child, 0, group).data(TYPE_ROLE)
                if layer_type:
                    found.append(layer_type)
        return found

    def visible_categories(self) -> list[str]:
        """The categories listed (while searching: those of the matches, in the order they first come)."""
        if self.searching:
            found = (self.results.item(row).data(CATEGORY_ROLE) for row in range(self.results.rowCount()))
            return list(dict.fromkeys(found))
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
        if index.data(OFFER_ROLE):
            self.offer_requested.emit(index.data(OFFER_ROLE))
            return
        layer_type = index.data(TYPE_ROLE)
        if layer_type:
            self.add_requested.emit(layer_type)

    def block_menu(self, index: QModelIndex) -> QMenu | None:
        """The right-click menu of a block in the list (None for a layer or a category)."""
        name = index.data(TYPE_ROLE)
        if not name or index.data(CATEGORY_ROLE) != BLOCKS:
            return None
        menu = QMenu(self)
        menu.addAction("Add to the Network", lambda: self.add_requested.emit(name))
        menu.addAction("Open Block", lambda: self.open_requested.emit(name))
        return menu

    def extend_menu(self, extra: Callable[[QModelIndex, QMenu], None]) -> None:
        """Let `extra` add actions to the right-click menu of any entry."""
        self._menu_extras.append(extra)

    def context_menu(self, index: QModelIndex) -> QMenu | None:
        """The right-click menu of an entry: the block actions, then what `extend_menu` added (None when empty)."""
        menu = self.block_menu(index) or QMenu(self)
        for extra in self._menu_extras:
            extra(index, menu)
        if menu.isEmpty():
            menu.deleteLater()
            return None
        return menu

    def _show_menu(self, point: QPoint) -> None:
        menu = self.context_menu(self.tree.indexAt(point))
        if menu is not None:
            menu.exec(self.tree.viewport().mapToGlobal(point))
            menu.deleteLater()

    def _add_first_match(self) -> None:
        if self.searching and self.results.rowCount():
            self._request_add(self.results.index(0, 0))

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
        if self.searching:
            first = self.results.index(0, 0)
        else:
            group = self.proxy.index(0, 0)
            first = self.proxy.index(0, 0, group) if group.isValid() else QModelIndex()
        if first.isValid():
            self.tree.setCurrentIndex(first)
            self.tree.setFocus(Qt.FocusReason.OtherFocusReason)

    # ----- theme -----
    def apply_theme(self) -> None:
        """Repaint the category icons in the current theme's colours."""
        self.model.refresh_icons()
        for row in range(self.results.rowCount()):
            item = self.results.item(row)
            item.setIcon(category_icon(item.data(CATEGORY_ROLE)))
