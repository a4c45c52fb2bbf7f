"""Automatic layout of one level (a network, or a block's inner graph): layers left to right in columns, the main chain on one row.

NOTE: the layout knows the canvas cards' sizes as numbers (`CARD_WIDTH`, `CARD_HEIGHT`,
`PORT_ROW`, which `tests/ui/test_layout_cards.py` holds equal to `ui/canvas/items.py`), since
studio.graph never imports Qt. A column is `COLUMN_WIDTH` = 260 wide (a card at most 184, then
76 for the wires) and a row `ROW_HEIGHT` = 140 high (a card of one input and one output is 72),
so one screen of 1600 x 900 scene units at 100% zoom holds 6 columns of 6 rows: `SCREEN`.
Rows are counted in half rows (`SLOT`): a card takes the slots its height and `ROW_GAP` need,
a skip connection's lane one. Every level is laid out on its own (`arrange_levels` does a
network and each of its blocks). The canvas draws a wire that would cross cards along the
free lane beside them (`studio.graph.wires`).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from studio.graph.layering import (
    Layers,
    acyclic,
    add_stand_ins,
    depths,
    main_chain,
    order,
    slots,
)
from studio.graph.model import Edge, Graph, Position

COLUMN_WIDTH = 260.0
ROW_HEIGHT = 140.0
SLOT = ROW_HEIGHT / 2
BAND_GAP = 100.0
CARD_WIDTH = 184.0  # the widest card
CARD_HEIGHT = 72.0  # a card's title, name and summary lines
PORT_ROW = 18.0  # each row of named ports on a card of several inputs or outputs
ROW_GAP = 40.0  # the least room between the cards of one column
PORT_LINE = 38.5  # how far below a card's top its one input or output sits (the name line)
PORT_FOOT = 8.0  # below the last row of named ports
CUT_WIRE, BAND = 1000.0, 100.0  # what a wire cut by a wrap, and a band, cost (`band_starts`)
SCREEN = (1600.0, 900.0)  # one screen of the canvas at 100% zoom, in scene units
LOOSE_IN_COLUMN = 6  # unwired layers beyond this many (a screen's column) are set out in a grid below the network
LOOSE_ASPECT = 1.6  # the grid's width / height when nothing else bounds it
LARGE_LEVEL = 20_000  # past this many layers in one level, the layout is linear: `_stacked` rather than `_sugiyama`
Step = Callable[[str], None]  # told each step of a long layout; raising from it stops the layout (a Cancel)


def card_height(graph: Graph, node_id: str) -> float:
    """The height of a node's card on the canvas: taller by a row per named port where it has several inputs or outputs."""
    return _card(graph, node_id).height


@dataclass(frozen=True)
class _Card:
    """What the layout needs of a node's card: its height and the names of its input ports."""

    height: float
    inputs: tuple[str, ...]
    outputs: int

    def port_y(self, port: str) -> float:
        """How far below the card's top an input port sits."""
        if len(self.inputs) < 2 or port not in self.inputs:
            return PORT_LINE
        rows_top = self.height - PORT_FOOT - max(len(self.inputs), self.outputs) * PORT_ROW
        return rows_top + (self.inputs.index(port) + 0.5) * PORT_ROW


def _card(graph: Graph, node_id: str, fixed: dict[str, _Card] | None = None) -> _Card:
    """A node's card; `fixed` keeps the card of each catalogue type whose ports its parameters do not change, to share."""
    node = graph.node(node_id)
    spec = node.spec
    shared = fixed is not None and node.block is None and not spec.variadic and spec.pieces is None
    if shared and (card := fixed.get(node.type)) is not None:  # type: ignore[union-attr]
        return card
    inputs = tuple(p.name for p in spec.input_ports(node.params))
    outputs = len(spec.output_ports(node.params))
    rows = max(len(inputs) if len(inputs) > 1 else 0, outputs if outputs > 1 else 0)
    card = _Card(CARD_HEIGHT + rows * PORT_ROW, inputs, outputs)
    if shared:
        fixed[node.type] = card  # type: ignore[index]
    return card


