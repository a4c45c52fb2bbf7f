"""A graph as a file states it: checked into plain records, then built; and written back.

Shared by the project file and the blocks it holds. Every problem is a `RecordError` naming
the place in the file (``graph.nodes.n3.params.kernel_size``) and what would be valid.
"""

from __future__ import annotations

import difflib
import json
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from studio.graph.catalogue import CATALOGUE, LayerSpec, get_spec
from studio.graph.model import MAX_NAME_LENGTH, Graph, GraphError, NodeNameError
from studio.graph.params import Param, ParamValueError

POSITION_LIMIT = 1e9
GRAPH_KEYS = ("edges", "nodes")
NODE_KEYS = ("name", "params", "position", "type")
EDGE_KEYS = ("from", "to")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
Path = tuple[str | int, ...]


class RecordError(Exception):
    """A problem at one place of the file's structure (raised inside, reported as ProjectFileError)."""

    def __init__(self, path: tuple[str | int, ...] | str, reason: str) -> None:
        super().__init__(reason)
        self.place = path if isinstance(path, str) else place(path)
        self.reason = reason


@dataclass(frozen=True)
class NodeRecord:
    """One node as a file states it, checked but not yet part of a graph."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    position: tuple[float, float]
    renamed: dict[str, str] = field(default_factory=dict)  # output ports renamed since the file was written: {old: new}


@dataclass(frozen=True)
class EdgeRecord:
    """One edge as a file states it; `index` is its place in the file's edge list."""

    src: str
    src_port: str
    dst: str
    dst_port: str
    index: int


def read_graph(value: Any, where: Path, library: Any = None) -> tuple[tuple[NodeRecord, ...], tuple[EdgeRecord, ...]]:
    """Check a graph's dict form (`{"nodes": ..., "edges": ...}` at `where` in the file) into records.

    `library` (a `blocks.BlockLibrary`) makes its blocks' names layer types here.
    """
    graph = mapping(value, where, 'an object with "nodes" and "edges"')
    known_keys(graph, where, GRAPH_KEYS)
    found = mapping(graph.get("nodes", {}), (*where, "nodes"), "an object from node id to node")
    nodes = _nodes(found, (*where, "nodes"), library)
    return nodes, _edges(graph.get("edges", []), (*where, "edges"), {node.id: node for node in nodes}, library)


def build_graph(graph: Graph, nodes: tuple[NodeRecord, ...], edges: tuple[EdgeRecord, ...], where: Path) -> Graph:
    """Add checked records to `graph` through its public methods; RecordError if the graph still refuses one."""
    for node in nodes:
        path: Path = (*where, "nodes", node.id)
        try:
            graph.add_node(node.type, node.name, node.params, node.position, node_id=node.id)
        except NodeNameError as err:
            raise RecordError((*path, "name"), str(err)) from None
        except GraphError as err:
            raise RecordError(path, str(err)) from None
    for edge in edges:
        try:
            graph.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)
        except GraphError as err:
            raise RecordError((*where, "edges", edge.index), str(err)) from None
    return graph


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """The graph's dict form: every parameter its layer type has written out, edges sorted."""
    nodes = {
        node.id: {
            "type": node.type,
            "name": node.name,
            "params": {p.name: _json_value(node.params.get(p.name, p.default)) for p in node.spec.params},
            "position": list(node.position),
        }
        for node in graph.nodes.values()
    }
    edges = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]} for e in sorted(graph.edges, key=_edge_order)]
    return {"nodes": nodes, "edges": edges}


_edge_order = operator.attrgetter("src", "src_port", "dst", "dst_port")  # Edge's own order, compared as tuples in C


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _nodes(nodes: dict[str, Any], where: Path, library: Any) -> tuple[NodeRecord, ...]:
    records: list[NodeRecord] = []
    names: dict[str, str] = {}
    for node_id in sorted(nodes, key=natural):
        record = _node(node_id, nodes[node_id], (*where, node_id), library)
        if record.name in names:
            raise RecordError(
                (*where, node_id, "name"),
                f"node {show(names[record.name])} is already called {show(record.name)} (node names must be unique)",
            )
        names[record.name] = node_id
        records.append(record)
    return tuple(records)


def _node(node_id: str, value: Any, path: Path, library: Any) -> NodeRecord:
    node = mapping(value, path, "an object with \"type\", \"name\", \"params\" and \"position\"")
    known_keys(node, path, NODE_KEYS)
    spec = _layer_spec(node, path, library)
    name = node.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        what = "missing" if "name" not in node else f"not {show(name)}"
        raise RecordError((*path, "name"), f"must be a non-empty text of at most {MAX_NAME_LENGTH} characters; {what}")
    params = mapping(node.get("params", {}), (*path, "params"), "an object from parameter name to value")
    renamed: dict[str, str] = {}
    if spec.upgrade is not None:  # parameters as an older Layer Studio stored them
        try:
            params, renamed = spec.upgrade(params)
        except ParamValueError as err:
            raise RecordError((*path, "params"), str(err)) from None
    values: dict[str, Any] = {}
    for key in params:
        try:
            param = spec.param(key)
        except KeyError:
            known = ", ".join(p.name for p in spec.params) or "none"
            raise RecordError((*path, "params", key), f"{spec.type} has no parameter {show(key)} (it has: {known})") from None
        try:
            values[key] = validate(param, params[key])
        except ParamValueError as err:
            raise RecordError((*path, "params", key), str(err)) from None
    position = _position(node.get("position", [0.0, 0.0]), (*path, "position"))
    return NodeRecord(node_id, spec.type, name, values, position, renamed)


