"""Canvas text reads at the platform's size, and wire labels stay clear of the cards."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QApplication

from studio.graph.model import Edge
from studio.graph.project import load_project
from studio.ui.canvas import CanvasView
from studio.ui.canvas.style import refresh_style
from studio.ui.document import Document
from tests.ui.helpers import EXAMPLES


@pytest.fixture
def shown(undo_stack, qtbot):
    """A function: a view showing an example at 100% zoom, after Arrange where asked."""

    def make(name: str, arrange: bool = False) -> CanvasView:
        document = Document(undo_stack)
        document.load(load_project(EXAMPLES / f"{name}.lstudio"))
        view = CanvasView(document)
        qtbot.addWidget(view)
        view.resize(1100, 700)
        view.show()
        if arrange:
            view.arrange()
        QApplication.processEvents()
        return view

    return make


def _cards(view: CanvasView) -> list[QRectF]:
    return [QRectF(i.x(), i.y(), i.width, i.height) for i in view.graph_scene.nodes.values()]


def test_card_and_label_text_is_at_least_the_ui_font_size(qapp) -> None:
    ui = QFontInfo(QApplication.font()).pixelSize()
    s = refresh_style()
    for font in (s.title_font, s.name_font, s.detail_font, s.port_font, s.label_font):
        assert QFontInfo(font).pixelSize() >= ui


def test_a_larger_ui_font_makes_the_canvas_text_larger(qapp) -> None:
    old = QApplication.font()
    bigger = QApplication.font()
    bigger.setPixelSize(17)
    QApplication.setFont(bigger)
    try:
        s = refresh_style()
        assert QFontInfo(s.detail_font).pixelSize() == 17 and QFontInfo(s.label_font).pixelSize() == 17
    finally:
        QApplication.setFont(old)
        refresh_style()


@pytest.mark.parametrize("name", ["resnet_small", "inception_block", "digits_cnn"])
def test_after_arrange_no_wire_label_lies_on_a_card_and_most_are_shown(shown, name: str) -> None:
    view = shown(name, arrange=True)
    cards = _cards(view)
    edges = view.graph_scene.edges.values()
    placed = [e for e in edges if not e._label_rect.isNull()]
    for edge in placed:
        assert not any(card.intersects(edge._label_rect) for card in cards), edge.edge
    assert len(placed) >= 0.6 * len(edges)


def test_a_short_wire_hides_its_label_and_tells_the_shape_in_its_tooltip(shown) -> None:
    view = shown("digits_cnn")
    document, scene = view.document, view.graph_scene
    edge = Edge("n4", "out", "n5", "in")
    source = scene.nodes["n4"]
    x, y = document.graph.node("n4").position
    document.move_nodes({"n5": (x + source.width + 40, y + 60)})  # a gap narrower than the label, a step down
    QApplication.processEvents()
    item = scene.edges[edge]
    assert item.label and item._label_rect.isNull()
    assert item.label in item.tooltip()


def test_a_label_moves_along_its_wire_off_a_card_in_its_middle(shown) -> None:
    view = shown("digits_cnn")
    document, scene = view.document, view.graph_scene
    x, y = document.graph.node("n4").position
    width = scene.nodes["n4"].width
    document.move_nodes({"n5": (x + width + 60, y + 500)})  # too close across to be routed round cards
    QApplication.processEvents()
    item = scene.edges[Edge("n4", "out", "n5", "in")]
    middle = item._label_rect.center()
    # a third card on the wire's middle: the label goes elsewhere along the wire, off the card
    other = next(n for n in document.graph.nodes if n not in ("n4", "n5"))
    document.move_nodes({other: (middle.x() - 20, middle.y() - 30)})
    QApplication.processEvents()
    assert not item._label_rect.isNull()
    assert not any(card.intersects(item._label_rect) for card in _cards(view))
