"""Automatic layout: layers placed left to right in columns, ordered to keep crossings few."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from studio.graph.model import Graph, Position

COLUMN_WIDTH = 260.0
ROW_HEIGHT = 140.0
BAND_GAP = 100.0
SWEEPS = 4


def layered_positions(graph: Graph, max_width: float | None = None, aspect: float | None = None) -> dict[str, Position]:
    """Return a position for every node: a column per longest-path depth, rows by barycentre.

    Sugiyama-style: cycles are broken by ignoring back edges, each node goes one column right
    of its deepest predecessor, then a few up/down sweeps order each column by the mean row of
    its neighbours, which removes most crossings in the usual feed-forward network.

    With `max_width`, a network wider than that wraps like text: its columns are cut into
    equal bands stacked top to bottom, so a long sequential model can be seen whole at a
    readable size. Edges still point right inside a band. With `aspect` (width / height)
    instead, the bands are cut so the whole layout comes closest to that shape (for imported
    networks, which have no view yet).
    """
    g = nx.DiGraph(graph.structure())
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    while not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        g.remove_edge(*cycle[-1][:2])
    depth: dict[Any, int] = {}
    for node_id in nx.topological_sort(g):
        depth[node_id] = max((depth[p] + 1 for p in g.predecessors(node_id)), default=0)
    _route_long_edges(g, depth)
    columns: dict[int, list[Any]] = {}
    for node_id in [*graph.nodes, *(n for n in g if n not in graph)]:
        columns.setdefault(depth[node_id], []).append(node_id)
    row = {n: float(i) for col in columns.values() for i, n in enumerate(col)}
    ordered = sorted(columns)
    for sweep in range(SWEEPS):
        sequence = ordered[1:] if sweep % 2 == 0 else ordered[-2::-1]
        for col in sequence:
            neighbours = g.predecessors if sweep % 2 == 0 else g.successors
            for n in columns[col]:
                near = [row[m] for m in neighbours(n)]
                if near:
                    row[n] = sum(near) / len(near)
            columns[col].sort(key=lambda n: row[n])
            for i, n in enumerate(columns[col]):
                row[n] = float(i)
    height = max((len(c) for c in columns.values()), default=1)
    per_band = aspect_columns(len(columns), height, aspect) if aspect else band_columns(len(columns), max_width)
    band_height = height * ROW_HEIGHT + BAND_GAP
    positions: dict[str, Position] = {}
    for col, members in columns.items():
        offset = (height - len(members)) / 2
        band, x = divmod(col, per_band)
        for i, n in enumerate(members):
            if isinstance(n, str):
                positions[n] = (x * COLUMN_WIDTH, band * band_height + (i + offset) * ROW_HEIGHT)
    return positions


def _route_long_edges(g: nx.DiGraph, depth: dict[Any, int]) -> None:
    """Give an edge that skips columns a stand-in node in each column it crosses.

    The stand-ins take part in the ordering and keep a row free, so a skip connection (ResNet,
    an Inception branch) runs past the layers of those columns instead of through them.
    """
    for src, dst in list(g.edges):
        if depth[dst] - depth[src] < 2:
            continue
        g.remove_edge(src, dst)
        previous = src
        for col in range(depth[src] + 1, depth[dst]):
            stand_in = ("edge", src, dst, col)
            depth[stand_in] = col
            g.add_edge(previous, stand_in)
            previous = stand_in
        g.add_edge(previous, dst)


def band_columns(columns: int, max_width: float | None) -> int:
    """Columns per band: all of them when they fit in `max_width`, else as many bands as needed, evened out."""
    fitting = max(int(max_width // COLUMN_WIDTH), 1) if max_width else columns
    if columns <= fitting:
        return max(columns, 1)
    bands = -(-columns // fitting)
    return -(-columns // bands)


def aspect_columns(columns: int, rows: int, aspect: float) -> int:
    """Columns per band that bring the layout's width / height closest to `aspect`, bands evened out."""

    def misfit(per_band: int) -> float:
        bands = -(-columns // per_band)
        height = bands * rows * ROW_HEIGHT + (bands - 1) * BAND_GAP
        return abs(math.log(per_band * COLUMN_WIDTH / height / aspect))

    best = min(range(1, max(columns, 1) + 1), key=misfit)
    bands = -(-columns // best) if columns else 1
    return max(-(-columns // bands), 1)


def arrange(graph: Graph, max_width: float | None = None, aspect: float | None = None) -> None:
    """Move every node to its layered position (one NodeMoved event per node that moves)."""
    for node_id, position in layered_positions(graph, max_width, aspect).items():
        graph.move(node_id, position)