def _spec(layer_type: str, library: Any) -> LayerSpec:
    block = library.get(layer_type) if library is not None else None
    return block.spec() if block is not None else get_spec(layer_type)


def _layer_spec(node: dict[str, Any], path: Path, library: Any) -> LayerSpec:
    layer_type = node.get("type")
    if not isinstance(layer_type, str):
        what = "missing" if "type" not in node else f"not {show(layer_type)}"
        raise RecordError((*path, "type"), f"must be a layer type such as \"Linear\"; {what}")
    try:
        return _spec(layer_type, library)
    except KeyError:
        known = [*CATALOGUE, *(block.name for block in library or ())]
        close = difflib.get_close_matches(layer_type, known, n=3)
        hint = "did you mean " + " or ".join(show(c) for c in close) + "?" if close else "`layer-studio layers` lists them"
        raise RecordError((*path, "type"), f"unknown layer type {show(layer_type)} ({hint})") from None


def _position(value: Any, path: Path) -> tuple[float, float]:
    pair = isinstance(value, (list, tuple)) and len(value) == 2
    if pair and all(_is_number(v) and abs(v) < POSITION_LIMIT for v in value):
        return (float(value[0]), float(value[1]))
    raise RecordError(path, f"must be two numbers [x, y] between -1e9 and 1e9, not {show(value)}")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _edges(value: Any, where: Path, nodes: dict[str, NodeRecord], library: Any) -> tuple[EdgeRecord, ...]:
    if not isinstance(value, (list, tuple)):
        raise RecordError(where, f"must be a list of edges, not {show(value)}")
    records: list[EdgeRecord] = []
    fed: dict[tuple[str, str], int] = {}
    for index, item in enumerate(value):
        path: Path = (*where, index)
        edge = mapping(item, path, "an object with \"from\": [node id, port] and \"to\": [node id, port]")
        known_keys(edge, path, EDGE_KEYS)
        src, src_port = _endpoint(edge, "from", path, nodes, library)
        dst, dst_port = _endpoint(edge, "to", path, nodes, library)
        earlier = fed.get((dst, dst_port))
        if earlier is not None:
            node, first = nodes[dst], records[earlier]
            what = "the same connection as" if (first.src, first.src_port) == (src, src_port) else "fed already by"
            raise RecordError(
                (*path, "to"),
                f"input {show(dst_port)} of {node.type} {show(node.name)} is {what} {place(where)}[{first.index}] "
                "(an input takes exactly one connection)",
            )
        fed[(dst, dst_port)] = len(records)
        records.append(EdgeRecord(src, src_port, dst, dst_port, index))
    return tuple(records)


def _endpoint(edge: dict[str, Any], end: str, path: Path, nodes: dict[str, NodeRecord], library: Any) -> tuple[str, str]:
    value = edge.get(end)
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        what = "missing" if end not in edge else f"not {show(value)}"
        raise RecordError((*path, end), f"must be [node id, port name]; {what}")
    node_id, port = value
    node = nodes.get(node_id)
    if node is None:
        known = ", ".join(sorted(nodes, key=natural)[:10]) or "none"
        raise RecordError((*path, end), f"no node has the id {show(node_id)} (the nodes are: {known})")
    if end == "from":
        port = node.renamed.get(port, port)
    spec = _spec(node.type, library)
    params = {**spec.defaults(), **node.params} if spec.variadic or spec.pieces is not None else node.params  # only these have ports set by parameters
    ports = spec.output_ports(params) if end == "from" else spec.input_ports(params)
    names = [p.name for p in ports]
    if port not in names:
        kind = "output" if end == "from" else "input"
        valid = f"its {kind}s: {', '.join(names)}" if names else f"it has no {kind}s"
        raise RecordError((*path, end), f"{node.type} {show(node.name)} has no {kind} port {show(port)} ({valid})")
    return node_id, port


def mapping(value: Any, path: tuple[str | int, ...], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(path, f"must be {what}, not {show(value)}")
    return value


def known_keys(obj: dict[str, Any], path: tuple[str | int, ...], valid: tuple[str, ...]) -> None:
    for key in obj:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean {show(close[0])}? " if close else ""
            raise RecordError((*path, key), f"unknown key ({hint}valid here: {', '.join(sorted(valid))})")


def validate(param: Param, value: Any) -> Any:
    """Param.validate, with every refusal (even an overflowing number) as ParamValueError."""
    try:
        return param.validate(value)
    except ParamValueError:
        raise
    except (OverflowError, ValueError, TypeError):
        raise ParamValueError(f"'{param.name}' must be {param.describe()}, not {show(value)}") from None


def place(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += ("." if text else "") + part
        else:
            text += f"[{show(part)}]"
    return text


def natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key that puts n2 before n10."""
    return [(0, int(t)) if t.isascii() and t.isdigit() else (1, t) for t in re.split(r"([0-9]+)", text) if t]


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def show(value: Any) -> str:
    """A short, one-line JSON rendering of a value for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except (ValueError, RecursionError):
            text = kind(value)
    return text if len(text) <= 40 else text[:37] + "..."
