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
    outputs: tuple[str, ...] = ()  # the value of each output port, for a layer of several pieces (`output` is the first)

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


class OnnxValues(dict):  # type: ignore[type-arg]
    """An ONNX node as an import rule reads it: attributes and named constant inputs, as plain Python values.

    Attributes keep ONNX's names (defaults left out); a constant input is a number or a tuple
    (nested for more dimensions) under the name the rule gives it, so an operand that moved from
    attribute to input between opsets (`axes`, `split`) reads the same either way. A constant that
    depends on the batch size (built from `Shape`) holds -1 where it does. `shapes` are the shapes
    of the node's data inputs (batch None), `outputs` the number of outputs the node has.
    """

    def __init__(self, values: dict[str, Any], shapes: tuple[Shape | None, ...], outputs: int) -> None:
        super().__init__(values)
        self.shapes = shapes
        self.outputs = outputs

    @property
    def shape(self) -> Shape:
        """The shape of the first data input."""
        assert self.shapes and self.shapes[0] is not None
        return self.shapes[0]


@dataclass(frozen=True)
class OnnxImport:
    """A one-to-one import rule: an `op` node reading one tensor becomes this layer.

    `params` turns the node's `OnnxValues` into the layer's parameters; it raises `Inexpressible`
    for values this layer cannot take (the importer then tries the next rule for `op`, and reports
    the reason when none fits). `constants` names the node's inputs after the first, in order
    ("" skips one), which are read as constants into the values. A layer of several pieces
    produces every output of the node. Patterns that span several nodes stay in the importer
    (`studio.interop.onnx_patterns`).
    """

    op: str
    params: Callable[[dict[str, Any]], Params] = field(default=lambda attrs: {})
    constants: tuple[str, ...] = ()


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
