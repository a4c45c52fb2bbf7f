"""Dense layers as exporters write them: MatMul by a constant and Add of a bias, and the Reshape, Gemm, Reshape around a sequence."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from studio.interop.onnx_graph import BATCHES, ImportContext
from studio.interop.onnx_ops import linear_layer
from studio.interop.onnx_patterns import Match, feeder, follower
from studio.interop.onnx_views import Layout, run_views

if TYPE_CHECKING:
    import numpy as np
    import onnx


def matmul_add(ctx: ImportContext, matmul: onnx.NodeProto) -> Match | None:
    """MatMul by a constant matrix, then Add of a constant vector -> Linear with bias."""
    weight = ctx.const(matmul.input[1])
    if weight is None or weight.ndim != 2 or ctx.is_constant(matmul.input[0]):
        return None
    add = follower(ctx, matmul.output[0], "Add")
    if add is None:
        return None
    other = add.input[1] if add.input[0] == matmul.output[0] else add.input[0]
    bias = ctx.const(other)
    if (
        bias is None
        or bias.size != weight.shape[1]
        or (bias.ndim and bias.shape[-1] != weight.shape[1])
    ):
        return None
    x = matmul.input[0]
    return Match(
        [matmul, add],
        lambda c: linear_layer(c, add, c.resolve(x), weight.T, bias, add.output[0]),
    )


def folded_linear(ctx: ImportContext, product: onnx.NodeProto) -> Match | None:
    """Reshape (N, ..., F) to (N * ..., F), Gemm or MatMul by a constant (and Add of a bias), Reshape back to
    (N, ..., out), as GPT-2's Conv1D and many exporters write a dense layer on a sequence -> one Linear (after a
    Reshape when the first Reshape also joins trailing dimensions into F, such as attention's heads)."""
    found = _dense_weight(ctx, product)
    fold = feeder(ctx, product.input[0], "Reshape", reader=product)
    if found is None or fold is None or ctx.is_constant(fold.input[0]):
        return None
    weight, bias = found
    x = fold.input[0]
    shape = ctx.inferred.get(x)
    if shape is None or len(shape) < 3 or any(d is None for d in shape[1:]):
        return None
    sample = tuple(int(d) for d in shape[1:])  # type: ignore[arg-type]
    rows = next((k for k in range(1, len(sample)) if math.prod(sample[k:]) == weight.shape[1]), None)
    if rows is None:
        return None
    nodes, after = [fold, product], product.output[0]
    add = follower(ctx, after, "Add") if bias is None else None
    operands = _vector_operand(ctx, add, after) if add is not None else None
    if operands is not None and operands.size == weight.shape[0]:
        nodes.append(add)  # type: ignore[arg-type]
        bias, after = operands, add.output[0]  # type: ignore[union-attr]
    unfold = follower(ctx, after, "Reshape")
    if unfold is None or not _folds_rows(ctx, fold, unfold, sample, rows, int(weight.shape[0])):
        return None
    lead = sample[:rows]

    def emit(c: ImportContext) -> None:
        source = c.resolve(x)
        if rows != len(sample) - 1:
            source = f"{fold.output[0]}::rows"
            c.emit(fold, "Reshape", {"shape": (*lead, int(weight.shape[1]))}, [c.resolve(x)], source)
        linear_layer(c, unfold, source, weight, bias, unfold.output[0])

    return Match([*nodes, unfold], emit)


def _folds_rows(ctx: ImportContext, fold: onnx.NodeProto, unfold: onnx.NodeProto, sample: tuple[int, ...], rows: int, out: int) -> bool:
    """Whether `fold` makes (N, *sample) rows of its trailing dimensions from `rows` on, and `unfold` gives the rows'
    results (N, *sample[:rows], out), at both batch sizes."""
    lead = math.prod(sample[:rows])
    for which, batch in enumerate(BATCHES):
        flat = run_views(ctx, [fold], Layout.numbered((batch, *sample)), which)  # shapes only: the entries would be the live tensor's
        back = run_views(ctx, [unfold], Layout.numbered((batch * lead, out)), which)
        if flat is None or back is None or flat.shape != (batch * lead, math.prod(sample[rows:])) or back.shape != (batch, *sample[:rows], out):
            return False
    return True


def _dense_weight(ctx: ImportContext, node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A Gemm's or MatMul's constant weight as (out, in), and a Gemm's bias vector; None for other forms."""
    weight = ctx.const(node.input[1]) if len(node.input) > 1 else None
    if weight is None or weight.ndim != 2 or ctx.is_constant(node.input[0]):
        return None
    if node.op_type == "MatMul":
        return weight.T, None
    attrs = ctx.attrs(node)
    if attrs.get("transA", 0) or float(attrs.get("alpha", 1.0)) != 1.0 or float(attrs.get("beta", 1.0)) != 1.0:
        return None
    bias = ctx.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if len(node.input) > 2 and node.input[2] and (bias is None or bias.size != weight.shape[1 if not attrs.get("transB", 0) else 0]):
        return None
    return (weight if attrs.get("transB", 0) else weight.T), (None if bias is None else bias.reshape(-1))


def _vector_operand(ctx: ImportContext, node: onnx.NodeProto, live: str) -> np.ndarray | None:
    """The other operand of a two-input node when it is a constant vector (any leading ones allowed)."""
    if len(node.input) != 2 or live not in node.input:
        return None
    value = ctx.const(node.input[1] if node.input[0] == live else node.input[0])
    if value is None or value.ndim < 1 or value.size != value.shape[-1]:
        return None
    return value.reshape(-1)
