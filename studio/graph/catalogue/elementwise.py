"""Math layers: unary elementwise functions (exponentials, powers, trigonometry), clipping and a constant scale."""

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
    Target,
    Unsupported,
    numel,
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
    clean,
    single,
)
from studio.graph.params import Float, Floats, Param


# ----- shared with the activation family -----
def same(p: Params, ins: list[Shape | None]) -> list[Shape]:
    """The shape rule of an elementwise layer: the output is shaped as its input."""
    return [ins[0]]  # type: ignore[list-item]


def per_element(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    """One operation per output element."""
    return numel(outs[0])


def scalar(site: OnnxSite, suffix: str, value: float) -> OnnxConstant:
    """A float32 scalar constant for an ONNX emitter."""
    return OnnxConstant(site.fresh(suffix), (value,), "float32", ())


def power_layer(name: str, bottom: str, top: str, power: float = 1.0, scale: float = 1.0, shift: float = 0.0) -> caffe_records.Layer:
    """Caffe's Power layer, (shift + scale * x) ** power, writing only the fields that differ from Caffe's defaults."""
    fields: caffe_records.Fields = [
        (key, float(value)) for key, value, default in (("power", power, 1.0), ("scale", scale, 1.0), ("shift", shift, 0.0))
        if value != default
    ]  # fmt: skip
    return caffe_records.Layer(name, "Power", [bottom], [top], [("power_param", fields)] if fields else [])


def affine_text(x: str, factor: float, offset: float) -> str:
    """`x * factor + offset` as source, leaving out a factor of 1 and an offset of 0."""
    text = x if factor == 1.0 else f"{x} * {literal(factor)}"
    if offset:
        text += f" {'-' if offset < 0 else '+'} {literal(abs(offset))}"
    return text


def no_caffe(what: str) -> Unsupported:
    """Caffe has no layer computing `what`."""
    return Unsupported(f"BVLC Caffe has no {what} layer")


# ----- one function of each element -----
def _unary(
    layer_type: str,
    doc: str,
    torch_fn: str,
    keras_fn: str,
    onnx: str,
    caffe: Target,
    *,
    params: tuple[Param, ...] = (),
    to_pytorch: Callable[[pytorch_records.Site], pytorch_records.Emitted] | None = None,
    to_keras: Callable[[keras_records.Site], keras_records.Emitted] | None = None,
    to_onnx: OnnxEmitter | None = None,
    to_caffe: Callable[[caffe_records.Site], list[caffe_records.Layer]] | None = None,
    from_onnx: tuple[OnnxImport, ...] | None = None,
) -> LayerSpec:
    """A math layer `torch_fn(x)` in PyTorch, `ops.<keras_fn>(t)` in Keras and the ONNX operator `onnx` (by default)."""
    return LayerSpec(
        type=layer_type,
        category="Math",
        doc=doc,
        params=params,
        infer=same,
        count_macs=per_element,
        targets=targets(torch_fn, f"ops.{keras_fn}", onnx, caffe),
        pytorch=to_pytorch or (lambda s: pytorch_records.Emitted(None, pytorch_records.Call(torch_fn, (s.x,)))),
        keras=to_keras or (lambda s: keras_records.Emitted([keras_records.function(s, f"ops.{keras_fn}(t)")])),
        onnx=to_onnx or single(onnx),
        caffe=to_caffe,
        onnx_import=(OnnxImport(onnx),) if from_onnx is None else from_onnx,
    )


def _caffe_power(power: float = 1.0, scale: float = 1.0) -> Callable[[caffe_records.Site], list[caffe_records.Layer]]:
    return lambda site: [power_layer(site.name, site.bottoms[0], site.name, power=power, scale=scale)]


# ----- powers -----
def _exponent(wanted: float | None) -> Callable[[dict[str, Any]], Params | None]:
    """Read a Pow node's constant exponent: only `wanted` (a layer of its own, such as Square), or any one number."""

    def params(values: dict[str, Any]) -> Params | None:
        exponent = values.get("exponent", ())
        if len(exponent) != 1 or not math.isfinite(exponent[0]):
            return None
        if wanted is not None:
            return {} if exponent[0] == wanted else None
        return {"exponent": clean(exponent[0])}

    return params


def _pow_from_onnx(wanted: float | None = None) -> OnnxImport:
    return OnnxImport("Pow", _exponent(wanted), constants=("exponent",), needs="an exponent that is one constant number")


def _pow_onnx(exponent: float | None = None) -> OnnxEmitter:
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        power = scalar(site, "exponent", site.params["exponent"] if exponent is None else exponent)
        return [power, OnnxNode("Pow", (site.x, power.name), (site.output,))]

    return emit


def _pow_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return pytorch_records.Emitted(None, pytorch_records.Call("torch.pow", (s.x, literal(s.params["exponent"]))))


def _pow_keras(s: keras_records.Site) -> keras_records.Emitted:
    return keras_records.Emitted([keras_records.function(s, f"ops.power(t, {literal(s.params['exponent'])})")])


# ----- Clip -----
def _bound(p: Params, name: str) -> float | None:
    values = p[name]
    if len(values) > 1:
        raise ShapeError(f"has {len(values)} values for {name}", f"give {name} one number, or none to leave that side open")
    return values[0] if values else None


def _clip_bounds(p: Params) -> tuple[float | None, float | None]:
    return _bound(p, "min"), _bound(p, "max")


def _clip(p: Params, ins: list[Shape | None]) -> list[Shape]:
    low, high = _clip_bounds(p)
    if low is None and high is None:
        raise ShapeError("has neither a min nor a max, so it would change nothing", "set min, max or both")
    if low is not None and high is not None and low > high:
        raise ShapeError(f"has min {low:g} above max {high:g}", "make min at most max")
    return same(p, ins)


def _clip_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    low, high = _clip_bounds(s.params)
    bounds = [f"{name}={literal(value)}" for name, value in (("min", low), ("max", high)) if value is not None]
    return pytorch_records.Emitted(None, pytorch_records.Call("torch.clamp", (s.x, *bounds)))


def _clip_keras(s: keras_records.Site) -> keras_records.Emitted:
    low, high = _clip_bounds(s.params)
    if low is None:
        body = f"ops.minimum(t, {literal(high)})"
    elif high is None:
        body = f"ops.maximum(t, {literal(low)})"
    else:
        body = f"ops.clip(t, {literal(low)}, {literal(high)})"
    return keras_records.Emitted([keras_records.function(s, body)])


def clip_onnx(site: OnnxSite, low: float | None, high: float | None) -> list[OnnxRecord]:
    """ONNX Clip with constant bounds, an open side at -inf or inf.

    Left out, an open side would be the float32 limits (ONNX's defaults, which turn an infinite
    entry finite where PyTorch keeps it), and onnx2torch (1.5) refuses the empty input name that
    leaves out the min ("Dynamic value of min/max"). The importer reads an infinite bound as open.
    """
    low, high = -math.inf if low is None else low, math.inf if high is None else high
    records = [scalar(site, "min", low), scalar(site, "max", high)]
    return [*records, OnnxNode("Clip", (site.x, records[0].name, records[1].name), (site.output,))]


def _clip_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    low, high = _clip_bounds(site.params)
    if low is None or high is None:
        raise Inexpressible("a min or a max left open: Caffe's Clip needs both")
    return [caffe_clip(site.name, site.bottoms[0], site.name, low, high)]


def caffe_clip(name: str, bottom: str, top: str, low: float, high: float) -> caffe_records.Layer:
    """Caffe's Clip layer to [low, high]."""
    return caffe_records.Layer(name, "Clip", [bottom], [top], [("clip_param", [("min", float(low)), ("max", float(high))])])


def _clip_from_onnx(values: dict[str, Any]) -> Params | None:
    """Clip's bounds: constant inputs (opset 11 on) or attributes (before), an infinite one left open."""
    bounds: dict[str, tuple[float, ...]] = {}
    for name in ("min", "max"):
        value = values.get(name, ())
        found = (value,) if isinstance(value, (int, float)) else tuple(value)
        if len(found) > 1:
            return None
        bounds[name] = () if not found or math.isinf(found[0]) else (clean(found[0]),)
    low, high = bounds["min"], bounds["max"]
    if not (low or high) or (low and high and low[0] > high[0]):
        return None
    return bounds


def _clip_from_caffe(fields: CaffeFields) -> Params:
    low, high = fields.number("min"), fields.number("max")
    if low is None or high is None:
        raise Inexpressible("without both min and max, which Caffe requires")
    return {"min": (low,), "max": (high,)}


# ----- Scale -----
def _scale_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return pytorch_records.Emitted(None, pytorch_records.Raw(affine_text(s.x, s.params["factor"], s.params["offset"])))


def _scale_keras(s: keras_records.Site) -> keras_records.Emitted:
    return keras_records.Emitted([keras_records.function(s, affine_text("t", s.params["factor"], s.params["offset"]))])


def _scale_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """A Mul by the factor, then an Add of the offset (a factor of 1 or an offset of 0 left out, not both)."""
    factor, offset = site.params["factor"], site.params["offset"]
    records: list[OnnxRecord] = []
    x = site.x
    if factor != 1.0 or offset == 0.0:
        constant = scalar(site, "factor", factor)
        x, previous = (site.output if offset == 0.0 else site.fresh("scaled")), x
        records += [constant, OnnxNode("Mul", (previous, constant.name), (x,))]
    if offset != 0.0:
        constant = scalar(site, "offset", offset)
        records += [constant, OnnxNode("Add", (x, constant.name), (site.output,))]
    return records


def _scale_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    return [power_layer(site.name, site.bottoms[0], site.name, scale=site.params["factor"], shift=site.params["offset"])]


SPECS = (
    _unary(
        "Exp", "The exponential e ** x of each element.", "torch.exp", "exp", "Exp", "Exp",
        to_caffe=caffe_records.simple("Exp"),
    ),
    _unary(
        "Log", "The natural logarithm of each element (positive inputs; 0 gives -inf).", "torch.log", "log", "Log", "Log",
        to_caffe=caffe_records.simple("Log"),
    ),
    _unary(
        "Abs", "The absolute value of each element.", "torch.abs", "absolute", "Abs", "AbsVal",
        to_caffe=caffe_records.simple("AbsVal"),
    ),
    _unary(
        "Neg", "Each element negated: -x.", "torch.neg", "negative", "Neg", "Power",  # scale -1
        to_caffe=_caffe_power(scale=-1.0),
    ),
    _unary(
        "Reciprocal", "One over each element: 1 / x.", "torch.reciprocal", "reciprocal", "Reciprocal", "Power",  # power -1
        to_caffe=_caffe_power(power=-1.0),
    ),
    _unary(
        "Sqrt", "The square root of each element (inputs of at least 0).", "torch.sqrt", "sqrt", "Sqrt", "Power",  # power 0.5
        to_caffe=_caffe_power(power=0.5),
    ),
    _unary(
        "Rsqrt", "One over the square root of each element: 1 / sqrt(x), for positive inputs.", "torch.rsqrt", "rsqrt",
        "Pow", "Power",  # both with exponent -0.5
        to_onnx=_pow_onnx(-0.5), to_caffe=_caffe_power(power=-0.5), from_onnx=(_pow_from_onnx(-0.5),),
    ),
    _unary(
        "Square", "Each element squared: x * x.", "torch.square", "square", "Pow", "Power",  # both with exponent 2
        to_onnx=_pow_onnx(2.0), to_caffe=_caffe_power(power=2.0), from_onnx=(_pow_from_onnx(2.0),),
    ),
    _unary(
        "Pow",
        "Each element raised to a constant power: x ** exponent (Square and Rsqrt are the common ones).",
        "torch.pow",
        "power",
        "Pow",
        "Power",
        params=(Float("exponent", 3.0, "The power; a fractional one needs inputs of at least 0."),),
        to_pytorch=_pow_pytorch,
        to_keras=_pow_keras,
        to_onnx=_pow_onnx(),
        to_caffe=lambda site: [power_layer(site.name, site.bottoms[0], site.name, power=site.params["exponent"])],
        from_onnx=(_pow_from_onnx(),),
    ),
    _unary("Erf", "The Gauss error function of each element, as in exact GELU.", "torch.erf", "erf", "Erf", no_caffe("Erf")),
    _unary("Sin", "The sine of each element (in radians).", "torch.sin", "sin", "Sin", no_caffe("Sin")),
    _unary("Cos", "The cosine of each element (in radians).", "torch.cos", "cos", "Cos", no_caffe("Cos")),
    LayerSpec(
        type="Clip",
        category="Math",
        doc="Limits each element to [min, max]; either bound may be left open.",
        params=(
            Floats("min", "The lowest value let through: one number, or none to leave it open.", default=(-1.0,)),
            Floats("max", "The highest value let through: one number, or none to leave it open.", default=(1.0,)),
        ),
        infer=_clip,
        count_macs=per_element,
        targets=targets("torch.clamp", "ops.clip", "Clip", "Clip"),
        pytorch=_clip_pytorch,
        keras=_clip_keras,
        onnx=lambda site: clip_onnx(site, *_clip_bounds(site.params)),
        caffe=_clip_caffe,
        onnx_import=(
            OnnxImport("Clip", _clip_from_onnx, constants=("min", "max"), needs="bounds that are single constant numbers, min at most max"),
        ),
        caffe_import=(CaffeImport("Clip", "clip_param", _clip_from_caffe),),
    ),
    LayerSpec(
        type="Scale",
        category="Math",
        doc="Multiplies each element by a constant factor and adds a constant offset: x * factor + offset.",
        params=(
            Float("factor", 1.0, "The constant each element is multiplied by."),
            Float("offset", 0.0, "The constant added after the multiplication."),
        ),
        infer=same,
        count_macs=per_element,
        targets=targets("x * factor + offset", "x * factor + offset", "Mul, Add", "Power"),
        pytorch=_scale_pytorch,
        keras=_scale_keras,
        onnx=_scale_onnx,
        caffe=_scale_caffe,
    ),
)
