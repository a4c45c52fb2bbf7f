"""The network as data: a `Graph` of layer nodes and tensor edges, with change events."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from studio.graph.catalogue import LayerSpec, get_spec
from studio.graph.naming import NameCounters
from studio.graph.params import ParamValueError

Position = tuple[float, float]


class GraphError(Exception):
    """A graph operation that cannot be done; the message says why."""


class UnknownNodeError(GraphError, KeyError):
    """No node has the given id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownLayerTypeError(GraphError):
    """The layer type is not in the catalogue."""


class InvalidParameterError(GraphError):
    """A parameter name the layer does not have, or a value its spec does not allow."""


class PortError(GraphError):
    """A port that does not exist, or an input port that is already connected."""


class EdgeError(GraphError):
    """An edge that does not exist (disconnect) or already exists (connect)."""


class NodeNameError(GraphError):
    """A node name that is empty, too long, or already used by another node."""


@dataclass
class Node:
    """One layer: a stable id, a user-facing name, a layer type, its parameters and position."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    position: Position = (0.0, 0.0)
    block: Any = field(default=None, repr=False, compare=False)  # the `blocks.Block` an instance uses

    @property
    def spec(self) -> LayerSpec:
        """The catalogue entry of this node's layer type (a block's own entry for an instance)."""
        return self.block.spec() if self.block is not None else get_spec(self.type)

    def copy(self) -> Node:
        """Return an independent copy (parameters included; an instance keeps its block)."""
        return Node(self.id, self.type, self.name, dict(self.params), self.position, self.block)


@dataclass(frozen=True, order=True)
class Edge:
    """A tensor flowing from an output port of one node to an input port of another."""

    src: str
    src_port: str
    dst: str
    dst_port: str


@dataclass(frozen=True)
class NodeAdded:
    node: Node


@dataclass(frozen=True)
class NodeRemoved:
    node: Node
    edges: tuple[Edge, ...]
    index: int


@dataclass(frozen=True)
class EdgeAdded:
    edge: Edge


@dataclass(frozen=True)
class EdgeRemoved:
    edge: Edge


@dataclass(frozen=True)
class ParamChanged:
    node_id: str
    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class NodeRenamed:
    node_id: str
    old: str
    new: str


@dataclass(frozen=True)
class NodeMoved:
    node_id: str
    old: Position
    new: Position


Event = NodeAdded | NodeRemoved | EdgeAdded | EdgeRemoved | ParamChanged | NodeRenamed | NodeMoved
MAX_NAME_LENGTH = 128
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")  # a flattened instance's layer is named by its path through the instances: 16 levels of blocks


@dataclass(eq=False)
class Graph:
    """A network of layers. Every change is one method that emits one past-tense event after it.

    Operations come in symmetric pairs (add_node/remove_node, connect/disconnect) and raise a
    `GraphError` subclass on bad input, leaving the graph unchanged. Cycles and shape problems
    are allowed here: they are diagnostics of the analysis, not errors of editing.
    """

    _g: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph, repr=False)
    _nodes: dict[str, Node] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict, repr=False)
    _counters: NameCounters = field(default_factory=NameCounters, repr=False)
    _listeners: list[Callable[[Event], None]] = field(default_factory=list, repr=False)
    _next_id: int = 1
    library: Any = field(default=None, repr=False)  # the project's `blocks.BlockLibrary`: its names are layer types here
    owner: str | None = None  # the block whose inner network this is

    # ----- queries -----
    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def nodes(self) -> dict[str, Node]:
        """The nodes by id, in insertion order (read only: change them through methods)."""
        return self._nodes

    def node(self, node_id: str) -> Node:
        """Return the node with this id, or raise UnknownNodeError."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise UnknownNodeError(f"no node with id {node_id!r}") from None

    def node_by_name(self, name: str) -> Node | None:
        """Return the node called `name`, or None."""
        node_id = self._names.get(name)
        return self._nodes[node_id] if node_id else None

    @property
    def edges(self) -> list[Edge]:
        """All edges, in insertion order."""
        return [key for _, _, key in self._g.edges(keys=True)]

    def in_edges(self, node_id: str) -> list[Edge]:
        """The edges ending at `node_id` (none for an unknown id)."""
        return [key for keys in self._g._pred.get(node_id, {}).values() for key in keys]  # the adjacency itself: a view per call costs more than the walk

    def out_edges(self, node_id: str) -> list[Edge]:
        """The edges starting at `node_id` (none for an unknown id)."""
        return [key for keys in self._g._succ.get(node_id, {}).values() for key in keys]

    def source_of(self, node_id: str, port: str) -> Edge | None:
        """Return the edge feeding input `port` of `node_id`, or None if it is unconnected."""
        for keys in self._g._pred.get(node_id, {}).values():
            for edge in keys:
                if edge.dst_port == port:
                    return edge
        return None

    def successors(self, node_id: str) -> Iterator[str]:
        """Ids of the nodes fed by `node_id`."""
        return self._g.successors(node_id)

    def descendants(self, node_ids: Iterable[str]) -> set[str]:
        """Ids of every node reachable from any of `node_ids` (themselves excluded)."""
        found: set[str] = set()
        for node_id in node_ids:
            if node_id in self._nodes and node_id not in found:
                found |= nx.descendants(self._g, node_id)
        return found

    def structure(self) -> nx.MultiDiGraph:
        """The networkx graph underneath, read-only by contract (for algorithms)."""
        return self._g

    # ----- events -----
    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` after every change."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Event], None]) -> None:
        """Stop calling `listener`."""
        self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    # ----- nodes -----
    def new_id(self) -> str:
        """Return an id no node has: n1, n2, ..."""
        while f"n{self._next_id}" in self._nodes:
            self._next_id += 1
        return f"n{self._next_id}"

    def unique_name(self, base: str) -> str:
        """Return `base` if free, else `base_2`, `base_3`, ..."""
        base = base.strip()[:MAX_NAME_LENGTH] or "layer"
        if base not in self._names:
            return base
        k = 2
        while f"{base}_{k}" in self._names:
            k += 1
        return f"{base}_{k}"

    def auto_name(self, layer_type: str) -> str:
        """The name a new layer of this type gets: its type in lower case and a counter (relu1, maxpool2, conv3)."""
        return self._counters.next_name(layer_type)

    def add_node(
        self,
        layer_type: str,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        position: Position = (0.0, 0.0),
        node_id: str | None = None,
    ) -> Node:
        """Add a layer (or an instance of one of the library's blocks) with default parameters overridden by `params`."""
        block = self.library.get(layer_type) if self.library is not None else None
        if block is not None:
            if self.owner is not None and (layer_type == self.owner or self.library.uses(layer_type, self.owner)):
                raise GraphError(f"block {self.owner} cannot hold an instance of {layer_type}: a block cannot contain itself")
            spec = block.spec()
        else:
            try:
                spec = get_spec(layer_type)
            except KeyError:
                raise UnknownLayerTypeError(f"unknown layer type {layer_type!r}") from None
        values = spec.defaults()
        for key, value in (params or {}).items():
            values[key] = _validated(spec, key, value)
        if node_id is None:
            node_id = self.new_id()
            self._next_id += 1  # never hand out a deleted node's id again
        elif not isinstance(node_id, str) or not _ID_PATTERN.match(node_id):
            raise GraphError(f"invalid node id {node_id!r}: use 1-255 letters, digits, '_', '.', ':' or '-'")
        elif node_id in self._nodes:
            raise GraphError(f"a node with id {node_id!r} already exists")
        if name is None:
            name = self.auto_name(spec.type)
        self._check_name(name, None)
        node = Node(node_id, spec.type, name, values, _position(position), block)
        self._nodes[node_id] = node
        self._names[name] = node_id
        self._counters.add(name)
        self._g.add_node(node_id)
        if self._listeners:  # the event's copy is worth making only for someone to hear it
            self._emit(NodeAdded(node.copy()))
        return node

    def remove_node(self, node_id: str) -> Node:
        """Remove a node and its edges; the event carries both, so the removal can be undone."""
        node = self.node(node_id)
        edges = tuple(dict.fromkeys(self.in_edges(node_id) + self.out_edges(node_id)))  # a self-loop once
        index = list(self._nodes).index(node_id)
        self._g.remove_node(node_id)
        del self._nodes[node_id]
        del self._names[node.name]
        self._counters.remove(node.name)
        self._emit(NodeRemoved(node.copy(), edges, index))
        return node

    def restore_node(self, node: Node, edges: Iterable[Edge] = (), index: int | None = None) -> None:
        """Put back a removed node (same id, name, parameters, place in node order) and its edges.

        This is the undo of remove_node: pass the `edges` and `index` of its NodeRemoved event.
        """
        self.add_node(node.type, node.name, node.params, node.position, node.id)
        if index is not None and index < len(self._nodes) - 1:
            items = list(self._nodes.items())
            items.insert(index, items.pop())
            self._nodes = dict(items)
        for edge in edges:
            self.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)

    # ----- edges -----
    def connect(self, src: str, src_port: str, dst: str, dst_port: str) -> Edge:
        """Connect an output port to a free input port; return the new edge."""
        src_node, dst_node = self.node(src), self.node(dst)
        if all(p.name != src_port for p in src_node.spec.output_ports(src_node.params)):
            raise PortError(f"{src_node.type} '{src_node.name}' has no output port {src_port!r}")
        if all(p.name != dst_port for p in dst_node.spec.input_ports(dst_node.params)):
            raise PortError(f"{dst_node.type} '{dst_node.name}' has no input port {dst_port!r}")
        edge = Edge(src, src_port, dst, dst_port)
        existing = self.source_of(dst, dst_port)
        if existing == edge:
            raise EdgeError(f"'{src_node.name}' is already connected to '{dst_node.name}'.{dst_port}")
        if existing is not None:
            feeder = self._nodes[existing.src].name
            raise PortError(f"input {dst_port!r} of '{dst_node.name}' is already fed by '{feeder}': disconnect it first")
        self._g.add_edge(src, dst, key=edge)
        self._emit(EdgeAdded(edge))
        return edge

    def disconnect(self, edge: Edge) -> None:
        """Remove an existing edge."""
        if not self._g.has_edge(edge.src, edge.dst, key=edge):
            raise EdgeError(f"no connection from {edge.src}.{edge.src_port} to {edge.dst}.{edge.dst_port}")
        self._g.remove_edge(edge.src, edge.dst, key=edge)
        self._emit(EdgeRemoved(edge))

    # ----- node attributes -----
    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Set one parameter to a value its spec allows (stored in canonical form)."""
        node = self.node(node_id)
        new = _validated(node.spec, name, value)
        old = node.params[name]
        if new == old:
            return
        changed = {**node.params, name: new}
        inputs = {p.name for p in node.spec.input_ports(changed)}
        outputs = {p.name for p in node.spec.output_ports(changed)}
        dropped = [e.dst_port for e in self.in_edges(node_id) if e.dst_port not in inputs]
        dropped += [e.src_port for e in self.out_edges(node_id) if e.src_port not in outputs]
        if dropped:
            ports = ", ".join(dict.fromkeys(dropped))
            raise InvalidParameterError(f"'{node.name}' still has connections on {ports}: disconnect them first")
        node.params[name] = new
        self._emit(ParamChanged(node_id, name, old, new))

    def rename(self, node_id: str, name: str) -> None:
        """Give a node a new, unique, non-empty name."""
        node = self.node(node_id)
        if name == node.name:
            return
        self._check_name(name, node_id)
        old = node.name
        del self._names[old]
        self._counters.remove(old)
        node.name = name
        self._names[name] = node_id
        self._counters.add(name)
        self._emit(NodeRenamed(node_id, old, name))

    def move(self, node_id: str, position: Position) -> None:
        """Place a node at a canvas position."""
        node = self.node(node_id)
        new = _position(position)
        if new == node.position:
            return
        old = node.position
        node.position = new
        self._emit(NodeMoved(node_id, old, new))

    def _check_name(self, name: str, owner: str | None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise NodeNameError("a node name must not be empty")
        if len(name) > MAX_NAME_LENGTH:
            raise NodeNameError(f"a node name must be at most {MAX_NAME_LENGTH} characters")
        other = self._names.get(name)
        if other is not None and other != owner:
            raise NodeNameError(f"another node is already called {name!r}")


def _validated(spec: LayerSpec, key: str, value: Any) -> Any:
    try:
        param = spec.param(key)
    except KeyError:
        names = ", ".join(p.name for p in spec.params) or "none"
        raise InvalidParameterError(f"{spec.type} has no parameter {key!r} (it has: {names})") from None
    try:
        return param.validate(value)
    except ParamValueError as err:
        raise InvalidParameterError(f"{spec.type}: {err}") from None


def _position(position: Position) -> Position:
    if type(position) is tuple and len(position) == 2 and type(position[0]) is float is type(position[1]) and -1e9 < position[0] < 1e9 and -1e9 < position[1] < 1e9:
        return position  # already two floats in range: the layout's and a file's positions
    try:
        x, y = (float(v) for v in position)
    except (TypeError, ValueError, OverflowError):
        raise GraphError("a position is two numbers (x, y) within ±1e9") from None
    if not all(abs(v) < 1e9 for v in (x, y)):
        raise GraphError(f"position {position!r} is out of range (each coordinate within ±1e9)")
    return (x, y)
