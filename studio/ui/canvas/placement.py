"""Where a new layer's card goes: right of the selected card (wired to it when the shapes fit), or at a point, never on another card."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from PySide6.QtCore import QPoint, QPointF, QRectF, QSizeF
from PySide6.QtWidgets import QGraphicsView, QWidget

from studio.graph.catalogue import get_spec
from studio.graph.model import Graph, GraphError, Node
from studio.ui.canvas.add_popup import AddLayerPopup
from studio.ui.canvas.items import MAX_WIDTH, MIN_WIDTH, TITLE_HEIGHT, NodeItem
from studio.ui.canvas.scene import SNAP, GraphScene
from studio.ui.document import Document

GAP_X = 72.0  # between a card and the one added after it: room for the wire and its shape label
GAP_Y = 24.0  # between cards above each other
CLEARANCE = 6.0  # the least room left between two cards
ROWS_TRIED = 6  # above and below the wanted place, before moving a column right
COLUMNS_TRIED = 4


def free_spot(size: QSizeF, wanted: QPointF, cards: Iterable[QRectF], step: QSizeF) -> QPointF:
    """The top-left corner nearest `wanted` at which a card of `size` covers none of `cards`.

    Tried in order: `wanted`, then a step down, a step up, two down, ..., then the same one
    column (`step.width()`) to the right; failing all, below every card.
    """
    cards = list(cards)

    def free(corner: QPointF) -> bool:
        rect = QRectF(corner, size).adjusted(-CLEARANCE, -CLEARANCE, CLEARANCE, CLEARANCE)
        return not any(rect.intersects(card) for card in cards)

    rows = [0] + [k * sign for k in range(1, ROWS_TRIED + 1) for sign in (1, -1)]
    for column in range(COLUMNS_TRIED):
        for row in rows:
            corner = QPointF(wanted.x() + column * step.width(), wanted.y() + row * step.height())
            if free(corner):
                return corner
    bottom = max((card.bottom() for card in cards), default=wanted.y())
    return QPointF(wanted.x(), bottom + 2 * CLEARANCE)


def card_box(graph: Graph, layer_type: str) -> QRectF:
    """The box a new card of this type takes around its position (ports included): as tall as it will be, as wide as any card grows."""
    block = graph.library.get(layer_type) if graph.library is not None else None
    try:
        spec = block.spec() if block is not None else get_spec(layer_type)
    except KeyError:
        return QRectF(0.0, 0.0, MAX_WIDTH, 3 * TITLE_HEIGHT)
    bounds = NodeItem(Node("probe", spec.type, graph.auto_name(spec.type), spec.defaults(), block=block)).boundingRect()
    return QRectF(bounds.topLeft(), QSizeF(max(bounds.width(), MAX_WIDTH + bounds.width() - MIN_WIDTH), bounds.height()))


def _snap(value: float) -> float:
    return round(value / SNAP) * SNAP


class LayerPlacing:
    """Adding layers: dropped, from the palette beside the selection, from the Add Layer popup (mixed into `CanvasView`)."""

    document: Document
    graph_scene: GraphScene
    _add_popup: AddLayerPopup | None = None
    _add_at = QPointF()

    def show_message(self, text: str) -> None:
        raise NotImplementedError

    def visible_center(self) -> QPointF:
        raise NotImplementedError

    def add_layer(self, layer_type: str, scene_pos: QPointF) -> str | None:
        """Add a layer whose title sits under `scene_pos` (a drop: where the user let go), select it; None if refused."""
        position = (_snap(scene_pos.x() - MIN_WIDTH / 2), _snap(scene_pos.y() - TITLE_HEIGHT / 2))
        try:
            node_id = self.document.add_node(layer_type, position)
        except GraphError as err:
            self.show_message(str(err))
            return None
        self.document.select([node_id])
        return node_id

    def add_layer_at_center(self, layer_type: str) -> str:
        """Add a layer in the middle of the view, or the nearest place there free of cards; return its id ('' if refused)."""
        return self.add_layer_near(layer_type, self.visible_center()) or ""

    def open_add_popup(self, scene_pos: QPointF, global_pos: QPoint | None = None) -> AddLayerPopup:
        """Open the Add Layer popup at a point of the canvas (at `global_pos` on the screen if given); the layer picked goes there."""
        if self._add_popup is None:
            self._add_popup = AddLayerPopup(cast(QWidget, self))
            self._add_popup.chosen.connect(lambda layer_type: self.add_layer_near(layer_type, self._add_at))
        self._add_at = QPointF(scene_pos)
        self._add_popup.set_blocks(b for b in self.document.project.blocks if b.name != self.document.graph.owner)
        if global_pos is None:
            view = cast(QGraphicsView, self)
            global_pos = view.viewport().mapToGlobal(view.mapFromScene(scene_pos))
        self._add_popup.open_at(global_pos)
        return self._add_popup

    def _show_added(self, node_id: str) -> None:
        """Select a layer just added and scroll its card into view."""
        self.document.select([node_id])
        item = self.graph_scene.nodes.get(node_id)
        if item is not None:
            cast(QGraphicsView, self).ensureVisible(item.sceneBoundingRect(), 40, 40)

    def _cards(self) -> list[QRectF]:
        return [item.sceneBoundingRect() for item in self.graph_scene.nodes.values()]

    def _place(self, layer_type: str, wanted: QPointF, step_x: float) -> tuple[float, float]:
        """A position near `wanted` (a card's top-left corner) at which the new card covers no other, snapped where that stays true."""
        box = card_box(self.document.graph, layer_type)
        cards = self._cards()
        step = QSizeF(step_x, box.height() + GAP_Y)
        for snapped in (True, False):
            x, y = (_snap(wanted.x()), _snap(wanted.y())) if snapped else (wanted.x(), wanted.y())
            corner = free_spot(box.size(), QPointF(x, y) + box.topLeft(), cards, step) - box.topLeft()
            x, y = (_snap(corner.x()), _snap(corner.y())) if snapped else (corner.x(), corner.y())
            if not any(box.translated(x, y).adjusted(-CLEARANCE, -CLEARANCE, CLEARANCE, CLEARANCE).intersects(c) for c in cards):
                break
        return (x, y)

    def add_layer_near(self, layer_type: str, scene_pos: QPointF) -> str | None:
        """Add a layer with its title under `scene_pos`, or at the nearest place free of cards; select it (None if refused)."""
        wanted = QPointF(scene_pos.x() - MIN_WIDTH / 2, scene_pos.y() - TITLE_HEIGHT / 2)
        position = self._place(layer_type, wanted, MAX_WIDTH + GAP_X)
        try:
            node_id = self.document.add_node(layer_type, position)
        except GraphError as err:
            self.show_message(str(err))
            return None
        self._show_added(node_id)
        return node_id

    def add_layer_beside(self, layer_type: str) -> str | None:
        """Add a layer right of the selected card, wired to it when the shapes fit (else in the middle of the view); select it."""
        selected = [n for n in self.document.selected_ids if n in self.graph_scene.nodes]
        if not selected:
            return self.add_layer_near(layer_type, self.visible_center())
        anchor = selected[-1]
        card = self.graph_scene.nodes[anchor]
        wanted = QPointF(card.pos().x() + card.width + GAP_X, card.pos().y())
        position = self._place(layer_type, wanted, MAX_WIDTH + GAP_X)
        try:
            node_id = self.document.add_after(layer_type, anchor, position)
        except GraphError as err:
            self.show_message(str(err))
            return None
        self._show_added(node_id)
        return node_id
