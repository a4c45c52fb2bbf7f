"""The way back of a wrapping wire: the level chosen counts the wires it runs across as a pass over each of them would."""

from __future__ import annotations

import random

from studio.graph.wires import CLEARANCE, return_lane


def _by_hand(start, end, boxes, reach, others):
    """`return_lane` as first written: every free level weighed by a pass over every wire beside it."""
    from studio.graph.wires import _merged

    (x0, y0), (x3, y3) = start, end
    low, high = sorted((y0, y3))
    middle = (y0 + y3) / 2
    ahead = [b for b in boxes if b[0] < x0 + reach and b[2] > x3 - reach]
    blocked = _merged(sorted((b[1] - CLEARANCE, b[3] + CLEARANCE) for b in ahead))
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
