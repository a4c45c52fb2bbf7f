"""The layout at scale: crossings counted as the pairwise definition says, unwired layers set out in a grid,
each step reported and a raising step stopping it, a level without positions laid out once."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.graph import Graph
from studio.graph.layering import crossings, fit_in_order
from studio.graph.layout import (
    CARD_WIDTH,
    COLUMN_WIDTH,
    LOOSE_IN_COLUMN,
    arrange,
    bounds,
    card_height,
    lay_out_unplaced,
    layered_layout,
    unplaced,
)


def _pairwise_crossings(g, columns, offset) -> int:
    place = {n: i for col in columns.values() for i, n in enumerate(col)}
    total = 0
    for members in columns.values():
        pairs = [(place[a], place[b] + 0.4 * offset.get((a, b), 0.0)) for a in members for b in g.successors(a) if b in place]
        for (a1, b1), (a2, b2) in itertools.combinations(pairs, 2):
            if a1 != a2 and b1 != b2 and (a1 < a2) != (b1 < b2):
                total += 1
    return total


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.sampled_from([0.0, -0.25, 0.25])), max_size=40))
def test_crossings_are_the_pairs_whose_ends_come_in_opposite_orders(wires) -> None:
    import networkx as nx

    g = nx.DiGraph()
    left, right = [("a", i) for i in range(7)], [("b", i) for i in range(7)]
    g.add_nodes_from(left + right)
    offset = {}
    for a, b, port in wires:
        g.add_edge(left[a], right[b])
        offset[(left[a], right[b])] = port
    columns = {0: left, 1: right[::-1]}
    assert crossings(g, columns, offset) == _pairwise_crossings(g, columns, offset)


def test_many_unwired_layers_are_set_out_in_a_grid_below_the_network() -> None:
    graph = Graph()
    a, b = graph.add_node("Input", "x", {"shape": (4,)}).id, graph.add_node("Identity").id
    graph.connect(a, "out", b, "in")
    loose = [graph.add_node("Input", f"free{i}", {"shape": (4,)}).id for i in range(100)]
    positions, band = layered_layout(graph, max_width=6 * COLUMN_WIDTH)
    network_bottom = bounds(graph, {n: positions[n] for n in (a, b)})[3]
    assert all(positions[n][1] > network_bottom for n in loose)
    assert len({positions[n] for n in graph.nodes}) == len(graph)
    assert max(positions[n][0] for n in loose) + CARD_WIDTH <= 6 * COLUMN_WIDTH
    assert {band[n] for n in loose} == {max(band[a], band[b]) + 1}
    rows = {positions[n][1] for n in loose}
    assert len(rows) == math.ceil(100 / 6)
    assert min(y2 - y1 for y1, y2 in itertools.pairwise(sorted(rows))) >= card_height(graph, loose[0])


def test_a_few_unwired_layers_stay_in_the_first_column() -> None:
    graph = Graph()
    loose = [graph.add_node("Input", f"x{i}", {"shape": (4,)}).id for i in range(LOOSE_IN_COLUMN)]
    positions = layered_layout(graph)[0]
    assert {positions[n][0] for n in loose} == {0.0}


def test_twenty_thousand_unwired_layers_make_a_grid_of_about_the_screen_s_shape() -> None:
    graph = Graph()
    for i in range(20_000):
        graph.add_node("Input", f"x{i}", {"shape": (4,)})
    left, top, right, bottom = bounds(graph, layered_layout(graph)[0])
    assert 1.0 < (right - left) / (bottom - top) < 2.5  # not one column 2.8 million units tall


def test_every_step_is_reported_and_a_raising_step_stops_the_layout_before_any_move() -> None:
    graph = Graph()
    a, b = (graph.add_node("Input", name, {"shape": (4,)}).id for name in "ab")
    first, second = graph.add_node("Add").id, graph.add_node("Add").id
    for src, dst, port in ((a, first, "in1"), (b, first, "in2"), (a, second, "in2"), (b, second, "in1")):  # wired crosswise
        graph.connect(src, "out", dst, port)
    ids = list(graph.nodes)
    heard: list[str] = []
    layered_layout(graph, 4 * COLUMN_WIDTH, step=heard.append)
    assert heard[0] == "finding the columns" and any("sweep" in h for h in heard) and any("pass" in h for h in heard)

    class Stop(Exception):
        pass

    def stop(text: str) -> None:
        if "sweep" in text:
            raise Stop

    before = {n: graph.node(n).position for n in ids}
    with pytest.raises(Stop):
        arrange(graph, 4 * COLUMN_WIDTH, step=stop)
    assert {n: graph.node(n).position for n in ids} == before


def test_only_a_level_whose_layers_all_share_one_spot_is_laid_out() -> None:
    graph = Graph()
    ids = [graph.add_node("Identity").id for _ in range(4)]
    for x, y in itertools.pairwise(ids):
        graph.connect(x, "out", y, "in")
    assert unplaced(graph)
    assert lay_out_unplaced(graph)
    placed = {n: graph.node(n).position for n in ids}
    assert len(set(placed.values())) == 4
    assert not unplaced(graph) and not lay_out_unplaced(graph)
    assert {n: graph.node(n).position for n in ids} == placed


def _fit_by_pooling(wanted: list[int], gaps: list[int], weights: list[float]) -> list[int]:
    """Isotonic regression as first written: adjacent violators pooled, each pool at its lower weighted median."""

    def median(members: list[tuple[int, float]]) -> int:
        ordered, total = sorted(members), 0.0
        half = sum(w for _, w in ordered) / 2
        for value, w in ordered:
            total += w
            if total >= half:
                return value
        return ordered[-1][0]

    starts = list(itertools.accumulate([0, *gaps]))
    pools: list[tuple[list[tuple[int, float]], int]] = []
    for target, start, w in zip(wanted, starts, weights, strict=True):
        members, value = [(target - start, w)], target - start
        while pools and pools[-1][1] > value:
            members = pools.pop()[0] + members
            value = median(members)
        pools.append((members, value))
    offsets = [value for members, value in pools for _ in members]
    return [o + s for o, s in zip(offsets, starts, strict=True)]


@given(
    st.lists(
        st.tuples(st.integers(-12, 12), st.integers(1, 4), st.sampled_from([1.0, 8.0, 1e6])), min_size=1, max_size=30
    )
)
def test_rows_fit_in_order_as_pooling_adjacent_violators_places_them(rows) -> None:
    wanted, gaps, weights = [r[0] for r in rows], [r[1] for r in rows[1:]], [r[2] for r in rows]
    assert fit_in_order(wanted, gaps, weights) == _fit_by_pooling(wanted, gaps, weights)


def test_a_column_that_all_wants_one_slot_is_centred_on_it() -> None:
    assert fit_in_order([0] * 500, [2] * 499, [1.0] * 500) == _fit_by_pooling([0] * 500, [2] * 499, [1.0] * 500)
    placed = fit_in_order([0] * 20_000, [2] * 19_999, [1.0] * 20_000)  # a layer feeding 20,000: once quadratic
    assert all(b - a == 2 for a, b in itertools.pairwise(placed))
    assert placed[0] == -placed[-1] - 2
