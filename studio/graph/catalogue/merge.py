"""Merge layers: elementwise combinations and concatenation of several tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    SHARED,
    Inexpressible,
    LayerSpec,
    Params,
    Port,
    Shape,
    ShapeError,
    Unsupported,
    numel,
    resolve_dim,
    show,
    targets,
)
from studio.graph.catalogue.onnx_records import (
    OnnxEmitter,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    axis,
    shape_records,
)
from studio.graph.catalogue.pytorch_records import kw
from studio.graph.params import Int


def _num_inputs() -> Int:
    return Int("num_inputs", 2, "Number of input ports (in1, in2, ...).", min=2, max=16)


def _dims(shape: Shape) -> str:
    """Format a per-sample shape (the batch left out) as a Reshape parameter: (16, 8, 8), or just 64."""
    inner = [str(d) for d in shape[1:]]
    return inner[0] if len(inner) == 1 else "(" + ", ".join(inner) + ")"


def _shrink_hint(a: Shape, b: Shape, other: str) -> str | None:
    """How to bring the larger spatial size of in1 `a` or `other` `b` down to the smaller one."""
    rank = len(a) - 2
    if all(x >= y for x, y in zip(a[2:], b[2:])):
        big, sizes, small = "in1", a[2:], b[2:]
    elif all(y >= x for x, y in zip(a[2:], b[2:])):
        big, sizes, small = other, b[2:], a[2:]
    else:
        return None
    target = _dims((None, *small))
    if all((n or 0) % (m or 1) == 0 for n, m in zip(sizes, small)):
        factors = [(n or 0) // (m or 1) for n, m in zip(sizes, small)]
        kernel = str(factors[0]) if len(set(factors)) == 1 else "(" + ", ".join(map(str, factors)) + ")"
        if rank <= 2:
            return f"insert a MaxPool{rank}d with kernel_size {kernel} before {big} to shrink it to {target}"
        return f"insert a Conv3d with kernel_size 1, stride {kernel} and out_channels {a[1]} before {big} to shrink it to {target}"
    if rank <= 2:
        return f"insert an AdaptiveAvgPool{rank}d with output_size {target} before {big}"
    return None


def _resize_hint(a: Shape, b: Shape, index: int) -> str:
    """Say concretely how to make in{index} `b` match in1 `a`, based on where they differ."""
    other = f"in{index}"
    if len(a) != len(b):
        if numel(a) == numel(b):
            return f"insert a Reshape with shape {_dims(a)} before {other} so it matches in1"
        return "insert a Flatten or Reshape before one of them so both have the same number of dimensions"
    differ = [i for i in range(1, len(a)) if a[i] != b[i]]
    if len(a) == 2:
        return f"insert a Linear with out_features {a[1]} before {other} so it matches in1"
    if len(a) > 5:
        return "make every input the same shape"
    rank = len(a) - 2
    fixes = []
    if 1 in differ:
        fixes.append(f"insert a Conv{rank}d with kernel_size 1 and out_channels {a[1]} before {other} to match in1's channels")
    if any(i >= 2 for i in differ):
        if len(a) == 3 and 1 not in differ:
            pool = _shrink_hint(a, b, other)
            as_length = f"; if it is a length (N, C, L), {pool}" if pool else ""
            linear = f"insert a Linear with out_features {a[2]} before {other}"
            return f"if the last dimension holds features (N, T, F), {linear}{as_length}"
        pool = _shrink_hint(a, b, other)
        if pool is None:
            agree = (
                "shrink one with pooling or a strided convolution, or grow the other with Upsample or padding, "
                f"until the spatial sizes {_dims((None, *a[2:]))} and {_dims((None, *b[2:]))} agree"
            )
            return f"{fixes[0]}, and {agree}" if fixes else agree
        fixes.append(pool)
    return ", and ".join(fixes)


def _rank_hint(a: Shape, b: Shape, index: int) -> str:
    """How to give in{index} `b` the rank of in1 `a`: trailing 1s where its sizes lead `a`'s, else `_resize_hint`."""
    small, big, which = (b, a, f"in{index}") if len(b) < len(a) else (a, b, "in1")
    if big[1 : len(small)] == small[1:]:
        target = _dims((None, *small[1:], *(1,) * (len(big) - len(small))))
        return f"insert a Reshape with shape {target} before {which} so it broadcasts over the other's remaining dimensions"
    return _resize_hint(a, b, index)


