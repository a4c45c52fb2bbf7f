"""PyTorch references for the resizing layers."""

from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, small

MODES = ["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"]
SCALES = st.sampled_from([0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])


def _one_or_all(values: tuple):
    return values[0] if len(values) == 1 else tuple(values)


def _upsample(p, s) -> nn.Module:
    return nn.Upsample(scale_factor=_one_or_all(tuple(float(f) for f in p["scale_factor"])), mode=p["mode"])


def _upsample_inputs(p):
    # Usually as many spatial axes as the scales (two for bilinear), now and then any of 0 to 3.
    fits = 2 if p["mode"] == "bilinear" or len(p["scale_factor"]) == 2 else len(p["scale_factor"])
    usual = st.sampled_from([1, 2, 3]) if len(p["scale_factor"]) == 1 and p["mode"] == "nearest" else st.just(fits)
    rank = st.sampled_from([0, 0, 0, 1]).flatmap(lambda odd: st.integers(0, 3) if odd else usual)
    return rank.flatmap(lambda r: st.tuples(small(1, 4), *[st.integers(1, 12)] * r).map(lambda t: [t]))


def _resize(p, s) -> nn.Module:
    options = {"mode": p["mode"], **({"align_corners": True} if p["align_corners"] else {})}
    if p["size"] == "scale":
        return nn.Upsample(scale_factor=_one_or_all(p["scale_factor"]), **options)
    return nn.Upsample(size=_one_or_all(p["size"]), **options)


def _resize_inputs(p):
    # Usually the spatial axes the mode takes and the values give; now and then any of 0 to 3.
    given = p["scale_factor"] if p["size"] == "scale" else p["size"]
    fits = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(p["mode"], len(given) if len(given) > 1 else 2)
    rank = st.sampled_from([0, 0, 0, 1]).flatmap(lambda odd: st.integers(0, 3) if odd else st.just(fits))
    return rank.flatmap(lambda r: st.tuples(small(1, 4), *[st.integers(1, 10)] * r).map(lambda t: [t]))


CASES = {
    "Upsample": Case(
        inputs=_upsample_inputs,
        params={
            "scale_factor": st.sampled_from([1, 1, 2, 3]).flatmap(lambda n: st.tuples(*[st.integers(1, 3)] * n)),
            "mode": st.sampled_from(["nearest", "nearest", "bilinear"]),
        },
        build=_upsample,
    ),
    "Resize": Case(
        inputs=_resize_inputs,
        params={
            "size": st.one_of(st.just("scale"), st.integers(1, 3).flatmap(lambda n: st.tuples(*[st.integers(1, 12)] * n))),
            "scale_factor": st.integers(1, 3).flatmap(lambda n: st.tuples(*[SCALES] * n)),
            "mode": st.sampled_from(MODES),
            "align_corners": st.sampled_from([False, False, True]),
        },
        build=_resize,
    ),
}
