"""The pattern of scaled dot-product attention between given tensors: one ScaledDotProductAttention layer,
or one MultiheadAttention with the projections around it.

Exporters write `F.scaled_dot_product_attention` (and Layer Studio writes its own layer) as
MatMul(q, kᵀ), a scale (a Mul or Div by a constant after the product, or a Mul of each operand
before it), an optional Add of a mask, Softmax over the last axis, and MatMul by v. kᵀ is any
chain of views that permutes k's axes (dynamo's is Reshape to (N*H, T, d), Transpose, Reshape
back). A constant mask of zeros is no mask; one that hides every key after the query's position
is `causal`; any other mask stays an input (a Parameter or Constant layer where the file holds
it as a value). With no mask and the default scale, heads cut from query, key and value
projections and joined into an output projection are one MultiheadAttention.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio.interop.common import Unmappable
from studio.interop.onnx_graph import ImportContext
from studio.interop.onnx_held import held_tensor, shared_value
from studio.interop.onnx_ops import floats, renamed
from studio.interop.onnx_patterns import Match, feeder, follower, split
from studio.interop.onnx_views import heads_merged, heads_split, permutation

if TYPE_CHECKING:
    import numpy as np
    import onnx


def nan_guard(ctx: ImportContext, where: onnx.NodeProto) -> Match | None:
    """Where(IsNaN(x), 0, x), which dynamo exports put after an attention softmax: x itself (NaN only
    comes from a row whose every key is masked, which no mapped mask produces)."""
    guarded = _guarded(ctx, where)
    if guarded is None:
        return None
    return Match([ctx.producer[where.input[0]], where], lambda c: c.alias(where.output[0], guarded))


def _guarded(ctx: ImportContext, where: onnx.NodeProto) -> str | None:
    """The tensor a NaN guard `where` passes through, or None when it is no such guard."""
    if len(where.input) != 3:
        return None
    test = feeder(ctx, where.input[0], "IsNaN", reader=where)
    zero = ctx.const(where.input[1])
    if test is None or zero is None or zero.size != 1 or float(zero.ravel()[0]) != 0.0 or test.input[0] != where.input[2]:
        return None
    return where.input[2]


def dot_attention(ctx: ImportContext, softmax: onnx.NodeProto) -> Match | None:
    """softmax(q kᵀ · scale + mask) v -> ScaledDotProductAttention, or MultiheadAttention with its projections
    (a NaN guard after the softmax included)."""
    weights, guard = softmax.output[0], []
    readers = ctx.consumers.get(weights, [])
    if len(readers) == 2 and {r.op_type for r in readers} == {"IsNaN", "Where"}:
        where = next(r for r in readers if r.op_type == "Where")
        if _guarded(ctx, where) == weights and not ctx.is_claimed(where):
            guard = [ctx.producer[where.input[0]], where]
            weights = where.output[0]
    mix = follower(ctx, weights, "MatMul")
    if mix is None or mix.input[0] != weights or ctx.is_constant(mix.input[1]):
        return None
    shape = ctx.shape(ctx.resolve(mix.input[1])) or ctx.inferred.get(mix.input[1])
    axis = int(ctx.attrs(softmax).get("axis", -1))
    nodes, scores, mask = [softmax, *guard, mix], softmax.input[0], None
    add = feeder(ctx, scores, "Add", reader=softmax)
    if add is not None:
        scores, mask = (add.input[0], add.input[1]) if not _from_product(ctx, add.input[1]) else (add.input[1], add.input[0])
        nodes.append(add)
    else:
        add = feeder(ctx, scores, "Where", reader=softmax)  # masked_fill(hidden, -inf): the mask as the additive one it is
        mask = _filled_mask(ctx, add) if add is not None else None
        if mask is None:
            add = None
        else:
            scores = add.input[2]
            nodes.append(add)
    scale = 1.0
    scaling = feeder(ctx, scores, "Mul", "Div", reader=add or softmax)
    if scaling is not None and split(ctx, scaling) is not None:
        scores, factor = split(ctx, scaling)  # type: ignore[misc]
        scale = factor if scaling.op_type == "Mul" else 1.0 / factor
        nodes.append(scaling)
    product = feeder(ctx, scores, "MatMul", reader=scaling or add or softmax)
    if product is None:
        return None
    nodes.append(product)
    q, keys = product.input
    q_reader, key_reader = product, product
    for side in ("q", "k"):  # torch.onnx scales each operand by the root of the scale
        operand = q if side == "q" else keys
        pre = feeder(ctx, operand, "Mul", reader=product)
        if pre is not None and split(ctx, pre) is not None:
            operand, factor = split(ctx, pre)  # type: ignore[misc]
            scale *= factor
            nodes.append(pre)
            if side == "q":
                q, q_reader = operand, pre
            else:
                keys, key_reader = operand, pre
    found = permutation(ctx, keys, key_reader)
    if found is None:
        return None
    k, perm, moves = found
    rank = len(perm)
    if rank < 3 or (shape is not None and len(shape) != rank) or axis % rank != rank - 1:
        return None
    nodes += moves
    # the keys as attention takes them: the permutation without its swap of the last two axes
    key_order = [*perm[:-2], perm[-1], perm[-2]]
    v = mix.input[1]
    if any(ctx.is_constant(t) for t in (q, k, v)):
        return None
    kind = _mask_kind(ctx, mask) if mask is not None else "none"
    causal, masked = kind == "causal", mask if kind == "tensor" else None
    head = (ctx.inferred.get(q) or (None,))[-1]
    if kind == "none" and rank == 4 and head and math.isclose(scale, 1 / math.sqrt(head), rel_tol=1e-5):
        block = multihead(ctx, [(q, q_reader), (keys, key_reader), (v, mix)], mix.output[0])
        if block is not None:
            return Match(_unique([*nodes, *block.nodes]), block.emit)

    def emit(c: ImportContext) -> None:
        width = (c.shape(c.resolve(q)) or (None, 1))[-1] or 1  # known once q is mapped
        params = {"causal": causal, "scale": 0.0 if math.isclose(scale, 1 / math.sqrt(width), rel_tol=1e-5) else scale}
        held = held_tensor(c, masked, rank) if masked is not None and c.is_constant(masked) else masked
        keys = c.resolve(k)
        if key_order != list(range(rank)):
            keys = f"{moves[0].output[0]}::keys"
            c.emit(moves[0], "Permute", {"dims": tuple(key_order[1:])}, [c.resolve(k)], keys)
        inputs = [c.resolve(q), keys, c.resolve(v), c.resolve(held) if held else ""]
        c.emit(mix, "ScaledDotProductAttention", params, inputs, mix.output[0])

    return Match(nodes, emit)


@dataclass
class Heads:
    """Multi-head attention around a product of heads: its projections, the nodes it takes, and how to emit it."""

    nodes: list[onnx.NodeProto]
    emit: Callable[[ImportContext], None]


def multihead(ctx: ImportContext, operands: list[tuple[str, onnx.NodeProto]], mixed: str) -> Heads | None:
    """The query, key and value heads (each tensor with its reader) cut from projections of sequences, and the heads
    of the result joined into an output projection -> one MultiheadAttention, when the weights fit its form: the
    same number of heads and width everywhere, and biases on every projection or on none."""
    import numpy as np

    nodes: list[onnx.NodeProto] = []
    found = []
    for index, (tensor, reader) in enumerate(operands):
        split = heads_split(ctx, tensor, reader, keys=index == 1)
        projection = _projection(ctx, split[0], split[2][-1]) if split is not None else None
        if split is None or projection is None:
            return None
        found.append((split[1], projection))
        nodes += [*split[2], *projection[3]]
    joined = heads_merged(ctx, mixed)
    out = _out_projection(ctx, joined[0]) if joined is not None else None
    if joined is None or out is None:
        return None
    heads = found[0][0]
    weights = [p[1] for _, p in found]
    biases = [p[2] for _, p in found] + [out[1]]
    embed = out[0].shape[0]
    if any(h != heads for h, _ in found) or any(w.shape[0] != embed for w in weights) or weights[0].shape[1] != embed or out[0].shape[1] != embed:
        return None
    if any(b is None for b in biases) and any(b is not None for b in biases):
        return None
    sources = [p[0] for _, p in found]
    end = out[2][-1].output[0]

    def emit(c: ImportContext) -> None:
        live = [c.resolve(t) for t in sources]
        ports = [live[0], "", ""]
        if live[1] != live[0] or live[2] != live[0]:
            ports[1] = live[1]
            if live[2] != live[1]:
                ports[2] = live[2]
        state = {"out_proj.weight": floats(out[0])}
        if all(w.shape[1] == embed for w in weights):
            state["in_proj_weight"] = floats(np.concatenate(weights))
        else:
            state.update(q_proj_weight=floats(weights[0]), k_proj_weight=floats(weights[1]), v_proj_weight=floats(weights[2]))
        if biases[0] is not None:
            state["in_proj_bias"] = floats(np.concatenate(biases[:3]))
            state["out_proj.bias"] = floats(biases[3])
        anchor = renamed(out[2][0], out[2][0].name or "attention")
        c.emit(anchor, "MultiheadAttention", {"num_heads": heads, "bias": biases[0] is not None}, ports, end, state)

    return Heads([*nodes, *joined[1], *out[2]], emit)


def _projection(ctx: ImportContext, tensor: str, reader: onnx.NodeProto) -> tuple[str, np.ndarray, np.ndarray | None, list[onnx.NodeProto]] | None:
    """`tensor` as MatMul(x, W) (+ b) of a sequence x (N, T, F) by constants: x, the weight as (out, F), the bias, the nodes."""
    nodes, bias = [], None
    add = feeder(ctx, tensor, "Add", reader=reader)
    if add is not None:
        bias = _bias(ctx, add)
        if bias is None:
            return None
        tensor, reader = bias[0], add
        bias = bias[1]
        nodes.append(add)
    matmul = feeder(ctx, tensor, "MatMul", reader=reader)
    weight = ctx.const(matmul.input[1]) if matmul is not None else None
    if matmul is None or weight is None or weight.ndim != 2 or ctx.is_constant(matmul.input[0]):
        return None
    x = matmul.input[0]
    shape = ctx.inferred.get(x)
    if shape is None or len(shape) != 3 or shape[2] != weight.shape[0] or (bias is not None and bias.size != weight.shape[1]):
        return None
    return x, weight.T, bias, [matmul, *nodes]


def _bias(ctx: ImportContext, add: onnx.NodeProto) -> tuple[str, np.ndarray] | None:
    """An Add's live operand and its constant vector."""
    live = [n for n in add.input if not ctx.is_constant(n)]
    held = [ctx.const(n) for n in add.input if ctx.is_constant(n)]
    if len(live) != 1 or len(held) != 1 or held[0] is None or held[0].ndim < 1 or held[0].size != held[0].shape[-1]:
        return None
    return live[0], held[0].reshape(-1)