def _elementwise(p: Params, ins: list[Shape | None]) -> list[Shape]:
    """PyTorch's broadcasting over inputs of one rank: per dimension equal sizes, or 1 against any size."""
    first = ins[0]
    assert first is not None
    out = list(first)
    for index, x in enumerate(ins[1:], start=2):
        assert x is not None
        so_far = f"in1 {show(first)}" if index == 2 else f"in1 to in{index - 1} (broadcast to {show(tuple(out))})"
        if len(x) != len(first):
            raise ShapeError(
                f"needs inputs with the same number of dimensions but gets {so_far} and in{index} {show(x)} "
                "(lining them up from the right would set the batch against another dimension)",
                _rank_hint(first, x, index),
            )
        for dim in range(1, len(out)):
            if x[dim] == out[dim] or x[dim] == 1:
                continue
            if out[dim] == 1:
                out[dim] = x[dim]
                continue
            raise ShapeError(
                f"cannot broadcast {so_far} with in{index} {show(x)}: dim {dim} is {out[dim]} against {x[dim]}, "
                "and sizes broadcast only where they are equal or one of them is 1",
                _resize_hint(first, x, index),
            )
    return [tuple(out)]


def _elementwise_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return (len(ins) - 1) * numel(outs[0])


def _concat(p: Params, ins: list[Shape | None]) -> list[Shape]:
    first = ins[0]
    assert first is not None
    axis = resolve_dim(p["dim"], first, "concatenate")
    total = 0
    for index, x in enumerate(ins, start=1):
        assert x is not None
        if len(x) != len(first):
            raise ShapeError(
                f"needs inputs with the same number of dimensions but gets in1 {show(first)} and in{index} {show(x)}",
                _resize_hint(first, x, index),
            )
        mismatch = [i for i in range(1, len(x)) if i != axis and x[i] != first[i]]
        if mismatch:
            listed = ", ".join(map(str, mismatch[:-1])) + f" and {mismatch[-1]}"
            where = f"dim {mismatch[0]}" if len(mismatch) == 1 else f"dims {listed}"
            if len(mismatch) == 1 and x[axis] == first[axis]:
                hint = f"set dim to {mismatch[0]} to join along the dimension that differs"
            else:
                hint = _resize_hint(first, (*x[:axis], first[axis], *x[axis + 1:]), index)
            raise ShapeError(
                f"cannot join in1 {show(first)} and in{index} {show(x)} along dim {axis}, because they also differ in {where}",
                hint,
            )
        total += x[axis] or 0
    return [(*first[:axis], total, *first[axis + 1:])]


def _chain_onnx(op: str, many: str | None = None) -> OnnxEmitter:
    """One `many` operator over all inputs where ONNX has one (Sum, Max), else a chain of binary `op`s."""

    def emit(site: OnnxSite) -> list[OnnxRecord]:
        names = [n for n in site.names if n is not None]
        if many is not None or len(names) == 2:
            return [OnnxNode(many or op, tuple(names), (site.output,))]
        records: list[OnnxRecord] = []
        total = names[0]
        for index, name in enumerate(names[1:], start=2):
            out = site.output if index == len(names) else site.fresh(f"{op.lower()}{index}")
            records.append(OnnxNode(op, (total, name), (out,)))
            total = out
        return records

    return emit


def _concat_onnx(site: OnnxSite) -> list[OnnxRecord]:
    reference = _per_sample(site.inputs, site.names)
    records: list[OnnxRecord] = []
    names = []
    if reference is not None:  # Expand a shared input to (N, 1, ..., 1): ONNX's Concat does not broadcast
        target = site.fresh("target")
        records += shape_records(site, reference, 1, (1,) * (len(site.shape) - 1), target)
    for shape_of, name in zip(site.inputs, site.names):
        if reference is not None and shape_of is not None and shape_of[0] == SHARED:
            expanded = site.fresh("expanded")
            records.append(OnnxNode("Expand", (name, target), (expanded,)))  # type: ignore[arg-type]
            name = expanded
        names.append(name)
    records.append(OnnxNode("Concat", tuple(names), (site.output,), {"axis": axis(site.params["dim"], len(site.shape))}))  # type: ignore[arg-type]
    return records


# ----- PyTorch, Keras, Caffe -----
def _inputs(site: pytorch_records.Site | keras_records.Site) -> tuple[str, ...]:
    return tuple(a for a in site.args if a is not None)


