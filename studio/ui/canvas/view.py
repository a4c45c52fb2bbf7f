"""The node-graph canvas widget: zoom, pan, grid, drops from the palette, clipboard and menus."""

from __future__ import annotations

import math

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFocusEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPen,
    QShowEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGraphicsView,
    QLabel,
    QMenu,
    QWidget,
)

from studio.graph.bulk import collector_paused
from studio.graph.layout import Step, layered_layout
from studio.graph.model import Graph, GraphError, Position
from studio.ui.canvas.block_actions import BlockActions
from studio.ui.canvas.block_actions import menu_action as _action
from studio.ui.canvas.hint import EmptyHint
from studio.ui.canvas.items import EdgeItem, NodeItem
from studio.ui.canvas.placement import LayerPlacing
from studio.ui.canvas.scene import SNAP, GraphScene
from studio.ui.canvas.style import refresh_style
from studio.ui.document import Document, FragmentError, read_fragment
from studio.ui.mime import FRAGMENT_MIME, LAYER_MIME, LIBRARY_MIME
from studio.ui.progress import QUICK_MS, Outcome, run_cancellable
from studio.ui.theme import current_theme

MIN_ZOOM, MAX_ZOOM = 0.05, 4.0
GRID = 20.0
MAJOR_EVERY = 5
MIN_GRID_PIXELS = 9.0
PASTE_STEP = 40.0
TOAST_MS = 4000
# Arrange never zooms out past this (names stay readable; the view scrolls instead), and wraps a
# network into bands one view wide at this zoom, else WRAP_SCREENS views, where its cuts fall between blocks
READABLE_ZOOM = 0.8
WRAP_SCREENS = 6
WRAP_TRY_NODES = 200  # past this, bands one view wide would be too many to read
ARRANGE_IN_BACKGROUND = 1000  # from this many layers, Arrange lays out in a worker thread that Cancel can stop


def arranged_positions(graph: Graph, width: float, step: Step | None = None) -> dict[str, Position]:
    """Arrange's positions for a view `width` scene units wide: wrapped into bands read like text one view wide, else WRAP_SCREENS views
    wide, whichever first cuts only between blocks (one wire crossing each cut); else not wrapped (the view scrolls along).

    Touches no Qt object, so it may run in a worker thread; `step` hears the layout's steps and may raise to stop it.
    """
    for limit in [width] * (len(graph.nodes) <= WRAP_TRY_NODES) + [WRAP_SCREENS * width]:
        positions, band = layered_layout(graph, limit, step=step)
        if sum(1 for e in graph.edges if band[e.src] != band[e.dst]) <= max(band.values(), default=0):
            return positions
    return layered_layout(graph, step=step)[0]


