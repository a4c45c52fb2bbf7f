"""What a layer family's ONNX emitter returns: plain records the ONNX writer turns into a graph.

An emitter gets an `OnnxSite` (the node's parameters, input shapes and value names, the names
of its weights, the opset) and returns the nodes, constants and reshaped weights that compute
the layer, ending in a node whose output is `site.output`. No onnx, numpy or torch here: the
writer (`studio.codegen.onnx_writer`) makes the protobuf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.graph.catalogue.base import Params, Shape


@dataclass(frozen=True)
class OnnxNode:
    """One ONNX operator: `attrs` hold ints, floats, strings or lists of them (None: left out)."""

    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OnnxConstant:
    """A small constant tensor (a shape, axes, pads, a scalar), stored as an initializer."""

    name: str
    values: tuple[float | int, ...]
    dtype: str = "int64"  # or "float32"
    shape: tuple[int, ...] | None = None  # None: a 1-D tensor of the values


@dataclass(frozen=True)
class OnnxWeight:
    """One of the layer's weights stored under `name`: gate blocks reordered, others appended, transposed, reshaped."""

    name: str
    state: str  # the name the layer's `state` gives it
    shape: tuple[int, ...] | None = None
    transpose: bool = False
    gates: tuple[int, ...] = ()  # block i along axis 0 is the state's block gates[i] (in each of `also` too)
    also: tuple[str, ...] = ()  # more states appended along axis 0, before the transpose and reshape
    rows: tuple[int, int] | None = None  # only rows start:stop along axis 0 (of each state), taken first


OnnxRecord = OnnxNode | OnnxConstant | OnnxWeight


@dataclass(frozen=True)
class OnnxSite:
    """One node as its ONNX emitter sees it."""

    params: Params
    inputs: tuple[Shape | None, ...]
    names: tuple[str | None, ...]  # the value each input port reads (None: unconnected)
    output: str  # the value the layer must produce
    weights: dict[str, str]  # state name -> initializer name
    opset: int
    fresh: Callable[[str], str]  # a new value name for an intermediate result

    @property
    def x(self) -> str:
        """The value of the first input."""
        assert self.names[0] is not None
        return self.names[0]

    @property
    def shape(self) -> Shape:
        """The shape of the first input."""
        assert self.inputs[0] is not None
        return self.inputs[0]


OnnxEmitter = Callable[[OnnxSite], list[OnnxRecord]]


@dataclass(frozen=True)
class OnnxImport:
    """A one-to-one import rule: an `op` node reading one tensor (and perhaps constants) becomes this layer.

    `params` turns the node's attributes (a dict, defaults left out) into the layer's parameters,
    or returns None when these values are not this layer's: the importer then tries the next rule
    for `op`, in catalogue order. `constants` names the node's inputs after the first, which must
    be constants (the initializer or folded value, never a computed tensor); each one present
    reaches `params` in the same dict under its name, as a flat tuple of floats. `needs` says
    what values the rule takes, for the importer's message when no rule takes a node.
    Patterns that span several nodes stay in the importer (`studio.interop.onnx_patterns`).
    """

    op: str
    params: Callable[[dict[str, Any]], Params | None] = field(default=lambda attrs: {})
    constants: tuple[str, ...] = ()
    needs: str = ""


def single(op: str, **attrs: Any) -> OnnxEmitter:
    """An emitter of one operator on the first input, with fixed attributes."""

    def emit(site: OnnxSite) -> list[OnnxRecord]:
        return [OnnxNode(op, (site.x,), (site.output,), dict(attrs))]

    return emit


def axis(dim: int, rank: int) -> int:
    """A dimension counted with the batch as 0 (negative from the end) as a non-negative ONNX axis."""
    return dim if dim >= 0 else dim + rank


def clean(value: float) -> float:
    """A float32 attribute as the decimal it was written as (9.99999974e-06 -> 1e-05)."""
    return float(f"{float(value):.7g}")
