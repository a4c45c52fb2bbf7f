"""The editor's block library: blocks from the library folder and other projects copied in, blocks saved out.

Every copy puts the definitions into the open project (the project stays self-contained) as one
undoable step; adding a library block to the canvas is that step and the new instance together.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QPointF, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from studio.graph.block_sources import (
    BlockOffer,
    Copied,
    LibraryError,
    copy_block,
    copy_blocks,
    folder_offers,
    library_file,
    load_blocks,
    project_offers,
    same_definition,
    save_to_library,
)
from studio.graph.blocks import Block, BlockLibrary
from studio.graph.model import GraphError
from studio.graph.project import ProjectFileError
from studio.ui.document import Document
from studio.ui.library_folder import library_dir
from studio.ui.palette import PaletteWidget
from studio.ui.palette_library import install_menu, offer_key, set_library
from studio.ui.recovery import settings

PROJECTS_KEY = "library/projects"  # the projects blocks were imported from, newest first
MAX_PROJECTS = 10


class DefineBlocksCommand(QUndoCommand):
    """Blocks added to the project's library (already added when pushed); undo takes them out again."""

    def __init__(self, library: BlockLibrary, blocks: tuple[Block, ...], text: str) -> None:
        super().__init__(text)
        self.library, self.blocks, self._done = library, blocks, True

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        for block in self.blocks:
            self.library.add(block)

    def undo(self) -> None:
        for block in reversed(self.blocks):
            self.library.remove(block.name)


