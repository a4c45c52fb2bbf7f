"""Layout quality: the main chain on one row, residual wires that cross nothing and pass beside the cards, one answer for one graph."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.graph import Graph
from studio.graph.layering import depths, fit_in_order, main_chain
from studio.graph.layout import (
    PORT_LINE,
    input_port_y,
    layered_layout,
    layered_positions,
)
from studio.graph.project import load_project
from tests.graph.drawn_wires import card_boxes, crossings, drawn, over_cards
from tests.ui.helpers import EXAMPLES


def _residual(graph: Graph, x: str, projected: bool, width: int) -> str:
    """conv-bn-relu-conv-bn, added to `x` (through a 1x1 conv and bn where `projected`), then relu; the block's output."""
    names = [("Conv2d", {"out_channels": width, "kernel_size": 3, "padding": 1}), ("BatchNorm2d", {}), ("ReLU", {}),
             ("Conv2d", {"out_channels": width, "kernel_size": 3, "padding": 1}), ("BatchNorm2d", {})]
    y = x
    for kind, params in names:
        node = graph.add_node(kind, params=params).id
        graph.connect(y, "out", node, "in")
        y = node
    shortcut = x
    if projected:
        conv = graph.add_node("Conv2d", params={"out_channels": width, "kernel_size": 1}).id
        norm = graph.add_node("BatchNorm2d").id
        graph.connect(x, "out", conv, "in")
        graph.connect(conv, "out", norm, "in")
        shortcut = norm
    add = graph.add_node("Add").id
    graph.connect(y, "out", add, "in1")
    graph.connect(shortcut, "out", add, "in2")
    relu = graph.add_node("ReLU").id
    graph.connect(add, "out", relu, "in")
    return relu


def resnet_like(kinds: list[bool]) -> Graph:
    """An input, a stem and a residual block per entry (True: a projected shortcut), then pooling and a classifier."""
    graph = Graph()
    x = graph.add_node("Input", params={"shape": (3, 16, 16)}).id
    stem = graph.add_node("Conv2d", params={"out_channels": 8, "kernel_size": 3, "padding": 1}).id
    graph.connect(x, "out", stem, "in")
    x = stem
    for i, projected in enumerate(kinds):
        x = _residual(graph, x, projected or i == 0, 8 * (1 + sum(kinds[: i + 1])))
    pool = graph.add_node("GlobalAvgPool2d").id
    graph.connect(x, "out", pool, "in")
    return graph


def chain_is_level(graph: Graph, positions: dict) -> bool:
    """Whether the main chain lies on one row: every wire along it enters its card at the height the first card's output leaves."""
    g = nx.DiGraph([(e.src, e.dst) for e in graph.edges])
    chain = main_chain(g, depths(g))
    assert len(chain) == nx.dag_longest_path_length(g) + 1  # it is a longest path
    row = positions[chain[0]][1] + PORT_LINE
    for a, b in itertools.pairwise(chain):
        edge = next(e for e in graph.in_edges(b) if e.src == a)
        if positions[b][1] + input_port_y(graph, b, edge.dst_port) != row:
            return False
    return True


@settings(max_examples=12, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=6))
def test_residual_networks_draw_with_no_crossing_and_no_wire_over_a_card(kinds: list[bool]) -> None:
    graph = resnet_like(kinds)
    positions = layered_positions(graph)
    lines = drawn(graph, positions)
    assert crossings(lines) == 0
    boxes = card_boxes(graph, positions)
    for edge, line in zip(graph.edges, lines, strict=True):
        assert not over_cards(line, [b for n, b in boxes.items() if n not in (edge.src, edge.dst)]), edge
    assert chain_is_level(graph, positions)


@pytest.mark.parametrize("name", ["resnet_small", "inception_block", "se_mobilenet", "lenet5", "vit_tiny"])
def test_the_main_chain_of_each_example_runs_level(name: str) -> None:
    graph = load_project(EXAMPLES / f"{name}.lstudio").graph
    assert chain_is_level(graph, layered_positions(graph))


def test_the_small_resnet_example_draws_with_no_crossing() -> None:
    graph = load_project(EXAMPLES / "resnet_small.lstudio").graph
    assert crossings(drawn(graph, layered_positions(graph))) == 0


def test_a_long_residual_network_wraps_between_blocks() -> None:
    graph = resnet_like([False, True, False, True, False, False])
    _, band = layered_layout(graph, max_width=4500.0)
    assert len(set(band.values())) > 1
    across = [e for e in graph.edges if band[e.src] != band[e.dst]]
    assert len(across) == len(set(band.values())) - 1  # only the main chain's wire crosses each cut


def test_the_same_graph_gets_the_same_layout() -> None:
    path = EXAMPLES / "se_mobilenet.lstudio"
    first, second = load_project(path).graph, load_project(path).graph
    assert layered_layout(first) == layered_layout(second) == layered_layout(first)
    assert layered_layout(first, aspect=1.6) == layered_layout(second, aspect=1.6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(1, 2), st.sampled_from([1.0, 8.0])), min_size=1, max_size=3))
def test_fitting_a_column_in_order_is_the_best_placement(column: list[tuple[int, int, float]]) -> None:
    wanted, sizes, weights = (list(v) for v in zip(*column, strict=True))
    gaps = sizes[:-1]
    placed = fit_in_order(wanted, gaps, weights)
    assert all(b - a >= gap for a, b, gap in zip(placed, placed[1:], gaps, strict=False))

    def cost(slots: tuple[int, ...]) -> float:
        return sum(w * abs(s - t) for s, t, w in zip(slots, wanted, weights, strict=True))

    feasible = (s for s in itertools.product(range(-9, 13), repeat=len(wanted)) if all(b - a >= g for a, b, g in zip(s, s[1:], gaps, strict=False)))
    assert cost(tuple(placed)) == min(map(cost, feasible))
