"""The cards and wire ends of a scene in a grid of cells, so every wire can be re-routed at once without asking the scene.

NOTE: a grid, not a list sorted left to right: a network wrapped into bands, or laid out in tall
columns, puts hundreds of cards under one stretch of x, and a wire would look at each of them.
A cell holds what meets it; a query looks only at the cells its box meets (all of them at most once).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from studio.graph.wires import GRAZE, TURN, Box, Point
from studio.ui.canvas.items import BACKWARD_TURN, LANE_REACH, EdgeItem, NodeItem

CELL = 512.0  # a cell's side in scene units: about two columns of cards, four rows


class _Grid:
    """Boxes (left, top, right, bottom) by the cells they meet; a query returns the indices of those that may meet a box, in index order."""

    def __init__(self, boxes: list[Box]) -> None:
        self.count = len(boxes)
        self._cells: dict[tuple[int, int], list[int]] = {}
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            for cx in range(_cell(x0), _cell(x1) + 1):
                for cy in range(_cell(y0), _cell(y1) + 1):
                    self._cells.setdefault((cx, cy), []).append(i)

    def near(self, left: float, top: float, right: float, bottom: float) -> list[int]:
        x0, x1, y0, y1 = _cell(left), _cell(right), _cell(top), _cell(bottom)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > max(len(self._cells), 1):  # a box wider than the grid: every box
            return list(range(self.count))
        cells = self._cells
        if x0 == x1 and y0 == y1:
            return cells.get((x0, y0), [])  # one cell: already in index order, each once
        found: list[int] = []
        for cx in range(x0, x1 + 1):
            for cy in range(y0, y1 + 1):
                found += cells.get((cx, cy), ())
        return sorted(set(found))


def _cell(value: float) -> int:
    return math.floor(value / CELL)


class WireIndex:
    """What lies near a wire: the cards (not its own two) in its way and, for a wire wrapping back, the other wires' ends."""

    def __init__(self, nodes: Iterable[NodeItem], edges: Iterable[EdgeItem]) -> None:
        cards = sorted((((n.x(), n.y(), n.x() + n.width, n.y() + n.height), n) for n in nodes), key=lambda card: card[0][0])
        self._cards = cards
        self._grid = _Grid([box for box, _ in cards])
        self._edges = list(edges)
        self._ends: list[tuple[float, float, float, float, EdgeItem, Point, Point]] | None = None
        self._end_grid: _Grid | None = None

    def __call__(self, wire: EdgeItem, x0: float, y0: float, x3: float, y3: float) -> tuple[list[Box], list[tuple[Point, Point]]]:
        if abs(x3 - x0) < 2 * TURN:
            return [], []
        back = x3 < x0
        if not back and not self._in_way(wire, x0, min(y0, y3) - GRAZE, x3, max(y0, y3) + GRAZE):
            return [], []  # the plain curve stays inside its ends' box: nothing there, nothing to go round (as `EdgeItem._around`)
        left, right = (x3 - 2 * BACKWARD_TURN, x0 + 2 * BACKWARD_TURN) if back else (x0, x3)
        low, high = (min(y0, y3), max(y0, y3)) if back else (min(y0, y3) - LANE_REACH, max(y0, y3) + LANE_REACH)
        found = [box for box, item in map(self._cards.__getitem__, self._grid.near(left, low, right, high)) if box[0] < right and box[2] > left and box[3] > low and box[1] < high and item is not wire.source and item is not wire.target]
        if not back:
            return found, []
        # NOTE: the way back (`wires.return_lane`) weighs only the heights the cards between its turns block, and every card
        # found here lies between them: one card per height span gives the same level, from a band of thousands a few hundred
        cards = list({(box[1], box[3]): box for box in found}.values())
        ends, grid = self._wire_ends()
        others = []
        for i in grid.near(left, low, right, high):  # wires wholly between its turns, beside its ends
            end_left, end_right, top, bottom, other, a, b = ends[i]
            if end_left >= left and end_right < right and bottom > low and top < high and other is not wire:
                others.append((a, b))
        return cards, others

    def _in_way(self, wire: EdgeItem, left: float, top: float, right: float, bottom: float) -> bool:
        """Whether a card other than the wire's own two meets this box."""
        for i in self._grid.near(left, top, right, bottom):
            box, item = self._cards[i]
            if box[0] < right and box[2] > left and box[3] > top and box[1] < bottom and item is not wire.source and item is not wire.target:
                return True
        return False

    def has_card(self, left: float, top: float, right: float, bottom: float) -> bool:
        """Whether any card (a wire's own two included) meets this box: where a wire's label may not sit."""
        for i in self._grid.near(left, top, right, bottom):
            x0, y0, x1, y1 = self._cards[i][0]
            if x0 < right and x1 > left and y0 < bottom and y1 > top:
                return True
        return False

    def _wire_ends(self) -> tuple[list[tuple[float, float, float, float, EdgeItem, Point, Point]], _Grid]:
        """Every wire's left and right end, top, bottom, item and two ends, in the order of their left ends, and their grid."""
        if self._ends is None or self._end_grid is None:
            ends = []
            for e in self._edges:
                (ax, ay), (bx, by) = e.source.port_xy(e.edge.src_port, True), e.target.port_xy(e.edge.dst_port, False)
                ends.append((min(ax, bx), max(ax, bx), min(ay, by), max(ay, by), e, (ax, ay), (bx, by)))
            ends.sort(key=lambda end: end[0])
            self._ends = ends
            self._end_grid = _Grid([(x0, y0, x1, y1) for x0, x1, y0, y1, *_ in ends])
        return self._ends, self._end_grid
