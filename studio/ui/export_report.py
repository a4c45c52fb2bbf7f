"""The dialog after an export: the files written, and a check that runs the file in its runtime against PyTorch."""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.graph.project import Project
from studio.ui.progress import run_cancellable
from studio.verify.check import (
    TOLERANCE,
    Verification,
    VerifyError,
    size_text,
    verify_export,
)
from studio.verify.runtimes import (
    DEFAULT_RUNTIME,
    RUNTIMES,
    RuntimeUnavailable,
    companion,
    file_kind,
)

KERAS_BACKENDS = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow"}


class ExportReport(QDialog):
    """What an export wrote, with Verify: run the file in a runtime that reads it and show the largest difference, latency and size."""

    def __init__(self, path: Path, project: Project, project_path: Path | None, weights: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportReport")
        self.setWindowTitle(f"Exported {path.name}")
        self.path, self.project, self.project_path, self.weights = path, project, project_path, weights
        self.result: Verification | None = None
        self.error = ""
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self._files_text()))
        self.runtime = QComboBox(objectName="verifyRuntime")
        self.backend = QComboBox(objectName="verifyBackend")
        self.verify_button = QPushButton("Verify", objectName="verifyButton")
        self.verify_button.setToolTip("Run the file in this runtime and the project in PyTorch on the same batch, and compare")
        self.verify_button.clicked.connect(self.verify)
        row = QHBoxLayout()
        row.addWidget(QLabel("Check it in"))
        row.addWidget(self.runtime, 1)
        row.addWidget(self.backend)
        row.addWidget(self.verify_button)
        layout.addLayout(row)
        self.outcome = QLabel(objectName="verifyOutcome")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QFormLayout()
        layout.addWidget(self.outcome)
        layout.addLayout(self.details)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._fill_runtimes()
        self.setMinimumWidth(480)

    def _files_text(self) -> str:
        try:
            extra = companion(self.path, file_kind(self.path))
        except (RuntimeUnavailable, OSError):
            extra = None
        files = [p for p in (self.path, extra) if p is not None and p.is_file()]
        rows = "".join(f"<li>{html.escape(p.name)} <span style='color:gray'>({size_text(p.stat().st_size)})</span></li>" for p in files)
        return f"Wrote to {html.escape(str(self.path.parent))}:<ul style='margin:2px'>{rows}</ul>"

    def _fill_runtimes(self) -> None:
        try:
            kind = file_kind(self.path)
        except (RuntimeUnavailable, OSError) as err:
            self.runtime.setEnabled(False)
            self.verify_button.setEnabled(False)
            self.backend.hide()
            self.outcome.setText(html.escape(str(err)))
            return
        names = [DEFAULT_RUNTIME[kind], *(n for n, r in RUNTIMES.items() if kind in r.reads and n != DEFAULT_RUNTIME[kind])]
        for name in names:
            runtime = RUNTIMES[name]
            installed = importlib.util.find_spec(runtime.package) is not None
            self.runtime.addItem(runtime.label if installed else f"{runtime.label} (not installed)", name)
            if not installed:
                self.runtime.model().item(self.runtime.count() - 1).setEnabled(False)
        for name in KERAS_BACKENDS:
            self.backend.addItem(f"on {name}", name)
            if importlib.util.find_spec(name) is None:
                self.backend.model().item(self.backend.count() - 1).setEnabled(False)
        from studio.codegen.keras_backend import DEFAULT_BACKEND, chosen_backend

        chosen = (chosen_backend() or (DEFAULT_BACKEND, ""))[0]
        self.backend.setCurrentIndex(max(self.backend.findData(chosen), 0))
        self.backend.setVisible(kind == "keras")

    def verify(self) -> None:
        """Run the check behind a progress dialog (Cancel stops the runtime's process) and show what it found."""
        runtime = self.runtime.currentData()
        backend = self.backend.currentData() if self.backend.isVisible() else None
        label = self.runtime.currentText()
        outcome = run_cancellable(
            self,
            "Verifying the export",
            f"Running {self.path.name} in {label} and the project in PyTorch",
            lambda cancel: verify_export(self.path, self.project, self.project_path, self.weights, runtime=runtime, backend=backend, cancel=cancel),
        )
        if outcome.cancelled:
            return
        if outcome.error is not None:
            self.result, self.error = None, str(outcome.error) if isinstance(outcome.error, VerifyError) else f"{type(outcome.error).__name__}: {outcome.error}"
            self._show_error()
        else:
            self.result, self.error = outcome.result, ""
            self._show_result()

    def _clear_details(self) -> None:
        while self.details.rowCount():
            self.details.removeRow(0)

    def _show_error(self) -> None:
        self._clear_details()
        self.outcome.setText(f"<b style='color:#c0392b'>Could not verify</b><br>{html.escape(self.error)}")

    def _show_result(self) -> None:
        result = self.result
        self._clear_details()
        if result.ok:
            verdict = f"<b style='color:#1e8449'>✓ Matches PyTorch</b> in {html.escape(result.runtime_label)}"
        else:
            verdict = f"<b style='color:#c0392b'>✗ Differs from PyTorch</b> in {html.escape(result.runtime_label)} (more than {TOLERANCE:g} relative)"
        self.outcome.setText(verdict)
        for name, value in result.rows():
            shown = QLabel(value)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.details.addRow(name + ":", shown)

