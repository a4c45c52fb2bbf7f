"""A large network in the editor: Arrange behind a progress dialog whose Cancel changes nothing, a file without positions laid
out as it opens, every wire routed when the scene is built, a code preview that waits for Refresh.

The layout is made slow by a monkeypatched step that waits for the test's Cancel, never by a sleep in the product; the
sizes that choose the worker thread and the waiting preview are lowered so the graphs stay small and the tests quick.
"""

from __future__ import annotations

import json
import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog, QPushButton

from studio.graph.layout import layered_layout
from studio.graph.project import Project, load_project, save_project
from studio.ui import code_preview, open_main_window, theme
from studio.ui.canvas import view as view_module
from studio.ui.canvas.view import CanvasView
from studio.ui.code_preview import CodePreview
from studio.ui.document import Document
from studio.ui.files import Unsaved
from tests.graph.drawn_wires import over_cards
from tests.ui.helpers import EXAMPLES


@pytest.fixture
def view(qtbot, undo_stack):
    """A canvas showing ResNet-18 of blocks, its cards moved off their layout, with an empty history."""
    document = Document(undo_stack)
    document.load(load_project(EXAMPLES / "resnet18_blocks.lstudio"))
    for i, node_id in enumerate(document.graph.nodes):
        document.graph.move(node_id, (float(i % 3) * 30.0, float(i) * 20.0))
    canvas = CanvasView(document)
    qtbot.addWidget(canvas)
    canvas.resize(1100, 700)
    canvas.show()
    return canvas


def _positions(view: CanvasView) -> dict[str, tuple[float, float]]:
    return {n: view.graph_scene.nodes[n].pos().toTuple() for n in view.document.graph.nodes}


def test_cancel_during_a_long_arrange_leaves_every_layer_and_the_history_as_they_were(view, monkeypatch) -> None:
    monkeypatch.setattr(view_module, "ARRANGE_IN_BACKGROUND", 0)
    monkeypatch.setattr(view_module, "QUICK_MS", 0)
    stopped = threading.Event()

    def endless(graph, max_width=None, aspect=None, step=None):  # a layout that only ever reports its next step
        try:
            for sweep in range(3000):
                step(f"ordering the columns (sweep {sweep})")
                stopped.wait(0.01)
        finally:
            stopped.set()
        return layered_layout(graph, max_width, aspect)

    monkeypatch.setattr(view_module, "layered_layout", endless)
    before, steps = _positions(view), view.document.undo_stack.count()
    seen: list[str] = []

    def cancel() -> None:
        dialog = view.findChild(QProgressDialog, "workProgress")
        if dialog is not None and dialog.isVisible() and "sweep" in dialog.labelText():
            timer.stop()
            seen.append(dialog.labelText())
            dialog.findChild(QPushButton).click()

    timer = QTimer()
    timer.timeout.connect(cancel)
    timer.start(20)
    assert view.arrange() is False
    assert seen and seen[0].startswith("Laying out")
    assert stopped.wait(5)  # the worker stopped at its next step instead of running on
    assert _positions(view) == before
    assert view.document.undo_stack.count() == steps
    assert not view.document.is_modified


def test_arrange_in_the_worker_thread_is_one_undoable_step(view, monkeypatch) -> None:
    monkeypatch.setattr(view_module, "ARRANGE_IN_BACKGROUND", 0)
    before, steps = _positions(view), view.document.undo_stack.count()
    assert view.arrange() is True
    after = _positions(view)
    assert after != before
    assert len(set(after.values())) == len(after)
    assert view.document.undo_stack.count() == steps + 1
    assert view.document.undo_stack.text(steps) == "Arrange"
    view.document.undo_stack.undo()
    assert _positions(view) == before


def test_a_file_without_positions_is_laid_out_as_it_opens(qtbot, tmp_path) -> None:
    path = tmp_path / "stacked.lstudio"
    save_project(load_project(EXAMPLES / "resnet_small.lstudio"), path)
    data = json.loads(path.read_text())
    for node in data["graph"]["nodes"].values() if isinstance(data["graph"]["nodes"], dict) else data["graph"]["nodes"]:
        node["position"] = [0.0, 0.0]
    path.write_text(json.dumps(data))
    assert len({n.position for n in load_project(path).graph.nodes.values()}) == 1
    window = open_main_window(EXAMPLES / "digits_cnn.lstudio")
    qtbot.addWidget(window)
    window.files.ask_unsaved = lambda: Unsaved.DISCARD
    try:
        assert window.files.open_file(path)
        cards = window.canvas.graph_scene.nodes
        assert len({item.pos().toTuple() for item in cards.values()}) == len(cards)
        assert not window.document.is_modified
        fresh = open_main_window(path)
        qtbot.addWidget(fresh)
        assert len({n.position for n in fresh.document.graph.nodes.values()}) == len(fresh.document.graph)
        fresh.files.close()
    finally:
        window.files.close()
        theme.use_theme(None)