class LibraryController(QObject):
    """Lists the library's blocks in the palette, copies them into the open project, saves project blocks out."""

    message = Signal(str)  # what was done, or why not, for the status bar

    def __init__(self, document: Document, palette: PaletteWidget, parent: QWidget | None = None, canvas: object | None = None) -> None:
        super().__init__(parent)
        self.document, self.palette, self.canvas = document, palette, canvas
        self.offers: dict[str, BlockOffer] = {}
        self.skipped: list[str] = []
        self._watcher = QFileSystemWatcher(self)  # files put into the library folder by hand show up too
        self._reread = QTimer(self, singleShot=True, interval=300, timeout=self.refresh)
        self._watcher.directoryChanged.connect(lambda _path: self._reread.start())
        palette.offer_requested.connect(lambda key: self.add_offer(key))
        install_menu(palette, self.save_block, lambda key: self.add_offer(key))
        self.refresh()

    @property
    def undo_stack(self) -> QUndoStack:
        return self.document.undo_stack

    # ----- listing -----
    def projects(self) -> list[Path]:
        """The other projects whose blocks the palette lists (those blocks were imported from)."""
        value = settings().value(PROJECTS_KEY, [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in paths if isinstance(p, str) and p]

    def refresh(self) -> None:
        """Read the library folder and the remembered projects again and list their blocks."""
        folder = library_dir()
        if folder.is_dir() and str(folder) not in self._watcher.directories():
            self._watcher.addPath(str(folder))
        found = folder_offers(folder)
        listed: list[tuple[BlockOffer, bool]] = [(offer, True) for offer in found.offers]
        self.skipped = [f"{s.path.name}: {s.reason}" for s in found.skipped]
        own = self.document.path.resolve() if self.document.path else None
        for path in self.projects():
            if path == own or not path.exists():
                continue  # its blocks are the project's own, or it has gone
            try:
                listed += [(offer, False) for offer in project_offers(path)]
            except ProjectFileError as err:
                self.skipped.append(str(err))
        self.offers = {offer_key(offer): offer for offer, _ in listed}
        set_library(self.palette, listed, self.skipped)

    # ----- copying in -----
    def add_offer(self, key: str, scene_pos: QPointF | None = None) -> str | None:
        """Copy an offered block into the project and add an instance of it, as one step; return its id (None if refused)."""
        offer = self.offers.get(key) or _offer_from_key(key)
        if offer is None:
            self.message.emit("That library block is no longer listed")
            return None
        try:
            copied = copy_block(load_blocks(offer.source), offer.name, self.document.project.blocks)
        except (ProjectFileError, LibraryError) as err:
            self.message.emit(f"Cannot add block {offer.name}: {err}")
            return None
        self.undo_stack.beginMacro(f"Add {copied.name} from {offer.source.name}")
        self._push_defined(copied, f"Copy block {copied.name}")
        node_id = self._add_instance(copied.name, scene_pos)
        self.undo_stack.endMacro()
        if node_id is None:
            self.undo_stack.undo()
            return None
        if copied.renamed.get(offer.name):
            self.message.emit(f"The project already has another block {offer.name}: the copy is called {copied.name}")
        return node_id

    def _add_instance(self, name: str, scene_pos: QPointF | None) -> str | None:
        add_layer = getattr(self.canvas, "add_layer", None)
        if add_layer is not None:
            if scene_pos is None:
                return self.canvas.add_layer_at_center(name) or None  # type: ignore[attr-defined]
            return add_layer(name, scene_pos)
        try:
            node_id = self.document.add_node(name, (scene_pos.x(), scene_pos.y()) if scene_pos else (0.0, 0.0))
        except GraphError as err:
            self.message.emit(f"Cannot add block {name}: {err}")
            return None
        self.document.select([node_id])
        return node_id

    def import_from_project(self, path: Path | None = None) -> list[str]:
        """Copy every block of another project into this one as one step; return their names here."""
        path = path or self.ask_project_file()
        if path is None:
            return []
        try:
            source = load_blocks(path)
            copied = copy_blocks(source, [b.name for b in source], self.document.project.blocks)
        except (ProjectFileError, LibraryError) as err:
            self.message.emit(f"Cannot import blocks: {err}")
            return []
        self._remember(path)
        if not len(source):
            self.message.emit(f"{path.name} has no blocks to import")
            return []
        self._push_defined(copied, f"Import blocks from {path.name}")
        names = [copied.renamed.get(b.name, b.name) for b in source]
        renamed = ", ".join(f"{old} as {new}" for old, new in copied.renamed.items())
        new = len(copied.added)
        self.message.emit(
            f"Imported {new} block{'s' if new != 1 else ''} from {path.name}"
            + (f" ({renamed}: the project has other blocks of those names)" if renamed else "")
            + ("" if new == len(names) else f"; {len(names) - new} the project already had")
        )
        return names

    def _push_defined(self, copied: Copied, text: str) -> None:
        if copied.added:
            self.undo_stack.push(DefineBlocksCommand(self.document.project.blocks, copied.added, text))

    def _remember(self, path: Path) -> None:
        path = path.resolve()
        paths = [str(path), *(str(p) for p in self.projects() if p != path)][:MAX_PROJECTS]
        store = settings()
        store.setValue(PROJECTS_KEY, paths)
        store.sync()
        self.refresh()

    # ----- saving out -----
    def save_block(self, name: str) -> Path | None:
        """Write a project block (with the blocks it uses) to the library folder; return the file (None if not written)."""
        library = self.document.project.blocks
        if name not in library:
            self.message.emit(f"Cannot save to the library: the project has no block called {name!r}")
            return None
        folder = library_dir()
        path = library_file(folder, name)
        if path.exists() and not same_definition(library, name, path) and not self.confirm_replace(path):
            return None
        try:
            written = save_to_library(library, name, folder)
        except LibraryError as err:
            self.message.emit(f"Cannot save to the library: {err}")
            return None
        self.refresh()
        self.message.emit(f"Saved block {name} to {written}")
        return written

    def save_selected_or_open(self) -> Path | None:
        """Save the selected instance's block, or else the block shown, to the library."""
        graph, ids = self.document.graph, self.document.selected_ids
        blocks = [graph.node(n).type for n in ids if graph.node(n).block is not None]
        name = blocks[0] if len(blocks) == 1 else graph.owner
        if not name:
            self.message.emit("Select one block instance (or open a block) to save it to the library")
            return None
        return self.save_block(name)

    # ----- dialogs (tests replace these) -----
    def ask_project_file(self) -> Path | None:
        """The project to import blocks from, chosen in a file dialog (None when cancelled)."""
        parent = self.parent() if isinstance(self.parent(), QWidget) else None
        chosen, _ = QFileDialog.getOpenFileName(parent, "Import Blocks from Project", "", "Layer Studio projects (*.lstudio)")  # type: ignore[arg-type]
        return Path(chosen) if chosen else None

    def confirm_replace(self, path: Path) -> bool:
        """Ask before a library file holding another definition is replaced."""
        parent = self.parent() if isinstance(self.parent(), QWidget) else None
        answer = QMessageBox.question(
            parent,  # type: ignore[arg-type]
            "Replace Library Block",
            f"The library already has a different {path.stem} ({path}). Replace it with this project's block?",
        )
        return answer == QMessageBox.StandardButton.Yes


def _offer_from_key(key: str) -> BlockOffer | None:
    try:
        source, name = json.loads(key)
    except (ValueError, TypeError):
        return None
    if not isinstance(source, str) or not isinstance(name, str):
        return None
    return BlockOffer(name, "", Path(source), (), None)
