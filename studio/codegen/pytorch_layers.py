"""How each catalogue layer type becomes PyTorch: a constructor, a forward expression, helpers.

One small function per layer kind, gathered in `EMITTERS` by layer type. Each gets a `Site`
(the node's parameters, its input shapes, its attribute and the local names of its inputs)
and returns an `Emitted`. Values are emitted with `literal` (a repr); names arrive sanitized.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.graph.catalogue.literals import literal, slice_subscript
from studio.graph.catalogue.pytorch_records import (
    Call,
    Emitted,
    Raw,
    Site,
    channels,
    kw,
    module,
    options,
    size,
)


# ----- core -----
def _identity(s: Site) -> Emitted:
    return module(s, "nn.Identity")


def _linear(s: Site) -> Emitted:
    return module(s, "nn.Linear", str(s.shape[-1]), str(s.params["out_features"]), *options(s.params, {"bias": True}))


def _flatten(s: Site) -> Emitted:
    return module(s, "nn.Flatten")


def _reshape(s: Site) -> Emitted:
    dims = ", ".join(str(d) for d in s.params["shape"])
    return Emitted(None, Call(f"{s.x}.reshape", (f"{s.x}.size(0)", dims)))


def _permute(s: Site) -> Emitted:
    return Emitted(None, Call(f"{s.x}.permute", ("0", *(str(d) for d in s.params["dims"]))))


def _slice(s: Site) -> Emitted:
    p = s.params
    return Emitted(None, Raw(s.x + slice_subscript(p["dim"], len(s.shape), p["start"], p["length"])))


def _dropout(s: Site) -> Emitted:
    return module(s, "nn.Dropout", kw("p", s.params["p"]))


# ----- convolution -----
_CONV = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}
_WINDOW = ("kernel_size", "stride", "padding", "dilation", "output_padding")


def _conv(rank: int) -> Callable[[Site], Emitted]:
    def emit(s: Site) -> Emitted:
        p = s.params
        args = [channels(s), str(p["out_channels"]), kw("kernel_size", size(p["kernel_size"]))]
        return module(s, f"nn.Conv{rank}d", *args, *options(p, _CONV, _WINDOW))

    return emit


def _transpose(rank: int) -> Callable[[Site], Emitted]:
    defaults = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1}

    def emit(s: Site) -> Emitted:
        p = s.params
        args = [channels(s), str(p["out_channels"]), kw("kernel_size", size(p["kernel_size"]))]
        return module(s, f"nn.ConvTranspose{rank}d", *args, *options(p, defaults, _WINDOW))

    return emit


def _depthwise(s: Site) -> Emitted:
    p, c = s.params, int(s.shape[1] or 0)
    window = options(p, {"stride": 1, "padding": 0, "dilation": 1}, _WINDOW)
    args = [str(c), str(c * p["depth_multiplier"]), kw("kernel_size", size(p["kernel_size"])), *window, f"groups={c}"]
    return module(s, "nn.Conv2d", *args, *options(p, {"bias": True}))


def _separable(s: Site) -> Emitted:
    p = s.params
    window = options(p, {"stride": 1, "padding": 0, "dilation": 1, "depth_multiplier": 1, "bias": True}, _WINDOW)
    args = [channels(s), str(p["out_channels"]), kw("kernel_size", size(p["kernel_size"])), *window]
    return Emitted(Call("SeparableConv2d", tuple(args)), Call(s.attr, (s.x,)), ("SeparableConv2d",))


# ----- pooling and resizing -----
def _stride(p: dict[str, Any]) -> list[str]:
    return [] if p["stride"] == "kernel" else [kw("stride", size(p["stride"]))]


def _max_pool(rank: int) -> Callable[[Site], Emitted]:
    def emit(s: Site) -> Emitted:
        p = s.params
        rest = options(p, {"padding": 0, "dilation": 1, "ceil_mode": False}, _WINDOW)
        return module(s, f"nn.MaxPool{rank}d", kw("kernel_size", size(p["kernel_size"])), *_stride(p), *rest)

    return emit


def _avg_pool(rank: int) -> Callable[[Site], Emitted]:
    def emit(s: Site) -> Emitted:
        p = s.params
        rest = options(p, {"padding": 0, "ceil_mode": False, "count_include_pad": True}, _WINDOW)
        return module(s, f"nn.AvgPool{rank}d", kw("kernel_size", size(p["kernel_size"])), *_stride(p), *rest)

    return emit


def _adaptive(cls: str) -> Callable[[Site], Emitted]:
    return lambda s: module(s, f"nn.{cls}", literal(size(s.params["output_size"])))


def _global(method: str, rank: int) -> Callable[[Site], Emitted]:
    dims = "2" if rank == 1 else "(2, 3)"
    return lambda s: Emitted(None, Call(f"{s.x}.{method}", (f"dim={dims}",)))


def _upsample(s: Site) -> Emitted:
    scale = tuple(float(f) for f in s.params["scale_factor"])
    return module(s, "nn.Upsample", kw("scale_factor", size(scale)), kw("mode", s.params["mode"]))


def _zero_pad(s: Site) -> Emitted:
    return module(s, "nn.ZeroPad2d", literal(size(s.params["padding"])))


# ----- activations -----
def _activation(cls: str, defaults: dict[str, Any] | None = None) -> Callable[[Site], Emitted]:
    return lambda s: module(s, f"nn.{cls}", *options(s.params, defaults or {}))


def _prelu(s: Site) -> Emitted:
    p = s.params
    count = [kw("num_parameters", int(s.shape[1] or 0))] if p["per_channel"] else []
    return module(s, "nn.PReLU", *count, *options(p, {"init": 0.25}))


def _softmax(cls: str) -> Callable[[Site], Emitted]:
    return lambda s: module(s, f"nn.{cls}", kw("dim", s.params["dim"]))


EMITTERS: dict[str, Callable[[Site], Emitted]] = {
    "Identity": _identity,
    "Linear": _linear,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Slice": _slice,
    "Permute": _permute,
    "Dropout": _dropout,
    "Conv1d": _conv(1),
    "Conv2d": _conv(2),
    "Conv3d": _conv(3),
    "ConvTranspose1d": _transpose(1),
    "ConvTranspose2d": _transpose(2),
    "DepthwiseConv2d": _depthwise,
    "SeparableConv2d": _separable,
    "MaxPool1d": _max_pool(1),
    "MaxPool2d": _max_pool(2),
    "AvgPool1d": _avg_pool(1),
    "AvgPool2d": _avg_pool(2),
    "AdaptiveAvgPool1d": _adaptive("AdaptiveAvgPool1d"),
    "AdaptiveAvgPool2d": _adaptive("AdaptiveAvgPool2d"),
    "AdaptiveMaxPool2d": _adaptive("AdaptiveMaxPool2d"),
    "GlobalAvgPool1d": _global("mean", 1),
    "GlobalAvgPool2d": _global("mean", 2),
    "GlobalMaxPool1d": _global("amax", 1),
    "GlobalMaxPool2d": _global("amax", 2),
    "Upsample": _upsample,
    "ZeroPad2d": _zero_pad,
    "ReLU": _activation("ReLU"),
    "ReLU6": _activation("ReLU6"),
    "LeakyReLU": _activation("LeakyReLU", {"negative_slope": 0.01}),
    "PReLU": _prelu,
    "ELU": _activation("ELU", {"alpha": 1.0}),
    "SELU": _activation("SELU"),
    "GELU": _activation("GELU", {"approximate": "none"}),
    "SiLU": _activation("SiLU"),
    "Mish": _activation("Mish"),
    "Sigmoid": _activation("Sigmoid"),
    "Tanh": _activation("Tanh"),
    "Hardswish": _activation("Hardswish"),
    "Hardsigmoid": _activation("Hardsigmoid"),
    "Softplus": _activation("Softplus", {"beta": 1.0, "threshold": 20.0}),
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
}
