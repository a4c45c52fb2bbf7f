"""Reductions: a statistic over chosen dimensions, the position of the largest or smallest entry, norms and normalization.

Every layer here reduces along dimensions counted with the batch as 0 and never along the batch
itself. With `keepdim` a reduced dimension stays, with size 1, so the result lines up with the input.
"""

from __future__ import annotations

from collections.abc import Callable

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    Unsupported,
    numel,
    resolve_dim,
    resolve_dims,
    targets,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxEmitter,
    OnnxImport,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxValues,
    clean,
    reduce_records,
)
from studio.graph.catalogue.pytorch_records import Call, Emitted, Raw, kw, options, size
from studio.graph.params import Bool, Float, Int, Ints, Param


def _dims() -> Param:
    return Ints("dims", (-1,), "Dimensions to reduce, counted with the batch as 0 (1: channels, -1: the last); never the batch.", min=-16, max=16)


def _keepdim() -> Param:
    return Bool("keepdim", False, "Keep each reduced dimension with size 1, so the result lines up with the input.")


def _p(doc: str) -> Param:
    return Float("p", 2.0, doc, min=1.0, max=64.0)


# ----- shapes -----
def _reduced(x: Shape, axes: list[int], keep: bool) -> Shape:
    return tuple(1 if i in axes else d for i, d in enumerate(x) if keep or i not in axes)


