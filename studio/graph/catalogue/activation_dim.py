"""Activations along one dimension: the softmax family, and the gated linear units that halve their dimension."""

from __future__ import annotations

from collections.abc import Callable

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    Unsupported,
    numel,
    resolve_dim,
    show,
    targets,
)
from studio.graph.catalogue.elementwise import power_layer
from studio.graph.catalogue.literals import slice_subscript
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxEmitter,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    axis,
)
from studio.graph.catalogue.pytorch_records import kw, module
from studio.graph.params import Int, Param


def _dim(what: str = "Dimension whose values sum to one") -> Param:
    return Int("dim", -1, f"{what}, counted with the batch as 0 (-1: the last).", min=-16, max=16)


# ----- the softmax family -----
def _softmax(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    resolve_dim(p["dim"], x, "normalize")
    return [x]


def _softmax_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return 3 * numel(outs[0])


def _softmax_onnx(op: str, negated: bool = False) -> OnnxEmitter:
    """`op` along the layer's dimension, of -x where `negated` (Softmin is the softmax of -x)."""

    def emit(site: OnnxSite) -> list[OnnxRecord]:
        records: list[OnnxRecord] = []
        x = site.x
        if negated:
            x = site.fresh("negated")
            records.append(OnnxNode("Neg", (site.x,), (x,)))
        return [*records, OnnxNode(op, (x,), (site.output,), {"axis": axis(site.params["dim"], len(site.shape))})]

    return emit


def _softmax_pytorch(cls: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    return lambda s: module(s, f"nn.{cls}", kw("dim", s.params["dim"]))


def _softmax_keras(body: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    return lambda s: keras_records.Emitted([keras_records.function(s, body.format(dim=s.params["dim"]))])


def _softmax_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    return caffe_records.simple("Softmax", "softmax_param", _caffe_axis)(site)


def _caffe_axis(site: caffe_records.Site) -> caffe_records.Fields:
    return [("axis", caffe_records.axis(site.params["dim"], site.rank()))]


def _softmin_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """Softmax of -x: a Power layer negates first."""
    negated = site.blob("negated")
    softmax = caffe_records.Layer(site.name, "Softmax", [negated], [site.name], [("softmax_param", _caffe_axis(site))])
    return [power_layer(negated, site.bottoms[0], negated, scale=-1.0), softmax]


# ----- gated linear units -----
def _halved(p: Params, ins: list[Shape | None]) -> list[Shape]:
    """The input with dimension `dim` (the last for SwiGLU) halved: the first half gated by the second."""
    x = ins[0]
    assert x is not None
    index = resolve_dim(p.get("dim", -1), x, "split")
    size = x[index] or 0
    if size % 2:
        raise ShapeError(
            f"splits dim {index} of {show(x)} into two halves, but its size {size} is odd",
            "give that dimension an even size (a Linear or Conv with an even number of outputs before it)"
            + ("" if "dim" not in p else ", or choose another dim"),
        )
    return [(*x[:index], size // 2, *x[index + 1 :])]


def _halves(site: OnnxSite, index: int) -> tuple[list[OnnxRecord], str, str]:
    """An ONNX Split of the input into its two halves along `index`."""
    half = int(site.shape[index] or 0) // 2
    sizes = OnnxConstant(site.fresh("halves"), (half, half))
    first, second = site.fresh("first"), site.fresh("second")
    return [sizes, OnnxNode("Split", (site.x, sizes.name), (first, second), {"axis": index})], first, second


def _glu_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """first * sigmoid(second)."""
    records, first, second = _halves(site, axis(site.params["dim"], len(site.shape)))
    gate = site.fresh("gate")
    return [*records, OnnxNode("Sigmoid", (second,), (gate,)), OnnxNode("Mul", (first, gate), (site.output,))]


def _swiglu_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """silu(first) * second, silu written as first * sigmoid(first)."""
    records, first, second = _halves(site, len(site.shape) - 1)
    gate, swished = site.fresh("sigmoid"), site.fresh("silu")
    return [
        *records,
        OnnxNode("Sigmoid", (first,), (gate,)),
        OnnxNode("Mul", (first, gate), (swished,)),
        OnnxNode("Mul", (swished, second), (site.output,)),
    ]


def _halves_source(x: str, shape: Shape) -> tuple[str, str]:
    """Source for the two halves of the last dimension of `x`."""
    half, rank = int(shape[-1] or 0) // 2, len(shape)
    return x + slice_subscript(-1, rank, 0, half), x + slice_subscript(-1, rank, half, 0)


def _swiglu_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    first, second = _halves_source(s.x, s.shape)
    return pytorch_records.Emitted(None, pytorch_records.Raw(f"nn.functional.silu({first}) * {second}"))


def _swiglu_keras(s: keras_records.Site) -> keras_records.Emitted:
    first, second = _halves_source("t", s.shape)
    return keras_records.Emitted([keras_records.function(s, f"ops.silu({first}) * {second}")])


def _gated_caffe(gate_type: str, gated_first: bool) -> Callable[[caffe_records.Site], list[caffe_records.Layer]]:
    """A Slice into halves, `gate_type` on one half, then an Eltwise product with the other (GLU gates the second)."""

    def emit(site: caffe_records.Site) -> list[caffe_records.Layer]:
        along = caffe_records.axis(site.params.get("dim", -1), site.rank())
        half = int(site.inputs[0][along] or 0) // 2
        first, second, gate = site.blob("first"), site.blob("second"), site.blob("gate")
        gated, other = (first, second) if gated_first else (second, first)
        cut: caffe_records.Fields = [("axis", along), ("slice_point", half)]
        product: caffe_records.Fields = [("operation", caffe_records.Word("PROD"))]
        return [
            caffe_records.Layer(first, "Slice", site.bottoms, [first, second], [("slice_param", cut)]),
            caffe_records.Layer(gate, gate_type, [gated], [gate]),
            caffe_records.Layer(site.name, "Eltwise", [other, gate] if not gated_first else [gate, other], [site.name],
                                [("eltwise_param", product)]),
        ]  # fmt: skip

    return emit


SPECS = (
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
        caffe=_softmax_caffe,
    ),
    LayerSpec(
        type="LogSoftmax",
        category="Activation",
        doc="The logarithm of a softmax, computed stably; pairs with a negative log-likelihood loss.",
        params=(_dim(),),
        infer=_softmax,
        count_macs=_softmax_macs,
        targets=targets(
            "nn.LogSoftmax", 'layers.Activation("log_softmax")', "LogSoftmax", Unsupported("BVLC Caffe has no LogSoftmax layer")
        ),
        onnx=_softmax_onnx("LogSoftmax"),
        pytorch=_softmax_pytorch("LogSoftmax"),
        keras=_softmax_keras("ops.log_softmax(t, axis={dim})"),
    ),
    LayerSpec(
        type="Softmin",
        category="Activation",
        doc="Probabilities that favour the smallest scores: the softmax of -x along a dimension.",
        params=(_dim(),),
        infer=_softmax,
        count_macs=_softmax_macs,
        targets=targets("nn.Softmin", "ops.softmax(-x)", "Neg, Softmax", "Power, Softmax"),
        onnx=_softmax_onnx("Softmax", negated=True),
        pytorch=_softmax_pytorch("Softmin"),
        keras=_softmax_keras("ops.softmax(-t, axis={dim})"),
        caffe=_softmin_caffe,
    ),
    LayerSpec(
        type="GLU",
        category="Activation",
        doc="Gated linear unit: splits a dimension into halves a and b and gives a * sigmoid(b), half the size.",
        params=(_dim("Dimension to split in two"),),
        infer=_halved,
        count_macs=lambda p, ins, outs: 2 * numel(outs[0]),
        targets=targets("nn.GLU", "ops.glu", "Split, Sigmoid, Mul", "Slice, Sigmoid, Eltwise"),
        onnx=_glu_onnx,
        pytorch=lambda s: module(s, "nn.GLU", *([kw("dim", s.params["dim"])] if s.params["dim"] != -1 else [])),
        keras=_softmax_keras("ops.glu(t, axis={dim})"),
        caffe=_gated_caffe("Sigmoid", gated_first=False),
    ),
    LayerSpec(
        type="SwiGLU",
        category="Activation",
        doc="Swish-gated linear unit of transformer feed-forward blocks: silu(a) * b of the last dimension's halves.",
        params=(),
        infer=_halved,
        count_macs=lambda p, ins, outs: 3 * numel(outs[0]),
        targets=targets("silu(a) * b", "ops.silu(a) * b", "Split, Sigmoid, Mul", "Slice, Swish, Eltwise"),
        onnx=_swiglu_onnx,
        pytorch=_swiglu_pytorch,
        keras=_swiglu_keras,
        caffe=_gated_caffe("Swish", gated_first=True),
    ),
)
