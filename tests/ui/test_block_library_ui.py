"""The block library in the editor: Import Blocks from Project, library blocks dragged in, Save Block to Library."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMenu

from studio.graph.block_sources import library_file, save_to_library
from studio.graph.model import Graph
from studio.graph.project import load_project
from studio.ui import open_main_window
from studio.ui.files import Unsaved
from studio.ui.mime import LIBRARY_MIME
from studio.ui.palette import OFFER_ROLE
from studio.ui.palette_library import LIBRARY
from tests.ui.helpers import EXAMPLES

RESNET = EXAMPLES / "resnet18_blocks.lstudio"


@pytest.fixture
def window(qtbot):
    win = open_main_window(EXAMPLES / "digits_cnn.lstudio")
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.messages = []
    win.block_library.message.connect(win.messages.append)
    return win


def library_rows(win) -> list[tuple[str, str]]:
    """The Library group's rows: label and offer key."""
    model = win.layer_palette.model
    found = model.findItems(LIBRARY)
    if not found:
        return []
    return [(found[0].child(r).text(), found[0].child(r).data(OFFER_ROLE)) for r in range(found[0].rowCount())]


def library_index(win, label: str):
    """The palette tree's index of a Library row (through the search filter's proxy)."""
    model, proxy = win.layer_palette.model, win.layer_palette.proxy
    group = model.findItems(LIBRARY)[0]
    row = next(r for r in range(group.rowCount()) if group.child(r).text() == label)
    return proxy.mapFromSource(group.child(row).index())


def test_importing_a_projects_blocks_is_one_undoable_step(window):
    blocks, stack = window.document.project.blocks, window.undo_stack
    before = stack.count()
    assert window.block_library.import_from_project(RESNET) == ["BasicBlock"]
    assert stack.count() == before + 1 and "BasicBlock" in blocks
    defined = blocks.get("BasicBlock")
    assert window.layer_palette.model.findItems("Blocks")[0].child(0).text() == "BasicBlock"
    assert [label for label, _ in library_rows(window)] == ["BasicBlock"]  # the project is remembered as a source
    assert "Imported 1 block from resnet18_blocks.lstudio" in window.messages[-1]
    stack.undo()
    assert len(blocks) == 0 and not window.layer_palette.model.findItems("Blocks")
    stack.redo()
    assert blocks.get("BasicBlock") is defined
    assert window.block_library.import_from_project(RESNET) == ["BasicBlock"]  # the same definition: nothing to copy
    assert stack.count() == before + 1 and "1 the project already had" in window.messages[-1]
    window.document.load(load_project(RESNET), RESNET)
    assert library_rows(window) == []  # the project open is not listed as a source of its own blocks


def test_an_unreadable_project_is_reported_not_raised(window, tmp_path):
    bad = tmp_path / "bad.lstudio"
    bad.write_text("{")
    assert window.block_library.import_from_project(bad) == []
    assert window.messages[-1].startswith("Cannot import blocks:") and "bad.lstudio" in window.messages[-1]
    window.block_library.ask_project_file = lambda: None
    before = window.undo_stack.count()
    assert window.block_library.import_from_project() == [] and window.undo_stack.count() == before


