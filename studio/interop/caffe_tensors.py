"""Caffe's reductions and tilings onto catalogue layers: Reduction, ArgMax and Tile."""

from __future__ import annotations

from collections.abc import Callable

from studio.interop.caffe_builder import (
    Blob,
    BrokenLayer,
    Builder,
    Layer,
    axis_index,
    rank_of,
    required,
    single,
)
from studio.interop.common import Unmappable

_REDUCTIONS = {"SUM": ("ReduceSum", {}), "MEAN": ("ReduceMean", {}), "ASUM": ("Norm", {"p": 1.0})}
_BY_NUMBER = {"1": "SUM", "2": "ASUM", "3": "SUMSQ", "4": "MEAN"}


def reduction(b: Builder, layer: Layer) -> list[Blob]:
    """Reduction over every axis from `axis` on -> ReduceSum, ReduceMean or Norm (p 1) over those dimensions."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("reduction_param")
    rank = rank_of(x)
    axis = axis_index(p, "axis", rank, 0)
    operation = p.enum("operation", "SUM") or "SUM"
    operation = _BY_NUMBER.get(operation, operation)
    if axis == 0:
        raise Unmappable("Reduction over every axis, the batch included")
    if p.number("coeff", 1.0) != 1.0:
        raise Unmappable("Reduction with a coefficient")
    if operation not in _REDUCTIONS:
        raise Unmappable(f"Reduction {operation}")
    layer_type, params = _REDUCTIONS[operation]
    dims = tuple(range(axis, rank))
    return [b.add(layer_type, layer.name, {**params, "dims": dims, "keepdim": False}, [x], layer.type)]


def arg_max(b: Builder, layer: Layer) -> list[Blob]:
    """ArgMax along an axis -> ArgMax keeping that axis (size 1), as Caffe does."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("argmax_param")
    if not p.has("axis"):
        raise Unmappable("ArgMax over a whole sample (no axis)")
    if p.flag("out_max_val", False) or p.integer("top_k", 1) != 1:
        raise Unmappable("ArgMax with out_max_val or a top_k above 1")
    axis = axis_index(p, "axis", rank_of(x))
    if axis == 0:
        raise BrokenLayer("ArgMax along the batch axis")
    return [b.add("ArgMax", layer.name, {"dim": axis, "keepdim": True}, [x], layer.type)]


def tile(b: Builder, layer: Layer) -> list[Blob]:
    """Tile along one axis -> Repeat with that axis's count."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("tile_param")
    rank = rank_of(x)
    axis = axis_index(p, "axis", rank)
    if axis == 0:
        raise Unmappable("Tile along the batch axis")
    repeats = [1] * (rank - 1)
    repeats[axis - 1] = required(p, "tiles", "the number of copies")
    return [b.add("Repeat", layer.name, {"repeats": tuple(repeats)}, [x], layer.type)]


MAPPINGS: dict[str, Callable[[Builder, Layer], list[Blob]]] = {
    "Reduction": reduction,
    "ArgMax": arg_max,
    "Tile": tile,
}
