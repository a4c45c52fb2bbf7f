"""Activation layers: elementwise nonlinearities and the softmax family."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    State,
    StateTensor,
    Target,
    Unsupported,
    numel,
    resolve_dim,
    targets,
)
from studio.graph.catalogue.caffe_records import CaffeFields, CaffeImport
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxEmitter,
    OnnxImport,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
    axis,
    clean,
    single,
)
from studio.graph.catalogue.pytorch_records import kw, module, options
from studio.graph.params import Bool, Choice, Float, Int, Param


def _same(p: Params, ins: list[Shape | None]) -> list[Shape]:
    return [ins[0]]  # type: ignore[list-item]


def _per_element(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0])


def _prelu_state(p: Params, ins: list[Shape]) -> State:
    return {"weight": StateTensor(((ins[0][1] or 0) if p["per_channel"] else 1,))}


def _softmax(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    resolve_dim(p["dim"], x, "normalize")
    return [x]


def _softmax_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return 3 * numel(outs[0])


def _dim() -> Param:
    return Int("dim", -1, "Dimension whose values sum to one, counted with the batch as 0 (-1: the last).", min=-16, max=16)


def _activation(
    layer_type: str,
    doc: str,
    keras: Target,
    onnx: Target,
    caffe: Target,
    params: tuple[Param, ...] = (),
    to_onnx: OnnxEmitter | None = None,
    *,
    to_keras: Callable[[keras_records.Site], keras_records.Emitted],
    to_pytorch: Callable[[pytorch_records.Site], pytorch_records.Emitted] | None = None,
    to_caffe: Callable[[caffe_records.Site], list[caffe_records.Layer]] | None = None,
    from_onnx: tuple[OnnxImport, ...] = (),
    from_caffe: tuple[CaffeImport, ...] = (),
) -> LayerSpec:
    """An elementwise activation, `nn.<layer_type>` in PyTorch (with no arguments unless `to_pytorch` says)."""
    return LayerSpec(
        type=layer_type,
        category="Activation",
        doc=doc,
        params=params,
        infer=_same,
        count_macs=_per_element,
        targets=targets(f"nn.{layer_type}", keras, onnx, caffe),
        onnx=to_onnx or single(str(onnx)),
        pytorch=to_pytorch or _torch_module(layer_type),
        keras=to_keras,
        caffe=to_caffe,
        onnx_import=from_onnx,
        caffe_import=from_caffe,
    )


# ----- ONNX -----
def _scalar(site: OnnxSite, suffix: str, value: float) -> OnnxConstant:
    return OnnxConstant(site.fresh(suffix), (value,), "float32", ())


def _relu6_onnx(site: OnnxSite) -> list[OnnxRecord]:
    low, high = _scalar(site, "min", 0.0), _scalar(site, "max", 6.0)
    return [low, high, OnnxNode("Clip", (site.x, low.name, high.name), (site.output,))]


def _prelu_onnx(site: OnnxSite) -> list[OnnxRecord]:
    rank = len(site.shape)
    size = (site.shape[1] or 1) if site.params["per_channel"] else 1
    slope = OnnxWeight(site.fresh("slope"), "weight", (size, *([1] * (rank - 2))) if rank > 2 else (size,))
    return [slope, OnnxNode("PRelu", (site.x, slope.name), (site.output,))]


def _gelu_onnx(site: OnnxSite) -> list[OnnxRecord]:
    approximate = site.params["approximate"]
    if site.opset >= 20:
        return [OnnxNode("Gelu", (site.x,), (site.output,), {"approximate": approximate if approximate != "none" else None})]
    half, one = _scalar(site, "half", 0.5), _scalar(site, "one", 1.0)
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        k, c, three = _scalar(site, "k", math.sqrt(2 / math.pi)), _scalar(site, "c", 0.044715), _scalar(site, "three", 3.0)
        cube, inner, scaled, wave = (site.fresh(n) for n in ("cube", "inner", "scaled", "wave"))
        steps = [
            k, c, three,
            OnnxNode("Pow", (site.x, three.name), (cube,)),
            OnnxNode("Mul", (cube, c.name), (cube + "_c",)),
            OnnxNode("Add", (site.x, cube + "_c"), (inner,)),
            OnnxNode("Mul", (inner, k.name), (scaled,)),
            OnnxNode("Tanh", (scaled,), (wave,)),
        ]  # fmt: skip
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        root, divided, wave = _scalar(site, "sqrt2", math.sqrt(2.0)), site.fresh("divided"), site.fresh("wave")
        steps = [root, OnnxNode("Div", (site.x, root.name), (divided,)), OnnxNode("Erf", (divided,), (wave,))]
    shifted, halved = site.fresh("shifted"), site.fresh("halved")
    return [
        half, one, *steps,
        OnnxNode("Add", (wave, one.name), (shifted,)),
        OnnxNode("Mul", (site.x, half.name), (halved,)),
        OnnxNode("Mul", (halved, shifted), (site.output,)),
    ]  # fmt: skip


def _mish_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """Mish from opset 18; before, x * tanh(softplus(x))."""
    if site.opset >= 18:
        return [OnnxNode("Mish", (site.x,), (site.output,))]
    soft, wave = site.fresh("softplus"), site.fresh("tanh")
    return [
        OnnxNode("Softplus", (site.x,), (soft,)),
        OnnxNode("Tanh", (soft,), (wave,)),
        OnnxNode("Mul", (site.x, wave), (site.output,)),
    ]


def _hardswish_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """HardSwish from opset 14; before, x * HardSigmoid(x) with PyTorch's slope 1/6 (its offset 0.5 is ONNX's default)."""
    if site.opset >= 14:
        return [OnnxNode("HardSwish", (site.x,), (site.output,))]
    gate = site.fresh("hardsigmoid")
    return [OnnxNode("HardSigmoid", (site.x,), (gate,), {"alpha": 1 / 6}), OnnxNode("Mul", (site.x, gate), (site.output,))]


def _default_left_out(op: str, attribute: str, param: str, default: float) -> OnnxEmitter:
    """One operator whose one float attribute is the layer's parameter, left out at ONNX's default."""

    def emit(site: OnnxSite) -> list[OnnxRecord]:
        value = site.params[param]
        return [OnnxNode(op, (site.x,), (site.output,), {attribute: None if value == default else value})]

    return emit


def _silu_onnx(site: OnnxSite) -> list[OnnxRecord]:
    gate = site.fresh("sigmoid")
    return [OnnxNode("Sigmoid", (site.x,), (gate,)), OnnxNode("Mul", (site.x, gate), (site.output,))]


def _softplus_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """log(1 + exp(beta x)) / beta where beta x <= threshold, else x (as PyTorch computes it)."""
    beta = site.params["beta"]
    t = _scalar(site, "threshold", site.params["threshold"])
    records: list[OnnxRecord] = [t]
    scaled, smooth, above = site.x, site.fresh("smooth"), site.fresh("above")
    if beta != 1.0:
        b, scaled, soft = _scalar(site, "beta", beta), site.fresh("scaled"), site.fresh("soft")
        records += [b, OnnxNode("Mul", (site.x, b.name), (scaled,)), OnnxNode("Softplus", (scaled,), (soft,))]
        records.append(OnnxNode("Div", (soft, b.name), (smooth,)))
    else:
        records.append(OnnxNode("Softplus", (site.x,), (smooth,)))
    return [
        *records,
        OnnxNode("Greater", (scaled, t.name), (above,)),
        OnnxNode("Where", (above, site.x, smooth), (site.output,)),
    ]


def _softmax_onnx(op: str) -> OnnxEmitter:
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        return [OnnxNode(op, (site.x,), (site.output,), {"axis": axis(site.params["dim"], len(site.shape))})]

    return emit


def _no_caffe(what: str) -> Unsupported:
    return Unsupported(f"BVLC Caffe has no {what} layer")


# ----- PyTorch -----
def _torch_module(cls: str, defaults: dict[str, Any] | None = None) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    return lambda s: module(s, f"nn.{cls}", *options(s.params, defaults or {}))


def _prelu_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    count = [kw("num_parameters", int(s.shape[1] or 0))] if p["per_channel"] else []
    return module(s, "nn.PReLU", *count, *options(p, {"init": 0.25}))


def _softmax_pytorch(cls: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    return lambda s: module(s, f"nn.{cls}", kw("dim", s.params["dim"]))


# ----- Keras -----
def _keras_layer(cls: str, *args: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    return lambda s: keras_records.layer(s, cls, *args)


def _named_activation(name: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    return lambda s: keras_records.layer(s, "Activation", literal(name))


def _leaky_keras(s: keras_records.Site) -> keras_records.Emitted:
    return keras_records.layer(s, "LeakyReLU", kw("negative_slope", s.params["negative_slope"]))


def _elu_keras(s: keras_records.Site) -> keras_records.Emitted:
    return keras_records.layer(s, "ELU", *([kw("alpha", s.params["alpha"])] if s.params["alpha"] != 1.0 else []))


def _prelu_keras(s: keras_records.Site) -> keras_records.Emitted:
    rank = len(s.shape)
    shared = tuple(range(2, rank)) if s.params["per_channel"] else tuple(range(1, rank))
    args = [f"alpha_initializer=keras.initializers.Constant({s.params['init']!r})"]
    if shared:
        args.append(f"shared_axes={list(shared)!r}")
    alpha_shape = tuple(1 if i + 1 in shared else int(d or 0) for i, d in enumerate(s.shape[1:]))
    return keras_records.layer(s, "PReLU", *args, convert=lambda t: [t("weight").reshape(alpha_shape)])


def _gelu_keras(s: keras_records.Site) -> keras_records.Emitted:
    if s.params["approximate"] == "tanh":
        return keras_records.Emitted([keras_records.function(s, "ops.gelu(t, approximate=True)")])
    return keras_records.layer(s, "Activation", '"gelu"')


def _softplus_keras(s: keras_records.Site) -> keras_records.Emitted:
    if s.params["beta"] != 1.0 or s.params["threshold"] != 20.0:
        raise Inexpressible("beta and threshold: Keras softplus has neither; keep beta 1 and threshold 20")
    return keras_records.layer(s, "Activation", '"softplus"')


def _log_softmax_keras(s: keras_records.Site) -> keras_records.Emitted:
    return keras_records.Emitted([keras_records.function(s, f"ops.log_softmax(t, axis={s.params['dim']})")])


# ----- Caffe -----
def _softplus_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    if site.params["beta"] != 1.0:
        raise Inexpressible(f"beta {site.params['beta']}: Caffe's BNLL is softplus with beta 1 only")
    return [caffe_records.Layer(site.name, "BNLL", site.bottoms, [site.name])]


def _prelu_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    fields: caffe_records.Fields = [("filler", [("type", "constant"), ("value", float(site.params["init"]))])]
    if not site.params["per_channel"]:
        fields.append(("channel_shared", True))
    return [caffe_records.Layer(site.name, "PReLU", site.bottoms, [site.name], [("prelu_param", fields)])]


# ----- ONNX import (one node each; Clip, PRelu, Selu, HardSigmoid and Softmax are mapped in `studio.interop.onnx_ops`) -----
def _from_onnx(op: str, **fixed: tuple[str, float]) -> OnnxImport:
    """`op` as this layer, with parameters `name=(attribute, default)` read from the node's float attributes."""
    return OnnxImport(op, lambda attrs: {key: clean(attrs.get(attr, default)) for key, (attr, default) in fixed.items()})


