"""What the canvas does with blocks: group, ungroup, open an instance, make it unique, expand it in place."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu

from studio.graph.model import GraphError
from studio.ui.canvas.scene import GraphScene
from studio.ui.document import Document

OPEN_KEYS = ("Ctrl+Return", "Ctrl+Enter")
EXPAND_KEY = "Ctrl+E"


def menu_action(
    menu: QMenu,
    text: str,
    slot: Callable[[], object],
    shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
) -> QAction:
    """Add an entry to a context menu, its shortcut shown beside it."""
    action = menu.addAction(text)
    action.triggered.connect(lambda _checked=False: slot())
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutVisibleInContextMenu(True)
    return action


class BlockActions:
    """The block commands of the canvas view (mixed into `CanvasView`, which provides `document` and `show_message`)."""

    document: Document
    graph_scene: GraphScene

    def show_message(self, text: str) -> None:
        raise NotImplementedError

    def group_selection(self) -> None:
        """Ask for a name and group the selected layers into a new block (one undoable step)."""
        ids = self.document.selected_ids
        if not ids:
            self.show_message("Select the layers to group first")
            return
        name = self.ask_block_name(self.document.suggest_block_name())
        if not name:
            return
        try:
            self.document.group(ids, name)
        except GraphError as err:
            self.show_message(f"Cannot group: {err}")

    def ungroup(self, node_id: str) -> None:
        """Put an instance's layers in its place (one undoable step)."""
        try:
            self.document.ungroup(node_id)
        except GraphError as err:
            self.show_message(f"Cannot ungroup: {err}")

    def ask_block_name(self, suggestion: str) -> str:
        """The new block's name from a small dialog ('' when cancelled); tests replace this."""
        name, ok = QInputDialog.getText(self, "Group into Block", "Block name (a letter, then letters, digits or _):", text=suggestion)  # type: ignore[arg-type]
        return name.strip() if ok else ""

    def selected_instance(self) -> str | None:
        """The one selected node when it is a block instance, else None (with a message saying what to select)."""
        ids = self.document.selected_ids
        if len(ids) != 1 or self.document.graph.node(ids[0]).block is None:
            self.show_message("Select one block instance first")
            return None
        return ids[0]

    def open_selected(self) -> None:
        """Open the selected instance's block (Ctrl+Enter)."""
        node_id = self.selected_instance()
        if node_id is not None:
            self.document.open_instance(node_id)

    def make_unique(self, node_id: str | None = None) -> None:
        """Give an instance its own copy of its block (one undoable step)."""
        node_id = node_id or self.selected_instance()
        if node_id is None:
            return
        try:
            name = self.document.make_unique(node_id)
        except GraphError as err:
            self.show_message(f"Cannot make it unique: {err}")
            return
        self.show_message(f"'{self.document.graph.node(node_id).name}' now uses block {name}, a copy of its own")

    def toggle_expanded(self, node_id: str | None = None) -> None:
        """Draw an instance with its inner layers inside its card, or collapse it back (a view setting, not an edit)."""
        node_id = node_id or self.selected_instance()
        if node_id is not None:
            scene = self.graph_scene
            scene.set_expanded(node_id, not scene.is_expanded(node_id))

    def go_up(self) -> bool:
        """Leave the open block for the level above (Escape); False at the network."""
        return self.document.go_up()

    def add_block_entries(self, menu: QMenu, node_id: str) -> None:
        """The menu entries of one block instance."""
        menu_action(menu, "Open Block", lambda: self.document.open_instance(node_id), OPEN_KEYS[0])
        expanded = self.graph_scene.is_expanded(node_id)
        menu_action(menu, "Collapse" if expanded else "Expand in Place", lambda: self.toggle_expanded(node_id), EXPAND_KEY)
        menu_action(menu, "Make Unique", lambda: self.make_unique(node_id))
        menu_action(menu, "Ungroup", lambda: self.ungroup(node_id), "Ctrl+Shift+G")
