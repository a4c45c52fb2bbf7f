"""Wire geometry against plain passes: the way back of a wrapping wire counts the wires it runs across, a curve meets the cards in its way."""

from __future__ import annotations

import itertools
import random

from studio.graph import wires
from studio.graph.wires import CLEARANCE, GRAZE, TURN, curve_points, return_lane


def _by_hand(start, end, boxes, reach, others):
    """`return_lane` as first written: every free level weighed by a pass over every wire beside it."""
    (x0, y0), (x3, y3) = start, end
    low, high = sorted((y0, y3))
    middle = (y0 + y3) / 2
    ahead = [b for b in boxes if b[0] < x0 + reach and b[2] > x3 - reach]
    blocked = wires._merged(sorted((b[1] - CLEARANCE, b[3] + CLEARANCE) for b in ahead))
    candidates = {middle, *(t for t, _ in blocked), *(b for _, b in blocked)}
    free = [y for y in candidates if low < y < high and not any(t < y < b for t, b in blocked)]
    beside = [(a[1], b[1]) for a, b in others if x3 - reach < min(a[0], b[0]) and max(a[0], b[0]) < x0 + reach]
    return min(free, key=lambda y: (sum(1 for ya, yb in beside if (ya - y) * (yb - y) < 0), abs(y - middle), y)) if free else middle


def test_the_level_back_matches_a_pass_over_every_wire_beside_it() -> None:
    rng = random.Random(19)
    for _ in range(400):
        start, end = (rng.uniform(800, 1200), rng.uniform(0, 200)), (rng.uniform(0, 300), rng.uniform(300, 900))
        grid = [float(rng.randrange(0, 1000, 20)) for _ in range(40)]  # shared heights: wires ending on a level, levels on card edges
        boxes = []
        for _ in range(rng.randrange(0, 12)):
            x, y = rng.uniform(-100, 1300), rng.choice(grid)
            boxes.append((x, y, x + 128.0, y + rng.choice((61.0, 78.0))))
        levels = grid + [(start[1] + end[1]) / 2] + [b[1] - CLEARANCE for b in boxes] + [b[3] + CLEARANCE for b in boxes]  # ends on the levels tried too
        others = [((rng.uniform(-100, 1300), rng.choice(levels)), (rng.uniform(-100, 1300), rng.choice(levels))) for _ in range(rng.randrange(0, 60))]
        others += [((100.0, y), (600.0, y)) for y in rng.sample(levels, 3)]  # level wires cross nothing
        assert return_lane(start, end, boxes, 72.0, others) == _by_hand(start, end, boxes, 72.0, others)



def test_a_lane_is_taken_exactly_where_a_pass_over_every_segment_finds_a_card_in_the_way() -> None:
    rng = random.Random(12)
    crossed = 0
    for _ in range(3000):
        start = (rng.uniform(0, 400), rng.uniform(0, 600))
        end = (start[0] + rng.uniform(2 * TURN - 20, 900), rng.uniform(0, 600))
        boxes = []
        for _ in range(rng.randrange(0, 6)):
            x, y = rng.uniform(start[0] - 150, end[0] + 50), rng.uniform(-100, 700)
            boxes.append((x, y - GRAZE, x + rng.choice((128.0, 160.0, 5.0)), y + rng.choice((61.0, 78.0, 2.0)) + GRAZE))
        points = curve_points(start, end)
        for px, py in rng.sample(points, 2):  # a box's side on one of the polyline's own x, beside it or across it
            top = py + rng.uniform(-30, 10)
            boxes.append((px, top, px + 30.0, top + 20.0) if rng.random() < 0.5 else (px - 30.0, top, px, top + 20.0))
        low, high = min(start[1], end[1]), max(start[1], end[1])
        boxes += [(start[0] + 20.0, low - 30.0, start[0] + 200.0, low), (start[0] + 20.0, high, start[0] + 200.0, high + 30.0)]  # touching its height's ends
        whole = any(wires._crosses(a, b, box) for a, b in itertools.pairwise(points) for box in boxes)
        assert wires._polyline_crosses(points, boxes) == whole
        assert wires._polyline_crosses(points[::-1], boxes) == whole  # x falling: every segment tried
        crossed += whole
    assert 300 < crossed < 2700


def test_the_polyline_of_a_plain_wire_is_the_cubic_at_even_steps() -> None:
    rng = random.Random(5)
    for _ in range(500):
        start, end = (rng.uniform(-5000, 5000), rng.uniform(-5000, 5000)), (rng.uniform(-5000, 5000), rng.uniform(-5000, 5000))
        samples = rng.choice((24, 7))
        p0, p1, p2, p3 = wires.curve(start, end)
        wanted = []
        for i in range(samples + 1):
            t = i / samples
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
            wanted.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
        assert curve_points(start, end, samples) == wanted
