"""The layout's band cuts and band width, found in O(n log n) and with pruning, against their definitions computed directly."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.graph.layout import (
    BAND,
    BAND_GAP,
    COLUMN_WIDTH,
    CUT_WIRE,
    _estimated_rows,
    aspect_columns,
    band_starts,
)


def cheapest_cuts(columns: int, limit: int, edges: list[tuple[int, int]]) -> list[int]:
    """`band_starts` by its definition: every start tried for every end, the earliest of the cheapest kept."""
    limit = max(limit, 1)
    if columns <= limit:
        return [0]
    starting = [0] * (columns + 1)
    for a, b in edges:
        if b > a:
            starting[a + 1] += 1
            starting[b + 1] -= 1
    cut = [0.0] + [CUT_WIRE * max(c - 1, 0) + BAND for c in itertools.accumulate(starting)][1:]
    cost, last = [0.0] + [math.inf] * columns, [0] * (columns + 1)
    for end in range(1, columns + 1):
        for start in range(max(0, end - limit), end):
            total = cost[start] + cut[start] + (limit - end + start) ** 2
            if total < cost[end]:
                cost[end], last[end] = total, start
    starts, end = [], columns
    while end > 0:
        end = last[end]
        starts.append(end)
    return starts[::-1]


@st.composite
def networks(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    columns = draw(st.integers(1, 60))
    skips = draw(st.lists(st.tuples(st.integers(0, columns - 1), st.integers(1, 6)), max_size=10))
    edges = [(i, i + 1) for i in range(columns - 1)] + [(a, min(a + d, columns - 1)) for a, d in skips]
    return columns, draw(st.integers(1, 20)), edges


@settings(max_examples=300, deadline=None)
@given(networks())
def test_band_cuts_are_the_cheapest_by_their_definition(network: tuple[int, int, list[tuple[int, int]]]) -> None:
    columns, limit, edges = network
    assert band_starts(columns, limit, edges) == cheapest_cuts(columns, limit, edges)


@given(st.integers(1, 40), st.integers(1, 12), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=30))
def test_band_cuts_for_any_wires_are_the_cheapest_by_their_definition(columns: int, limit: int, pairs) -> None:
    edges = [(min(a, b) % columns, max(a, b) % columns) for a, b in pairs]
    assert band_starts(columns, limit, edges) == cheapest_cuts(columns, limit, edges)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([1, 1, 1, 2, 3, 7]), max_size=70),
    st.lists(st.tuples(st.integers(0, 69), st.integers(2, 5)), max_size=6),
    st.sampled_from([0.5, 1.0, 1.6, 3.0]),
)
def test_the_band_width_for_an_aspect_is_the_best_of_every_width(sizes: list[int], skips: list[tuple[int, int]], aspect: float) -> None:
    spans = [(a, a + d) for a, d in skips if a + d < len(sizes)]
    columns = len(sizes)

    def misfit(per_band: int) -> float:
        rows = _estimated_rows(sizes, spans, per_band)
        height = sum(rows) * 140.0 + (len(rows) - 1) * BAND_GAP
        return abs(math.log(min(per_band, columns) * COLUMN_WIDTH / height / aspect))

    widths = sorted({-(-columns // bands) for bands in range(1, columns + 1)})
    assert aspect_columns(sizes, spans, aspect, 140.0) == (min(widths, key=misfit) if columns else 1)
