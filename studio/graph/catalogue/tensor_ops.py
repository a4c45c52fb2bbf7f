"""Tensor rearrangements: dimensions added, removed, swapped or split up, entries copied, picked, reversed, rolled or summed up.

Dimensions count the batch as 0; none of these layers moves, removes or mixes the batch.
The layers that cut one tensor into pieces or join several into one are in `pieces`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    Unsupported,
    numel,
    resolve_dim,
    resolve_dims,
    show,
    targets,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxImport,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxValues,
)
from studio.graph.catalogue.pytorch_records import Call, Emitted, Picking, Raw, size
from studio.graph.params import Bool, Int, Ints, Param

INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
MAX_PICKED = 1 << 20  # indices one IndexSelect holds: a relative position bias picks (window size)^4 table rows


def _dims(default: tuple[int, ...], doc: str) -> Param:
    return Ints("dims", default, doc, min=-16, max=16)


def _sizes(values: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, values)) + ")"


def _axis_of(p: Params, shape: Shape, key: str = "dim") -> int:
    return p[key] % len(shape)


def _axes_of(p: Params, shape: Shape, key: str = "dims") -> list[int]:
    return [d % len(shape) for d in p[key]]


def _ones(x: Shape) -> str:
    found = [str(i) for i in range(1, len(x)) if x[i] == 1]
    return ", ".join(found)


def _per_dim(what: str, given: tuple[int, ...], x: Shape, hint: str) -> None:
    """ShapeError unless `given` holds one value per non-batch dimension of `x`."""
    if len(given) != len(x) - 1:
        plural = "dimension" if len(x) == 2 else "dimensions"
        raise ShapeError(f"has {what} {_sizes(given)} but its input {show(x)} has {len(x) - 1} non-batch {plural}", hint)


# ----- shapes -----
def _squeeze(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    axes = resolve_dims(p["dims"], x, "remove a dimension")
    for d, a in zip(p["dims"], axes):
        if x[a] != 1:
            ones = _ones(x)
            hint = f"choose among the dimensions of size 1 ({ones})" if ones else "only a dimension of size 1 can be removed; a reduction or a Reshape shrinks others"
            raise ShapeError(f"would remove dim {d} of its input {show(x)}, which has size {x[a]}, not 1", hint)
    return [tuple(s for i, s in enumerate(x) if i not in axes)]


def inserted_at(dim: int, x: Shape) -> int:
    """Where Unsqueeze puts its new dimension, as an index into the result; ShapeError before the batch or out of range."""
    rank = len(x) + 1
    valid = f"choose dim from 1 to {rank - 1}, or from -{rank - 1} to -1 counting from the end of the result"
    if not -rank <= dim < rank:
        raise ShapeError(f"has dim {dim} but its result would have only dimensions 0 to {rank - 1}", valid)
    if dim % rank == 0:
        raise ShapeError(f"would put a dimension in front of the batch (dim {dim} of the result)", valid)
    return dim % rank


def _unsqueeze(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    at = inserted_at(p["dim"], x)
    return [(*x[:at], 1, *x[at:])]


def _transpose(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    a, b = resolve_dim(p["dim0"], x, "swap"), resolve_dim(p["dim1"], x, "swap")
    out = list(x)
    out[a], out[b] = x[b], x[a]
    return [tuple(out)]


def _unflatten(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    at = resolve_dim(p["dim"], x, "unflatten")
    sizes, total = list(p["sizes"]), int(x[at] or 0)
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if total % known:
            raise ShapeError(
                f"cannot cut dim {p['dim']} of its input {show(x)} ({total} entries) into sizes {_sizes(p['sizes'])}: "
                f"{total} is not divisible by {known}",
                f"choose sizes whose product divides {total}",
            )
        sizes[sizes.index(-1)] = total // known
    elif known != total:
        raise ShapeError(
            f"cannot cut dim {p['dim']} of its input {show(x)} ({total} entries) into sizes {_sizes(p['sizes'])} ({known} entries)",
            f"choose sizes that multiply to {total}, or use -1 for one of them (it is then inferred)",
        )
    return [(*x[:at], *sizes, *x[at + 1 :])]


def _expand(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    sizes = p["sizes"]
    _per_dim("sizes", sizes, x, f"give one size per non-batch dimension ({len(x) - 1}), -1 to keep one as it is")
    out: list[int | None] = [None]
    for i, (have, want) in enumerate(zip(x[1:], sizes), start=1):
        if want == -1 or want == have:
            out.append(have)
        elif want == 0:
            raise ShapeError(f"would expand dim {i} of its input {show(x)} to size 0", "give a size of at least 1, or -1 to keep it")
        elif have == 1:
            out.append(want)
        else:
            raise ShapeError(
                f"cannot expand dim {i} of its input {show(x)} from size {have} to {want}",
                "only a dimension of size 1 grows; -1 keeps a dimension, and Repeat copies a larger one",
            )
    return [tuple(out)]


def _repeat(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    counts = p["repeats"]
    _per_dim("repeats", counts, x, f"give one count per non-batch dimension ({len(x) - 1}), 1 to keep one as it is")
    return [(None, *((d or 0) * c for d, c in zip(x[1:], counts)))]


def _same_dims(p: Params, ins: list[Shape | None], action: str) -> list[Shape]:
    x = ins[0]
    assert x is not None
    resolve_dims(p["dims"], x, action)
    return [x]


def _roll(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    if len(p["shifts"]) != len(p["dims"]):
        raise ShapeError(
            f"has {len(p['shifts'])} shifts {_sizes(p['shifts'])} for {len(p['dims'])} dims {_sizes(p['dims'])}",
            "give one shift per dimension rolled",
        )
    return _same_dims(p, ins, "roll")


def _index_select(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    at = resolve_dim(p["dim"], x, "pick entries")
    indices, have = p["indices"], int(x[at] or 0)
    beyond = [i for i in indices if i >= have]
    if beyond:
        raise ShapeError(
            f"picks index {beyond[0]} along dim {p['dim']}, but its input {show(x)} has only {have} entries there",
            f"choose indices from 0 to {have - 1}",
        )
    if not p["keepdim"]:
        if len(indices) != 1:
            raise ShapeError(
                f"removes dim {p['dim']} but picks {len(indices)} entries there",
                "give one index to remove the dimension, or set keepdim",
            )
        return [(*x[:at], *x[at + 1 :])]
    return [(*x[:at], len(indices), *x[at + 1 :])]


def _cumsum(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    resolve_dim(p["dim"], x, "sum up")
    return [x]


def _per_element(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0])


# ----- PyTorch -----
def _method(name: str, *keys: str, batch: bool = False) -> Callable[[pytorch_records.Site], Emitted]:
    """`x.name(params...)`, each parameter written bare (a tuple spread out, after -1 or 1 for the batch when `batch`)."""

    def emit(s: pytorch_records.Site) -> Emitted:
        args = ["-1" if name == "expand" else "1"] if batch else []
        for key in keys:
            value = s.params[key]
            if batch:
                args += [str(v) for v in value]
            else:
                args.append(literal(size(tuple(value)) if isinstance(value, tuple) else value))
        return Emitted(None, Call(f"{s.x}.{name}", tuple(args)))

    return emit


def _index_select_pytorch(s: pytorch_records.Site) -> Emitted:
    indices, axis = s.params["indices"], _axis_of(s.params, s.shape)
    if not s.params["keepdim"]:
        return Emitted(None, Raw(f"{s.x}[{':, ' * axis}{indices[0]}]"))
    return Emitted(None, Picking(s.x, (":",) * axis, tuple(map(str, indices))))


def _cumsum_pytorch(s: pytorch_records.Site) -> Emitted:
    d = s.params["dim"]
    summed = f"{s.x}.flip({d}).cumsum({d}).flip({d})" if s.params["reverse"] else f"{s.x}.cumsum({d})"
    return Emitted(None, Raw(f"{summed} - {s.x}" if s.params["exclusive"] else summed))


# ----- Keras -----
def _keras(body: Callable[[keras_records.Site], str]) -> Callable[[keras_records.Site], keras_records.Emitted]:
    return lambda s: keras_records.Emitted([keras_records.function(s, body(s))])


def _dims_literal(s: keras_records.Site, key: str = "dims") -> str:
    return literal(size(tuple(s.params[key])))


def _tiles(s: keras_records.Site | OnnxSite, output: Shape) -> tuple[int, ...]:
    """The copies of each dimension (the batch's 1) that take the input to `output`."""
    return (1, *(int(o or 0) // int(i or 1) for i, o in zip(s.shape[1:], output[1:])))


def _cumsum_keras(s: keras_records.Site) -> str:
    d = s.params["dim"]
    summed = f"ops.flip(ops.cumsum(ops.flip(t, {d}), {d}), {d})" if s.params["reverse"] else f"ops.cumsum(t, {d})"
    return f"{summed} - t" if s.params["exclusive"] else summed


def _index_tuple(indices: tuple[int, ...]) -> keras_records.Expr:
    """A tuple expression of the indices: `tuple(range(...))` for an evenly spaced run, else the literal."""
    step = indices[1] - indices[0] if len(indices) > 2 else 0
    if step and all(b - a == step for a, b in pairwise(indices)):
        stop, stepping = indices[-1] + step, f", {step}" if step != 1 else ""
        start = f"{indices[0]}, " if indices[0] or stepping else ""
        return Raw(f"tuple(range({start}{stop}{stepping}))")
    items = tuple(str(i) for i in indices)
    return Raw(f"({items[0]},)") if len(items) == 1 else Call("", items)


def _index_select_keras(s: keras_records.Site) -> keras_records.Emitted:
    indices, dim = s.params["indices"], s.params["dim"]
    if not s.params["keepdim"]:
        return keras_records.Emitted([keras_records.function(s, f"ops.take(t, {indices[0]}, axis={dim})")])
    rows = s.claim("rows")  # a local tuple, which the driver wraps as black does however long it is
    listed = keras_records.Step(rows, _index_tuple(tuple(indices)))
    return keras_records.Emitted([listed, keras_records.function(s, f"ops.take(t, list({rows}), axis={dim})")])


# ----- ONNX -----
def _constant_input(site: OnnxSite, op: str, name: str, values: tuple[int, ...], attrs: dict | None = None) -> list[OnnxRecord]:
    """`op` on the first input and one int64 constant."""
    constant = OnnxConstant(site.fresh(name), values)
    return [constant, OnnxNode(op, (site.x, constant.name), (site.output,), attrs or {})]


def _unflatten_onnx(site: OnnxSite, output: Shape) -> list[OnnxRecord]:
    return _constant_input(site, "Reshape", "shape", (0, *(int(d or 0) for d in output[1:])))


def _output_shape(site: OnnxSite, spec: Callable[[Params, list[Shape | None]], list[Shape]]) -> Shape:
    return spec(site.params, list(site.inputs))[0]


def _transpose_onnx(site: OnnxSite) -> list[OnnxRecord]:
    perm = list(range(len(site.shape)))
    a, b = _axis_of(site.params, site.shape, "dim0"), _axis_of(site.params, site.shape, "dim1")
    perm[a], perm[b] = perm[b], perm[a]
    return [OnnxNode("Transpose", (site.x,), (site.output,), {"perm": perm})]


def _flip_onnx(site: OnnxSite) -> list[OnnxRecord]:
    axes = _axes_of(site.params, site.shape)
    bounds = [
        OnnxConstant(site.fresh(name), tuple([value] * len(axes)))
        for name, value in (("starts", -1), ("ends", INT64_MIN))
    ]
    where, steps = OnnxConstant(site.fresh("axes"), tuple(axes)), OnnxConstant(site.fresh("steps"), tuple([-1] * len(axes)))
    names = (site.x, bounds[0].name, bounds[1].name, where.name, steps.name)
    return [*bounds, where, steps, OnnxNode("Slice", names, (site.output,))]


def _roll_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """Each dimension rolled by k: its last k entries, then the rest (Slice, Slice, Concat)."""
    moves = [(a, s % int(site.shape[a] or 1)) for a, s in zip(_axes_of(site.params, site.shape), site.params["shifts"])]
    moves = [(a, k) for a, k in moves if k]
    if not moves:
        return [OnnxNode("Identity", (site.x,), (site.output,))]
    records: list[OnnxRecord] = []
    x = site.x
    for index, (a, k) in enumerate(moves):
        cut = int(site.shape[a] or 0) - k
        constants = [OnnxConstant(site.fresh(n), (v,)) for n, v in (("zero", 0), ("cut", cut), ("end", INT64_MAX), ("axis", a))]
        zero, at, end, axis = (c.name for c in constants)
        tail, head = site.fresh("tail"), site.fresh("head")
        out = site.output if index == len(moves) - 1 else site.fresh("rolled")
        records += [
            *constants,
            OnnxNode("Slice", (x, at, end, axis), (tail,)),
            OnnxNode("Slice", (x, zero, at, axis), (head,)),
            OnnxNode("Concat", (tail, head), (out,), {"axis": a}),
        ]
        x = out
    return records


def _cumsum_onnx(site: OnnxSite) -> list[OnnxRecord]:
    attrs = {"exclusive": 1 if site.params["exclusive"] else None, "reverse": int(site.params["reverse"])}  # 0 too: onnx2torch reads none as 1
    constant = OnnxConstant(site.fresh("axis"), (_axis_of(site.params, site.shape),), shape=())
    return [constant, OnnxNode("CumSum", (site.x, constant.name), (site.output,), attrs)]


def _index_select_onnx(site: OnnxSite) -> list[OnnxRecord]:
    indices = site.params["indices"]
    one = not site.params["keepdim"]
    constant = OnnxConstant(site.fresh("indices"), tuple(indices[:1] if one else indices), shape=() if one else None)
    attrs = {"axis": _axis_of(site.params, site.shape)}
    return [constant, OnnxNode("Gather", (site.x, constant.name), (site.output,), attrs)]


# ----- Caffe -----
def _reshaped(site: caffe_records.Site) -> list[caffe_records.Layer]:
    return [caffe_records.reshape(site.name, site.bottoms[0], site.name, site.output)]


def _tiled(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """One Tile layer per dimension that grows (Caffe's Tile copies the whole blob along one axis)."""
    counts = [(a, c) for a, c in enumerate(_tiles_of(site), start=0) if c > 1]
    if not counts:
        return caffe_records.simple("Split")(site)
    layers, x = [], site.bottoms[0]
    for index, (a, c) in enumerate(counts):
        top = site.name if index == len(counts) - 1 else site.blob(f"tiled{a}")
        name = site.name if index == len(counts) - 1 else top
        layers.append(caffe_records.Layer(name, "Tile", [x], [top], [("tile_param", [("axis", a), ("tiles", c)])]))
        x = top
    return layers


def _tiles_of(site: caffe_records.Site) -> tuple[int, ...]:
    return (1, *(int(o or 0) // int(i or 1) for i, o in zip(site.inputs[0][1:], site.output[1:])))


def _roll_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """Each dimension rolled by k: a Slice into its first entries and its last k, joined the other way round."""
    shape = site.inputs[0]
    moves = [(a, s % int(shape[a] or 1)) for a, s in zip(_axes_of(site.params, shape), site.params["shifts"])]
    moves = [(a, k) for a, k in moves if k]
    if not moves:
        return caffe_records.simple("Split")(site)
    layers, x = [], site.bottoms[0]
    for index, (a, k) in enumerate(moves):
        head, tail = site.blob(f"head{a}"), site.blob(f"tail{a}")
        top = site.name if index == len(moves) - 1 else site.blob(f"rolled{a}")
        point: caffe_records.Fields = [("axis", a), ("slice_point", int(shape[a] or 0) - k)]
        layers += [
            caffe_records.Layer(site.blob(f"cut{a}"), "Slice", [x], [head, tail], [("slice_param", point)]),
            caffe_records.Layer(top, "Concat", [tail, head], [top], [("concat_param", [("axis", a)])]),
        ]
        x = top
    return layers


# ----- ONNX import -----
def _tile_import(values: OnnxValues) -> Params:
    repeats = tuple(int(r) for r in values["repeats"])
    if not repeats or repeats[0] != 1:
        raise Inexpressible("copies along the batch dimension")
    return {"repeats": repeats[1:]}


def _expand_import(values: OnnxValues) -> Params:
    x, shape = values.shape, [int(d) for d in values["shape"]]
    if len(shape) > len(x):
        raise Inexpressible("dimensions added in front of the batch")
    shape = [1] * (len(x) - len(shape)) + shape
    if shape[0] not in (1, -1):
        raise Inexpressible("copies along the batch dimension")
    return {"sizes": tuple(-1 if want in (1, have) else want for want, have in zip(shape[1:], x[1:]))}


def _flip_import(values: OnnxValues) -> Params | None:
    """A Slice that steps back by 1 over the whole of each axis it slices (any other Slice is not a Flip)."""
    x = values.shape
    starts, ends = values["starts"], values["ends"]
    axes = values.get("axes", tuple(range(len(starts))))
    steps = values.get("steps", (1,) * len(starts))
    for start, end, axis, step in zip(starts, ends, axes, steps):
        have = int(x[int(axis)] or 0)
        if step != -1 or not (start >= have - 1 or start == -1) or end > -have - 1:
            return None
    return {"dims": tuple(int(a) for a in axes)}


def _cumsum_import(values: OnnxValues) -> Params:
    return {
        "dim": int(values["axis"][0]),
        "exclusive": bool(values.get("exclusive", 0)),
        "reverse": bool(values.get("reverse", 0)),
    }


def _gather_import(values: OnnxValues) -> Params:
    axis, rank = int(values.get("axis", 0)), values.ranks["indices"]
    if rank > 1:
        raise Inexpressible("indices of more than one dimension")
    have = int(values.shape[axis] or 0)
    picked = tuple(int(i) % have if have else int(i) for i in values["indices"])
    return {"dim": axis, "indices": picked, "keepdim": rank == 1}


def _no_caffe(what: str) -> Unsupported:
    return Unsupported(f"BVLC Caffe has no {what} layer")


SPECS = (
    LayerSpec(
        type="Squeeze",
        category="Reshape",
        doc="Removes dimensions of size 1: (N, C, 1, 1) becomes (N, C).",
        params=(_dims((-1,), "Dimensions of size 1 to remove, counted with the batch as 0 (-1: the last)."),),
        infer=_squeeze,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.squeeze", "ops.squeeze", "Squeeze", "Reshape"),
        pytorch=_method("squeeze", "dims"),
        keras=_keras(lambda s: f"ops.squeeze(t, axis={_dims_literal(s)})"),
        onnx=lambda site: _constant_input(site, "Squeeze", "axes", tuple(_axes_of(site.params, site.shape))),
        caffe=_reshaped,
    ),
    LayerSpec(
        type="Unsqueeze",
        category="Reshape",
        doc="Inserts a dimension of size 1: (N, C) becomes (N, C, 1) with dim -1.",
        params=(Int("dim", -1, "Where the new dimension goes in the result, counted with the batch as 0 (-1: last).", min=-17, max=16),),
        infer=_unsqueeze,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.unsqueeze", "ops.expand_dims", "Unsqueeze", "Reshape"),
        pytorch=_method("unsqueeze", "dim"),
        keras=_keras(lambda s: f"ops.expand_dims(t, {s.params['dim']})"),
        onnx=lambda site: _constant_input(site, "Unsqueeze", "axes", (inserted_at(site.params["dim"], site.shape),)),
        caffe=_reshaped,
    ),
    LayerSpec(
        type="Transpose",
        category="Reshape",
        doc="Swaps two dimensions: (N, T, D) becomes (N, D, T).",
        params=(
            Int("dim0", 1, "One dimension, counted with the batch as 0 (-1: the last).", min=-16, max=16),
            Int("dim1", 2, "The dimension it swaps with.", min=-16, max=16),
        ),
        infer=_transpose,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.transpose", "ops.swapaxes", "Transpose", _no_caffe("Permute")),
        pytorch=_method("transpose", "dim0", "dim1"),
        keras=_keras(lambda s: f"ops.swapaxes(t, {s.params['dim0']}, {s.params['dim1']})"),
        onnx=_transpose_onnx,
    ),
    LayerSpec(
        type="Unflatten",
        category="Reshape",
        doc="Cuts one dimension into several: (N, 64) becomes (N, 4, 16) with sizes (4, 16) or (4, -1).",
        params=(
            Int("dim", 1, "Dimension to cut, counted with the batch as 0 (-1: the last).", min=-16, max=16),
            Ints("sizes", (1, -1), "Sizes it becomes; one may be -1 (inferred).", min=1, max=1_000_000, allow_minus_one=True),
        ),
        infer=_unflatten,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.unflatten", "layers.Reshape", "Reshape", "Reshape"),
        pytorch=lambda s: Emitted(None, Call(f"{s.x}.unflatten", (str(s.params["dim"]), literal(tuple(s.params["sizes"]))))),
        keras=lambda s: keras_records.layer(s, "Reshape", literal(tuple(s.output[1:]))),
        onnx=lambda site: _unflatten_onnx(site, _output_shape(site, _unflatten)),
        caffe=_reshaped,
    ),
    LayerSpec(
        type="Expand",
        category="Reshape",
        doc="Grows dimensions of size 1 by copying: (N, 1, 8) becomes (N, 4, 8) with sizes (4, -1).",
        params=(Ints("sizes", (3, -1), "Size of each non-batch dimension; -1 keeps one, and only a size-1 dimension grows.", min=-1, max=1_000_000),),
        infer=_expand,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.expand", "ops.tile", "Expand", "Tile"),
        pytorch=_method("expand", "sizes", batch=True),
        keras=_keras(lambda s: f"ops.tile(t, {literal(_tiles(s, s.output))})"),
        onnx=lambda site: _constant_input(site, "Expand", "shape", (1, *(max(v, 1) for v in site.params["sizes"]))),
        caffe=_tiled,
        onnx_import=(OnnxImport("Expand", _expand_import, ("shape",)),),
    ),
    LayerSpec(
        type="Repeat",
        category="Reshape",
        doc="Tiles the tensor: each non-batch dimension copied end to end the given number of times.",
        params=(Ints("repeats", (1, 2, 2), "How many copies along each non-batch dimension (1 keeps it as it is).", min=1, max=1024),),
        infer=_repeat,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.repeat", "ops.tile", "Tile", "Tile"),
        pytorch=_method("repeat", "repeats", batch=True),
        keras=_keras(lambda s: f"ops.tile(t, {literal((1, *s.params['repeats']))})"),
        onnx=lambda site: _constant_input(site, "Tile", "repeats", (1, *site.params["repeats"])),
        caffe=_tiled,
        onnx_import=(OnnxImport("Tile", _tile_import, ("repeats",)),),
    ),
    LayerSpec(
        type="Flip",
        category="Reshape",
        doc="Reverses the order of the entries along the chosen dimensions.",
        params=(_dims((-1,), "Dimensions to reverse, counted with the batch as 0 (-1: the last)."),),
        infer=lambda p, ins: _same_dims(p, ins, "reverse"),
        input_dtype="any",
        output_dtype="same",
        targets=targets("torch.flip", "ops.flip", "Slice (step -1)", _no_caffe("Flip")),
        pytorch=lambda s: Emitted(None, Call(f"{s.x}.flip", (literal(tuple(s.params["dims"])),))),
        keras=_keras(lambda s: f"ops.flip(t, axis={_dims_literal(s)})"),
        onnx=_flip_onnx,
        onnx_import=(OnnxImport("Slice", _flip_import, ("starts", "ends", "axes", "steps")),),
    ),
    LayerSpec(
        type="Roll",
        category="Reshape",
        doc="Shifts entries along dimensions, those pushed off the end coming back at the start.",
        params=(
            Ints("shifts", (1,), "How far to shift along each dimension (negative: towards the start).", min=-1_000_000, max=1_000_000),
            _dims((-1,), "The dimensions shifted, one per shift, counted with the batch as 0."),
        ),
        infer=_roll,
        input_dtype="any",
        output_dtype="same",
        targets=targets("torch.roll", "ops.roll", "Slice + Concat", "Slice + Concat"),
        pytorch=lambda s: Emitted(None, Call(f"{s.x}.roll", (literal(tuple(s.params["shifts"])), literal(tuple(s.params["dims"]))))),
        keras=_keras(lambda s: f"ops.roll(t, {literal(tuple(s.params['shifts']))}, axis={literal(tuple(s.params['dims']))})"),
        onnx=_roll_onnx,
        caffe=_roll_caffe,
    ),
    LayerSpec(
        type="IndexSelect",
        category="Reshape",
        doc="Picks entries by index along a dimension (ONNX Gather): channels (0, 2), or one time step.",
        params=(
            Int("dim", 1, "Dimension to pick along, counted with the batch as 0 (-1: the last).", min=-16, max=16),
            Ints("indices", (0,), "Indices of the entries picked, in order (one may repeat).", min=0, max=1_000_000, max_length=MAX_PICKED),
            Bool("keepdim", True, "Keep the dimension; off, one index removes it, as x[:, i] does."),
        ),
        infer=_index_select,
        input_dtype="any",
        output_dtype="same",
        targets=targets("tensor indexing", "ops.take", "Gather", _no_caffe("gather")),
        pytorch=_index_select_pytorch,
        keras=_index_select_keras,
        onnx=_index_select_onnx,
        onnx_import=(OnnxImport("Gather", _gather_import, ("indices",)),),
    ),
    LayerSpec(
        type="Cumsum",
        category="Reshape",
        doc="Running sums along a dimension; reverse sums from the end, exclusive leaves each entry out of its own sum.",
        params=(
            Int("dim", -1, "Dimension summed along, counted with the batch as 0 (-1: the last).", min=-16, max=16),
            Bool("reverse", False, "Sum from the last entry towards the first."),
            Bool("exclusive", False, "Each sum holds the entries before this one only (the first is 0)."),
        ),
        infer=_cumsum,
        count_macs=_per_element,
        targets=targets("torch.cumsum", "ops.cumsum", "CumSum", _no_caffe("cumulative sum")),
        pytorch=_cumsum_pytorch,
        keras=_keras(_cumsum_keras),
        onnx=_cumsum_onnx,
        onnx_import=(OnnxImport("CumSum", _cumsum_import, ("axis",)),),
    ),
)
