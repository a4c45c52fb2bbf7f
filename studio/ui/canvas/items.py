"""The canvas's graphics items: a node card with its ports, and a curved edge with its shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from studio.graph.catalogue.base import Shape, show
from studio.graph.model import Edge, Node
from studio.graph.shapes import NodeResult
from studio.graph.wires import (
    GRAZE,
    TURN,
    Box,
    Point,
    curve,
    lane,
    lane_points,
    return_lane,
)
from studio.ui.canvas.figures import figures_tooltip, paint_figures, paint_figures_far
from studio.ui.canvas.inner_picture import InnerPicture
from studio.ui.canvas.style import (
    DETAIL,
    LABEL,
    NAME,
    PORT,
    TITLE,
    CanvasStyle,
    format_count,
    format_shape,
    style,
    summarize_params,
)
from studio.ui.layer_figures import CardFigures

TITLE_HEIGHT = 24.0
LINE_HEIGHT = 17.0
PORT_ROW_HEIGHT = 18.0
PAD_X = 10.0
PAD_TOP = 6.0
PAD_BOTTOM = 8.0
CORNER = 6.0
MIN_WIDTH = 128.0
MAX_WIDTH = 184.0
MAX_TEXT = MAX_WIDTH - 2 * PAD_X - 10
BACKWARD_TURN = 36.0  # how far a backward edge runs past its ends before turning
PORT_RADIUS = 4.5
PORT_HIT_RADIUS = 11.0
MARGIN = 8.0
LANE_REACH = 1200.0  # how far above and below its ends a wire looks for a lane past the cards between them
Near = Callable[["EdgeItem", float, float, float, float], tuple[list[Box], list[tuple[Point, Point]]]]  # a wire and its two ends' x, y
SIMPLE_LOD = 0.4
EDGE_HIT_WIDTH = 12.0
NODE_Z, EDGE_Z, SELECTED_NODE_Z = 2.0, 1.0, 3.0
TOGGLE_WIDTH = 13.0  # a block instance's expand arrow, left of its type
LABEL_PLACES = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8)  # where along a wire its label may sit, best first
LABEL_CLEARANCE = 2.0  # the least room between a wire's label and a card

_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CARD_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
_CARD_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache
_WIRE_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
_NO_PATH, _NO_RECT = QPainterPath(), QRectF()  # shared by every item until it is laid out (never changed in place)
_outlines: dict[tuple[float, float], tuple[QPainterPath, QPainterPath]] = {}
_forms: dict[tuple, tuple[dict[str, QPointF], dict[str, QPointF], QPainterPath, QRectF]] = {}  # `_card_form`s by size and ports


def _outline(width: float, height: float) -> tuple[QPainterPath, QPainterPath]:
    """The card's rounded body and its title strip, shared by every card of that size."""
    found = _outlines.get((width, height))
    if found is None:
        body = QPainterPath()
        body.addRoundedRect(QRectF(0, 0, width, height), CORNER, CORNER)
        band = QPainterPath()
        band.addRect(QRectF(0, 0, width, TITLE_HEIGHT))
        found = _outlines[(width, height)] = (body, body.intersected(band))
    return found


def _card_form(width: float, height: float, inputs: list[str], outputs: list[str]) -> tuple[dict[str, QPointF], dict[str, QPointF], QPainterPath, QRectF]:
    """A card's input and output ports' places, its shape (ports included) and its bounds: the same for every card of that size and ports."""
    name_y = TITLE_HEIGHT + PAD_TOP + LINE_HEIGHT / 2
    rows_top = height - PAD_BOTTOM - max(len(inputs), len(outputs)) * PORT_ROW_HEIGHT
    sides = []
    for names, x in ((inputs, 0.0), (outputs, width)):
        if len(names) == 1:
            sides.append({names[0]: QPointF(x, name_y)})
        else:
            sides.append({n: QPointF(x, rows_top + (i + 0.5) * PORT_ROW_HEIGHT) for i, n in enumerate(names)})
    shape = QPainterPath(_outline(width, height)[0])
    shape.setFillRule(Qt.FillRule.WindingFill)
    for point in (*sides[0].values(), *sides[1].values()):
        shape.addEllipse(point, PORT_HIT_RADIUS, PORT_HIT_RADIUS)
    bounds = QRectF(-PORT_HIT_RADIUS, -MARGIN, width + 2 * PORT_HIT_RADIUS, height + 2 * MARGIN)
    return sides[0], sides[1], shape, bounds


