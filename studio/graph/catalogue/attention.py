"""Attention and transformer layers over batch-first sequences (N, T, D), and sequence pooling."""

# NOTE: every layer here reads batch-first sequences, so codegen always emits batch_first=True;
# it is a convention of the graph, not a parameter. Embedding sizes (embed_dim, d_model, kdim,
# vdim) are read from the inputs' last dimension. An unconnected key or value of
# MultiheadAttention takes the other one; with neither connected it is self-attention.
#
# NOTE: a sinusoidal PositionalEncoding holds a fixed (max_len, d_model) table that the PyTorch
# code registers with `register_buffer(..., persistent=False)`: a constant recomputed at build time,
# so it is neither a parameter nor counted state (buffers count only what is saved with the weights). Column 2i of position pos holds
# sin(pos * w_i) and column 2i + 1 cos(pos * w_i), w_i = 10000^(-2i / d_model); an odd d_model
# has one more sine column than cosine columns. A learned table is a (max_len, d_model) parameter
# (initialised normal, std 0.02). The first T rows are added to the input; T may not exceed max_len.

from __future__ import annotations

import math
import struct
from dataclasses import replace

from studio.graph.catalogue.activation import SPECS as ACTIVATIONS
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Port,
    Shape,
    ShapeError,
    State,
    StateTensor,
    Unsupported,
    numel,
    show,
    targets,
    weight_and_bias,
)
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
)
from studio.graph.catalogue.recurrent import need_sequence
from studio.graph.params import Bool, Choice, Float, Int


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _need_heads(embed_dim: int, heads: int, what: str, field: str, source: str) -> None:
    if embed_dim % heads == 0:
        return
    valid = _divisors(embed_dim)
    nearest = sorted(sorted(valid, key=lambda d: (abs(d - heads), d))[:8])
    listed = ", ".join(str(d) for d in nearest)
    if len(valid) > len(nearest):
        listed += f" (or another divisor of {embed_dim})"
    raise ShapeError(
        f"has {field} {heads}, which does not divide {what} {embed_dim} (the last dimension of its {source})",
        f"choose {field} among {listed}",
    )


def _memory(ins: list[Shape | None]) -> tuple[Shape, Shape]:
    """The key and value shapes: an unconnected one takes the other, both default to the query."""
    query, key, value = ins
    assert query is not None
    key = key or value or query
    value = value or key
    return key, value


def _attention(p: Params, ins: list[Shape | None]) -> list[Shape]:
    query = ins[0]
    assert query is not None
    need_sequence(query, "a query sequence (N, L, E)", "before its query input", wide=True)
    for port, shape in zip(("key", "value"), ins[1:]):
        if shape is not None:
            need_sequence(shape, f"a {port} sequence (N, S, features)", f"before its {port} input", wide=True)
    key, value = _memory(ins)
    if key[1] != value[1]:
        raise ShapeError(
            f"needs a key and a value with the same number of steps but gets key {show(key)} and value {show(value)}",
            "connect key and value to sequences of the same length (usually the same tensor)",
        )
    _need_heads(query[2] or 0, p["num_heads"], "embed_dim", "num_heads", f"query {show(query)}")
    return [query]


def _known_dims(ins: list[Shape | None]) -> tuple[int, int, int, int, int]:
    """embed_dim, L, S, kdim, vdim; an unconnected key or value stands in as in the rule."""
    query = ins[0]
    assert query is not None
    key, value = _memory(ins)
    return query[2] or 0, query[1] or 0, key[1] or 0, key[2] or 0, value[2] or 0


def _attention_state(p: Params, ins: list[Shape]) -> State:
    e, _, _, kdim, vdim = _known_dims(ins)
    if kdim == vdim == e:  # PyTorch packs the three input projections into one matrix
        state = {"in_proj_weight": StateTensor((3 * e, e))}
    else:
        state = {name: StateTensor((e, width)) for name, width in (("q_proj_weight", e), ("k_proj_weight", kdim), ("v_proj_weight", vdim))}
    if p["bias"]:
        state["in_proj_bias"] = StateTensor((3 * e,))
    return {**state, **{f"out_proj.{k}": t for k, t in weight_and_bias((e, e), p["bias"]).items()}}


