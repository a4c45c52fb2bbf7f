"""Sequence layers beside attention: positional encodings and pooling over batch-first sequences (N, T, D)."""

# NOTE: a sinusoidal PositionalEncoding holds a fixed (max_len, d_model) table that the PyTorch
# code registers with `register_buffer(..., persistent=False)`: a constant recomputed at build time,
# so it is neither a parameter nor counted state (buffers count only what is saved with the weights). Column 2i of position pos holds
# sin(pos * w_i) and column 2i + 1 cos(pos * w_i), w_i = 10000^(-2i / d_model); an odd d_model
# has one more sine column than cosine columns. A learned table is a (max_len, d_model) parameter
# (initialised normal, std 0.02). The first T rows are added to the input; T may not exceed max_len.
# The generated code builds either table with a helper class (SinusoidalEncoding, LearnedEncoding)
# that the PyTorch and Keras drivers hold as source text; the emitters here name it.

from __future__ import annotations

import math
import struct

from studio.graph.catalogue import keras_records, pytorch_records
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    State,
    StateTensor,
    numel,
    show,
    targets,
)
from studio.graph.catalogue.caffe_records import Blobs, Fields, Layer, Word
from studio.graph.catalogue.caffe_records import Site as CaffeSite
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    reduce_records,
    slice_records,
)
from studio.graph.catalogue.recurrent import need_sequence
from studio.graph.params import Choice, Int


def _positional(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_sequence(x, "a sequence (N, T, d_model)")
    if (x[1] or 0) > p["max_len"]:
        raise ShapeError(
            f"has max_len {p['max_len']} but its input {show(x)} is a sequence of {x[1]} steps",
            f"raise max_len to at least {x[1]}, or shorten the sequence",
        )
    return [x]


def _positional_state(p: Params, ins: list[Shape]) -> State:
    return {"table": StateTensor((p["max_len"], ins[0][-1] or 0))} if p["kind"] == "learned" else {}


def _per_output_element(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0])


