"""Wires as polylines, their crossings and the cards they pass over: the layout's quality, measured as a person sees it."""

from __future__ import annotations

import itertools

from studio.graph import wires
from studio.graph.layout import CARD_WIDTH, PORT_LINE, card_height, input_port_y
from studio.graph.model import Graph, Position

Point = tuple[float, float]
SHARED_END = 14.0  # around a port two wires share, where they meet rather than cross


def card_boxes(graph: Graph, positions: dict[str, Position]) -> dict[str, wires.Box]:
    """Each card's box at these positions, as wide as the widest card."""
    return {n: (x, y, x + CARD_WIDTH, y + card_height(graph, n)) for n, (x, y) in positions.items()}


def drawn(graph: Graph, positions: dict[str, Position]) -> list[list[Point]]:
    """Every wire as the canvas draws it (its lane's turns as straight slants), for cards as wide as the widest."""
    boxes = card_boxes(graph, positions)
    lines = []
    for edge in graph.edges:
        (x0, y0), (x3, y3) = positions[edge.src], positions[edge.dst]
        start, end = (x0 + CARD_WIDTH, y0 + PORT_LINE), (x3, y3 + input_port_y(graph, edge.dst, edge.dst_port))
        lane = wires.lane(start, end, [b for n, b in boxes.items() if n not in (edge.src, edge.dst)])
        lines.append([start, *wires.lane_points(start, end, lane), end] if lane is not None else wires.curve_points(start, end))
    return lines


def _cross(p: Point, p2: Point, q: Point, q2: Point) -> Point | None:
    r, s = (p2[0] - p[0], p2[1] - p[1]), (q2[0] - q[0], q2[1] - q[1])
    denom = r[0] * s[1] - r[1] * s[0]
    if abs(denom) < 1e-9:
        return None
    t = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / denom
    u = ((q[0] - p[0]) * r[1] - (q[1] - p[1]) * r[0]) / denom
    return (p[0] + t * r[0], p[1] + t * r[1]) if 0 < t < 1 and 0 < u < 1 else None


def crossings(lines: list[list[Point]]) -> int:
    """Points where two wires cross, leaving out the ends they share."""
    total = 0
    for a, b in itertools.combinations(lines, 2):
        shared = [e for e in (a[0], a[-1]) if any(abs(e[0] - o[0]) + abs(e[1] - o[1]) < 1.0 for o in (b[0], b[-1]))]
        for p, p2 in itertools.pairwise(a):
            for q, q2 in itertools.pairwise(b):
                point = _cross(p, p2, q, q2)
                if point and all(abs(point[0] - e[0]) + abs(point[1] - e[1]) > SHARED_END for e in shared):
                    total += 1
    return total


def over_cards(line: list[Point], boxes: list[wires.Box]) -> bool:
    """Whether a wire's points or segments pass over any of these cards (less the ports' reach at their sides)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(line):
        for left, top, right, bottom in boxes:
            left, right = left + 12, right - 12
            for k in range(9):
                x, y = x0 + (x1 - x0) * k / 8, y0 + (y1 - y0) * k / 8
                if left < x < right and top < y < bottom:
                    return True
    return False
