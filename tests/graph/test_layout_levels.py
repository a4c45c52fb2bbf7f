"""Layout per level: a network of blocks reads left to right on one screen, and every block's graph is laid out on its own."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.graph import Graph
from studio.graph.layout import (
    BAND_GAP,
    CARD_WIDTH,
    SCREEN,
    SLOT,
    arrange,
    arrange_levels,
    bounds,
    card_height,
    layered_layout,
    layered_positions,
)
from studio.graph.model import Position
from studio.graph.shapes import analyse
from tests.graph import paper_networks as pn

NETWORKS = {"resnet50": pn.resnet50, "bert_base": pn.bert_base, "unet": pn.unet}
WAYS = {"imported": {"aspect": 1.6}, "arranged_in_a_screen_wide_view": {"max_width": SCREEN[0]}}


def overlapping(graph: Graph, positions: dict[str, Position]) -> list[tuple[str, str]]:
    """Pairs of nodes whose cards overlap."""
    boxes = {n: (x, y, x + CARD_WIDTH, y + card_height(graph, n)) for n, (x, y) in positions.items()}
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if boxes[a][0] < boxes[b][2] and boxes[b][0] < boxes[a][2] and boxes[a][1] < boxes[b][3] and boxes[b][1] < boxes[a][3]]


def backward_edges(graph: Graph, positions: dict[str, Position], band: dict[str, int] | None = None) -> list[str]:
    """Edges that neither point right inside a band nor go down to a later band (one band where none are given)."""
    band = band or dict.fromkeys(positions, 0)
    bottoms = {b: max(positions[n][1] + card_height(graph, n) for n in band if band[n] == b) for b in set(band.values())}
    tops = {b: min(positions[n][1] for n in band if band[n] == b) for b in set(band.values())}
    assert all(tops[b + 1] - bottoms[b] >= BAND_GAP for b in bottoms if b + 1 in tops), "bands overlap"
    wrong = []
    for edge in graph.edges:
        (x0, _), (x1, _) = positions[edge.src], positions[edge.dst]
        if not (band[edge.dst] > band[edge.src] or (band[edge.dst] == band[edge.src] and x1 > x0)):
            wrong.append(f"{graph.node(edge.src).name} -> {graph.node(edge.dst).name}")
    return wrong


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", NETWORKS)
def test_the_top_level_of_a_network_of_blocks_fits_one_screen_and_reads_left_to_right(name: str, way: str) -> None:
    graph = NETWORKS[name]()
    assert analyse(graph).is_valid
    positions, band = layered_layout(graph, **WAYS[way])
    left, top, right, bottom = bounds(graph, positions)
    assert (left, top) == (0.0, 0.0)
    assert right <= SCREEN[0] and bottom <= SCREEN[1], (right, bottom)
    assert overlapping(graph, positions) == []
    assert backward_edges(graph, positions, band) == []


def test_the_networks_are_the_real_ones() -> None:
    assert analyse(pn.resnet50()).summary().trainable_params == pn.RESNET50_PARAMS
    assert analyse(pn.bert_base()).summary().trainable_params == pn.BERT_BASE_PARAMS


def test_a_chain_of_blocks_reads_like_text() -> None:
    graph = pn.resnet50()
    positions, band = layered_layout(graph, max_width=SCREEN[0])
    reading = sorted(graph.nodes, key=lambda n: (band[n], positions[n][0]))
    assert [graph.node(n).name for n in reading] == [n.name for n in graph.nodes.values()]  # built in data order
    assert len(set(band.values())) > 1  # 13 columns do not fit 1600 units: it wraps


def test_skip_connections_that_cross_bands_take_no_rows() -> None:
    graph = pn.unet()
    positions, band = layered_layout(graph, max_width=SCREEN[0])
    assert len(set(band.values())) > 1
    for b in set(band.values()):  # each band one row (cards raised to level their chain's wire): the four skips cross from band to band
        ys = [y for n, (_, y) in positions.items() if band[n] == b]
        assert max(ys) - min(ys) < SLOT


def test_each_level_is_laid_out_on_its_own() -> None:
    graph = pn.unet()
    for level in [graph, *(b.graph for b in graph.library)]:
        for node_id in level.nodes:
            level.move(node_id, (0.0, 0.0))
    arrange(graph)
    assert {n.position for n in graph.library.get("Up").graph.nodes.values()} == {(0.0, 0.0)}  # only the level asked
    arrange_levels(graph)
    for level in [graph, *(b.graph for b in graph.library)]:
        positions = {n.id: n.position for n in level.nodes.values()}
        assert positions == layered_positions(level)
        assert overlapping(level, positions) == [] and backward_edges(level, positions, layered_layout(level)[1]) == []


def test_a_tall_card_gets_rows_that_hold_it() -> None:
    graph = Graph()
    sources = [graph.add_node("Identity").id for _ in range(8)]
    concat = graph.add_node("Concat", params={"num_inputs": 8}).id
    for i, src in enumerate(sources, 1):
        graph.connect(src, "out", concat, f"in{i}")
    tail = graph.add_node("Identity").id
    graph.connect(concat, "out", tail, "in")
    positions = layered_positions(graph)
    assert card_height(graph, concat) > 140.0
    assert overlapping(graph, positions) == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24)), max_size=50),
    st.sampled_from([None, 600.0, 1000.0, SCREEN[0]]),
    st.sampled_from([None, 0.5, 1.6]),
)
def test_cards_never_overlap_and_edges_read_forward(pairs: list[tuple[int, int]], width: float | None, aspect: float | None) -> None:
    graph = Graph()
    nodes = [graph.add_node("Concat", params={"num_inputs": 2 + i % 4}).id for i in range(25)]
    for a, b in pairs:
        if a < b:
            node = graph.node(nodes[b])
            free = [p.name for p in node.spec.input_ports(node.params) if graph.source_of(node.id, p.name) is None]
            if free:
                graph.connect(nodes[a], "out", nodes[b], free[0])
    positions, band = layered_layout(graph, max_width=width, aspect=aspect)
    assert set(positions) == set(nodes)
    assert overlapping(graph, positions) == []
    assert backward_edges(graph, positions, band) == []
