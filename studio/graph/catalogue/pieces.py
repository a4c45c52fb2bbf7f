"""Layers of several tensors on one side: one tensor cut into pieces (one output port each), or several stacked into one.

Split and Chunk have an output port per piece (out1, out2, ...; `LayerSpec.pieces` counts them).
The generated PyTorch and Keras code hold the pieces as one tuple, read by index (`split[1]`).
"""

from __future__ import annotations

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    resolve_dim,
    show,
    targets,
)
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxImport,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxValues,
)
from studio.graph.catalogue.pytorch_records import Call, Emitted, kw
from studio.graph.catalogue.tensor_ops import inserted_at
from studio.graph.params import Int, Ints, Param


def _dim(doc: str) -> Param:
    return Int("dim", 1, doc, min=-16, max=16)


def _cut(x: Shape, at: int, lengths: list[int]) -> list[Shape]:
    return [(*x[:at], n, *x[at + 1 :]) for n in lengths]


def _split(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    at = resolve_dim(p["dim"], x, "split")
    sizes, have = list(p["sizes"]), int(x[at] or 0)
    if sum(sizes) != have:
        raise ShapeError(
            f"cuts dim {p['dim']} of its input {show(x)} into pieces of {tuple(sizes)}, {sum(sizes)} entries, "
            f"but it has {have} there",
            f"choose sizes that add up to {have}",
        )
    return _cut(x, at, sizes)


def chunk_lengths(have: int, chunks: int) -> list[int]:
    """The pieces torch.chunk cuts `have` entries into: equal ones of ceil(have / chunks), the last smaller."""
    step = -(-have // chunks)
    count = -(-have // step)
    return [min(step, have - i * step) for i in range(count)]


def _chunk(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    at = resolve_dim(p["dim"], x, "split")
    chunks, have = p["chunks"], int(x[at] or 0)
    if chunks > have:
        raise ShapeError(
            f"cuts dim {p['dim']} of its input {show(x)}, {have} entries, into {chunks} pieces",
            f"choose at most {have} chunks",
        )
    lengths = chunk_lengths(have, chunks)
    if len(lengths) != chunks:
        raise ShapeError(
            f"cuts dim {p['dim']} of its input {show(x)}, {have} entries, into {chunks} pieces, but pieces of "
            f"{lengths[0]} (as torch.chunk cuts them) make only {len(lengths)}",
            f"choose a number of chunks that divides {have}, or a Split with the sizes you want",
        )
    return _cut(x, at, lengths)


def _stack(p: Params, ins: list[Shape | None]) -> list[Shape]:
    first = ins[0]
    assert first is not None
    for index, x in enumerate(ins[1:], start=2):
        assert x is not None
        if x != first:
            raise ShapeError(
                f"needs inputs of exactly the same shape but gets in1 {show(first)} and in{index} {show(x)}",
                "bring every input to one shape first (a Reshape, a pooling or a Linear before the one that differs)",
            )
    at = inserted_at(p["dim"], first)
    return [(*first[:at], len(ins), *first[at:])]


def _lengths(params: Params, shape: Shape) -> list[int]:
    if "sizes" in params:
        return list(params["sizes"])
    return chunk_lengths(int(shape[params["dim"] % len(shape)] or 0), params["chunks"])


def _points(lengths: list[int]) -> list[int]:
    """Where the pieces start, the first left out: the split points of numpy and Caffe."""
    found, total = [], 0
    for n in lengths[:-1]:
        total += n
        found.append(total)
    return found


def _inputs(site: pytorch_records.Site | keras_records.Site) -> tuple[str, ...]:
    return tuple(a for a in site.args if a is not None)


# ----- PyTorch -----
def _split_pytorch(s: pytorch_records.Site) -> Emitted:
    sizes = "[" + ", ".join(map(str, s.params["sizes"])) + "]"
    return Emitted(None, Call(f"{s.x}.split", (sizes, kw("dim", s.params["dim"]))))


def _chunk_pytorch(s: pytorch_records.Site) -> Emitted:
    return Emitted(None, Call(f"{s.x}.chunk", (str(s.params["chunks"]), kw("dim", s.params["dim"]))))


def _stack_pytorch(s: pytorch_records.Site) -> Emitted:
    return Emitted(None, Call("torch.stack", (f"({', '.join(_inputs(s))})", kw("dim", s.params["dim"]))))


# ----- Keras -----
def _split_keras(s: keras_records.Site) -> keras_records.Emitted:
    points = ", ".join(map(str, _points(_lengths(s.params, s.shape))))
    return keras_records.Emitted([keras_records.function(s, f"ops.split(t, [{points}], axis={s.params['dim']})")])


def _stack_keras(s: keras_records.Site) -> keras_records.Emitted:
    inputs = f"[{', '.join(_inputs(s))}]"
    return keras_records.Emitted([keras_records.function(s, f"ops.stack(t, axis={s.params['dim']})", x=inputs)])


# ----- ONNX -----
def _split_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """Split by a sizes input; a Chunk by its number of outputs from opset 18 (its pieces are what Split cuts)."""
    axis = site.params["dim"] % len(site.shape)
    outputs = site.outputs or (site.output,)
    if "chunks" in site.params and site.opset >= 18:
        return [OnnxNode("Split", (site.x,), outputs, {"axis": axis, "num_outputs": site.params["chunks"]})]
    sizes = OnnxConstant(site.fresh("split"), tuple(_lengths(site.params, site.shape)))
    return [sizes, OnnxNode("Split", (site.x, sizes.name), outputs, {"axis": axis})]


def _stack_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """Each input given the new dimension (Unsqueeze), then joined along it (Concat)."""
    at = inserted_at(site.params["dim"], site.shape)
    axes = OnnxConstant(site.fresh("axes"), (at,))
    records: list[OnnxRecord] = [axes]
    grown = []
    for index, name in enumerate(n for n in site.names if n is not None):
        grown.append(site.fresh(f"unsqueezed{index + 1}"))
        records.append(OnnxNode("Unsqueeze", (name, axes.name), (grown[-1],)))
    return [*records, OnnxNode("Concat", tuple(grown), (site.output,), {"axis": at})]


# ----- Caffe -----
def _slice_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    shape = site.inputs[0]
    cut: caffe_records.Fields = [("axis", site.params["dim"] % len(shape))]
    cut += [("slice_point", p) for p in _points(_lengths(site.params, shape))]
    return [caffe_records.Layer(site.name, "Slice", site.bottoms, list(site.tops), [("slice_param", cut)])]


def _stack_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """Each input reshaped to hold the new dimension (size 1), then joined along it."""
    x = site.inputs[0]
    at = inserted_at(site.params["dim"], x)
    grown = (*x[:at], 1, *x[at:])
    layers, blobs = [], []
    for index, bottom in enumerate(site.bottoms):
        blobs.append(site.blob(f"in{index + 1}"))
        layers.append(caffe_records.reshape(blobs[-1], bottom, blobs[-1], grown))
    return [*layers, caffe_records.Layer(site.name, "Concat", blobs, [site.name], [("concat_param", [("axis", at)])])]


# ----- ONNX import -----
def _split_import(values: OnnxValues) -> Params:
    axis = int(values.get("axis", 0)) % len(values.shape)
    if "num_outputs" in values:
        raise Inexpressible("num_outputs (a Chunk)")
    sizes = values.get("split")
    if not sizes:
        have, parts = int(values.shape[axis] or 0), values.outputs
        if have % parts:
            raise Inexpressible(f"{have} entries into {parts} equal parts")
        sizes = (have // parts,) * parts
    return {"dim": axis, "sizes": tuple(int(n) for n in sizes)}


def _chunk_import(values: OnnxValues) -> Params:
    if "num_outputs" not in values:
        raise Inexpressible("sizes (a Split)")
    return {"dim": int(values.get("axis", 0)) % len(values.shape), "chunks": int(values["num_outputs"])}


SPECS = (
    LayerSpec(
        type="Split",
        category="Reshape",
        doc="Cuts a tensor along one dimension into pieces of the given sizes, one output each.",
        params=(
            _dim("Dimension to cut, counted with the batch as 0 (1: channels, -1: the last)."),
            Ints("sizes", (1, 2), "Length of each piece, in order; they add up to the dimension's size.", min=1, max=1_000_000, min_length=2),
        ),
        infer=_split,
        pieces=lambda p: len(p["sizes"]),
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.split", "ops.split", "Split", "Slice"),
        pytorch=_split_pytorch,
        keras=_split_keras,
        onnx=_split_onnx,
        caffe=_slice_caffe,
        onnx_import=(OnnxImport("Split", _split_import, ("split",)),),
    ),
    LayerSpec(
        type="Chunk",
        category="Reshape",
        doc="Cuts a tensor along one dimension into a number of equal pieces (the last may be smaller), one output each.",
        params=(
            _dim("Dimension to cut, counted with the batch as 0 (1: channels, -1: the last)."),
            Int("chunks", 2, "Number of pieces.", min=2, max=16),
        ),
        infer=_chunk,
        pieces=lambda p: p["chunks"],
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.chunk", "ops.split", "Split", "Slice"),
        pytorch=_chunk_pytorch,
        keras=_split_keras,
        onnx=_split_onnx,
        caffe=_slice_caffe,
        onnx_import=(OnnxImport("Split", _chunk_import, ("split",)),),
    ),
    LayerSpec(
        type="Stack",
        category="Reshape",
        doc="Stacks inputs of one shape along a new dimension: two (N, D) become (N, 2, D) with dim 1.",
        params=(
            Int("num_inputs", 2, "Number of input ports (in1, in2, ...).", min=2, max=16),
            _dim("Where the new dimension goes in the result, counted with the batch as 0 (-1: last)."),
        ),
        infer=_stack,
        variadic=True,
        input_dtype="any",
        output_dtype="same",
        targets=targets("torch.stack", "ops.stack", "Unsqueeze + Concat", "Reshape + Concat"),
        pytorch=_stack_pytorch,
        keras=_stack_keras,
        onnx=_stack_onnx,
        caffe=_stack_caffe,
    ),
)
