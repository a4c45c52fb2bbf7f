"""Checks every generator makes before emitting: no errors in the graph, what feeds the outputs."""

from __future__ import annotations

import networkx as nx

from studio.codegen.names import CodegenError, comment_text
from studio.graph.catalogue.base import show
from studio.graph.model import Edge, Graph, Node
from studio.graph.project import Project
from studio.graph.shapes import ShapeAnalysis


def refuse_errors(project: Project, analysis: ShapeAnalysis, what: str) -> None:
    """Raise CodegenError listing every error diagnostic; `what` names the output (e.g. "Caffe")."""
    errors = [d for d in analysis.diagnostics() if d.severity == "error"]
    if errors:
        nodes = project.graph.nodes
        lines = [f"  - {nodes[d.node_id].name if d.node_id in nodes else 'network'}: {d.text}" for d in errors]
        raise CodegenError(f"cannot generate {what} for {project.name!r}: fix these first\n" + "\n".join(lines))


def problem_line(node: Node, reason: str) -> str:
    """One line of a refusal: '  - <name>: <Type>: <reason>', the name made safe to print."""
    return f"  - {comment_text(node.name, 80)}: {node.type}: {reason}"


def feeding_outputs(graph: Graph) -> set[str]:
    """The Output nodes and every node they depend on; the rest is left out of generated models."""
    structure = graph.structure()
    found: set[str] = set()
    for node_id, node in graph.nodes.items():
        if node.type == "Output":
            found |= {node_id} | nx.ancestors(structure, node_id)
    return found


def node_comment(graph: Graph, analysis: ShapeAnalysis, node_id: str) -> str:
    """The comment above a node's line of generated code: '# name: Type -> (N, 16, 8, 8)'."""
    node = graph.nodes[node_id]
    result = analysis.result(node_id)
    shape = f" -> {', '.join(show(s) for s in result.outputs.values())}" if result.outputs else ""
    dtype = ", int64" if node.type == "Input" and result.dtype == "int64" else ""
    return f"# {comment_text(node.name)}: {node.type}{shape}{dtype}"


def read_ports(graph: Graph, node_id: str) -> tuple[str, ...]:
    """The output ports of a node that some edge reads, in port order."""
    node = graph.nodes[node_id]
    read = {edge.src_port for edge in graph.out_edges(node_id)}
    return tuple(port.name for port in node.spec.output_ports(node.params) if port.name in read)


def piece(graph: Graph, edge: Edge) -> int | None:
    """Which output an edge leaves from, where the layer's code gives a tuple of its outputs; None where it gives one tensor."""
    return piece_of(graph, edge.src, edge.src_port)


def piece_of(graph: Graph, src: str, port: str) -> int | None:
    """Which output `port` is, where the code of node `src` gives a tuple of its outputs; None where it gives one tensor.

    A layer whose outputs are pieces (a Split) always gives the tuple; a layer of several outputs
    (a recurrent layer's steps and final states) gives it when more than one of them is read; an
    instance of a block of several outputs always gives it.
    """
    node = graph.nodes[src]
    ports = [p.name for p in node.spec.output_ports(node.params)]
    if node.block is not None:
        return ports.index(port) if len(ports) > 1 else None
    if node.spec.pieces is None and len(read_ports(graph, src)) < 2:
        return None
    return ports.index(port)
