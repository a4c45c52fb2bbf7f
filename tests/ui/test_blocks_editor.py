"""Group into Block and Ungroup in the editor: one undoable step each, undone and redone exactly."""

from __future__ import annotations

import json

from studio.graph.project import project_to_dict
from studio.ui.canvas.view import CanvasView
from studio.ui.document import Document


def state(document: Document) -> str:
    return json.dumps(project_to_dict(document.project), sort_keys=True)


def middle(document: Document) -> list[str]:
    return [n.id for n in document.graph.nodes.values() if n.type not in ("Input", "Output")][1:4]


def test_group_is_one_step_that_undo_and_redo_replay_exactly(document: Document) -> None:
    before, params = state(document), document.analysis.summary().trainable_params
    instance = document.group(middle(document), "Stem")
    grouped = state(document)
    assert document.graph.node(instance).type == "Stem" and "Stem" in document.project.blocks
    assert document.analysis.summary().trainable_params == params
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert state(document) == before and "Stem" not in document.project.blocks
    document.undo_stack.redo()
    assert state(document) == grouped
    document.ungroup(instance)
    document.undo_stack.undo()
    assert state(document) == grouped
    document.undo_stack.undo()
    assert state(document) == before


def test_the_canvas_menu_groups_the_selection_under_the_name_given(document: Document, qtbot) -> None:
    view = CanvasView(document)
    qtbot.addWidget(view)
    view.ask_block_name = lambda suggestion: suggestion  # the dialog's answer: the suggested name
    document.select(middle(document))
    view.group_selection()
    instance = document.selected_ids[0]
    assert document.graph.node(instance).type == "Block"
    menu = view.context_menu(view.graph_scene.nodes[instance].sceneBoundingRect().center())
    assert {"Group into Block…", "Ungroup"} <= {a.text() for a in menu.actions()}
    view.ungroup(instance)
    assert not any(n.block for n in document.graph.nodes.values())


def test_a_gap_in_the_selection_is_refused_with_a_message(document: Document, qtbot) -> None:
    view = CanvasView(document)
    qtbot.addWidget(view)
    messages: list[str] = []
    view.edit_refused.connect(messages.append)
    view.ask_block_name = lambda suggestion: "Gappy"
    layers = [n.id for n in document.graph.nodes.values() if n.type not in ("Input", "Output")]
    document.select([layers[0], layers[2]])
    view.group_selection()
    assert messages and "lies between selected layers" in messages[0]
    assert document.undo_stack.count() == 0
