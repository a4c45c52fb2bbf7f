"""PyTorch references for the tensor rearrangements and the layers of several pieces."""

import torch
from hypothesis import strategies as st

from tests.graph.reference import Case, Lambda, small


def _rank(low: int = 1, high: int = 4, sizes: st.SearchStrategy[int] | None = None) -> st.SearchStrategy:
    size = sizes if sizes is not None else small(1, 5)
    return st.integers(low, high).flatmap(lambda r: st.tuples(*[size] * r).map(lambda t: [tuple(t)]))


DIMS = st.lists(st.integers(-5, 5), min_size=1, max_size=3).map(tuple)


def _inside(d: int, rank: int) -> bool:
    return -rank <= d < rank


def _on_batch(*keys: str):
    """True when a parameter names the batch: PyTorch runs that, the catalogue refuses it (samples would mix)."""

    def check(p, s) -> bool:
        rank = len(s[0]) + 1
        dims = [d for k in keys for d in (p[k] if isinstance(p[k], tuple) else (p[k],))]
        return any(_inside(d, rank) and d % rank == 0 for d in dims)

    return check


def _twice(p, s, key: str = "dims") -> bool:
    rank = len(s[0]) + 1
    inside = [d % rank for d in p[key] if _inside(d, rank)]
    return len(set(inside)) < len(inside)


def _squeezes_more_than_ones(p, s) -> bool:
    # torch.squeeze leaves a named dimension whose size is not 1 as it is; the catalogue refuses
    # such a dimension, as ONNX and Keras do.
    full = (2, *s[0])
    return any(_inside(d, len(full)) and full[d] != 1 for d in p["dims"])


def _unflatten_inputs(p):
    target = [d for d in p["sizes"] if d != -1]
    total = 1
    for d in target:
        total *= d
    return st.one_of(st.just([(total * 2 if -1 in p["sizes"] else total, 3)]), _rank(1, 3))


def _longer_repeats(p, s) -> bool:
    # PyTorch's repeat adds leading dimensions for extra counts; a layer may not put any before the batch.
    return len(p["repeats"]) > len(s[0])


def _index_select(p, x):
    index = torch.tensor(p["indices"], dtype=torch.int64)
    if p["keepdim"]:
        return torch.index_select(x, p["dim"], index)
    return x.select(p["dim"], p["indices"][0])


def _several_indices_removed(p, s) -> bool:
    # Without keepdim the layer removes the dimension, which only one index can do (as x[:, i]).
    return not p["keepdim"] and len(p["indices"]) != 1


def _cumsum(p, x):
    d = p["dim"]
    summed = x.flip(d).cumsum(d).flip(d) if p["reverse"] else x.cumsum(d)
    return summed - x if p["exclusive"] else summed


def _fewer_chunks(p, s) -> bool:
    # torch.chunk may make fewer pieces than asked for (6 entries in 4 chunks: 3 pieces of 2);
    # a layer's output ports are fixed by its parameters, so the catalogue asks for a count it can make.
    rank = len(s[0]) + 1
    if not _inside(p["dim"], rank) or p["dim"] % rank == 0:
        return _on_batch("dim")(p, s)
    have = s[0][p["dim"] % rank - 1]
    return len(torch.empty(have).chunk(p["chunks"])) != p["chunks"]


@st.composite
def _same_shapes(draw, n: int) -> list[tuple[int, ...]]:
    """n per-sample shapes, mostly equal, sometimes one differing."""
    base = tuple(draw(st.lists(small(1, 4), min_size=1, max_size=3)))
    shapes = [base] * n
    if draw(st.integers(0, 4)) == 0:
        shapes[-1] = (*base[:-1], base[-1] + 1)
    return shapes


