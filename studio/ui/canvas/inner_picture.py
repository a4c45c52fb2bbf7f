"""An expanded instance's inside, drawn read-only within its card: the inner layers as small cards in columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath

from studio.graph.blocks import Block
from studio.graph.model import Graph
from studio.graph.shapes import NodeResult
from studio.ui.canvas.style import NAME, PORT, CanvasStyle, format_shape

CARD_W, CARD_H = 108.0, 34.0
GAP_X, GAP_Y = 22.0, 10.0
STRIP = 4.0
MARGIN = 14.0  # room at the sides for wires from the instance's inputs and to its outputs
ENDS = ("Input", "Output")


@dataclass(frozen=True)
class MiniCard:
    """One inner layer as drawn: where, its name, its output shape, its category and whether it fails."""

    node_id: str
    rect: QRectF
    name: str
    shape: str
    category: str
    error: bool


class InnerPicture:
    """The layers an instance runs (its first repeat, switched-off layers left out), laid out left to right."""

    def __init__(self, block: Block, params: dict[str, Any], result: NodeResult | None) -> None:
        try:
            graph = block.resolved(params)
        except Exception:  # noqa: BLE001 - a picture must never break the canvas
            graph = block.graph
        inner = result.inner[0] if result is not None and result.inner else {}
        self.repeat = int(params.get("repeat", 1))
        self.switched_off = len(block.graph) - len(graph)
        columns = _columns(graph)
        self.cards: dict[str, MiniCard] = {}
        heights = [len(ids) for ids in columns] or [0]
        tallest = max(heights)
        self.width = max(1, len(columns)) * (CARD_W + GAP_X) - GAP_X + 2 * MARGIN
        self.height = max(1, tallest) * (CARD_H + GAP_Y) - GAP_Y
        for col, ids in enumerate(columns):
            top = (tallest - len(ids)) * (CARD_H + GAP_Y) / 2
            for row, node_id in enumerate(ids):
                node = graph.nodes[node_id]
                found = inner.get(node_id)
                outputs = found.outputs if found is not None and found.outputs else {}
                shape = format_shape(next(iter(outputs.values()))) if len(outputs) == 1 else ""
                rect = QRectF(MARGIN + col * (CARD_W + GAP_X), top + row * (CARD_H + GAP_Y), CARD_W, CARD_H)
                error = found is not None and any(d.severity == "error" for d in found.diagnostics)
                self.cards[node_id] = MiniCard(node_id, rect, node.name, shape, node.spec.category, error)
        self.wires = self._wires(graph)

    def _wires(self, graph: Graph) -> list[tuple[QPointF, QPointF]]:
        wires = []
        for edge in graph.edges:
            src, dst = self.cards.get(edge.src), self.cards.get(edge.dst)
            start = QPointF(src.rect.right(), src.rect.center().y()) if src else None
            end = QPointF(dst.rect.left(), dst.rect.center().y()) if dst else None
            if start is None and end is not None and graph.nodes[edge.src].type == "Input":
                start = QPointF(0.0, end.y())
            if end is None and start is not None and graph.nodes[edge.dst].type == "Output":
                end = QPointF(self.width, start.y())
            if start is not None and end is not None:
                wires.append((start, end))
        return wires

    def note(self) -> str:
        """What the picture leaves out: the other repeats and the layers switched off."""
        parts = []
        if self.repeat > 1:
            parts.append(f"repeat 1 of {self.repeat}")
        if self.switched_off:
            parts.append(f"{self.switched_off} layer{'s' if self.switched_off > 1 else ''} switched off")
        return ", ".join(parts)

    def paint(self, painter: QPainter, origin: QPointF, s: CanvasStyle) -> None:
        """Draw the wires and the small cards with their top-left corner at `origin`."""
        painter.save()
        painter.translate(origin)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(s.edge)
        for start, end in self.wires:
            path = QPainterPath(start)
            bend = max(12.0, (end.x() - start.x()) / 2)
            path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
            painter.drawPath(path)
        for card in self.cards.values():
            painter.setPen(s.error_border if card.error else s.border)
            painter.setBrush(s.error_fill if card.error else s.fill)
            painter.drawRoundedRect(card.rect, 4, 4)
            painter.fillRect(QRectF(card.rect.left() + 1, card.rect.top() + 1, STRIP, card.rect.height() - 2), s.category_brush(card.category))
            text = card.rect.adjusted(STRIP + 5, 2, -4, -2)
            painter.setFont(s.port_font)
            painter.setPen(s.text)
            half = text.height() / 2
            painter.drawText(QRectF(text.left(), text.top(), text.width(), half), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, s.elided(PORT, card.name, text.width()))
            painter.setPen(s.subtext)
            painter.drawText(QRectF(text.left(), text.top() + half, text.width(), half), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, s.elided(PORT, card.shape, text.width()))
        painter.restore()

    def wanted_width(self, s: CanvasStyle) -> float:
        """The picture's width, or the note's if wider."""
        note = self.note()
        return max(self.width, s.width(NAME, note) if note else 0.0)


def _columns(graph: Graph) -> list[list[str]]:
    """Inner layers (not the Inputs and Outputs) in columns, each as late as its readers allow after its feeders."""
    column: dict[str, int] = {}
    order = _topological(graph)
    for node_id in order:
        if graph.nodes[node_id].type in ENDS:
            continue
        feeders = [e.src for e in graph.in_edges(node_id) if e.src in column]
        column[node_id] = max((column[f] + 1 for f in feeders), default=0)
    last = max(column.values(), default=0)
    for node_id in reversed(order):  # then as late as the readers allow: a shortcut sits beside what it skips
        if node_id in column:
            readers = [column[e.dst] for e in graph.out_edges(node_id) if e.dst in column]
            column[node_id] = min(readers) - 1 if readers else last
    found: list[list[str]] = [[] for _ in range(max(column.values(), default=-1) + 1)]
    for node_id in order:
        if node_id in column:
            found[column[node_id]].append(node_id)
    return found


def _topological(graph: Graph) -> list[str]:
    """Node ids in an order where every feeder comes first (a cycle's nodes in graph order)."""
    waiting = {n: len({e.src for e in graph.in_edges(n)}) for n in graph.nodes}
    ready = [n for n, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        node_id = ready.pop(0)
        order.append(node_id)
        for succ in dict.fromkeys(e.dst for e in graph.out_edges(node_id)):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                ready.append(succ)
    return order + [n for n in graph.nodes if n not in set(order)]