def _chain_pytorch(op: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    return lambda s: pytorch_records.Emitted(None, pytorch_records.Chain(op, _inputs(s)))


def _nested_pytorch(func: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    """`func(func(a, b), c)`: a binary function over every input, broadcasting as it goes."""

    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        xs = _inputs(s)
        text = f"{func}({xs[0]}, {xs[1]})"
        for x in xs[2:]:
            text = f"{func}({text}, {x})"
        return pytorch_records.Emitted(None, pytorch_records.Raw(text))

    return emit


def _per_sample(inputs: tuple[Shape | None, ...], names: tuple[str | None, ...]) -> str | None:
    """The first input that holds the batch's samples, when another is shared by all of them (batch 1)."""
    pairs = [(shape, name) for shape, name in zip(inputs, names) if shape is not None and name is not None]
    if all(shape[0] != SHARED for shape, _ in pairs):
        return None
    return next((name for shape, name in pairs if shape[0] != SHARED), None)


def _concat_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    reference = _per_sample(s.inputs, s.args)
    xs = []
    for shape, x in zip(s.inputs, s.args):
        if shape is not None and x is not None:
            keep = ", ".join(["-1"] * (len(shape) - 1))
            xs.append(f"{x}.expand({reference}.size(0), {keep})" if reference and shape[0] == SHARED else x)
    call = pytorch_records.Call("torch.cat", (f"({', '.join(xs)})", kw("dim", s.params["dim"])))
    return pytorch_records.Emitted(None, call)


def _keras_merge(cls: str, *args: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    return lambda s: keras_records.layer(s, cls, *args, x=f"[{', '.join(_inputs(s))}]")


def _keras_add(s: keras_records.Site) -> keras_records.Emitted:
    """`layers.Add` where the inputs have one shape; where they broadcast, `+` in a Lambda.

    NOTE: Keras' Add merges with `ops.add`, which on TensorFlow treats an operand that squeezes to
    one axis of the other's channel count or width as a bias (`keras_records.biased`) and may add it
    along the wrong axis; `+` on the backend's tensors broadcasts as PyTorch does on every backend.
    """
    xs = _inputs(s)
    shapes = [shape for shape, x in zip(s.inputs, s.args) if x is not None]
    if all(shape == shapes[0] for shape in shapes):
        return _keras_merge("Add")(s)
    body = " + ".join(f"t[{i}]" for i in range(len(xs)))
    return keras_records.Emitted([keras_records.function(s, body, x=f"[{', '.join(xs)}]")])


def _keras_divide(s: keras_records.Site) -> keras_records.Emitted:
    a, b = _inputs(s)
    return keras_records.Emitted([keras_records.function(s, "ops.divide(t[0], t[1])", x=f"[{a}, {b}]")])


def _concat_keras(s: keras_records.Site) -> keras_records.Emitted:
    reference = _per_sample(s.inputs, s.args)
    if reference is None:
        return _keras_merge("Concatenate", kw("axis", s.params["dim"]))(s)
    # a shared tensor meets the samples: adding zeros shaped (N, 1, ...) broadcasts it over the batch
    steps, xs = [], []
    for shape, x in zip(s.inputs, s.args):
        if shape is None or x is None:
            continue
        if shape[0] == SHARED:
            ones = ", ".join(["0:1"] * (len(shape) - 1))
            name = s.claim(f"{s.var}_{x}")
            steps.append(keras_records.function(s, f"t[0] + ops.zeros_like(t[1][:, {ones}])", f"[{x}, {reference}]", name))
            steps[-1] = keras_records.Step(name, steps[-1].expr)
            x = name
        xs.append(x)
    joined = keras_records.Apply(pytorch_records.Call("layers.Concatenate", (kw("axis", s.params["dim"]), keras_records.named(s.var))), (f"[{', '.join(xs)}]",))
    return keras_records.Emitted([*steps, keras_records.Step(s.var, joined)])


def _eltwise(operation: str, coeffs: tuple[int, ...] = ()) -> Callable[[caffe_records.Site], list[caffe_records.Layer]]:
    def emit(site: caffe_records.Site) -> list[caffe_records.Layer]:
        if any(shape != site.output for shape in site.inputs):
            shown = ", ".join(show(x) for x in site.inputs)
            raise Inexpressible(f"broadcasts {shown}: Caffe's Eltwise needs inputs of one shape")
        fields: caffe_records.Fields = [("operation", caffe_records.Word(operation)), *(("coeff", c) for c in coeffs)]
        return [caffe_records.Layer(site.name, "Eltwise", site.bottoms, [site.name], [("eltwise_param", fields)])]

    return emit


def _concat_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    if any(shape[0] == SHARED for shape in site.inputs) and site.output[0] != SHARED:
        raise Inexpressible("joins a tensor shared by every sample to per-sample ones: Caffe's Concat cannot broadcast it")
    fields: caffe_records.Fields = [("axis", caffe_records.axis(site.params["dim"], site.rank()))]
    return [caffe_records.Layer(site.name, "Concat", site.bottoms, [site.name], [("concat_param", fields)])]


def _merge(
    layer_type: str,
    doc: str,
    pytorch: str,
    keras: str,
    onnx: str,
    caffe: str | Unsupported,
    emitters: tuple[Callable[..., Any], Callable[..., Any], OnnxEmitter, Callable[..., Any] | None],
) -> LayerSpec:
    """A variadic elementwise merge; `emitters` are its PyTorch, Keras, ONNX and Caffe ones."""
    return LayerSpec(
        type=layer_type,
        category="Merge",
        doc=doc,
        params=(_num_inputs(),),
        infer=_elementwise,
        variadic=True,
        count_macs=_elementwise_macs,
        output_dtype="same",
        shares=True,
        targets=targets(pytorch, keras, onnx, caffe),
        pytorch=emitters[0],
        keras=emitters[1],
        onnx=emitters[2],
        caffe=emitters[3],
    )


_NO_CAFFE_MIN = Unsupported("BVLC Caffe's Eltwise has SUM, PROD and MAX, but no MIN")

SPECS = (
    # ONNX Max takes any number of inputs; Add and Mul are binary, so n inputs chain n - 1 nodes.
    # Caffe Eltwise takes its operation as a parameter (SUM, PROD, MAX).
    _merge(
        "Add", "Adds its inputs elementwise, as in a residual connection (broadcasting sizes of 1).",
        "torch.add", "layers.Add", "Add", "Eltwise",
        (_chain_pytorch("+"), _keras_add, _chain_onnx("Add"), _eltwise("SUM")),
    ),
    _merge(
        "Multiply", "Multiplies its inputs elementwise, as in gating and squeeze-and-excitation (broadcasting sizes of 1).",
        "torch.mul", "layers.Multiply", "Mul", "Eltwise",
        (_chain_pytorch("*"), _keras_merge("Multiply"), _chain_onnx("Mul"), _eltwise("PROD")),
    ),
    _merge(
        "Maximum", "Takes the elementwise maximum of its inputs.",
        "torch.maximum", "layers.Maximum", "Max", "Eltwise",
        (_nested_pytorch("torch.maximum"), _keras_merge("Maximum"), _chain_onnx("Max", many="Max"), _eltwise("MAX")),
    ),
    _merge(
        "Minimum", "Takes the elementwise minimum of its inputs.",
        "torch.minimum", "layers.Minimum", "Min", _NO_CAFFE_MIN,
        (_nested_pytorch("torch.minimum"), _keras_merge("Minimum"), _chain_onnx("Min", many="Min"), None),
    ),
    LayerSpec(
        type="Subtract",
        category="Merge",
        doc="Subtracts its second input from its first, elementwise (broadcasting sizes of 1).",
        params=(),
        infer=_elementwise,
        inputs=(Port("in1"), Port("in2")),
        count_macs=_elementwise_macs,
        output_dtype="same",
        shares=True,
        # Caffe: Eltwise SUM with coefficients (1, -1).
        targets=targets("torch.sub", "layers.Subtract", "Sub", "Eltwise"),
        pytorch=_chain_pytorch("-"),
        keras=_keras_merge("Subtract"),
        onnx=_chain_onnx("Sub"),
        caffe=_eltwise("SUM", (1, -1)),
    ),
    LayerSpec(
        type="Divide",
        category="Merge",
        doc="Divides its first input by its second, elementwise (broadcasting sizes of 1).",
        params=(),
        infer=_elementwise,
        inputs=(Port("in1"), Port("in2")),
        count_macs=_elementwise_macs,
        shares=True,
        targets=targets("torch.div", "ops.divide", "Div", Unsupported("BVLC Caffe's Eltwise has no division")),
        pytorch=_chain_pytorch("/"),
        keras=_keras_divide,
        onnx=_chain_onnx("Div"),
    ),
    LayerSpec(
        type="Concat",
        category="Merge",
        doc="Joins its inputs along one dimension (channels by default), as in DenseNet and U-Net.",
        params=(
            _num_inputs(),
            Int("dim", 1, "Dimension to join along, counted with the batch as 0 (1: channels, -1: the last).", min=-16, max=16),
        ),
        infer=_concat,
        variadic=True,
        shares=True,
        input_dtype="any",
        output_dtype="same",
        targets=targets("torch.cat", "layers.Concatenate", "Concat", "Concat"),
        pytorch=_concat_pytorch,
        keras=_concat_keras,
        caffe=_concat_caffe,
        onnx=_concat_onnx,
    ),
)
