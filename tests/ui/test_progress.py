"""Long work in the editor: exports, imports and opening a file behind a progress dialog that Cancel really stops.

The slow steps are made slow by a monkeypatched step that waits for the test to let it go, never
by a sleep in the product; the export, import and reading around them are the real ones.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLineEdit, QProgressDialog, QPushButton

from studio.codegen import export as export_module
from studio.interop import common as interop_common
from studio.ui import files as files_module
from studio.ui import open_main_window, theme
from studio.ui import progress as progress_module
from studio.ui.files import Unsaved
from studio.ui.progress import Cancellation, Cancelled, run_cancellable
from tests.ui.helpers import EXAMPLES

DIGITS = EXAMPLES / "digits_cnn.lstudio"


@pytest.fixture
def window(qtbot):
    win = open_main_window(DIGITS)
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.errors = []
    win.files.show_error = lambda title, message: win.errors.append((title, message))
    yield win
    win.files.close()
    theme.use_theme(None)


@pytest.fixture
def shown(monkeypatch) -> list[str]:
    """The titles of the progress dialogs that were shown."""
    titles: list[str] = []

    class Watched(QProgressDialog):
        def showEvent(self, event):
            titles.append(self.windowTitle())
            super().showEvent(event)

    monkeypatch.setattr(progress_module, "QProgressDialog", Watched)
    return titles


def slowed(monkeypatch, owner, name: str) -> threading.Event:
    """Make `owner.name` wait (up to 30 s) for the returned event before it does its real work."""
    release = threading.Event()
    real = getattr(owner, name)

    def waiting(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, waiting)
    return release


def cancel_when_shown(window, release: threading.Event) -> QTimer:
    """Click Cancel on the progress dialog as soon as it shows, then let the slowed step go on."""

    def look() -> None:
        dialog = window.findChild(QProgressDialog, "workProgress")
        if dialog is not None and dialog.isVisible():
            timer.stop()
            dialog.findChild(QPushButton).click()
            release.set()

    timer = QTimer()
    timer.timeout.connect(look)
    timer.start(20)
    return timer


def work_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("work: ")]


def test_a_slow_export_shows_the_dialog_and_cancel_writes_nothing(window, qtbot, tmp_path: Path, monkeypatch, shown) -> None:
    release = slowed(monkeypatch, export_module, "build_torch_model")
    reports = []
    window.files.export_finished.connect(lambda ok, message: reports.append(ok))
    out = tmp_path / "out"
    out.mkdir()
    timer = cancel_when_shown(window, release)
    assert not window.files.export("onnx", out / "model.onnx")
    timer.stop()
    assert shown == ["Exporting model.onnx"]
    qtbot.waitUntil(lambda: not work_threads(), timeout=60_000)  # the thread stopped at its next step
    assert list(out.iterdir()) == []  # nothing written, no temporary file left
    assert reports == [] and window.errors == []
    assert "stopped: nothing was written" in window.statusBar().currentMessage()


def test_a_cancel_while_the_files_are_written_waits_for_them(window, tmp_path: Path, monkeypatch, shown) -> None:
    release = slowed(monkeypatch, export_module, "write_all_atomically")
    timer = cancel_when_shown(window, release)
    assert window.files.export("pytorch", tmp_path / "model.py")  # written whole, as the dialog then said
    timer.stop()
    assert shown and (tmp_path / "model.py").is_file() and (tmp_path / "model.pt").is_file()


def test_a_fast_export_shows_no_dialog(window, tmp_path: Path, monkeypatch, shown) -> None:
    monkeypatch.setattr(files_module, "QUICK_MS", 5000)  # a loaded test machine is slower than a user's
    reports = []
    window.files.export_finished.connect(lambda ok, message: reports.append((ok, message)))
    assert window.files.export("caffe", tmp_path / "digits.prototxt")
    assert shown == [] and reports and reports[0][0], reports
    assert (tmp_path / "digits.prototxt").is_file()


def test_the_dialog_names_the_step_the_export_is_at(window, qtbot, tmp_path: Path, monkeypatch) -> None:
    release = slowed(monkeypatch, export_module, "build_torch_model")
    labels = []

    def look() -> None:
        dialog = window.findChild(QProgressDialog, "workProgress")
        if dialog is not None and dialog.isVisible() and "Building the model" in dialog.labelText():
            labels.append(dialog.labelText())
            timer.stop()
            release.set()

    timer = QTimer()
    timer.timeout.connect(look)
    timer.start(20)
    assert window.files.export("pytorch", tmp_path / "model.py")
    timer.stop()
    assert labels and labels[0].startswith("Exporting digits_cnn to ")
    assert (tmp_path / "model.py").is_file() and (tmp_path / "model.pt").is_file()


def test_clicks_and_keys_wait_while_quick_work_runs(window, qtbot) -> None:
    field = QLineEdit(window)
    field.show()
    field.setFocus()
    release = threading.Event()
    typed = []

    def type_then_release() -> None:
        qtbot.keyClicks(field, "abc")
        typed.append(field.text())
        release.set()

    QTimer.singleShot(50, type_then_release)
    outcome = run_cancellable(window, "Working", "Working…", lambda cancel: release.wait(30), show_after_ms=10_000)
    assert outcome.result is True and typed == [""]
    qtbot.keyClicks(field, "abc")
    assert field.text() == "abc"  # the hold ends with the work


def test_a_cancel_after_writing_began_waits_for_the_files() -> None:
    cancel = Cancellation()
    cancel.step("building the model")
    cancel.writing("writing model.onnx")
    assert not cancel.request() and not cancel.is_set()  # too late: the files are being written
    early = Cancellation()
    assert early.request() and early.is_set()
    with pytest.raises(Cancelled):
        early.step("building the model")
    with pytest.raises(Cancelled):
        early.writing("writing model.onnx")


def test_a_slow_onnx_import_can_be_cancelled_and_the_project_stays(window, monkeypatch, shown) -> None:
    release = slowed(monkeypatch, interop_common, "import_model")
    before = window.document.project
    timer = cancel_when_shown(window, release)
    assert not window.files.import_model(EXAMPLES.parent / "never-read.onnx")
    timer.stop()
    assert shown == ["Importing never-read.onnx"]
    assert window.document.project is before and window.errors == []
    assert "stopped" in window.statusBar().currentMessage()


def test_a_failed_import_behind_the_dialog_says_why(window, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    assert not window.files.import_model(broken)
    assert window.errors and window.errors[0][0] == "Cannot import model" and "broken.onnx" in window.errors[0][1]


def test_opening_a_large_file_can_be_cancelled(window, monkeypatch, shown, tmp_path: Path) -> None:
    release = slowed(monkeypatch, files_module, "load_project")
    before = window.document.project
    timer = cancel_when_shown(window, release)
    assert not window.files.open_file(EXAMPLES / "mlp.lstudio")
    timer.stop()
    assert shown == ["Opening mlp.lstudio"]
    assert window.document.project is before
    assert window.files.open_file(EXAMPLES / "mlp.lstudio")  # unhindered, it opens
    assert window.document.path == (EXAMPLES / "mlp.lstudio").resolve()
    unreadable = tmp_path / "bad.lstudio"
    unreadable.write_text("{", encoding="utf-8")
    assert not window.files.open_file(unreadable)
    assert window.errors[-1][0] == "Cannot open project"
