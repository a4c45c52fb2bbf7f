"""A network with every block instance replaced by its inner layers: what the flat exports write.

An inner layer of instance `n5` in its repeat k gets the id `n5.k.n2` (its own id inside the
block) and the name `layer1_0.conv1` (with `.k` after the instance's name when it repeats), so
the project's weights of a flattened layer are keyed `n5.0.n2/weight`. Instances inside blocks
are flattened the same way, their ids prefixed once more.
"""

from __future__ import annotations

import networkx as nx

from studio.graph.model import Graph, Node
from studio.graph.project import Project

Source = tuple[str, str] | None  # (node id, output port) feeding a tensor, or None where nothing does


def has_instances(graph: Graph) -> bool:
    """True when some node of `graph` is an instance of a block."""
    return any(node.block is not None for node in graph.nodes.values())


def flatten(graph: Graph) -> Graph:
    """`graph` itself when it has no instances, else a new graph of plain layers computing the same."""
    if not has_instances(graph):
        return graph
    flat = Graph()
    for node in graph.nodes.values():
        if node.block is None:
            flat.add_node(node.type, node.name, node.params, node.position, node_id=node.id)
    produced: dict[tuple[str, str], Source] = {}

    def source(src: str, port: str) -> Source:
        return produced.get((src, port)) if graph.node(src).block is not None else (src, port)

    for node_id in _order(graph):
        node = graph.node(node_id)
        if node.block is None:
            continue
        feeds = []
        for port in node.spec.input_ports(node.params):
            edge = graph.source_of(node_id, port.name)
            feeds.append(source(edge.src, edge.src_port) if edge is not None else None)
        outputs = _splice(flat, node, feeds)
        for port, found in zip(node.spec.output_ports(node.params), outputs):
            produced[(node_id, port.name)] = found
    for edge in graph.edges:
        if graph.node(edge.dst).block is None:
            found = source(edge.src, edge.src_port)
            if found is not None:
                flat.connect(found[0], found[1], edge.dst, edge.dst_port)
    return flat


def _splice(flat: Graph, instance: Node, feeds: list[Source]) -> list[Source]:
    """Add an instance's inner layers to `flat`, once per repeat; return what feeds each of its outputs."""
    block = instance.block
    repeat = int(instance.params.get("repeat", 1))
    for k in range(repeat):
        inner = flatten(block.resolved(instance.params))
        prefix = f"{instance.id}.{k}."
        label = f"{instance.name}.{k}." if repeat > 1 else f"{instance.name}."
        fed = dict(zip(block.input_ids(), feeds))
        ends = set(block.output_ids())
        for node in inner.nodes.values():
            if node.id not in fed and node.id not in ends:
                flat.add_node(node.type, label + node.name, node.params, instance.position, node_id=prefix + node.id)
        for edge in inner.edges:
            found = _inner_source(fed, prefix, edge.src, edge.src_port)
            if edge.dst not in ends and found is not None:
                flat.connect(found[0], found[1], prefix + edge.dst, edge.dst_port)
        feeds = []
        for end in block.output_ids():
            edges = inner.in_edges(end)
            feeds.append(_inner_source(fed, prefix, edges[0].src, edges[0].src_port) if edges else None)
    return feeds


def _inner_source(fed: dict[str, Source], prefix: str, src: str, port: str) -> Source:
    """What feeds an inner tensor in the flat graph: the instance's own feed for an inner Input, else the prefixed layer."""
    return fed[src] if src in fed else (prefix + src, port)


def _order(graph: Graph) -> list[str]:
    try:
        return list(nx.topological_sort(graph.structure()))
    except nx.NetworkXUnfeasible:  # a cycle: the exporters refuse it; keep going in node order
        return list(graph.nodes)


def flat_project(project: Project) -> Project:
    """`project` itself when its graph has no instances, else a copy whose graph is flattened (for the exporters)."""
    if not has_instances(project.graph):
        return project
    return Project(project.name, flatten(project.graph), project.training, project.description)
