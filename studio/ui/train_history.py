"""The runs of the open project, newest first; selecting runs asks for their curves to be overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.ui.theme import current_theme

MAX_OVERLAID = 4
STATUS_TEXT = {
    "finished": "finished",
    "stopped": "stopped by you",
    "early_stopped": "stopped early (no better validation loss)",
    "failed": "failed",
    "running": "running (or ended without a word)",
}


class RunHistory(QWidget):
    """A list of runs (started, accuracy, loss, epochs); `runs_selected` carries the chosen run folders."""

    runs_selected = Signal(list)  # list[Path], at most MAX_OVERLAID, in list order

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runHistory")
        self.title = QLabel("Runs")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.hint = QLabel("Select runs to compare their curves.")
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.hint.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("runList")
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setHeaderLabels(["Run", "Accuracy", "Loss", "Epochs"])
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
            self.tree.headerItem().setTextAlignment(
                column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        self.tree.itemSelectionChanged.connect(self._on_selection)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.title)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.hint)
        self.runs: list[Any] = []

    def show_runs(self, runs_root: Path | None, project_name: str) -> None:
        """List the project's runs under `runs_root` (keeping the selection where the runs remain)."""
        from studio.train.runs import list_runs

        chosen = set(self.selected_dirs())
        self.runs = list_runs(runs_root, project_name) if runs_root is not None else []
        blocked = self.tree.blockSignals(True)
        try:
            self.tree.clear()
            error = current_theme().error
            muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
            for run in self.runs:
                accuracy, loss = run.best_val_accuracy, run.best_val_loss
                item = QTreeWidgetItem(
                    [
                        _started(run),
                        "" if accuracy is None else f"{accuracy:.1%}",
                        "" if loss is None else f"{loss:.4g}",
                        str(run.epochs_run),
                    ]
                )
                if run.status in ("running", "failed"):
                    item.setText(1, run.status)
                    item.setForeground(1, muted if run.status == "running" else error)
                for column in (1, 2, 3):
                    item.setTextAlignment(
                        column,
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    )
                item.setData(0, Qt.ItemDataRole.UserRole, str(run.run_dir))
                status = STATUS_TEXT.get(run.status, run.status)
                item.setToolTip(
                    0,
                    f"{run.run_dir}\n{status}"
                    + (f"\ndataset: {run.dataset}" if run.dataset else ""),
                )
                if run.status == "failed":
                    item.setForeground(0, error)
                self.tree.addTopLevelItem(item)
                item.setSelected(run.run_dir in chosen)
        finally:
            self.tree.blockSignals(blocked)
        self.title.setText(f"Runs ({len(self.runs)})" if self.runs else "Runs")
        self.hint.setText(
            "Select runs to compare their curves (dashed)."
            if self.runs
            else "Runs of this project appear here."
        )
        if set(self.selected_dirs()) != chosen:
            self._on_selection()

    def selected_dirs(self) -> list[Path]:
        """The selected run folders, in list order (newest first)."""
        items = [
            self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())
        ]
        return [
            Path(item.data(0, Qt.ItemDataRole.UserRole))
            for item in items
            if item.isSelected()
        ]

    def label_of(self, run_dir: Path) -> str:
        """How a run is named in legends."""
        for run in self.runs:
            if run.run_dir == run_dir:
                return _started(run)
        return run_dir.name

    def _on_selection(self) -> None:
        self.runs_selected.emit(self.selected_dirs()[:MAX_OVERLAID])


def _started(run: Any) -> str:
    """'11-23 14:25:01' from the run's ISO start time, else the folder name."""
    text = str(run.started or "")
    if len(text) >= 19 and text[4] == "-" and text[10] in "T ":
        return f"{text[5:10]} {text[11:19]}"
    return run.name
