"""How each catalogue layer type becomes Keras 3: functional-API steps, and its weights from PyTorch's.

One small function per layer kind, gathered in `EMITTERS` by layer type. Each gets a `Site` and
returns an `Emitted`: the statements that apply its Keras layer(s), and for each Keras layer that
holds weights a converter from the node's PyTorch state (numpy arrays) to `layer.set_weights`
order. Layout stays channels-first (`data_format="channels_first"`), so most weights move one to
one; kernels are transposed where Keras lays them out differently. A parameter value Keras cannot
express raises `Refused`, naming the parameter and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.graph.catalogue.keras_records import (
    CF,
    Apply,
    Convert,
    Emitted,
    Refused,
    Site,
    Step,
    Torch,
    function,
    layer,
    named,
    per_axis,
)
from studio.graph.catalogue.literals import literal, slice_subscript
from studio.graph.catalogue.pytorch_records import Call, kw, size


# ----- core -----
def _identity(s: Site) -> Emitted:
    return layer(s, "Identity")


def _dense_weights(bias: bool) -> Convert:
    return lambda t: [t("weight").T, *([t("bias")] if bias else [])]


def _linear(s: Site) -> Emitted:
    bias = s.params["bias"]
    args = [str(s.params["out_features"]), *([] if bias else ["use_bias=False"])]
    return layer(s, "Dense", *args, convert=_dense_weights(bias))


def _flatten(s: Site) -> Emitted:
    # NOTE: layers.Flatten reorders channels-first input when the user's Keras config says
    # channels_first; a reshape keeps PyTorch's (C, H, W) order whatever the config.
    return layer(s, "Reshape", "(-1,)")


def _reshape(s: Site) -> Emitted:
    return layer(s, "Reshape", literal(tuple(s.params["shape"])))


def _permute(s: Site) -> Emitted:
    return layer(s, "Permute", literal(tuple(s.params["dims"])))


def _slice(s: Site) -> Emitted:
    p = s.params
    return Emitted([function(s, "t" + slice_subscript(p["dim"], len(s.shape), p["start"], p["length"]))])


def _dropout(s: Site) -> Emitted:
    return layer(s, "Dropout", str(s.params["p"]))


# ----- convolution -----
def _pad_step(s: Site, rank: int, padding: tuple[int, ...]) -> tuple[list[Step], str]:
    """A ZeroPadding step for explicit symmetric padding (Keras convs pad only 'valid' or 'same')."""
    if not any(padding):
        return [], s.x
    pads = padding[0] if rank == 1 else tuple(padding)
    pad = Call(f"layers.ZeroPadding{rank}D", (literal(size(pads) if rank > 1 else pads), CF, named(s.claim(f"{s.var}_pad"))))
    return [Step(s.var, Apply(pad, (s.x,)))], s.var


def _window(s: Site, rank: int, padding: Any) -> tuple[list[Step], str, list[str]]:
    """Steps before a conv, its input, and its strides/padding/dilation arguments."""
    p = s.params
    if padding == "same":
        steps, x, args = [], s.x, ['padding="same"']
    elif padding == "valid":
        steps, x, args = [], s.x, []
    else:
        steps, x = _pad_step(s, rank, padding)
        args = []
    if any(v != 1 for v in p["stride"]):
        args.insert(0, kw("strides", per_axis(p["stride"])))
    if any(v != 1 for v in p["dilation"]):
        _stride_or_dilation(p)
        args.append(kw("dilation_rate", per_axis(p["dilation"])))
    return steps, x, args


def _stride_or_dilation(p: dict[str, Any]) -> None:
    if any(v != 1 for v in p["stride"]) and any(v != 1 for v in p["dilation"]):
        raise Refused("stride and dilation: Keras convolutions cannot combine a stride > 1 with a dilation > 1")


def _conv_weights(rank: int, bias: bool) -> Convert:
    axes = (*range(2, rank + 2), 1, 0)  # (O, I, *k) -> (*k, I, O)
    return lambda t: [t("weight").transpose(*axes), *([t("bias")] if bias else [])]


def _conv(rank: int) -> Callable[[Site], Emitted]:
    def emit(s: Site) -> Emitted:
        p = s.params
        if p["padding_mode"] != "zeros":
            raise Refused(f"padding_mode {p['padding_mode']!r}: Keras convolutions pad only with zeros")
        steps, x, window = _window(s, rank, p["padding"])
        args = [str(p["out_channels"]), literal(per_axis(p["kernel_size"])), *window]
        if p["groups"] != 1:
            args.append(kw("groups", p["groups"]))
        if not p["bias"]:
            args.append("use_bias=False")
        emitted = layer(s, f"Conv{rank}D", *args, CF, convert=_conv_weights(rank, p["bias"]), x=x)
        return Emitted(steps + emitted.steps, emitted.weights)

    return emit


def _transpose(rank: int) -> Callable[[Site], Emitted]:
    def emit(s: Site) -> Emitted:
        p = s.params
        if p["groups"] != 1:
            raise Refused(f"groups {p['groups']}: Keras transposed convolutions have no groups")
        if any(o >= st for o, st in zip(p["output_padding"], p["stride"])):
            raise Refused("output_padding: Keras needs output_padding smaller than the stride on every axis")
        args = [str(p["out_channels"]), literal(per_axis(p["kernel_size"]))]
        if any(v != 1 for v in p["stride"]):
            args.append(kw("strides", per_axis(p["stride"])))
        args.append(kw("output_padding", per_axis(p["output_padding"])))
        if any(v != 1 for v in p["dilation"]):
            _stride_or_dilation(p)
            args.append(kw("dilation_rate", per_axis(p["dilation"])))
        if not p["bias"]:
            args.append("use_bias=False")
        axes = (*range(2, rank + 2), 1, 0)  # (I, O, *k) -> (*k, O, I)
        convert: Convert = lambda t: [t("weight").transpose(*axes), *([t("bias")] if p["bias"] else [])]
        emitted = layer(s, f"Conv{rank}DTranspose", *args, CF, convert=convert)
        if any(p["padding"]):  # PyTorch crops `padding` from both ends of the full output
            full = [int(d or 0) + 2 * q for d, q in zip(s.output[2:], p["padding"])]
            crop = ", ".join(f"{q}:{n - q}" if q else ":" for q, n in zip(p["padding"], full))
            emitted.steps.append(function(s, f"t[:, :, {crop}]", s.var, s.claim(f"{s.var}_crop")))
        return emitted

    return emit


def _depthwise_kernel(a: Any, channels: int) -> Any:
    """(C*m, 1, kh, kw), output channel c*m + j -> Keras (kh, kw, C, m)."""
    return a.reshape(channels, -1, *a.shape[2:]).transpose(2, 3, 0, 1)


def _depthwise(s: Site) -> Emitted:
    p, c = s.params, int(s.shape[1] or 0)
    steps, x, window = _window(s, 2, p["padding"])
    args = [literal(per_axis(p["kernel_size"])), *window]
    if p["depth_multiplier"] != 1:
        args.append(kw("depth_multiplier", p["depth_multiplier"]))
    if not p["bias"]:
        args.append("use_bias=False")
    convert: Convert = lambda t: [_depthwise_kernel(t("weight"), c), *([t("bias")] if p["bias"] else [])]
    emitted = layer(s, "DepthwiseConv2D", *args, CF, convert=convert, x=x)
    return Emitted(steps + emitted.steps, emitted.weights)


def _separable(s: Site) -> Emitted:
    p, c = s.params, int(s.shape[1] or 0)
    steps, x, window = _window(s, 2, p["padding"])
    args = [str(p["out_channels"]), literal(per_axis(p["kernel_size"])), *window]
    if p["depth_multiplier"] != 1:
        args.append(kw("depth_multiplier", p["depth_multiplier"]))
    if not p["bias"]:
        args.append("use_bias=False")

    def convert(t: Torch) -> list[Any]:
        depthwise = _depthwise_kernel(t("depthwise.weight"), c)
        pointwise = t("pointwise.weight").transpose(2, 3, 1, 0)
        return [depthwise, pointwise, *([t("pointwise.bias")] if p["bias"] else [])]

    emitted = layer(s, "SeparableConv2D", *args, CF, convert=convert, x=x)
    return Emitted(steps + emitted.steps, emitted.weights)


# ----- pooling and resizing -----
def _ceil_matters(s: Site, rank: int) -> bool:
    """Whether the output is larger than flooring would make it (ceil_mode changed the size)."""
    p = s.params
    stride = p["kernel_size"] if p["stride"] == "kernel" else p["stride"]
    dilation = p.get("dilation", (1,) * rank)
    for n, k, st, pad, d, out in zip(s.shape[2:], p["kernel_size"], stride, p["padding"], dilation, s.output[2:]):
        if (int(n or 0) + 2 * pad - d * (k - 1) - 1) // st + 1 != out:
            return True
    return False


def _pool_args(s: Site) -> list[str]:
    p = s.params
    args = [literal(per_axis(p["kernel_size"]))]
    if p["stride"] != "kernel" and tuple(p["stride"]) != tuple(p["kernel_size"]):
        args.append(kw("strides", per_axis(p["stride"])))
    return args


def _same_is_exact(s: Site) -> bool:
    """Whether Keras 'same' pooling pads exactly PyTorch's `padding` on both sides of every axis."""
    p = s.params
    stride = p["kernel_size"] if p["stride"] == "kernel" else p["stride"]
    for n, k, st, pad, out in zip(s.shape[2:], p["kernel_size"], stride, p["padding"], s.output[2:]):
        steps = -(-int(n or 0) // st)
        if steps != out or max((steps - 1) * st + k - int(n or 0), 0) != 2 * pad:
            return False
    return True


def _max_pool(rank: int) -> Callable[[Site], Emitted]:
    def emit(s: Site) -> Emitted:
        p = s.params
        if any(d != 1 for d in p["dilation"]):
            raise Refused("dilation: Keras pooling has no dilation")
        same = any(p["padding"]) and _same_is_exact(s)
        if any(p["padding"]) and not same:
            raise Refused("padding: Keras max pooling pads only as 'same', which differs here; use padding 0")
        if p["ceil_mode"] and not same and _ceil_matters(s, rank):
            raise Refused("ceil_mode: Keras pooling has no ceil mode, and here it changes the output size")
        return layer(s, f"MaxPooling{rank}D", *_pool_args(s), *(['padding="same"'] if same else []), CF)

    return emit


def _avg_pool(rank: int) -> Callable[[Site], Emitted]:
    def emit(s: Site) -> Emitted:
        p = s.params
        if any(p["padding"]) and not p["count_include_pad"]:
            raise Refused("count_include_pad False with padding: Keras averages would count the padded zeros")
        if p["ceil_mode"] and _ceil_matters(s, rank):
            raise Refused("ceil_mode: Keras pooling has no ceil mode, and here it changes the output size")
        steps, x = _pad_step(s, rank, p["padding"])
        emitted = layer(s, f"AveragePooling{rank}D", *_pool_args(s), CF, x=x)
        return Emitted(steps + emitted.steps)

    return emit


def _adaptive(cls: str) -> Callable[[Site], Emitted]:
    return lambda s: layer(s, cls, literal(per_axis(s.params["output_size"])), CF)


def _global(cls: str) -> Callable[[Site], Emitted]:
    return lambda s: layer(s, cls, CF)


def _upsample(s: Site) -> Emitted:
    rank = len(s.shape) - 2
    factors = tuple(s.params["scale_factor"]) * (rank if len(s.params["scale_factor"]) == 1 else 1)
    if rank == 1:  # layers.UpSampling1D is channels-last only; nearest is a repeat along L
        return Emitted([function(s, f"ops.repeat(t, {factors[0]}, axis=2)")])
    mode = [kw("interpolation", s.params["mode"])] if s.params["mode"] != "nearest" else []
    return layer(s, f"UpSampling{rank}D", literal(per_axis(factors)), CF, *mode)


def _zero_pad(s: Site) -> Emitted:
    left, right, top, bottom = s.params["padding"]
    return layer(s, "ZeroPadding2D", literal(((top, bottom), (left, right))), CF)


# ----- activations -----
def _activation(cls: str, *args: str) -> Callable[[Site], Emitted]:
    return lambda s: layer(s, cls, *args)


def _named_activation(name: str) -> Callable[[Site], Emitted]:
    return lambda s: layer(s, "Activation", literal(name))


def _leaky(s: Site) -> Emitted:
    return layer(s, "LeakyReLU", kw("negative_slope", s.params["negative_slope"]))


def _elu(s: Site) -> Emitted:
    return layer(s, "ELU", *([kw("alpha", s.params["alpha"])] if s.params["alpha"] != 1.0 else []))


def _prelu(s: Site) -> Emitted:
    rank = len(s.shape)
    shared = tuple(range(2, rank)) if s.params["per_channel"] else tuple(range(1, rank))
    args = [f"alpha_initializer=keras.initializers.Constant({s.params['init']!r})"]
    if shared:
        args.append(f"shared_axes={list(shared)!r}")
    alpha_shape = tuple(1 if i + 1 in shared else int(d or 0) for i, d in enumerate(s.shape[1:]))
    return layer(s, "PReLU", *args, convert=lambda t: [t("weight").reshape(alpha_shape)])


def _gelu(s: Site) -> Emitted:
    if s.params["approximate"] == "tanh":
        return Emitted([function(s, "ops.gelu(t, approximate=True)")])
    return layer(s, "Activation", '"gelu"')


def _softplus(s: Site) -> Emitted:
    if s.params["beta"] != 1.0 or s.params["threshold"] != 20.0:
        raise Refused("beta and threshold: Keras softplus has neither; keep beta 1 and threshold 20")
    return layer(s, "Activation", '"softplus"')


def _softmax(s: Site) -> Emitted:
    return layer(s, "Softmax", kw("axis", s.params["dim"]))


def _log_softmax(s: Site) -> Emitted:
    return Emitted([function(s, f"ops.log_softmax(t, axis={s.params['dim']})")])


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
    "AdaptiveAvgPool1d": _adaptive("AdaptiveAveragePooling1D"),
    "AdaptiveAvgPool2d": _adaptive("AdaptiveAveragePooling2D"),
    "AdaptiveMaxPool2d": _adaptive("AdaptiveMaxPooling2D"),
    "GlobalAvgPool1d": _global("GlobalAveragePooling1D"),
    "GlobalAvgPool2d": _global("GlobalAveragePooling2D"),
    "GlobalMaxPool1d": _global("GlobalMaxPooling1D"),
    "GlobalMaxPool2d": _global("GlobalMaxPooling2D"),
    "Upsample": _upsample,
    "ZeroPad2d": _zero_pad,
    "ReLU": _activation("ReLU"),
    "ReLU6": _activation("ReLU", "max_value=6.0"),
    "LeakyReLU": _leaky,
    "PReLU": _prelu,
    "ELU": _elu,
    "SELU": _named_activation("selu"),
    "GELU": _gelu,
    "SiLU": _named_activation("silu"),
    "Mish": _named_activation("mish"),
    "Sigmoid": _named_activation("sigmoid"),
    "Tanh": _named_activation("tanh"),
    "Hardswish": _named_activation("hard_swish"),
    "Hardsigmoid": _named_activation("hard_sigmoid"),
    "Softplus": _softplus,
    "Softmax": _softmax,
    "LogSoftmax": _log_softmax,
}
