"""File commands of the editor: new, open, import, save, recent files, export, autosave and recovery.

Every dialog goes through one small method (`ask_open_path`, `ask_import_path`, `ask_code_import`,
`ask_save_path`, `ask_unsaved`, `ask_recover`, `show_error`, `show_notes`) so tests can answer it
without a modal window. Exports, imports and opening a project run off the GUI thread behind a
progress dialog whose Cancel stops them (`progress`): a PyTorch import's child process is killed,
an export stops at its next step and writes nothing, and an ONNX import's or a file's late result
is dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from studio.graph.bulk import collector_paused
from studio.graph.layout import lay_out_unplaced
from studio.graph.project import (
    Project,
    ProjectFileError,
    load_project,
    project_from_dict,
    project_to_dict,
    save_project,
    trained_weights,
)
from studio.ui.document import Document
from studio.ui.gallery import EXAMPLES_DIR, ExampleGallery
from studio.ui.progress import QUICK_MS, Cancellation, run_cancellable
from studio.ui.recovery import (
    DAMAGED,
    Autosaver,
    Recoverable,
    dismiss,
    recover,
    scan_recovery,
    set_aside,
    settings,
    waiting_weights,
)

if TYPE_CHECKING:
    from studio.codegen.export import Progress
    from studio.interop.common import ImportedModel
    from studio.ui.code_import_dialog import CodeImportRequest
    from studio.ui.code_scan import CodeScan

PROJECT_FILTER = "Layer Studio projects (*.lstudio)"
IMPORT_FILTER = (
    "Models (*.onnx *.prototxt *.pt2 *.py);;ONNX models (*.onnx);;Caffe prototxt (*.prototxt);;"
    "PyTorch code (*.py);;PyTorch programs (*.pt2)"
)
VERIFY_FILTER = "Exported models (*.onnx *.tflite *.prototxt *.py);;All files (*)"
VERIFIABLE = ("pytorch", "keras", "onnx", "caffe", "litert")  # the targets a runtime can run (a training script trains instead)
MAX_RECENT = 10
AUTOSAVE_MS = 30_000
EXPORT_FORMATS = {  # target: (menu text, default suffix, file filter)
    "pytorch": ("PyTorch module (.py)…", ".py", "Python files (*.py)"),
    "keras": ("Keras 3 model (.py)…", ".py", "Python files (*.py)"),
    "onnx": ("ONNX model (.onnx)…", ".onnx", "ONNX models (*.onnx)"),
    "litert": ("LiteRT model (.tflite)…", ".tflite", "LiteRT models (*.tflite)"),
    "caffe": (
        "Caffe net and weights (.prototxt + .caffemodel)…",
        ".prototxt",
        "Caffe prototxt (*.prototxt)",
    ),
    "script": ("Training script for torchrun (.py)…", ".py", "Python files (*.py)"),
}


class Unsaved(Enum):
    """The answer to 'save your changes first?'."""

    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


class FileController(QObject):
    """Owns the window's file commands; the document stays the one source of the project."""

    recent_changed = Signal(list)
    export_finished = Signal(bool, str)  # ok, message

    def __init__(self, window: QMainWindow, document: Document) -> None:
        super().__init__(window)
        self.window = window
        self.document = document
        self.autosaver = Autosaver()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self.export_finished.connect(self._report_export)

    # ----- dialogs (replaced in tests) -----
    def ask_open_path(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open Project", self._folder(), PROJECT_FILTER
        )
        return Path(path) if path else None

    def ask_import_path(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import Model", self._folder(), IMPORT_FILTER
        )
        return Path(path) if path else None

    def ask_code_import(self, scan: CodeScan) -> CodeImportRequest | None:
        """What to import from a scanned `.py` file (NAME, input shapes, weights); None when the user cancels."""
        from studio.ui.code_import_dialog import CodeImportDialog

        dialog = CodeImportDialog(scan, self.window)
        try:
            return dialog.request() if dialog.exec() else None
        finally:
            dialog.deleteLater()

    def ask_save_path(
        self, title: str, suggested: str, file_filter: str
    ) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(
            self.window, title, str(Path(self._folder(saving=True)) / suggested), file_filter
        )
        return Path(path) if path else None

    def ask_unsaved(self) -> Unsaved:
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved changes")
        box.setText(f"Save the changes to “{self.document.project.name}” first?")
        box.setInformativeText("Your changes will be lost if you don't save them.")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return Unsaved.SAVE
        return (
            Unsaved.DISCARD
            if answer == QMessageBox.StandardButton.Discard
            else Unsaved.CANCEL
        )

    def ask_recover(self, item: Recoverable) -> bool:
        answer = QMessageBox.question(
            self.window,
            "Recover unsaved work?",
            f"Layer Studio did not close normally. An autosaved copy of {item.describe()} was found.\n\nRecover it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self.window, title, message)

    def show_notes(self, title: str, message: str) -> None:
        QMessageBox.information(self.window, title, message)

    # ----- commands -----
    def confirm_discard(self) -> bool:
        """True when the open project may be replaced (saved, discarded, or unchanged)."""
        if not self.document.is_modified:
            return True
        answer = self.ask_unsaved()
        if answer is Unsaved.SAVE:
            return self.save()
        return answer is Unsaved.DISCARD

    def new_project(self) -> None:
        """Start an empty, untitled project."""
        if self.confirm_discard():
            self._replace(Project("untitled"), None)

    def new_from_example(self) -> None:
        """Start from a copy of a shipped example (saving asks where: the example stays as it is)."""
        if not self.confirm_discard():
            return
        gallery = ExampleGallery(self.window)
        if gallery.exec() and gallery.chosen_path is not None:
            self.open_example(gallery.chosen_path)

    def open_example(self, path: Path) -> bool:
        """Load an example as a new, unsaved project."""
        try:
            project = load_project(path)
        except ProjectFileError as err:
            self.show_error("Cannot open example", str(err))
            return False
        self._replace(project, None)
        return True

    def open_file(self, path: Path | str | None = None) -> bool:
        """Open a project file (asking for one when `path` is None); the open one stays on failure."""
        if not self.confirm_discard():
            return False
        path = Path(path) if path is not None else self.ask_open_path()
        if path is None:
            return False
        with collector_paused():
            outcome = run_cancellable(self.window, f"Opening {path.name}", f"Reading {path}…", lambda cancel: _read_project(path), QUICK_MS)
        if outcome.cancelled:
            self.window.statusBar().showMessage(f"Opening {path.name} stopped", 8000)
            return False
        if isinstance(outcome.error, ProjectFileError):
            self.show_error("Cannot open project", str(outcome.error))
            self.forget_recent(path)
            return False
        if outcome.error is not None:
            raise outcome.error
        project, rekeyed = outcome.result
        if isinstance(rekeyed, str):
            self.window.statusBar().showMessage(f"The project's weights cannot be used: {rekeyed}", 10000)
            rekeyed = None
        with collector_paused():
            self._replace(project, path.resolve(), rekeyed)
        if rekeyed is not None:  # they wait beside the recovery copy until the project is saved
            self.document.undo_stack.resetClean()
            self.document.modified_changed.emit(True)
            self.window.statusBar().showMessage(
                "The project's weights are now kept by layer, so renaming a layer keeps them: save to store them", 10000
            )
        self.add_recent(path.resolve())
        return True

    def import_model(self, path: Path | str | None = None) -> bool:
        """Open an ONNX model, a Caffe prototxt, PyTorch code or a `.pt2` program as a new, unsaved project (asking for one when `path` is None)."""
        if not self.confirm_discard():
            return False
        path = Path(path) if path is not None else self.ask_import_path()
        if path is None:
            return False
        from studio.interop.common import import_model

        suffix = path.suffix.lower()
        if suffix == ".py":
            return self._import_code(path)
        if suffix == ".pt2":
            from studio.interop.python_code import import_program

            return self._import_in_background(path, f"Reading the program {path.name}…", lambda cancel: import_program(path, cancel=cancel))
        return self._import_in_background(path, f"Reading {path.name}…", lambda cancel: import_model(path), show_after_ms=QUICK_MS)

    def _import_code(self, path: Path) -> bool:
        """Ask what to import from a `.py` file (read, not run), then build and capture it in a child process."""
        from studio.interop.python_code import import_python
        from studio.ui.code_import_dialog import remember
        from studio.ui.code_scan import CodeScanError, scan_code

        try:
            scan = scan_code(path)
        except CodeScanError as err:
            self.show_error("Cannot import model", str(err))
            return False
        request = self.ask_code_import(scan)
        if request is None:
            return False
        remember(request)  # kept even when the import fails, to try again with one change
        return self._import_in_background(
            path,
            f"Running {path.name} and capturing {request.name}…",
            lambda cancel: import_python(request.spec, list(request.inputs), request.weights, cancel=cancel),
        )

    def _import_in_background(self, path: Path, text: str, work: Callable[[Cancellation], object], show_after_ms: int = 0) -> bool:
        """Run an import off the GUI thread behind a progress dialog; Cancel stops a child process at once, or drops the result."""
        from studio.interop.common import ModelImportError, internal_error

        outcome = run_cancellable(self.window, f"Importing {path.name}", text, work, show_after_ms)
        if outcome.cancelled:
            self.window.statusBar().showMessage(f"Import of {path.name} stopped", 8000)
            return False
        if outcome.error is not None:
            err = outcome.error
            message = str(err) if isinstance(err, ModelImportError) else str(internal_error(str(path), err))
            self.show_error("Cannot import model", message)
            return False
        self._open_imported(outcome.result, path)
        return True

    def _open_imported(self, model: ImportedModel, path: Path) -> None:
        """Show an imported model as a new, unsaved project, with its notes."""
        self._replace(model.project, None, model.state or None)
        self.document.undo_stack.resetClean()  # nothing is written until the user saves
        self.document.modified_changed.emit(True)
        layers = sum(
            1
            for n in model.project.graph.nodes.values()
            if n.type not in ("Input", "Output")
        )
        self.window.statusBar().showMessage(
            f"Imported {path.name}: {layers} layers", 8000
        )
        if model.warnings:
            self.show_notes(
                "Imported with notes", "\n".join(f"• {w}" for w in model.warnings)
            )

    def save(self) -> bool:
        """Save to the project's file (Save As when it has none, or is a shipped example); False when nothing was saved."""
        if self.document.path is None or is_example(self.document.path):
            return self.save_as()
        return self._write(self.document.path)

    def save_as(self, path: Path | str | None = None) -> bool:
        """Save under a new file name."""
        if path is None:
            path = self.ask_save_path(
                "Save Project As",
                f"{self.document.project.name}.lstudio",
                PROJECT_FILTER,
            )
            if path is None:
                return False
        path = Path(path)
        if path.suffix != ".lstudio":
            path = path.with_name(path.name + ".lstudio")
        return self._write(path.resolve())

    def _write(self, path: Path) -> bool:
        if self.document.path is None or path != self.document.path:
            self.document.set_name(path.stem[:128] or self.document.project.name)
        if self.holds_imported_weights() and not self._save_imported_weights(path):
            return False
        try:
            save_project(self.document.project, path)
        except ProjectFileError as err:
            self.show_error("Cannot save project", str(err))
            return False
        self.document.mark_saved(path)
        self.autosaver.discard()
        self.add_recent(path)
        self.window.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def holds_imported_weights(self) -> bool:
        """True while the project's weights are an unsaved import's, waiting beside the recovery copy."""
        return self.document.project.training.weights == str(self.autosaver.weights)

    def _save_imported_weights(self, path: Path) -> bool:
        """Copy an unsaved import's weights beside the project at `path` and point training.weights there."""
        from studio.graph.atomic import describe_os_error, write_atomically
        from studio.interop.common import weights_path

        target = weights_path(path)
        try:
            write_atomically(target, self.autosaver.weights.read_bytes())
        except OSError as err:
            self.show_error("Cannot save weights", f"{target}: cannot be written: {describe_os_error(err)}")
            return False
        self.document.relocate_training_file("weights", target.name)
        return True

    def _replace(self, project: Project, path: Path | None, imported: dict | Path | None = None) -> None:
        """Show `project`; `imported`: an unsaved import's weights (arrays by node id, or a waiting file to take over)."""
        self.autosaver.discard()
        if imported is not None:
            self._keep_imported_weights(project, imported)
        self.document.load(project, path)

    def _keep_imported_weights(self, project: Project, weights: dict | Path) -> None:
        """Park an unsaved import's weights beside the recovery copy, so export, autosave and recovery have them."""
        from studio.graph.atomic import describe_os_error, write_atomically
        from studio.graph.weights_file import npz_bytes

        target = self.autosaver.weights
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(weights, Path):
                weights.replace(target)
            else:
                write_atomically(target, npz_bytes(weights))
        except OSError as err:
            self.show_error(
                "Cannot keep the imported weights",
                f"{target}: {describe_os_error(err)}. The project opens with freshly initialized weights.",
            )
            project.training = dataclasses.replace(project.training, weights="")
            return
        project.training = dataclasses.replace(project.training, weights=str(target))

    # ----- recent files -----
    def recent_files(self) -> list[Path]:
        """Recently opened or saved projects, newest first."""
        value = settings().value("recentFiles", [])
        entries = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in entries if p]

    def add_recent(self, path: Path) -> None:
        entries = [path] + [p for p in self.recent_files() if p != path]
        self._store_recent(entries[:MAX_RECENT])

    def forget_recent(self, path: Path) -> None:
        self._store_recent(
            [
                p
                for p in self.recent_files()
                if p != Path(path).resolve() and p != Path(path)
            ]
        )

    def _store_recent(self, entries: list[Path]) -> None:
        store = settings()
        store.setValue("recentFiles", [str(p) for p in entries])
        store.sync()
        self.recent_changed.emit(entries)

    # ----- autosave and recovery -----
    def autosave(self) -> None:
        """Write the recovery copy when there are unsaved changes."""
        if self.document.is_modified:
            self.autosaver.save(self.document.project, self.document.path)

    def offer_recovery(self) -> bool:
        """Offer back a project an editor crash left unsaved; True when one was recovered.

        A damaged recovery record is set aside (renamed, not deleted), and the status bar says where.
        """
        scan = scan_recovery()
        if scan.set_aside:
            records = ", ".join(str(p) for p in scan.set_aside if ".json" + DAMAGED in p.name)
            self.window.statusBar().showMessage(f"A damaged recovery record was set aside (renamed, not deleted): {records}", 15000)
        for item in scan.recoverable:
            if not self.ask_recover(item):
                dismiss(item)
                continue
            try:
                project = recover(item)
            except ProjectFileError as err:
                kept = next((str(p) for p in set_aside(item) if ".lstudio" + DAMAGED in p.name), "")
                self.show_error("Cannot recover project", f"{err}\n\nThe copy was set aside, not deleted: {kept}" if kept else str(err))
                continue
            self._replace(project, item.original, waiting_weights(item, project))
            self.document.undo_stack.resetClean()  # recovered work is unsaved until saved
            self.document.modified_changed.emit(True)
            self.autosave()
            dismiss(item)
            return True
        return False

    def close(self) -> None:
        """A clean exit: the recovery copy is no longer needed."""
        self.autosave_timer.stop()
        self.autosaver.discard()

    # ----- export -----
    def export(self, target: str, path: Path | str | None = None) -> bool:
        """Export the project off the GUI thread behind a progress dialog (shown when it takes a while); True when written.

        `export_finished` reports the outcome; a cancelled export writes nothing and reports nothing.
        """
        text, suffix, file_filter = EXPORT_FORMATS[target]
        if path is None:
            title = "Export " + text.rstrip("…")
            path = self.ask_save_path(
                title, f"{self.document.project.name}{suffix}", file_filter
            )
            if path is None:
                return False
        path = Path(path)
        weights = trained_weights(self.document.project, self.document.path)
        if weights is not None and not weights.is_file():
            self.show_error(
                "Trained weights missing",
                f"The project's trained weights {weights} no longer exist. Train again, or clear "
                "the weights setting in the Training panel to export freshly initialized weights.",
            )
            return False
        snapshot = project_from_dict(project_to_dict(self.document.project))
        project_path = self.document.path
        self.window.statusBar().showMessage(f"Exporting to {path}…")
        outcome = run_cancellable(
            self.window,
            f"Exporting {path.name}",
            f"Exporting {snapshot.name} to {path}",
            lambda cancel: _export(snapshot, target, path, weights, project_path, cancel),
            show_after_ms=QUICK_MS,
        )
        if outcome.cancelled:
            self.window.statusBar().showMessage(f"Export to {path} stopped: nothing was written", 8000)
            return False
        ok, message = outcome.result if outcome.error is None else (False, f"{type(outcome.error).__name__}: {outcome.error}")
        self.export_finished.emit(ok, message)
        if ok and target in VERIFIABLE:
            self.show_export_report(path, snapshot, project_path, weights)
        return ok

    def show_export_report(self, path: Path, project: Project, project_path: Path | None, weights: Path | None) -> None:
        """Show what an export wrote, with Verify (a window beside the editor, not blocking it)."""
        from studio.ui.export_report import ExportReport

        report = ExportReport(path, project, project_path, weights, self.window)
        report.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        report.show()

    def verify_export_file(self, path: Path | str | None = None) -> None:
        """Ask for an exported file (unless given) and open its report, to verify it against the open project."""
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self.window, "Verify an Export", self._folder(), VERIFY_FILTER)
            if not chosen:
                return
            path = chosen
        snapshot = project_from_dict(project_to_dict(self.document.project))
        self.show_export_report(Path(path), snapshot, self.document.path, trained_weights(self.document.project, self.document.path))

    def _report_export(self, ok: bool, message: str) -> None:
        if ok:
            done, _, warnings = message.partition("\n")
            self.window.statusBar().showMessage(done, 8000)
            if warnings:
                self.show_notes("Exported with a warning", warnings)
        else:
            self.window.statusBar().clearMessage()
            self.show_error("Export failed", message)

    def _folder(self, saving: bool = False) -> str:
        """Where a file dialog starts: the project's folder; for opening, else the latest recent one; else the user's documents. Never the shipped examples."""
        places = [self.document.path] + ([] if saving else self.recent_files())
        for place in places:
            if place is not None and not is_example(place):
                return str(place.parent)
        return documents_folder()


