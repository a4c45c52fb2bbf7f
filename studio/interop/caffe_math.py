"""Caffe's elementwise math layers onto the catalogue's Math layers: AbsVal, Exp, Log and Power.

Caffe's Exp, Log and Power first take `shift + scale * x`; where that is not x itself a Scale
layer comes first. The input standardization Layer Studio writes as a Power layer keeps its own mapping
(`caffe_layers.power`); these take the rest. Clip is the Clip and ReLU6 layers' own rule.
"""

from __future__ import annotations

import math

from studio.interop.caffe_builder import Blob, Builder, Layer, single
from studio.interop.common import Unmappable

# A Power layer's exponent that is a layer of its own (the Pow layer takes the others).
POWERS = {2.0: "Square", 0.5: "Sqrt", -1.0: "Reciprocal", -0.5: "Rsqrt"}


def _then(b: Builder, layer: Layer, x: Blob, layer_type: str, params: dict, name: str) -> Blob:
    """Add a pointwise layer on `x`, keeping a squeezed (N, C) blob squeezed."""
    blob = b.add(layer_type, name, params, [x], layer.type)
    blob.squeezed = x.squeezed
    return blob


def _affine(b: Builder, layer: Layer, x: Blob, scale: float, shift: float, name: str) -> Blob:
    """`x * scale + shift` as a Scale layer, or `x` itself for scale 1 and shift 0."""
    if (scale, shift) == (1.0, 0.0):
        return x
    return _then(b, layer, x, "Scale", {"factor": scale, "offset": shift}, name)


def _base(layer: Layer, param: str) -> float:
    """The layer's `base`: -1 for e, else a positive number."""
    base = layer.param(param).number("base", -1.0)
    if base != -1.0 and not base > 0:
        raise Unmappable(f"{layer.type} (base {base:g}: only a positive base, or -1 for e)")
    return base


def absval(b: Builder, layer: Layer) -> list[Blob]:
    """AbsVal -> Abs."""
    return [_then(b, layer, single(layer), "Abs", {}, layer.name)]


def exp(b: Builder, layer: Layer) -> list[Blob]:
    """Exp: base ** (shift + scale * x) -> Exp, after a Scale to e's exponent where needed."""
    p = layer.param("exp_param")
    base = _base(layer, "exp_param")
    rate = 1.0 if base == -1.0 else math.log(base)  # base ** y = exp(y * ln(base))
    scale, shift = p.number("scale", 1.0) * rate, p.number("shift", 0.0) * rate
    x = _affine(b, layer, single(layer), scale, shift, f"{layer.name}/scale")
    return [_then(b, layer, x, "Exp", {}, layer.name)]


def log(b: Builder, layer: Layer) -> list[Blob]:
    """Log: log_base(shift + scale * x) -> Log (a Scale before it, and one after for a base other than e)."""
    p = layer.param("log_param")
    base = _base(layer, "log_param")
    if base == 1.0:
        raise Unmappable("Log (base 1)")
    x = _affine(b, layer, single(layer), p.number("scale", 1.0), p.number("shift", 0.0), f"{layer.name}/scale")
    if base == -1.0:
        return [_then(b, layer, x, "Log", {}, layer.name)]
    natural = _then(b, layer, x, "Log", {}, f"{layer.name}/ln")
    return [_then(b, layer, natural, "Scale", {"factor": 1.0 / math.log(base), "offset": 0.0}, layer.name)]


def power(b: Builder, layer: Layer) -> list[Blob]:
    """Power: (shift + scale * x) ** power -> Scale, Neg, Square, Sqrt, Reciprocal, Rsqrt or Pow (a Scale first where needed)."""
    p = layer.param("power_param")
    exponent, scale, shift = p.number("power", 1.0), p.number("scale", 1.0), p.number("shift", 0.0)
    x = single(layer)
    if exponent == 1.0:
        if (scale, shift) == (-1.0, 0.0):
            return [_then(b, layer, x, "Neg", {}, layer.name)]
        return [_then(b, layer, x, "Scale", {"factor": scale, "offset": shift}, layer.name)]
    x = _affine(b, layer, x, scale, shift, f"{layer.name}/scale")
    if exponent in POWERS:
        return [_then(b, layer, x, POWERS[exponent], {}, layer.name)]
    return [_then(b, layer, x, "Pow", {"exponent": exponent}, layer.name)]
