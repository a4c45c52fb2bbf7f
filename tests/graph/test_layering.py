"""The layering's own graph: cycles broken by leaving edges out, orders and depths as networkx finds them."""

from __future__ import annotations

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

from studio.graph.layering import Dag, acyclic, depths

EDGES = st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=60)


def _nx(g: Dag) -> nx.DiGraph:
    found = nx.DiGraph()
    found.add_nodes_from(g)
    found.add_edges_from(g.edges)
    return found


@given(EDGES)
def test_breaking_cycles_leaves_a_dag_of_the_same_nodes_and_only_drops_edges(pairs: list[tuple[int, int]]) -> None:
    nodes = [f"n{i}" for i in range(15)]
    edges = [(f"n{a}", f"n{b}", 0.0) for a, b in pairs]
    g, offsets, ranked = acyclic(edges, nodes)
    assert list(g) == nodes
    assert nx.is_directed_acyclic_graph(_nx(g))
    assert set(g.edges) <= {(a, b) for a, b, _ in edges if a != b} and set(g.edges) <= set(offsets)
    assert sorted(ranked) == sorted(nodes)
    place = {n: i for i, n in enumerate(ranked)}
    assert all(place[a] < place[b] for a, b in g.edges)


@given(EDGES)
def test_an_acyclic_network_keeps_every_edge(pairs: list[tuple[int, int]]) -> None:
    forward = {(f"n{min(a, b)}", f"n{max(a, b)}") for a, b in pairs if a != b}
    g, _, _ = acyclic([(a, b, 0.0) for a, b in sorted(forward)], [f"n{i}" for i in range(15)])
    assert set(g.edges) == forward


@given(EDGES)
def test_orders_and_depths_match_networkx(pairs: list[tuple[int, int]]) -> None:
    g, _, ranked = acyclic([(f"n{a}", f"n{b}", 0.0) for a, b in pairs], [f"n{i}" for i in range(15)])
    reference = _nx(g)
    assert ranked == list(nx.lexicographical_topological_sort(reference, key=list(g).index))
    assert depths(g) == depths(reference)


def test_a_long_ring_is_broken_once_without_recursion() -> None:
    nodes = [f"n{i}" for i in range(50_000)]
    g, _, ranked = acyclic([(a, b, 0.0) for a, b in zip(nodes, nodes[1:] + nodes[:1], strict=True)], nodes)
    assert len(g.edges) == len(nodes) - 1 and ranked == nodes
