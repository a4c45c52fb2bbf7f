"""The layer catalogue: every layer type Layer Studio knows, one `LayerSpec` each, by family."""

from __future__ import annotations

from studio.graph.catalogue import (
    activation,
    activation_dim,
    attention,
    conv,
    core,
    depthwise_conv,
    dot_attention,
    dropout,
    elementwise,
    held,
    merge,
    norm,
    pieces,
    pooling,
    products,
    recurrent,
    reduce,
    resize,
    rms_norm,
    sequence,
    shrink,
    spatial,
    tensor_ops,
)
from studio.graph.catalogue.base import LayerSpec, Port, Shape, ShapeError, Unsupported

_FAMILIES = (
    core, dropout, conv, depthwise_conv, pooling, resize, spatial, norm, rms_norm, activation, shrink, activation_dim,
    elementwise, merge, held, products, recurrent, attention, dot_attention, sequence, reduce, tensor_ops, pieces,
)  # fmt: skip


def _collect() -> dict[str, LayerSpec]:
    specs: dict[str, LayerSpec] = {}
    for family in _FAMILIES:
        for spec in family.SPECS:
            if spec.type in specs:
                raise RuntimeError(f"layer type {spec.type!r} is defined twice")
            specs[spec.type] = spec
    return specs


CATALOGUE: dict[str, LayerSpec] = _collect()
_LEGACY = {old: spec.type for spec in CATALOGUE.values() for old in spec.legacy_names}


def get_spec(layer_type: str) -> LayerSpec:
    """Return the spec of `layer_type` (or of the type it was renamed to); KeyError if unknown."""
    return CATALOGUE[_LEGACY.get(layer_type, layer_type)]


def categories() -> list[str]:
    """Return the categories in catalogue order, each once."""
    return list(dict.fromkeys(spec.category for spec in CATALOGUE.values()))


__all__ = ["CATALOGUE", "LayerSpec", "Port", "Shape", "ShapeError", "Unsupported", "categories", "get_spec"]
