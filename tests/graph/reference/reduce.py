"""PyTorch references for the reductions."""

import torch
from hypothesis import strategies as st

from tests.graph.reference import Case, Lambda, small


def _rank(low: int = 1, high: int = 4) -> st.SearchStrategy:
    return st.integers(low, high).flatmap(lambda r: st.tuples(*[small(1, 5)] * r).map(lambda t: [tuple(t)]))


DIMS = st.lists(st.integers(-5, 5), min_size=1, max_size=3).map(tuple)


def _names_the_batch(p, s) -> bool:
    # Reducing along the batch mixes samples; the catalogue refuses it though PyTorch would run it.
    rank = len(s[0]) + 1
    dims = p["dims"] if "dims" in p else (p["dim"],)
    return any(-rank <= d < rank and d % rank == 0 for d in dims)


def _reduction(fn) -> Case:
    return Case(
        inputs=lambda p: _rank(),
        params={"dims": DIMS},
        stricter=_names_the_batch,
        build=lambda p, s: Lambda(lambda m, x: fn(x, p["dims"], p["keepdim"])),
    )


def _prod(x, dims, keep):
    # torch.prod takes one dimension at a time: the last first, so the others keep their numbers
    # (counted in the input; a dimension out of range stays as it is, for torch to refuse).
    rank = x.dim()
    for d in sorted((d % rank if -rank <= d < rank else d for d in dims), reverse=True):
        x = torch.prod(x, d, keepdim=keep)
    return x


def _twice(p, s) -> bool:
    # A dimension named twice (2 and -1 of a 3-D input) is refused here: torch's own rule varies by function.
    rank = len(s[0]) + 1
    inside = [d % rank for d in p["dims"] if -rank <= d < rank]
    return len(set(inside)) < len(inside) or _names_the_batch(p, s)


def _stricter_reduction(fn) -> Case:
    case = _reduction(fn)
    case.stricter = _twice
    return case


def _search(fn) -> Case:
    return Case(
        inputs=lambda p: _rank(),
        params={"dim": st.integers(-5, 5)},
        stricter=_names_the_batch,
        build=lambda p, s: Lambda(lambda m, x: fn(x, dim=p["dim"], keepdim=p["keepdim"])),
    )


CASES = {
    "ReduceMean": _stricter_reduction(lambda x, d, k: torch.mean(x, dim=d, keepdim=k)),
    "ReduceSum": _stricter_reduction(lambda x, d, k: torch.sum(x, dim=d, keepdim=k)),
    "ReduceMax": _stricter_reduction(lambda x, d, k: torch.amax(x, dim=d, keepdim=k)),
    "ReduceMin": _stricter_reduction(lambda x, d, k: torch.amin(x, dim=d, keepdim=k)),
    "ReduceProd": _stricter_reduction(_prod),
    "LogSumExp": _stricter_reduction(lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k)),
    "Norm": Case(
        inputs=lambda p: _rank(),
        params={"dims": DIMS, "p": st.sampled_from([1.0, 2.0, 3.0, 1.5])},
        stricter=_twice,
        build=lambda p, s: Lambda(lambda m, x: torch.linalg.vector_norm(x, ord=p["p"], dim=p["dims"], keepdim=p["keepdim"])),
    ),
    "ArgMax": _search(torch.argmax),
    "ArgMin": _search(torch.argmin),
    "Normalize": Case(
        inputs=lambda p: _rank(),
        params={"dim": st.integers(-5, 5)},
        stricter=_names_the_batch,
        build=lambda p, s: Lambda(lambda m, x: torch.nn.functional.normalize(x, p=p["p"], dim=p["dim"], eps=p["eps"])),
    ),
}
