"""Index picks as exporters write them: torch's as_strided (a Gather from the data flattened whole) and a Transpose
that brings a dimension before the batch only to pick its entries (q, k, v = qkv[0], qkv[1], qkv[2])."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from studio.graph.catalogue.base import Folded
from studio.interop.onnx_graph import BATCHES, ImportContext
from studio.interop.onnx_ops import known_shape

if TYPE_CHECKING:
    import onnx


def read_strided(ctx: ImportContext, node: onnx.NodeProto, target: str) -> bool:
    """Whether a Reshape flattens the data whole, batch and all, only for Gathers of batch-computed indices (as_strided)."""
    value = ctx.const(target)
    readers = ctx.consumers.get(node.output[0], [])
    return (
        value is not None
        and [int(v) for v in value.ravel()] == [-1]
        and bool(readers)
        and all(r.op_type == "Gather" and r.input[0] == node.output[0] and r.input[1] in ctx.batch_consts for r in readers)
    )


def strided_pick(ctx: ImportContext, node: onnx.NodeProto) -> bool:
    """torch's as_strided as the dynamo exporter writes it: the data flattened whole (Reshape to [-1]), then a Gather of
    indices computed from the batch size. Where, at both probe batch sizes, row n of the indices is n times the
    sample's size plus the same offsets, it picks the same entries of every sample: a Flatten, an IndexSelect of those
    entries (left out when they are all of them in order) and a Reshape to the picked shape. False otherwise."""
    import numpy as np

    flat = ctx.producer.get(node.input[0])
    if flat is None or flat.op_type != "Reshape" or ctx.is_constant(flat.input[0]):
        return False
    target = ctx.const(flat.input[1]) if len(flat.input) > 1 else None
    source = ctx.resolve(flat.input[0])
    shape = ctx.shape(source)
    if target is None or [int(v) for v in target.ravel()] != [-1] or shape is None or any(d is None for d in shape[1:]) or isinstance(shape[0], Folded):
        return False
    size = math.prod(int(d) for d in shape[1:])
    offsets = None
    for batch, indices in zip(BATCHES, ctx.batch_consts[node.input[1]]):
        if indices.ndim < 1 or indices.shape[0] != batch:
            return False
        rows = indices.reshape(batch, -1) - size * np.arange(batch)[:, None]
        if not (rows == rows[0]).all() or (offsets is not None and not np.array_equal(offsets, rows[0])):
            return False
        offsets, picked = rows[0], indices.shape[1:]
    assert offsets is not None
    if len(offsets) and ((offsets < 0).any() or (offsets >= size).any()):
        return False
    out = node.output[0]
    ctx.emit(flat, "Flatten", {}, [source], f"{out}::flat")
    whole = np.array_equal(offsets, np.arange(size))
    if not whole:
        ctx.emit(node, "IndexSelect", {"dim": 1, "indices": tuple(int(i) for i in offsets), "keepdim": True}, [f"{out}::flat"], f"{out}::picked")
    last = f"{out}::flat" if whole else f"{out}::picked"
    if tuple(picked) == (len(offsets),):
        ctx.alias(out, last)
    else:
        ctx.emit(node, "Reshape", {"shape": tuple(int(d) for d in picked)}, [last], out)
    return True


def picked_apart(ctx: ImportContext, node: onnx.NodeProto, x: str, perm: list[int]) -> bool:
    """A Transpose that brings a dimension before the batch only for Gathers to pick its entries (Swin's and many
    hand-written attentions' `q, k, v = qkv.permute(2, 0, 3, 1, 4)`, then `qkv[0]`, ...): each pick becomes a Slice of
    that dimension, squeezed, then permuted as the Transpose orders the rest. False for any other Transpose."""
    readers = ctx.consumers.get(node.output[0], [])
    if not readers or perm[1] != 0 or node.output[0] in {o.name for o in ctx.graph.output}:
        return False
    picks = []
    for reader in readers:
        index = ctx.const(reader.input[1]) if reader.op_type == "Gather" and len(reader.input) > 1 else None
        if index is None or index.ndim != 0 or int(ctx.attrs(reader).get("axis", 0)) != 0 or ctx.is_claimed(reader):
            return False
        picks.append((reader, int(index)))
    axis, size = perm[0], known_shape(ctx, node, x)[perm[0]]
    rest = [p - (p > axis) for p in perm[1:]]  # the order of the other dimensions once the picked one is gone
    for reader, index in picks:
        out = reader.output[0]
        ctx.emit(reader, "Slice", {"dim": axis, "start": index % size, "length": 1}, [x], f"{out}::picked")
        squeezed = out if rest == sorted(rest) else f"{out}::squeezed"
        ctx.emit(reader, "Squeeze", {"dims": (axis,)}, [f"{out}::picked"], squeezed)
        if squeezed != out:
            ctx.emit(reader, "Permute", {"dims": tuple(rest[1:])}, [squeezed], out)
        ctx.claim(reader)
    return True
