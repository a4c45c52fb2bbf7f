"""Group layers into a block (the wires crossing the selection become its ports) and ungroup an instance.

Both are plain graph edits, so the editor can record them as one undoable step. Grouping keeps
the layers' ids, names and positions inside the block and puts the instance where their centre
was; ungrouping an instance that grouping made puts the same layers back, so the two are
inverses.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.graph.blocks import Block, BlockError
from studio.graph.model import Graph, Node
from studio.graph.shapes import ShapeAnalysis, snapshot_analysis

Source = tuple[str, str]


@dataclass(frozen=True)
class Grouped:
    """What `group` made: the block and its instance."""

    block: Block
    instance: Node


def group(graph: Graph, node_ids: list[str], name: str) -> Grouped:
    """Move the layers `node_ids` into a new block called `name`, replaced by one instance of it."""
    if graph.library is None:
        raise BlockError("this network has no block library (open it as part of a project)")
    chosen = [graph.node(n) for n in dict.fromkeys(node_ids)]
    if not chosen:
        raise BlockError("select the layers to group first")
    ends = [n.name for n in chosen if n.type in ("Input", "Output")]
    if ends:
        raise BlockError(f"Input and Output layers stay outside a block ({', '.join(ends)}): leave them out of the selection")
    graph.library.check_name(name)
    inside = {n.id for n in chosen}
    between = [n for n in graph.descendants(inside) - inside if graph.descendants([n]) & inside]
    if between:
        names = ", ".join(sorted(graph.node(n).name for n in between))
        raise BlockError(f"the selection leaves out {names}, which lies between selected layers: select it too, or fewer layers")
    analysis = snapshot_analysis(graph)
    order = {node_id: i for i, node_id in enumerate(analysis.ordered_ids())}
    entering = sorted((e for n in inside for e in graph.in_edges(n) if e.src not in inside), key=lambda e: (order[e.dst], e.dst_port))
    leaving = sorted((e for n in inside for e in graph.out_edges(n) if e.dst not in inside), key=lambda e: (order[e.src], e.src_port))
    sources = list(dict.fromkeys((e.src, e.src_port) for e in entering))
    results = list(dict.fromkeys((e.src, e.src_port) for e in leaving))
    inner = Graph(library=graph.library, owner=name)
    for node in chosen:
        inner.add_node(node.type, node.name, node.params, node.position, node_id=node.id)
    x, y = _centre(chosen)
    inputs = [_port_node(inner, "Input", f"in{i + 1}" if len(sources) > 1 else "in", _shape(analysis, s), (x - 400, y)) for i, s in enumerate(sources)]
    outputs = [_port_node(inner, "Output", f"out{i + 1}" if len(results) > 1 else "out", None, (x + 400, y)) for i, _ in enumerate(results)]
    for node_id, source in zip(inputs, sources):
        inner.set_param(node_id, "dtype", analysis.result(source[0]).dtype or "float32")
    for edge in {e for n in inside for e in graph.in_edges(n) if e.src in inside}:
        inner.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)
    for edge in entering:
        inner.connect(inputs[sources.index((edge.src, edge.src_port))], "out", edge.dst, edge.dst_port)
    for node_id, (src, port) in zip(outputs, results):
        inner.connect(src, port, node_id, "in")
    block = graph.library.define(name, inner)
    for node in chosen:
        graph.remove_node(node.id)
    instance = graph.add_node(name, graph.unique_name(_snake(name)), {}, (x, y))
    ports_in = [p.name for p in instance.spec.input_ports(instance.params)]
    ports_out = [p.name for p in instance.spec.output_ports(instance.params)]
    for port, (src, src_port) in zip(ports_in, sources):
        graph.connect(src, src_port, instance.id, port)
    for edge in leaving:
        graph.connect(instance.id, ports_out[results.index((edge.src, edge.src_port))], edge.dst, edge.dst_port)
    return Grouped(block, instance)


def ungroup(graph: Graph, instance_id: str) -> list[str]:
    """Replace an instance by its block's layers (every repeat, exposed values applied); return their ids."""
    instance = graph.node(instance_id)
    block = instance.block
    if block is None:
        raise BlockError(f"'{instance.name}' is a {instance.type} layer, not an instance of a block")
    repeat = int(instance.params.get("repeat", 1))
    feeds: list[Source | None] = []
    for port in instance.spec.input_ports(instance.params):
        edge = graph.source_of(instance_id, port.name)
        feeds.append((edge.src, edge.src_port) if edge is not None else None)
    ports_out = [p.name for p in instance.spec.output_ports(instance.params)]
    consumers = {port: [e for e in graph.out_edges(instance_id) if e.src_port == port] for port in ports_out}
    resolved = block.resolved(instance.params)
    layers = [n for n in resolved.nodes.values() if n.type not in ("Input", "Output")]
    cx, cy = _centre(layers) if layers else (0.0, 0.0)
    x, y = instance.position
    graph.remove_node(instance_id)
    added: list[str] = []
    for k in range(repeat):
        ids: dict[str, str] = {}
        for node in layers:
            node_id = node.id if node.id not in graph else graph.new_id()
            name = node.name if graph.node_by_name(node.name) is None else graph.unique_name(f"{instance.name}.{k}.{node.name}" if repeat > 1 else f"{instance.name}.{node.name}")
            position = (node.position[0] - cx + x + k * 600.0, node.position[1] - cy + y)
            ids[node.id] = graph.add_node(node.type, name, node.params, position, node_id=node_id).id
            added.append(ids[node.id])
        fed = dict(zip(block.input_ids(), feeds))
        for edge in resolved.edges:
            if edge.dst in ids:
                found = fed.get(edge.src) if edge.src in fed else (ids[edge.src], edge.src_port)
                if found is not None:
                    graph.connect(found[0], found[1], ids[edge.dst], edge.dst_port)
        feeds = []
        for end in block.output_ids():
            edges = resolved.in_edges(end)
            src = edges[0].src if edges else None
            feeds.append(None if src is None else fed.get(src) if src in fed else (ids[src], edges[0].src_port))
    for port, found in zip(ports_out, feeds):
        for edge in consumers[port]:
            if found is not None:
                graph.connect(found[0], found[1], edge.dst, edge.dst_port)
    return added


