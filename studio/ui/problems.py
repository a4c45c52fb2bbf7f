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
    QStackedLayout,
    QStyle,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from studio.graph.model import Node
from studio.graph.shapes import Diagnostic
from studio.ui.document import Document
from studio.ui.levels import InnerProblem, inner_problems

SEVERITY_RANK = {"error": 0, "warning": 1}
NETWORK = "network"
UPDATE_DELAY_MS = 30  # lets a burst of edits (a paste, a macro) become one rebuild
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


def problem_rows(document: Document, network: bool = False) -> list[Problem]:
    """The diagnostics of the level shown (or of the `network`) as rows: errors first, then by data flow.

    An instance that fails inside its block is listed by the inner layers that fail, named from
    the instance down (`layer2_0 › conv1`).
    """
    analysis = document.network_analysis if network else document.analysis
    nodes = analysis.graph.nodes
    flow = {node_id: i for i, node_id in enumerate(analysis.ordered_ids())}
    ranked = sorted(
        enumerate(analysis.diagnostics()),
        key=lambda item: (
            SEVERITY_RANK.get(item[1].severity, len(SEVERITY_RANK)),
            -1 if item[1].node_id is None else flow.get(item[1].node_id, len(flow)),
            item[0],
        ),
    )
    rows: list[Problem] = []
    for _, d in ranked:
        node = nodes.get(d.node_id) if d.node_id is not None else None
        inside = inner_problems(analysis, d.node_id) if node is not None and node.block is not None and d.severity == "error" else []
        rows += [_inner_problem(node, p) for p in inside] or [_problem(d, nodes)]
    return rows


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
        """Show these problems; return False (and change nothing) when they are the ones shown."""
        if rows == self._rows:
            return False
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()
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
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty.setText(
            "<p style='font-size:large'>No problems</p>"
            "<p>Every layer is connected and every shape fits.</p>"
        )

        self._pages = QStackedLayout()
        self._pages.addWidget(self.view)
        self._pages.addWidget(self.empty)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._pages)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_DELAY_MS)
        self._timer.timeout.connect(self.flush)
        document.analysed.connect(self._schedule)
        document.reset.connect(self._schedule)
        document.level_changed.connect(self._schedule)
        self._counts = (-1, -1)
        self._found: list[Problem] = []  # what the last training run found, after the analysis' problems
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
        current = self.model.problem(self.view.currentIndex())
        if self.model.set_rows(problem_rows(self.document) + self._found):
            self._restore_current(current)
        self._pages.setCurrentWidget(self.view if self.model.rowCount() else self.empty)
        rows = self.model.rows
        counts = (
            sum(r.severity == "error" for r in rows),
            sum(r.severity == "warning" for r in rows),
        )
        if counts != self._counts:
            self._counts = counts
            self.counts_changed.emit(*counts)

    def set_found(self, rows: list[Problem]) -> None:
        """List these problems a training run found (pinned to network nodes) after the analysis' own; [] clears them."""
        self._found = list(rows)
        self.flush()

    # ----- internals -----
    def _schedule(self, *_: object) -> None:
        self._timer.start()

    def _restore_current(self, previous: Problem | None) -> None:
        if previous is None:
            return
        for row, problem in enumerate(self.model.rows):
            if (problem.node_id, problem.message) == (
                previous.node_id,
                previous.message,
            ):
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