def _attention_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    e, l, s, kdim, vdim = _known_dims(ins)
    projections = l * e * e + s * kdim * e + s * vdim * e + l * e * e
    return projections + 2 * l * s * e


def _encoder(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_sequence(x, "a sequence (N, T, d_model)", wide=True)
    _need_heads(x[2] or 0, p["nhead"], "d_model", "nhead", f"input {show(x)}")
    return [x]


def _encoder_state(p: Params, ins: list[Shape]) -> State:
    e, ff, bias = ins[0][-1] or 0, p["dim_feedforward"], p["bias"]
    parts = {
        "self_attn": _attention_state({"bias": bias}, [ins[0], None, None]),
        "linear1": weight_and_bias((ff, e), bias),
        "linear2": weight_and_bias((e, ff), bias),
        "norm1": weight_and_bias((e,), bias),
        "norm2": weight_and_bias((e,), bias),
    }
    return {f"{part}.{name}": tensor for part, state in parts.items() for name, tensor in state.items()}


def _encoder_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    t, e = ins[0][1] or 0, ins[0][2] or 0
    return 4 * t * e * e + 2 * t * t * e + 2 * t * e * p["dim_feedforward"]


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
def _attention_onnx(site: OnnxSite) -> list[OnnxRecord]:
    query, key, value = site.names
    key = key or value or query
    value = value or key
    return _attention_records(site, "", (site.x, key, value), site.shape[2] or 0, site.params["num_heads"], site.output)  # type: ignore[arg-type]


def _attention_records(
    site: OnnxSite, prefix: str, sources: tuple[str, str, str], embed: int, heads: int, out: str
) -> list[OnnxRecord]:
    """Multi-head attention as torch.onnx writes it: projections, heads split, softmax(Q K^T / sqrt(d)) V, output projection."""
    size = embed // heads
    packed = f"{prefix}in_proj_weight" in site.weights
    bias = f"{prefix}in_proj_bias" if f"{prefix}in_proj_bias" in site.weights else None
    split = OnnxConstant(site.fresh("heads_shape"), (0, 0, heads, size))
    records: list[OnnxRecord] = [split]
    held = []
    for i, (part, x, perm) in enumerate(zip("qkv", sources, ((0, 2, 1, 3), (0, 2, 3, 1), (0, 2, 1, 3)))):
        rows = (i * embed, (i + 1) * embed)
        weight = f"{prefix}in_proj_weight" if packed else f"{prefix}{part}_proj_weight"
        projected, shaped, moved = site.fresh(part), site.fresh(f"{part}_heads"), site.fresh(f"{part}_moved")
        records += _linear(site, x, weight, bias, projected, rows, rows if packed else None)
        records.append(OnnxNode("Reshape", (projected, split.name), (shaped,)))
        records.append(OnnxNode("Transpose", (shaped,), (moved,), {"perm": list(perm)}))  # K moves to (N, heads, d, S)
        held.append(moved)
    scale = OnnxConstant(site.fresh("scale"), (1.0 / math.sqrt(size),), "float32", ())
    scores, scaled, weights, mixed = (site.fresh(n) for n in ("scores", "scaled", "weights", "mixed"))
    merged, joined = site.fresh("merged"), site.fresh("joined")
    width = OnnxConstant(site.fresh("embed_shape"), (0, 0, embed))
    records += [
        scale, width,
        OnnxNode("MatMul", (held[0], held[1]), (scores,)),
        OnnxNode("Mul", (scores, scale.name), (scaled,)),
        OnnxNode("Softmax", (scaled,), (weights,)),
        OnnxNode("MatMul", (weights, held[2]), (mixed,)),
        OnnxNode("Transpose", (mixed,), (merged,), {"perm": [0, 2, 1, 3]}),
        OnnxNode("Reshape", (merged, width.name), (joined,)),
    ]  # fmt: skip
    out_bias = f"{prefix}out_proj.bias" if f"{prefix}out_proj.bias" in site.weights else None
    return records + _linear(site, joined, f"{prefix}out_proj.weight", out_bias, out)


def _linear(
    site: OnnxSite,
    x: str,
    weight: str,
    bias: str | None,
    out: str,
    bias_rows: tuple[int, int] | None = None,
    weight_rows: tuple[int, int] | None = None,
) -> list[OnnxRecord]:
    """x @ weight^T (+ bias) over the last dimension, as nn.Linear; `*_rows` take part of a packed weight or bias."""
    matrix = OnnxWeight(site.fresh(f"{weight}_t"), weight, transpose=True, rows=weight_rows)
    if bias is None:
        return [matrix, OnnxNode("MatMul", (x, matrix.name), (out,))]
    records: list[OnnxRecord] = [matrix]
    added = site.weights[bias]
    if bias_rows is not None:
        part = OnnxWeight(site.fresh(bias), bias, rows=bias_rows)
        records.append(part)
        added = part.name
    product = site.fresh("product")
    return [*records, OnnxNode("MatMul", (x, matrix.name), (product,)), OnnxNode("Add", (product, added), (out,))]


_GELU = next(spec.onnx for spec in ACTIVATIONS if spec.type == "GELU")


def _encoder_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """nn.TransformerEncoderLayer in inference: attention and feed-forward blocks, each with its residual Add and LayerNormalization."""
    p, x = site.params, site.x
    attended, first, fed = site.fresh("attended"), site.fresh("residual1"), site.fresh("fed")

    def attend(source: str) -> list[OnnxRecord]:
        return _attention_records(site, "self_attn.", (source, source, source), site.shape[2] or 0, p["nhead"], attended)

    if p["norm_first"]:  # x + sa(norm1(x)), then + ff(norm2(.))
        normed, normed2 = site.fresh("norm1"), site.fresh("norm2")
        return [
            _layer_norm(site, "norm1", x, normed), *attend(normed), OnnxNode("Add", (x, attended), (first,)),
            _layer_norm(site, "norm2", first, normed2), *_feed_forward(site, normed2, fed),
            OnnxNode("Add", (first, fed), (site.output,)),
        ]  # fmt: skip
    normed, second = site.fresh("norm1"), site.fresh("residual2")  # norm1(x + sa(x)), then norm2(. + ff(.))
    return [
        *attend(x), OnnxNode("Add", (x, attended), (first,)), _layer_norm(site, "norm1", first, normed),
        *_feed_forward(site, normed, fed), OnnxNode("Add", (normed, fed), (second,)),
        _layer_norm(site, "norm2", second, site.output),
    ]  # fmt: skip


def _layer_norm(site: OnnxSite, which: str, x: str, out: str) -> OnnxNode:
    eps = site.params["layer_norm_eps"]
    inputs = (x, site.weights[f"{which}.weight"], *([site.weights[f"{which}.bias"]] if site.params["bias"] else []))
    return OnnxNode("LayerNormalization", inputs, (out,), {"epsilon": eps if eps != 1e-5 else None})


def _feed_forward(site: OnnxSite, x: str, out: str) -> list[OnnxRecord]:
    """linear2(activation(linear1(x)))."""
    hidden, active = site.fresh("hidden"), site.fresh("activated")
    bias = site.params["bias"]
    if site.params["activation"] == "relu":
        activation: list[OnnxRecord] = [OnnxNode("Relu", (hidden,), (active,))]
    else:  # the GELU layer's own form for this opset
        activation = _GELU(replace(site, params={"approximate": "none"}, names=(hidden,), output=active))  # type: ignore[misc]
    return [
        *_linear(site, x, "linear1.weight", "linear1.bias" if bias else None, hidden),
        *activation,
        *_linear(site, active, "linear2.weight", "linear2.bias" if bias else None, out),
    ]


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
    bounds = [OnnxConstant(site.fresh(n), (v,)) for n, v in (("starts", 0), ("ends", steps), ("axes", 0))]
    rows = site.fresh("rows")
    return [
        *bounds,
        OnnxNode("Slice", (site.weights["table"], *(b.name for b in bounds)), (rows,)),
        OnnxNode("Add", (site.x, rows), (site.output,)),
    ]


def _sequence_pool_onnx(site: OnnxSite) -> list[OnnxRecord]:
    mode = site.params["mode"]
    if mode in ("first", "last"):
        step = OnnxConstant(site.fresh("step"), (0 if mode == "first" else -1,), shape=())
        return [step, OnnxNode("Gather", (site.x, step.name), (site.output,), {"axis": 1})]
    op = "ReduceMean" if mode == "mean" else "ReduceMax"
    if site.opset < 18:  # axes became an input in opset 18
        return [OnnxNode(op, (site.x,), (site.output,), {"axes": [1], "keepdims": 0})]
    axes = OnnxConstant(site.fresh("axes"), (1,))
    return [axes, OnnxNode(op, (site.x, axes.name), (site.output,), {"keepdims": 0})]


_NO_CAFFE_ATTENTION = "BVLC Caffe has no attention layer, nor a batched matrix product to build one from"

SPECS = (
    LayerSpec(
        type="MultiheadAttention",
        category="Attention",
        doc="Multi-head scaled dot-product attention; key and value default to the query (self-attention).",
        params=(
            Int("num_heads", 8, "Number of attention heads; must divide embed_dim (the query's last dimension).", min=1, max=1024),
            Float("dropout", 0.0, "Dropout on the attention weights while training.", min=0.0, max=0.99),
            Bool("bias", True, "Learn biases in the input and output projections."),
        ),
        infer=_attention,
        inputs=(Port("query"), Port("key", optional=True), Port("value", optional=True)),
        state=_attention_state,
        count_macs=_attention_macs,
        targets=targets(
            "nn.MultiheadAttention",
            "layers.MultiHeadAttention",
            "MatMul + Softmax subgraph",
            Unsupported(_NO_CAFFE_ATTENTION),
        ),
        onnx=_attention_onnx,
    ),
    LayerSpec(
        type="TransformerEncoderLayer",
        category="Attention",
        doc="One transformer encoder block: self-attention and a feed-forward network, each with a residual and LayerNorm.",
        params=(
            Int("nhead", 8, "Number of attention heads; must divide d_model (the input's last dimension).", min=1, max=1024),
            Int("dim_feedforward", 2048, "Width of the feed-forward network's hidden layer.", min=1, max=1_000_000),
            Float("dropout", 0.1, "Dropout in the attention and feed-forward paths while training.", min=0.0, max=0.99),
            Choice("activation", "relu", ("relu", "gelu"), "Activation of the feed-forward network."),
            Bool("norm_first", False, "Apply LayerNorm before each sub-block (pre-norm) instead of after."),
            Float("layer_norm_eps", 1e-5, "Small value added to the variance in LayerNorm.", min=1e-12, max=0.1),
            Bool("bias", True, "Learn biases in the linear layers and LayerNorms."),
        ),
        infer=_encoder,
        state=_encoder_state,
        count_macs=_encoder_macs,
        targets=targets(
            "nn.TransformerEncoderLayer",
            "composed: layers.MultiHeadAttention + layers.LayerNormalization + layers.Dense",
            "MatMul + Softmax + LayerNormalization subgraph",
            Unsupported("BVLC Caffe has no attention or LayerNorm layer"),
        ),
        onnx=_encoder_onnx,
    ),
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
    ),
)
