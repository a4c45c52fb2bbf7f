"""PyTorch references for scaled dot-product attention of given queries, keys and values."""

import torch.nn.functional as F
from hypothesis import strategies as st

from tests.graph.reference import Case, Lambda, small


@st.composite
def _operands(draw, masked: bool) -> list[tuple[int, ...]]:
    """Query (…, L, E), key (…, S, E), value (…, S, Ev) and maybe a mask (…, L, S); sometimes a misfit."""
    lead = draw(st.lists(small(1, 3), max_size=2))
    length, keys, width, out = (draw(small(1, 5)) for _ in range(4))
    shapes = [[*lead, length, width], [*lead, keys, width], [*lead, keys, out]]
    if masked:
        shapes.append([*(draw(st.sampled_from([d, 1])) for d in lead), draw(st.sampled_from([length, 1])), keys])
    kind = draw(st.integers(0, 5))
    if kind == 4:
        shapes[1][-1] = width + 1  # keys narrower or wider than queries
    elif kind == 5:
        shapes[2][-2] = keys + 1  # a value more than there are keys
    return [tuple(s) for s in shapes]


def _attend(p, q, k, v, mask=None):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=p["causal"], scale=p["scale"] or None)


CASES = {
    "ScaledDotProductAttention": Case(
        inputs=lambda p: _operands(masked=False),
        params={"dropout": st.just(0.0)},
        stricter=lambda p, s: s[1][-1] != s[0][-1] or s[2][-2] != s[1][-2],
        build=lambda p, s: Lambda(lambda m, q, k, v, mask=None: _attend(p, q, k, v, mask)),
    ),
}