def layered_positions(graph: Graph, max_width: float | None = None, aspect: float | None = None, step: Step | None = None) -> dict[str, Position]:
    """Return a position (a card's top-left corner) for every node: `layered_layout`'s positions."""
    return layered_layout(graph, max_width, aspect, step)[0]


def layered_layout(
    graph: Graph, max_width: float | None = None, aspect: float | None = None, step: Step | None = None
) -> tuple[dict[str, Position], dict[str, int]]:
    """Return a position (a card's top-left corner) and a band for every node: a column per depth, the longest chain on one row.

    Sugiyama-style: cycles are broken by ignoring back edges; each node goes one column right
    of its deepest predecessor (a source, such as a learned Parameter, just left of its first
    consumer); the longest path is the main chain, held on one row; an edge that skips columns
    gets a stand-in in each, so it keeps a lane past the layers it skips; barycentre sweeps
    order each column to keep crossings few, a node's input ports pulling its sources into
    their order; then each node takes the row nearest the median of its neighbours' that its
    column's order leaves it.

    With `max_width`, a network wider than that wraps like text: its columns are cut into
    equal bands stacked top to bottom, each as high as its own rows, so a very long model can
    be seen whole. With `aspect` (width / height) instead, the bands are cut so the whole
    layout comes closest to that shape (for imported networks, which have no view yet). Edges
    point right inside a band and down to a later band across bands; a skip connection inside
    a band gets a lane, one that crosses bands does not (the canvas draws it from band to band).
    More than `LOOSE_IN_COLUMN` layers with no wire at all are set out in a grid below, a band of
    their own. `step` hears each step (it may raise to stop the layout).

    A level of more than `LARGE_LEVEL` layers is drawn in linear time (`_stacked`): bands of
    even widths, each column's cards stacked in topological order, with no main chain, stand-ins,
    sweeps or row passes, which took four fifths of the time for 100,000 layers.
    """
    tell = step or _quiet
    tell("finding the columns")
    edges = graph.edges
    wired = {n for e in edges for n in (e.src, e.dst)}
    loose = [n for n in graph.nodes if n not in wired]
    if len(loose) <= LOOSE_IN_COLUMN:
        loose = []
    nodes = [n for n in graph.nodes if n in wired] if loose else list(graph.nodes)
    fixed: dict[str, _Card] = {}
    cards = {n: _card(graph, n, fixed) for n in nodes}
    large = len(nodes) > LARGE_LEVEL
    g, offsets, ranked = acyclic([(e.src, e.dst, 0.0 if large else _port_offset(cards[e.dst], e.dst_port)) for e in edges], nodes)
    depth = depths(g, ranked)
    count = max(depth.values(), default=-1) + 1
    sizes = [0] * count
    for node_id in nodes:
        sizes[depth[node_id]] += 1
    spans = [(depth[a], depth[b]) for a, b in g.edges if depth[b] - depth[a] > 1]
    pitch = max([ROW_HEIGHT, *(card.height + ROW_GAP for card in cards.values())])
    per_band = aspect_columns(sizes, spans, aspect, pitch) if aspect else band_columns(count, max_width)
    tell("cutting the bands")
    if large:
        positions, bands = _stacked(ranked, cards, depth, even_starts(count, per_band), count)
    else:
        positions, bands = _sugiyama(Layers(g, depth, main_chain(g, depth, ranked), offsets), nodes, edges, cards, count, per_band, tell)
    if loose:
        _set_out(graph, loose, positions, bands, max_width, aspect)
    return {n: positions[n] for n in graph.nodes}, {n: bands[n] for n in graph.nodes}


