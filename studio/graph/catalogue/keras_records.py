"""What a layer family's Keras emitter returns: functional-API steps, and how its weights come from PyTorch's.

An emitter gets a `Site` and returns an `Emitted`: the statements that apply its Keras layer(s),
and for each Keras layer that holds weights a converter from the node's PyTorch state to
`layer.set_weights` order. A parameter value Keras cannot express raises `Inexpressible`. The driver
(`studio.codegen.keras`) lays the steps out as `build_model()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.graph.catalogue.base import Shape
from studio.graph.catalogue.pytorch_records import Call, Raw, kw, size

CF = 'data_format="channels_first"'
BIAS = "ChannelBias"  # the helper layer that adds a convolution's bias per channel (`biased`)
LAMBDA_BODY = 69  # the longest `lambda t:` body that stays on its own line in black's layout of build_model


@dataclass(frozen=True)
class Apply:
    """A Keras layer constructed and called at once: `layers.Dense(4, name="fc")(x)`."""

    layer: Call
    args: tuple[str, ...]

    def text(self) -> str:
        return f"{self.layer.text()}({', '.join(self.args)})"


Expr = Apply | Call | Raw
Torch = Callable[[str], Any]
"""The node's PyTorch state: `t("weight")` is the numpy array of `<attribute>.weight`."""
Convert = Callable[[Torch], list[Any]]


@dataclass(frozen=True)
class Step:
    """One statement `target = expr`."""

    target: str
    expr: Expr


@dataclass(frozen=True)
class Site:
    """One node as its Keras emitter sees it."""

    params: dict[str, Any]
    inputs: tuple[Shape | None, ...]
    output: Shape
    var: str
    args: tuple[str | None, ...]
    claim: Callable[[str], str]  # a new unique identifier for a helper layer or local
    anchor: str = ""  # the model's first input: what a layer that takes no input is called on
    reads: tuple[str, ...] = ()  # the output ports something reads, in port order (a layer of several outputs)

    @property
    def x(self) -> str:
        assert self.args[0] is not None
        return self.args[0]

    @property
    def shape(self) -> Shape:
        assert self.inputs[0] is not None
        return self.inputs[0]


@dataclass
class Emitted:
    """What a node becomes: statements, weight converters by Keras layer name, helper classes."""

    steps: list[Step]
    weights: dict[str, Convert] = field(default_factory=dict)
    helpers: tuple[str, ...] = ()


def named(name: str) -> str:
    return kw("name", name)


def layer(s: Site, cls: str, *args: str, convert: Convert | None = None, x: str | None = None) -> Emitted:
    """The node's single Keras layer `cls(*args, name=...)` applied to its input."""
    step = Step(s.var, Apply(Call(f"layers.{cls}", (*args, named(s.var))), (x or s.x,)))
    return Emitted([step], {s.var: convert} if convert else {})


def biased(s: Site, cls: str, *args: str, kernel: Convert, bias: str | None, x: str | None = None) -> Emitted:
    """A convolution `cls(*args)` without a bias of its own, then, where PyTorch's state holds one (`bias`: its
    key), a `ChannelBias` layer named `<var>_bias` that adds it per channel.

    NOTE: Keras' convolutions add their bias with `ops.add`, which the TensorFlow backend turns into
    `tf.nn.bias_add` in NHWC layout whenever the output's last dimension equals the channel count, so
    a channels-first layer whose width equals its filters would add its bias along the width. The
    driver's `ChannelBias` helper (`studio.codegen.keras.HELPERS`) adds it with `+` along axis 1, the
    same on every backend.
    """
    conv = Step(s.var, Apply(Call(f"layers.{cls}", (*args, "use_bias=False", CF, named(s.var))), (x or s.x,)))
    if bias is None:
        return Emitted([conv], {s.var: kernel})
    name = s.claim(f"{s.var}_bias")
    step = Step(s.var, Apply(Call(BIAS, (named(name),)), (s.var,)))
    return Emitted([conv, step], {s.var: kernel, name: lambda t: [t(bias)]}, (BIAS,))


def function(s: Site, body: str, x: str | None = None, name: str | None = None, shape: tuple[int, ...] | None = None) -> Step:
    """A named `layers.Lambda` over `t` (an op applied to a KerasTensor would get a session-dependent
    auto name, which can clash with a node's name); `shape`: its per-sample output shape, where
    Keras cannot work it out (a reshape across the batch)."""
    args = [f"lambda t: {body}", *([kw("output_shape", shape)] if shape is not None else []), named(name or s.var)]
    return Step(s.var, Apply(Call("layers.Lambda", tuple(args)), (x or s.x,)))


def chain(s: Site, bodies: list[str | Apply], x: str | None = None) -> list[Step]:
    """Steps applying each body in turn (a `layers.Lambda` over `t`, or a layer), the last one named after the node.

    Generated code stays black-clean where one expression each keeps every line short.
    """
    steps = []
    for i, body in enumerate(bodies):
        name = s.var if i == len(bodies) - 1 else s.claim(f"{s.var}_{i + 1}")
        source = (x or s.x) if i == 0 else s.var
        if isinstance(body, Apply):
            call = Call(body.layer.func, (*body.layer.args, named(name)))
            steps.append(Step(s.var, Apply(call, (source,))))
        else:
            steps.append(function(s, body, source, name))
    return steps


def along(dim: int, piece: str) -> str:
    """A subscript taking `piece` along `dim`: `[:, :, ::2]`."""
    return "[" + ":, " * dim + piece + "]"


def gathers(s: Site, picks: list[tuple[int, int, list[int]]]) -> list[Step]:
    """Steps taking `indices` along each `dim` of length `size` in turn (a resize's source positions), the last one named after the node.

    Regular ones are a repeat or a strided slice; others go into a local tuple first, which the
    driver wraps as black does.
    """
    steps, bodies = [], []
    for dim, length, indices in picks:
        stride = indices[1] - indices[0] if len(indices) > 1 else 1
        if indices == [i for i in range(length) for _ in range(len(indices) // length)]:
            bodies.append(f"ops.repeat(t, {len(indices) // length}, axis={dim})")
        elif stride > 0 and indices == list(range(length))[indices[0] :: stride]:
            bodies.append(f"t{along(dim, f'{indices[0]}::{stride}')}")
        else:
            rows = s.claim(f"{s.var}_dim{dim}")
            items = tuple(str(i) for i in indices)
            steps.append(Step(rows, Raw(f"({items[0]},)") if len(items) == 1 else Call("", items)))
            bodies.append(f"ops.take(t, {rows}, axis={dim})")
    return steps + chain(s, bodies)


def per_axis(value: tuple[int, ...]) -> Any:
    return size(value)


def transposed(*axes: int) -> Callable[[Any], Any]:
    return lambda a: a.transpose(*axes)


def dense_weights(bias: bool) -> Convert:
    """A Dense layer's weights from PyTorch's Linear: the kernel transposed, then the bias."""
    return lambda t: [t("weight").T, *([t("bias")] if bias else [])]


def functions(s: Site, *bodies: str, last: str | None = None) -> Emitted:
    """A chain of named Lambdas over `t`, each applied to the result of the one before, the last one named `last` (the node's variable)."""
    steps, x, last = [], s.x, last or s.var
    for index, body in enumerate(bodies):
        target = last if index == len(bodies) - 1 else s.claim(f"{last} step{index + 1}")
        steps.append(Step(target, Apply(Call("layers.Lambda", (f"lambda t: {body}", named(target))), (x,))))
        x = target
    return Emitted(steps)
