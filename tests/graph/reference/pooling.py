"""PyTorch references for the pooling layers."""

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
    # adaptive_avg_pool2d and 3d to size 1 take a shortcut, input.mean((-1, -2, ...)), that runs on a tensor of
    # any rank; the catalogue's layer is for (N, C, *spatial) only and refuses other ranks on purpose.
    return lambda p, s: len(s[0]) != rank + 1


def _adaptive(name: str, rank: int) -> Case:
    pool = getattr(nn, name)
    return Case(
        inputs=_inputs(rank),
        params={"output_size": ints(rank, st.integers(1, 8))},
        stricter=_averages_any_rank(rank) if name in ("AdaptiveAvgPool2d", "AdaptiveAvgPool3d") else wrong_rank(rank),
        build=lambda p, s: pool(p["output_size"]),
    )


def _global(name: str, rank: int) -> Case:
    # PyTorch has no global pooling module; adaptive pooling to size 1 and a Flatten is the same.
    pool = getattr(nn, name)
    stricter = _averages_any_rank(rank) if name in ("AdaptiveAvgPool2d", "AdaptiveAvgPool3d") else wrong_rank(rank)
    return Case(inputs=_inputs(rank), stricter=stricter, build=lambda p, s: nn.Sequential(pool(1), nn.Flatten()))


def _lp_pool(rank: int) -> Case:
    pool = getattr(nn, f"LPPool{rank}d")
    window = _window(rank)
    return Case(
        inputs=_inputs(rank),
        params={"kernel_size": window["kernel_size"], "stride": window["stride"], "norm_type": st.sampled_from([1.0, 2.0, 3.0, 0.5])},
        stricter=wrong_rank(rank),
        # lp_pool1d multiplies by its kernel_size, which must then be a number
        build=lambda p, s: pool(p["norm_type"], _one(p["kernel_size"]), stride=_one(_stride(p)), ceil_mode=p["ceil_mode"]),
    )


def _one(values):
    return values[0] if values is not None and len(values) == 1 else values


CASES = {
    **{f"MaxPool{rank}d": _max_pool(rank) for rank in (1, 2, 3)},
    **{f"AvgPool{rank}d": _avg_pool(rank) for rank in (1, 2, 3)},
    **{f"LPPool{rank}d": _lp_pool(rank) for rank in (1, 2)},
    **{f"Adaptive{kind}Pool{rank}d": _adaptive(f"Adaptive{kind}Pool{rank}d", rank) for kind in ("Avg", "Max") for rank in (1, 2, 3)},
    **{f"Global{kind}Pool{rank}d": _global(f"Adaptive{kind}Pool{rank}d", rank) for kind in ("Avg", "Max") for rank in (1, 2, 3)},
}
