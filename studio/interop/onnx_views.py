"""Chains of Reshape and Transpose read as what they do to a tensor's entries: a permutation of its axes, or heads split and merged.

Exporters rearrange attention's operands in many ways: dynamo writes a key's transpose as
Reshape to (N*H, T, d), Transpose, Reshape back. Each chain is run on numbered entries at both
batch sizes of the import (numpy only, no ONNX evaluator), and what comes out is compared with
the arrangement sought, so any exporter's form of the same rearrangement is recognised.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from studio.interop.onnx_graph import BATCHES, ImportContext

if TYPE_CHECKING:
    import numpy as np
    import onnx

VIEWS = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity"})
MAX_VIEWS = 8
MAX_RANK = 6


def view_chain(ctx: ImportContext, tensor: str, reader: onnx.NodeProto | None = None) -> list[onnx.NodeProto]:
    """The free view nodes that make `tensor`, nearest first, each result read by the next node only (and
    `tensor` by `reader` only, when given)."""
    chain: list[onnx.NodeProto] = []
    while len(chain) < MAX_VIEWS:
        node = ctx.producer.get(tensor)
        if node is None or node.op_type not in VIEWS or ctx.is_claimed(node) or ctx.is_constant(tensor):
            break
        readers = ctx.consumers.get(tensor, [])
        expected = reader if not chain else chain[-1]
        if expected is not None and (readers != [expected] or tensor in ctx.outputs):
            break
        chain.append(node)
        tensor = node.input[0]
    return chain


def permutation(ctx: ImportContext, tensor: str, reader: onnx.NodeProto | None = None) -> tuple[str, tuple[int, ...], list[onnx.NodeProto]] | None:
    """`tensor` as a permutation of an earlier tensor's axes through a chain of views: (that tensor, the
    permutation, the chain's nodes); the earliest such tensor whose batch leads; None when there is none."""
    chain = view_chain(ctx, tensor, reader)
    for depth in range(len(chain), 0, -1):
        nodes = chain[:depth]
        source = nodes[-1].input[0]
        shape = _sample_shape(ctx, source)
        perm = _transposes(ctx, nodes[::-1]) if shape is None else _permutation_of(ctx, nodes[::-1], shape)
        if perm is not None and perm[0] == 0:
            return source, perm, nodes
    return None


