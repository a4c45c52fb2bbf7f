"""Two module structures that differ only by layers one of them leaves out (a bottleneck without its projected shortcut).

A module's structure is its units' kinds in order and its wiring: edges (source, port,
destination, port) whose ends are `("in", i)`, `("unit", i)` or `("out", j)`. The smaller
structure is a variant of the larger when leaving some units of the larger out, each passing
its first input through (as a block's switched-off layer does, `Exposed.switches`), gives
exactly the smaller one; one block then serves both, with a switch.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import combinations
from typing import Any

MOST_LEFT_OUT = 3  # units one variant may leave out
Edge = tuple[Any, str, Any, str]


def left_out(
    larger: Sequence[Hashable], larger_wiring: Sequence[Edge], smaller: Sequence[Hashable], smaller_wiring: Sequence[Edge], first_ports: Sequence[str | None]
) -> tuple[int, ...] | None:
    """The positions of the larger structure's units that, left out, give the smaller one; None when no such set exists.

    `first_ports` holds each larger unit's first input port (None for a unit of no inputs, which
    cannot be switched off).
    """
    count = len(larger) - len(smaller)
    if not 1 <= count <= MOST_LEFT_OUT:
        return None
    wanted = sorted(smaller_wiring, key=repr)
    for removed in combinations(range(len(larger)), count):
        if any(first_ports[r] is None for r in removed):
            continue
        if [k for i, k in enumerate(larger) if i not in removed] != list(smaller):
            continue
        reduced = _bypassed(larger_wiring, set(removed), first_ports)
        if reduced is not None and sorted(reduced, key=repr) == wanted:
            return removed
    return None


def _bypassed(wiring: Sequence[Edge], removed: set[int], first_ports: Sequence[str | None]) -> list[Edge] | None:
    """The wiring with the `removed` units passing their first input through, renumbered; None where one has no first input."""
    feed = {dst[1]: (src, port) for src, port, dst, dst_port in wiring if dst[0] == "unit" and dst[1] in removed and dst_port == first_ports[dst[1]]}
    if set(feed) != removed:
        return None

    def renumbered(end: Any) -> Any:
        return ("unit", end[1] - sum(1 for r in removed if r < end[1])) if end[0] == "unit" else end

    edges = set()
    for src, port, dst, dst_port in wiring:
        if dst[0] == "unit" and dst[1] in removed:
            continue
        seen = 0
        while src[0] == "unit" and src[1] in removed and seen <= len(removed):
            src, port = feed[src[1]]
            seen += 1
        if src[0] == "unit" and src[1] in removed:
            return None
        edges.add((renumbered(src), port, renumbered(dst), dst_port))
    return list(edges)