def test_a_scene_built_anew_routes_each_wire_round_the_cards_in_its_way(qtbot, empty_document) -> None:
    graph = empty_document.graph
    first = graph.add_node("Identity", position=(0.0, 0.0)).id
    last = graph.add_node("Identity", position=(1000.0, 0.0)).id
    middle = graph.add_node("Identity", position=(500.0, 0.0)).id
    graph.connect(first, "out", last, "in")
    canvas = CanvasView(empty_document)  # built from the graph as it is: no move follows
    qtbot.addWidget(canvas)
    wire = next(iter(canvas.graph_scene.edges.values()))
    card = canvas.graph_scene.nodes[middle]
    line = [(p.x(), p.y()) for polygon in wire.path().toSubpathPolygons() for p in polygon]
    assert not over_cards(line, [(card.x(), card.y(), card.x() + card.width, card.y() + card.height)])


def test_ports_stay_marked_while_any_of_their_wires_remains(qtbot, empty_document) -> None:
    canvas = CanvasView(empty_document)
    qtbot.addWidget(canvas)
    source = empty_document.add_node("Input", (0.0, 0.0))
    adds = [empty_document.add_node("Identity", (300.0, 100.0 * i)) for i in range(2)]
    edges = [empty_document.connect(source, "out", a, "in") for a in adds]
    card = canvas.graph_scene.nodes[source]
    assert ("out", True) in card._wires_at
    empty_document.disconnect(edges[0])
    assert ("out", True) in card._wires_at
    empty_document.disconnect(edges[1])
    assert ("out", True) not in card._wires_at


def test_the_code_of_a_very_large_network_waits_for_refresh(qtbot, document, monkeypatch) -> None:
    monkeypatch.setattr(code_preview, "LIVE_LAYERS", len(document.network) - 1)
    preview = CodePreview(document)
    qtbot.addWidget(preview)
    preview.show()
    qtbot.waitExposed(preview)
    qtbot.waitUntil(lambda: "Press Refresh" in preview.text())
    assert not preview.is_code()
    assert preview.refresh_button.isVisible()
    preview.refresh_button.click()
    assert preview.is_code() and "class DigitsCnn" in preview.text()
    monkeypatch.setattr(code_preview, "LIVE_LAYERS", len(document.network))
    document.set_param(document.graph.node_by_name("fc1").id, "out_features", 33)
    QApplication.processEvents()
    qtbot.waitUntil(lambda: "33" in preview.text() and preview.is_code())
    assert not preview.refresh_button.isVisible()


def test_an_empty_project_is_not_taken_for_an_unplaced_one() -> None:
    from studio.graph.layout import lay_out_unplaced, unplaced

    project = Project("empty")
    assert not unplaced(project.graph)
    assert not lay_out_unplaced(project.graph)


