"""PyTorch references for RMSNorm."""

from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, small


def _inputs(p) -> st.SearchStrategy:
    return st.lists(small(1, 5), min_size=1, max_size=4).map(lambda s: [tuple(s)])


CASES = {
    "RMSNorm": Case(
        inputs=_inputs,
        params={"num_dims": st.integers(1, 5)},
        # num_dims counts only the dimensions besides the batch: reaching the batch would mix samples.
        stricter=lambda p, s: p["num_dims"] > len(s[0]),
        build=lambda p, s: nn.RMSNorm(s[0][-p["num_dims"]:], eps=p["eps"], elementwise_affine=p["elementwise_affine"]),
    ),
}
