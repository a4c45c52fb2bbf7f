"""The problems list: every diagnostic of the live analysis; clicking one shows its layer.

Rows are ordered errors first, then warnings, because an error blocks training and export and a
warning does not. Within each group problems of the whole network come first, then the layers
in the order the data flows through them, so the first row is usually the cause of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QStyle,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from studio.graph.model import Node, NodeMoved, ParamChanged
from studio.graph.shapes import Diagnostic
from studio.ui.document import Document
from studio.ui.levels import InnerProblem, inner_problems

SEVERITY_RANK = {"error": 0, "warning": 1}
NETWORK = "network"
UPDATE_DELAY_MS = 30  # lets a burst of edits (a paste, a macro) become one rebuild
MOST_ROWS_SHOWN = 6  # the Problems dock grows to show this many rows at most; more scroll
ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Problem:
    """One row: a diagnostic with the name of its layer, its text made to read well in columns."""

    node_id: str | None
    severity: str
    layer: str
    layer_type: str
    message: str
    hint: str
    text: str
    inner: tuple[str, ...] = ()  # a problem inside a block instance: the inner layers' ids, from the instance down
    of_network: bool = False  # pinned to a node of the network (a training run's finding), whatever level is shown


Made = dict[int, tuple[Diagnostic, str | None, str | None, tuple[Problem, ...]]]  # id(diagnostic) -> it, its layer's name and type, its rows


def problem_rows(document: Document, network: bool = False, made: Made | None = None) -> list[Problem]:
    """The diagnostics of the level shown (or of the `network`) as rows: errors first, then by data flow.

    An instance that fails inside its block is listed by the inner layers that fail, named from
    the instance down (`layer2_0 › conv1`). `made` keeps the rows of each diagnostic from one call
    to the next: a diagnostic the analysis kept (the same object, its layer named and typed as
    before) gives the same rows without making them again, so a list of 20,000 costs little per edit.
    """
    analysis = document.network_analysis if network else document.analysis
    nodes = analysis.graph.nodes
    before = made.copy() if made is not None else {}
    if made is not None:
        made.clear()  # keeps only what this call lists, so it never grows past the list
    rows: list[Problem] = []
    for d in _ranked(analysis.diagnostics(), analysis.ordered_ids()):
        node = nodes.get(d.node_id) if d.node_id is not None else None
        if node is not None and node.block is not None and d.severity == "error":  # what fails inside depends on more than the diagnostic: made anew
            inside = inner_problems(analysis, d.node_id)
            if inside:
                rows += [_inner_problem(node, p) for p in inside]
                continue
        name, kind = (node.name, node.type) if node is not None else (None, None)
        found = before.get(id(d))
        if found is None or found[0] is not d or found[1] != name or found[2] != kind:
            found = (d, name, kind, (_problem(d, nodes),))
        if made is not None:
            made[id(d)] = found
        rows += found[3]
    return rows


def _ranked(diagnostics: list[Diagnostic], flow: list[str]) -> list[Diagnostic]:
    """Errors, then warnings (then any other severity); within each, the network's first, then by layer in `flow` order, else as given.

    The order a sort by (severity, place in the flow, place in `diagnostics`) gives, in a few
    passes without one: a list of 20,000 is ranked on every edit.
    """
    network: list[Diagnostic] = []
    by_node: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        if d.node_id is None:
            network.append(d)
        else:
            by_node.setdefault(d.node_id, []).append(d)
    ordered = network
    for node_id in flow:
        found = by_node.pop(node_id, None)
        if found is not None:
            ordered += found
    if by_node:  # pinned to no layer of the flow: last, as they came
        ordered += [d for d in diagnostics if d.node_id in by_node]
    ranked = [d for severity in SEVERITY_RANK for d in ordered if d.severity == severity]
    return ranked + [d for d in ordered if d.severity not in SEVERITY_RANK]


def _problem(d: Diagnostic, nodes: dict) -> Problem:
    node = nodes.get(d.node_id) if d.node_id is not None else None
    message = d.message
    if node is not None:
        label = f"{node.type} '{node.name}' "
        message = message.removeprefix(label)
    return Problem(
        node_id=d.node_id if node is not None else None,
        severity=d.severity,
        layer=node.name if node is not None else NETWORK,
        layer_type=node.type if node is not None else "",
        message=_sentence(message),
        hint=_sentence(d.hint),
        text=d.text,
    )


def _inner_problem(instance: Node, found: InnerProblem) -> Problem:
    d = found.diagnostic
    inner_type = d.message.split(" '", 1)[0]
    message = d.message.removeprefix(f"{inner_type} '{found.names[-1]}' ")
    return Problem(
        node_id=instance.id,
        severity=d.severity,
        layer=" › ".join((instance.name, *found.names)),
        layer_type=f"{inner_type} in block {instance.type}",
        message=_sentence(message),
        hint=_sentence(d.hint),
        text=f"{instance.name} › {' › '.join(found.names)}: {d.text}",
        inner=found.ids,
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class ProblemsModel(QAbstractTableModel):
    """The rows of the problems list: layer, problem, how to fix it."""

    HEADERS = ("Layer", "Problem", "How to fix")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Problem] = []
        self._widget = parent
        style = parent.style() if parent is not None else QApplication.style()
        self._icons = {
            "error": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical),
            "warning": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning),
        }

    @property
    def rows(self) -> list[Problem]:
        """The problems shown, in order."""
        return list(self._rows)

    def set_rows(self, rows: list[Problem]) -> bool:
        """Show these problems, telling the view only what changed; return False (and change nothing) when they are the ones shown.

        The rows shown before and after are compared from both ends: the run between the rows
        both keep is replaced (changed in place, then the surplus removed or the rest inserted), so
        an edit that changes one layer's problems touches those rows, not all 20,000.
        """
        old = self._rows
        if rows == old:
            return False
        head, end_old, end_new = 0, len(old), len(rows)
        shortest = min(end_old, end_new)
        while head < shortest and (rows[head] is old[head] or rows[head] == old[head]):  # the rows kept are the same objects
            head += 1
        while end_old > head and end_new > head and (rows[end_new - 1] is old[end_old - 1] or rows[end_new - 1] == old[end_old - 1]):
            end_old, end_new = end_old - 1, end_new - 1
        both = min(end_old, end_new) - head
        if both:
            old[head : head + both] = rows[head : head + both]
            self.dataChanged.emit(self.index(head, 0), self.index(head + both - 1, len(self.HEADERS) - 1))
        if end_old > head + both:
            self.beginRemoveRows(QModelIndex(), head + both, end_old - 1)
            del old[head + both : end_old]
            self.endRemoveRows()
        elif end_new > head + both:
            self.beginInsertRows(QModelIndex(), head + both, end_new - 1)
            old[head + both : head + both] = rows[head + both : end_new]
            self.endInsertRows()
        return True

    def problem(self, index: ModelIndex) -> Problem | None:
        """The problem on the row of `index`, or None."""
        return (
            self._rows[index.row()]
            if index.isValid() and index.row() < len(self._rows)
            else None
        )

    def rowCount(self, parent: ModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.HEADERS)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> object:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
        ):
            return self.HEADERS[section]
        return None

    def data(
        self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        row = self.problem(index)
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.layer, row.message, row.hint)[column]
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return self._icons.get(row.severity)
        if role == Qt.ItemDataRole.ToolTipRole:
            where = (
                f"{row.layer} ({row.layer_type})"
                if row.layer_type
                else "The whole network"
            )
            return f"<b>{_escape(where)}</b> · {row.severity}<br>{_escape(row.text)}"
        if role == Qt.ItemDataRole.FontRole and column == 0 and row.node_id is None:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            palette = (
                self._widget.palette()
                if self._widget is not None
                else QApplication.palette()
            )
            return palette.brush(QPalette.ColorRole.PlaceholderText)
        return None


def _same(problem: Problem | None, other: Problem) -> bool:
    return problem is not None and (problem.node_id, problem.message) == (other.node_id, other.message)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ProblemsView(QWidget):
    """Lists the network's errors and warnings; clicking one selects and centres its layer."""

    counts_changed = Signal(int, int)  # errors, warnings

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problems")
        self.document = document
        self.model = ProblemsModel(self)
        self.view = QTreeView(self)
        self.view.setObjectName("problemsList")
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setAllColumnsShowFocus(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(0, 150)
        self.view.clicked.connect(self._show_problem)
        self.view.activated.connect(self._show_problem)

        self.empty = QLabel(self)
        self.empty.setObjectName("noProblems")
        self.empty.setContentsMargins(8, 2, 8, 2)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty.setText("No problems: every layer is connected and every shape fits.")
        self.empty.setToolTip("Errors and warnings of the network are listed here as you edit")

        # NOTE: the list is hidden, not stacked, when empty: a hidden widget adds nothing to the
        # minimum height, so the Problems dock can shrink to the one line of `empty`.
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty, 0)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_DELAY_MS)
        self._timer.timeout.connect(self.flush)
        document.analysed.connect(self._on_analysed)
        document.graph_changed.connect(self._on_graph_changed)
        document.reset.connect(self._go_stale)
        document.level_changed.connect(self._go_stale)
        self._counts = (-1, -1)
        self._found: list[Problem] = []  # what the last training run found, after the analysis' problems
        self._made: Made = {}  # the rows of each diagnostic listed, kept for the next update
        self._listed: dict[str, tuple[Diagnostic, ...]] = {}  # each layer's diagnostics as listed
        self._recomputed: set[str] = set()  # layers analysed again since the list was made
        self._stale = True  # the list must be made again: more changed than some layers' diagnostics
        self.flush()

    # ----- public -----
    def count(self) -> int:
        """The number of problems listed."""
        return self.model.rowCount()

    def problems(self) -> list[Problem]:
        """The problems listed, in order."""
        return self.model.rows

    def flush(self) -> None:
        """Bring the list up to date now (it normally follows edits a moment later)."""
        self._timer.stop()
        recomputed, self._recomputed = self._recomputed, set()
        if not self._stale and self._as_listed(recomputed):
            return
        self._stale = False
        current = self.model.problem(self.view.currentIndex())
        rows = problem_rows(self.document, made=self._made) + self._found
        self._listed = {} if self.document.levels else {n: r.diagnostics for n, r in self.document.analysis.results().items() if r.diagnostics}
        if self.model.set_rows(rows):
            self._restore_current(current)
        self.view.setVisible(bool(rows))
        self.empty.setVisible(not rows)
        severities = [r.severity for r in rows]
        counts = (severities.count("error"), severities.count("warning"))
        if counts != self._counts:
            self._counts = counts
            self.counts_changed.emit(*counts)

    def preferred_height(self, most_rows: int = MOST_ROWS_SHOWN) -> int:
        """The height that shows every problem, up to `most_rows` rows; one line when there are none."""
        rows = self.model.rowCount()
        if rows == 0:
            return self.empty.sizeHint().height()
        row = max(self.view.sizeHintForRow(0), self.view.fontMetrics().lineSpacing() + 4)
        frame = 2 * self.view.frameWidth()
        return self.view.header().sizeHint().height() + row * min(rows, most_rows) + frame

    def set_found(self, rows: list[Problem]) -> None:
        """List these problems a training run found (pinned to network nodes) after the analysis' own; [] clears them."""
        self._found = list(rows)
        self._stale = True
        self.flush()

    # ----- internals -----
    def _on_analysed(self, node_ids: set[str]) -> None:
        self._recomputed |= node_ids
        self._timer.start()

    def _on_graph_changed(self, event: object) -> None:
        if not isinstance(event, (NodeMoved, ParamChanged)):  # a layer added, removed, wired or renamed: the flow or the names may change
            self._stale = True

    def _go_stale(self) -> None:
        self._stale = True
        self._timer.start()

    def _as_listed(self, node_ids: set[str]) -> bool:
        """Whether the layers analysed again (a move: none) still have the diagnostics listed: then the list stands as it is.

        Only at the network's level and for layers that are not block instances (what fails
        inside an instance is more than its diagnostic says); elsewhere the list is made again.
        """
        if self.document.levels:
            return False
        graph, results = self.document.graph, self.document.analysis.results()
        for node_id in node_ids:
            node, result = graph.nodes.get(node_id), results.get(node_id)
            if node is None or node.block is not None or (result.diagnostics if result is not None else ()) != self._listed.get(node_id, ()):
                return False
        return True

    def _restore_current(self, previous: Problem | None) -> None:
        """Keep the problem that was current current (the view kept its row where rows came or went before it)."""
        if previous is None or _same(self.model.problem(self.view.currentIndex()), previous):
            return
        for row, problem in enumerate(self.model.rows):
            if _same(problem, previous):
                self.view.setCurrentIndex(self.model.index(row, 0))
                return

    def _show_problem(self, index: QModelIndex) -> None:
        problem = self.model.problem(index)
        if (
            problem is not None
            and problem.node_id is not None
            and problem.of_network
            and problem.node_id in self.document.network
        ):
            self.document.go_up(0)
        if (
            problem is not None
            and problem.node_id is not None
            and problem.node_id in self.document.graph
        ):
            if problem.inner:
                self.document.open_inner(problem.node_id, problem.inner)
            else:
                self.document.focus(problem.node_id)
