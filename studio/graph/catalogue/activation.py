"""Activation layers: elementwise nonlinearities (those acting along a dimension are in `activation_dim`)."""

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
    ShapeError,
    State,
    StateTensor,
    Target,
    targets,
)
from studio.graph.catalogue.caffe_records import CaffeFields, CaffeImport
from studio.graph.catalogue.elementwise import (
    affine_text,
    caffe_clip,
    clip_onnx,
    no_caffe,
    per_element,
    power_layer,
    same,
    scalar,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxEmitter,
    OnnxImport,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
    clean,
    single,
)
from studio.graph.catalogue.pytorch_records import kw, module, options
from studio.graph.params import Bool, Choice, Float, Param

HARD_SIGMOID = (1 / 6, 0.5)  # PyTorch's alpha and beta (ONNX's defaults are 0.2 and 0.5)


def _prelu_state(p: Params, ins: list[Shape]) -> State:
    return {"weight": StateTensor(((ins[0][1] or 0) if p["per_channel"] else 1,))}


def activation(
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
    from_patterns: tuple[str, ...] = (),
    infer: Callable[[Params, list[Shape | None]], list[Shape]] | None = None,
) -> LayerSpec:
    """An elementwise activation, `nn.<layer_type>` in PyTorch (with no arguments unless `to_pytorch` says)."""
    return LayerSpec(
        type=layer_type,
        category="Activation",
        doc=doc,
        params=params,
        infer=infer or same,
        count_macs=per_element,
        targets=targets(f"nn.{layer_type}", keras, onnx, caffe),
        onnx=to_onnx or single(str(onnx)),
        pytorch=to_pytorch or torch_module(layer_type),
        keras=to_keras,
        caffe=to_caffe,
        onnx_import=from_onnx,
        caffe_import=from_caffe,
        onnx_patterns=from_patterns,
    )


# ----- ONNX -----
def _relu6_onnx(site: OnnxSite) -> list[OnnxRecord]:
    low, high = scalar(site, "min", 0.0), scalar(site, "max", 6.0)
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
    half, one = scalar(site, "half", 0.5), scalar(site, "one", 1.0)
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        k, c, three = scalar(site, "k", math.sqrt(2 / math.pi)), scalar(site, "c", 0.044715), scalar(site, "three", 3.0)
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
        root, divided, wave = scalar(site, "sqrt2", math.sqrt(2.0)), site.fresh("divided"), site.fresh("wave")
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
    t = scalar(site, "threshold", site.params["threshold"])
    records: list[OnnxRecord] = [t]
    scaled, smooth, above = site.x, site.fresh("smooth"), site.fresh("above")
    if beta != 1.0:
        b, scaled, soft = scalar(site, "beta", beta), site.fresh("scaled"), site.fresh("soft")
        records += [b, OnnxNode("Mul", (site.x, b.name), (scaled,)), OnnxNode("Softplus", (scaled,), (soft,))]
        records.append(OnnxNode("Div", (soft, b.name), (smooth,)))
    else:
        records.append(OnnxNode("Softplus", (site.x,), (smooth,)))
    return [
        *records,
        OnnxNode("Greater", (scaled, t.name), (above,)),
        OnnxNode("Where", (above, site.x, smooth), (site.output,)),
    ]


def _hardsigmoid_onnx(site: OnnxSite) -> list[OnnxRecord]:
    return [OnnxNode("HardSigmoid", (site.x,), (site.output,), {"alpha": site.params["alpha"], "beta": site.params["beta"]})]


def _log_sigmoid_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """-softplus(-x): ONNX has no LogSigmoid."""
    flipped, soft = site.fresh("flipped"), site.fresh("softplus")
    return [
        OnnxNode("Neg", (site.x,), (flipped,)),
        OnnxNode("Softplus", (flipped,), (soft,)),
        OnnxNode("Neg", (soft,), (site.output,)),
    ]


# ----- PyTorch -----
def torch_module(cls: str, defaults: dict[str, Any] | None = None) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    """`nn.<cls>` with keyword arguments for the parameters in `defaults` whose value differs from PyTorch's default."""
    return lambda s: module(s, f"nn.{cls}", *options(s.params, defaults or {}))


def _prelu_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    count = [kw("num_parameters", int(s.shape[1] or 0))] if p["per_channel"] else []
    return module(s, "nn.PReLU", *count, *options(p, {"init": 0.25}))


def _hardsigmoid_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    alpha, beta = s.params["alpha"], s.params["beta"]
    if (alpha, beta) == HARD_SIGMOID:
        return module(s, "nn.Hardsigmoid")
    return pytorch_records.Emitted(None, pytorch_records.Call("torch.clamp", (affine_text(s.x, alpha, beta), "0.0", "1.0")))


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


