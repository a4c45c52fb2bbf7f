"""Attention and transformer layers over batch-first sequences (N, T, D)."""

# NOTE: every layer here reads batch-first sequences, so codegen always emits batch_first=True;
# it is a convention of the graph, not a parameter. Embedding sizes (embed_dim, d_model, kdim,
# vdim) are read from the inputs' last dimension. An unconnected key or value of
# MultiheadAttention takes the other one; with neither connected it is self-attention.

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from studio.graph.catalogue import keras_records, pytorch_records
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
    show,
    targets,
    weight_and_bias,
)
from studio.graph.catalogue.keras_records import Apply, Convert, Step, Torch, named
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
    causal_mask,
    layer_norm_records,
)
from studio.graph.catalogue.pytorch_records import Call, kw, options
from studio.graph.catalogue.recurrent import need_sequence
from studio.graph.params import Bool, Choice, Float, Int, Param


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


def _decoder(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x, memory = ins
    assert x is not None and memory is not None
    need_sequence(x, "a sequence (N, T, d_model)", wide=True)
    need_sequence(memory, "a memory sequence (N, S, d_model)", "before its memory", wide=True)
    if memory[2] != x[2]:
        raise ShapeError(
            f"needs a memory as wide as its input (d_model {x[2]}) but gets memory {show(memory)}",
            f"project the memory to {x[2]} features with a Linear",
        )
    _need_heads(x[2] or 0, p["nhead"], "d_model", "nhead", f"input {show(x)}")
    return [x]


def _decoder_state(p: Params, ins: list[Shape]) -> State:
    state = _encoder_state(p, ins[:1])
    e, bias = ins[0][-1] or 0, p["bias"]
    parts = {"multihead_attn": _attention_state({"bias": bias}, [ins[0], None, None]), "norm3": weight_and_bias((e,), bias)}
    state.update({f"{part}.{name}": tensor for part, more in parts.items() for name, tensor in more.items()})
    return state


def _decoder_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    t, e, s = ins[0][1] or 0, ins[0][2] or 0, ins[1][1] or 0
    return _encoder_macs(p, ins, outs) + 2 * t * e * e + 2 * s * e * e + 2 * t * s * e


# ----- ONNX -----
def _attention_onnx(site: OnnxSite) -> list[OnnxRecord]:
    query, key, value = site.names
    key = key or value or query
    value = value or key
    return _attention_records(site, "", (site.x, key, value), site.shape[2] or 0, site.params["num_heads"], site.output)  # type: ignore[arg-type]


def _attention_records(
    site: OnnxSite, prefix: str, sources: tuple[str, str, str], embed: int, heads: int, out: str, mask: str | None = None
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
    scores, scaled, masked, weights, mixed = (site.fresh(n) for n in ("scores", "scaled", "masked", "weights", "mixed"))
    merged, joined = site.fresh("merged"), site.fresh("joined")
    width = OnnxConstant(site.fresh("embed_shape"), (0, 0, embed))
    records += [
        scale, width,
        OnnxNode("MatMul", (held[0], held[1]), (scores,)),
        OnnxNode("Mul", (scores, scale.name), (scaled,)),
        *([OnnxNode("Add", (scaled, mask), (masked,))] if mask else []),
        OnnxNode("Softmax", (masked if mask else scaled,), (weights,)),
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


def _causal(site: OnnxSite) -> tuple[list[OnnxRecord], str | None]:
    """The additive causal mask (T, T) of a layer whose `causal` is set: -inf above the diagonal, as PyTorch builds it."""
    if not site.params["causal"]:
        return [], None
    steps = site.shape[1] or 0
    mask = causal_mask(site, steps, steps)
    return [mask], mask.name


def _encoder_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """nn.TransformerEncoderLayer in inference: attention and feed-forward blocks, each with its residual Add and LayerNormalization."""
    p, x = site.params, site.x
    attended, first, fed = site.fresh("attended"), site.fresh("residual1"), site.fresh("fed")
    masking, mask = _causal(site)

    def attend(source: str) -> list[OnnxRecord]:
        return masking + _attention_records(site, "self_attn.", (source, source, source), site.shape[2] or 0, p["nhead"], attended, mask)

    if p["norm_first"]:  # x + sa(norm1(x)), then + ff(norm2(.))
        normed, normed2 = site.fresh("norm1"), site.fresh("norm2")
        return [
            *_layer_norm(site, "norm1", x, normed), *attend(normed), OnnxNode("Add", (x, attended), (first,)),
            *_layer_norm(site, "norm2", first, normed2), *_feed_forward(site, normed2, fed),
            OnnxNode("Add", (first, fed), (site.output,)),
        ]  # fmt: skip
    normed, second = site.fresh("norm1"), site.fresh("residual2")  # norm1(x + sa(x)), then norm2(. + ff(.))
    return [
        *attend(x), OnnxNode("Add", (x, attended), (first,)), *_layer_norm(site, "norm1", first, normed),
        *_feed_forward(site, normed, fed), OnnxNode("Add", (normed, fed), (second,)),
        *_layer_norm(site, "norm2", second, site.output),
    ]  # fmt: skip


def _decoder_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """nn.TransformerDecoderLayer in inference: self-attention, attention over the memory, feed-forward; each with its residual and LayerNorm."""
    p, x, memory = site.params, site.x, site.names[1]
    assert memory is not None
    embed, heads = site.shape[2] or 0, p["nhead"]
    masking, mask = _causal(site)
    a1, a2, fed, r1, r2 = (site.fresh(n) for n in ("self_attended", "cross_attended", "fed", "residual1", "residual2"))

    def self_attend(source: str) -> list[OnnxRecord]:
        return masking + _attention_records(site, "self_attn.", (source, source, source), embed, heads, a1, mask)

    def cross_attend(source: str) -> list[OnnxRecord]:
        return _attention_records(site, "multihead_attn.", (source, memory, memory), embed, heads, a2)

    n1, n2, n3 = site.fresh("norm1"), site.fresh("norm2"), site.fresh("norm3")
    if p["norm_first"]:  # x + sa(norm1(x)), + mha(norm2(.), memory), + ff(norm3(.))
        return [
            *_layer_norm(site, "norm1", x, n1), *self_attend(n1), OnnxNode("Add", (x, a1), (r1,)),
            *_layer_norm(site, "norm2", r1, n2), *cross_attend(n2), OnnxNode("Add", (r1, a2), (r2,)),
            *_layer_norm(site, "norm3", r2, n3), *_feed_forward(site, n3, fed), OnnxNode("Add", (r2, fed), (site.output,)),
        ]  # fmt: skip
    r3 = site.fresh("residual3")  # norm1(x + sa(x)), norm2(. + mha(., memory)), norm3(. + ff(.))
    return [
        *self_attend(x), OnnxNode("Add", (x, a1), (r1,)), *_layer_norm(site, "norm1", r1, n1),
        *cross_attend(n1), OnnxNode("Add", (n1, a2), (r2,)), *_layer_norm(site, "norm2", r2, n2),
        *_feed_forward(site, n2, fed), OnnxNode("Add", (n2, fed), (r3,)), *_layer_norm(site, "norm3", r3, site.output),
    ]  # fmt: skip


def _layer_norm(site: OnnxSite, which: str, x: str, out: str) -> list[OnnxRecord]:
    scale, bias = site.weights[f"{which}.weight"], site.weights.get(f"{which}.bias")
    return layer_norm_records(site, x, out, 1, site.params["layer_norm_eps"], scale, bias, (site.shape[2] or 0,))


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


# ----- PyTorch, Keras -----
def _wiring(s: pytorch_records.Site | keras_records.Site) -> tuple[str, str, str, int, Shape, Shape]:
    """Query, key and value names, the embedding width, and the key and value shapes: an unconnected
    key or value stands in as in the shape rule (`_memory`)."""
    query, key, value = s.args
    key = key or value or query
    value = value or key
    key_shape, value_shape = _memory(list(s.inputs))
    return query, key, value, int(s.inputs[0][-1] or 0), key_shape, value_shape  # type: ignore[index,return-value]


def _attention_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    query, key, value, embed, key_shape, value_shape = _wiring(s)
    args = [str(embed), str(p["num_heads"]), *options(p, {"dropout": 0.0, "bias": True}), "batch_first=True"]
    if key_shape[-1] != embed:  # type: ignore[index]
        args.append(f"kdim={key_shape[-1]}")  # type: ignore[index]
    if value_shape[-1] != embed:  # type: ignore[index]
        args.append(f"vdim={value_shape[-1]}")  # type: ignore[index]
    call = Call(s.attr, (query, key, value, "need_weights=False"))  # type: ignore[arg-type]
    return pytorch_records.Emitted(Call("nn.MultiheadAttention", tuple(args)), call, unpack=True)


def _transformer_pytorch(cls: str, mask: str, causal: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    """nn.<cls>, called on its inputs, with the causal mask and its hint (`mask`=..., `causal`=True) when set."""

    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        defaults = {"dim_feedforward": 2048, "dropout": 0.1, "activation": "relu", "layer_norm_eps": 1e-5}
        args = [str(s.shape[-1]), str(p["nhead"]), *options(p, defaults), "batch_first=True"]
        args += options(p, {"norm_first": False, "bias": True})
        inputs = [a for a in s.args if a is not None]
        if not p["causal"]:
            return pytorch_records.Emitted(Call(f"nn.{cls}", tuple(args)), Call(s.attr, tuple(inputs)))
        inputs += [f"{mask}=causal_mask({s.x})", f"{causal}=True"]
        return pytorch_records.Emitted(Call(f"nn.{cls}", tuple(args)), Call(s.attr, tuple(inputs)), helpers=("causal_mask",))

    return emit


def _mha_weights(prefix: str, embed: int, heads: int, separate: bool, bias: bool) -> Convert:
    """torch in_proj/out_proj -> Keras query, key, value, output dense kernels (E_in, h, d), (h, d, E)."""
    d = embed // heads

    def convert(t: Torch) -> list[Any]:
        if separate:
            ws = [t(f"{prefix}{q}_proj_weight") for q in "qkv"]
        else:
            w = t(f"{prefix}in_proj_weight")
            ws = [w[i * embed : (i + 1) * embed] for i in range(3)]
        out: list[Any] = []
        b = t(f"{prefix}in_proj_bias") if bias else None
        for i, w in enumerate(ws):
            out.append(w.T.reshape(w.shape[1], heads, d))
            if b is not None:
                out.append(b[i * embed : (i + 1) * embed].reshape(heads, d))
        out.append(t(f"{prefix}out_proj.weight").T.reshape(heads, d, embed))
        if bias:
            out.append(t(f"{prefix}out_proj.bias"))
        return out

    return convert


def _mha_layer(heads: int, embed: int, dropout: float, bias: bool, name: str) -> Call:
    args = [str(heads), kw("key_dim", embed // heads)]
    if dropout:
        args.append(kw("dropout", dropout))
    if not bias:
        args.append("use_bias=False")
    return Call("layers.MultiHeadAttention", (*args, named(name)))


def _attention_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    query, key, value, embed, key_shape, value_shape = _wiring(s)
    separate = key_shape[-1] != embed or value_shape[-1] != embed  # type: ignore[index]
    call_args = (query, value) if key == value else (query, value, f"key={key}")
    mha = _mha_layer(p["num_heads"], embed, p["dropout"], p["bias"], s.var)
    convert = _mha_weights("", embed, p["num_heads"], separate, p["bias"])
    return keras_records.Emitted([Step(s.var, Apply(mha, call_args))], {s.var: convert})  # type: ignore[arg-type]


def _transformer_keras(s: keras_records.Site) -> keras_records.Emitted:
    """A transformer encoder layer, or a decoder layer (its second input the memory), from Keras layers."""
    p = s.params
    embed, heads, bias, drop = int(s.shape[-1] or 0), p["nhead"], p["bias"], p["dropout"]
    memory = s.args[1] if len(s.args) > 1 else None
    parts = ["self_attn", "norm1", "norm2", "linear1", "linear2", "add1", "add2"]
    parts += ["multihead_attn", "norm3", "add3"] if memory else []
    names = {k: s.claim(f"{s.var}_{k}") for k in parts}
    steps: list[Step] = []
    weights: dict[str, Convert] = {}
    ff = s.claim(f"{s.var}_ff")

    def apply(target: str, cls: str, args: list[str], name: str, *xs: str) -> None:
        steps.append(Step(target, Apply(Call(f"layers.{cls}", (*args, named(name))), xs)))

    def dropout(target: str) -> None:
        if drop:
            apply(target, "Dropout", [str(drop)], s.claim(f"{s.var}_drop"), target)

    def norm(target: str, key: str, x: str) -> None:
        args = [kw("epsilon", p["layer_norm_eps"]), *([] if bias else ["center=False"])]
        apply(target, "LayerNormalization", args, names[key], x)
        weights[names[key]] = lambda t, k=key: [t(f"{k}.weight"), *([t(f"{k}.bias")] if bias else [])]

    def attention(key: str, x: str, source: str, causal: bool) -> str:  # the block's output, dropped out
        extra = ("use_causal_mask=True",) if causal else ()
        steps.append(Step(names[key], Apply(_mha_layer(heads, embed, drop, bias, names[key]), (x, source, *extra))))
        weights[names[key]] = _mha_weights(f"{key}.", embed, heads, False, bias)
        dropout(names[key])
        return names[key]

    def feed_forward(x: str) -> str:
        hidden = [str(p["dim_feedforward"]), kw("activation", p["activation"]), *([] if bias else ["use_bias=False"])]
        apply(ff, "Dense", hidden, names["linear1"], x)
        dropout(ff)
        apply(ff, "Dense", [str(embed), *([] if bias else ["use_bias=False"])], names["linear2"], ff)
        dropout(ff)
        for k in ("linear1", "linear2"):  # as the Linear layer's Dense: the kernel transposed
            weights[names[k]] = lambda t, k=k: [t(f"{k}.weight").T, *([t(f"{k}.bias")] if bias else [])]
        return ff

    blocks = [("self_attn", lambda x: attention("self_attn", x, x, p["causal"]))]
    if memory:
        blocks.append(("multihead_attn", lambda x: attention("multihead_attn", x, memory, False)))
    blocks.append(("ff", feed_forward))
    x = s.x
    for index, (_, block) in enumerate(blocks, start=1):
        if p["norm_first"]:  # x + block(norm(x))
            normed = s.claim(f"{s.var}_normed{index}")
            norm(normed, f"norm{index}", x)
            apply(s.var, "Add", [], names[f"add{index}"], f"[{x}, {block(normed)}]")
        else:  # norm(x + block(x))
            apply(s.var, "Add", [], names[f"add{index}"], f"[{x}, {block(x)}]")
            norm(s.var, f"norm{index}", s.var)
        x = s.var
    return keras_records.Emitted(steps, weights)


def _transformer_params() -> tuple[Param, ...]:
    return (
        Int("nhead", 8, "Number of attention heads; must divide d_model (the input's last dimension).", min=1, max=1024),
        Int("dim_feedforward", 2048, "Width of the feed-forward network's hidden layer.", min=1, max=1_000_000),
        Float("dropout", 0.1, "Dropout in the attention and feed-forward paths while training.", min=0.0, max=0.99),
        Choice("activation", "relu", ("relu", "gelu"), "Activation of the feed-forward network."),
        Bool("norm_first", False, "Apply LayerNorm before each sub-block (pre-norm) instead of after."),
        Float("layer_norm_eps", 1e-5, "Small value added to the variance in LayerNorm.", min=1e-12, max=0.1),
        Bool("bias", True, "Learn biases in the linear layers and LayerNorms."),
        Bool("causal", False, "Let each position attend only to itself and earlier ones (a causal mask), as a decoder's self-attention does."),
    )


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
        pytorch=_attention_pytorch,
        keras=_attention_keras,
        onnx_patterns=("attention",),
    ),
    LayerSpec(
        type="TransformerEncoderLayer",
        category="Attention",
        doc="One transformer encoder block: self-attention and a feed-forward network, each with a residual and LayerNorm.",
        params=_transformer_params(),
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
        pytorch=_transformer_pytorch("TransformerEncoderLayer", "src_mask", "is_causal"),
        keras=_transformer_keras,
    ),
    LayerSpec(
        type="TransformerDecoderLayer",
        category="Attention",
        doc="One transformer decoder block: self-attention, attention over the encoder's memory, and a feed-forward network.",
        params=_transformer_params(),
        infer=_decoder,
        inputs=(Port("in"), Port("memory")),
        state=_decoder_state,
        count_macs=_decoder_macs,
        targets=targets(
            "nn.TransformerDecoderLayer",
            "composed: layers.MultiHeadAttention + layers.LayerNormalization + layers.Dense",
            "MatMul + Softmax + LayerNormalization subgraph",
            Unsupported("BVLC Caffe has no attention or LayerNorm layer"),
        ),
        onnx=_decoder_onnx,
        pytorch=_transformer_pytorch("TransformerDecoderLayer", "tgt_mask", "tgt_is_causal"),
        keras=_transformer_keras,
    ),
)
