"""The shape of a catalogue entry: one declarative `LayerSpec` per layer type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.graph.params import Param

Shape = tuple[int | None, ...]
"""A tensor shape; index 0 is the batch dimension, always None (symbolic)."""

Params = dict[str, Any]

TARGETS = ("pytorch", "keras", "onnx", "caffe")


class ShapeError(Exception):
    """A layer cannot accept its inputs or parameters; `hint` says how to fix it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Port:
    """A named input or output of a layer; an optional input may stay unconnected."""

    name: str
    optional: bool = False


class Inexpressible(Exception):
    """A target cannot express these parameter values of a layer; the message says which and why.

    Every family emitter raises it. The Keras and Caffe exports list it with the layer's name;
    the ONNX export takes it as "no direct form yet" and goes through torch.onnx instead. A whole
    layer type a target cannot express is marked in its spec with `Unsupported` instead.
    """


@dataclass(frozen=True)
class Unsupported:
    """A target that cannot express a layer, with the reason a user will read."""

    reason: str


Target = str | Unsupported
"""How a target expresses a layer: the class or op it maps to, or why it cannot."""


def targets(pytorch: Target, keras: Target, onnx: Target, caffe: Target) -> dict[str, Target]:
    """Bundle a layer's mapping for each export target."""
    return {"pytorch": pytorch, "keras": keras, "onnx": onnx, "caffe": caffe}


@dataclass(frozen=True)
class StateTensor:
    """One tensor a layer holds: its shape and whether training learns it (a parameter) or not (a buffer)."""

    shape: tuple[int | None, ...]
    learned: bool = True

    def numel(self) -> int:
        """Its number of elements (an unknown size counts as 0)."""
        n = 1
        for d in self.shape:
            n *= d or 0
        return n


State = dict[str, StateTensor]
"""A layer's learned state by name, named as in the PyTorch module the layer exports to."""


def _no_state(p: Params, ins: list[Shape | None]) -> State:
    return {}


def weight_and_bias(weight: tuple[int | None, ...], bias: bool) -> State:
    """A `weight` of this shape, and a bias as long as its first dimension when `bias` is set."""
    state = {"weight": StateTensor(weight)}
    if bias:
        state["bias"] = StateTensor(weight[:1])
    return state


def _no_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return 0


