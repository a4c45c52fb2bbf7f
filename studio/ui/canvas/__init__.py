"""The node-graph canvas: layers as cards, tensors as labelled wires, edits through the document."""

from studio.ui.canvas.items import EdgeItem, NodeItem
from studio.ui.canvas.scene import GraphScene
from studio.ui.canvas.view import CanvasView

__all__ = ["CanvasView", "EdgeItem", "GraphScene", "NodeItem"]