def _sugiyama(
    layers: Layers, nodes: list[str], edges: list[Edge], cards: dict[str, _Card], count: int, per_band: int, tell: Step
) -> tuple[dict[str, Position], dict[str, int]]:
    """Bands cut where fewest wires cross, stand-ins for the wires that skip columns, columns ordered by sweeps, rows fitted to neighbours."""
    depth = layers.depth
    starts = band_starts(count, per_band, [(depth[a], depth[b]) for a, b in layers.g.edges])
    band_of = [bisect.bisect_right(starts, col) - 1 for col in range(count)]
    add_stand_ins(layers, lambda a, b: band_of[a] == band_of[b])
    for node_id in [*nodes, *(n for n in layers.g if isinstance(n, tuple))]:
        layers.columns.setdefault(depth[node_id], []).append(node_id)
    order(layers, tell)
    lift = _chain_lift(edges, cards, layers.chain)
    extent = {n: (math.ceil(lift.get(n, 0.0) / SLOT), math.ceil((card.height + ROW_GAP - lift.get(n, 0.0)) / SLOT)) for n, card in cards.items()}
    slot = slots(layers, lambda n: extent.get(n, (0, 1)), tell)  # type: ignore[arg-type]
    return _placed(nodes, {n: (band_of[c], c - starts[band_of[c]]) for n, c in depth.items()}, slot, extent, lift)


def _stacked(
    ranked: list[Hashable], cards: dict[str, _Card], depth: dict[Hashable, int], starts: list[int], count: int
) -> tuple[dict[str, Position], dict[str, int]]:
    """A large level's places in linear time: each column's cards stacked from the top in topological order, bands of `starts` stacked with a gap."""
    band_of = [bisect.bisect_right(starts, col) - 1 for col in range(count)]
    below: dict[int, float] = {}  # each column's first free height
    local = {}
    for node_id in ranked:
        column = depth[node_id]
        local[node_id] = below.get(column, 0.0)
        below[column] = local[node_id] + cards[node_id].height + ROW_GAP  # type: ignore[index]
    height = [0.0] * len(starts)
    for column, free in below.items():
        height[band_of[column]] = max(height[band_of[column]], free - ROW_GAP)
    tops = list(itertools.accumulate([0.0, *(h + BAND_GAP for h in height)]))
    positions = {}
    bands = {}
    for node_id, y in local.items():
        column = depth[node_id]
        band = bands[node_id] = band_of[column]
        positions[node_id] = ((column - starts[band]) * COLUMN_WIDTH, tops[band] + y)
    return positions, bands  # type: ignore[return-value]


def _quiet(_text: str) -> None:
    """No one is told the steps."""


def _set_out(
    graph: Graph, loose: list[str], positions: dict[str, Position], bands: dict[str, int], max_width: float | None, aspect: float | None
) -> None:
    """Put layers with no wire in a grid below the network (in graph order, row by row): as wide as `max_width` allows, else of `aspect`."""
    pitch = max([ROW_HEIGHT, *(card_height(graph, n) + ROW_GAP for n in loose)])
    if max_width:
        across = band_columns(len(loose), max_width)
    else:
        across = max(1, min(len(loose), math.ceil(math.sqrt(len(loose) * (aspect or LOOSE_ASPECT) * pitch / COLUMN_WIDTH))))
    top = bounds(graph, positions)[3] + BAND_GAP if positions else 0.0
    band = max(bands.values(), default=-1) + 1
    for i, node_id in enumerate(loose):
        row, column = divmod(i, across)
        positions[node_id] = (column * COLUMN_WIDTH, top + row * pitch)
        bands[node_id] = band


def input_port_y(graph: Graph, node_id: str, port: str) -> float:
    """How far below its card's top a node's input port sits."""
    return _card(graph, node_id).port_y(port)


def _chain_lift(edges: list[Edge], cards: dict[str, _Card], chain: list[Hashable]) -> dict[str, float]:
    """How far each card of the main chain is raised so that the wire coming in along the chain is level."""
    into = {(e.src, e.dst): e.dst_port for e in edges if len(cards[e.dst].inputs) > 1}  # a card of one input needs no lift
    lift = {}
    for before, node_id in itertools.pairwise(chain):
        port = into.get((before, node_id))  # type: ignore[call-overload]
        if port is not None and (y := cards[node_id].port_y(port)) != PORT_LINE:  # type: ignore[index]
            lift[node_id] = y - PORT_LINE
    return lift


def _port_offset(card: _Card, port: str) -> float:
    """Where an input port sits on its card, from -0.5 (top) to 0.5 (bottom); 0 for a card of one input."""
    if len(card.inputs) < 2 or port not in card.inputs:
        return 0.0
    return (card.inputs.index(port) + 0.5) / len(card.inputs) - 0.5