class CanvasView(BlockActions, LayerPlacing, QGraphicsView):
    """Shows the document's graph as nodes and wires and turns mouse gestures into edits."""

    edit_refused = Signal(str)  # why an edit was not made, for the status bar
    node_activated = Signal(str)  # a node was double-clicked: show it in the inspector
    library_dropped = Signal(str, QPointF)  # a library block's key, dropped at this scene point
    save_to_library_requested = Signal(str)  # a block's name, from an instance's menu
    examples_requested = Signal()  # the empty canvas's Open an Example button

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.document = document
        self.graph_scene = GraphScene(document, self)
        self.setScene(self.graph_scene)
        self.setRenderHints(
            QPainter.RenderHint.Antialiasing
            | QPainter.RenderHint.TextAntialiasing
            | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(
            QGraphicsView.OptimizationFlag.DontSavePainterState, True
        )
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space_held = False
        self._fitted = False
        self._fit_pending = False
        self._paste_text = ""
        self._paste_count = 0
        self._toast = _Toast(self)
        self.hint = EmptyHint(document, self.viewport())
        self.hint.examples_requested.connect(self.examples_requested)
        self._grid_pens = (QPen(), QPen())
        self._canvas_color = QColor()
        self.apply_theme()
        self.graph_scene.edit_refused.connect(self.show_message)
        self.graph_scene.node_activated.connect(self._on_activated)
        self.graph_scene.rebuilt.connect(self._on_rebuilt)
        self._places: dict[tuple, tuple[float, QPointF]] = {}  # each level's zoom and centre, to come back to
        self._level_key: tuple = ()
        document.level_changed.connect(self._remember_place)
        document.reset.connect(self._places.clear)
        document.focus_requested.connect(self.center_on_node)

    # ----- levels -----
    def _on_activated(self, node_id: str) -> None:
        """A double-click opens a block instance; any node is shown in the inspector."""
        if node_id in self.document.graph and self.document.graph.node(node_id).block is not None:
            self.document.open_instance(node_id)
        else:
            self.node_activated.emit(node_id)

    def _remember_place(self) -> None:
        if self._fitted and not self._fit_pending:
            self._places[self._level_key] = (self.zoom(), self.visible_center())
        self._level_key = tuple(self.document.levels)

    def _on_rebuilt(self) -> None:
        """Show a level where it was left, or the whole of it the first time."""
        place = self._places.get(tuple(self.document.levels))
        if place is None:
            self.fit_to_view()
            return
        self.set_zoom(place[0])
        self.centerOn(place[1])

    # ----- zoom and pan -----
    def zoom(self) -> float:
        """The current scale (1.0: one scene unit per pixel)."""
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Scale to `zoom` (clamped), keeping the viewport point `anchor` (default: centre) still."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        self._fit_pending = False
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        fixed = self.mapToScene(anchor.toPoint())
        self.setTransform(QTransform.fromScale(zoom, zoom))
        moved = self.mapFromScene(fixed)
        delta = moved - anchor.toPoint()
        self._scroll_by(delta.x(), delta.y())

    def zoom_by(self, factor: float) -> None:
        """Zoom in (factor > 1) or out around the middle of the view."""
        self.set_zoom(self.zoom() * factor)

    def fit_to_view(self) -> None:
        """Zoom and scroll so that the whole graph is visible (at most at 100 %)."""
        self._fit_pending = False
        rect = QRectF()
        for item in self.graph_scene.nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        for edge_item in self.graph_scene.edges.values():  # wrapped edges run past the nodes
            rect = rect.united(edge_item.sceneBoundingRect())
        if rect.isEmpty():
            self.setTransform(QTransform())
            self.centerOn(0.0, 0.0)
            return
        rect.adjust(-60, -60, 60, 60)
        view = self.viewport().rect()
        zoom = min(view.width() / rect.width(), view.height() / rect.height(), 1.0)
        self.setTransform(
            QTransform.fromScale(max(zoom, MIN_ZOOM), max(zoom, MIN_ZOOM))
        )
        self.centerOn(rect.center())

    def center_on_node(self, node_id: str) -> None:
        """Scroll a node into the middle of the view (zooming in if it would be too small to read)."""
        item = self.graph_scene.nodes.get(node_id)
        if item is None:
            return
        self._fit_pending = False
        if self.zoom() < 0.6:
            self.setTransform(QTransform())
        self.centerOn(item.sceneBoundingRect().center())

    def visible_center(self) -> QPointF:
        """The scene point in the middle of the viewport."""
        return self.mapToScene(self.viewport().rect().center())

    def _scroll_by(self, dx: float, dy: float) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def wheelEvent(self, event: QWheelEvent) -> None:
        angle = event.angleDelta().y()
        if angle == 0:
            event.ignore()
            return
        self.set_zoom(self.zoom() * math.pow(1.0015, angle), event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            point = event.position().toPoint()
            delta = point - self._pan_from
            self._pan_from = point
            self._scroll_by(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)
        if not self.rubberBandRect().isNull():  # a rubber band selects nodes, not wires
            self.graph_scene.deselect_edges()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            if self._space_held:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)
        event.accept()  # a release ends whatever gesture the press began, here or in the scene

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selection()
        elif key == Qt.Key.Key_Escape:
            if not self.graph_scene.cancel_gesture() and not self.go_up():
                self.graph_scene.select_items([])
        elif event.matches(QKeySequence.StandardKey.SelectAll):
            self.select_all()
        elif event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
        elif event.matches(QKeySequence.StandardKey.Paste):
            self.paste()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._pan_from is None:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self._space_held = False
        super().focusOutEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = self._fit_pending = True
            QTimer.singleShot(0, self, self._first_fit)

    def _first_fit(self) -> None:
        if self._fit_pending:  # unless someone placed the view meanwhile
            self.fit_to_view()

    # ----- the grid -----
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, self._canvas_color)
        step = GRID
        while step * self.zoom() < MIN_GRID_PIXELS:
            step *= MAJOR_EVERY
        major = step * MAJOR_EVERY
        for spacing, pen in ((step, self._grid_pens[0]), (major, self._grid_pens[1])):
            painter.setPen(pen)
            left = math.floor(rect.left() / spacing) * spacing
            top = math.floor(rect.top() / spacing) * spacing
            xs = [
                left + i * spacing
                for i in range(int((rect.right() - left) / spacing) + 1)
            ]
            ys = [
                top + i * spacing
                for i in range(int((rect.bottom() - top) / spacing) + 1)
            ]
            if spacing == step:  # minor lines: leave out the ones the major lines cover
                xs = [x for x in xs if round(x / spacing) % MAJOR_EVERY]
                ys = [y for y in ys if round(y / spacing) % MAJOR_EVERY]
            for x in xs:
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            for y in ys:
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))

    def apply_theme(self) -> None:
        """Redraw everything with the current theme's colours."""
        theme = current_theme()
        refresh_style()
        minor, major = QPen(theme.grid_minor, 0), QPen(theme.grid_major, 0)
        self._grid_pens = (minor, major)
        self._canvas_color = theme.canvas
        self._toast.apply_theme()
        self.hint.apply_theme()
        self.graph_scene.redraw_all()
        self.resetCachedContent()
        self.viewport().update()

    # ----- drops -----
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(LAYER_MIME) or event.mimeData().hasFormat(LIBRARY_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(LAYER_MIME) or event.mimeData().hasFormat(LIBRARY_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(LIBRARY_MIME):
            key = bytes(mime.data(LIBRARY_MIME).data()).decode("utf-8", "replace")
            self.library_dropped.emit(key, self.mapToScene(event.position().toPoint()))
            self.setFocus()
            event.acceptProposedAction()
            return
        if not mime.hasFormat(LAYER_MIME):
            super().dropEvent(event)
            return
        layer_type = (
            bytes(mime.data(LAYER_MIME).data()).decode("utf-8", "replace").strip()
        )
        self.add_layer(layer_type, self.mapToScene(event.position().toPoint()))
        self.setFocus()
        event.acceptProposedAction()

    # ----- editing the selection -----
    def select_all(self) -> None:
        """Select every node."""
        self.graph_scene.select_items(self.graph_scene.nodes)

    def delete_selection(self) -> None:
        """Delete the selected nodes and connections as one undoable step."""
        nodes = self.graph_scene.selected_node_ids()
        gone = set(nodes)
        edges = [
            e
            for e in self.graph_scene.selected_edges()
            if e.src not in gone and e.dst not in gone
        ]
        if not nodes and not edges:
            return
        try:
            self.document.check_removable(nodes)
        except GraphError as err:
            self.show_message(str(err))
            return
        stack = self.document.undo_stack
        stack.beginMacro(_delete_text(len(nodes), len(edges)))
        try:
            for edge in edges:
                self.document.disconnect(edge)
            self.document.remove_nodes(nodes)
        except GraphError as err:
            self.show_message(str(err))
        finally:
            stack.endMacro()

    def copy_selection(self) -> bool:
        """Put the selected nodes (and the edges among them) on the clipboard; False if none."""
        ids = self.graph_scene.selected_node_ids()
        if not ids:
            return False
        text = self.document.copy_fragment(ids)
        mime = QMimeData()
        mime.setData(FRAGMENT_MIME, text.encode("utf-8"))
        mime.setText(text)
        QApplication.clipboard().setMimeData(mime)
        return True

    def paste(self, at: QPointF | None = None) -> list[str]:
        """Add the layers on the clipboard (at a scene point, else beside the originals)."""
        mime = QApplication.clipboard().mimeData()
        if mime is None:
            return []
        if mime.hasFormat(FRAGMENT_MIME):
            text = bytes(mime.data(FRAGMENT_MIME).data()).decode("utf-8", "replace")
        else:
            text = mime.text()
        try:
            nodes, _ = read_fragment(text)
            if not nodes:
                return []
            if at is not None:
                left = min(n["position"][0] for n in nodes)
                top = min(n["position"][1] for n in nodes)
                offset = _snapped(at.x() - left, at.y() - top)
            else:
                self._paste_count = (
                    self._paste_count + 1 if text == self._paste_text else 1
                )
                self._paste_text = text
                offset = (
                    PASTE_STEP * self._paste_count,
                    PASTE_STEP * self._paste_count,
                )
            return self.document.paste_fragment(text, offset)
        except (FragmentError, GraphError) as err:
            self.show_message(str(err))
            return []

    def duplicate_selection(self) -> list[str]:
        """Copy the selected nodes beside themselves, leaving the clipboard alone."""
        ids = self.graph_scene.selected_node_ids()
        if not ids:
            return []
        try:
            return self.document.paste_fragment(
                self.document.copy_fragment(ids), (PASTE_STEP, PASTE_STEP)
            )
        except (FragmentError, GraphError) as err:
            self.show_message(str(err))
            return []

    def arrange(self) -> bool:
        """Lay the graph out (one undoable step), wrapping only a very long one; show it whole, or its start at a readable zoom.

        A large graph is laid out in a worker thread behind a progress dialog (shown once it takes
        `QUICK_MS`) whose Cancel leaves every card where it was and the history as it was; False then.
        """
        graph, width = self.document.graph, max(self.viewport().width(), 400) / READABLE_ZOOM
        with collector_paused():
            if len(graph) < ARRANGE_IN_BACKGROUND:
                outcome = Outcome(arranged_positions(graph, width))
            else:
                outcome = run_cancellable(
                    self.window(), "Arrange", f"Laying out {len(graph):,} layers…", lambda cancel: arranged_positions(graph, width, cancel.step), QUICK_MS
                )
            if outcome.cancelled:
                self.show_message("Arrange stopped: every layer stays where it was")
                return False
            if outcome.error is not None:
                raise outcome.error
            self.document.move_nodes(outcome.result, "Arrange")  # type: ignore[arg-type]
        self.fit_to_view()
        if self.transform().m11() < READABLE_ZOOM:
            self.setTransform(QTransform.fromScale(READABLE_ZOOM, READABLE_ZOOM))
            left = min(item.sceneBoundingRect().left() for item in self.graph_scene.nodes.values())
            top = min(item.sceneBoundingRect().top() for item in self.graph_scene.nodes.values())
            view = self.viewport().rect()
            self.centerOn(left - 40 + view.width() / (2 * READABLE_ZOOM), top - 40 + view.height() / (2 * READABLE_ZOOM))
        return True

    # ----- menus and messages -----
    def context_menu(self, scene_pos: QPointF) -> QMenu:
        """The menu for a right-click at a scene point: node, connection or empty canvas."""
        menu = QMenu(self)
        item = self.graph_scene.node_at(scene_pos)
        edge = None
        if item is None:
            edge = next(
                (
                    i
                    for i in self.graph_scene.items(scene_pos)
                    if isinstance(i, EdgeItem)
                ),
                None,
            )
        if isinstance(item, NodeItem):
            if not item.isSelected():
                self.graph_scene.select_items([item.node_id])
            _action(menu, "Duplicate", self.duplicate_selection, QKeySequence("Ctrl+D"))
            _action(menu, "Copy", self.copy_selection, QKeySequence.StandardKey.Copy)
            menu.addSeparator()
            _action(menu, "Group into Block…", self.group_selection, QKeySequence("Ctrl+G"))
            if self.document.graph.node(item.node_id).block is not None:
                self.add_block_entries(menu, item.node_id)
            menu.addSeparator()
            _action(
                menu, "Delete", self.delete_selection, QKeySequence.StandardKey.Delete
            )
        elif edge is not None:
            self.graph_scene.select_items([], [edge.edge])
            _action(
                menu,
                "Delete connection",
                self.delete_selection,
                QKeySequence.StandardKey.Delete,
            )
        else:
            _action(menu, "Add layer…", lambda: self.open_add_popup(scene_pos))
            menu.addSeparator()
            paste = _action(
                menu,
                "Paste",
                lambda: self.paste(scene_pos),
                QKeySequence.StandardKey.Paste,
            )
            paste.setEnabled(_clipboard_has_fragment())
            _action(
                menu, "Select all", self.select_all, QKeySequence.StandardKey.SelectAll
            )
            menu.addSeparator()
            _action(menu, "Arrange", self.arrange)
            _action(menu, "Fit to view", self.fit_to_view)
            if self.document.levels:
                menu.addSeparator()
                _action(menu, "Go Up", self.go_up, QKeySequence(Qt.Key.Key_Escape))
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = self.context_menu(self.mapToScene(event.pos()))
        menu.exec(event.globalPos())
        menu.deleteLater()
        event.accept()

    def show_message(self, text: str) -> None:
        """Tell the user why an edit was not made (a note on the canvas and `edit_refused`)."""
        self._toast.show_text(text)
        self.edit_refused.emit(text)


class _Toast(QLabel):
    """A short note at the bottom of the canvas that fades away by itself."""

    def __init__(self, view: CanvasView) -> None:
        super().__init__(view)
        self.setObjectName("canvasToast")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)

    def apply_theme(self) -> None:
        t = current_theme()
        self.setStyleSheet(
            f"QLabel#canvasToast {{ background: {t.node_fill.name()}; color: {t.node_text.name()};"
            f" border: 1px solid {t.error.name()}; border-radius: 6px; padding: 6px 12px; }}"
        )

    def show_text(self, text: str) -> None:
        self.setText(text)
        parent = self.parentWidget()
        width = min(520, max(160, parent.width() - 40))
        self.setFixedWidth(width)
        self.adjustSize()
        self.move((parent.width() - width) // 2, parent.height() - self.height() - 16)
        self.show()
        self.raise_()
        self._timer.start(TOAST_MS)


def _snapped(x: float, y: float) -> Position:
    return (round(x / SNAP) * SNAP, round(y / SNAP) * SNAP)


def _clipboard_has_fragment() -> bool:
    mime = QApplication.clipboard().mimeData()
    return mime is not None and (
        mime.hasFormat(FRAGMENT_MIME) or mime.text().startswith("{")
    )


def _delete_text(nodes: int, edges: int) -> str:
    parts = []
    if nodes:
        parts.append(f"{nodes} layer" + ("s" if nodes > 1 else ""))
    if edges:
        parts.append(f"{edges} connection" + ("s" if edges > 1 else ""))
    return "Delete " + " and ".join(parts)