def test_the_wire_grid_finds_what_a_pass_over_every_card_and_wire_finds(qtbot, empty_document) -> None:
    import random

    from studio.graph.wires import GRAZE, TURN, lane, return_lane
    from studio.ui.canvas.items import BACKWARD_TURN, LANE_REACH
    from studio.ui.canvas.wire_index import WireIndex

    rng = random.Random(7)
    canvas = CanvasView(empty_document)
    qtbot.addWidget(canvas)
    graph = empty_document.graph
    ids = [graph.add_node("Identity", position=(rng.uniform(-3000, 3000), float(rng.randrange(-2000, 2000, 100)))).id for _ in range(120)]
    for a, b in zip(ids, rng.sample(ids, len(ids)), strict=True):
        if a != b and graph.source_of(b, "in") is None:
            graph.connect(a, "out", b, "in")
    scene = canvas.graph_scene
    index = WireIndex(scene.nodes.values(), scene.edges.values())
    clear = wrapped = shared = 0
    cards = sorted(((i.x(), i.y(), i.x() + i.width, i.y() + i.height), i) for i in scene.nodes.values())
    for wire in scene.edges.values():
        start = wire.source.port_scene_pos(wire.edge.src_port, True)
        end = wire.target.port_scene_pos(wire.edge.dst_port, False)
        assert (wire.source.port_xy(wire.edge.src_port, True), wire.target.port_xy(wire.edge.dst_port, False)) == (start.toTuple(), end.toTuple())
        found, others = index(wire, start.x(), start.y(), end.x(), end.y())
        x0, y0, x3, y3 = start.x(), start.y(), end.x(), end.y()
        back = x3 < x0
        left, right = (x3 - 2 * BACKWARD_TURN, x0 + 2 * BACKWARD_TURN) if back else (x0, x3)
        low, high = (min(y0, y3), max(y0, y3)) if back else (min(y0, y3) - LANE_REACH, max(y0, y3) + LANE_REACH)
        if abs(x3 - x0) < 2 * TURN:  # too short to go round anything: nothing asked
            assert (found, others) == ([], [])
            continue
        wanted = [box for box, item in cards if box[0] < right and box[2] > left and box[3] > low and box[1] < high and item not in (wire.source, wire.target)]
        if not back and not found:  # left out only where no card meets its ends' box, so the plain curve passes clear of them all
            assert not any(b[0] < x3 and b[2] > x0 and b[3] > min(y0, y3) - GRAZE and b[1] < max(y0, y3) + GRAZE for b in wanted)
            assert lane((x0, y0), (x3, y3), wanted) is None
            clear += 1
            continue
        if back:  # one card per height span, the way back the same
            assert set(found) <= set(wanted) and {(b[1], b[3]) for b in found} == {(b[1], b[3]) for b in wanted}
            shared += len(found) < len(wanted)
        else:
            assert sorted(found) == sorted(wanted)
        if back:
            ends = []
            for other in scene.edges.values():
                a = other.source.port_scene_pos(other.edge.src_port, True)
                b = other.target.port_scene_pos(other.edge.dst_port, False)
                box = (min(a.x(), b.x()), max(a.x(), b.x()), min(a.y(), b.y()), max(a.y(), b.y()))
                if other is not wire and box[0] >= left and box[1] < right and box[3] > low and box[2] < high:
                    ends.append(((a.x(), a.y()), (b.x(), b.y())))
            assert sorted(others) == sorted(ends)
            assert return_lane((x0, y0), (x3, y3), found, 2 * BACKWARD_TURN, others) == return_lane((x0, y0), (x3, y3), wanted, 2 * BACKWARD_TURN, ends)
            wrapped += 1
    assert 0 < clear < len(scene.edges) and wrapped > 10 and shared > 0  # cards on rows: heights shared
    for _ in range(200):
        x, y = rng.uniform(-3500, 3500), rng.uniform(-2500, 2500)
        box = (x, y, x + rng.uniform(1, 400), y + rng.uniform(1, 300))
        hit = any(c[0] < box[2] and c[2] > box[0] and c[1] < box[3] and c[3] > box[1] for c, _ in cards)
        assert index.has_card(*box) == hit


def test_an_edit_that_relabels_many_wires_relabels_and_routes_them_all(qtbot, empty_document, monkeypatch) -> None:
    from studio.ui.canvas import scene as scene_module

    monkeypatch.setattr(scene_module, "REROUTE_ALL", 3)  # past this many labels, one pass from the grid
    canvas = CanvasView(empty_document)
    qtbot.addWidget(canvas)
    ids = [empty_document.add_node("Input", (0.0, 0.0), {"shape": (4,)})]
    for i in range(8):
        ids.append(empty_document.add_node("Identity", (600.0 * (i + 1), 0.0)))
        empty_document.connect(ids[-2], "out", ids[-1], "in")
    blocker = empty_document.add_node("Identity", (2700.0, 0.0))  # on the way of the wire from the fourth layer to the fifth
    empty_document.set_param(ids[0], "shape", (7,))
    QApplication.processEvents()
    wires = canvas.graph_scene.edges
    assert {w.label for w in wires.values()} == {"N×7"}
    card = canvas.graph_scene.nodes[blocker]
    for wire in wires.values():
        line = [(p.x(), p.y()) for polygon in wire.path().toSubpathPolygons() for p in polygon]
        assert not over_cards(line, [(card.x(), card.y(), card.x() + card.width, card.y() + card.height)])
