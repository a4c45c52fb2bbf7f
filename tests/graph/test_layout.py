"""Automatic layout: columns follow the data flow, nodes never overlap, cycles do not hang it."""

from __future__ import annotations

import itertools
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from studio.graph import Graph, wires
from studio.graph import layout as layout_module
from studio.graph.layout import (
    CARD_WIDTH,
    COLUMN_WIDTH,
    PORT_LINE,
    arrange,
    card_height,
    input_port_y,
    layered_layout,
    layered_positions,
)


def _chain(graph: Graph, n: int) -> list[str]:
    ids = [graph.add_node("Identity").id for _ in range(n)]
    for a, b in itertools.pairwise(ids):
        graph.connect(a, "out", b, "in")
    return ids


def test_a_chain_goes_left_to_right_in_one_row() -> None:
    graph = Graph()
    ids = _chain(graph, 5)
    positions = layered_positions(graph)
    assert [positions[n][0] for n in ids] == [i * COLUMN_WIDTH for i in range(5)]
    assert len({positions[n][1] for n in ids}) == 1


def test_arrange_moves_nodes_and_emits_events() -> None:
    graph = Graph()
    ids = _chain(graph, 3)
    events = []
    graph.subscribe(events.append)
    arrange(graph)
    assert graph.node(ids[2]).position == (2 * COLUMN_WIDTH, 0.0)
    assert len(events) == 2  # the first node is already at the origin


def test_cycles_are_laid_out_without_hanging() -> None:
    graph = Graph()
    a, b, c = _chain(graph, 3)
    graph.connect(c, "out", a, "in")
    positions = layered_positions(graph)
    assert set(positions) == {a, b, c}
    assert len(set(positions.values())) == 3


@given(st.lists(st.tuples(st.integers(0, 19), st.integers(0, 19)), max_size=40))
def test_positions_are_distinct_and_edges_point_right(pairs: list[tuple[int, int]]) -> None:
    graph = Graph()
    ids = [graph.add_node("Add", params={"num_inputs": 4}).id for _ in range(20)]
    for a, b in pairs:
        if a < b:
            free = [p.name for p in graph.node(ids[b]).spec.input_ports(graph.node(ids[b]).params)
                    if graph.source_of(ids[b], p.name) is None]
            if free:
                graph.connect(ids[a], "out", ids[b], free[0])
    positions = layered_positions(graph)
    assert len(set(positions.values())) == len(ids)
    for edge in graph.edges:
        assert positions[edge.src][0] < positions[edge.dst][0]


def test_a_long_chain_wraps_into_even_bands_that_fit_the_width() -> None:
    graph = Graph()
    ids = _chain(graph, 12)
    positions = layered_positions(graph, max_width=5 * COLUMN_WIDTH)
    rows = sorted({positions[n][1] for n in ids})
    assert len(rows) == 3
    per_band = len(ids) // len(rows)
    for band, y in enumerate(rows):
        members = [n for n in ids if positions[n][1] == y]
        assert members == ids[band * per_band : (band + 1) * per_band]  # read like text
        xs = [positions[n][0] for n in members]
        assert xs == sorted(xs) and xs[0] == 0.0


def test_a_network_that_already_fits_does_not_wrap() -> None:
    graph = Graph()
    _chain(graph, 3)
    assert layered_positions(graph, max_width=3 * COLUMN_WIDTH) == layered_positions(graph)


def test_bands_can_be_cut_to_a_given_shape() -> None:
    graph = Graph()
    ids = _chain(graph, 40)
    positions = layered_positions(graph, aspect=1.6)
    xs = [x for x, _ in positions.values()]
    ys = [y for _, y in positions.values()]
    width, height = max(xs) - min(xs) + COLUMN_WIDTH, max(ys) - min(ys) + 140.0
    assert 0.8 < width / height < 3.2
    assert positions[ids[0]] == (0.0, 0.0)


def test_a_skip_connection_keeps_the_chain_straight_and_gets_a_lane_beside_it() -> None:
    graph = Graph()
    ids = _chain(graph, 5)
    add = graph.add_node("Add")
    graph.connect(ids[-1], "out", add.id, "in1")
    graph.connect(ids[0], "out", add.id, "in2")  # skips four columns
    positions = layered_positions(graph)
    assert len({positions[n][1] for n in ids}) == 1  # the main chain on one row
    assert positions[add.id][1] + input_port_y(graph, add.id, "in1") == positions[ids[-1]][1] + PORT_LINE  # its wire level
    start = (positions[ids[0]][0] + CARD_WIDTH, positions[ids[0]][1] + PORT_LINE)
    end = (positions[add.id][0], positions[add.id][1] + input_port_y(graph, add.id, "in2"))
    cards = [(x, y, x + CARD_WIDTH, y + card_height(graph, n)) for n, (x, y) in positions.items() if n not in (ids[0], add.id)]
    lane = wires.lane(start, end, cards)
    assert lane is not None and lane > max(box[3] for box in cards)  # below the chain, towards the port it enters


@given(st.lists(st.tuples(st.integers(0, 19), st.integers(0, 19)), max_size=40), st.sampled_from([None, 1.6]))
def test_a_large_level_is_drawn_in_linear_time_without_overlaps(pairs: list[tuple[int, int]], aspect: float | None) -> None:
    graph = Graph()
    ids = [graph.add_node("Add", params={"num_inputs": 4}).id for _ in range(20)]
    for a, b in pairs:
        free = [p.name for p in graph.node(ids[b]).spec.input_ports(graph.node(ids[b]).params) if graph.source_of(ids[b], p.name) is None]
        if a < b and free:
            graph.connect(ids[a], "out", ids[b], free[0])
    with mock.patch.object(layout_module, "LARGE_LEVEL", -1), mock.patch.object(layout_module, "order", _never), mock.patch.object(layout_module, "band_starts", _never):
        positions, band = layered_layout(graph, aspect=aspect)
    boxes = sorted((x, y, y + card_height(graph, n)) for n, (x, y) in positions.items())
    for (x0, _, bottom), (x1, top, _) in itertools.pairwise(boxes):
        assert x0 != x1 or bottom <= top  # cards of one column never overlap
    for edge in graph.edges:
        x0, x1 = positions[edge.src][0], positions[edge.dst][0]
        assert x0 < x1 if band[edge.src] == band[edge.dst] else band[edge.src] < band[edge.dst]


def _never(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("a large level is not ordered nor cut by cost")


def test_a_large_chain_is_one_row_per_band_in_even_bands() -> None:
    graph = Graph()
    ids = _chain(graph, 100)
    with mock.patch.object(layout_module, "LARGE_LEVEL", 10):
        positions, band = layered_layout(graph, max_width=7 * COLUMN_WIDTH)
    widths = [sum(1 for n in ids if band[n] == b) for b in sorted(set(band.values()))]
    assert max(widths) <= 7 and max(widths) - min(widths) <= 1 and len(widths) == 15
    assert all(len({positions[n][1] for n in ids if band[n] == b}) == 1 for b in band.values())
