"""PyTorch references for the convolution layers."""

from collections import OrderedDict

from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, small


def ints(rank: int, values: st.SearchStrategy[int], usual: int | None = None) -> st.SearchStrategy[tuple[int, ...]]:
    """A tuple of `rank` integers, one per spatial axis; often all `usual` when that is given."""
    drawn = st.tuples(*[values] * rank)
    return drawn if usual is None else st.one_of(st.just((usual,) * rank), drawn)


WORDS = st.sampled_from(["same", "valid"])


def window(rank: int, words: bool = True) -> dict[str, st.SearchStrategy]:
    """Kernel, stride, padding and dilation that are mostly valid for inputs of size 1 to 16."""
    padding = ints(rank, st.integers(0, 3))
    return {
        "kernel_size": ints(rank, st.integers(1, 5)),
        "stride": ints(rank, st.integers(1, 3), usual=1),
        "padding": st.sampled_from([0, 0, 1]).flatmap(lambda word: WORDS if word else padding) if words else padding,
        "dilation": ints(rank, st.integers(1, 3), usual=1),
    }


def channels_first(rank: int, channels: st.SearchStrategy[int]) -> st.SearchStrategy[list[tuple[int, ...]]]:
    """(C, *spatial) with `rank` spatial axes usually, and now and then one axis too few or too many."""
    ranks = st.sampled_from([rank] * 16 + [rank - 1, rank + 1])
    size = st.one_of(st.integers(4, 16), st.integers(1, 16))
    return ranks.flatmap(lambda r: st.tuples(channels, *[size] * r).map(lambda t: [t]))


def grouped_inputs(rank: int):
    """Inputs whose channel count is usually a multiple of `groups`."""

    def inputs(p):
        groups = p.get("groups", 1)
        multiple = small(1, 4).map(lambda c: c * groups)
        return channels_first(rank, st.sampled_from([0, 0, 1]).flatmap(lambda any_: small(1, 8) if any_ else multiple))

    return inputs


def wrong_rank(rank: int):
    # PyTorch reads a tensor one dimension short as a single unbatched sample (so (N, C, L) can run
    # through Conv2d with N taken for the channels); the catalogue always has a batch dimension and
    # refuses such inputs on purpose.
    return lambda p, s: len(s[0]) == rank


GROUPS = st.one_of(st.just(1), st.integers(1, 4))
OUT_CHANNELS = st.one_of(small(1, 8), st.sampled_from([12, 24]))  # 12 and 24 suit every group count


def _conv(rank: int) -> Case:
    conv = getattr(nn, f"Conv{rank}d")
    return Case(
        inputs=grouped_inputs(rank),
        params={**window(rank), "groups": GROUPS, "out_channels": OUT_CHANNELS},
        stricter=wrong_rank(rank),
        build=lambda p, s: conv(
            s[0][1],
            p["out_channels"],
            p["kernel_size"],
            stride=p["stride"],
            padding=p["padding"],
            dilation=p["dilation"],
            groups=p["groups"],
            bias=p["bias"],
            padding_mode=p["padding_mode"],
        ),
    )


def _transpose(rank: int) -> Case:
    conv = getattr(nn, f"ConvTranspose{rank}d")
    return Case(
        inputs=grouped_inputs(rank),
        params={
            **window(rank, words=False),
            "output_padding": ints(rank, st.integers(0, 1), usual=0),
            "groups": GROUPS,
            "out_channels": OUT_CHANNELS,
        },
        stricter=wrong_rank(rank),
        # The meta kernel skips PyTorch's "output padding must be smaller than either stride or
        # dilation" check that the CPU and CUDA kernels make, so this case runs on the CPU.
        device="cpu",
        build=lambda p, s: conv(
            s[0][1],
            p["out_channels"],
            p["kernel_size"],
            stride=p["stride"],
            padding=p["padding"],
            output_padding=p["output_padding"],
            dilation=p["dilation"],
            groups=p["groups"],
            bias=p["bias"],
        ),
    )


def _depthwise(p, s) -> nn.Module:
    c = s[0][1]
    return nn.Conv2d(
        c,
        c * p["depth_multiplier"],
        p["kernel_size"],
        stride=p["stride"],
        padding=p["padding"],
        dilation=p["dilation"],
        groups=c,
        bias=p["bias"],
    )


def _separable(p, s) -> nn.Module:
    c = s[0][1]
    middle = c * p["depth_multiplier"]
    depthwise = nn.Conv2d(
        c, middle, p["kernel_size"], stride=p["stride"], padding=p["padding"], dilation=p["dilation"], groups=c, bias=False
    )
    pointwise = nn.Conv2d(middle, p["out_channels"], 1, bias=p["bias"])
    return nn.Sequential(OrderedDict(depthwise=depthwise, pointwise=pointwise))  # named as the export names them


CASES = {
    "Conv1d": _conv(1),
    "Conv2d": _conv(2),
    "Conv3d": _conv(3),
    "ConvTranspose1d": _transpose(1),
    "ConvTranspose2d": _transpose(2),
    "ConvTranspose3d": _transpose(3),
    "DepthwiseConv2d": Case(
        inputs=lambda p: channels_first(2, small(1, 8)),
        params={**window(2), "depth_multiplier": small(1, 3)},
        stricter=wrong_rank(2),
        build=_depthwise,
    ),
    "SeparableConv2d": Case(
        inputs=lambda p: channels_first(2, small(1, 8)),
        params={**window(2), "depth_multiplier": small(1, 3), "out_channels": OUT_CHANNELS},
        stricter=wrong_rank(2),
        build=_separable,
    ),
}
