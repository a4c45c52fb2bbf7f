"""Chains of Reshape and Transpose read as what they do to a tensor's entries: a permutation of its axes, or heads split and merged.

Exporters rearrange attention's operands in many ways: dynamo writes a key's transpose as
Reshape to (N*H, T, d), Transpose, Reshape back. Each chain is run on numbered entries at both
batch sizes of the import (no ONNX evaluator), and what comes out is compared with the
arrangement sought, so any exporter's form of the same rearrangement is recognised. The numbered
entries are a `Layout`: where each entry comes from, as sizes and strides, never the entries
themselves, so a live tensor of 10^10 entries costs what its rank does.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio.interop.onnx_graph import BATCHES, ImportContext

if TYPE_CHECKING:
    import onnx

VIEWS = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity"})
MAX_VIEWS = 8
MAX_RANK = 6

Factor = tuple[int, int]  # (size, stride): a dimension's digit and how far apart its entries lie in the source


@dataclass(frozen=True)
class Layout:
    """Numbered entries (each one's index in a row-major source) as views arranged them, held as each dimension's
    factors, major first, instead of the entries. Takes the calls `run_views` makes of a numpy array; a reshape that
    would mix factors no stride describes raises ValueError, as numpy raises on a misfit."""

    dims: tuple[tuple[Factor, ...], ...]

    @classmethod
    def numbered(cls, shape: tuple[int, ...]) -> Layout:
        """`np.arange(prod(shape)).reshape(shape)`, without the entries."""
        strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
        return cls(tuple(((int(n), s),) for n, s in zip(shape, strides)))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(math.prod(n for n, _ in dim) for dim in self.dims)

    @property
    def ndim(self) -> int:
        return len(self.dims)

    def same(self, other: Layout) -> bool:
        """Whether both put the same entry at every position (numpy's `array_equal` of the numbered arrays)."""
        return self.shape == other.shape and all(_coalesced(a) == _coalesced(b) for a, b in zip(self.dims, other.dims))

    def transpose(self, perm: list[int] | tuple[int, ...]) -> Layout:
        axes = [int(p) for p in perm]
        if sorted(a % self.ndim if -self.ndim <= a < self.ndim else a for a in axes) != list(range(self.ndim)):
            raise ValueError(f"axes {axes} are not a permutation of {self.ndim} dimensions")
        return Layout(tuple(self.dims[a] for a in axes))

    def squeeze(self, axis: tuple[int, ...] | None = None) -> Layout:
        shape = self.shape
        drop = {i for i, n in enumerate(shape) if n == 1} if axis is None else {int(a) % max(self.ndim, 1) for a in axis}
        if any(not -self.ndim <= int(a) < self.ndim for a in axis or ()) or any(shape[i] != 1 for i in drop):
            raise ValueError("only dimensions of size one can be squeezed")
        return Layout(tuple(dim for i, dim in enumerate(self.dims) if i not in drop))

    def reshape(self, *target: int | list[int] | tuple[int, ...]) -> Layout:
        sizes = [int(n) for n in (target[0] if len(target) == 1 and not isinstance(target[0], int) else target)]  # type: ignore[union-attr]
        total = math.prod(self.shape)
        if -1 in sizes:
            known = math.prod(n for n in sizes if n != -1)
            if sizes.count(-1) > 1 or known <= 0 or total % known:
                raise ValueError(f"cannot reshape {self.shape} to {sizes}")
            sizes[sizes.index(-1)] = total // known
        if any(n < 1 for n in sizes) or math.prod(sizes) != total:
            raise ValueError(f"cannot reshape {self.shape} to {sizes}")
        rest, dims = deque(_coalesced(tuple(f for dim in self.dims for f in dim))), []
        for size in sizes:
            need, taken = size, []
            while need > 1:
                n, stride = rest.popleft()
                if n <= need and need % n == 0:
                    taken.append((n, stride))
                    need //= n
                elif n > need and n % need == 0:
                    taken.append((need, stride * (n // need)))
                    rest.appendleft((n // need, stride))
                    need = 1
                else:
                    raise ValueError(f"reshaping {self.shape} to {sizes} mixes entries no stride describes")
            dims.append(tuple(taken))
        return Layout(tuple(dims))


def _coalesced(factors: tuple[Factor, ...]) -> tuple[Factor, ...]:
    """The same positions in fewest factors: none of size one, and a factor whose entries follow the next one's merged with it."""
    merged: list[Factor] = []
    for n, stride in factors:
        if n == 1:
            continue
        if merged and merged[-1][1] == stride * n:
            merged[-1] = (merged[-1][0] * n, stride)
        else:
            merged.append((n, stride))
    return tuple(merged)


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
            numbers = Layout.numbered((batch, steps, width))
            result = run_views(ctx, nodes[::-1], numbers, which)
            if result is None or result.ndim != 4 or width % max(result.shape[1], 1) or heads not in (None, result.shape[1]):
                break
            heads = result.shape[1]
            split = numbers.reshape(batch, steps, heads, width // heads).transpose((0, 2, 3, 1) if keys else (0, 2, 1, 3))
            if not result.same(split):
                break
        else:
            return source, int(heads), nodes  # type: ignore[arg-type]
    return None


def heads_merged(ctx: ImportContext, tensor: str) -> tuple[str, list[onnx.NodeProto]] | None:
    """The sequence (N, T, H * d) that a chain of views after `tensor` (N, H, T, d) makes by joining its heads, and the
    chain's nodes; None when no chain does."""
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
            numbers = Layout.numbered((batch, heads, steps, width))
            result = run_views(ctx, nodes, numbers, which)
            joined = numbers.transpose((0, 2, 1, 3)).reshape(batch, steps, heads * width)
            if result is None or not result.same(joined):
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
    found = None
    for which, batch in enumerate(BATCHES):
        shape = (batch, *sample)
        numbers = Layout.numbered(shape)
        result = run_views(ctx, nodes, numbers, which)
        if result is None or result.ndim != len(shape):
            return None
        perm = next((p for p in itertools.permutations(range(len(shape))) if result.same(numbers.transpose(p))), None)
        if perm is None or (found is not None and perm != found):
            return None
        found = perm
    return found


def run_views(ctx: ImportContext, nodes: list[onnx.NodeProto], value: Layout, which: int = 0) -> Layout | None:
    """The view nodes applied in order to `value` (batch constants read at BATCHES[which]); None for a node whose
    operands are not constants or do not fit."""
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
                    value = value.squeeze(axis=None if axes is None else tuple(int(a) for a in axes))
                elif axes is None:
                    return None
                else:
                    value = value.reshape(_unsqueezed(value.shape, [int(a) for a in axes]))
            elif node.op_type == "Flatten":
                axis = int(attrs.get("axis", 1)) % max(value.ndim, 1)
                value = value.reshape(math.prod(value.shape[:axis]), -1)
        except ValueError:
            return None
    return value


def _unsqueezed(shape: tuple[int, ...], axes: list[int]) -> tuple[int, ...]:
    """The shape with a dimension of one at each of `axes` (of the result, negative from its end), as Unsqueeze makes it."""
    rank = len(shape) + len(axes)
    places = {a % rank for a in axes if -rank <= a < rank}
    if len(places) != len(axes):
        raise ValueError(f"axes {axes} repeat or lie outside {rank} dimensions")
    sizes = iter(shape)
    return tuple(1 if i in places else next(sizes) for i in range(rank))


def _ints(ctx: ImportContext, name: str, which: int) -> list[int] | None:
    """A constant's integers (a batch constant at BATCHES[which])."""
    if name in ctx.batch_consts:
        return [int(v) for v in ctx.batch_consts[name][which].ravel()]
    value = ctx.const(name)
    return None if value is None else [int(v) for v in value.ravel()]
