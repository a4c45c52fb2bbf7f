"""Mouse gestures on the canvas that span several events: wiring a port to a port."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from PySide6.QtCore import QPointF, QRectF, SignalInstance
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from studio.graph.model import Edge, GraphError
from studio.ui.canvas.items import PORT_HIT_RADIUS, NodeItem, bezier
from studio.ui.canvas.style import style
from studio.ui.commands import reconnect_text
from studio.ui.document import Document

WIRE_Z = 10.0


class WiringScene(Protocol):
    """What a gesture needs of the scene it runs on (`GraphScene` is one)."""

    document: Document
    nodes: Mapping[str, NodeItem]
    edges: Mapping[Edge, QGraphicsItem]
    edit_refused: SignalInstance

    def addItem(self, item: QGraphicsItem) -> None: ...

    def removeItem(self, item: QGraphicsItem) -> None: ...

    def input_port_near(self, scene_pos: QPointF) -> tuple[NodeItem, str] | None: ...


class ConnectDrag:
    """A wire dragged from an output port; dropped on an input port it becomes an edge.

    Started on a connected input port instead, it picks that edge up (`detached`): dropped on
    another input it re-wires the edge, dropped on empty canvas it removes it.
    """

    def __init__(
        self,
        scene: WiringScene,
        source: NodeItem,
        port: str,
        detached: Edge | None = None,
    ) -> None:
        self.scene = scene
        self.source = source
        self.port = port
        self.detached = detached
        self.target: tuple[NodeItem, str] | None = None
        self.wire = QGraphicsPathItem()
        self.wire.setPen(style().wire)
        self.wire.setZValue(WIRE_Z)
        self.wire.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)
        scene.addItem(self.wire)
        if detached is not None and detached in scene.edges:
            scene.edges[detached].setVisible(False)
        for item in scene.nodes.values():
            item.set_port_marks({p: self.accepts(item, p) for p in item.inputs})

    def accepts(self, item: NodeItem, port: str) -> bool:
        """True when the wire may end on this input: another node, and not an existing edge."""
        if item is self.source:
            return False
        edge = Edge(self.source.node_id, self.port, item.node_id, port)
        return edge == self.detached or edge not in self.scene.edges

    def move(self, scene_pos: QPointF) -> None:
        """Follow the cursor, snapping to a valid input port in reach."""
        found = self.scene.input_port_near(scene_pos)
        target = found if found is not None and self.accepts(*found) else None
        if target != self.target:
            if self.target is not None:
                self.target[0].set_hot_port(None)
            if target is not None:
                target[0].set_hot_port((target[1], False))
            self.target = target
        start = self.source.port_scene_pos(self.port, True)
        end = target[0].port_scene_pos(target[1], False) if target else scene_pos
        self.wire.setPath(bezier(start, end)[0])

    def finish(self, scene_pos: QPointF) -> None:
        """Make the edge the wire stands for (or report why not), then end the gesture."""
        self.move(scene_pos)
        target = self.target
        found = self.scene.input_port_near(scene_pos)
        self.end()
        document = self.scene.document
        src, src_port = self.source.node_id, self.port
        try:
            if target is not None:
                item, port = target
                if self.detached is None:
                    document.connect(src, src_port, item.node_id, port, replace=True)
                elif (item.node_id, port) != (
                    self.detached.dst,
                    self.detached.dst_port,
                ):
                    stack = document.undo_stack
                    stack.beginMacro(reconnect_text(document.graph, self.detached, Edge(src, src_port, item.node_id, port)))
                    try:
                        document.disconnect(self.detached)
                        document.connect(
                            src, src_port, item.node_id, port, replace=True
                        )
                    except GraphError:
                        stack.endMacro()
                        stack.undo()
                        raise
                    stack.endMacro()
            elif found is not None:
                self.scene.edit_refused.emit(self._refusal(found[0]))
            elif self.detached is not None:
                document.disconnect(self.detached)
        except GraphError as err:
            self.scene.edit_refused.emit(str(err))

    def _refusal(self, item: NodeItem) -> str:
        if item is self.source:
            return "A layer cannot feed its own input."
        return "These ports are already connected."

    def end(self) -> None:
        """Remove the wire and the port marks."""
        if self.target is not None:
            self.target[0].set_hot_port(None)
        if self.detached is not None and self.detached in self.scene.edges:
            self.scene.edges[self.detached].setVisible(True)
        for item in self.scene.nodes.values():
            item.set_port_marks(None)
        self.scene.removeItem(self.wire)


def reach_rect(scene_pos: QPointF) -> QRectF:
    """The square around a point within which a port counts as under the cursor."""
    r = PORT_HIT_RADIUS * 1.4
    return QRectF(scene_pos.x() - r, scene_pos.y() - r, 2 * r, 2 * r)
