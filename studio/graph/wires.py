"""The path of a wire on the canvas: a curve between two ports, or, where that would cross cards, a lane beside them.

Geometry only (no Qt), so the layout's tests and benchmarks measure the wires the canvas draws.
A wire is a cubic with level ends from an output port to an input port. Where that curve would
pass over a card (a skip connection along a straight main chain), it turns within `TURN` of each
end into a level lane clear of every card it passes (`CLEARANCE` away), the lane nearest to its
two ends; the layout keeps such lanes free. A wire running back to the left (a network wrapped
into bands) returns along the level nearest the middle of its ends that clears the cards.
"""

from __future__ import annotations

import bisect
import itertools

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # left, top, right, bottom

TURN = 56.0  # the room a wire takes to turn into or out of its lane, within the gap between two columns
CLEARANCE = 14.0  # between a lane and the cards it passes
GRAZE = 6.0  # a plain curve passing closer than this above or below a card takes a lane instead
SAMPLES = 24  # points a curve is checked at


def curve(start: Point, end: Point) -> tuple[Point, Point, Point, Point]:
    """The control points of the plain wire: level tangents, reaching further the longer the wire."""
    (x0, y0), (x3, y3) = start, end
    reach = max(40.0, abs(x3 - x0) * 0.5, min(abs(y3 - y0), 160.0) * 0.6)
    return start, (x0 + reach, y0), (x3 - reach, y3), end


def _weights(samples: int) -> list[tuple[float, float, float, float]]:
    """The cubic's four Bernstein weights at each of `samples` + 1 even steps."""
    return [((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3) for t in (i / samples for i in range(samples + 1))]


_WEIGHTS = _weights(SAMPLES)


def curve_points(start: Point, end: Point, samples: int = SAMPLES) -> list[Point]:
    """The plain wire as a polyline of `samples` + 1 points."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve(start, end)
    return [(a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3) for a, b, c, d in (_WEIGHTS if samples == SAMPLES else _weights(samples))]


def _crosses(a: Point, b: Point, box: Box) -> bool:
    """Whether the segment from `a` to `b` passes through the inside of a box (Liang-Barsky clipping)."""
    low, high = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0] - box[0]), (dx, box[2] - a[0]), (-dy, a[1] - box[1]), (dy, box[3] - a[1])):
        if p == 0:
            if q <= 0:
                return False
        elif p < 0:
            low = max(low, q / p)
        else:
            high = min(high, q / p)
    return low < high


def _meets(left: float, right: float, low: float, high: float, box: Box) -> bool:
    """Whether the rectangle [left, right] x [low, high] and a card, kept `CLEARANCE` off, touch."""
    return box[0] < right and left < box[2] and box[1] - CLEARANCE < high and low < box[3] + CLEARANCE


def lane(start: Point, end: Point, boxes: list[Box]) -> float | None:
    """The height of the lane a wire from `start` to `end` takes past `boxes` (cards other than its own ends); None: the plain curve is clear.

    Also None for a wire too short to turn twice, one running right to left, and one no lane clears.
    """
    (x0, y0), (x3, y3) = start, end
    points = curve_points(start, end)
    near = [(left, top - GRAZE, right, bottom + GRAZE) for left, top, right, bottom in boxes]
    if x3 - x0 < 2 * TURN or not _polyline_crosses(points, near):
        return None
    ahead = [box for box in boxes if box[0] < x3 and box[2] > x0]
    candidates = {y0, y3, *(box[1] - CLEARANCE for box in ahead), *(box[3] + CLEARANCE for box in ahead)}

    def clear(y: float) -> bool:
        spans = ((x0, x0 + TURN, min(y0, y), max(y0, y)), (x0 + TURN, x3 - TURN, y, y), (x3 - TURN, x3, min(y3, y), max(y3, y)))
        return not any(_meets(*span, box) for span in spans for box in ahead)

    return next((y for y in sorted(candidates, key=lambda y: (abs(y - y0) + abs(y - y3), y)) if clear(y)), None)


def _polyline_crosses(points: list[Point], boxes: list[Box]) -> bool:
    """Whether any segment of the polyline passes through the inside of any box; where x never falls along it, only the segments over each box's x-range (of boxes within its height) are tried."""
    xs = [x for x, _ in points]
    if any(b < a for a, b in itertools.pairwise(xs)):
        return any(_crosses(a, b, box) for a, b in itertools.pairwise(points) for box in boxes)
    last = len(points) - 1
    top, bottom = min(y for _, y in points), max(y for _, y in points)
    for box in boxes:  # a segment wholly left or right of a box, or above or below it, cannot pass through it
        if box[3] <= top or box[1] >= bottom:
            continue
        for i in range(max(bisect.bisect_right(xs, box[0]) - 1, 0), min(bisect.bisect_left(xs, box[2]), last)):
            if _crosses(points[i], points[i + 1], box):
                return True
    return False


def return_lane(start: Point, end: Point, boxes: list[Box], reach: float, others: list[tuple[Point, Point]] = ()) -> float:  # type: ignore[assignment]
    """The height of the way back of a wire running right to left (a wrap from one band to the next).

    Level and clear of `boxes` from `reach` left of its end to `reach` right of its start; of
    those heights, the one the fewest `others` (the ends of the wires nearby) run across, then
    the one nearest the middle between its ends; the middle itself where nothing is clear.
    """
    (x0, y0), (x3, y3) = start, end
    low, high = sorted((y0, y3))
    middle = (y0 + y3) / 2
    ahead = [box for box in boxes if box[0] < x0 + reach and box[2] > x3 - reach]
    blocked = _merged(sorted((box[1] - CLEARANCE, box[3] + CLEARANCE) for box in ahead))
    tops = [top for top, _ in blocked]
    candidates = {middle, *(top for top, _ in blocked), *(bottom for _, bottom in blocked)}

    def clear(y: float) -> bool:
        i = bisect.bisect_right(tops, y) - 1
        return i < 0 or not (blocked[i][0] < y < blocked[i][1])

    free = [y for y in candidates if low < y < high and clear(y)]
    beside = [(min(a[1], b[1]), max(a[1], b[1])) for a, b in others if x3 - reach < min(a[0], b[0]) and max(a[0], b[0]) < x0 + reach and a[1] != b[1]]
    tops, bottoms = sorted(top for top, _ in beside), sorted(bottom for _, bottom in beside)

    def crossed(y: float) -> int:
        """How many of the wires beside run across the level y (from above it to below it): those starting above, less those ending by it."""
        return bisect.bisect_left(tops, y) - bisect.bisect_right(bottoms, y)

    return min(free, key=lambda y: (crossed(y), abs(y - middle), y)) if free else middle


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, overlapping spans joined into one."""
    joined: list[tuple[float, float]] = []
    for top, bottom in spans:
        if joined and top <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], bottom))
        else:
            joined.append((top, bottom))
    return joined


def lane_points(start: Point, end: Point, y: float) -> tuple[Point, Point]:
    """Where a wire along the lane at `y` enters and leaves it."""
    return (start[0] + TURN, y), (end[0] - TURN, y)