_xy: dict[tuple, tuple[dict[str, Point], dict[str, Point]]] = {}


def _places(width: float, height: float, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> tuple[dict[str, Point], dict[str, Point]]:
    """The ports' places of `_card_form` as numbers, shared likewise."""
    key = (width, height, inputs, outputs)
    found = _xy.get(key)
    if found is None:
        ins, outs = _forms[key][:2]
        found = _xy[key] = ({n: (p.x(), p.y()) for n, p in ins.items()}, {n: (p.x(), p.y()) for n, p in outs.items()})
    return found


class NodeItem(QGraphicsItem):
    """One layer as a card: type strip, name, key settings, parameter count and ports.

    The scene moves the card's edges along when it moves the card (no itemChange hook: that
    would cost a Python call for every change of every item).
    """

    def __init__(self, node: Node, result: NodeResult | None = None, expanded: bool = False) -> None:
        super().__init__()
        self.node_id = node.id
        self.expanded = expanded  # a block instance drawn with its inner layers inside
        self.is_instance = False
        self.picture: InnerPicture | None = None
        self._picture_top = 0.0
        self.edges: dict[Edge, EdgeItem] = {}
        self.inputs: dict[str, QPointF] = {}
        self.outputs: dict[str, QPointF] = {}
        self._input_xy: dict[str, Point] = {}
        self._output_xy: dict[str, Point] = {}
        self.port_marks: dict[str, bool] | None = (
            None  # input port → valid target, while wiring
        )
        self.hot_port: tuple[str, bool] | None = (
            None  # (port, is_output) under the cursor
        )
        self.severity = ""
        self.result: NodeResult | None = None
        self.figures: CardFigures | None = None  # a training run's figures for this card
        self.width = MIN_WIDTH
        self.height = TITLE_HEIGHT
        self.texts: tuple[str, str, str, str] = (
            "",
            "",
            "",
            "",
        )  # title, count, name, settings
        self._category = ""
        self.name = ""
        self._title = ""
        self._labelled_inputs = self._labelled_outputs = False
        self._body = self._strip = self._shape = _NO_PATH
        self._bounds = _NO_RECT
        self._wires_at: dict[tuple[str, bool], int] = {}  # (port, is output): wires there; a port with any is drawn filled
        self.setFlags(_CARD_FLAGS)
        self.setCacheMode(_CARD_CACHE)
        self.setAcceptHoverEvents(True)
        self.setZValue(NODE_Z)
        self.setPos(*node.position)
        self.refresh(node, result)

    # ----- content -----
    def refresh(self, node: Node, result: NodeResult | None) -> None:
        """Re-read the node and its analysis; re-lay the card out only if its size changed."""
        s = style()
        self.result = result
        spec = node.spec
        params = result.params if result is not None else 0
        count = format_count(params) if params else ""
        self.is_instance = node.block is not None
        toggle = TOGGLE_WIDTH if self.is_instance else 0.0
        if count and s.width(TITLE, node.type) + s.width(DETAIL, count) + toggle > MAX_TEXT:
            count = format_count(params, unit=False)  # "33.5k": room for the type name
        summary = summarize_params(node.params, spec.params)
        inputs = [p.name for p in spec.input_ports(node.params)]
        outputs = [p.name for p in spec.output_ports(node.params)]
        self._category = spec.category
        diagnostics = result.diagnostics if result is not None else ()
        severities = {d.severity for d in diagnostics}
        self.severity = (
            "error" if "error" in severities else ("warning" if severities else "")
        )
        self.name = node.name
        self._title = f"{node.name} ({node.type})"
        several_in, several_out = len(inputs) > 1, len(outputs) > 1
        count_width = s.width(DETAIL, count) + 10 if count else 0.0
        ports_width = 16.0
        if several_in:
            ports_width += max(s.width(PORT, p) for p in inputs)
        if several_out:
            ports_width += max(s.width(PORT, p) for p in outputs)
        wanted = max(
            s.width(TITLE, node.type) + count_width + toggle,
            s.width(NAME, node.name),
            s.width(DETAIL, summary),
            ports_width,
        )
        width = min(MAX_WIDTH, max(MIN_WIDTH, float(round(wanted + 2 * PAD_X + 0.5))))
        self.picture = InnerPicture(node.block, node.params, result) if self.expanded and node.block is not None else None
        if self.picture is not None:
            width = max(width, float(round(self.picture.wanted_width(s) + 2 * PAD_X + 0.5)))
        room = width - 2 * PAD_X
        self.texts = (
            s.elided(TITLE, node.type, room - count_width - toggle),
            count,
            s.elided(NAME, node.name, room),
            s.elided(DETAIL, summary, room),
        )
        rows = max(len(inputs) if several_in else 0, len(outputs) if several_out else 0)
        lines = 2 if summary else 1
        height = (
            TITLE_HEIGHT
            + PAD_TOP
            + lines * LINE_HEIGHT
            + rows * PORT_ROW_HEIGHT
            + PAD_BOTTOM
        )
        if self.picture is not None:
            self._picture_top = TITLE_HEIGHT + PAD_TOP + lines * LINE_HEIGHT + PAD_TOP + (LINE_HEIGHT if self.picture.note() else 0.0)
            height += self._picture_top - (TITLE_HEIGHT + PAD_TOP + lines * LINE_HEIGHT) + self.picture.height + PAD_BOTTOM
        if (width, height, tuple(inputs), tuple(outputs)) != (
            self.width,
            self.height,
            tuple(self.inputs),
            tuple(self.outputs),
        ):
            self._lay_out(width, height, inputs, outputs)
        self.update()

    def _lay_out(
        self, width: float, height: float, inputs: list[str], outputs: list[str]
    ) -> None:
        self.prepareGeometryChange()
        self.width, self.height = width, height
        key = (width, height, tuple(inputs), tuple(outputs))  # the ports' places, the shape and bounds follow from these alone
        found = _forms.get(key)
        if found is None:
            found = _forms[key] = _card_form(width, height, inputs, outputs)
        self.inputs, self.outputs, self._shape, self._bounds = found  # shared, never changed in place
        self._input_xy, self._output_xy = _places(width, height, tuple(inputs), tuple(outputs))
        self._labelled_inputs, self._labelled_outputs = len(inputs) > 1, len(outputs) > 1
        self._body, self._strip = _outline(width, height)
        self.follow(route=False)  # a card's size changed: the scene re-routes every wire

    def follow(self, route: bool = True) -> None:
        """Re-draw the edges attached here (after a move or a new layout); `route=False`: plain curves, the scene re-routes them soon."""
        for edge in self.edges.values():
            edge.update_path(route)

    # ----- ports -----
    def port_scene_pos(self, port: str, output: bool) -> QPointF:
        """Where a port's centre lies on the canvas."""
        local = (self.outputs if output else self.inputs).get(port)
        if local is None:  # a port that is gone: anchor at the middle of that side
            local = QPointF(self.width if output else 0.0, self.height / 2)
        return self.pos() + local

    def port_xy(self, port: str, output: bool) -> Point:
        """Where a port's centre lies on the canvas, as numbers (what `port_scene_pos` gives, without making a point)."""
        local = (self._output_xy if output else self._input_xy).get(port)
        if local is None:  # a port that is gone: anchor at the middle of that side
            local = (self.width if output else 0.0, self.height / 2)
        return self.x() + local[0], self.y() + local[1]

    def port_at(
        self, local: QPointF, output: bool | None = None
    ) -> tuple[str, bool] | None:
        """The (port, is_output) within reach of a point in item coordinates, nearest first."""
        best: tuple[float, tuple[str, bool]] | None = None
        for ports, is_output in ((self.inputs, False), (self.outputs, True)):
            if output is not None and is_output != output:
                continue
            for name, point in ports.items():
                d = (point - local).manhattanLength()
                if d <= PORT_HIT_RADIUS * 1.4 and (best is None or d < best[0]):
                    best = (d, (name, is_output))
        return best[1] if best else None

    def attach(self, edge_item: EdgeItem) -> None:
        """Follow an edge that starts or ends here."""
        edge = edge_item.edge
        known = edge in self.edges
        self.edges[edge] = edge_item
        if not known:
            self._mark_connected(edge, 1)

    def detach(self, edge: Edge) -> None:
        """Stop following an edge."""
        if self.edges.pop(edge, None) is not None:
            self._mark_connected(edge, -1)

    def _mark_connected(self, edge: Edge, change: int) -> None:
        """Count the wires at each of the edge's ports here (a count, not a pass over every wire: a layer may take thousands)."""
        ends = ([(edge.src_port, True)] if edge.src == self.node_id else []) + ([(edge.dst_port, False)] if edge.dst == self.node_id else [])
        for end in ends:
            wires = self._wires_at.get(end, 0) + change
            if wires > 0:
                self._wires_at[end] = wires
            else:
                self._wires_at.pop(end, None)
            if (wires > 0) != (wires - change > 0):  # the port's mark changes
                self.update()

    def set_port_marks(self, marks: dict[str, bool] | None) -> None:
        """Show which input ports may take the wire being dragged (None: not wiring)."""
        if marks != self.port_marks:
            self.port_marks = marks
            self.update()

    def set_hot_port(self, port: tuple[str, bool] | None) -> None:
        """Highlight the port under the cursor."""
        if port != self.hot_port:
            self.hot_port = port
            self.update()

    # ----- Qt -----
    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._shape

    def hoverMoveEvent(self, event: Any) -> None:
        port = self.port_at(event.pos())
        self.set_hot_port(port)
        if port is not None:
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.unsetCursor()

    def hoverLeaveEvent(self, event: Any) -> None:
        self.set_hot_port(None)
        self.unsetCursor()

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        s = style()
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(
            painter.worldTransform()
        )
        selected = self.isSelected()
        if lod < SIMPLE_LOD:
            self._paint_simple(painter, s, selected)
            if self.figures is not None:
                paint_figures_far(painter, s, self.figures, self.width, self.height)
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(s.shadow)
        painter.drawPath(self._body.translated(0, 2))
        if selected:
            painter.setPen(s.halo)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(
                QRectF(-1.5, -1.5, self.width + 3, self.height + 3),
                CORNER + 1,
                CORNER + 1,
            )
            painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(s.error_fill if self.severity == "error" else s.fill)
        painter.drawPath(self._body)
        painter.setBrush(s.category_brush(self._category))
        painter.drawPath(self._strip)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(self._border_pen(s, selected))
        painter.drawPath(self._body)
        self._paint_texts(painter, s)
        if self.picture is not None:
            self._paint_picture(painter, s, self.picture)
        if self.figures is not None:
            paint_figures(painter, s, self.figures, self.width, self.height, self.texts[2], TITLE_HEIGHT + PAD_TOP, PAD_X)
        self._paint_ports(painter, s)

    def set_figures(self, figures: CardFigures | None) -> None:
        """Show a training run's figures on the card (None: none); repaints only when they changed."""
        if figures != self.figures:
            self.figures = figures
            self.update()

    def _paint_picture(self, painter: QPainter, s: CanvasStyle, picture: InnerPicture) -> None:
        note = picture.note()
        if note:
            painter.setFont(s.detail_font)
            painter.setPen(s.subtext)
            line = QRectF(PAD_X, self._picture_top - LINE_HEIGHT - 2, self.width - 2 * PAD_X, LINE_HEIGHT)
            painter.drawText(line, _LEFT, note)
        picture.paint(painter, QPointF((self.width - picture.width) / 2, self._picture_top), s)

    def _border_pen(self, s: CanvasStyle, selected: bool) -> QPen:
        if selected:
            return s.selected_border
        if self.severity == "error":
            return s.error_border
        if self.severity == "warning":
            return s.warning_border
        return s.border

    def _paint_simple(self, painter: QPainter, s: CanvasStyle, selected: bool) -> None:
        rect = QRectF(0, 0, self.width, self.height)
        painter.fillRect(rect, s.error_fill if self.severity == "error" else s.fill)
        painter.fillRect(
            QRectF(0, 0, self.width, TITLE_HEIGHT), s.category_brush(self._category)
        )
        if selected:
            painter.setPen(s.simple_selected)
        elif self.severity:
            painter.setPen(
                s.simple_error if self.severity == "error" else s.simple_warning
            )
        else:
            painter.setPen(s.simple_border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)

    def _paint_texts(self, painter: QPainter, s: CanvasStyle) -> None:
        title, count, name, detail = self.texts
        inner = QRectF(PAD_X, 0, self.width - 2 * PAD_X, TITLE_HEIGHT)
        painter.setFont(s.title_font)
        painter.setPen(s.title_text)
        if self.is_instance:
            self._paint_toggle(painter, s)
            inner.setLeft(inner.left() + TOGGLE_WIDTH)
        painter.drawText(inner, _LEFT, title)
        if count:
            painter.setFont(s.detail_font)
            painter.setPen(s.title_subtext)
            painter.drawText(inner, _RIGHT, count)
        line = QRectF(
            PAD_X, TITLE_HEIGHT + PAD_TOP, self.width - 2 * PAD_X, LINE_HEIGHT
        )
        painter.setFont(s.name_font)
        painter.setPen(s.text)
        painter.drawText(line, _LEFT, name)
        if detail:
            painter.setFont(s.detail_font)
            painter.setPen(s.subtext)
            painter.drawText(line.translated(0, LINE_HEIGHT), _LEFT, detail)
        if self._labelled_inputs or self._labelled_outputs:
            painter.setFont(s.port_font)
            half = self.width / 2 - PAD_X
            if self._labelled_inputs:
                for port, point in self.inputs.items():
                    painter.drawText(
                        QRectF(
                            PAD_X,
                            point.y() - PORT_ROW_HEIGHT / 2,
                            half,
                            PORT_ROW_HEIGHT,
                        ),
                        _LEFT,
                        port,
                    )
            if self._labelled_outputs:
                for port, point in self.outputs.items():
                    rect = QRectF(
                        self.width / 2,
                        point.y() - PORT_ROW_HEIGHT / 2,
                        half,
                        PORT_ROW_HEIGHT,
                    )
                    painter.drawText(rect, _RIGHT, port)

    def toggle_rect(self) -> QRectF:
        """Where an instance's expand/collapse arrow sits (in item coordinates)."""
        return QRectF(PAD_X - 4, 0, TOGGLE_WIDTH + 2, TITLE_HEIGHT)

    def _paint_toggle(self, painter: QPainter, s: CanvasStyle) -> None:
        x, y = PAD_X + 1, TITLE_HEIGHT / 2
        arrow = QPainterPath()
        if self.expanded:  # pointing down
            arrow.moveTo(x, y - 2.5)
            arrow.lineTo(x + 8, y - 2.5)
            arrow.lineTo(x + 4, y + 3)
        else:  # pointing right
            arrow.moveTo(x + 1.5, y - 4)
            arrow.lineTo(x + 7, y)
            arrow.lineTo(x + 1.5, y + 4)
        arrow.closeSubpath()
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(s.title_text.color())
        painter.drawPath(arrow)
        painter.restore()

    def _paint_ports(self, painter: QPainter, s: CanvasStyle) -> None:
        marks = self.port_marks
        for ports, output in ((self.inputs, False), (self.outputs, True)):
            for port, point in ports.items():
                radius = PORT_RADIUS
                ring = s.port_out_ring if output else s.port_in_ring
                dimmed = marks is not None and (output or not marks.get(port))
                if marks is not None and not dimmed:
                    ring = s.port_target
                    radius += 1.5
                if self.hot_port == (port, output):
                    radius += 1.5
                if (port, output) in self._wires_at or radius > PORT_RADIUS:
                    brush = s.port_out if output else s.port_in
                else:
                    brush = s.fill
                painter.setOpacity(0.3 if dimmed else 1.0)
                painter.setPen(ring)
                painter.setBrush(brush)
                painter.drawEllipse(point, radius, radius)
        painter.setOpacity(1.0)

    def tooltip(self) -> str:
        """What hovering the card tells: name and type, output shapes, parameters, diagnostics."""
        text = tooltip_text(self._title, self.result)
        return text if self.figures is None else f"{text}\n{figures_tooltip(self.figures)}"


def tooltip_text(title: str, result: NodeResult | None) -> str:
    """A node's title followed by what its analysis found."""
    lines = [title]
    if result is not None:
        if result.outputs:
            for port, shape in result.outputs.items():
                lines.append(
                    f"{port}: {show(shape)}"
                    if len(result.outputs) > 1
                    else f"output {show(shape)}"
                )
        if result.params:
            lines.append(f"{result.params:,} parameters")
        for diag in result.diagnostics:
            lines.append(
                ("Error: " if diag.severity == "error" else "Warning: ") + diag.text
            )
    return "\n".join(lines)


# ----- the edge -----
class EdgeItem(QGraphicsItem):
    """A tensor flowing from an output port to an input port, as a curve labelled with its shape."""

    def __init__(
        self, edge: Edge, source: NodeItem, target: NodeItem, shape: Shape | None = None, drawn: bool = True
    ) -> None:
        """`drawn=False`: no path yet (the scene draws it once the item is in the scene, where it can see the cards)."""
        super().__init__()
        self.edge = edge
        self.source = source
        self.target = target
        self.label = format_shape(shape)  # the text, even where the label is left out
        self._path = _NO_PATH
        self._shape: QPainterPath | None = None
        self._label_rect = self._bounds = _NO_RECT
        self.setFlags(_WIRE_FLAGS)
        self.setZValue(EDGE_Z)
        if drawn:
            self.update_path()

    def set_shape(self, shape: Shape | None, route: bool = True) -> bool:
        """Label the edge with the tensor shape flowing on it (None: not known); True if the label changed.

        `route=False`: drawn plainly for now, the caller re-routes it (many labels at once are routed from the scene's grid).
        """
        label = format_shape(shape)
        if label == self.label:
            return False
        self.label = label
        self.update_path(route)
        return True

    def update_path(self, route: bool = True, near: Near | None = None) -> None:
        """Re-draw the curve between the current positions of the two ports, round the cards in its way where `route`.

        `near` gives the cards and other wires' ends near a wire (the scene's index when it
        re-routes every wire); by default the scene is asked.
        """
        x0, y0 = self.source.port_xy(self.edge.src_port, True)
        x3, y3 = self.target.port_xy(self.edge.dst_port, False)
        self.prepareGeometryChange()
        around = (near or EdgeItem._around)(self, x0, y0, x3, y3) if route else ([], [])
        self._path, mx, my = wire_path(x0, y0, x3, y3, *around)
        self._shape = None
        bounds = self._path.controlPointRect()
        self._label_rect = self._place_label(mx, my, around[0], getattr(near, "has_card", None), ask_scene=route) if self.label else _NO_RECT
        if not self._label_rect.isNull():
            bounds = bounds.united(self._label_rect)
        self._bounds = bounds.adjusted(-3, -3, 3, 3)

    def _place_label(
        self, mx: float, my: float, cards: list[Box], has_card: Callable[[float, float, float, float], bool] | None = None, ask_scene: bool = True
    ) -> QRectF:
        """Where the shape label sits: on the wire's middle, else further along it, clear of every card; null where no place is clear (the tooltip still tells the shape).

        `has_card` (the scene's index of cards, when every wire is re-routed) answers for the scene, which would re-index each wire as it moves;
        `ask_scene=False` (a card being moved: the scene re-routes its wires right after) looks only at `cards` and the wire's own two.
        """
        s = style()
        width, height = s.width(LABEL, self.label) + 10, s.label_metrics.height() + 4
        if has_card is not None:  # it answers for every card, the wire's own two included
            for percent in LABEL_PLACES:
                if percent == 0.5:
                    x, y = mx - width / 2, my - height / 2
                else:
                    at = self._path.pointAtPercent(percent)
                    x, y = at.x() - width / 2, at.y() - height / 2
                if not has_card(x - LABEL_CLEARANCE, y - LABEL_CLEARANCE, x + width + LABEL_CLEARANCE, y + height + LABEL_CLEARANCE):
                    return QRectF(x, y, width, height)
            return _NO_RECT
        boxes = [QRectF(QPointF(x0, y0), QPointF(x1, y1)) for x0, y0, x1, y1 in cards]
        boxes += [QRectF(n.x(), n.y(), n.width, n.height) for n in (self.source, self.target)]
        scene = self.scene()
        for percent in LABEL_PLACES:
            at = QPointF(mx, my) if percent == 0.5 else self._path.pointAtPercent(percent)
            x, y = at.x() - width / 2, at.y() - height / 2
            clear = QRectF(x - LABEL_CLEARANCE, y - LABEL_CLEARANCE, width + 2 * LABEL_CLEARANCE, height + 2 * LABEL_CLEARANCE)
            if any(box.intersects(clear) for box in boxes):
                continue
            if ask_scene and scene is not None and any(isinstance(i, NodeItem) for i in scene.items(clear)):
                continue
            return QRectF(x, y, width, height)
        return _NO_RECT

    def path(self) -> QPainterPath:
        """The wire as drawn."""
        return self._path

    def _around(self, x0: float, y0: float, x3: float, y3: float) -> tuple[list[Box], list[tuple[Point, Point]]]:
        """The cards (not its own two) a wire from (x0, y0) to (x3, y3) could pass over, and, for a wire wrapping back, the other wires' ends near it."""
        start, end = QPointF(x0, y0), QPointF(x3, y3)
        scene = self.scene()
        if scene is None or abs(end.x() - start.x()) < 2 * TURN:
            return [], []
        low, high = sorted((start.y(), end.y()))
        back = end.x() < start.x()
        if not back:  # the plain curve stays inside its ends' box: nothing there, nothing to go round
            box = QRectF(QPointF(start.x(), low - GRAZE), QPointF(end.x(), high + GRAZE))
            if not any(isinstance(i, NodeItem) and i is not self.source and i is not self.target for i in scene.items(box)):
                return [], []
        if back:  # the cards between its two ends' heights, a turn's room beyond
            area = QRectF(QPointF(end.x() - 2 * BACKWARD_TURN, low), QPointF(start.x() + 2 * BACKWARD_TURN, high))
        else:
            area = QRectF(QPointF(start.x(), low - LANE_REACH), QPointF(end.x(), high + LANE_REACH))
        cards, others = [], []
        for item in scene.items(area):
            if isinstance(item, NodeItem) and item is not self.source and item is not self.target:
                cards.append((item.x(), item.y(), item.x() + item.width, item.y() + item.height))
            elif back and isinstance(item, EdgeItem) and item is not self:
                others.append((item.source.port_xy(item.edge.src_port, True), item.target.port_xy(item.edge.dst_port, False)))
        return cards, others

    def tooltip(self) -> str:
        """What hovering the edge tells: the tensor shape, or that it is not known."""
        shape = self.label or "shape not known yet"
        return f"{self.source.name} → {self.target.name}.{self.edge.dst_port}: {shape}"

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(EDGE_HIT_WIDTH)
            self._shape = stroker.createStroke(self._path)
            if not self._label_rect.isNull():
                self._shape.addRect(self._label_rect)
        return self._shape

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        s = style()
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(
            painter.worldTransform()
        )
        selected = self.isSelected()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if lod < SIMPLE_LOD:
            painter.setPen(s.edge_selected if selected else s.edge_simple)
            painter.drawPath(self._path)
            return
        painter.setPen(
            s.edge_selected if selected else (s.edge if self.label else s.edge_unknown)
        )
        painter.drawPath(self._path)
        if not self._label_rect.isNull():
            painter.setPen(s.edge_selected if selected else s.label_border)
            painter.setBrush(s.label_fill)
            radius = self._label_rect.height() / 2
            painter.drawRoundedRect(self._label_rect, radius, radius)
            painter.setFont(s.label_font)
            painter.setPen(s.label_text)
            painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.label)


