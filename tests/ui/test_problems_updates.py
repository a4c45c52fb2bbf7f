"""The problems list updated in place: after any sequence of edits it shows what a list made afresh shows, and still leads to the layer.

Differential: random edits (seeded) on the digits network and on ResNet-18 of blocks, each followed
by the list's update, compared row by row and cell by cell with a `ProblemsView` built anew on the
same document; Qt's model tester checks every insertion, removal and change the model announces.
"""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtTest import QAbstractItemModelTester

from studio.graph.model import GraphError
from studio.graph.params import ParamValueError
from studio.ui.document import Document
from studio.ui.problems import ProblemsView, problem_rows

ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole)
ADDED = ("Identity", "ReLU", "Linear", "Add", "Output", "Flatten")


def make_view(qtbot, document: Document) -> ProblemsView:
    view = ProblemsView(document)
    qtbot.addWidget(view)
    view.resize(700, 300)
    return view


def cells(view: ProblemsView) -> list[list[object]]:
    model = view.model
    return [
        [
            _plain(model.index(row, column).data(role))
            for column in range(model.columnCount())
            for role in ROLES
        ]
        for row in range(model.rowCount())
    ]


def _plain(value: object) -> object:
    return value.italic() if isinstance(value, QFont) else value


def random_edit(document: Document, rng: random.Random, step: int) -> None:
    """One edit a person could make: add, delete, wire, unwire, set a parameter, rename, move, undo or redo."""
    graph, stack = document.graph, document.undo_stack
    ids = list(graph.nodes)
    kind = rng.choice(("add", "delete", "wire", "wire", "unwire", "param", "param", "rename", "move", "undo", "redo", "enter", "leave"))
    try:
        if kind == "enter":  # into a block instance, where the list shows the problems inside it
            instances = [n for n in ids if graph.node(n).block is not None]
            if instances:
                document.open_instance(rng.choice(instances))
        elif kind == "leave":
            document.go_up(0)
        elif kind == "add" or not ids:
            document.add_node(rng.choice(ADDED), (rng.uniform(0, 900), rng.uniform(0, 600)))
        elif kind == "delete":
            document.remove_nodes([rng.choice(ids)])
        elif kind == "wire":
            src, dst = graph.node(rng.choice(ids)), graph.node(rng.choice(ids))
            outputs = [p.name for p in src.spec.output_ports(src.params)]
            inputs = [p.name for p in dst.spec.input_ports(dst.params)]
            if outputs and inputs:
                document.connect(src.id, rng.choice(outputs), dst.id, rng.choice(inputs), replace=rng.random() < 0.5)
        elif kind == "unwire" and graph.edges:
            document.disconnect(rng.choice(list(graph.edges)))
        elif kind == "param":
            node = graph.node(rng.choice(ids))
            if "out_features" in node.params:
                document.set_param(node.id, "out_features", rng.choice((10, 32, 100)))
            elif node.type == "Input":
                document.set_param(node.id, "shape", rng.choice(((1, 28, 28), (784,), (3, 8, 8))))
            elif "repeat" in node.params:
                document.set_param(node.id, "repeat", rng.choice((1, 2)))
            elif "p" in node.params:
                document.set_param(node.id, "p", rng.choice((0.1, 0.5)))
        elif kind == "rename":
            document.rename(rng.choice(ids), f"renamed{step}")
        elif kind == "move":
            document.move_nodes({rng.choice(ids): (rng.uniform(0, 900), rng.uniform(0, 600))})
        elif kind == "undo" and stack.canUndo():
            stack.undo()
        elif kind == "redo" and stack.canRedo():
            stack.redo()
    except (GraphError, ParamValueError, ValueError):
        pass  # refused, as the editor refuses it: the list must still match


@pytest.mark.parametrize(("example", "seed"), [("document", 1), ("document", 2), ("resnet", 3)])
def test_after_random_edits_the_list_shows_what_a_list_made_afresh_shows(qtbot, request, example, seed) -> None:
    document = request.getfixturevalue(example)
    view = make_view(qtbot, document)
    QAbstractItemModelTester(view.model, QAbstractItemModelTester.FailureReportingMode.Fatal, view.model)
    counted: list[tuple[int, int]] = []
    view.counts_changed.connect(lambda errors, warnings: counted.append((errors, warnings)))
    rng = random.Random(seed)
    changed = entered = 0
    for step in range(60):
        random_edit(document, rng, step)
        before = view.problems()
        view.flush()
        fresh = make_view(qtbot, document)
        assert view.problems() == fresh.problems() == problem_rows(document), f"step {step}"
        assert cells(view) == cells(fresh)
        errors = sum(p.severity == "error" for p in fresh.problems())
        assert (view.count(), counted[-1] if counted else (0, 0)) == (fresh.count(), (errors, fresh.count() - errors))
        changed += view.problems() != before
        entered += bool(document.levels)
        fresh.deleteLater()
    assert changed > 10  # the edits did change the problems, many times over
    assert example != "resnet" or entered  # and some were made inside a block


def test_an_edit_that_changes_no_problem_leaves_the_rows_untouched(qtbot, empty_document) -> None:
    document = empty_document
    inputs = [document.add_node("Input", (0.0, 80.0 * i), {"shape": (4,)}) for i in range(30)]
    view = make_view(qtbot, document)
    view.flush()
    shown = view.problems()
    announced: list[str] = []
    for name in ("dataChanged", "rowsInserted", "rowsRemoved", "modelReset", "layoutChanged"):
        getattr(view.model, name).connect(lambda *_, name=name: announced.append(name))
    document.set_param(inputs[7], "shape", (5,))  # its output is still unused: the same warning
    document.move_nodes({inputs[3]: (500.0, 0.0)})
    view.flush()
    assert announced == [] and view.problems() == shown
    assert all(a is b for a, b in zip(view.problems(), shown, strict=True))  # the rows kept, not made again
    document.connect(inputs[7], "out", document.add_node("Output", (300.0, 0.0)), "in")
    view.flush()
    assert "modelReset" not in announced and "rowsRemoved" in announced  # Input 7's warning and "no Output" went; the rest stayed
    assert len(view.problems()) == len(shown) - 2 == len(problem_rows(document))


def test_clicking_a_row_that_came_in_an_update_selects_its_layer(qtbot, document) -> None:
    view = make_view(qtbot, document)
    view.show()
    qtbot.waitExposed(view)
    assert view.count() == 0
    edge = next(e for e in document.graph.edges if e.dst == "n4")
    document.disconnect(edge)
    view.flush()
    document.rename("n3", "first_relu")
    view.flush()
    row = next(i for i, p in enumerate(view.problems()) if p.layer == "first_relu")
    rect = view.view.visualRect(view.model.index(row, 1))
    with qtbot.waitSignal(document.focus_requested) as focused:
        qtbot.mouseClick(view.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert focused.args == ["n3"]
    assert document.selected_ids == ["n3"]