def _placed(
    nodes: list[str], place: dict[Hashable, tuple[int, int]], slot: dict[Hashable, int], extent: dict[str, tuple[int, int]], lift: dict[str, float]
) -> tuple[dict[str, Position], dict[str, int]]:
    """Positions from (band, column in band) and slots: each band as high as its own slots (its lanes included), stacked with a gap."""
    bands = {n: place[n][0] for n in slot}
    low: dict[int, int] = {}
    high: dict[int, int] = {}
    for n, s in slot.items():
        b = bands[n]
        above, below = extent.get(n, (0, 1))  # type: ignore[call-overload]
        low[b] = min(low.get(b, s - above), s - above)
        high[b] = max(high.get(b, s + below), s + below)
    tops: dict[int, float] = {}
    top = 0.0
    for b in sorted(low):
        tops[b] = top
        top += (high[b] - low[b]) * SLOT - ROW_GAP + BAND_GAP
    ys = {n: tops[bands[n]] + (slot[n] - low[bands[n]]) * SLOT - lift.get(n, 0.0) for n in nodes}
    first = min(ys.values(), default=0.0)  # a lane above the first band's cards may take negative rows
    positions = {n: (place[n][1] * COLUMN_WIDTH, ys[n] - first) for n in nodes}
    return positions, {n: bands[n] for n in nodes}


def band_starts(columns: int, limit: int, edges: list[tuple[int, int]]) -> list[int]:
    """The first column of each band, bands at most `limit` columns wide: cuts where only the main chain crosses, then few bands, then even ones.

    So a wrap falls between two blocks of a network rather than through one, whose wires would
    all have to run from band to band, even where that takes a band more. Each cut costs
    `CUT_WIRE` per wire crossing it besides one, and `BAND` for the band it starts; a band
    costs the square of the columns it leaves empty; the cheapest cuts win (dynamic programming).
    """
    limit = max(limit, 1)
    if columns <= limit:
        return [0]
    starting = [0] * (columns + 1)  # edges that cross the cut before column c: a < c <= b
    for a, b in edges:
        if b > a:
            starting[a + 1] += 1
            starting[b + 1] -= 1
    crossing = list(itertools.accumulate(starting))
    cut = [0.0] + [CUT_WIRE * max(c - 1, 0) + BAND for c in crossing[1:]]
    last = _cheapest_cuts(columns, limit, cut)
    starts, end = [], columns
    while end > 0:
        end = last[end]
        starts.append(end)
    return starts[::-1]


