"""The problems list follows the analysis, and a click on a problem shows its layer."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.graph.project import load_project
from studio.ui.problems import ProblemsView, problem_rows
from tests.ui.helpers import EXAMPLES


@pytest.fixture
def broken(document):
    """The digits network with conv2's input disconnected: conv2 errs, relu1 goes unused."""
    edge = next(e for e in document.graph.edges if e.dst == "n4")
    document.disconnect(edge)
    return document


def make_view(qtbot, document) -> ProblemsView:
    view = ProblemsView(document)
    qtbot.addWidget(view)
    view.resize(700, 300)
    return view


def keys(rows):
    return [(p.node_id, p.severity) for p in rows]


def test_an_empty_network_lists_one_network_problem(qtbot, empty_document):
    view = make_view(qtbot, empty_document)
    assert view.count() == 1
    (problem,) = view.problems()
    assert (problem.node_id, problem.layer, problem.severity) == (
        None,
        "network",
        "error",
    )
    assert problem.message == "The network is empty"
    assert problem.hint == "Add an Input layer from the palette"


def test_a_sound_network_shows_the_no_problems_state(qtbot, document):
    view = make_view(qtbot, document)
    assert view.count() == 0
    assert view.empty.isVisibleTo(view)
    assert not view.view.isVisibleTo(view)
    assert "No problems" in view.empty.text()


def test_rows_match_the_analysis_errors_first(qtbot, broken):
    view = make_view(qtbot, broken)
    diagnostics = broken.analysis.diagnostics()
    assert sorted(keys(view.problems()), key=str) == sorted(
        ((d.node_id, d.severity) for d in diagnostics), key=str
    )
    # relu1 (warning) comes before conv2 (error) in the graph, yet the error is listed first
    assert keys(view.problems()) == [("n4", "error"), ("n3", "warning")]
    assert view.view.isVisibleTo(view) and not view.empty.isVisibleTo(view)


def test_columns_show_layer_problem_and_fix_with_the_full_text_as_tooltip(
    qtbot, broken
):
    view = make_view(qtbot, broken)
    model = view.model
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)] == [
        "Layer",
        "Problem",
        "How to fix",
    ]
    assert [model.index(0, c).data() for c in range(3)] == [
        "conv2",
        "Has no input connected",
        "Connect a layer's output to it",
    ]
    assert model.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None
    assert (
        "Conv2d 'conv2' has no input connected: connect a layer's output to it"
        in model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole)
    )


def test_rows_follow_flow_order_within_a_severity(empty_document):
    doc = empty_document
    a = doc.add_node("Add", name="late")
    b = doc.add_node("ReLU", name="early")
    doc.connect(
        b, "out", a, "in1"
    )  # early feeds late, though it was added second; both lack an input
    rows = [r for r in problem_rows(doc) if r.node_id is not None]
    assert [r.layer for r in rows] == ["early", "late"]
    assert [r.layer for r in problem_rows(doc)][:2] == ["network", "network"]


def test_the_list_follows_edits_and_undo(qtbot, document, undo_stack):
    view = make_view(qtbot, document)
    assert view.count() == 0
    edge = next(e for e in document.graph.edges if e.dst == "n4")
    with qtbot.waitSignal(view.counts_changed) as counted:
        document.disconnect(edge)
    assert counted.args == [1, 1]
    assert keys(view.problems()) == [("n4", "error"), ("n3", "warning")]
    undo_stack.undo()
    qtbot.waitUntil(lambda: view.count() == 0)
    assert view.empty.isVisibleTo(view)
    undo_stack.redo()
    qtbot.waitUntil(lambda: view.count() == 2)


def test_a_burst_of_edits_is_one_update(qtbot, document):
    view = make_view(qtbot, document)
    updates = []
    view.model.rowsInserted.connect(lambda *_: updates.append(1))
    for node_id in ("n3", "n5", "n9"):
        edge = next(e for e in document.graph.edges if e.dst == node_id)
        document.disconnect(edge)
    qtbot.waitUntil(lambda: view.count() == 4)
    assert len(updates) == 1  # the four rows came in one insertion: one update of the list, not three


def test_clicking_a_row_selects_and_focuses_its_layer(qtbot, broken):
    view = make_view(qtbot, broken)
    view.show()
    qtbot.waitExposed(view)
    rect = view.view.visualRect(view.model.index(1, 1))
    with qtbot.waitSignal(broken.focus_requested) as focused:
        qtbot.mouseClick(
            view.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center()
        )
    assert focused.args == ["n3"]
    assert broken.selected_ids == ["n3"]


def test_activating_a_network_problem_focuses_nothing(qtbot, empty_document):
    view = make_view(qtbot, empty_document)
    with qtbot.assertNotEmitted(empty_document.focus_requested):
        view.view.activated.emit(view.model.index(0, 0))
    assert empty_document.selected_ids == []


def test_the_current_problem_stays_current_across_rebuilds(qtbot, broken):
    view = make_view(qtbot, broken)
    view.view.setCurrentIndex(view.model.index(1, 0))  # relu1's warning
    broken.disconnect(next(e for e in broken.graph.edges if e.dst == "n9"))
    view.flush()
    current = view.model.problem(view.view.currentIndex())
    assert current is not None and current.node_id == "n3"


def test_loading_another_project_rebuilds_the_list(qtbot, empty_document):
    view = make_view(qtbot, empty_document)
    assert view.count() == 1
    empty_document.load(load_project(EXAMPLES / "lenet5.lstudio"))
    qtbot.waitUntil(lambda: view.count() == 0)
