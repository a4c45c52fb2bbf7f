"""RMSNorm: each sample divided by the root mean square of its last dimensions, then scaled, as in T5 and LLaMA."""

from __future__ import annotations

from studio.graph.catalogue import keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    State,
    StateTensor,
    Unsupported,
    numel,
    show,
    targets,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    reduce_records,
)
from studio.graph.catalogue.pytorch_records import kw, module
from studio.graph.params import Bool, Float, Int


def _normalized(p: Params, x: Shape) -> tuple[int, ...]:
    return tuple(int(d or 0) for d in x[len(x) - p["num_dims"] :])


def _rms_norm(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    k, rank = p["num_dims"], len(x) - 1
    if k > rank:
        raise ShapeError(
            f"has num_dims {k} but its input {show(x)} has only {rank} dimension{'s' if rank > 1 else ''} besides the batch",
            f"set num_dims to at most {rank}",
        )
    return [x]


def _state(p: Params, ins: list[Shape | None]) -> State:
    x = ins[0]
    assert x is not None
    return {"weight": StateTensor(_normalized(p, x))} if p["elementwise_affine"] else {}


def _macs(p: Params, ins: list[Shape | None], outs: list[Shape]) -> int:
    return 3 * numel(outs[0])  # square, divide, scale


def _pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    shape = _normalized(p, s.shape)
    args = [str(shape[0]) if len(shape) == 1 else literal(shape), kw("eps", p["eps"])]
    if not p["elementwise_affine"]:
        args.append(kw("elementwise_affine", False))
    return module(s, "nn.RMSNorm", *args)


def _keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    k = p["num_dims"]
    axes = tuple(range(-k, 0))
    if k == 1 and p["elementwise_affine"]:
        return keras_records.layer(s, "RMSNormalization", "axis=-1", kw("epsilon", p["eps"]), convert=lambda t: [t("weight")])
    if p["elementwise_affine"]:
        raise Inexpressible(f"num_dims {k} with a learned scale: Keras's RMSNormalization scales the last dimension only")
    body = f"rms_norm(t, {literal(axes)}, {p['eps']!r})"
    return keras_records.Emitted([keras_records.function(s, body)], helpers=("rms_norm",))


def _onnx(site: OnnxSite) -> list[OnnxRecord]:
    p = site.params
    k = p["num_dims"]
    if site.opset >= 23 and p["elementwise_affine"]:
        return [OnnxNode("RMSNormalization", (site.x, site.weights["weight"]), (site.output,), {"axis": -k if k > 1 else None, "epsilon": None if p["eps"] == 1e-5 else p["eps"]})]
    square, mean, shifted, rms = (site.fresh(n) for n in ("square", "mean", "shifted", "rms"))
    epsilon = OnnxConstant(site.fresh("eps"), (p["eps"],), "float32", ())
    normed = site.fresh("normed") if p["elementwise_affine"] else site.output
    records: list[OnnxRecord] = [
        epsilon,
        OnnxNode("Mul", (site.x, site.x), (square,)),
        *reduce_records(site, "ReduceMean", square, tuple(range(-k, 0)), mean),
        OnnxNode("Add", (mean, epsilon.name), (shifted,)),
        OnnxNode("Sqrt", (shifted,), (rms,)),
        OnnxNode("Div", (site.x, rms), (normed,)),
    ]
    if p["elementwise_affine"]:
        records.append(OnnxNode("Mul", (normed, site.weights["weight"]), (site.output,)))
    return records


SPECS = (
    LayerSpec(
        type="RMSNorm",
        category="Normalization",
        doc="Divides each sample by the root mean square of its last num_dims dimensions, then scales: LayerNorm without centring.",
        params=(
            Int("num_dims", 1, "How many trailing dimensions to normalize over (1: the feature dimension).", min=1, max=8),
            Float("eps", 1e-6, "Added to the mean square for numerical stability.", min=0.0, max=1.0),
            Bool("elementwise_affine", True, "Learn a scale per normalized element."),
        ),
        infer=_rms_norm,
        state=_state,
        count_macs=_macs,
        targets=targets(
            "nn.RMSNorm",
            "layers.RMSNormalization",
            "RMSNormalization",
            Unsupported("BVLC Caffe has no RMS normalization (its MVN centres and normalizes all of C, H, W)"),
        ),
        pytorch=_pytorch,
        keras=_keras,
        onnx=_onnx,
    ),
)