def even_starts(columns: int, limit: int) -> list[int]:
    """The first column of each of the fewest bands at most `limit` columns wide, their widths as even as they can be."""
    bands = -(-columns // max(limit, 1)) or 1
    return [band * columns // bands for band in range(bands)]


def _cheapest_cuts(columns: int, limit: int, cut: list[float]) -> list[int]:
    """For each end column, where the last band of the cheapest bands ending there starts (`band_starts`'s dynamic programme).

    A band's cost, `(limit - width) ** 2` for widths up to `limit`, is convex in its width, so
    a later start that beats an earlier one for some end beats it for every later end: a
    queue of candidate starts, each with the first end it wins from (found by bisection),
    gives each end its best start in O(columns log columns), the earliest start on a tie.
    """
    cost = [0.0] + [math.inf] * columns  # of the cheapest bands ending before column i
    last = [0] * (columns + 1)  # and where the last of them starts

    def total(start: int, end: int) -> float:
        width = end - start
        return cost[start] + cut[start] + (limit - width) ** 2 if width <= limit else math.inf

    def beats(later: int, earlier: int, end: int) -> bool:
        old = total(earlier, end)
        return old == math.inf or total(later, end) < old

    queue = [[0, 1]]  # [start, first end it is best for]; those before `head` are spent
    head = 0
    for end in range(1, columns + 1):
        while len(queue) > head + 1 and queue[head + 1][1] <= end:
            head += 1
        last[end] = queue[head][0]
        cost[end] = total(last[end], end)
        if end == columns:
            break
        while len(queue) > head and beats(end, queue[-1][0], max(queue[-1][1], end + 1)):
            queue.pop()
        if len(queue) == head:
            queue.append([end, end + 1])
            continue
        low, high = max(queue[-1][1], end + 1), min(columns + 1, queue[-1][0] + limit + 1)  # past that the earlier start cannot end a band
        while low < high:
            middle = (low + high) // 2
            if beats(end, queue[-1][0], middle):
                high = middle
            else:
                low = middle + 1
        if low <= columns:
            queue.append([end, low])
    return last


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
    """The most columns a band may hold: all of them when they fit in `max_width`, else as many as fit."""
    fitting = max(int((max_width - CARD_WIDTH) // COLUMN_WIDTH) + 1, 1) if max_width else columns
    return max(min(columns, fitting), 1)


def aspect_columns(sizes: list[int], spans: list[tuple[int, int]], aspect: float, pitch: float = ROW_HEIGHT) -> int:
    """Columns per band that bring the layout's width / height closest to `aspect`, bands evened out."""
    columns = len(sizes)

    def ratio(per_band: int, rows: int) -> float:
        height = rows * pitch + (-(-columns // per_band) - 1) * BAND_GAP
        return math.log(min(per_band, columns) * COLUMN_WIDTH / height / aspect)

    def bounds(per_band: int) -> tuple[float, float]:
        """The least and most misfit, each band holding between 1 and `tallest` rows."""
        bands = -(-columns // per_band)
        short, tall = ratio(per_band, bands), ratio(per_band, bands * tallest)  # short >= tall
        return (0.0 if tall <= 0.0 <= short else min(abs(short), abs(tall))), max(abs(short), abs(tall))

    if not columns:
        return 1
    crossing = [0] * (columns + 1)
    for a, b in spans:
        crossing[a + 1] += 1
        crossing[b] -= 1
    tallest = max(size + lane for size, lane in zip(sizes, itertools.accumulate(crossing)))  # no band is taller
    candidates = sorted({-(-columns // bands) for bands in range(1, columns + 1)})
    bounded = [(per_band, *bounds(per_band)) for per_band in candidates]
    best = min(high for _, _, high in bounded)
    # only a candidate whose least misfit can reach the best bound is measured: the others lose to it
    return min((p for p, low, _ in bounded if low <= best), key=lambda p: abs(ratio(p, sum(_estimated_rows(sizes, spans, p)))))


def bounds(graph: Graph, positions: dict[str, Position]) -> tuple[float, float, float, float]:
    """The box (left, top, right, bottom) the cards take at these positions."""
    if not positions:
        return (0.0, 0.0, 0.0, 0.0)
    left = min(x for x, _ in positions.values())
    top = min(y for _, y in positions.values())
    right = max(x + CARD_WIDTH for x, _ in positions.values())
    bottom = max(y + card_height(graph, n) for n, (_, y) in positions.items())
    return (left, top, right, bottom)


def arrange(graph: Graph, max_width: float | None = None, aspect: float | None = None, step: Step | None = None) -> None:
    """Move every node to its layered position (one NodeMoved event per node that moves)."""
    for node_id, position in layered_positions(graph, max_width, aspect, step).items():
        graph.move(node_id, position)


def unplaced(graph: Graph) -> bool:
    """True when a graph of several layers has them all on one spot, as a file written without positions has."""
    spots = {node.position for node in graph.nodes.values()}
    return len(graph.nodes) > 1 and len(spots) == 1


def lay_out_unplaced(graph: Graph, aspect: float = LOOSE_ASPECT) -> bool:
    """Lay out each level (the network, each block's graph) whose layers all sit on one spot, in bands of `aspect`; True if any was."""
    levels = [graph, *(block.graph for block in graph.library or ())]
    found = [level for level in levels if unplaced(level)]
    for level in found:
        arrange(level, aspect=aspect)
    return bool(found)


def arrange_levels(graph: Graph, max_width: float | None = None, aspect: float | None = None) -> None:
    """Lay out a network and, each on its own, the inner graph of every block of its library."""
    arrange(graph, max_width, aspect)
    for block in graph.library or ():
        arrange(block.graph, max_width, aspect)
