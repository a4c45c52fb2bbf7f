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

from studio.graph.catalogue.keras_records import (
    Convert,
    Emitted,
    Refused,
    Site,
    function,
    layer,
)
from studio.graph.catalogue.literals import literal, slice_subscript
from studio.graph.catalogue.pytorch_records import kw


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