# ----- Caffe import (PReLU, with its weights, and Softmax, over an axis, are mapped in `studio.interop.caffe_layers`) -----
def _leaky_from_caffe(fields: CaffeFields) -> Params | None:
    slope = fields.number("negative_slope", 0.0)
    return {"negative_slope": slope} if slope else None


def _relu6_from_caffe(fields: CaffeFields) -> Params:
    if (fields.number("min"), fields.number("max")) != (0.0, 6.0):
        raise Inexpressible("other than min 0, max 6")
    return {}


def _silu_from_caffe(fields: CaffeFields) -> Params:
    if fields.number("beta", 1.0) != 1.0:
        raise Inexpressible("beta other than 1")
    return {}


SPECS = (
    _activation(
        "ReLU", "Rectified linear unit: max(0, x).", "layers.ReLU", "Relu", "ReLU",
        to_keras=_keras_layer("ReLU"), to_caffe=caffe_records.simple("ReLU"), from_onnx=(_from_onnx("Relu"),),
        from_caffe=(CaffeImport("ReLU", "relu_param", lambda f: None if f.number("negative_slope", 0.0) else {}),),
    ),
    # ReLU6 is ReLU(max_value=6) in Keras, Clip(0, 6) in ONNX and Caffe.
    _activation(
        "ReLU6", "ReLU capped at 6: min(max(0, x), 6), as in MobileNet.", "layers.ReLU(max_value=6)", "Clip", "Clip",
        to_onnx=_relu6_onnx,
        to_keras=_keras_layer("ReLU", "max_value=6.0"),
        to_caffe=caffe_records.simple("Clip", "clip_param", lambda s: [("min", 0.0), ("max", 6.0)]),
        from_caffe=(CaffeImport("Clip", "clip_param", _relu6_from_caffe),),
    ),
    _activation(
        "LeakyReLU",
        "ReLU that lets a small slope through for negative inputs.",
        "layers.LeakyReLU",
        "LeakyRelu",
        "ReLU",  # Caffe's ReLU takes a negative_slope
        params=(Float("negative_slope", 0.01, "Slope for negative inputs.", min=0.0, max=1.0),),
        to_onnx=_default_left_out("LeakyRelu", "alpha", "negative_slope", 0.01),
        to_pytorch=_torch_module("LeakyReLU", {"negative_slope": 0.01}),
        to_keras=_leaky_keras,
        to_caffe=caffe_records.simple("ReLU", "relu_param", lambda s: [("negative_slope", float(s.params["negative_slope"]))]),
        from_onnx=(_from_onnx("LeakyRelu", negative_slope=("alpha", 0.01)),),
        from_caffe=(CaffeImport("ReLU", "relu_param", _leaky_from_caffe),),
    ),
    LayerSpec(
        type="PReLU",
        category="Activation",
        doc="Leaky ReLU whose negative slope is learned: one slope, or one per channel.",
        params=(
            Bool("per_channel", False, "Learn one slope per channel (dimension 1) instead of one shared slope."),
            Float("init", 0.25, "Initial value of the slope.", min=0.0, max=1.0),
        ),
        infer=_same,
        state=_prelu_state,
        count_macs=_per_element,
        targets=targets("nn.PReLU", "layers.PReLU", "PRelu", "PReLU"),
        onnx=_prelu_onnx,
        pytorch=_prelu_pytorch,
        keras=_prelu_keras,
        caffe=_prelu_caffe,
    ),
    _activation(
        "ELU",
        "Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.",
        "layers.ELU",
        "Elu",
        "ELU",
        params=(Float("alpha", 1.0, "Value the output approaches for very negative inputs (as -alpha).", min=0.0, max=10.0),),
        to_onnx=_default_left_out("Elu", "alpha", "alpha", 1.0),
        to_pytorch=_torch_module("ELU", {"alpha": 1.0}),
        to_keras=_elu_keras,
        to_caffe=caffe_records.simple("ELU", "elu_param", lambda s: [("alpha", float(s.params["alpha"]))]),
        from_onnx=(_from_onnx("Elu", alpha=("alpha", 1.0)),),
        from_caffe=(CaffeImport("ELU", "elu_param", lambda f: {"alpha": f.number("alpha", 1.0)}),),
    ),
    _activation(
        "SELU",
        "Scaled ELU with fixed constants that keep activations normalized (self-normalizing networks).",
        'layers.Activation("selu")',
        "Selu",
        _no_caffe("SELU"),
        to_keras=_named_activation("selu"),
    ),
    _activation(
        "GELU",
        "Gaussian error linear unit: x * Phi(x), as in BERT and GPT.",
        'layers.Activation("gelu")',
        "Gelu",  # opset 20, with its approximate attribute
        _no_caffe("GELU"),
        params=(Choice("approximate", "none", ("none", "tanh"), "Exact GELU, or its faster tanh approximation."),),
        to_onnx=_gelu_onnx,
        to_pytorch=_torch_module("GELU", {"approximate": "none"}),
        to_keras=_gelu_keras,
        from_onnx=(OnnxImport("Gelu", lambda attrs: {"approximate": attrs.get("approximate", "none")}),),
    ),
    _activation(
        "SiLU",
        "Sigmoid linear unit (Swish): x * sigmoid(x).",
        'layers.Activation("silu")',
        "Swish",  # opset 24; older opsets spell it Sigmoid then Mul
        "Swish",
        to_onnx=_silu_onnx,
        to_keras=_named_activation("silu"),
        to_caffe=caffe_records.simple("Swish"),
        from_caffe=(CaffeImport("Swish", "swish_param", _silu_from_caffe),),
    ),
    _activation(
        "Mish",
        "Mish: x * tanh(softplus(x)), a smooth ReLU-like curve.",
        'layers.Activation("mish")',
        "Mish",  # opset 18
        _no_caffe("Mish"),
        to_onnx=_mish_onnx,
        to_keras=_named_activation("mish"),
        from_onnx=(_from_onnx("Mish"),),
    ),
    _activation(
        "Sigmoid", "Logistic sigmoid: 1 / (1 + exp(-x)), squashing to (0, 1).", 'layers.Activation("sigmoid")', "Sigmoid", "Sigmoid",
        to_keras=_named_activation("sigmoid"), to_caffe=caffe_records.simple("Sigmoid"), from_onnx=(_from_onnx("Sigmoid"),),
        from_caffe=(CaffeImport("Sigmoid"),),
    ),
    _activation(
        "Tanh", "Hyperbolic tangent, squashing to (-1, 1).", 'layers.Activation("tanh")', "Tanh", "TanH",
        to_keras=_named_activation("tanh"), to_caffe=caffe_records.simple("TanH"), from_onnx=(_from_onnx("Tanh"),),
        from_caffe=(CaffeImport("TanH"),),
    ),
    _activation(
        "Hardswish",
        "Piecewise-linear Swish: x * relu6(x + 3) / 6, as in MobileNetV3.",
        'layers.Activation("hard_swish")',
        "HardSwish",  # opset 14
        _no_caffe("HardSwish"),
        to_onnx=_hardswish_onnx,
        to_keras=_named_activation("hard_swish"),
        from_onnx=(_from_onnx("HardSwish"),),
    ),
    _activation(
        "Hardsigmoid",
        "Piecewise-linear sigmoid: relu6(x + 3) / 6.",
        'layers.Activation("hard_sigmoid")',
        "HardSigmoid",  # with alpha 1/6 to match PyTorch (beta 0.5 is the default)
        _no_caffe("HardSigmoid"),
        to_onnx=single("HardSigmoid", alpha=1 / 6),
        to_keras=_named_activation("hard_sigmoid"),
    ),
    _activation(
        "Softplus",
        "Smooth ReLU: log(1 + exp(beta * x)) / beta, linear above the threshold.",
        'layers.Activation("softplus")',
        "Softplus",  # beta other than 1 needs a Mul before and a Div after
        "BNLL",  # log(1 + exp(x)): beta 1 only
        params=(
            Float("beta", 1.0, "Sharpness of the curve; larger is closer to ReLU.", min=0.01, max=100.0),
            Float("threshold", 20.0, "Above beta * x = threshold the output is x itself, for stability.", min=0.0, max=100.0),
        ),
        to_onnx=_softplus_onnx,
        to_pytorch=_torch_module("Softplus", {"beta": 1.0, "threshold": 20.0}),
        to_keras=_softplus_keras,
        to_caffe=_softplus_caffe,
        from_onnx=(_from_onnx("Softplus"),),
        from_caffe=(CaffeImport("BNLL"),),  # log(1 + exp(x)): Softplus at its defaults
    ),
    LayerSpec(
        type="Softmax",
        category="Activation",
        doc="Turns scores into probabilities that sum to one along a dimension.",
        params=(_dim(),),
        infer=_softmax,
        count_macs=_softmax_macs,
        targets=targets("nn.Softmax", "layers.Softmax", "Softmax", "Softmax"),
        onnx=_softmax_onnx("Softmax"),
        pytorch=_softmax_pytorch("Softmax"),
        keras=lambda s: keras_records.layer(s, "Softmax", kw("axis", s.params["dim"])),
        caffe=caffe_records.simple("Softmax", "softmax_param", lambda s: [("axis", caffe_records.axis(s.params["dim"], s.rank()))]),
    ),
    LayerSpec(
        type="LogSoftmax",
        category="Activation",
        doc="The logarithm of a softmax, computed stably; pairs with a negative log-likelihood loss.",
        params=(_dim(),),
        infer=_softmax,
        count_macs=_softmax_macs,
        targets=targets("nn.LogSoftmax", 'layers.Activation("log_softmax")', "LogSoftmax", _no_caffe("LogSoftmax")),
        onnx=_softmax_onnx("LogSoftmax"),
        pytorch=_softmax_pytorch("LogSoftmax"),
        keras=_log_softmax_keras,
    ),
)
