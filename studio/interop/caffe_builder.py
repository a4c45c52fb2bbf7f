"""The graph an import builds, with Caffe's blob table: a blob name means the latest layer that wrote it.

Also the small readers of Caffe settings every layer mapping shares (per-axis kernel, stride and
pad forms; required counts; axes), and the exceptions a mapping raises.
"""

# NOTE: Caffe keeps (N, C, 1, 1) after global pooling, the catalogue's global pools give (N, C).
# Such a blob is "squeezed": layers that do not care (activations, InnerProduct, Softmax over
# channels, ...) take it as it is; any other layer first gets a Reshape back to (C, 1, 1).

from __future__ import annotations

from dataclasses import dataclass, field

from studio.graph.catalogue import ShapeError
from studio.graph.catalogue.base import Shape
from studio.graph.model import Graph, GraphError
from studio.interop.common import NameTable, Unmappable
from studio.interop.prototxt import Message


class Unknown(Exception):
    """A layer that depends on what an earlier, already reported, failure left unknown."""


class BrokenLayer(Exception):
    """A layer the file itself gets wrong (a required field left out, a shape Caffe would refuse)."""


@dataclass
class Blob:
    """A Caffe blob as the graph holds it: the node writing it and its shape (None when unknown)."""

    node: str | None
    shape: Shape | None
    squeezed: bool = False
    guessed: bool = False  # downstream of an Input whose shape the file does not state
    failed: bool = False  # downstream of a layer that could not be mapped (a stand-in)
    label_of: str = ""  # the Data layer whose labels this blob holds
    unsqueezed: Blob | None = None


@dataclass(frozen=True)
class Sink:
    """Where a Caffe layer's weight blobs go: the node and how to read them."""

    kind: str  # "conv", "deconv", "linear", "batch_norm", "scale", "prelu"
    node: str
    transpose: bool = False
    settings: Message | None = None  # the layer's parameters, with the fillers its fresh weights are drawn from


@dataclass
class Layer:
    """One Caffe layer being mapped: its message, type, and its bottoms already resolved to blobs."""

    msg: Message
    name: str
    type: str
    bottoms: list[Blob]
    tops: list[str]

    def param(self, name: str) -> Message:
        """The layer's `name` parameter message, or an empty one (every field at its default)."""
        return self.msg.child(name) or Message(self.msg.line, self.msg.column)


@dataclass
class Builder:
    """The graph under construction, its names, Caffe's blob table and what the import learns on the way."""

    graph: Graph = field(default_factory=Graph)
    names: NameTable = field(default_factory=NameTable)
    blobs: dict[str, Blob] = field(default_factory=dict)
    sinks: dict[str, Sink] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    losses: list[tuple[str, str]] = field(default_factory=list)  # (Caffe type, name)
    unread: dict[str, Blob] = field(default_factory=dict)  # tops no layer reads (yet)

    def write(self, top: str, blob: Blob) -> None:
        """Make `top` name this blob from now on (an in-place layer rewrites its bottom)."""
        self.blobs[top] = blob
        self.unread[top] = blob

    def read(self, name: str) -> None:
        """Note that a layer reads the blob `name`, so it is not one of the net's outputs."""
        self.unread.pop(name, None)

    def add(
        self, layer_type: str, name: str, params: dict, inputs: list[Blob], caffe: str
    ) -> Blob:
        """Add a node fed by `inputs` and return its output blob (shape inferred as the analysis will)."""
        try:
            node = self.graph.add_node(layer_type, self.names.take(name), params)
        except GraphError as err:
            raise Unmappable(f"{caffe} ({_setting(str(err))})") from None
        ports = node.spec.input_ports(node.params)
        for port, blob in zip(ports, inputs):
            assert blob.node is not None
            self.graph.connect(blob.node, "out", node.id, port.name)
        guessed = any(b.guessed for b in inputs)
        failed = any(b.failed for b in inputs)
        shapes = [b.shape for b in inputs]
        if node.spec.inputs == () or all(s is not None for s in shapes):
            try:
                shape: Shape | None = node.spec.infer(node.params, shapes)[0]
            except ShapeError as err:
                if not guessed:
                    raise BrokenLayer(f"{err.message} (as {layer_type})") from None
                shape = None
        else:
            shape = None
        return Blob(node.id, shape, guessed=guessed or failed, failed=failed)

    def plain(self, blob: Blob, name: str) -> Blob:
        """The blob as Caffe shapes it: a squeezed (N, C) gets its Reshape to (N, C, 1, 1), once."""
        if not blob.squeezed or blob.shape is None:
            return (
                blob  # unknown shapes: the analysis already shows the problem upstream
            )
        if blob.unsqueezed is None:
            assert blob.node is not None
            producer = self.graph.node(blob.node).name
            blob.unsqueezed = self.add(
                "Reshape",
                f"{producer}/unsqueeze",
                {"shape": (blob.shape[1], 1, 1)},
                [blob],
                "Pooling",
            )
        return blob.unsqueezed

    def set_param(self, blob: Blob, name: str, value: object) -> None:
        """Change a parameter of the node writing `blob` (a Scale joining its BatchNorm)."""
        assert blob.node is not None
        self.graph.set_param(blob.node, name, value)


