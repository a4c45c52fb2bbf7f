"""What a layer family's ONNX emitter returns: plain records the ONNX writer turns into a graph.

An emitter gets an `OnnxSite` (the node's parameters, input shapes and value names, the names
of its weights, the opset) and returns the nodes, constants and reshaped weights that compute
the layer, ending in a node whose output is `site.output`. No onnx, numpy or torch here: the
writer (`studio.codegen.onnx_writer`) makes the protobuf. The operators whose form depends on
the opset (13 to the newest) are written by the helpers at the end, `reduce_records`,
`split_records`, `pad_records` and `layer_norm_records`, so every family writes them alike
(and where a runtime misreads an operator at some opsets, as OpenVINO does ReduceL1's axes
before 18, the helper writes its arithmetic there).
"""

from __future__ import annotations

import math
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
    fixed: bool = False  # a value, not a weight: written as a Constant node instead of an initializer


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
    outputs: tuple[str, ...] = ()  # the value of each output port, for a layer of several (`output` is the first)
    reads: tuple[str, ...] = ()  # the output ports something reads, in port order (a layer of several outputs)

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
    """An ONNX node as an import rule reads it: its attributes and named constant inputs, as plain Python values.

    Attributes keep ONNX's names (defaults left out). A constant input is a flat tuple of floats
    under the name the rule gives it, so an operand that moved from attribute to input between
    opsets (`axes`, `split`) reads alike either way; `ranks` holds its number of dimensions (0:
    a scalar). A constant that depends on the batch size (built from `Shape`) holds -1 where it
    does. `shapes` are the shapes of the node's data inputs (batch None), `outputs` the number
    of outputs the node has.
    """

    def __init__(
        self, values: dict[str, Any], shapes: tuple[Shape | None, ...], outputs: int, ranks: dict[str, int] | None = None
    ) -> None:
        super().__init__(values)
        self.shapes = shapes
        self.outputs = outputs
        self.ranks = ranks or {}

    @property
    def shape(self) -> Shape:
        """The shape of the first data input."""
        assert self.shapes and self.shapes[0] is not None
        return self.shapes[0]


@dataclass(frozen=True)
class OnnxImport:
    """A one-to-one import rule: an `op` node reading one tensor (and perhaps constants) becomes this layer.

    `params` turns the node's `OnnxValues` into the layer's parameters. It returns None, or raises
    `Inexpressible` saying why, when these values are not this layer's: the importer then tries
    the next rule for `op`, in catalogue order, and when no rule takes the node reports the first
    reason (else `needs`, what values the rules take). `constants` names the node's inputs after
    the first, in order ("" skips one), which must be constants (the initializer or folded
    value, never a computed tensor); each one present reaches `params` under its name. A layer
    of several pieces produces every output of the node. Patterns that span several nodes stay
    in the importer (`studio.interop.onnx_patterns`).
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


# ----- operators whose form changed between opset 13 and the newest -----
INT64_MAX = 2**63 - 1  # a Slice end meaning "to the end"
_PAD_MODES = {"constant": None, "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def reduce_records(site: OnnxSite, op: str, x: str, axes: tuple[int, ...], out: str, keepdims: bool = True) -> list[OnnxRecord]:
    """`op` (ReduceMean, ReduceMax, ...) over `axes`: an axes input from opset 18 (ReduceSum: 13), an attribute before.

    Below 18, ReduceL1 and ReduceLogSumExp are their arithmetic on ReduceSum: OpenVINO (2026.4)
    reads their `axes` attribute as none and reduces every axis, batch included, without a word.
    """
    if site.opset < 18 and op in _ARITHMETIC_BELOW_18:
        return _ARITHMETIC_BELOW_18[op](site, x, axes, out, keepdims)
    keep = None if keepdims else 0
    if site.opset >= (13 if op == "ReduceSum" else 18):
        listed = OnnxConstant(site.fresh("axes"), tuple(axes))
        return [listed, OnnxNode(op, (x, listed.name), (out,), {"keepdims": keep})]
    return [OnnxNode(op, (x,), (out,), {"axes": list(axes), "keepdims": keep})]


def _l1_records(site: OnnxSite, x: str, axes: tuple[int, ...], out: str, keepdims: bool) -> list[OnnxRecord]:
    """The sum of |x| over `axes`."""
    size = site.fresh("abs")
    return [OnnxNode("Abs", (x,), (size,)), *reduce_records(site, "ReduceSum", size, axes, out, keepdims)]


def _log_sum_exp_records(site: OnnxSite, x: str, axes: tuple[int, ...], out: str, keepdims: bool) -> list[OnnxRecord]:
    """log(sum(exp(x - max))) + max over `axes`: the largest entry taken out first, as PyTorch does, so exp cannot overflow."""
    peak, shifted, powered, total, logged = (site.fresh(n) for n in ("peak", "shifted", "exp", "sum", "log"))
    records = [
        *reduce_records(site, "ReduceMax", x, axes, peak),
        OnnxNode("Sub", (x, peak), (shifted,)),
        OnnxNode("Exp", (shifted,), (powered,)),
        *reduce_records(site, "ReduceSum", powered, axes, total, keepdims),
        OnnxNode("Log", (total,), (logged,)),
    ]
    if not keepdims:  # the peak without the reduced axes, to add to the reduced sum
        peak = site.fresh("peak_reduced")
        records += reduce_records(site, "ReduceMax", x, axes, peak, False)
    return [*records, OnnxNode("Add", (logged, peak), (out,))]


_ARITHMETIC_BELOW_18 = {"ReduceL1": _l1_records, "ReduceLogSumExp": _log_sum_exp_records}


def split_records(site: OnnxSite, x: str, dim: int, sizes: tuple[int, ...], outs: tuple[str, ...]) -> list[OnnxRecord]:
    """Split along `dim` into parts of `sizes`: equal parts by their count (`num_outputs` from opset 18), others by a split input."""
    where = dim or None  # 0 is the default axis
    if len(set(sizes)) == 1:
        return [OnnxNode("Split", (x,), outs, {"axis": where, "num_outputs": len(outs) if site.opset >= 18 else None})]
    parts = OnnxConstant(site.fresh("split"), tuple(sizes))
    return [parts, OnnxNode("Split", (x, parts.name), outs, {"axis": where})]


def pad_records(site: OnnxSite, x: str, pads: list[tuple[int, int]], out: str, mode: str = "constant") -> list[OnnxRecord]:
    """Pad every axis by its (begin, end) in `mode` (constant zeros, reflect, edge, wrap).

    The pads cover every axis, so no `axes` input (opset 18) is needed. Below opset 19, which
    brought `wrap`, wrapping is a Concat per axis of the input's end, the input and its start.
    """
    if mode != "wrap" or site.opset >= 19:
        amounts = OnnxConstant(site.fresh("pads"), (*(lo for lo, _ in pads), *(hi for _, hi in pads)))
        return [amounts, OnnxNode("Pad", (x, amounts.name), (out,), {"mode": _PAD_MODES[mode]})]
    records: list[OnnxRecord] = []
    padded = [(dim, lo, hi) for dim, (lo, hi) in enumerate(pads) if lo or hi]
    for index, (dim, lo, hi) in enumerate(padded):
        parts = [x]
        if lo:  # the last `lo` entries go first
            parts.insert(0, site.fresh(f"tail{dim}"))
            records += slice_records(site, x, -lo, INT64_MAX, dim, parts[0])
        if hi:  # the first `hi` entries go last
            parts.append(site.fresh(f"head{dim}"))
            records += slice_records(site, x, 0, hi, dim, parts[-1])
        x = out if index == len(padded) - 1 else site.fresh(f"wrapped{dim}")
        records.append(OnnxNode("Concat", tuple(parts), (x,), {"axis": dim}))
    return records


def slice_records(site: OnnxSite, x: str, start: int, end: int, dim: int, out: str) -> list[OnnxRecord]:
    """Entries start:end of `x` along `dim` (an end of INT64_MAX: to the end)."""
    bounds = [OnnxConstant(site.fresh(name), (value,)) for name, value in (("starts", start), ("ends", end), ("axes", dim))]
    return [*bounds, OnnxNode("Slice", (x, *(b.name for b in bounds)), (out,))]


def causal_mask(site: OnnxSite, queries: int, keys: int) -> OnnxConstant:
    """The additive causal mask (queries, keys): 0 where a query may look, -inf at keys after it, as PyTorch's is_causal."""
    hidden = tuple(0.0 if j <= i else float("-inf") for i in range(queries) for j in range(keys))
    return OnnxConstant(site.fresh("causal_mask"), hidden, "float32", (queries, keys))


