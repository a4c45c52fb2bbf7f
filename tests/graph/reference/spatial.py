"""PyTorch references for the padding and shuffling layers."""

from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from tests.graph.reference import Case, Lambda, small
from tests.graph.reference.pooling import _inputs


def _pad_inputs(p):
    # Usually a rank the padding fits ((N, C, *axes) for the modes that pad spatial axes), now and then any.
    axes = len(p["padding"]) // 2
    usual = axes if p["mode"] != "constant" else max(axes - 1, 1)
    rank = st.sampled_from([0, 0, 0, 1]).flatmap(lambda odd: st.integers(0, 3) if odd else st.just(usual))
    return rank.flatmap(lambda r: st.tuples(small(1, 4), *[st.integers(1, 6)] * r).map(lambda t: [t]))


def _pad(p, s) -> nn.Module:
    value = p["value"] if p["mode"] == "constant" else None
    return Lambda(lambda m, x: F.pad(x, p["padding"], mode=p["mode"], value=value))


def _pads_what_pytorch_reads_otherwise(p, s) -> bool:
    # PyTorch pads the batch too where the padding reaches it, and reads a tensor one dimension
    # short of (N, C, *axes) as an unbatched sample in the other modes; the catalogue refuses both.
    axes, rank = len(p["padding"]) // 2, len(s[0]) + 1
    return axes == rank if p["mode"] == "constant" else axes == rank - 1


def _multiple(factor_of, rank: int):
    """Inputs (C, *spatial) whose channels are usually a multiple of `factor_of(params)`."""

    def inputs(p):
        multiple = small(1, 3).map(lambda c: c * factor_of(p))
        channels = st.sampled_from([0, 0, 1]).flatmap(lambda any_: small(1, 8) if any_ else multiple)
        ranks = st.sampled_from([rank] * 8 + [rank - 1, rank + 1])
        return ranks.flatmap(lambda r: st.tuples(channels, *[st.integers(1, 8)] * r).map(lambda t: [t]))

    return inputs


def _unshuffle_inputs(p):
    r = p["downscale_factor"]
    side = st.sampled_from([0, 0, 1]).flatmap(lambda any_: st.integers(1, 8) if any_ else small(1, 3).map(lambda n: n * r))
    ranks = st.sampled_from([2] * 8 + [1, 3])
    return ranks.flatmap(lambda n: st.tuples(small(1, 4), *[side] * n).map(lambda t: [t]))


def _not_an_image(p, s) -> bool:
    # PyTorch shuffles the last three axes of any tensor of 3 or more; the catalogue's layer takes
    # (N, C, H, W) images only, on purpose.
    return len(s[0]) != 3


CASES = {
    "ZeroPad2d": Case(
        inputs=_inputs(2),
        params={"padding": st.tuples(*[st.integers(0, 3)] * 4)},
        # nn.ZeroPad2d pads the last two axes of a tensor of any rank; the catalogue's layer is for
        # (N, C, H, W) feature maps only, as Keras ZeroPadding2D, and refuses other ranks on purpose.
        stricter=lambda p, s: len(s[0]) != 3,
        build=lambda p, s: nn.ZeroPad2d(p["padding"]),
    ),
    "Pad": Case(
        inputs=_pad_inputs,
        params={
            "padding": st.integers(1, 3).flatmap(lambda n: st.lists(st.integers(0, 3), min_size=2 * n, max_size=2 * n + 1).map(tuple)),
            "mode": st.sampled_from(["constant", "reflect", "replicate", "circular"]),
            "value": st.sampled_from([0.0, 1.5]),
        },
        stricter=_pads_what_pytorch_reads_otherwise,
        device="cpu",  # the meta kernels skip the checks of reflect and circular padding against the input size
        build=_pad,
    ),
    "PixelShuffle": Case(
        inputs=_multiple(lambda p: p["upscale_factor"] ** 2, 2),
        params={"upscale_factor": small(1, 3)},
        stricter=_not_an_image,
        build=lambda p, s: nn.PixelShuffle(p["upscale_factor"]),
    ),
    "PixelUnshuffle": Case(
        inputs=_unshuffle_inputs,
        params={"downscale_factor": small(1, 3)},
        stricter=_not_an_image,
        build=lambda p, s: nn.PixelUnshuffle(p["downscale_factor"]),
    ),
    "ChannelShuffle": Case(
        inputs=_multiple(lambda p: p["groups"], 2),
        params={"groups": small(1, 4)},
        build=lambda p, s: nn.ChannelShuffle(p["groups"]),
    ),
}