@dataclass(frozen=True)
class LayerSpec:
    """Everything Layer Studio knows about one layer type, as data plus small pure functions.

    `infer(params, input_shapes)` returns one shape per output port, or raises ShapeError;
    `state(params, input_shapes)` declares the tensors the layer holds, named as in its
    PyTorch module's state dict (parameter and buffer counts, the weights file layout and the
    Caffe blob shapes all follow from it); `count_macs` counts multiply-accumulates for one
    sample. All of them get one shape per input port, None for an unconnected optional input.
    `onnx`, `pytorch`, `keras` and `caffe` are the family's emitters for each target (records in
    `catalogue/*_records.py`); for ONNX, None sends the export through torch.onnx, for the others
    the driver's own table still holds the types not yet moved into their family.
    `input_dtype` is "float", "int" or "any"; `output_dtype` is "float", "int" or "same" (the
    first input's). A layer whose `pieces` counts its outputs from its parameters (a Split) has
    output ports out1, out2, ... and `infer` returns one shape per piece.
    """

    type: str
    category: str
    doc: str
    params: tuple[Param, ...]
    infer: Callable[[Params, list[Shape | None]], list[Shape]]
    targets: dict[str, Target]
    inputs: tuple[Port, ...] = (Port("in"),)
    outputs: tuple[Port, ...] = (Port("out"),)
    variadic: bool = False
    pieces: Callable[[Params], int] | None = None  # the number of output ports, when parameters decide it
    state: Callable[[Params, list[Shape | None]], State] = _no_state
    count_macs: Callable[[Params, list[Shape | None], list[Shape]], int] = _no_macs
    input_dtype: str = "float"
    output_dtype: str = "float"
    legacy_names: tuple[str, ...] = field(default=())
    onnx: Callable[[Any], list[Any]] | None = None  # OnnxSite -> ONNX records (`catalogue.onnx_records`)
    pytorch: Callable[[Any], Any] | None = None  # Site -> Emitted (`catalogue.pytorch_records`)
    keras: Callable[[Any], Any] | None = None  # Site -> Emitted (`catalogue.keras_records`)
    caffe: Callable[[Any], list[Any]] | None = None  # Site -> Layers (`catalogue.caffe_records`)
    onnx_import: tuple[Any, ...] = ()  # OnnxImport rules: ONNX operators that become this layer

    def param(self, name: str) -> Param:
        """Return the parameter spec called `name` (KeyError if the layer has none)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> Params:
        """Return a fresh dict of every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def count_params(self, params: Params, inputs: list[Shape | None]) -> int:
        """Learnable parameters, as `sum(p.numel() for p in module.parameters())` counts them."""
        return sum(t.numel() for t in self.state(params, inputs).values() if t.learned)

    def count_buffers(self, params: Params, inputs: list[Shape | None]) -> int:
        """Elements of the state saved with the weights that training does not learn (running statistics)."""
        return sum(t.numel() for t in self.state(params, inputs).values() if not t.learned)

    def input_ports(self, params: Params) -> tuple[Port, ...]:
        """Return the input ports; a variadic layer has `num_inputs` ports in1, in2, ..."""
        if self.variadic:
            return tuple(Port(f"in{i + 1}") for i in range(int(params.get("num_inputs", 2))))
        return self.inputs

    def output_ports(self, params: Params) -> tuple[Port, ...]:
        """Return the output ports; a layer with `pieces` has out1, out2, ... one per piece."""
        if self.pieces is None:
            return self.outputs
        return tuple(Port(f"out{i + 1}") for i in range(self.pieces({**self.defaults(), **params})))

    def target_info(self) -> dict[str, bool | str]:
        """Return {target: True or the reason it cannot express this layer}."""
        return {t: (v.reason if isinstance(v, Unsupported) else True) for t, v in self.targets.items()}


def numel(shape: Shape) -> int:
    """Number of elements of one sample (the batch dimension excluded)."""
    n = 1
    for d in shape[1:]:
        n *= d or 1
    return n


def show(shape: Shape) -> str:
    """Format a shape the way users read it, with N for the batch: (N, 16, 5, 5)."""
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def need_rank(shape: Shape, ranks: tuple[int, ...], what: str, hint: str = "") -> None:
    """Raise ShapeError unless `shape` has one of the ranks; `what` names the expected layout."""
    if len(shape) not in ranks:
        raise ShapeError(f"needs {what} but gets {show(shape)}", hint)


def resolve_dim(dim: int, x: Shape, action: str) -> int:
    """Return `dim` as a non-negative index into `x`; ShapeError if out of range or the batch."""
    rank = len(x)
    if rank == 2:
        valid = "set dim to 1 (or -1), the only dimension besides the batch"
    else:
        valid = f"choose dim from 1 to {rank - 1}, or from -{rank - 1} to -1 counting from the end"
    if not -rank <= dim < rank:
        raise ShapeError(f"has dim {dim} but its input {show(x)} has only dimensions 0 to {rank - 1}", valid)
    index = dim % rank
    if index == 0:
        raise ShapeError(f"would {action} along the batch dimension (dim {dim} of {show(x)})", valid)
    return index


def resolve_dims(dims: tuple[int, ...], x: Shape, action: str) -> list[int]:
    """Each of `dims` as a non-negative index into `x`, in the order given; ShapeError for the batch, or a dimension named twice."""
    try:
        found = [resolve_dim(d, x, action) for d in dims]
    except ShapeError as err:  # the same advice, for a parameter that lists dimensions
        raise ShapeError(err.message, err.hint.replace("set dim ", "set dims ").replace("choose dim ", "choose dims ")) from None
    for i, index in enumerate(found):
        if index in found[:i]:
            twice = [d for d, f in zip(dims, found) if f == index]
            same = f"{twice[0]} and {twice[1]} name" if twice[0] != twice[1] else f"{twice[0]} appears twice, naming"
            raise ShapeError(
                f"has dims {tuple(dims)} for its input {show(x)}, but {same} the same dimension {index}",
                "list each dimension once",
            )
    return found
