"""PyTorch references for the core layers."""

from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, Lambda, small


def _rank(low: int, high: int) -> st.SearchStrategy:
    return st.integers(low, high).flatmap(lambda r: st.tuples(*[small()] * r).map(lambda t: [tuple(t)]))


def _reshape_inputs(p):
    # An input whose element count usually matches the target, sometimes not (to test errors).
    target = [d for d in p["shape"] if d != -1]
    total = 1
    for d in target:
        total *= d
    return st.one_of(st.just([(total * 2 if -1 in p["shape"] else total,)]), _rank(1, 3))


def _along_batch(p, s) -> bool:
    # Slicing the batch changes the number of samples; the catalogue refuses it (the batch is
    # symbolic in the editor), though PyTorch would run it.
    # A slice keeping nothing (length 0 means "to the end", and nothing is left there) is refused too.
    rank = len(s[0]) + 1
    if not -rank <= p["dim"] < rank:
        return False
    return p["dim"] % rank == 0 or (not p["length"] and p["start"] == (1, *s[0])[p["dim"]])


def _flattens_the_batch(p, s) -> bool:
    # Flattening the batch into the features mixes samples; the catalogue refuses it though PyTorch runs it.
    rank = len(s[0]) + 1
    return any(-rank <= d < rank and d % rank == 0 for d in (p["start_dim"], p["end_dim"]))


def _narrow(p, x):
    return x.narrow(p["dim"], p["start"], p["length"] or x.shape[p["dim"]] - p["start"])


def _reshape(p, x):
    if p.get("batch") == "fold":  # each sample's first dimension joins the batch
        return x.reshape(x.shape[0] * x.shape[1], *p["shape"])
    return x.reshape(x.shape[0], *p["shape"])


def _batch_mode_refused(p, s) -> bool:
    # Unfolding needs a folded batch, which an Input never gives (tests/codegen/test_folded_batch.py
    # covers it); folding needs a dimension to fold and one to keep.
    return p.get("batch") == "unfold" or (p.get("batch") == "fold" and len(s[0]) < 2)


CASES = {
    "Identity": Case(inputs=lambda p: _rank(1, 4), build=lambda p, s: nn.Identity()),
    "Flatten": Case(
        inputs=lambda p: _rank(1, 4),
        params={"start_dim": st.integers(-5, 5), "end_dim": st.integers(-5, 5)},
        stricter=_flattens_the_batch,
        build=lambda p, s: nn.Flatten(p["start_dim"], p["end_dim"]),
    ),
    "Linear": Case(
        inputs=lambda p: _rank(1, 3),
        # PyTorch applies Linear to the last axis of any input; the catalogue refuses images
        # (N, C, H, W) on purpose and asks for a Flatten, the usual mistake of beginners.
        stricter=lambda p, s: len(s[0]) > 2,
        params={"out_features": small(1, 32)},
        build=lambda p, s: nn.Linear(s[0][-1], p["out_features"], bias=p["bias"]),
    ),
    "Reshape": Case(
        inputs=_reshape_inputs,
        params={"shape": st.lists(st.sampled_from([-1, 1, 2, 3, 4]), min_size=1, max_size=3).filter(lambda v: v.count(-1) <= 1)},
        stricter=_batch_mode_refused,
        build=lambda p, s: Lambda(lambda m, x: _reshape(p, x)),
    ),
    "Slice": Case(
        inputs=lambda p: _rank(1, 3),
        params={"dim": st.integers(-4, 4), "start": st.integers(0, 8), "length": st.integers(0, 8)},
        stricter=_along_batch,
        build=lambda p, s: Lambda(lambda m, x: _narrow(p, x)),
    ),
    "Permute": Case(
        inputs=lambda p: _rank(len(p["dims"]), len(p["dims"]) + 1),
        params={"dims": st.integers(1, 3).flatmap(lambda n: st.permutations(range(1, n + 1)))},
        build=lambda p, s: Lambda(lambda m, x: x.permute(0, *p["dims"])),
    ),
}
