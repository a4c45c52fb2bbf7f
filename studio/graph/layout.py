"""Automatic layout of one level (a network, or a block's inner graph): layers left to right in columns, ordered to keep crossings few.

NOTE: the layout knows the canvas cards' sizes as numbers (`CARD_WIDTH`, `CARD_HEIGHT`,
`PORT_ROW`, which `tests/ui/test_layout_cards.py` holds equal to `ui/canvas/items.py`), since
studio.graph never imports Qt. A column is `COLUMN_WIDTH` = 260 wide (a card at most 184, then
76 for the wires) and a row `ROW_HEIGHT` = 140 high (a card of one input and one output is 72),
so one screen of 1600 x 900 scene units at 100% zoom holds 6 columns of 6 rows: `SCREEN`.
Every level is laid out on its own (`arrange_levels` does a network and each of its blocks).
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from studio.graph.model import Graph, Position

COLUMN_WIDTH = 260.0
ROW_HEIGHT = 140.0
BAND_GAP = 100.0
SWEEPS = 4
CARD_WIDTH = 184.0  # the widest card
CARD_HEIGHT = 72.0  # a card's title, name and summary lines
PORT_ROW = 18.0  # each row of named ports on a card of several inputs or outputs
ROW_GAP = 40.0  # the least room between the cards of one column
SCREEN = (1600.0, 900.0)  # one screen of the canvas at 100% zoom, in scene units


def card_height(graph: Graph, node_id: str) -> float:
    """The height of a node's card on the canvas: taller by a row per named port where it has several inputs or outputs."""
    node = graph.node(node_id)
    inputs = len(node.spec.input_ports(node.params))
    outputs = len(node.spec.output_ports(node.params))
    rows = max(inputs if inputs > 1 else 0, outputs if outputs > 1 else 0)
    return CARD_HEIGHT + rows * PORT_ROW


def layered_positions(graph: Graph, max_width: float | None = None, aspect: float | None = None) -> dict[str, Position]:
    """Return a position (a card's top-left corner) for every node: `layered_layout`'s positions."""
    return layered_layout(graph, max_width, aspect)[0]


def layered_layout(graph: Graph, max_width: float | None = None, aspect: float | None = None) -> tuple[dict[str, Position], dict[str, int]]:
    """Return a position (a card's top-left corner) and a band for every node: a column per longest-path depth, rows by barycentre.

    Sugiyama-style: cycles are broken by ignoring back edges, each node goes one column right
    of its deepest predecessor, then a few up/down sweeps order each column by the mean row of
    its neighbours, which removes most crossings in the usual feed-forward network.

    With `max_width`, a network wider than that wraps like text: its columns are cut into
    equal bands stacked top to bottom, each as high as its own rows, so a long sequential
    model can be seen whole at a readable size. With `aspect` (width / height) instead, the
    bands are cut so the whole layout comes closest to that shape (for imported networks, which
    have no view yet). Edges point right inside a band and down to a later band across bands;
    a skip connection inside a band gets a row of its own past the layers it skips, while one
    that crosses bands does not (the canvas draws it straight from band to band).
    """
    g = nx.DiGraph(graph.structure())
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    while not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        g.remove_edge(*cycle[-1][:2])
    depth: dict[Any, int] = {}
    for node_id in nx.topological_sort(g):
        depth[node_id] = max((depth[p] + 1 for p in g.predecessors(node_id)), default=0)
    count = max(depth.values(), default=-1) + 1
    sizes = [0] * count
    for node_id in graph.nodes:
        sizes[depth[node_id]] += 1
    spans = [(depth[a], depth[b]) for a, b in g.edges if depth[b] - depth[a] > 1]
    pitch = max([ROW_HEIGHT, *(card_height(graph, n) + ROW_GAP for n in graph.nodes)])
    if aspect:
        per_band = aspect_columns(sizes, spans, aspect, pitch)
    else:
        per_band = band_columns(count, max_width)
    _route_long_edges(g, depth, per_band)
    columns: dict[int, list[Any]] = {}
    for node_id in [*graph.nodes, *(n for n in g if n not in graph)]:
        columns.setdefault(depth[node_id], []).append(node_id)
    _order(g, columns)
    rows = _band_rows([len(columns[c]) for c in range(count)], per_band)
    tops = [sum(r * pitch + BAND_GAP for r in rows[:band]) for band in range(len(rows))]
    positions: dict[str, Position] = {}
    bands: dict[str, int] = {}
    for col, members in columns.items():
        band, x = divmod(col, per_band)
        offset = (rows[band] - len(members)) / 2
        for i, n in enumerate(members):
            if isinstance(n, str):
                positions[n] = (x * COLUMN_WIDTH, tops[band] + (i + offset) * pitch)
                bands[n] = band
    return positions, bands


