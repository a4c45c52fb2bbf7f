"""PyTorch references for the pooling and resizing layers."""

from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, small
from tests.graph.reference.conv import channels_first, ints, wrong_rank


def _inputs(rank: int):
    return lambda p: channels_first(rank, small(1, 8))


def _window(rank: int) -> dict[str, st.SearchStrategy]:
    """Kernel, stride and padding that are mostly valid for inputs of size 1 to 16."""
    return {
        "kernel_size": ints(rank, st.integers(1, 5)),
        "stride": st.sampled_from([0, 0, 1]).flatmap(lambda given: ints(rank, st.integers(1, 3)) if given else st.just("kernel")),
        "padding": ints(rank, st.integers(0, 1), usual=0),
    }


def _stride(p):
    return None if p["stride"] == "kernel" else p["stride"]


def _max_pool(rank: int) -> Case:
    pool = getattr(nn, f"MaxPool{rank}d")
    return Case(
        inputs=_inputs(rank),
        params={**_window(rank), "dilation": ints(rank, st.integers(1, 3), usual=1)},
        stricter=wrong_rank(rank),
        build=lambda p, s: pool(
            p["kernel_size"], stride=_stride(p), padding=p["padding"], dilation=p["dilation"], ceil_mode=p["ceil_mode"]
        ),
    )


def _avg_pool(rank: int) -> Case:
    pool = getattr(nn, f"AvgPool{rank}d")
    return Case(
        inputs=_inputs(rank),
        params=_window(rank),
        stricter=wrong_rank(rank),
        build=lambda p, s: pool(
            p["kernel_size"],
            stride=_stride(p),
            padding=p["padding"],
            ceil_mode=p["ceil_mode"],
            count_include_pad=p["count_include_pad"],
        ),
    )


def _averages_any_rank(rank: int):
    # adaptive_avg_pool2d to (1, 1) takes a shortcut, input.mean((-1, -2)), that runs on a tensor of
    # any rank; the catalogue's layer is for (N, C, H, W) only and refuses other ranks on purpose.
    return lambda p, s: len(s[0]) != rank + 1


def _adaptive(name: str, rank: int) -> Case:
    pool = getattr(nn, name)
    return Case(
        inputs=_inputs(rank),
        params={"output_size": ints(rank, st.integers(1, 8))},
        stricter=_averages_any_rank(rank) if name == "AdaptiveAvgPool2d" else wrong_rank(rank),
        build=lambda p, s: pool(p["output_size"]),
    )


def _global(name: str, rank: int) -> Case:
    # PyTorch has no global pooling module; adaptive pooling to size 1 and a Flatten is the same.
    pool = getattr(nn, name)
    stricter = _averages_any_rank(rank) if name == "AdaptiveAvgPool2d" else wrong_rank(rank)
    return Case(inputs=_inputs(rank), stricter=stricter, build=lambda p, s: nn.Sequential(pool(1), nn.Flatten()))


def _upsample(p, s) -> nn.Module:
    scale = p["scale_factor"]
    factor = float(scale[0]) if len(scale) == 1 else tuple(float(f) for f in scale)
    return nn.Upsample(scale_factor=factor, mode=p["mode"])


def _upsample_inputs(p):
    # Usually as many spatial axes as the scales (two for bilinear), now and then any of 0 to 3.
    fits = 2 if p["mode"] == "bilinear" or len(p["scale_factor"]) == 2 else len(p["scale_factor"])
    usual = st.sampled_from([1, 2, 3]) if len(p["scale_factor"]) == 1 and p["mode"] == "nearest" else st.just(fits)
    rank = st.sampled_from([0, 0, 0, 1]).flatmap(lambda odd: st.integers(0, 3) if odd else usual)
    return rank.flatmap(lambda r: st.tuples(small(1, 4), *[st.integers(1, 12)] * r).map(lambda t: [t]))


CASES = {
    "MaxPool1d": _max_pool(1),
    "MaxPool2d": _max_pool(2),
    "AvgPool1d": _avg_pool(1),
    "AvgPool2d": _avg_pool(2),
    "AdaptiveAvgPool1d": _adaptive("AdaptiveAvgPool1d", 1),
    "AdaptiveAvgPool2d": _adaptive("AdaptiveAvgPool2d", 2),
    "AdaptiveMaxPool2d": _adaptive("AdaptiveMaxPool2d", 2),
    "GlobalAvgPool1d": _global("AdaptiveAvgPool1d", 1),
    "GlobalAvgPool2d": _global("AdaptiveAvgPool2d", 2),
    "GlobalMaxPool1d": _global("AdaptiveMaxPool1d", 1),
    "GlobalMaxPool2d": _global("AdaptiveMaxPool2d", 2),
    "Upsample": Case(
        inputs=_upsample_inputs,
        params={
            "scale_factor": st.sampled_from([1, 1, 2, 3]).flatmap(lambda n: st.tuples(*[st.integers(1, 3)] * n)),
            "mode": st.sampled_from(["nearest", "nearest", "bilinear"]),
        },
        build=_upsample,
    ),
    "ZeroPad2d": Case(
        inputs=_inputs(2),
        params={"padding": st.tuples(*[st.integers(0, 3)] * 4)},
        # nn.ZeroPad2d pads the last two axes of a tensor of any rank; the catalogue's layer is for
        # (N, C, H, W) feature maps only, as Keras ZeroPadding2D, and refuses other ranks on purpose.
        stricter=lambda p, s: len(s[0]) != 3,
        build=lambda p, s: nn.ZeroPad2d(p["padding"]),
    ),
}