def _sequence_pool(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_sequence(x, "a sequence (N, T, D)")
    return [(None, x[2])]


def _sequence_pool_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(ins[0]) if p["mode"] in ("mean", "max") else 0


# ----- ONNX -----
def _f32(value: float) -> float:
    """`value` rounded to float32, as each step of the PyTorch helper rounds."""
    return struct.unpack("f", struct.pack("f", value))[0]


def sinusoidal_rows(steps: int, width: int) -> list[float]:
    """The first `steps` rows of the generated SinusoidalEncoding's table, row by row, computed in float32 as it is."""
    scale = _f32(-math.log(10000.0) / width)
    rates = [_f32(math.exp(_f32(float(k) * scale))) for k in range(0, width, 2)]
    rows = []
    for pos in range(steps):
        for column in range(width):
            angle = _f32(pos * rates[column // 2])
            rows.append(_f32(math.sin(angle) if column % 2 == 0 else math.cos(angle)))
    return rows


def _positional_onnx(site: OnnxSite) -> list[OnnxRecord]:
    steps, width = site.shape[1] or 0, site.shape[2] or 0
    if site.params["kind"] == "sinusoidal":
        table = OnnxConstant(site.fresh("table"), tuple(sinusoidal_rows(steps, width)), "float32", (steps, width))
        return [table, OnnxNode("Add", (site.x, table.name), (site.output,))]
    if steps == site.params["max_len"]:
        return [OnnxNode("Add", (site.x, site.weights["table"]), (site.output,))]
    rows = site.fresh("rows")
    return [*slice_records(site, site.weights["table"], 0, steps, 0, rows), OnnxNode("Add", (site.x, rows), (site.output,))]


def _sequence_pool_onnx(site: OnnxSite) -> list[OnnxRecord]:
    mode = site.params["mode"]
    if mode in ("first", "last"):
        step = OnnxConstant(site.fresh("step"), (0 if mode == "first" else -1,), shape=())
        return [step, OnnxNode("Gather", (site.x, step.name), (site.output,), {"axis": 1})]
    return reduce_records(site, "ReduceMean" if mode == "mean" else "ReduceMax", site.x, (1,), site.output, keepdims=False)


# ----- PyTorch, Keras, Caffe -----
def _helper(site: pytorch_records.Site | keras_records.Site) -> str:
    """The generated helper class that holds the table."""
    return "SinusoidalEncoding" if site.params["kind"] == "sinusoidal" else "LearnedEncoding"


def _positional_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    helper = _helper(s)
    args = (str(s.params["max_len"]), str(s.shape[-1]))
    return pytorch_records.Emitted(pytorch_records.Call(helper, args), pytorch_records.Call(s.attr, (s.x,)), (helper,))


def _sequence_pool_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    mode = s.params["mode"]
    if mode in ("mean", "max"):
        return pytorch_records.Emitted(None, pytorch_records.Call(f"{s.x}.{'mean' if mode == 'mean' else 'amax'}", ("dim=1",)))
    return pytorch_records.Emitted(None, pytorch_records.Raw(f"{s.x}[:, {'0' if mode == 'first' else '-1'}]"))


def _positional_keras(s: keras_records.Site) -> keras_records.Emitted:
    helper = _helper(s)
    args = (str(s.params["max_len"]), str(s.shape[-1]), keras_records.named(s.var))
    convert = (lambda t: [t("table")]) if helper == "LearnedEncoding" else None
    step = keras_records.Step(s.var, keras_records.Apply(pytorch_records.Call(helper, args), (s.x,)))
    return keras_records.Emitted([step], {s.var: convert} if convert else {}, (helper,))


def _sequence_pool_keras(s: keras_records.Site) -> keras_records.Emitted:
    mode = s.params["mode"]
    if mode in ("mean", "max"):
        cls = "GlobalAveragePooling1D" if mode == "mean" else "GlobalMaxPooling1D"
        return keras_records.layer(s, cls, 'data_format="channels_last"')  # (N, T, E): pool over the steps
    return keras_records.Emitted([keras_records.function(s, f"t[:, {'0' if mode == 'first' else '-1'}]")])


def _positional_caffe(site: CaffeSite) -> list[Layer]:
    """A Bias over the (T, D) axes, its blob the table's first T rows (the sinusoidal one too: a constant)."""
    steps = int(site.inputs[0][1] or 0)
    weights: Blobs = lambda t: [t("table")[:steps]]
    return [Layer(site.name, "Bias", site.bottoms, [site.name], [("bias_param", [("axis", 1), ("num_axes", 2)])], weights)]


def _sequence_pool_caffe(site: CaffeSite) -> list[Layer]:
    steps, width = (int(d or 0) for d in site.inputs[0][1:])
    mode = site.params["mode"]
    flatten = [("reshape_param", [("shape", [("dim", 0), ("dim", -1)])])]
    if mode in ("mean", "max"):
        grid, pooled = site.blob("grid"), site.blob("pooled")
        shape: Fields = [("dim", 0), ("dim", 1), ("dim", steps), ("dim", width)]
        pool: Fields = [("pool", Word("AVE" if mode == "mean" else "MAX")), ("kernel_h", steps), ("kernel_w", 1)]
        return [
            Layer(grid, "Reshape", site.bottoms, [grid], [("reshape_param", [("shape", shape)])]),
            Layer(pooled, "Pooling", [grid], [pooled], [("pooling_param", pool)]),
            Layer(site.name, "Reshape", [pooled], [site.name], flatten),
        ]
    if steps == 1:
        return [Layer(site.name, "Reshape", site.bottoms, [site.name], flatten)]
    step, rest = site.blob("step"), site.blob("rest")
    point = 1 if mode == "first" else steps - 1
    tops = [step, rest] if mode == "first" else [rest, step]
    return [
        Layer(step, "Slice", site.bottoms, tops, [("slice_param", [("axis", 1), ("slice_point", point)])]),
        Layer(site.blob("silence"), "Silence", [rest], []),
        Layer(site.name, "Reshape", [step], [site.name], flatten),
    ]


SPECS = (
    LayerSpec(
        type="PositionalEncoding",
        category="Attention",
        doc="Adds a position signal to a sequence (N, T, D): a fixed sinusoidal table or a learned one.",
        params=(
            Choice("kind", "sinusoidal", ("sinusoidal", "learned"), "A fixed sin/cos table (no parameters) or a learned table."),
            Int("max_len", 512, "Longest sequence the table covers.", min=1, max=1_000_000),
        ),
        infer=_positional,
        state=_positional_state,
        count_macs=_per_output_element,
        targets=targets(
            "custom module (sinusoidal buffer or nn.Parameter table, added)",
            "composed: keras.ops sin/cos table or layers.Embedding over positions + layers.Add",
            "Add of a constant or learned table",
            "Bias",
        ),
        onnx=_positional_onnx,
        pytorch=_positional_pytorch,
        keras=_positional_keras,
        caffe=_positional_caffe,
    ),
    LayerSpec(
        type="SequencePool",
        category="Recurrent",
        doc="Reduces a sequence (N, T, D) to one vector (N, D): the mean, the max, the first or the last step.",
        params=(
            Choice("mode", "mean", ("mean", "max", "first", "last"), "How the time steps are combined."),
        ),
        infer=_sequence_pool,
        count_macs=_sequence_pool_macs,
        targets=targets(
            "Tensor.mean / Tensor.amax / indexing over dim 1",
            "layers.GlobalAveragePooling1D / layers.GlobalMaxPooling1D / a slice",
            "ReduceMean / ReduceMax / Gather",
            "Reshape + Pooling (mean, max) or Slice (first, last)",
        ),
        onnx=_sequence_pool_onnx,
        pytorch=_sequence_pool_pytorch,
        keras=_sequence_pool_keras,
        caffe=_sequence_pool_caffe,
    ),
)
