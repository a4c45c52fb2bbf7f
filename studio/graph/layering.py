"""The steps of a layered (Sugiyama) drawing: columns by depth, a main chain, stand-ins for long wires, crossing reduction, rows.

NOTE: rows are counted in slots of half a row (`SLOT`), so a wire's stand-in takes less room
than a card. The main chain, the longest path through the network, is held on slot 0: it reads
as one straight line, and branches and skip connections sit above or below it, never across.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import networkx as nx

SWEEPS = 12  # crossing-reduction sweeps, alternating right and left; the best ordering is kept
PLACEMENT_PASSES = 8  # row-placement passes, alternating right and left, before a last two-sided one
CHAIN_WEIGHT = 1e6  # the main chain does not move off its row
STAND_IN_WEIGHT = 8.0  # a long wire stays straight before a layer leans towards its neighbours
PORT_SPREAD = 0.4  # how far (in order places) a node's input ports pull its sources apart


@dataclass
class Layers:
    """An acyclic network cut into columns, with stand-ins for the wires that skip columns."""

    g: nx.DiGraph
    depth: dict[Hashable, int]
    chain: list[Hashable]
    port_offset: dict[tuple[Hashable, Hashable], float] = field(default_factory=dict)
    columns: dict[int, list[Hashable]] = field(default_factory=dict)


def acyclic(edges: Sequence[tuple[str, str, float]], nodes: Sequence[str]) -> tuple[nx.DiGraph, dict[tuple[str, str], float]]:
    """The network as a simple digraph with its cycles broken, and each edge's input-port offset (-0.5 to 0.5)."""
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    offsets: dict[tuple[str, str], float] = {}
    for src, dst, offset in edges:
        if src != dst and not g.has_edge(src, dst):
            g.add_edge(src, dst)
            offsets[(src, dst)] = offset
    while not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        g.remove_edge(*cycle[-1][:2])
    return g, offsets


def depths(g: nx.DiGraph) -> dict[Hashable, int]:
    """A column per node: one right of its deepest predecessor; a source moved up to just before its first consumer."""
    depth: dict[Hashable, int] = {}
    pred, succ = g._pred, g._succ  # the adjacency dicts themselves: a view per node costs more than the walk
    order = _topological(g)
    for node in order:
        depth[node] = max([depth[p] for p in pred[node]], default=-1) + 1
    for node in order:
        if not pred[node] and succ[node]:
            depth[node] = min(depth[s] for s in succ[node]) - 1
    return depth


def _topological(g: nx.DiGraph) -> list[Hashable]:
    """The nodes of an acyclic graph in topological order, the earliest added first wherever there is a choice."""
    index = {n: i for i, n in enumerate(g)}
    nodes = list(index)
    waiting = {n: len(g._pred[n]) for n in nodes}
    ready = [index[n] for n in nodes if not waiting[n]]
    order = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for succ in g._succ[node]:
            waiting[succ] -= 1
            if not waiting[succ]:
                heapq.heappush(ready, index[succ])
    return order


def main_chain(g: nx.DiGraph, depth: dict[Hashable, int]) -> list[Hashable]:
    """The longest path (one node in each column), ending at the deepest node; ties go to the longer way in, then the node added first."""
    if not depth:
        return []
    index = {n: i for i, n in enumerate(g)}
    pred = g._pred
    longest: dict[Hashable, int] = {}
    for node in _topological(g):
        longest[node] = max([longest[p] for p in pred[node]], default=-1) + 1
    end = min(depth, key=lambda n: (-depth[n], -longest[n], index[n]))
    chain = [end]
    while True:
        before = [p for p in pred[chain[-1]] if depth[p] == depth[chain[-1]] - 1]
        if not before:
            break
        chain.append(min(before, key=lambda p: (-longest[p], index[p])))
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


def order(layers: Layers) -> None:
    """Order each column to keep crossings few: barycentre sweeps right and left, keeping the best ordering seen."""
    g, columns = layers.g, layers.columns
    ordered = sorted(columns)
    best = {c: list(m) for c, m in columns.items()}
    best_count = crossings(g, columns, layers.port_offset)
    for sweep in range(SWEEPS):
        if best_count == 0:
            break
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