def _reduce(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    return [_reduced(x, resolve_dims(p["dims"], x, "reduce"), p["keepdim"])]


def _search(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    return [_reduced(x, [resolve_dim(p["dim"], x, "search")], p["keepdim"])]


def _normalize(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    resolve_dim(p["dim"], x, "normalize")
    return [x]


def _per_input_element(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(ins[0])


def _axes(params: Params, shape: Shape, key: str = "dims") -> list[int]:
    """The reduced dimensions as non-negative indices, in rising order."""
    dims = params[key] if key == "dims" else (params[key],)
    return sorted(d % len(shape) for d in dims)


# ----- PyTorch -----
def _keep(p: Params) -> tuple[str, ...]:
    return ("keepdim=True",) if p["keepdim"] else ()


def _torch(func: str, method: bool = True) -> Callable[[pytorch_records.Site], Emitted]:
    """`x.func(dim=...)`, or `func(x, dim=...)` when it is not a method."""

    def emit(s: pytorch_records.Site) -> Emitted:
        key = "dims" if "dims" in s.params else "dim"
        dims = kw("dim", size(tuple(s.params["dims"])) if key == "dims" else s.params["dim"])
        if method:
            return Emitted(None, Call(f"{s.x}.{func}", (dims, *_keep(s.params))))
        return Emitted(None, Call(func, (s.x, dims, *_keep(s.params))))

    return emit


def _prod_pytorch(s: pytorch_records.Site) -> Emitted:
    """torch.prod takes one dimension at a time: the last first, so the others keep their numbers."""
    axes = _axes(s.params, s.shape)
    keep = ", keepdim=True" if s.params["keepdim"] else ""
    return Emitted(None, Raw(s.x + "".join(f".prod({a}{keep})" for a in reversed(axes))))


def _norm_pytorch(s: pytorch_records.Site) -> Emitted:
    args = (s.x, kw("ord", s.params["p"]), kw("dim", size(tuple(s.params["dims"]))), *_keep(s.params))
    return Emitted(None, Call("torch.linalg.vector_norm", args))


def _normalize_pytorch(s: pytorch_records.Site) -> Emitted:
    return Emitted(None, Call("nn.functional.normalize", (s.x, *options(s.params, {"p": 2.0, "dim": 1, "eps": 1e-12}))))


# ----- Keras -----
def _axis_args(p: Params) -> str:
    dims = size(tuple(p["dims"])) if "dims" in p else p["dim"]
    return f"axis={literal(dims)}" + (", keepdims=True" if p["keepdim"] else "")


def _ops(func: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    return lambda s: keras_records.Emitted([keras_records.function(s, f"ops.{func}(t, {_axis_args(s.params)})")])


def _arg_keras(func: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    """ops.argmax gives int32 on some backends: cast to PyTorch's int64."""
    return lambda s: keras_records.Emitted([keras_records.function(s, f'ops.cast(ops.{func}(t, {_axis_args(s.params)}), "int64")')])


def _norm_bodies(p: float, axes: str) -> tuple[str, ...]:
    """Lambda bodies, applied in turn, that compute the p-norm over `axes`."""
    if p == 2:
        return (f"ops.sqrt(ops.sum(ops.square(t), {axes}))",)
    if p == 1:
        return (f"ops.sum(ops.abs(t), {axes})",)
    return (f"ops.power(ops.abs(t), {p!r})", f"ops.power(ops.sum(t, {axes}), 1 / {p!r})")


def _norm_keras(s: keras_records.Site) -> keras_records.Emitted:
    return keras_records.functions(s, *_norm_bodies(s.params["p"], _axis_args(s.params)))


def _normalize_keras(s: keras_records.Site) -> keras_records.Emitted:
    p, eps = s.params["p"], s.params["eps"]
    if p == int(p):  # ops.normalize takes whole orders only: x / max(norm, epsilon)
        body = f"ops.normalize(t, axis={s.params['dim']}, order={int(p)}, epsilon={eps!r})"
        return keras_records.Emitted([keras_records.function(s, body)])
    norm = s.claim(f"{s.var} norm")
    steps = keras_records.functions(s, *_norm_bodies(p, f"axis={s.params['dim']}, keepdims=True"), last=norm).steps
    body = f"lambda t: t[0] / ops.maximum(t[1], {eps!r})"
    divide = keras_records.Apply(Call("layers.Lambda", (body, keras_records.named(s.var))), (f"[{s.x}, {norm}]",))
    return keras_records.Emitted([*steps, keras_records.Step(s.var, divide)])


# ----- ONNX -----
def _reduce_node(site: OnnxSite, op: str, x: str, out: str, axes: list[int], keep: bool) -> list[OnnxRecord]:
    return reduce_records(site, op, x, tuple(axes), out, keep)


def _reduce_onnx(op: str) -> OnnxEmitter:
    return lambda site: _reduce_node(site, op, site.x, site.output, _axes(site.params, site.shape), site.params["keepdim"])


def _scalar(site: OnnxSite, name: str, value: float) -> OnnxConstant:
    return OnnxConstant(site.fresh(name), (clean(value),), "float32", ())


def _norm_records(site: OnnxSite, out: str, axes: list[int], keep: bool) -> list[OnnxRecord]:
    """ReduceL1 or ReduceL2; any other p as (sum of |x|^p)^(1/p)."""
    p = site.params["p"]
    if p in (1, 2):
        return _reduce_node(site, f"ReduceL{int(p)}", site.x, out, axes, keep)
    power, root = _scalar(site, "p", p), _scalar(site, "inverse_p", 1 / p)
    size, powered, total = (site.fresh(n) for n in ("abs", "powered", "sum"))
    return [
        power,
        root,
        OnnxNode("Abs", (site.x,), (size,)),
        OnnxNode("Pow", (size, power.name), (powered,)),
        *_reduce_node(site, "ReduceSum", powered, total, axes, keep),
        OnnxNode("Pow", (total, root.name), (out,)),
    ]


def _norm_onnx(site: OnnxSite) -> list[OnnxRecord]:
    return _norm_records(site, site.output, _axes(site.params, site.shape), site.params["keepdim"])


def _normalize_onnx(site: OnnxSite) -> list[OnnxRecord]:
    norm, floor = site.fresh("norm"), site.fresh("clamped")
    eps = _scalar(site, "eps", site.params["eps"])
    return [
        *_norm_records(site, norm, _axes(site.params, site.shape, "dim"), True),
        eps,
        OnnxNode("Max", (norm, eps.name), (floor,)),
        OnnxNode("Div", (site.x, floor), (site.output,)),
    ]


def _arg_onnx(op: str) -> OnnxEmitter:
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        attrs = {"axis": _axes(site.params, site.shape, "dim")[0], "keepdims": None if site.params["keepdim"] else 0}
        return [OnnxNode(op, (site.x,), (site.output,), attrs)]

    return emit


# ----- Caffe -----
def _tail(site: caffe_records.Site) -> int:
    """The first reduced axis, when the reduced axes run from it to the last (the only form Caffe's Reduction has)."""
    axes, rank = _axes(site.params, site.inputs[0]), site.rank()
    if axes != list(range(axes[0], rank)):
        raise Inexpressible(
            f"dims {tuple(site.params['dims'])}: Caffe's Reduction reduces every axis from one on to the last, "
            f"such as dims {tuple(range(axes[0], rank))}"
        )
    return axes[0]


def _kept(site: caffe_records.Site, layers: list[caffe_records.Layer]) -> list[caffe_records.Layer]:
    """Reshape the last layer's result to the node's output when keepdim asks for the reduced axes back."""
    if not site.params["keepdim"]:
        return layers
    last = layers[-1]
    reduced = site.blob("reduced")
    last.tops = [reduced]
    return [*layers, caffe_records.reshape(site.blob("keepdim"), reduced, site.name, site.output)]


def _reduction_caffe(operation: str) -> Callable[[caffe_records.Site], list[caffe_records.Layer]]:
    def emit(site: caffe_records.Site) -> list[caffe_records.Layer]:
        fields: caffe_records.Fields = [("operation", caffe_records.Word(operation)), ("axis", _tail(site))]
        return _kept(site, [caffe_records.Layer(site.name, "Reduction", site.bottoms, [site.name], [("reduction_param", fields)])])

    return emit


def _norm_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    p = site.params["p"]
    if p not in (1, 2):
        raise Inexpressible(f"p {p}: Caffe's Reduction sums absolute values (p 1) or squares (p 2) only")
    fields: caffe_records.Fields = [("operation", caffe_records.Word("ASUM" if p == 1 else "SUMSQ")), ("axis", _tail(site))]
    if p == 1:
        return _kept(site, [caffe_records.Layer(site.name, "Reduction", site.bottoms, [site.name], [("reduction_param", fields)])])
    squares = site.blob("squares")
    return _kept(site, [
        caffe_records.Layer(squares, "Reduction", site.bottoms, [squares], [("reduction_param", fields)]),
        caffe_records.Layer(site.name, "Power", [squares], [site.name], [("power_param", [("power", 0.5)])]),
    ])


def _arg_caffe(negate: bool) -> Callable[[caffe_records.Site], list[caffe_records.Layer]]:
    """Caffe's ArgMax along an axis (keeping it, size 1); ArgMin is the ArgMax of the negated input."""

    def emit(site: caffe_records.Site) -> list[caffe_records.Layer]:
        layers, bottoms = [], site.bottoms
        if negate:
            negated = site.blob("negated")
            layers.append(caffe_records.Layer(negated, "Power", bottoms, [negated], [("power_param", [("scale", -1.0)])]))
            bottoms = [negated]
        found = site.name if site.params["keepdim"] else site.blob("found")
        axis = _axes(site.params, site.inputs[0], "dim")[0]
        layers.append(caffe_records.Layer(site.name, "ArgMax", bottoms, [found], [("argmax_param", [("axis", axis)])]))
        if not site.params["keepdim"]:
            layers.append(caffe_records.reshape(site.blob("squeezed"), found, site.name, site.output))
        return layers

    return emit


# ----- ONNX import -----
def _reduce_import(values: OnnxValues) -> Params:
    axes = values.get("axes")
    if not axes:
        raise Inexpressible("over every dimension, the batch included")
    return {"dims": tuple(int(a) for a in axes), "keepdim": bool(values.get("keepdims", 1))}


def _norm_import(p: float) -> Callable[[OnnxValues], Params]:
    return lambda values: {**_reduce_import(values), "p": p}


def _arg_import(values: OnnxValues) -> Params:
    if values.get("select_last_index", 0):
        raise Inexpressible("the last of equal entries (select_last_index)")
    return {"dim": int(values.get("axis", 0)), "keepdim": bool(values.get("keepdims", 1))}


# ----- the types -----
def _reduction(
    layer_type: str,
    doc: str,
    pytorch: tuple[str, Callable[[pytorch_records.Site], Emitted]],
    keras: str,
    onnx: str,
    caffe: str | Unsupported,
) -> LayerSpec:
    """A statistic over `dims`: PyTorch's function, Keras' op, ONNX's Reduce operator, Caffe's Reduction operation."""
    return LayerSpec(
        type=layer_type,
        category="Reduce",
        doc=doc,
        params=(_dims(), _keepdim()),
        infer=_reduce,
        count_macs=_per_input_element,
        targets=targets(pytorch[0], f"ops.{keras}", onnx, caffe if isinstance(caffe, Unsupported) else f"Reduction {caffe}"),
        pytorch=pytorch[1],
        keras=_ops(keras),
        onnx=_reduce_onnx(onnx),
        caffe=None if isinstance(caffe, Unsupported) else _reduction_caffe(caffe),
        onnx_import=(OnnxImport(onnx, _reduce_import, ("axes",)),),
    )


def _arg(layer_type: str, doc: str) -> LayerSpec:
    """ArgMax or ArgMin: the int64 index of the first largest (smallest) entry along `dim`."""
    func = layer_type.lower()
    return LayerSpec(
        type=layer_type,
        category="Reduce",
        doc=doc,
        params=(Int("dim", -1, "Dimension to search along, counted with the batch as 0 (-1: the last).", min=-16, max=16), _keepdim()),
        infer=_search,
        count_macs=_per_input_element,
        output_dtype="int",
        # NOTE: Caffe's ArgMax gives the index as a float, and the last of equal entries.
        targets=targets(f"torch.{func}", f"ops.{func}", layer_type, "Power + ArgMax" if layer_type == "ArgMin" else "ArgMax"),
        pytorch=_torch(func),
        keras=_arg_keras(func),
        onnx=_arg_onnx(layer_type),
        caffe=_arg_caffe(layer_type == "ArgMin"),
        onnx_import=(OnnxImport(layer_type, _arg_import),),
    )


def _no_reduction(what: str) -> Unsupported:
    return Unsupported(f"Caffe's Reduction has no {what} (only sum, mean, absolute sum and sum of squares)")


SPECS = (
    _reduction("ReduceMean", "The mean over the chosen dimensions.", ("Tensor.mean", _torch("mean")), "mean", "ReduceMean", "MEAN"),
    _reduction("ReduceSum", "The sum over the chosen dimensions.", ("Tensor.sum", _torch("sum")), "sum", "ReduceSum", "SUM"),
    _reduction(
        "ReduceMax", "The largest entry over the chosen dimensions.",
        ("Tensor.amax", _torch("amax")), "max", "ReduceMax", _no_reduction("maximum"),
    ),
    _reduction(
        "ReduceMin", "The smallest entry over the chosen dimensions.",
        ("Tensor.amin", _torch("amin")), "min", "ReduceMin", _no_reduction("minimum"),
    ),
    _reduction(
        "ReduceProd", "The product over the chosen dimensions.",
        ("Tensor.prod", _prod_pytorch), "prod", "ReduceProd", _no_reduction("product"),
    ),
    _reduction(
        "LogSumExp", "log(sum(exp(x))) over the chosen dimensions, computed without overflow: a smooth maximum.",
        ("torch.logsumexp", _torch("torch.logsumexp", method=False)), "logsumexp", "ReduceLogSumExp", _no_reduction("log-sum-exp"),
    ),
    _arg("ArgMax", "The index (int64) of the largest entry along a dimension; the first one where several are equal."),
    _arg("ArgMin", "The index (int64) of the smallest entry along a dimension; the first one where several are equal."),
    LayerSpec(
        type="Norm",
        category="Reduce",
        doc="The p-norm over the chosen dimensions: (sum of |x|^p)^(1/p); p 2 is the Euclidean length.",
        params=(_dims(), _keepdim(), _p("The order of the norm: 1 sums absolute values, 2 is the Euclidean length.")),
        infer=_reduce,
        count_macs=_per_input_element,
        targets=targets("torch.linalg.vector_norm", "keras.ops", "ReduceL1 / ReduceL2", "Reduction ASUM / SUMSQ + Power"),
        pytorch=_norm_pytorch,
        keras=_norm_keras,
        onnx=_norm_onnx,
        caffe=_norm_caffe,
        onnx_import=(OnnxImport("ReduceL1", _norm_import(1.0), ("axes",)), OnnxImport("ReduceL2", _norm_import(2.0), ("axes",))),
    ),
    LayerSpec(
        type="Normalize",
        category="Reduce",
        doc="Divides by the p-norm along a dimension, x / max(||x||_p, eps): unit-length vectors, as F.normalize.",
        params=(
            Int("dim", 1, "Dimension whose entries form each vector, counted with the batch as 0 (-1: the last).", min=-16, max=16),
            _p("The order of the norm divided by: 2 gives unit Euclidean length."),
            Float("eps", 1e-12, "The smallest norm divided by, so a vector of zeros stays zeros.", min=0.0, max=1.0),
        ),
        infer=_normalize,
        count_macs=lambda p, ins, outs: 2 * numel(ins[0]),
        output_dtype="same",
        targets=targets(
            "nn.functional.normalize", "ops.normalize", "ReduceL2 + Max + Div", Unsupported("BVLC Caffe has no Normalize layer")
        ),
        pytorch=_normalize_pytorch,
        keras=_normalize_keras,
        onnx=_normalize_onnx,
        onnx_patterns=("normalize",),  # ReduceL1/L2, then Max or Clip (an Expand between), then Div
    ),
)
