"""Arrange in the editor lays out the level shown and nothing else, as one undoable step."""

from __future__ import annotations

from studio.graph.layout import layered_positions


def _positions(graph):
    return {n.id: n.position for n in graph.nodes.values()}


def test_arrange_inside_an_open_block_lays_out_that_block_only(resnet):
    network = _positions(resnet.network)
    resnet.open_instance(resnet.network.node_by_name("layer2_0").id)
    inner = resnet.graph
    assert inner is not resnet.network
    resnet.move_nodes({n: (40.0 * i, 0.0) for i, n in enumerate(inner.nodes)})
    scattered = _positions(inner)
    resnet.arrange(max_width=1600.0)
    assert _positions(inner) == layered_positions(inner, max_width=1600.0) != scattered
    assert _positions(resnet.network) == network
    resnet.undo_stack.undo()
    assert _positions(inner) == scattered


def test_arrange_at_the_top_leaves_the_blocks_as_they_are(resnet):
    block = resnet.project.blocks.get("BasicBlock").graph
    inside = _positions(block)
    resnet.arrange(max_width=1600.0)
    assert _positions(resnet.network) == layered_positions(resnet.network, max_width=1600.0)
    assert _positions(block) == inside
