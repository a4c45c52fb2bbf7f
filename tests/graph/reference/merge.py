"""PyTorch references for the merge layers."""

import torch
from hypothesis import strategies as st

from tests.graph.reference import Case, Lambda, small


@st.composite
def _several(draw, n: int, dim: int | None = None) -> list[tuple[int, ...]]:
    """n per-sample shapes that mostly agree (except along `dim`, when given), sometimes not."""
    base = tuple(draw(st.lists(small(1, 4), min_size=1, max_size=3)))
    axis = dim % (len(base) + 1) if dim is not None and -len(base) - 1 <= dim <= len(base) else None
    shapes = []
    for _ in range(n):
        shape = list(base)
        kind = draw(st.integers(0, 5))
        if kind == 4:  # one dimension differs (sometimes a 1, which PyTorch broadcasts)
            i = draw(st.integers(0, len(shape) - 1))
            shape[i] = draw(st.sampled_from([1, shape[i] + 1]))
        elif kind == 5:  # one dimension more or fewer
            shape = shape[:-1] if len(shape) > 1 and draw(st.booleans()) else [*shape, draw(small(1, 3))]
        elif axis:  # concatenation: the joined dimension is free
            shape[axis - 1] = draw(small(1, 4))
        shapes.append(tuple(shape))
    return shapes


def _ranks_differ(p, s) -> bool:
    # Inputs of different ranks are refused, though PyTorch lines them up from the right: there
    # the batch would meet another input's dimension, which would mix samples.
    try:
        torch.broadcast_shapes(*[(2, *shape) for shape in s])  # every input shares the batch
    except RuntimeError:
        return False
    return len({len(x) for x in s}) > 1


def _elementwise(fn) -> Case:
    def combine(m, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return out

    return Case(
        inputs=lambda p: _several(p.get("num_inputs", 2)),
        params={"num_inputs": st.integers(2, 5)},
        stricter=_ranks_differ,
        build=lambda p, s: Lambda(combine),
    )


def _over_batch(p, s) -> bool:
    # Concatenating along the batch changes the number of samples; the editor's batch is
    # symbolic, so the catalogue refuses it, though PyTorch would run it.
    rank = len(s[0]) + 1
    return -rank <= p["dim"] < rank and p["dim"] % rank == 0 and len({len(x) for x in s}) == 1


CASES = {
    "Add": _elementwise(torch.add),
    "Multiply": _elementwise(torch.mul),
    "Maximum": _elementwise(torch.maximum),
    "Subtract": _elementwise(torch.sub),
    "Divide": _elementwise(torch.div),
    "Minimum": _elementwise(torch.minimum),
    "Concat": Case(
        inputs=lambda p: _several(p["num_inputs"], p["dim"]),
        params={"num_inputs": st.integers(2, 5), "dim": st.integers(-4, 4)},
        stricter=_over_batch,
        build=lambda p, s: Lambda(lambda m, *xs: torch.cat(xs, dim=p["dim"])),
    ),
}
