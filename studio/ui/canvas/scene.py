"""The graph as a scene: one item per node and edge, kept in step with the document."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsSceneHelpEvent,
    QGraphicsSceneMouseEvent,
    QToolTip,
)

from studio.graph.catalogue.base import Shape
from studio.graph.model import (
    Edge,
    EdgeAdded,
    EdgeRemoved,
    Node,
    NodeAdded,
    NodeMoved,
    NodeRemoved,
    NodeRenamed,
    ParamChanged,
)
from studio.ui.canvas.interactions import ConnectDrag, reach_rect
from studio.ui.canvas.items import NODE_Z, SELECTED_NODE_Z, EdgeItem, NodeItem
from studio.ui.canvas.wire_index import WireIndex
from studio.ui.document import Document

REROUTE_ALL = 100  # past this many moved cards' extents, every wire is re-routed

SNAP = 10.0  # nodes dragged by hand land on this grid
WORLD = 1_000_000.0  # the canvas reaches this far from the origin every way
SWITCHED_OFF_OPACITY = 0.4


class GraphScene(QGraphicsScene):
    """Draws `document.graph`; edits made with the mouse go back through the document."""

    edit_refused = Signal(str)  # a user-readable reason an edit was not made
    rebuilt = Signal()  # every item was made anew (a project was opened)
    node_activated = Signal(str)  # a node was double-clicked

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.connect_drag: ConnectDrag | None = None
        self._move_start: dict[str, QPointF] = {}
        self._syncing_selection = False
        self._pending_rebuild = False
        self._reroute_pending = False
        self._moved: list[tuple[float, float]] | None = []  # the x-extents cards left and took since the last re-routing; None: all
        self._building = False
        self._raised: set[NodeItem] = set()
        self._expanded: set[tuple[tuple, str]] = set()  # (level, instance id): drawn with its inner layers
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        # NOTE: a fixed rect, not the items' bounds: the index cuts its rect into cells, and cards stacked on one spot
        # (a file without positions) would otherwise each lie in every cell, so moving one cost a pass over all of them
        self.setSceneRect(QRectF(-WORLD, -WORLD, 2 * WORLD, 2 * WORLD))
        document.graph_changed.connect(self._on_graph_changed)
        document.analysed.connect(self._on_analysed)
        document.reset.connect(self._on_reset)
        document.reset.connect(self._expanded.clear)
        document.level_changed.connect(self._on_reset)
        document.selection_changed.connect(self._on_document_selection)
        self.selectionChanged.connect(self._on_scene_selection)
        self.rebuild()

    # ----- building -----
    def rebuild(self) -> None:
        """Make every item anew from the document's graph and analysis."""
        self._pending_rebuild = False
        self._cancel_drag()
        self._syncing_selection = True
        try:
            self._raised.clear()  # before clear(): its selection change would touch them
            self.clear()
            self.nodes.clear()
            self.edges.clear()
            graph, results = self.document.graph, self.document.analysis.results()
            level = tuple(self.document.levels)
            for node_id, node in graph.nodes.items():
                item = NodeItem(self._shown(node), results.get(node_id), (level, node_id) in self._expanded)
                self.nodes[node_id] = item
                self._dim(item)
                self.addItem(item)
            self._building = True
            for edge in graph.edges:
                result = results.get(edge.src)
                self._add_edge(
                    edge,
                    result.outputs.get(edge.src_port)
                    if result and result.outputs
                    else None,
                )
            for node_id in self.document.selected_ids:
                if node_id in self.nodes:
                    self.nodes[node_id].setSelected(True)
        finally:
            self._syncing_selection = False
            self._building = False
        self._moved = None  # every wire: each is drawn here for the first time
        self.reroute()
        self.rebuilt.emit()

    def _add_edge(self, edge: Edge, shape: Shape | None = None) -> EdgeItem | None:
        source, target = self.nodes.get(edge.src), self.nodes.get(edge.dst)
        if source is None or target is None:
            return None
        item = EdgeItem(edge, source, target, shape, drawn=False)
        self.edges[edge] = item
        source.attach(item)
        target.attach(item)
        self.addItem(item)
        if not self._building:  # a rebuild routes every wire at its end
            item.update_path()  # now that it can see the cards it passes
        return item

    def _remove_edge(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is None:
            return
        for end in (item.source, item.target):
            end.detach(edge)
        self.removeItem(item)

    # ----- following the document -----
    def _on_graph_changed(self, event: object) -> None:
        if self._pending_rebuild:
            return
        if isinstance(event, NodeAdded):
            item = NodeItem(event.node)
            self.nodes[event.node.id] = item
            self.addItem(item)
        elif isinstance(event, NodeRemoved):
            for edge in event.edges:
                self._remove_edge(edge)
            item = self.nodes.pop(event.node.id, None)
            if item is not None:
                if self.connect_drag is not None and self.connect_drag.source is item:
                    self._cancel_drag()
                self.removeItem(item)
        elif isinstance(event, EdgeAdded):
            self._add_edge(event.edge)
        elif isinstance(event, EdgeRemoved):
            self._remove_edge(event.edge)
        elif isinstance(event, NodeMoved):
            item = self.nodes.get(event.node_id)
            if item is not None and item.pos().toTuple() != event.new:
                if self._moved is not None:
                    self._moved += [(item.x(), item.x() + item.width), (event.new[0], event.new[0] + item.width)]
                item.setPos(*event.new)
                item.follow(route=False)
                self.schedule_reroute(everything=False)  # a moved card may now lie on, or have left, other wires' way
        elif isinstance(event, (ParamChanged, NodeRenamed)):
            self._refresh_nodes([event.node_id], with_results=False)

    def _on_analysed(self, node_ids: Iterable[str]) -> None:
        if self._pending_rebuild:
            self.rebuild()
            return
        self._refresh_nodes(node_ids, with_results=True)

    def _refresh_nodes(self, node_ids: Iterable[str], with_results: bool) -> None:
        """Redraw these nodes and the labels of the edges leaving them, and nothing else."""
        graph, analysis = self.document.graph, self.document.analysis
        relabelled: list[EdgeItem] = []
        for node_id in node_ids:
            item = self.nodes.get(node_id)
            if item is None or node_id not in graph:
                continue
            # mid-edit, reading the analysis would refresh it before the document does
            result = analysis.result(node_id) if with_results else item.result
            size = (item.width, item.height)
            item.refresh(self._shown(graph.node(node_id)), result)
            if (item.width, item.height) != size:
                self.schedule_reroute()  # a card grew or shrank: other wires may now pass over it, or need not go round
            if with_results:
                self._dim(item)
            outputs = result.outputs if result is not None else None
            for edge, edge_item in item.edges.items():
                if edge.src == node_id and with_results and edge_item.set_shape(outputs.get(edge.src_port) if outputs else None, route=False):
                    relabelled.append(edge_item)
        if len(relabelled) > REROUTE_ALL:  # one pass from the grid of cards, not a question to the scene per wire
            self.schedule_reroute()
        else:
            for edge_item in relabelled:
                edge_item.update_path()

    def switched_off(self, node_id: str) -> bool:
        """True for a layer of the open block that the instance it was opened through switches off."""
        return node_id in getattr(self.document.analysis, "switched_off", ())

    def _dim(self, item: NodeItem) -> None:
        item.setOpacity(SWITCHED_OFF_OPACITY if self.switched_off(item.node_id) else 1.0)

    def _shown(self, node: Node) -> Node:
        """A node as its card shows it: inside an open block, with the values the instance's parameters set."""
        ran = getattr(self.document.analysis, "resolved", None)
        found = ran.nodes.get(node.id) if ran is not None else None
        if found is None or found.params == node.params:
            return node
        shown = node.copy()
        shown.params = dict(found.params)
        return shown

    # ----- expanded instances -----
    def is_expanded(self, node_id: str) -> bool:
        """True when an instance at this level is drawn with its inner layers."""
        return (tuple(self.document.levels), node_id) in self._expanded

    def set_expanded(self, node_id: str, expanded: bool) -> None:
        """Draw an instance with its inner layers inside its card (read-only), or collapse it back."""
        item = self.nodes.get(node_id)
        node = self.document.graph.nodes.get(node_id)
        if item is None or node is None or node.block is None:
            return
        key = (tuple(self.document.levels), node_id)
        if expanded:
            self._expanded.add(key)
        else:
            self._expanded.discard(key)
        item.expanded = expanded
        item.refresh(self._shown(node), self.document.analysis.result(node_id))

    def _on_reset(self) -> None:
        """A new project or level: drop the old items now, build the new ones when its analysis is in."""
        self._cancel_drag()
        self._syncing_selection = True
        self._raised.clear()
        try:
            self.clear()
        finally:
            self._syncing_selection = False
        self.nodes.clear()
        self.edges.clear()
        self._pending_rebuild = True

    # ----- selection, both ways -----
    def selected_node_ids(self) -> list[str]:
        """Ids of the selected nodes, in the document's selection order where it has one."""
        chosen = {i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)}
        ordered = [n for n in self.document.selected_ids if n in chosen]
        return ordered + sorted(chosen.difference(ordered), key=_id_key)

    def selected_edges(self) -> list[Edge]:
        """The selected edges."""
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def _on_scene_selection(self) -> None:
        self._raise_selected()
        if self._syncing_selection:
            return
        self._syncing_selection = True
        try:
            self.document.select(self.selected_node_ids())
        finally:
            self._syncing_selection = False

    def _raise_selected(self) -> None:
        """Draw selected nodes above the others."""
        selected = {i for i in self.selectedItems() if isinstance(i, NodeItem)}
        for item in self._raised - selected:
            item.setZValue(NODE_Z)
        for item in selected - self._raised:
            item.setZValue(SELECTED_NODE_Z)
        self._raised = selected

    def _on_document_selection(self, node_ids: list[str]) -> None:
        if self._syncing_selection:
            return
        self._syncing_selection = True
        try:
            wanted = set(node_ids)
            for item in self.selectedItems():
                if not isinstance(item, NodeItem) or item.node_id not in wanted:
                    item.setSelected(False)
            for node_id in node_ids:
                item = self.nodes.get(node_id)
                if item is not None:
                    item.setSelected(True)
        finally:
            self._syncing_selection = False

    def select_items(self, node_ids: Iterable[str], edges: Iterable[Edge] = ()) -> None:
        """Make exactly these nodes and edges the selection (one document update)."""
        self._syncing_selection = True
        try:
            self.clearSelection()
            for node_id in node_ids:
                if node_id in self.nodes:
                    self.nodes[node_id].setSelected(True)
            for edge in edges:
                if edge in self.edges:
                    self.edges[edge].setSelected(True)
        finally:
            self._syncing_selection = False
        self._on_scene_selection()

    def deselect_edges(self) -> None:
        """Keep only nodes selected (a rubber band selects nodes, not the wires it crosses)."""
        for item in self.selectedItems():
            if isinstance(item, EdgeItem):
                item.setSelected(False)

    # ----- finding things -----
    def node_at(self, scene_pos: QPointF) -> NodeItem | None:
        """The topmost node under a point."""
        for item in self.items(scene_pos):
            if isinstance(item, NodeItem):
                return item
        return None

    def input_port_near(self, scene_pos: QPointF) -> tuple[NodeItem, str] | None:
        """The input port within reach of a point, and its node."""
        for item in self.items(reach_rect(scene_pos)):
            if isinstance(item, NodeItem):
                port = item.port_at(item.mapFromScene(scene_pos), output=False)
                if port is not None:
                    return item, port[0]
        return None

    def helpEvent(self, event: QGraphicsSceneHelpEvent) -> None:
        """Tooltips are written when asked for, not kept on thousands of items."""
        for item in self.items(event.scenePos()):
            if isinstance(item, (NodeItem, EdgeItem)):
                text = item.tooltip()
                if isinstance(item, NodeItem) and self.switched_off(item.node_id):
                    text += "\nSwitched off: the instance this block was opened through passes its input by"
                QToolTip.showText(event.screenPos(), text, event.widget())
                event.accept()
                return
        QToolTip.hideText()
        event.ignore()

    # ----- mouse: wiring and moving -----
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and (
            self._start_wiring(event.scenePos()) or self._toggle_at(event.scenePos())
        ):
            event.accept()
            return
        super().mousePressEvent(event)
        grabbed = self.mouseGrabberItem()
        if event.button() == Qt.MouseButton.LeftButton and isinstance(
            grabbed, NodeItem
        ):
            moving = [
                grabbed,
                *(i for i in self.selectedItems() if isinstance(i, NodeItem)),
            ]
            self._move_start = {i.node_id: i.pos() for i in moving}

    def _toggle_at(self, scene_pos: QPointF) -> bool:
        """A click on an instance's arrow expands or collapses it."""
        item = self.node_at(scene_pos)
        if item is None or not item.is_instance or not item.toggle_rect().contains(item.mapFromScene(scene_pos)):
            return False
        self.set_expanded(item.node_id, not item.expanded)
        return True

    def _start_wiring(self, scene_pos: QPointF) -> bool:
        item = self.node_at(scene_pos)
        if item is None:
            return False
        port = item.port_at(item.mapFromScene(scene_pos))
        if port is None:
            return False
        name, output = port
        if output:
            self.connect_drag = ConnectDrag(self, item, name)
        else:
            edge = self.document.graph.source_of(item.node_id, name)
            if edge is None or edge.src not in self.nodes:
                return False
            self.connect_drag = ConnectDrag(
                self, self.nodes[edge.src], edge.src_port, detached=edge
            )
        self.connect_drag.move(scene_pos)
        return True

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.connect_drag is not None:
            self.connect_drag.move(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self._move_start:
            self._follow_drag()

    def _follow_drag(self) -> None:
        """Snap the nodes being dragged to the grid and bring their edges along."""
        edges: dict[Edge, EdgeItem] = {}
        for node_id in self._move_start:
            item = self.nodes.get(node_id)
            if item is None:
                continue
            x, y = item.pos().toTuple()
            snapped = (round(x / SNAP) * SNAP, round(y / SNAP) * SNAP)
            if snapped != (x, y):
                item.setPos(*snapped)
            edges.update(item.edges)
        for edge in edges.values():
            edge.update_path()

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.connect_drag is not None:
            drag, self.connect_drag = self.connect_drag, None
            drag.finish(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        start, self._move_start = self._move_start, {}
        moved = {
            node_id: (item.pos().x(), item.pos().y())
            for node_id, point in start.items()
            if (item := self.nodes.get(node_id)) is not None and item.pos() != point
        }
        if moved:
            self.document.move_nodes(moved)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        item = self.node_at(event.scenePos())
        if item is not None and event.button() == Qt.MouseButton.LeftButton:
            self.node_activated.emit(item.node_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def cancel_gesture(self) -> bool:
        """Stop a wire being dragged (Escape); True if there was one."""
        if self.connect_drag is None:
            return False
        self._cancel_drag()
        return True

    def _cancel_drag(self) -> None:
        if self.connect_drag is not None:
            drag, self.connect_drag = self.connect_drag, None
            drag.end()

    def schedule_reroute(self, everything: bool = True) -> None:
        """Re-route the wires once the events being handled are done (many moves, one re-routing): all, or those near moved cards."""
        if everything:
            self._moved = None
        if not self._reroute_pending:
            self._reroute_pending = True
            QTimer.singleShot(0, self, self.reroute)

    def reroute(self) -> None:
        """Re-draw the wires around the cards where they now lie: every wire, or after a few moves those whose span a moved card touched."""
        self._reroute_pending = False
        moved, self._moved = self._moved, []
        near = WireIndex(self.nodes.values(), self.edges.values())
        for edge in self.edges.values():
            if moved is None or len(moved) > REROUTE_ALL or _touches(edge, moved):
                edge.update_path(near=near)

    # ----- look -----
    def redraw_all(self) -> None:
        """Repaint every item (after a theme change)."""
        for item in self.nodes.values():
            item.update()
        for edge in self.edges.values():
            edge.update()
        self.update()


def _touches(edge: EdgeItem, spans: list[tuple[float, float]]) -> bool:
    """Whether a wire's drawn extent, left to right, meets any of these spans."""
    rect = edge.sceneBoundingRect()
    return any(left < rect.right() and rect.left() < right for left, right in spans)


def _id_key(node_id: str) -> tuple[int, str]:
    digits = node_id[1:]
    return (
        (int(digits), node_id)
        if node_id[:1] == "n" and digits.isdigit()
        else (1 << 62, node_id)
    )
