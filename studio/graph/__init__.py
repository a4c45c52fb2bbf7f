"""The network as data: graph, layer catalogue, shape analysis and project files. No Qt, no torch."""

from studio.graph.catalogue import CATALOGUE, LayerSpec, get_spec
from studio.graph.model import Edge, Graph, GraphError, Node
from studio.graph.shapes import Diagnostic, NodeResult, ShapeAnalysis, Summary, analyse

__all__ = [
    "CATALOGUE",
    "Diagnostic",
    "Edge",
    "Graph",
    "GraphError",
    "LayerSpec",
    "Node",
    "NodeResult",
    "ShapeAnalysis",
    "Summary",
    "analyse",
    "get_spec",
]