def _order(g: nx.DiGraph, columns: dict[int, list[Any]]) -> None:
    """Sort each column by the mean row of its neighbours, sweeping right then left."""
    row = {n: float(i) for col in columns.values() for i, n in enumerate(col)}
    ordered = sorted(columns)
    for sweep in range(SWEEPS):
        sequence = ordered[1:] if sweep % 2 == 0 else ordered[-2::-1]
        neighbours = g.predecessors if sweep % 2 == 0 else g.successors
        for col in sequence:
            for n in columns[col]:
                near = [row[m] for m in neighbours(n)]
                if near:
                    row[n] = sum(near) / len(near)
            columns[col].sort(key=lambda n: row[n])
            for i, n in enumerate(columns[col]):
                row[n] = float(i)


def _route_long_edges(g: nx.DiGraph, depth: dict[Any, int], per_band: int) -> None:
    """Give an edge that skips columns of one band a stand-in node in each column it crosses.

    The stand-ins take part in the ordering and keep a row free, so a skip connection (ResNet,
    an Inception branch) runs past the layers of those columns instead of through them.
    """
    for src, dst in list(g.edges):
        if depth[dst] - depth[src] < 2 or depth[src] // per_band != depth[dst] // per_band:
            continue
        g.remove_edge(src, dst)
        previous = src
        for col in range(depth[src] + 1, depth[dst]):
            stand_in = ("edge", src, dst, col)
            depth[stand_in] = col
            g.add_edge(previous, stand_in)
            previous = stand_in
        g.add_edge(previous, dst)


def _band_rows(heights: list[int], per_band: int) -> list[int]:
    """The rows of each band: its tallest column."""
    return [max(heights[start : start + per_band], default=1) for start in range(0, max(len(heights), 1), per_band)]


def _estimated_rows(sizes: list[int], spans: list[tuple[int, int]], per_band: int) -> list[int]:
    """Each band's rows when cut `per_band` columns wide: its layers plus the stand-ins of the skip connections inside it."""
    heights = list(sizes)
    for a, b in spans:
        if a // per_band == b // per_band:
            for col in range(a + 1, b):
                heights[col] += 1
    return _band_rows(heights, per_band)


def band_columns(columns: int, max_width: float | None) -> int:
    """Columns per band: all of them when they fit in `max_width`, else as many bands as needed, evened out."""
    fitting = max(int((max_width - CARD_WIDTH) // COLUMN_WIDTH) + 1, 1) if max_width else columns
    if columns <= fitting:
        return max(columns, 1)
    bands = -(-columns // fitting)
    return -(-columns // bands)


def aspect_columns(sizes: list[int], spans: list[tuple[int, int]], aspect: float, pitch: float = ROW_HEIGHT) -> int:
    """Columns per band that bring the layout's width / height closest to `aspect`, bands evened out."""
    columns = len(sizes)

    def misfit(per_band: int) -> float:
        rows = _estimated_rows(sizes, spans, per_band)
        height = sum(rows) * pitch + (len(rows) - 1) * BAND_GAP
        return abs(math.log(min(per_band, columns) * COLUMN_WIDTH / height / aspect))

    candidates = sorted({-(-columns // bands) for bands in range(1, max(columns, 1) + 1)})
    return min(candidates, key=misfit) if columns else 1


def bounds(graph: Graph, positions: dict[str, Position]) -> tuple[float, float, float, float]:
    """The box (left, top, right, bottom) the cards take at these positions."""
    if not positions:
        return (0.0, 0.0, 0.0, 0.0)
    left = min(x for x, _ in positions.values())
    top = min(y for _, y in positions.values())
    right = max(x + CARD_WIDTH for x, _ in positions.values())
    bottom = max(y + card_height(graph, n) for n, (_, y) in positions.items())
    return (left, top, right, bottom)


def arrange(graph: Graph, max_width: float | None = None, aspect: float | None = None) -> None:
    """Move every node to its layered position (one NodeMoved event per node that moves)."""
    for node_id, position in layered_positions(graph, max_width, aspect).items():
        graph.move(node_id, position)


def arrange_levels(graph: Graph, max_width: float | None = None, aspect: float | None = None) -> None:
    """Lay out a network and, each on its own, the inner graph of every block of its library."""
    arrange(graph, max_width, aspect)
    for block in graph.library or ():
        arrange(block.graph, max_width, aspect)