def bezier(start: QPointF, end: QPointF, cards: list[Box] | None = None, others: list[tuple[Point, Point]] | None = None) -> tuple[QPainterPath, QPointF]:
    """A horizontal-tangent cubic from an output port to an input port, and its midpoint; past `cards` along a lane beside them (see `wire_path`)."""
    path, mx, my = wire_path(start.x(), start.y(), end.x(), end.y(), cards, others)
    return path, QPointF(mx, my)


def wire_path(x0: float, y0: float, x3: float, y3: float, cards: list[Box] | None = None, others: list[tuple[Point, Point]] | None = None) -> tuple[QPainterPath, float, float]:
    """The wire from (x0, y0) to (x3, y3) and its midpoint: a horizontal-tangent cubic, past `cards` along a lane beside them.

    A backward edge (the target lies to the left, as when Arrange wraps a long network into
    bands) runs out to the right, back along the level that clears the `cards` and crosses the
    fewest `others` (nearest the middle between its ends), and into the target from the left,
    like a line of text wrapping; its label sits on the way back.
    """
    path = QPainterPath()
    path.moveTo(x0, y0)
    if x3 < x0 - BACKWARD_TURN:
        turn = BACKWARD_TURN
        mid = return_lane((x0, y0), (x3, y3), cards or [], 2 * turn, others or [])
        path.cubicTo(x0 + 2 * turn, y0, x0 + 2 * turn, mid, x0 + turn, mid)
        path.lineTo(x3 - turn, mid)
        path.cubicTo(x3 - 2 * turn, mid, x3 - 2 * turn, y3, x3, y3)
        return path, (x0 + x3) / 2, mid
    y = lane((x0, y0), (x3, y3), cards) if cards else None
    if y is not None:  # turn into the lane, run along it, turn out: studio.graph.wires
        (xa, _), (xb, _) = lane_points((x0, y0), (x3, y3), y)
        path.cubicTo(x0 + TURN / 2, y0, x0 + TURN / 2, y, xa, y)
        path.lineTo(xb, y)
        path.cubicTo(x3 - TURN / 2, y, x3 - TURN / 2, y3, x3, y3)
        return path, (xa + xb) / 2, y
    _, (x1, y1), (x2, y2), _ = curve((x0, y0), (x3, y3))
    path.cubicTo(x1, y1, x2, y2, x3, y3)
    # B(1/2) = (P0 + 3 P1 + 3 P2 + P3) / 8, and here P1, P2 are P0, P3 shifted by ±reach
    return path, (x0 + x3) / 2, (y0 + y3) / 2