def keras_ops(body: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    """A Keras Lambda over `t` whose body is `body` formatted with the node's parameters."""
    return lambda s: keras_records.Emitted([keras_records.function(s, body.format(**{k: literal(v) for k, v in s.params.items()}))])


def _hardsigmoid_keras(s: keras_records.Site) -> keras_records.Emitted:
    alpha, beta = s.params["alpha"], s.params["beta"]
    if (alpha, beta) == HARD_SIGMOID:
        return keras_records.layer(s, "Activation", '"hard_sigmoid"')
    return keras_records.Emitted([keras_records.function(s, f"ops.clip({affine_text('t', alpha, beta)}, 0.0, 1.0)")])


# ----- Caffe -----
def _softplus_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    if site.params["beta"] != 1.0:
        raise Inexpressible(f"beta {site.params['beta']}: Caffe's BNLL is softplus with beta 1 only")
    return [caffe_records.Layer(site.name, "BNLL", site.bottoms, [site.name])]


def _prelu_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    fields: caffe_records.Fields = [("filler", [("type", "constant"), ("value", float(site.params["init"]))])]
    shared = not site.params["per_channel"]
    if shared:
        fields.append(("channel_shared", True))
    # Caffe keeps a shared slope as a blob of no axes, one slope per channel as (C,).
    weights: caffe_records.Blobs = lambda t: [t("weight").reshape(() if shared else -1)]
    return [caffe_records.Layer(site.name, "PReLU", site.bottoms, [site.name], [("prelu_param", fields)], weights)]


def _hardsigmoid_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """alpha x + beta with Power, then Clip to [0, 1]."""
    line = site.blob("line")
    return [
        power_layer(line, site.bottoms[0], line, scale=site.params["alpha"], shift=site.params["beta"]),
        caffe_clip(site.name, line, site.name, 0.0, 1.0),
    ]


def _log_sigmoid_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """-BNLL(-x)."""
    flipped, soft = site.blob("flipped"), site.blob("softplus")
    return [
        power_layer(flipped, site.bottoms[0], flipped, scale=-1.0),
        caffe_records.Layer(soft, "BNLL", [flipped], [soft]),
        power_layer(site.name, soft, site.name, scale=-1.0),
    ]


def _celu_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """alpha * ELU(x / alpha), Caffe's ELU with alpha 1 between two Power layers."""
    alpha = site.params["alpha"]
    if alpha == 1.0:
        return [caffe_records.Layer(site.name, "ELU", site.bottoms, [site.name])]
    inner, curve = site.blob("divided"), site.blob("elu")
    return [
        power_layer(inner, site.bottoms[0], inner, scale=1.0 / alpha),
        caffe_records.Layer(curve, "ELU", [inner], [curve]),
        power_layer(site.name, curve, site.name, scale=alpha),
    ]


# ----- ONNX import (one node each; Clip, PRelu, Selu and Softmax are mapped in `studio.interop.onnx_ops`) -----
def _from_onnx(op: str, **fixed: tuple[str, float]) -> OnnxImport:
    """`op` as this layer, with parameters `name=(attribute, default)` read from the node's float attributes."""
    return OnnxImport(op, lambda attrs: {key: clean(attrs.get(attr, default)) for key, (attr, default) in fixed.items()})


# ----- Caffe import (PReLU, with its weights, and Softmax, over an axis, are mapped in `studio.interop.caffe_layers`) -----
def _leaky_from_caffe(fields: CaffeFields) -> Params | None:
    slope = fields.number("negative_slope", 0.0)
    return {"negative_slope": slope} if slope else None


def _relu6_from_caffe(fields: CaffeFields) -> Params | None:
    if (fields.number("min"), fields.number("max")) != (0.0, 6.0):
        return None  # the Clip layer's rule takes it
    return {}


def _silu_from_caffe(fields: CaffeFields) -> Params:
    if fields.number("beta", 1.0) != 1.0:
        raise Inexpressible("beta other than 1")
    return {}


def _hardsigmoid_from_onnx(attrs: dict[str, Any]) -> Params:
    """ONNX's alpha and beta; PyTorch's 1/6 (written as float32 by exporters) is kept exact, so it reads as the default."""
    alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
    return {"alpha": HARD_SIGMOID[0] if math.isclose(alpha, HARD_SIGMOID[0], rel_tol=1e-6) else clean(alpha), "beta": clean(beta)}


# ----- shape rules -----
def _hardtanh(p: Params, ins: list[Shape | None]) -> list[Shape]:
    if p["max_val"] <= p["min_val"]:
        raise ShapeError(f"has max_val {p['max_val']:g} not above min_val {p['min_val']:g}", "make max_val larger than min_val")
    return same(p, ins)


SPECS = (
    activation(
        "ReLU", "Rectified linear unit: max(0, x).", "layers.ReLU", "Relu", "ReLU",
        to_keras=_keras_layer("ReLU"), to_caffe=caffe_records.simple("ReLU"), from_onnx=(_from_onnx("Relu"),),
        from_caffe=(CaffeImport("ReLU", "relu_param", lambda f: None if f.number("negative_slope", 0.0) else {}),),
    ),
    # ReLU6 is ReLU(max_value=6) in Keras, Clip(0, 6) in ONNX and Caffe.
    activation(
        "ReLU6", "ReLU capped at 6: min(max(0, x), 6), as in MobileNet.", "layers.ReLU(max_value=6)", "Clip", "Clip",
        to_onnx=_relu6_onnx,
        to_keras=_keras_layer("ReLU", "max_value=6.0"),
        to_caffe=caffe_records.simple("Clip", "clip_param", lambda s: [("min", 0.0), ("max", 6.0)]),
        from_caffe=(CaffeImport("Clip", "clip_param", _relu6_from_caffe),),
    ),
    activation(
        "LeakyReLU",
        "ReLU that lets a small slope through for negative inputs.",
        "layers.LeakyReLU",
        "LeakyRelu",
        "ReLU",  # Caffe's ReLU takes a negative_slope
        params=(Float("negative_slope", 0.01, "Slope for negative inputs.", min=0.0, max=1.0),),
        to_onnx=_default_left_out("LeakyRelu", "alpha", "negative_slope", 0.01),
        to_pytorch=torch_module("LeakyReLU", {"negative_slope": 0.01}),
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
        infer=same,
        state=_prelu_state,
        count_macs=per_element,
        targets=targets("nn.PReLU", "layers.PReLU", "PRelu", "PReLU"),
        onnx=_prelu_onnx,
        pytorch=_prelu_pytorch,
        keras=_prelu_keras,
        caffe=_prelu_caffe,
    ),
    activation(
        "ELU",
        "Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.",
        "layers.ELU",
        "Elu",
        "ELU",
        params=(Float("alpha", 1.0, "Value the output approaches for very negative inputs (as -alpha).", min=0.0, max=10.0),),
        to_onnx=_default_left_out("Elu", "alpha", "alpha", 1.0),
        to_pytorch=torch_module("ELU", {"alpha": 1.0}),
        to_keras=_elu_keras,
        to_caffe=caffe_records.simple("ELU", "elu_param", lambda s: [("alpha", float(s.params["alpha"]))]),
        from_onnx=(_from_onnx("Elu", alpha=("alpha", 1.0)),),
        from_caffe=(CaffeImport("ELU", "elu_param", lambda f: {"alpha": f.number("alpha", 1.0)}),),
    ),
    activation(
        "SELU",
        "Scaled ELU with fixed constants that keep activations normalized (self-normalizing networks).",
        'layers.Activation("selu")',
        "Selu",
        no_caffe("SELU"),
        to_keras=_named_activation("selu"),
    ),
    activation(
        "GELU",
        "Gaussian error linear unit: x * Phi(x), as in BERT and GPT.",
        'layers.Activation("gelu")',
        "Gelu",  # opset 20, with its approximate attribute
        no_caffe("GELU"),
        params=(Choice("approximate", "none", ("none", "tanh"), "Exact GELU, or its faster tanh approximation."),),
        to_onnx=_gelu_onnx,
        to_pytorch=torch_module("GELU", {"approximate": "none"}),
        to_keras=_gelu_keras,
        from_onnx=(OnnxImport("Gelu", lambda attrs: {"approximate": attrs.get("approximate", "none")}),),
        from_patterns=("gelu_erf", "gelu_tanh"),
    ),
    activation(
        "SiLU",
        "Sigmoid linear unit (Swish): x * sigmoid(x).",
        'layers.Activation("silu")',
        "Swish",  # opset 24; older opsets spell it Sigmoid then Mul
        "Swish",
        to_onnx=_silu_onnx,
        to_keras=_named_activation("silu"),
        to_caffe=caffe_records.simple("Swish"),
        from_caffe=(CaffeImport("Swish", "swish_param", _silu_from_caffe),),
        from_patterns=("silu",),
    ),
    activation(
        "Mish",
        "Mish: x * tanh(softplus(x)), a smooth ReLU-like curve.",
        'layers.Activation("mish")',
        "Mish",  # opset 18
        no_caffe("Mish"),
        to_onnx=_mish_onnx,
        to_keras=_named_activation("mish"),
        from_onnx=(_from_onnx("Mish"),),
    ),
    activation(
        "Sigmoid", "Logistic sigmoid: 1 / (1 + exp(-x)), squashing to (0, 1).", 'layers.Activation("sigmoid")', "Sigmoid", "Sigmoid",
        to_keras=_named_activation("sigmoid"), to_caffe=caffe_records.simple("Sigmoid"), from_onnx=(_from_onnx("Sigmoid"),),
        from_caffe=(CaffeImport("Sigmoid"),),
    ),
    activation(
        "Tanh", "Hyperbolic tangent, squashing to (-1, 1).", 'layers.Activation("tanh")', "Tanh", "TanH",
        to_keras=_named_activation("tanh"), to_caffe=caffe_records.simple("TanH"), from_onnx=(_from_onnx("Tanh"),),
        from_caffe=(CaffeImport("TanH"),),
    ),
    activation(
        "Hardswish",
        "Piecewise-linear Swish: x * relu6(x + 3) / 6, as in MobileNetV3.",
        'layers.Activation("hard_swish")',
        "HardSwish",  # opset 14
        no_caffe("HardSwish"),
        to_onnx=_hardswish_onnx,
        to_keras=_named_activation("hard_swish"),
        from_onnx=(_from_onnx("HardSwish"),),
    ),
    activation(
        "Hardsigmoid",
        "Piecewise-linear sigmoid: alpha * x + beta clipped to [0, 1]; PyTorch's relu6(x + 3) / 6 by default.",
        'layers.Activation("hard_sigmoid")',  # a clip of alpha * x + beta for other values
        "HardSigmoid",
        "Power, Clip",
        params=(
            Float("alpha", HARD_SIGMOID[0], "Slope of the linear part (1/6 in PyTorch, 0.2 in ONNX's and Keras 2's default)."),
            Float("beta", HARD_SIGMOID[1], "Value at x = 0, the middle of the linear part."),
        ),
        to_onnx=_hardsigmoid_onnx,
        to_pytorch=_hardsigmoid_pytorch,
        to_keras=_hardsigmoid_keras,
        to_caffe=_hardsigmoid_caffe,
        from_onnx=(OnnxImport("HardSigmoid", _hardsigmoid_from_onnx),),
    ),
    activation(
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
        to_pytorch=torch_module("Softplus", {"beta": 1.0, "threshold": 20.0}),
        to_keras=_softplus_keras,
        to_caffe=_softplus_caffe,
        from_onnx=(_from_onnx("Softplus"),),
        from_caffe=(CaffeImport("BNLL"),),  # log(1 + exp(x)): Softplus at its defaults
        from_patterns=("softplus",),
    ),
    activation(
        "Softsign",
        "Softsign: x / (1 + |x|), squashing to (-1, 1) more gently than tanh.",
        'layers.Activation("softsign")',
        "Softsign",
        no_caffe("Softsign"),
        to_keras=_named_activation("softsign"),
        from_onnx=(_from_onnx("Softsign"),),
    ),
    activation(
        "Hardtanh",
        "Piecewise-linear tanh: x between min_val and max_val, clipped to them outside.",
        "ops.clip",
        "Clip",
        "Clip",
        params=(
            Float("min_val", -1.0, "Lower end of the linear range; smaller inputs give min_val."),
            Float("max_val", 1.0, "Upper end of the linear range; larger inputs give max_val."),
        ),
        infer=_hardtanh,
        to_onnx=lambda site: clip_onnx(site, site.params["min_val"], site.params["max_val"]),
        to_pytorch=torch_module("Hardtanh", {"min_val": -1.0, "max_val": 1.0}),
        to_keras=keras_ops("ops.clip(t, {min_val}, {max_val})"),
        to_caffe=lambda site: [caffe_clip(site.name, site.bottoms[0], site.name, site.params["min_val"], site.params["max_val"])],
    ),
    activation(
        "LogSigmoid",
        "The logarithm of the sigmoid, log(1 / (1 + exp(-x))), computed stably; always negative.",
        "ops.log_sigmoid",
        "Neg, Softplus, Neg",
        "Power, BNLL, Power",
        to_onnx=_log_sigmoid_onnx,
        to_keras=keras_ops("ops.log_sigmoid(t)"),
        to_caffe=_log_sigmoid_caffe,
    ),
    activation(
        "CELU",
        "Continuously differentiable ELU: x for x > 0, alpha * (exp(x / alpha) - 1) otherwise.",
        "ops.celu",
        "Celu",
        "Power, ELU, Power",  # ELU alone when alpha is 1
        params=(Float("alpha", 1.0, "Value the output approaches for very negative inputs (as -alpha).", min=0.01, max=10.0),),
        to_onnx=lambda site: [OnnxNode("Celu", (site.x,), (site.output,), {"alpha": site.params["alpha"]})],
        to_pytorch=torch_module("CELU", {"alpha": 1.0}),
        to_keras=keras_ops("ops.celu(t, alpha={alpha})"),
        to_caffe=_celu_caffe,
        from_onnx=(_from_onnx("Celu", alpha=("alpha", 1.0)),),
    ),
)
