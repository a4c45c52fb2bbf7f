"""The steps of a layered (Sugiyama) drawing: columns by depth, a main chain, stand-ins for long wires, crossing reduction, rows.

NOTE: rows are counted in slots of half a row (`SLOT`), so a wire's stand-in takes less room
than a card. The main chain, the longest path through the network, is held on slot 0: it reads
as one straight line, and branches and skip connections sit above or below it, never across.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

SWEEPS = 12  # crossing-reduction sweeps, alternating right and left; the best ordering is kept
PLACEMENT_PASSES = 8  # row-placement passes, alternating right and left, before a last two-sided one
CHAIN_WEIGHT = 1e6  # the main chain does not move off its row
STAND_IN_WEIGHT = 8.0  # a long wire stays straight before a layer leans towards its neighbours
PORT_SPREAD = 0.4  # how far (in order places) a node's input ports pull its sources apart


class Dag:
    """A directed graph as two adjacency dicts, `_succ` and `_pred`, as networkx's DiGraph keeps them, without its views per call (a layout walks 100,000-node ones)."""

    def __init__(self, nodes: Iterable[Hashable] = ()) -> None:
        self._succ: dict[Hashable, dict[Hashable, None]] = {n: {} for n in nodes}
        self._pred: dict[Hashable, dict[Hashable, None]] = {n: {} for n in self._succ}

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._succ)

    def __len__(self) -> int:
        return len(self._succ)

    def __contains__(self, node: object) -> bool:
        return node in self._succ

    def add_edge(self, src: Hashable, dst: Hashable) -> None:
        for node in (src, dst):
            if node not in self._succ:
                self._succ[node], self._pred[node] = {}, {}
        self._succ[src][dst] = None
        self._pred[dst][src] = None

    def remove_edge(self, src: Hashable, dst: Hashable) -> None:
        del self._succ[src][dst], self._pred[dst][src]

    def has_edge(self, src: Hashable, dst: Hashable) -> bool:
        return dst in self._succ.get(src, ())

    def predecessors(self, node: Hashable) -> Iterator[Hashable]:
        return iter(self._pred[node])

    def successors(self, node: Hashable) -> Iterator[Hashable]:
        return iter(self._succ[node])

    @property
    def edges(self) -> list[tuple[Hashable, Hashable]]:
        return [(src, dst) for src, after in self._succ.items() for dst in after]


@dataclass
class Layers:
    """An acyclic network cut into columns, with stand-ins for the wires that skip columns."""

    g: Dag
    depth: dict[Hashable, int]
    chain: list[Hashable]
    port_offset: dict[tuple[Hashable, Hashable], float] = field(default_factory=dict)
    columns: dict[int, list[Hashable]] = field(default_factory=dict)


def acyclic(edges: Sequence[tuple[str, str, float]], nodes: Sequence[str]) -> tuple[Dag, dict[tuple[str, str], float], list[Hashable]]:
    """The network as a simple digraph with its cycles broken (each back edge of a depth-first walk left out), each edge's input-port offset (-0.5 to 0.5), and a topological order."""
    g = Dag(nodes)
    offsets: dict[tuple[str, str], float] = {}
    for src, dst, offset in edges:
        if src != dst and not g.has_edge(src, dst):
            g.add_edge(src, dst)
            offsets[(src, dst)] = offset
    ranked = topological_order(g)
    if len(ranked) < len(g):
        for src, dst in _back_edges(g):
            g.remove_edge(src, dst)
        ranked = topological_order(g)
    return g, offsets, ranked