CASES = {
    "Squeeze": Case(
        inputs=lambda p: _rank(sizes=small(1, 2)),
        params={"dims": DIMS},
        stricter=_squeezes_more_than_ones,
        build=lambda p, s: Lambda(lambda m, x: x.squeeze(p["dims"])),
    ),
    "Unsqueeze": Case(
        inputs=lambda p: _rank(),
        params={"dim": st.integers(-6, 6)},
        stricter=lambda p, s: _inside(p["dim"], len(s[0]) + 2) and p["dim"] % (len(s[0]) + 2) == 0,
        build=lambda p, s: Lambda(lambda m, x: x.unsqueeze(p["dim"])),
    ),
    "Transpose": Case(
        inputs=lambda p: _rank(),
        params={"dim0": st.integers(-5, 5), "dim1": st.integers(-5, 5)},
        stricter=_on_batch("dim0", "dim1"),
        build=lambda p, s: Lambda(lambda m, x: x.transpose(p["dim0"], p["dim1"])),
    ),
    "Unflatten": Case(
        inputs=_unflatten_inputs,
        params={
            "dim": st.integers(-4, 4),
            "sizes": st.lists(st.sampled_from([-1, 1, 2, 3]), min_size=1, max_size=3).filter(lambda v: v.count(-1) <= 1).map(tuple),
        },
        stricter=_on_batch("dim"),
        build=lambda p, s: Lambda(lambda m, x: x.unflatten(p["dim"], p["sizes"])),
    ),
    "Expand": Case(
        inputs=lambda p: _rank(sizes=small(1, 3)),
        params={"sizes": st.lists(st.sampled_from([-1, 0, 1, 2, 3]), min_size=1, max_size=4).map(tuple)},
        build=lambda p, s: Lambda(lambda m, x: x.expand(-1, *p["sizes"])),
    ),
    "Repeat": Case(
        inputs=lambda p: _rank(1, 3),
        params={"repeats": st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple)},
        stricter=_longer_repeats,
        build=lambda p, s: Lambda(lambda m, x: x.repeat(1, *p["repeats"])),
    ),
    "Flip": Case(
        inputs=lambda p: _rank(),
        params={"dims": DIMS},
        stricter=_on_batch("dims"),
        build=lambda p, s: Lambda(lambda m, x: torch.flip(x, p["dims"])),
    ),
    "Roll": Case(
        inputs=lambda p: _rank(),
        params={"shifts": st.lists(st.integers(-7, 7), min_size=1, max_size=3).map(tuple), "dims": DIMS},
        # torch.roll rolls a dimension named twice twice; the catalogue asks for each once.
        stricter=lambda p, s: _on_batch("dims")(p, s) or _twice(p, s),
        build=lambda p, s: Lambda(lambda m, x: torch.roll(x, p["shifts"], p["dims"])),
    ),
    "IndexSelect": Case(
        inputs=lambda p: _rank(),
        params={"dim": st.integers(-5, 5), "indices": st.lists(st.integers(0, 5), min_size=1, max_size=3).map(tuple)},
        stricter=lambda p, s: _on_batch("dim")(p, s) or _several_indices_removed(p, s),
        device="cpu",  # indices out of range fail only where there is data
        build=lambda p, s: Lambda(lambda m, x: _index_select(p, x)),
    ),
    "Cumsum": Case(
        inputs=lambda p: _rank(),
        params={"dim": st.integers(-5, 5)},
        stricter=_on_batch("dim"),
        build=lambda p, s: Lambda(lambda m, x: _cumsum(p, x)),
    ),
    "Split": Case(
        inputs=lambda p: st.one_of(st.just([(sum(p["sizes"]), 2)]), _rank()),
        params={"dim": st.integers(-3, 3), "sizes": st.lists(st.integers(1, 3), min_size=2, max_size=4).map(tuple)},
        stricter=_on_batch("dim"),
        build=lambda p, s: Lambda(lambda m, x: torch.split(x, list(p["sizes"]), p["dim"])),
    ),
    "Chunk": Case(
        inputs=lambda p: _rank(1, 3, small(1, 8)),
        params={"dim": st.integers(-4, 4), "chunks": st.integers(2, 5)},
        stricter=_fewer_chunks,
        build=lambda p, s: Lambda(lambda m, x: torch.chunk(x, p["chunks"], p["dim"])),
    ),
    "Stack": Case(
        inputs=lambda p: _same_shapes(p["num_inputs"]),
        params={"num_inputs": st.integers(2, 4), "dim": st.integers(-5, 5)},
        stricter=lambda p, s: _inside(p["dim"], len(s[0]) + 2) and p["dim"] % (len(s[0]) + 2) == 0 and len(set(s)) == 1,
        build=lambda p, s: Lambda(lambda m, *xs: torch.stack(xs, p["dim"])),
    ),
}
