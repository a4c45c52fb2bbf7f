"""The pattern of scaled dot-product attention between given tensors: one ScaledDotProductAttention layer.

Exporters write `F.scaled_dot_product_attention` (and Layer Studio writes its own layer) as
MatMul(q, Transpose(k)), a scale (a Mul or Div by a constant after the product, or a Mul of
each operand before it), an optional Add of a mask, Softmax over the last axis, and MatMul by v.
A constant mask that hides every key after the query's position is `causal`; any other mask
stays an input (a Constant layer where the file holds it as a value).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from studio.interop.onnx_graph import ImportContext
from studio.interop.onnx_patterns import Match, feeder, follower, split
from studio.interop.onnx_tensors import held_tensor

if TYPE_CHECKING:
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
    """softmax(q kᵀ · scale + mask) v -> ScaledDotProductAttention (a NaN guard after the softmax included)."""
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
    key_reader = product
    for side in ("q", "k"):  # torch.onnx scales each operand by the root of the scale
        operand = q if side == "q" else keys
        pre = feeder(ctx, operand, "Mul", reader=product)
        if pre is not None and split(ctx, pre) is not None:
            operand, factor = split(ctx, pre)  # type: ignore[misc]
            scale *= factor
            nodes.append(pre)
            if side == "q":
                q = operand
            else:
                keys, key_reader = operand, pre
    transpose = feeder(ctx, keys, "Transpose", reader=key_reader)
    perm = list(ctx.attrs(transpose).get("perm", [])) if transpose is not None else []
    rank = len(perm)
    if transpose is None or rank < 3 or perm[0] != 0 or (shape is not None and len(shape) != rank) or axis % rank != rank - 1:
        return None
    nodes.append(transpose)
    # the keys as attention takes them: the transpose without its swap of the last two axes
    key_order = [*perm[:-2], perm[-1], perm[-2]]
    k, v = transpose.input[0], mix.input[1]
    if any(ctx.is_constant(t) for t in (q, k, v)):
        return None
    causal = mask is not None and _causal(ctx, mask)

    def emit(c: ImportContext) -> None:
        width = (c.shape(c.resolve(q)) or (None, 1))[-1] or 1  # known once q is mapped
        params = {"causal": causal, "scale": 0.0 if math.isclose(scale, 1 / math.sqrt(width), rel_tol=1e-5) else scale}
        masked = None if mask is None or causal else mask
        if masked is not None and c.is_constant(masked):
            masked = held_tensor(c, masked, rank)
        keys = c.resolve(k)
        if key_order != list(range(rank)):
            keys = f"{transpose.output[0]}::keys"
            c.emit(transpose, "Permute", {"dims": tuple(key_order[1:])}, [c.resolve(k)], keys)
        inputs = [c.resolve(q), keys, c.resolve(v), c.resolve(masked) if masked else ""]
        c.emit(mix, "ScaledDotProductAttention", params, inputs, mix.output[0])

    return Match(nodes, emit)


def _from_product(ctx: ImportContext, tensor: str) -> bool:
    producer = ctx.producer.get(tensor)
    return producer is not None and producer.op_type in ("Mul", "Div", "MatMul")


def _causal(ctx: ImportContext, mask: str) -> bool:
    """Whether a constant mask hides exactly the keys after each query's position (PyTorch's is_causal)."""
    import numpy as np

    value = ctx.const(mask)
    if value is None or value.ndim < 2:
        return False
    rows, cols = value.shape[-2:]
    table = value.reshape(-1, rows, cols)[0]
    if any(not np.array_equal(table, plane) for plane in value.reshape(-1, rows, cols)):
        return False
    hidden = np.triu(np.ones((rows, cols), dtype=bool), 1)
    return bool(np.all(table[~hidden] == 0) and np.all(np.isneginf(table[hidden]) | (table[hidden] < -1e9)))