def make_unique(graph: Graph, instance_id: str, name: str) -> Block:
    """Copy an instance's block into a new block called `name` and make the instance use it; return the copy."""
    instance = graph.node(instance_id)
    block = instance.block
    if block is None:
        raise BlockError(f"'{instance.name}' is a {instance.type} layer, not an instance of a block")
    graph.library.check_name(name)
    inner = Graph(library=graph.library, owner=name)
    for node in block.graph.nodes.values():
        inner.add_node(node.type, node.name, node.params, node.position, node_id=node.id)
    for edge in block.graph.edges:
        inner.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)
    copy = graph.library.define(name, inner, block.exposed, block.description)
    edges = graph.in_edges(instance_id) + graph.out_edges(instance_id)
    graph.remove_node(instance_id)
    graph.add_node(name, instance.name, instance.params, instance.position, node_id=instance.id)
    for edge in dict.fromkeys(edges):
        graph.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)
    return copy


def _port_node(inner: Graph, layer_type: str, name: str, shape: tuple[int, ...] | None, position: tuple[float, float]) -> str:
    params = {"shape": shape} if shape else {}
    return inner.add_node(layer_type, inner.unique_name(name), params, position).id


def _shape(analysis: ShapeAnalysis, source: Source) -> tuple[int, ...] | None:
    outputs = analysis.result(source[0]).outputs
    shape = outputs.get(source[1]) if outputs else None
    return tuple(shape[1:]) if shape is not None and len(shape) > 1 and None not in shape[1:] else None


def _centre(nodes: list[Node]) -> tuple[float, float]:
    return (sum(n.position[0] for n in nodes) / len(nodes), sum(n.position[1] for n in nodes) / len(nodes))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))

