"""What a layer family's Caffe emitter returns: `layer { ... }` records of a deploy prototxt.

An emitter gets a `Site` (the node's name, parameters, input and output shapes, the blobs it
reads, a maker of unique blob names, the blobs it writes) and returns the `Layer`s that compute
it: its output is the blob named after the node, or for a layer of several pieces one blob per
piece, `tops`. A parameter value Caffe cannot express raises `Inexpressible`. The driver
(`studio.codegen.caffe`) writes the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

from studio.graph.catalogue.base import Params, Shape


class Word(str):
    """An enum value, written bare (pool: MAX)."""


Value = Union[int, float, bool, str, Word, "Fields"]
Fields = list[tuple[str, Value]]
Tensors = Callable[[str], Any]
"""One of the node's PyTorch tensors by its name in the module (`weight`, `running_mean`), as a float32 NumPy array."""
Blobs = Callable[[Tensors], list[Any]]
"""A layer's blobs, in Caffe's order and shapes, from the node's tensors."""


@dataclass
class Layer:
    """One `layer { ... }` of the net."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    params: Fields = field(default_factory=list)
    weights: Blobs | None = None


@dataclass
class Site:
    """What an emitter knows about one node."""

    name: str
    params: dict[str, Any]
    inputs: tuple[Shape, ...]
    output: Shape
    bottoms: list[str]
    blob: Callable[[str], str]
    tops: list[str] = field(default_factory=list)  # the blob of each output port (the node's name for one)

    def rank(self) -> int:
        return len(self.inputs[0])


def axis(dim: int, rank: int) -> int:
    """A dimension counted with the batch as 0 (negative from the end) as a non-negative Caffe axis."""
    return dim + rank if dim < 0 else dim


def simple(caffe_type: str, param: str | None = None, fields: Callable[[Site], Fields] | None = None) -> Callable[[Site], list[Layer]]:
    """An emitter of one `caffe_type` layer on the node's bottoms, with an optional `param` message of `fields`."""

    def emit(site: Site) -> list[Layer]:
        params = [(param, fields(site))] if param and fields else []
        return [Layer(site.name, caffe_type, site.bottoms, [site.name], params)]

    return emit


def with_bias(bias: bool, weight: str = "weight", bias_name: str = "bias") -> Blobs:
    """The blobs of a layer whose PyTorch tensors are Caffe's as they are: the weight, then the bias if it has one."""
    return lambda t: [t(weight), *([t(bias_name)] if bias else [])]


def reshape(name: str, bottom: str, top: str, shape: Shape) -> Layer:
    """A Reshape of `bottom` to `shape`, its batch axis copied (dim 0) and every other size written out."""
    dims: Fields = [("dim", 0), *(("dim", int(d or 0)) for d in shape[1:])]
    return Layer(name, "Reshape", [bottom], [top], [("reshape_param", [("shape", dims)])])


class CaffeFields(Protocol):
    """A Caffe layer's parameter message as an import rule reads it: typed look-ups with defaults."""

    def number(self, name: str, default: float | None = None) -> float | None: ...

    def integer(self, name: str, default: int | None = None) -> int | None: ...

    def flag(self, name: str, default: bool | None = None) -> bool | None: ...

    def enum(self, name: str, default: str | None = None) -> str | None: ...


@dataclass(frozen=True)
class CaffeImport:
    """A one-to-one Caffe import rule: a layer of Caffe `type` reading one blob becomes this layer.

    `params` reads the layer's `section` message (`relu_param`; an empty one when the file has
    none) and returns the layer's parameters, or None when the values belong to another type's
    rule for the same Caffe type; values no catalogue layer computes raise `Inexpressible`.
    Layers with weights or with several blobs stay in the importer (`studio.interop.caffe_layers`).
    """

    type: str
    section: str = ""
    params: Callable[[CaffeFields], Params | None] = field(default=lambda fields: {})