def crossings(g: nx.DiGraph, columns: dict[int, list[Hashable]], port_offset: dict[tuple[Hashable, Hashable], float] | None = None) -> int:
    """How many pairs of edges between neighbouring columns cross (two into one card cross where their sources and ports disagree)."""
    place = {n: i for col in columns.values() for i, n in enumerate(col)}
    offset = port_offset or {}
    total = 0
    for members in columns.values():
        pairs = sorted((place[a], place[b] + PORT_SPREAD * offset.get((a, b), 0.0)) for a in members for b in g.successors(a) if b in place)
        for (a1, b1), (a2, b2) in itertools.combinations(pairs, 2):
            if a1 != a2 and b1 != b2 and (a1 < a2) != (b1 < b2):
                total += 1
    return total


def slots(layers: Layers, extent: Callable[[Hashable], tuple[int, int]]) -> dict[Hashable, int]:
    """A row (in slots) for every node: the main chain on slot 0, the others as near their neighbours as their column's order allows.

    `extent` gives the slots a node takes above and below its own. Each pass sets a column's
    nodes as close as it can (weighted L1) to the median slot of their neighbours on one side,
    keeping the column's order and room for every card.
    """
    g, columns = layers.g, layers.columns
    chain = set(layers.chain)
    size = {n: extent(n) for members in columns.values() for n in members}
    before = {n: list(g.predecessors(n)) for n in size}
    after = {n: list(g.successors(n)) for n in size}
    slot: dict[Hashable, int] = {}
    for members in columns.values():
        total = 0
        for n in members:
            slot[n] = total + size[n][0]
            total += sum(size[n])
        pinned = next((slot[n] for n in members if n in chain), 0)
        for n in members:
            slot[n] -= pinned
    weight = {n: CHAIN_WEIGHT if n in chain else STAND_IN_WEIGHT if isinstance(n, tuple) else 1.0 for n in slot}
    gaps = {col: [size[a][1] + size[b][0] for a, b in itertools.pairwise(members)] for col, members in columns.items()}
    ordered = sorted(columns)
    step = 0
    while step <= PLACEMENT_PASSES:
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
    `slot - start` must not decrease; pooling adjacent violators, each pool sits at its
    weighted median (`_Pool`, the smaller pool poured into the larger).
    """
    starts = list(itertools.accumulate([0, *gaps]))
    pools: list[_Pool] = []
    for target, start, w in zip(wanted, starts, weights, strict=True):
        pool = _Pool(target - start, w)
        while pools and pools[-1].median() > pool.median():
            pool = pools.pop().merged(pool)
        pools.append(pool)
    offsets = [pool.median() for pool in pools for _ in range(pool.size)]
    return [o + s for o, s in zip(offsets, starts, strict=True)]


class _Pool:
    """Weighted values whose weighted median (the least value with at least half the weight at or below it) is kept in two heaps."""

    def __init__(self, value: int, weight: float) -> None:
        self.low: list[tuple[int, float]] = [(-value, weight)]  # a max-heap: the values up to the median
        self.high: list[tuple[int, float]] = []  # a min-heap: the values above it
        self.low_weight, self.total, self.size = weight, weight, 1

    def median(self) -> int:
        return -self.low[0][0]

    def merged(self, other: _Pool) -> _Pool:
        big, small = (self, other) if self.size >= other.size else (other, self)
        for negated, w in small.low:
            big._add(-negated, w)
        for value, w in small.high:
            big._add(value, w)
        return big

    def _add(self, value: int, weight: float) -> None:
        self.size += 1
        self.total += weight
        if value <= self.median():
            heapq.heappush(self.low, (-value, weight))
            self.low_weight += weight
        else:
            heapq.heappush(self.high, (value, weight))
        half = self.total / 2
        while self.low_weight - self.low[0][1] >= half:  # the median's own weight is not needed to reach half
            negated, w = heapq.heappop(self.low)
            self.low_weight -= w
            heapq.heappush(self.high, (-negated, w))
        while self.low_weight < half:
            value, w = heapq.heappop(self.high)
            self.low_weight += w
            heapq.heappush(self.low, (-value, w))
