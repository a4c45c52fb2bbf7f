"""PyTorch references for the normalization layers."""

from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, small


def _rank(low: int, high: int, size: st.SearchStrategy = small()) -> st.SearchStrategy:  # noqa: B008 - strategies are immutable
    return st.integers(low, high).flatmap(lambda r: st.tuples(*[size] * r).map(lambda t: [tuple(t)]))


def _grouped_inputs(p):
    # Channels usually a multiple of num_groups, sometimes any size (to test the diagnosis).
    multiple = st.integers(1, 4).map(lambda m: m * p["num_groups"])
    channels = st.one_of(multiple, multiple, small(1, 12))
    return st.tuples(channels, st.lists(small(1, 4), max_size=2)).map(lambda t: [(t[0], *t[1])])


def _batch_norm(cls):
    return lambda p, s: cls(
        s[0][1], eps=p["eps"], momentum=p["momentum"], affine=p["affine"], track_running_stats=p["track_running_stats"]
    )


def _instance(cls, rank: int) -> Case:
    return Case(
        inputs=lambda p: _rank(1, 4, small(1, 4)),
        # PyTorch reads an input one dimension short as a single unbatched sample (C, L...);
        # the catalogue always has a batch dimension, so that input is a wiring mistake there.
        stricter=lambda p, s: len(s[0]) == rank - 2,
        build=lambda p, s: cls(
            s[0][1], eps=p["eps"], momentum=p["momentum"], affine=p["affine"], track_running_stats=p["track_running_stats"]
        ),
    )


CASES = {
    "BatchNorm1d": Case(inputs=lambda p: _rank(1, 4), build=_batch_norm(nn.BatchNorm1d)),
    "BatchNorm2d": Case(inputs=lambda p: _rank(1, 4), build=_batch_norm(nn.BatchNorm2d)),
    "BatchNorm3d": Case(inputs=lambda p: _rank(2, 4, small(1, 4)), build=_batch_norm(nn.BatchNorm3d)),
    "InstanceNorm1d": _instance(nn.InstanceNorm1d, 3),
    "InstanceNorm2d": _instance(nn.InstanceNorm2d, 4),
    "InstanceNorm3d": _instance(nn.InstanceNorm3d, 5),
    "LayerNorm": Case(
        inputs=lambda p: _rank(1, 4, small(1, 5)),
        params={"num_dims": st.integers(1, 5)},
        # num_dims counts only the dimensions besides the batch; PyTorch would also normalize
        # across the batch when normalized_shape reaches it, which mixes samples.
        stricter=lambda p, s: p["num_dims"] > len(s[0]),
        build=lambda p, s: nn.LayerNorm(
            s[0][-p["num_dims"]:], eps=p["eps"], elementwise_affine=p["elementwise_affine"], bias=p["bias"]
        ),
    ),
    "GroupNorm": Case(
        inputs=_grouped_inputs,
        params={"num_groups": small(1, 8)},
        build=lambda p, s: nn.GroupNorm(p["num_groups"], s[0][1], eps=p["eps"], affine=p["affine"]),
    ),
    "LocalResponseNorm": Case(
        inputs=lambda p: _rank(1, 4, small(1, 6)),
        params={"size": small(1, 8)},
        build=lambda p, s: nn.LocalResponseNorm(p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"]),
    ),
}