def _back_edges(g: Dag) -> list[tuple[Hashable, Hashable]]:
    """The edges that close a cycle on a depth-first walk from each node in turn, in the order added: without them the graph is acyclic."""
    state: dict[Hashable, int] = {}  # 1: on the walk's path, 2: done
    found = []
    for root in g:
        if root in state:
            continue
        state[root] = 1
        path = [(root, iter(g._succ[root]))]
        while path:
            node, after = path[-1]
            for nxt in after:
                if state.get(nxt) == 1:
                    found.append((node, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    path.append((nxt, iter(g._succ[nxt])))
                    break
            else:
                state[node] = 2
                path.pop()
    return found


def depths(g: Dag | nx.DiGraph, ranked: list[Hashable] | None = None) -> dict[Hashable, int]:
    """A column per node: one right of its deepest predecessor; a source moved up to just before its first consumer (`ranked`: a topological order, if known)."""
    depth: dict[Hashable, int] = {}
    pred, succ = g._pred, g._succ  # the adjacency dicts themselves: a view per node costs more than the walk
    order = ranked if ranked is not None else topological_order(g)
    for node in order:
        depth[node] = max([depth[p] for p in pred[node]], default=-1) + 1
    for node in order:
        if not pred[node] and succ[node]:
            depth[node] = min(depth[s] for s in succ[node]) - 1
    return depth


def topological_order(g: Dag | nx.DiGraph) -> list[Hashable]:
    """The nodes of a graph in topological order, the earliest added first wherever there is a choice (short of the nodes on or after a cycle)."""
    index = {n: i for i, n in enumerate(g)}
    nodes = list(index)
    pred, succ = g._pred, g._succ
    waiting = {n: len(pred[n]) for n in nodes}
    ready = [index[n] for n in nodes if not waiting[n]]
    order = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for after in succ[node]:
            waiting[after] -= 1
            if not waiting[after]:
                heapq.heappush(ready, index[after])
    return order


def main_chain(g: Dag | nx.DiGraph, depth: dict[Hashable, int], ranked: list[Hashable] | None = None) -> list[Hashable]:
    """The longest path (one node in each column), ending at the deepest node; ties go to the longer way in, then the node added first."""
    if not depth:
        return []
    index = {n: i for i, n in enumerate(g)}
    pred = g._pred
    longest: dict[Hashable, int] = {}
    for node in ranked if ranked is not None else topological_order(g):
        longest[node] = max([longest[p] for p in pred[node]], default=-1) + 1
    deepest = max(depth.values())
    end = min((n for n in depth if depth[n] == deepest), key=lambda n: (-longest[n], index[n]))
    chain = [end]
    while True:
        last = chain[-1]
        before = [p for p in pred[last] if depth[p] == depth[last] - 1]
        if not before:
            break
        chain.append(before[0] if len(before) == 1 else min(before, key=lambda p: (-longest[p], index[p])))
    return chain[::-1]


def add_stand_ins(layers: Layers, same_band: Callable[[int, int], bool]) -> None:
    """Give each edge that skips columns of one band a stand-in node in each column it crosses.

    The stand-ins take part in the ordering and keep a lane free, so a skip connection (ResNet,
    an Inception branch) runs past the layers of those columns instead of through them.
    """
    g, depth = layers.g, layers.depth
    for src, dst in list(g.edges):
        if depth[dst] - depth[src] < 2 or not same_band(depth[src], depth[dst]):
            continue
        offset = layers.port_offset.get((src, dst), 0.0)
        g.remove_edge(src, dst)
        previous = src
        for col in range(depth[src] + 1, depth[dst]):
            stand_in = ("wire", src, dst, col)
            depth[stand_in] = col
            g.add_edge(previous, stand_in)
            previous = stand_in
        g.add_edge(previous, dst)
        layers.port_offset[(previous, dst)] = offset


def order(layers: Layers, tell: Callable[[str], None] = lambda _text: None) -> None:
    """Order each column to keep crossings few: barycentre sweeps right and left, keeping the best ordering seen (`tell` hears each sweep)."""
    g, columns = layers.g, layers.columns
    ordered = sorted(columns)
    best = {c: list(m) for c, m in columns.items()}
    best_count = crossings(g, columns, layers.port_offset)
    for sweep in range(SWEEPS):
        if best_count == 0:
            break
        tell(f"ordering the columns (sweep {sweep + 1} of {SWEEPS})")
        forward = sweep % 2 == 0
        place = {n: float(i) for col in columns.values() for i, n in enumerate(col)}
        for col in ordered[1:] if forward else ordered[-2::-1]:
            keys = {}
            for i, n in enumerate(columns[col]):
                if forward:
                    near = [place[m] for m in g.predecessors(n)]
                else:
                    near = [place[m] + PORT_SPREAD * layers.port_offset.get((n, m), 0.0) for m in g.successors(n)]
                keys[n] = sum(near) / len(near) if near else float(i)
            columns[col].sort(key=lambda n: keys[n])
            for i, n in enumerate(columns[col]):
                place[n] = float(i)
        count = crossings(g, columns, layers.port_offset)
        if count < best_count:
            best, best_count = {c: list(m) for c, m in columns.items()}, count
    columns.update(best)


def crossings(g: Dag | nx.DiGraph, columns: dict[int, list[Hashable]], port_offset: dict[tuple[Hashable, Hashable], float] | None = None) -> int:
    """How many pairs of edges between neighbouring columns cross (two into one card cross where their sources and ports disagree)."""
    place = {n: i for col in columns.values() for i, n in enumerate(col)}
    offset = port_offset or {}
    total = 0
    succ = g._succ
    for members in columns.values():
        if len(members) == 1 and len(succ[members[0]]) < 2:
            continue  # one wire out of the column crosses nothing
        pairs = sorted((place[a], place[b] + PORT_SPREAD * offset.get((a, b), 0.0)) for a in members for b in succ[a] if b in place)
        total += _inversions([b for _, b in pairs])  # sorted by source, a pair crosses where its ends come in the other order
    return total


def _inversions(values: list[float]) -> int:
    """How many pairs i < j have values[i] > values[j] (a Fenwick tree over the values' ranks: n log n, not n squared)."""
    rank = {v: r for r, v in enumerate(sorted(set(values)), 1)}
    tree = [0] * (len(rank) + 1)
    total = 0
    for seen, value in enumerate(values):
        i = r = rank[value]
        while i:  # how many earlier values are at most this one
            total -= tree[i]
            i -= i & -i
        total += seen
        while r < len(tree):
            tree[r] += 1
            r += r & -r
    return total


def slots(layers: Layers, extent: Callable[[Hashable], tuple[int, int]], tell: Callable[[str], None] = lambda _text: None) -> dict[Hashable, int]:
    """A row (in slots) for every node: the main chain on slot 0, the others as near their neighbours as their column's order allows.

    `extent` gives the slots a node takes above and below its own. Each pass sets a column's
    nodes as close as it can (weighted L1) to the median slot of their neighbours on one side,
    keeping the column's order and room for every card.
    """
    g, columns = layers.g, layers.columns
    chain = set(layers.chain)
    size = {n: extent(n) for members in columns.values() for n in members}
    slot: dict[Hashable, int] = {}
    for members in columns.values():
        total = 0
        for n in members:
            slot[n] = total + size[n][0]
            total += sum(size[n])
        pinned = next((slot[n] for n in members if n in chain), 0)
        for n in members:
            slot[n] -= pinned
    before = {n: list(g._pred[n]) for n in size}
    after = {n: list(g._succ[n]) for n in size}
    weight = {n: CHAIN_WEIGHT if n in chain else STAND_IN_WEIGHT if isinstance(n, tuple) else 1.0 for n in slot}
    gaps = {col: [size[a][1] + size[b][0] for a, b in itertools.pairwise(members)] for col, members in columns.items()}
    ordered = sorted(columns)
    step = 0
    while step <= PLACEMENT_PASSES:
        tell(f"placing the rows (pass {step + 1} of {PLACEMENT_PASSES + 1})")
        forward = step % 2 == 0
        moved = False
        for col in ordered if forward else ordered[::-1]:
            members = columns[col]
            wanted = []
            for n in members:
                if n in chain:
                    wanted.append(0)
                    continue
                near = [slot[m] for m in (before[n] + after[n] if step == PLACEMENT_PASSES else before[n] if forward else after[n])]
                wanted.append(_median(near) if near else slot[n])
            placed = fit_in_order(wanted, gaps[col], [weight[n] for n in members]) if len(members) > 1 else wanted
            for n, s in zip(members, placed, strict=True):
                moved = moved or slot[n] != s
                slot[n] = s
        step = PLACEMENT_PASSES if not moved and step < PLACEMENT_PASSES else step + 1  # settled: on to the two-sided pass
    return slot


def _median(values: list[int]) -> int:
    values = sorted(values)
    return values[(len(values) - 1) // 2]


def fit_in_order(wanted: list[int], gaps: list[int], weights: list[float]) -> list[int]:
    """Slots in the given order, each at least `gaps[i]` past the one before, nearest (weighted L1) to `wanted`.

    Isotonic regression: with `start` the room the nodes before take, the free offsets
    `slot - start` must not decrease. The cost of the best prefix, as a function of the last
    offset, is convex and piecewise linear: a heap keeps its bends (where its slope grows, and by
    how much), each node adds its own, and what would make the cost rise to the right is cut off;
    the lowest best offset of each prefix, taken back to front, gives the slots (n log n, where
    pooling neighbours and taking each pool's median again went quadratic for a column of a
    thousand nodes that all want one slot, as a layer feeding them all makes).
    """
    starts = list(itertools.accumulate([0, *gaps]))
    bends: list[tuple[int, float]] = []  # (-offset, slope added there), the largest offset first
    lowest = []
    for target, start, w in zip(wanted, starts, weights, strict=True):
        heapq.heappush(bends, (start - target, 2.0 * w))
        left = w  # the slope past the last bend, cut off from the right
        while left > 0:
            offset, rise = bends[0]
            if rise <= left:
                heapq.heappop(bends)
                left -= rise
            else:
                heapq.heapreplace(bends, (offset, rise - left))
                left = 0
        lowest.append(-bends[0][0])
    for i in range(len(lowest) - 2, -1, -1):
        lowest[i] = min(lowest[i], lowest[i + 1])
    return [o + s for o, s in zip(lowest, starts, strict=True)]
