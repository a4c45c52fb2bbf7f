"""PyTorch references for the Math layers."""

import torch
from hypothesis import strategies as st

from tests.graph.reference import Case, Lambda, small


def _any_rank(p) -> st.SearchStrategy:
    return st.integers(1, 4).flatmap(lambda r: st.tuples(*[small(1, 5)] * r).map(lambda t: [tuple(t)]))


def _function(fn, positive=lambda p: False) -> Case:
    return Case(inputs=_any_rank, build=lambda p, s: Lambda(lambda m, x: fn(p, x)), positive=positive)


def _bounds() -> st.SearchStrategy:
    """A Clip bound: mostly one number or none, sometimes two (which both sides refuse)."""
    number = st.floats(-4, 4, allow_nan=False)
    return st.one_of(st.just(()), st.tuples(number), st.tuples(number, number))


def _min_above_max(p, s) -> bool:
    # torch.clamp runs with min above max (every output is max); the catalogue refuses it as the
    # mistake it almost always is.
    return len(p["min"]) == 1 and len(p["max"]) == 1 and p["min"][0] > p["max"][0]


def _bound(values: tuple) -> object:
    """None for an open side, the number for one value, the tuple itself (which torch.clamp refuses) for more."""
    return None if not values else values[0] if len(values) == 1 else values


def _clamp(p, x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, min=_bound(p["min"]), max=_bound(p["max"]))


CASES = {
    "Exp": _function(lambda p, x: torch.exp(x)),
    "Log": _function(lambda p, x: torch.log(x), positive=lambda p: True),
    "Abs": _function(lambda p, x: torch.abs(x)),
    "Neg": _function(lambda p, x: -x),
    "Reciprocal": _function(lambda p, x: 1 / x, positive=lambda p: True),
    "Sqrt": _function(lambda p, x: torch.sqrt(x), positive=lambda p: True),
    "Rsqrt": _function(lambda p, x: 1 / torch.sqrt(x), positive=lambda p: True),
    "Pow": _function(lambda p, x: x ** p["exponent"], positive=lambda p: not float(p["exponent"]).is_integer()),
    "Square": _function(lambda p, x: x * x),
    "Erf": _function(lambda p, x: torch.special.erf(x)),
    "Sin": _function(lambda p, x: torch.sin(x)),
    "Cos": _function(lambda p, x: torch.cos(x)),
    "Clip": Case(
        inputs=_any_rank,
        params={"min": _bounds(), "max": _bounds()},
        build=lambda p, s: Lambda(lambda m, x: _clamp(p, x)),
        stricter=_min_above_max,
    ),
    "Scale": _function(lambda p, x: x * p["factor"] + p["offset"]),
}
