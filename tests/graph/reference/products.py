"""PyTorch references for matrix products of two inputs."""

import torch
from hypothesis import strategies as st

from tests.graph.reference import Case, Lambda, small


@st.composite
def _operands(draw) -> list[tuple[int, ...]]:
    """Two per-sample shapes (…, n, k) and (…, k, m) that mostly fit: broadcast sizes, sometimes a misfit."""
    middle = draw(st.lists(small(1, 3), max_size=2))
    n, k, m = draw(small(1, 5)), draw(small(1, 5)), draw(small(1, 5))
    a, b = [*middle, n, k], [*(draw(st.sampled_from([d, 1])) for d in middle), k, m]
    kind = draw(st.integers(0, 4))
    if kind == 3:
        b[-2] = k + 1  # columns against rows that differ
    elif kind == 4:
        a = a[1:] if len(a) > 1 else [k]  # ranks differ, or a vector per sample
    return [tuple(a), tuple(b)]


def _stricter(p, s) -> bool:
    # Inputs of different ranks are refused (PyTorch would line the batch up with another
    # dimension), and so is a vector per sample (its product would mix samples).
    return len(s[0]) != len(s[1]) or min(len(s[0]), len(s[1])) < 2


CASES = {
    "MatMul": Case(inputs=lambda p: _operands(), stricter=_stricter, build=lambda p, s: Lambda(lambda m, a, b: torch.matmul(a, b))),
}
