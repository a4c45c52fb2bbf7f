"""Activations that zero or shift the elements near zero: Threshold and the shrink functions."""

from __future__ import annotations

from typing import Any

from studio.graph.catalogue import caffe_records, pytorch_records
from studio.graph.catalogue.activation import activation, keras_ops, torch_module
from studio.graph.catalogue.base import Params
from studio.graph.catalogue.elementwise import caffe_clip, power_layer, scalar
from studio.graph.catalogue.onnx_records import (
    OnnxEmitter,
    OnnxImport,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    clean,
)
from studio.graph.catalogue.pytorch_records import kw, module
from studio.graph.params import Float


# ----- ONNX -----
def _threshold_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """ThresholdedRelu where the value below is 0, else Where(x > threshold, x, value)."""
    threshold, value = site.params["threshold"], site.params["value"]
    if value == 0.0:
        return [OnnxNode("ThresholdedRelu", (site.x,), (site.output,), {"alpha": threshold})]
    low, fill, above = scalar(site, "threshold", threshold), scalar(site, "value", value), site.fresh("above")
    return [
        low, fill,
        OnnxNode("Greater", (site.x, low.name), (above,)),
        OnnxNode("Where", (above, site.x, fill.name), (site.output,)),
    ]  # fmt: skip


def _shrink_onnx(soft: bool) -> OnnxEmitter:
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        lambd = site.params["lambd"]
        return [OnnxNode("Shrink", (site.x,), (site.output,), {"lambd": lambd, "bias": lambd if soft else 0.0})]

    return emit


def _tanhshrink_onnx(site: OnnxSite) -> list[OnnxRecord]:
    wave = site.fresh("tanh")
    return [OnnxNode("Tanh", (site.x,), (wave,)), OnnxNode("Sub", (site.x, wave), (site.output,))]


# ----- PyTorch -----
def _threshold_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return module(s, "nn.Threshold", kw("threshold", s.params["threshold"]), kw("value", s.params["value"]))


# ----- Caffe -----
def _eltwise(name: str, bottoms: list[str], operation: str, coeffs: tuple[float, ...] = ()) -> caffe_records.Layer:
    fields: caffe_records.Fields = [("operation", caffe_records.Word(operation)), *(("coeff", c) for c in coeffs)]
    return caffe_records.Layer(name, "Eltwise", bottoms, [name], [("eltwise_param", fields)])


def _threshold_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """Caffe's Threshold gives 1 where x > threshold, else 0: the output is that mask times (x - value), plus value."""
    x, value = site.bottoms[0], site.params["value"]
    mask = site.blob("mask")
    layers = [caffe_records.Layer(mask, "Threshold", [x], [mask], [("threshold_param", [("threshold", float(site.params["threshold"]))])])]
    if value == 0.0:
        return [*layers, _eltwise(site.name, [x, mask], "PROD")]
    shifted, kept = site.blob("shifted"), site.blob("kept")
    return [
        *layers,
        power_layer(shifted, x, shifted, shift=-value),
        _eltwise(kept, [mask, shifted], "PROD"),
        power_layer(site.name, kept, site.name, shift=value),
    ]


def _softshrink_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """x - clip(x, -lambd, lambd)."""
    lambd, middle = site.params["lambd"], site.blob("middle")
    return [
        caffe_clip(middle, site.bottoms[0], middle, -lambd, lambd),
        _eltwise(site.name, [site.bottoms[0], middle], "SUM", (1.0, -1.0)),
    ]


def _hardshrink_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """x times the mask |x| > lambd (AbsVal, then Caffe's Threshold)."""
    size, mask = site.blob("abs"), site.blob("mask")
    return [
        caffe_records.Layer(size, "AbsVal", site.bottoms, [size]),
        caffe_records.Layer(mask, "Threshold", [size], [mask], [("threshold_param", [("threshold", float(site.params["lambd"]))])]),
        _eltwise(site.name, [site.bottoms[0], mask], "PROD"),
    ]


def _tanhshrink_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    wave = site.blob("tanh")
    return [caffe_records.Layer(wave, "TanH", site.bottoms, [wave]), _eltwise(site.name, [site.bottoms[0], wave], "SUM", (1.0, -1.0))]


# ----- ONNX import -----
def _shrink_from_onnx(soft: bool) -> OnnxImport:
    """Shrink with a bias of lambd is Softshrink, with a bias of 0 Hardshrink."""

    def params(attrs: dict[str, Any]) -> Params | None:
        lambd, bias = clean(attrs.get("lambd", 0.5)), clean(attrs.get("bias", 0.0))
        return {"lambd": lambd} if bias == (lambd if soft else 0.0) else None

    return OnnxImport("Shrink", params, needs="a bias of 0 or equal to lambd")


SPECS = (
    activation(
        "Threshold",
        "Keeps x where it is above the threshold and puts a fixed value everywhere else.",
        "ops.threshold",
        "ThresholdedRelu",  # value 0; otherwise Greater and Where
        "Threshold, Eltwise",  # Caffe's Threshold is a 0/1 mask
        params=(
            Float("threshold", 1.0, "Inputs above it pass unchanged."),
            Float("value", 0.0, "What the other inputs become."),
        ),
        to_onnx=_threshold_onnx,
        to_pytorch=_threshold_pytorch,
        to_keras=keras_ops("ops.threshold(t, {threshold}, {value})"),
        to_caffe=_threshold_caffe,
        from_onnx=(OnnxImport("ThresholdedRelu", lambda attrs: {"threshold": clean(attrs.get("alpha", 1.0)), "value": 0.0}),),
    ),
    activation(
        "Softshrink",
        "Soft thresholding: moves each element lambd towards zero, and sets those within lambd of zero to 0.",
        "ops.soft_shrink",
        "Shrink",  # bias = lambd
        "Clip, Eltwise",
        params=(Float("lambd", 0.5, "Half-width of the band around zero that becomes 0.", min=0.0),),
        to_onnx=_shrink_onnx(soft=True),
        to_pytorch=torch_module("Softshrink", {"lambd": 0.5}),
        to_keras=keras_ops("ops.soft_shrink(t, threshold={lambd})"),
        to_caffe=_softshrink_caffe,
        from_onnx=(_shrink_from_onnx(soft=True),),
    ),
    activation(
        "Hardshrink",
        "Hard thresholding: elements within lambd of zero become 0, the others pass unchanged.",
        "ops.hard_shrink",
        "Shrink",  # bias 0
        "AbsVal, Threshold, Eltwise",
        params=(Float("lambd", 0.5, "Half-width of the band around zero that becomes 0.", min=0.0),),
        to_onnx=_shrink_onnx(soft=False),
        to_pytorch=torch_module("Hardshrink", {"lambd": 0.5}),
        to_keras=keras_ops("ops.hard_shrink(t, threshold={lambd})"),
        to_caffe=_hardshrink_caffe,
        from_onnx=(_shrink_from_onnx(soft=False),),
    ),
    activation(
        "Tanhshrink",
        "x - tanh(x): close to 0 for small inputs and to x - sign(x) for large ones.",
        "ops.tanh_shrink",
        "Tanh, Sub",
        "TanH, Eltwise",
        to_onnx=_tanhshrink_onnx,
        to_keras=keras_ops("ops.tanh_shrink(t)"),
        to_caffe=_tanhshrink_caffe,
    ),
)
