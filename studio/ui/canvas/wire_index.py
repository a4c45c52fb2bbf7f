"""The cards and wire ends of a scene sorted left to right, so every wire can be re-routed at once without asking the scene."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from PySide6.QtCore import QPointF

from studio.graph.wires import TURN, Box, Point
from studio.ui.canvas.items import BACKWARD_TURN, LANE_REACH, EdgeItem, NodeItem


class WireIndex:
    """What lies near a wire: the cards (not its own two) in its way and, for a wire wrapping back, the other wires' ends."""

    def __init__(self, nodes: Iterable[NodeItem], edges: Iterable[EdgeItem]) -> None:
        cards = sorted((((n.x(), n.y(), n.x() + n.width, n.y() + n.height), n) for n in nodes), key=lambda card: card[0])
        self._cards = cards
        self._lefts = [box[0] for box, _ in cards]
        self._widest = max((box[2] - box[0] for box, _ in cards), default=0.0)
        self._edges = list(edges)
        self._ends: list[tuple[float, float, float, EdgeItem, Point, Point]] | None = None
        self._end_lefts: list[float] = []

    def __call__(self, wire: EdgeItem, start: QPointF, end: QPointF) -> tuple[list[Box], list[tuple[Point, Point]]]:
        x0, y0, x3, y3 = start.x(), start.y(), end.x(), end.y()
        if abs(x3 - x0) < 2 * TURN:
            return [], []
        back = x3 < x0
        left, right = (x3 - 2 * BACKWARD_TURN, x0 + 2 * BACKWARD_TURN) if back else (x0, x3)
        low, high = (min(y0, y3), max(y0, y3)) if back else (min(y0, y3) - LANE_REACH, max(y0, y3) + LANE_REACH)
        cards = []
        for i in range(bisect.bisect_left(self._lefts, left - self._widest), bisect.bisect_left(self._lefts, right)):
            box, item = self._cards[i]
            if box[2] > left and box[3] > low and box[1] < high and item is not wire.source and item is not wire.target:
                cards.append(box)
        if not back:
            return cards, []
        ends = self._wire_ends()
        others = []
        for i in range(bisect.bisect_left(self._end_lefts, left), len(ends)):  # wires wholly between its turns, beside its ends
            end_right, top, bottom, other, a, b = ends[i]
            if end_right < right and bottom > low and top < high and other is not wire:
                others.append((a, b))
        return cards, others

    def _wire_ends(self) -> list[tuple[float, float, float, EdgeItem, Point, Point]]:
        """Every wire's right end, top, bottom, item and two ends, in the order of their left ends."""
        if self._ends is None:
            ends = []
            for e in self._edges:
                a = e.source.port_scene_pos(e.edge.src_port, True)
                b = e.target.port_scene_pos(e.edge.dst_port, False)
                (ax, ay), (bx, by) = (a.x(), a.y()), (b.x(), b.y())
                ends.append((min(ax, bx), max(ax, bx), min(ay, by), max(ay, by), e, (ax, ay), (bx, by)))
            ends.sort(key=lambda end: end[0])
            self._end_lefts = [end[0] for end in ends]
            self._ends = [end[1:] for end in ends]
        return self._ends
