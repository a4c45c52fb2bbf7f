"""Arrange in a canvas view: the wires as drawn cross nothing and pass beside the cards, and the zoom keeps names readable."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QApplication

from studio.graph.project import load_project
from studio.ui.canvas.view import READABLE_ZOOM, CanvasView
from studio.ui.document import Document
from tests.graph.drawn_wires import crossings, over_cards
from tests.ui.helpers import EXAMPLES


@pytest.fixture
def arranged(undo_stack, qtbot):
    """A function: a view of 1100 x 700 pixels showing an example, after Arrange."""

    def make(name: str) -> CanvasView:
        document = Document(undo_stack)
        document.load(load_project(EXAMPLES / f"{name}.lstudio"))
        view = CanvasView(document)
        qtbot.addWidget(view)
        view.resize(1100, 700)
        view.show()
        view.arrange()
        QApplication.processEvents()  # the wires re-drawn around the cards where they now lie
        return view

    return make


def _wires(view: CanvasView) -> dict:
    return {
        edge: [(p.x(), p.y()) for polygon in item.path().toSubpathPolygons() for p in polygon]
        for edge, item in view.graph_scene.edges.items()
    }


@pytest.mark.parametrize("name", ["resnet_small", "inception_block"])
def test_branching_examples_are_drawn_with_no_crossing_and_no_wire_over_a_card(arranged, name: str) -> None:
    view = arranged(name)
    wires = _wires(view)
    assert crossings(list(wires.values())) == 0
    nodes = view.graph_scene.nodes
    for edge, line in wires.items():
        boxes = [(i.x(), i.y(), i.x() + i.width, i.y() + i.height) for n, i in nodes.items() if n not in (edge.src, edge.dst)]
        assert not over_cards(line, boxes), edge


def test_arrange_never_zooms_out_past_readable_and_shows_the_start(arranged) -> None:
    view = arranged("resnet_small")
    assert view.transform().m11() == pytest.approx(READABLE_ZOOM)
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    first = view.graph_scene.nodes[view.document.graph.node_by_name("image").id]
    assert shown.contains(first.sceneBoundingRect())


def test_a_short_chain_wraps_to_fit_the_view_at_a_readable_zoom(arranged) -> None:
    view = arranged("lenet5")
    assert view.transform().m11() >= READABLE_ZOOM
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    whole = QRectF()
    for item in view.graph_scene.nodes.values():
        whole = whole.united(item.sceneBoundingRect())
    assert shown.contains(whole)


def test_a_card_moved_onto_a_wire_sends_it_round_the_card(empty_document, qtbot) -> None:
    view = CanvasView(empty_document)
    qtbot.addWidget(view)
    first = empty_document.add_node("Identity", (0.0, 0.0))
    last = empty_document.add_node("Identity", (1000.0, 0.0))
    middle = empty_document.add_node("Identity", (500.0, 300.0))
    empty_document.connect(first, "out", last, "in")
    wire = next(iter(view.graph_scene.edges.values()))
    card = view.graph_scene.nodes[middle]

    def over_the_card() -> bool:
        points = [(p.x(), p.y()) for polygon in wire.path().toSubpathPolygons() for p in polygon]
        return over_cards(points, [(card.x(), card.y(), card.x() + card.width, card.y() + card.height)])

    assert not over_the_card()
    empty_document.move_nodes({middle: (500.0, 0.0)})  # onto the wire's way
    qtbot.waitUntil(lambda: not over_the_card())
    empty_document.undo_stack.undo()
    qtbot.waitUntil(lambda: len({round(p.y()) for polygon in wire.path().toSubpathPolygons() for p in polygon}) == 1)  # straight again


def test_cards_on_top_of_each_other_do_not_stop_the_wires_being_routed(empty_document, qtbot) -> None:
    view = CanvasView(empty_document)
    qtbot.addWidget(view)
    ids = [empty_document.add_node("Identity", (0.0, 0.0)) for _ in range(3)]  # pasted onto one spot
    empty_document.connect(ids[0], "out", ids[1], "in")
    view.graph_scene.reroute()
    empty_document.move_nodes({ids[1]: (400.0, 0.0)})
    qtbot.waitUntil(lambda: not view.graph_scene._reroute_pending)
    assert len(view.graph_scene.edges) == 1