def unknown(blob: Blob, kind: str) -> Exception:
    return Unknown() if blob.failed else Unmappable(kind)


def _setting(message: str) -> str:
    """Turn a catalogue refusal ('Conv2d: 'kernel_size' must be ...') into the setting it is about."""
    return message.split(": ", 1)[1] if ": " in message else message


# ----- shared pieces -----
def single(layer: Layer, tops: int = 1) -> Blob:
    """The one bottom of a layer that takes one bottom and gives `tops` tops."""
    if len(layer.bottoms) != 1:
        raise Unmappable(f"{layer.type} with {len(layer.bottoms)} bottoms")
    if len(layer.tops) != tops:
        raise BrokenLayer(
            f"{layer.type} needs {tops} top{'s' if tops != 1 else ''}, not {len(layer.tops)}"
        )
    return layer.bottoms[0]


def rank_of(blob: Blob, default: int = 4) -> int:
    """The number of dimensions of the blob as Caffe sees it (the batch included)."""
    if blob.shape is None:
        return default
    return len(blob.shape) + (2 if blob.squeezed else 0)


def spatial(
    p: Message,
    base: str,
    rank: int,
    default: int | None,
    repeated: bool = True,
    pair_optional: bool = False,
) -> tuple[int, ...]:
    """A per-axis setting given as `base` (one value, or one per axis) or as `base_h` and `base_w`."""
    h, w = f"{base.removesuffix('_size')}_h", f"{base.removesuffix('_size')}_w"
    if p.has(h) or p.has(w):
        if rank != 2:
            raise BrokenLayer(f"{h} and {w} are for 2-D blobs only")
        if p.has(base) and (repeated or not pair_optional):
            raise BrokenLayer(f"give either {base} or {h} and {w}, not both")
        if not pair_optional and not (p.has(h) and p.has(w)):
            raise BrokenLayer(f"{h} and {w} must be given together")
        return (_natural(p, h, 0), _natural(p, w, 0))
    values = (
        _naturals(p, base)
        if repeated
        else ([_natural(p, base, 0)] if p.has(base) else [])
    )
    if not values:
        if default is None:
            raise BrokenLayer(f"it needs {base}")
        return (default,) * rank
    if len(values) == 1:
        return (values[0],) * rank
    if len(values) != rank:
        raise BrokenLayer(f"{base} has {len(values)} values for {rank} spatial axes")
    return tuple(values)


def _natural(p: Message, name: str, default: int) -> int:
    value = p.integer(name, default)
    assert value is not None
    if value < 0:
        raise BrokenLayer(f"{name} must not be negative, not {value}")
    return value


def _naturals(p: Message, name: str) -> list[int]:
    values = p.integers(name)
    if any(v < 0 for v in values):
        raise BrokenLayer(f"{name} must not be negative")
    return values


def required(p: Message, name: str, what: str) -> int:
    value = p.integer(name)
    if value is None:
        raise BrokenLayer(f"it needs {name} ({what})")
    if value < 1:
        raise BrokenLayer(f"{name} must be at least 1, not {value}")
    return value


def axis_index(p: Message, name: str, rank: int, default: int = 1) -> int:
    axis = p.integer(name, default)
    assert axis is not None
    if not -rank <= axis < rank:
        raise BrokenLayer(f"{name} {axis} is outside the {rank} axes of its bottom")
    return axis % rank


def check_axis_one(p: Message, caffe: str) -> None:
    if p.integer("axis", 1) != 1:
        raise Unmappable(f"{caffe} with axis other than 1")


def required_default(p: Message, name: str, default: int) -> int:
    value = p.integer(name, default)
    assert value is not None
    if value < 1:
        raise BrokenLayer(f"{name} must be at least 1, not {value}")
    return value
