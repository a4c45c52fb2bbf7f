"""The layout's card sizes (studio.graph has no Qt) are the canvas cards' real sizes."""

from __future__ import annotations

import pytest

from studio.graph import layout
from studio.graph.model import Graph
from studio.graph.shapes import analyse
from studio.ui.canvas import items
from tests.graph import paper_networks as pn


def test_the_layout_uses_the_canvas_card_measures() -> None:
    assert layout.CARD_WIDTH == items.MAX_WIDTH
    assert layout.CARD_HEIGHT == items.TITLE_HEIGHT + items.PAD_TOP + 2 * items.LINE_HEIGHT + items.PAD_BOTTOM
    assert layout.PORT_ROW == items.PORT_ROW_HEIGHT
    assert layout.PORT_LINE == items.TITLE_HEIGHT + items.PAD_TOP + items.LINE_HEIGHT / 2
    assert layout.PORT_FOOT == items.PAD_BOTTOM


@pytest.mark.parametrize("make", [pn.resnet50, pn.bert_base, pn.unet], ids=["resnet50", "bert_base", "unet"])
def test_every_card_fits_the_size_the_layout_gives_it(qapp: object, make: object) -> None:
    graph: Graph = make()  # type: ignore[operator]
    analysis = analyse(graph)
    levels = [(graph, analysis), *((b.graph, analyse(b.graph)) for b in graph.library)]
    for level, found in levels:
        for node in level.nodes.values():
            card = items.NodeItem(node, found.result(node.id))
            assert card.width <= layout.CARD_WIDTH
            assert card.height <= layout.card_height(level, node.id), node.name