def _out_projection(ctx: ImportContext, tensor: str) -> tuple[np.ndarray, np.ndarray | None, list[onnx.NodeProto]] | None:
    """The MatMul by a constant (and Add of a constant vector) that reads joined heads: weight (out, E), bias, nodes."""
    matmul = follower(ctx, tensor, "MatMul")
    weight = ctx.const(matmul.input[1]) if matmul is not None else None
    if matmul is None or matmul.input[0] != tensor or weight is None or weight.ndim != 2:
        return None
    add = follower(ctx, matmul.output[0], "Add")
    found = _bias(ctx, add) if add is not None else None
    if found is not None and found[1].size == weight.shape[1]:
        return weight.T, found[1], [matmul, add]  # type: ignore[list-item]
    return weight.T, None, [matmul]


def _unique(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    seen: set[int] = set()
    return [n for n in nodes if not (id(n) in seen or seen.add(id(n)))]  # type: ignore[func-returns-value]


def _from_product(ctx: ImportContext, tensor: str) -> bool:
    producer = ctx.producer.get(tensor)
    return producer is not None and producer.op_type in ("Mul", "Div", "MatMul")


def _filled_mask(ctx: ImportContext, where: onnx.NodeProto) -> str | None:
    """Where(hidden, fill, scores) of a constant `hidden` and `fill`: a constant additive mask (fill where hidden, else 0), by name."""
    import numpy as np

    if len(where.input) != 3 or ctx.is_constant(where.input[2]) or any(n not in ctx.consts for n in where.input[:2]):
        return None
    hidden, fill = ctx.consts[where.input[0]], ctx.consts[where.input[1]]
    if hidden.dtype != np.bool_ or fill.dtype.kind != "f":
        return None
    name = f"{where.output[0]}::mask"
    ctx.consts[name] = np.where(hidden, fill, 0).astype(np.float32)
    return name


def _mask_kind(ctx: ImportContext, mask: str) -> str:
    """What an additive mask does: "none" (a constant of zeros), "causal" (a constant that hides exactly the keys
    after each query's position, PyTorch's is_causal) or "tensor" (anything else, kept as the layer's input)."""
    import numpy as np

    if not ctx.is_constant(mask):
        return "tensor"
    try:
        value = shared_value(ctx, mask)
    except Unmappable:
        return "tensor"
    if value.dtype.kind != "f":
        return "tensor"
    if not value.any():
        return "none"
    if value.ndim < 2:
        return "tensor"
    rows, cols = value.shape[-2:]
    planes = value.reshape(-1, rows, cols)
    table = planes[0]
    if any(not np.array_equal(table, plane) for plane in planes):
        return "tensor"
    hidden = np.triu(np.ones((rows, cols), dtype=bool), 1)
    causal = np.all(table[~hidden] == 0) and np.all(np.isneginf(table[hidden]) | (table[hidden] < -1e9))
    return "causal" if causal else "tensor"