def heads_split(ctx: ImportContext, tensor: str, reader: onnx.NodeProto, keys: bool = False) -> tuple[str, int, list[onnx.NodeProto]] | None:
    """`tensor` as a sequence (N, T, E) cut into heads through a chain of views: (that sequence, the number of heads,
    the chain's nodes). The heads are (N, H, T, E / H), or (N, H, E / H, T) for `keys` (transposed for the product)."""
    import numpy as np

    chain = view_chain(ctx, tensor, reader)
    for depth in range(len(chain), 0, -1):
        nodes = chain[:depth]
        source = nodes[-1].input[0]
        sample = _sample_shape(ctx, source)
        if sample is None or len(sample) != 2:
            continue
        steps, width = sample
        heads = None
        for which, batch in enumerate(BATCHES):
            numbers = np.arange(batch * steps * width, dtype=np.int64).reshape(batch, steps, width)
            result = run_views(ctx, nodes[::-1], numbers, which)
            if result is None or result.ndim != 4 or width % max(result.shape[1], 1) or heads not in (None, result.shape[1]):
                break
            heads = result.shape[1]
            split = numbers.reshape(batch, steps, heads, width // heads).transpose((0, 2, 3, 1) if keys else (0, 2, 1, 3))
            if result.shape != split.shape or not np.array_equal(result, split):
                break
        else:
            return source, int(heads), nodes  # type: ignore[arg-type]
    return None


def heads_merged(ctx: ImportContext, tensor: str) -> tuple[str, list[onnx.NodeProto]] | None:
    """The sequence (N, T, H * d) that a chain of views after `tensor` (N, H, T, d) makes by joining its heads, and the
    chain's nodes; None when no chain does."""
    import numpy as np

    sample = _sample_shape(ctx, tensor)
    chain: list[onnx.NodeProto] = []
    current = tensor
    while len(chain) < MAX_VIEWS:
        node = ctx.only_consumer(current)
        if node is None or node.op_type not in VIEWS or ctx.is_claimed(node) or node.input[0] != current:
            break
        chain.append(node)
        current = node.output[0]
    if sample is None or len(sample) != 3:
        return None
    heads, steps, width = sample
    for depth in range(len(chain), 0, -1):
        nodes = chain[:depth]
        for which, batch in enumerate(BATCHES):
            numbers = np.arange(batch * heads * steps * width, dtype=np.int64).reshape(batch, heads, steps, width)
            result = run_views(ctx, nodes, numbers, which)
            joined = numbers.transpose(0, 2, 1, 3).reshape(batch, steps, heads * width)
            if result is None or result.shape != joined.shape or not np.array_equal(result, joined):
                break
        else:
            return nodes[-1].output[0], nodes
    return None


def _transposes(ctx: ImportContext, nodes: list[onnx.NodeProto]) -> tuple[int, ...] | None:
    """The permutation a chain of Transposes with explicit perms applies (no sizes needed); None for any other chain."""
    perm: tuple[int, ...] | None = None
    for node in nodes:
        step = ctx.attrs(node).get("perm")
        if node.op_type != "Transpose" or not step or (perm is not None and len(step) != len(perm)):
            return None
        perm = tuple(int(p) for p in step) if perm is None else tuple(perm[int(i)] for i in step)
    return perm


def _sample_shape(ctx: ImportContext, tensor: str) -> tuple[int, ...] | None:
    """A tensor's sizes after the batch, when the batch leads it and every other size is known."""
    shape = ctx.inferred.get(tensor)
    if shape is None or len(shape) < 2 or any(d is None for d in shape[1:]) or len(shape) > MAX_RANK:
        return None
    return tuple(int(d) for d in shape[1:])  # type: ignore[arg-type]


def _permutation_of(ctx: ImportContext, nodes: list[onnx.NodeProto], sample: tuple[int, ...]) -> tuple[int, ...] | None:
    """The permutation of axes the nodes (in order) apply to a tensor of shape (batch, *sample), the same at both batch sizes."""
    import numpy as np

    found = None
    for which, batch in enumerate(BATCHES):
        shape = (batch, *sample)
        numbers = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
        result = run_views(ctx, nodes, numbers, which)
        if result is None or result.ndim != len(shape):
            return None
        perm = next(
            (p for p in itertools.permutations(range(len(shape))) if tuple(shape[i] for i in p) == result.shape and np.array_equal(numbers.transpose(p), result)),
            None,
        )
        if perm is None or (found is not None and perm != found):
            return None
        found = perm
    return found


def run_views(ctx: ImportContext, nodes: list[onnx.NodeProto], value: np.ndarray, which: int = 0) -> np.ndarray | None:
    """The view nodes applied in order to `value` with numpy (batch constants read at BATCHES[which]); None for a
    node whose operands are not constants or do not fit."""
    import numpy as np

    for node in nodes:
        attrs = ctx.attrs(node)
        try:
            if node.op_type == "Reshape":
                target = _ints(ctx, node.input[1], which) if len(node.input) > 1 else [int(v) for v in attrs.get("shape", [])]
                if target is None:
                    return None
                if not attrs.get("allowzero", 0):
                    target = [value.shape[i] if d == 0 else d for i, d in enumerate(target)]
                value = value.reshape(target)
            elif node.op_type == "Transpose":
                value = value.transpose(attrs.get("perm", list(range(value.ndim))[::-1]))
            elif node.op_type in ("Squeeze", "Unsqueeze"):
                axes = attrs.get("axes") if "axes" in attrs else _ints(ctx, node.input[1], which) if len(node.input) > 1 and node.input[1] else None
                if node.op_type == "Squeeze":
                    value = np.squeeze(value, axis=None if axes is None else tuple(axes))
                elif axes is None:
                    return None
                else:
                    rank = value.ndim + len(axes)
                    value = np.expand_dims(value, tuple(a % rank for a in axes))
            elif node.op_type == "Flatten":
                axis = int(attrs.get("axis", 1)) % max(value.ndim, 1)
                value = value.reshape(int(np.prod(value.shape[:axis])), -1)
        except ValueError:
            return None
    return value


def _ints(ctx: ImportContext, name: str, which: int) -> list[int] | None:
    """A constant's integers (a batch constant at BATCHES[which])."""
    if name in ctx.batch_consts:
        return [int(v) for v in ctx.batch_consts[name][which].ravel()]
    value = ctx.const(name)
    return None if value is None else [int(v) for v in value.ravel()]
