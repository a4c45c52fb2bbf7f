"""PyTorch references for the dropout layers."""

from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, small


def _rank(low: int, high: int) -> st.SearchStrategy:
    return st.integers(low, high).flatmap(lambda r: st.tuples(*[small()] * r).map(lambda t: [tuple(t)]))


def _channel_dropout(rank: int) -> Case:
    dropout = getattr(nn, f"Dropout{rank}d")
    # PyTorch runs channel dropout on other ranks (unbatched, or with a warning); the catalogue's
    # layer drops whole channels of (N, C, *spatial) with `rank` spatial axes only, on purpose.
    return Case(inputs=lambda p: _rank(1, 4), stricter=lambda p, s: len(s[0]) != rank + 1, build=lambda p, s: dropout(p["p"]))


CASES = {
    "Dropout": Case(inputs=lambda p: _rank(1, 4), build=lambda p, s: nn.Dropout(p["p"])),
    "Dropout1d": _channel_dropout(1),
    "Dropout2d": _channel_dropout(2),
    "Dropout3d": _channel_dropout(3),
    "AlphaDropout": Case(inputs=lambda p: _rank(1, 4), build=lambda p, s: nn.AlphaDropout(p["p"])),
}