def _export(project: Project, target: str, path: Path, weights: Path | None, project_path: Path | None, progress: Progress) -> tuple[bool, str]:
    """Run one export (in the worker thread): whether it was written, and the message that says so or why not."""
    from studio.codegen.export import ExportWriteError, WeightsError, export_project
    from studio.codegen.keras_backend import KerasBackendError
    from studio.codegen.names import CodegenError

    try:
        result = export_project(project, target, path, weights=weights, project_path=project_path, partial=True, progress=progress)
    except (CodegenError, ExportWriteError, WeightsError, KerasBackendError) as err:
        return False, str(err)
    warnings = "".join(f"\n{w}" for w in result.warnings)  # after the first line, for show_notes
    return True, "Exported " + ", ".join(str(p) for p in result.files) + warnings


def _read_project(path: Path) -> tuple[Project, dict | Path | str | None]:
    """Read a project file (in the worker thread), with an older project's weights to store by layer id instead (or why they cannot be used)."""
    from studio.codegen.weights import WeightsError, weights_to_rekey

    project = load_project(path)
    lay_out_unplaced(project.graph)  # a file without positions would show every card on one spot
    try:
        return project, weights_to_rekey(project, path)
    except WeightsError as err:
        return project, str(err)


def documents_folder() -> str:
    """The user's documents folder (home when the platform has none): where a new project is saved first."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return folder if folder and Path(folder).is_dir() else str(Path.home())


def is_example(path: Path) -> bool:
    """True for a file among the shipped examples (`make run` opens one), which Save never overwrites."""
    return Path(path).resolve().is_relative_to(EXAMPLES_DIR)