def test_dropping_a_library_block_copies_its_definition_with_the_instance(window, private_home):
    save_to_library(load_project(RESNET).blocks, "BasicBlock", private_home / "blocks")
    (private_home / "blocks" / "broken.lstudio").write_text("not a project")
    window.block_library.refresh()
    assert [label for label, _ in library_rows(window)] == ["BasicBlock"]
    assert any("broken.lstudio" in s for s in window.block_library.skipped)
    assert "broken.lstudio" in window.layer_palette.model.findItems(LIBRARY)[0].toolTip()
    index = library_index(window, "BasicBlock")
    mime = window.layer_palette.model.mimeData([window.layer_palette.proxy.mapToSource(index)])
    assert mime.hasFormat(LIBRARY_MIME)
    view, stack = window.canvas, window.undo_stack
    scene_point = view.mapToScene(view.viewport().rect().center())
    event = QDropEvent(QPointF(view.mapFromScene(scene_point)), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    before_nodes, before_steps = set(window.document.graph.nodes), stack.count()
    view.dropEvent(event)
    (new_id,) = set(window.document.graph.nodes) - before_nodes
    node = window.document.graph.node(new_id)
    assert node.type == "BasicBlock" and node.block is window.document.project.blocks.get("BasicBlock")
    assert view.graph_scene.nodes[new_id].sceneBoundingRect().contains(scene_point)
    assert stack.count() == before_steps + 1 and window.document.selected_ids == [new_id]
    assert stack.undoText() == "Add BasicBlock from BasicBlock.lstudio"
    stack.undo()
    assert new_id not in window.document.graph and len(window.document.project.blocks) == 0
    stack.redo()
    assert window.document.graph.node(new_id).block is window.document.project.blocks.get("BasicBlock")


def test_double_clicking_a_library_block_whose_name_is_taken_adds_a_numbered_copy(window, private_home):
    save_to_library(load_project(RESNET).blocks, "BasicBlock", private_home / "blocks")
    window.block_library.refresh()
    document = window.document
    document.project.blocks.define("BasicBlock", Graph())  # a different, empty BasicBlock
    window.layer_palette.tree.doubleClicked.emit(library_index(window, "BasicBlock"))
    added = [n for n in document.graph.nodes.values() if n.type.startswith("BasicBlock")]
    assert [n.type for n in added] == ["BasicBlock2"]
    assert "the copy is called BasicBlock2" in window.messages[-1]
    assert len(document.project.blocks.get("BasicBlock").graph.nodes) == 0  # the project's own one is untouched


def test_save_block_to_library_writes_a_file_that_lists_back(qtbot, private_home):
    win = open_main_window(RESNET)
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    document, library = win.document, win.block_library
    messages: list[str] = []
    library.message.connect(messages.append)
    instance = next(n.id for n in document.graph.nodes.values() if n.type == "BasicBlock")
    document.select([instance])
    path = library.save_selected_or_open()
    assert path == library_file(private_home / "blocks", "BasicBlock") and path.exists()
    assert [label for label, _ in library_rows(win)] == ["BasicBlock"]
    assert json.loads(library_rows(win)[0][1]) == [str(path), "BasicBlock"]
    asked = []
    library.confirm_replace = lambda p: asked.append(p) or False
    assert library.save_block("BasicBlock") == path and asked == []  # the same definition: rewritten without asking
    block = document.project.blocks.get("BasicBlock")
    document.project.blocks.set_exposed("BasicBlock", (*block.exposed[:2],))  # now a different definition
    written = path.read_bytes()
    assert library.save_block("BasicBlock") is None and asked == [path] and path.read_bytes() == written
    library.confirm_replace = lambda p: True
    assert library.save_block("BasicBlock") == path and path.read_bytes() != written
    document.select([])
    assert library.save_selected_or_open() is None and messages[-1].startswith("Select one block instance")


def test_an_instances_menu_offers_save_block_to_library(window, qtbot):
    window.block_library.import_from_project(RESNET)
    node_id = window.canvas.add_layer("BasicBlock", QPointF(0, 0))
    menu = QMenu()
    window.canvas.add_block_entries(menu, node_id)
    entry = next(a for a in menu.actions() if a.text() == "Save Block to Library")
    with qtbot.waitSignal(window.canvas.save_to_library_requested) as signal:
        entry.trigger()
    assert signal.args == ["BasicBlock"]
    file_menu, edit_menu = (m.menu() for m in window.menuBar().actions()[:2])
    assert window.act["import_blocks"] in file_menu.actions() and window.act["save_to_library"] in edit_menu.actions()


def test_a_file_put_into_the_library_folder_by_hand_is_listed(window, private_home, qtbot):
    folder = private_home / "blocks"
    folder.mkdir(parents=True)
    window.block_library.refresh()  # the folder exists now: it is watched
    assert library_rows(window) == []
    save_to_library(load_project(RESNET).blocks, "BasicBlock", folder)
    qtbot.waitUntil(lambda: [label for label, _ in library_rows(window)] == ["BasicBlock"], timeout=5000)


def test_one_palette_menu_holds_a_blocks_actions_and_save_to_library(window):
    window.block_library.import_from_project(RESNET)
    palette = window.layer_palette
    group = palette.proxy.mapFromSource(palette.model.findItems("Blocks")[0].index())
    menu = palette.context_menu(palette.proxy.index(0, 0, group))
    assert [a.text() for a in menu.actions() if a.text()] == ["Add to the Network", "Open Block", "Save Block to Library"]
    offered = palette.context_menu(library_index(window, "BasicBlock"))
    assert [a.text() for a in offered.actions()] == ["Add to Canvas"]
    assert palette.context_menu(palette.proxy.index(0, 0)) is None  # a category: no menu