def shape_records(site: OnnxSite, x: str, leading: int, tail: tuple[int, ...], out: str) -> list[OnnxRecord]:
    """A shape tensor `out`: the first `leading` sizes of `x` as it runs (the batch among them), then `tail`."""
    shape, lead = site.fresh("shape"), site.fresh("leading")
    rest = OnnxConstant(site.fresh("tail"), tail)
    return [
        rest,
        OnnxNode("Shape", (x,), (shape,)),
        *slice_records(site, shape, 0, leading, 0, lead),
        OnnxNode("Concat", (lead, rest.name), (out,), {"axis": 0}),
    ]


def layer_norm_records(
    site: OnnxSite, x: str, out: str, count: int, eps: float, scale: str | None, bias: str | None, sizes: tuple[int, ...]
) -> list[OnnxRecord]:
    """Normalize over the last `count` dimensions (`sizes`), then scale and shift where given.

    LayerNormalization from opset 17 (its scale is required: ones where the layer learns none);
    before, its arithmetic: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add.
    """
    if site.opset >= 17:
        records: list[OnnxRecord] = []
        if scale is None:
            ones = OnnxConstant(site.fresh("ones"), (1.0,) * math.prod(sizes), "float32", sizes)
            records, scale = [ones], ones.name
        attrs = {"axis": None if count == 1 else -count, "epsilon": None if eps == 1e-5 else eps}
        return [*records, OnnxNode("LayerNormalization", (x, scale, *([bias] if bias else [])), (out,), attrs)]
    axes = tuple(range(-count, 0))
    two = OnnxConstant(site.fresh("two"), (2.0,), "float32", ())
    epsilon = OnnxConstant(site.fresh("eps"), (eps,), "float32", ())
    mean, centred, square, var, shifted, std = (site.fresh(n) for n in ("mean", "centred", "square", "var", "shifted", "std"))
    normed = out if scale is None and bias is None else site.fresh("normed")
    records = [
        two, epsilon,
        *reduce_records(site, "ReduceMean", x, axes, mean),
        OnnxNode("Sub", (x, mean), (centred,)),
        OnnxNode("Pow", (centred, two.name), (square,)),
        *reduce_records(site, "ReduceMean", square, axes, var),
        OnnxNode("Add", (var, epsilon.name), (shifted,)),
        OnnxNode("Sqrt", (shifted,), (std,)),
        OnnxNode("Div", (centred, std), (normed,)),
    ]  # fmt: skip
    if scale is not None:
        scaled = out if bias is None else site.fresh("scaled")
        records.append(OnnxNode("Mul", (normed, scale), (scaled,)))
        normed = scaled
    if bias is not None:
        records.append(OnnxNode("Add", (normed, bias), (out,)))
    return records

