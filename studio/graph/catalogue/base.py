"""The shape of a catalogue entry: one declarative `LayerSpec` per layer type."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.graph.params import Param

Shape = tuple[int | None, ...]
"""A tensor shape; index 0 is the batch: None for the N samples of a batch, 1 for a tensor every
sample shares (a learned or constant tensor), or `Folded(k)` for N×k rows (the batch folded
with a dimension of size k, as attention heads are)."""

SHARED = 1  # the batch of a tensor every sample shares: size 1, broadcast over the N samples


class Folded(int):
    """A batch dimension of N×k rows: the batch folded with a dimension of size k (k ≥ 2)."""

    def __repr__(self) -> str:
        return f"Folded({int(self)})"


def show_batch(batch: int | None) -> str:
    """The batch as users read it: N, N×8, or 1 (shared by every sample)."""
    if batch is None:
        return "N"
    return f"N×{int(batch)}" if isinstance(batch, Folded) else str(batch)

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


@functools.lru_cache(maxsize=256)
def _numbered(stem: str, count: int) -> tuple[Port, ...]:
    """Ports stem1, stem2, ... (shared: the analysis, the layout and the canvas ask for a variadic layer's ports on every pass)."""
    return tuple(Port(f"{stem}{i + 1}") for i in range(count))


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
    `catalogue/*_records.py`); None where the layer's `targets` entry is `Unsupported`. `onnx_import`
    and `caffe_import` are the one-to-one import rules (`OnnxImport`, `CaffeImport`);
    `onnx_patterns` registers the importer's multi-node patterns that produce this layer
    (`studio.interop.onnx_import.PATTERN_LIBRARY`), so a pattern is used only while a family
    claims it.
    `input_dtype` is "float", "int" or "any"; `output_dtype` is "float", "int" or "same" (the
    first input's). `batch` says what the layer does with the batch dimension: "same" (the
    analysis handles it: `infer` sees every input with the batch None and the output gets the
    inputs' batch), "sample" (the same, but only the plain batch N is accepted: Output), or
    "own" (`infer` gets and returns the batch itself: layers that fold it or make shared
    tensors). `shares`: inputs shared by every sample (batch 1) may meet inputs with the
    batch N, and are broadcast over it (elementwise merges, Concat, MatMul). A layer whose
    `pieces` counts its outputs from its parameters (a Split) has output ports out1, out2, ...
    and `infer` returns one shape per piece. `upgrade` reads the parameters of a node as an older
    project file stored them and returns today's, with the output ports renamed since ({old: new}).
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
    batch: str = "same"
    shares: bool = False
    legacy_names: tuple[str, ...] = field(default=())
    onnx: Callable[[Any], list[Any]] | None = None  # OnnxSite -> ONNX records (`catalogue.onnx_records`)
    pytorch: Callable[[Any], Any] | None = None  # Site -> Emitted (`catalogue.pytorch_records`)
    keras: Callable[[Any], Any] | None = None  # Site -> Emitted (`catalogue.keras_records`)
    caffe: Callable[[Any], list[Any]] | None = None  # Site -> Layers (`catalogue.caffe_records`)
    onnx_import: tuple[Any, ...] = ()  # OnnxImport rules: ONNX operators that become this layer
    caffe_import: tuple[Any, ...] = ()  # CaffeImport rules: Caffe layer types that become this layer
    onnx_patterns: tuple[str, ...] = ()  # the ONNX importer's patterns of several nodes that become this layer, by name
    upgrade: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]] | None = None  # older files' parameters

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
            return _numbered("in", int(params.get("num_inputs", 2)))
        return self.inputs

    def output_ports(self, params: Params) -> tuple[Port, ...]:
        """Return the output ports; a layer with `pieces` has out1, out2, ... one per piece."""
        if self.pieces is None:
            return self.outputs
        return _numbered("out", self.pieces({**self.defaults(), **params}))

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
    """Format a shape the way users read it, with N for the batch: (N, 16, 5, 5), (N×8, 16, 64)."""
    if not shape:
        return "()"
    rest = ", ".join("N" if d is None else str(d) for d in shape[1:])
    return f"({show_batch(shape[0])}{', ' if rest else ''}{rest})"


def join_batches(batches: list[tuple[str, int | None]], shares: bool) -> int | None:
    """The batch of a layer's output from its inputs' (port, batch) pairs; ShapeError if they disagree.

    Inputs shared by every sample (batch 1) join the others only when the layer `shares`.
    """
    own = [(port, b) for port, b in batches if b != SHARED]
    if not own:
        return SHARED if batches else None
    port, first = own[0]
    for other, batch in own[1:]:
        if batch != first:
            raise ShapeError(
                f"mixes the batch {show_batch(first)} of {port} with the batch {show_batch(batch)} of {other}",
                "fold or unfold one of them with a Reshape so both hold the same rows",
            )
    shared = next((p for p, b in batches if b == SHARED), None)
    if shared is not None and not shares:
        raise ShapeError(
            f"gets {shared} shared by every sample (batch 1) beside the batch {show_batch(first)} of {port}",
            "combine the shared tensor with per-sample ones through a merge (Add, Multiply, Concat) or a MatMul first",
        )
    return first


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


def plain_batch(spec: LayerSpec, ports: list[str], shapes: list[Shape | None]) -> tuple[list[Shape | None], int | None, int]:
    """The inputs as a layer's shape rule sees them (batch None unless it sets the batch itself), the output's batch,
    and the rows per sample (a folded batch's factor).

    Raises:
        ShapeError: the inputs' batches disagree, or a "sample" layer gets other than the plain batch N.
    """
    if spec.batch == "own":
        return shapes, None, 1
    batch = join_batches([(port, s[0]) for port, s in zip(ports, shapes) if s is not None], spec.shares)
    if spec.batch == "sample" and batch is not None:
        raise ShapeError(
            f"gets {show_batch(batch)} rows where it needs the batch N"
            + (" (a tensor every sample shares does not depend on the input)" if batch == SHARED else ""),
            "unfold the batch with a Reshape first" if isinstance(batch, Folded) else "combine it with the network's input first",
        )
    plain = [None if s is None else (None, *s[1:]) for s in shapes]
    return plain, batch, int(batch) if isinstance(batch, Folded) else 1
