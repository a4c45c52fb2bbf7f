"""File > Import Model for PyTorch code: the file read (never run) for its models, the dialog, and the import off the GUI thread.

The imports here run real capture child processes: one small module imported with its weights,
one endless loop stopped by Cancel, one crash, one broken `.pt2` program.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QProgressDialog, QPushButton

from studio.ui import open_main_window, theme
from studio.ui.code_import_dialog import (
    FILES_KEY,
    CodeImportDialog,
    CodeImportRequest,
    InputsError,
    parse_inputs,
    remember,
)
from studio.ui.code_scan import CodeScanError, scan_code
from studio.ui.files import IMPORT_FILTER, Unsaved
from studio.ui.progress import run_cancellable
from studio.ui.recovery import settings
from tests.ui.helpers import EXAMPLES

MODELS = textwrap.dedent('''
    import torch
    from torch import nn
    from torchvision.models import resnet18 as imported_builder


    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x):
            return self.conv(x) + x


    class Net(nn.Module):
        def __init__(self, width=8):
            super().__init__()
            self.stem = nn.Conv2d(3, width, 3, padding=1)
            self.block = Block(width)

        def forward(self, x):
            return self.block(self.stem(x))


    class Wider(Net):
        pass


    class Stack(nn.Sequential):
        def __init__(self, *, depth):
            super().__init__(*[nn.ReLU() for _ in range(depth)])


    class Config:
        hidden = 4


    def build() -> nn.Module:
        return Net(width=4)


    def tiny():
        model = nn.Sequential(nn.Linear(4, 2))
        return model


    def deep(depth):
        return Stack(depth=depth)


    def _private():
        return Net()


    def sample():
        return torch.randn(2, 3)


    def count():
        return 3


    def describe() -> str:
        return "a net"
''')

LINEAR = textwrap.dedent('''
    import torch
    from torch import nn


    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(6, 5)
            self.out = nn.Linear(5, 3)

        def forward(self, x):
            return self.out(torch.relu(self.hidden(x)))


    def example_inputs():
        return torch.randn(2, 6)
''')

EXAMPLE_INPUTS = textwrap.dedent('''
    import torch
    from torch import nn


    class Embedder(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(10, 4)

        def forward(self, ids):
            return self.table(ids)


    def example_inputs():
        return (torch.zeros(2, 16, dtype=torch.long),)
''')

ENDLESS = textwrap.dedent('''
    import os
    from pathlib import Path

    Path(__file__).with_name("started").write_text(str(os.getpid()))
    while True:
        pass
''')

CRASH = textwrap.dedent('''
    import ctypes

    ctypes.string_at(0)  # reads address 0: the process dies of SIGSEGV


    class Net:
        pass
''')


def written(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(source)
    return path


@pytest.fixture
def window(qtbot):
    win = open_main_window(EXAMPLES / "digits_cnn.lstudio")
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.errors, win.notes, win.asked = [], [], []
    win.files.show_error = lambda title, message: win.errors.append((title, message))
    win.files.show_notes = lambda title, message: win.notes.append((title, message))
    yield win
    win.files.close()
    theme.use_theme(None)


def answer_with(win, name: str, inputs: tuple[str, ...], weights: Path | None = None) -> None:
    """Replace the NAME/shape dialog: record the scan it was given, answer with these values."""

    def ask(scan):
        win.asked.append(scan)
        return CodeImportRequest(scan.path, name, inputs, weights)

    win.files.ask_code_import = ask


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:  # it ended between the two looks
        return False


# ----- reading the file -----
def test_the_scan_offers_module_classes_built_without_arguments_and_functions_returning_modules(tmp_path: Path) -> None:
    scan = scan_code(written(tmp_path, "models.py", MODELS))
    assert scan.classes == ("Net", "Wider")  # Block and Stack need arguments, Config is no module
    assert scan.functions == ("build", "tiny")  # not deep (an argument), _private, sample (a tensor), count, describe (a str)
    assert scan.suggested == "Wider"  # the last class nothing else in the file uses
    assert not scan.has_example_inputs
    assert scan.defines("imported_builder") and scan.defines("Block") and not scan.defines("Missing")


def test_the_scan_sees_example_inputs_and_does_not_offer_it(tmp_path: Path) -> None:
    scan = scan_code(written(tmp_path, "embed.py", EXAMPLE_INPUTS))
    assert scan.has_example_inputs
    assert scan.names == ("Embedder",) and scan.suggested == "Embedder"


def test_the_scan_reads_the_file_without_running_it(tmp_path: Path) -> None:
    path = written(tmp_path, "endless.py", ENDLESS)
    assert scan_code(path).names == ()
    assert not (tmp_path / "started").exists()


def test_a_file_that_is_not_python_gives_a_message_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(CodeScanError, match=r"broken\.py is not valid Python \(line 3"):
        scan_code(written(tmp_path, "broken.py", "import torch\n\nclass Net(nn.Module)\n    pass\n"))
    with pytest.raises(CodeScanError, match="cannot be read"):
        scan_code(tmp_path / "missing.py")
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(CodeScanError, match="binary.py"):
        scan_code(binary)


def test_the_editor_reads_the_file_and_checks_shapes_without_torch(tmp_path: Path) -> None:
    path = written(tmp_path, "models.py", MODELS)
    probe = (
        "import sys\nfrom studio.ui.code_import_dialog import parse_inputs\nfrom studio.ui.code_scan import scan_code\n"
        f"assert scan_code({str(path)!r}).names\nassert parse_inputs('3x8x8, 4:int64', False)\n"
        "print(sorted(m for m in ('torch', 'onnx', 'keras') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ----- the dialog -----
def test_inputs_use_the_capture_grammar() -> None:
    assert parse_inputs("3x224x224", optional=False) == ("3x224x224",)
    assert parse_inputs(" 16:int64 , 16 : int64 ", optional=False) == ("16:int64", "16:int64")
    assert parse_inputs("", optional=True) == ()
    with pytest.raises(InputsError, match="3x224x224"):
        parse_inputs("  ", optional=False)
    with pytest.raises(InputsError, match=r"'3x' is not a shape"):
        parse_inputs("4, 3x", optional=False)
    with pytest.raises(InputsError, match=r"'16:int8' is not a shape.*int64"):
        parse_inputs("16:int8", optional=False)
    with pytest.raises(InputsError, match="between two commas"):
        parse_inputs("4,,4", optional=False)


def test_the_dialog_allows_import_only_when_every_field_is_usable(qtbot, tmp_path: Path) -> None:
    scan = scan_code(written(tmp_path, "models.py", MODELS))
    dialog = CodeImportDialog(scan)
    qtbot.addWidget(dialog)
    assert [dialog.name.itemText(i) for i in range(dialog.name.count())] == ["Net", "Wider", "build", "tiny"]
    assert dialog.name.currentText() == "Wider"
    assert not dialog.import_button.isEnabled() and "3x224x224" in dialog.problem.text()
    dialog.inputs.setText("3x16x16")
    assert dialog.import_button.isEnabled() and dialog.problem.text() == ""
    dialog.inputs.setText("3x16x")
    assert not dialog.import_button.isEnabled() and "'3x16x' is not a shape" in dialog.problem.text()
    dialog.inputs.setText("3x16x16")
    dialog.name.setCurrentText("Missing")
    assert not dialog.import_button.isEnabled() and "defines no 'Missing'" in dialog.problem.text()
    assert "Net, Wider, build, tiny" in dialog.problem.text()
    dialog.name.setCurrentText("imported_builder")  # bound by an import: the child may build it
    assert dialog.import_button.isEnabled()
    dialog.name.setCurrentText("not a name")
    assert not dialog.import_button.isEnabled()
    dialog.name.setCurrentText("Net")
    dialog.weights.setText(str(tmp_path / "absent.pt"))
    assert not dialog.import_button.isEnabled() and "absent.pt: no such file" in dialog.problem.text()
    (tmp_path / "net.pt").write_bytes(b"")
    dialog.weights.setText(str(tmp_path / "net.pt"))
    assert dialog.import_button.isEnabled()
    assert dialog.request() == CodeImportRequest(scan.path, "Net", ("3x16x16",), (tmp_path / "net.pt").resolve())
    assert "runs the Python code" in dialog.findChild(type(dialog.problem), "codeImportWarning").text()


def test_example_inputs_make_the_shapes_optional(qtbot, tmp_path: Path) -> None:
    dialog = CodeImportDialog(scan_code(written(tmp_path, "embed.py", EXAMPLE_INPUTS)))
    qtbot.addWidget(dialog)
    assert dialog.inputs.text() == "" and dialog.import_button.isEnabled()
    assert dialog.request().inputs == ()


def test_the_last_values_are_remembered_per_file_and_as_defaults(qtbot, tmp_path: Path) -> None:
    first = scan_code(written(tmp_path, "models.py", MODELS))
    weights = tmp_path / "net.pt"
    weights.write_bytes(b"")
    remember(CodeImportRequest(first.path, "build", ("3x32x32", "4:int64"), weights))
    again = CodeImportDialog(first)
    qtbot.addWidget(again)
    assert (again.name.currentText(), again.inputs.text(), again.weights.text()) == ("build", "3x32x32, 4:int64", str(weights))
    other = scan_code(written(tmp_path, "other.py", MODELS.replace("def build()", "def make()")))
    fresh = CodeImportDialog(other)  # a new file: the last shapes, but not another model's weights
    qtbot.addWidget(fresh)
    assert (fresh.name.currentText(), fresh.inputs.text(), fresh.weights.text()) == ("Wider", "3x32x32, 4:int64", "")
    remember(CodeImportRequest(other.path, "tiny", ("4",)))
    third = CodeImportDialog(scan_code(written(tmp_path, "third.py", MODELS)))
    qtbot.addWidget(third)
    assert third.name.currentText() == "tiny"  # the last name, as this file defines it too
    store = settings()
    store.setValue(FILES_KEY, "{not json")
    store.sync()
    damaged = CodeImportDialog(first)  # damaged per-file values are dropped: the last overall remain
    qtbot.addWidget(damaged)
    assert (damaged.name.currentText(), damaged.inputs.text(), damaged.weights.text()) == ("tiny", "4", "")
    remember(CodeImportRequest(first.path, "Renamed", ("4",)))
    renamed = CodeImportDialog(first)  # a remembered name the file no longer defines gives way to the suggestion
    qtbot.addWidget(renamed)
    assert (renamed.name.currentText(), renamed.inputs.text()) == ("Wider", "4")


# ----- the progress dialog -----
def progress_dialog(parent) -> QProgressDialog | None:
    dialog = parent.findChild(QProgressDialog, "workProgress")
    return dialog if dialog is not None and dialog.isVisible() else None


@pytest.mark.parametrize("how", ["button", "close", "escape"])
def test_cancelling_or_closing_the_progress_returns_at_once_and_sets_the_event(window, qtbot, how: str) -> None:
    events = []

    def work(cancel):
        events.append(cancel)
        cancel.wait(60)  # a child that only the event ends
        return "too late"

    def stop() -> None:
        dialog = progress_dialog(window)
        if dialog is None or not events:
            return  # on a loaded machine a key can arrive before the dialog takes keys: the timer tries again
        if how == "button":
            dialog.findChild(QPushButton).click()
        elif how == "close":
            dialog.close()
        else:
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    timer = QTimer()
    timer.timeout.connect(stop)
    timer.start(20)
    outcome = run_cancellable(window, "Importing", "Working…", work)
    timer.stop()
    assert outcome.cancelled and outcome.result is None and events[0].is_set()
    assert progress_dialog(window) is None


def test_the_progress_gives_back_the_result_or_the_error(window) -> None:
    assert run_cancellable(window, "Importing", "Working…", lambda cancel: 42).result == 42
    failed = run_cancellable(window, "Importing", "Working…", lambda cancel: 1 / 0)
    assert isinstance(failed.error, ZeroDivisionError) and not failed.cancelled


# ----- the import -----
def test_the_import_menu_accepts_pytorch_code() -> None:
    assert "PyTorch code (*.py)" in IMPORT_FILTER and "*.py" in IMPORT_FILTER.split(";;")[0]


def test_a_module_imports_from_the_dialog_with_its_weights_while_the_editor_keeps_running(window, qtbot, tmp_path: Path) -> None:
    import torch

    path = written(tmp_path, "classifier.py", LINEAR)
    namespace: dict = {}
    exec(compile(LINEAR, str(path), "exec"), namespace)  # noqa: S102 - the test's own module, built as the child builds it
    torch.manual_seed(3)
    original = namespace["Classifier"]()
    torch.save(original.state_dict(), tmp_path / "classifier.pt")

    def ask(scan):  # the real dialog, filled in as a person would: the shapes come from example_inputs()
        dialog = CodeImportDialog(scan, window)
        dialog.weights.setText(str(tmp_path / "classifier.pt"))
        window.asked.append(dialog.problems())
        return dialog.request()

    window.files.ask_code_import = ask
    ticks = []
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: ticks.append(1))
    heartbeat.start(20)
    assert window.files.import_model(path), window.errors
    heartbeat.stop()
    assert ticks  # the GUI thread ran its event loop while the child worked
    assert window.asked == [[]]  # nothing for the dialog to object to
    graph = window.document.graph
    assert sorted(n.type for n in graph.nodes.values()) == ["Input", "Linear", "Linear", "Output", "ReLU"]
    assert window.document.is_modified and window.document.path is None and not window.errors
    assert "Imported classifier.py: 3 layers" in window.statusBar().currentMessage()
    with np.load(window.files.autosaver.weights) as stored:
        arrays = [stored[k] for k in stored.files]
    for tensor in original.state_dict().values():
        assert any(a.shape == tuple(tensor.shape) and np.allclose(a, tensor.numpy()) for a in arrays)
    assert "Classifier" in str(settings().value(FILES_KEY))  # remembered for next time


def test_cancel_stops_the_child_at_once(window, qtbot, tmp_path: Path) -> None:
    path = written(tmp_path, "endless.py", ENDLESS)
    answer_with(window, "Net", ("4",))
    before = window.document.project
    started = tmp_path / "started"
    cancelled = []

    def cancel_once_running() -> None:
        dialog = window.findChild(QProgressDialog, "workProgress")
        if started.exists() and started.read_text() and dialog is not None and dialog.isVisible() and not cancelled:
            cancelled.append(int(started.read_text()))
            dialog.findChild(QPushButton).click()  # the progress dialog's Cancel

    watcher = QTimer()
    watcher.timeout.connect(cancel_once_running)
    watcher.start(50)
    assert not window.files.import_model(path)
    watcher.stop()
    assert cancelled, "the child never reached the endless loop"
    assert not window.errors and window.document.project is before
    assert "stopped" in window.statusBar().currentMessage()

    qtbot.waitUntil(lambda: not running(cancelled[0]), timeout=10_000)  # the loop never ends by itself: only the kill ends it


KILLED_PARENT = """
import sys
from studio.interop.python_code import import_python
import_python(sys.argv[1] + ":Net", ["4"])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_child_dies_with_a_killed_editor(qtbot, tmp_path: Path) -> None:
    path = written(tmp_path, "endless.py", ENDLESS)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(path)], env=env)
    started = tmp_path / "started"
    try:
        qtbot.waitUntil(lambda: started.exists() and started.read_text() != "", timeout=60_000)
    finally:
        parent.kill()
        parent.wait()
    qtbot.waitUntil(lambda: not running(int(started.read_text())), timeout=10_000)


def test_a_child_that_crashes_is_an_error_box(window, tmp_path: Path) -> None:
    answer_with(window, "Net", ("4",))
    before = window.document.project
    assert not window.files.import_model(written(tmp_path, "crash.py", CRASH))
    assert window.errors and window.errors[-1][0] == "Cannot import model"
    assert "crash.py:Net" in window.errors[-1][1] and "crashed (SIGSEGV)" in window.errors[-1][1]
    assert window.document.project is before


def test_a_program_goes_through_the_progress_and_its_error_is_an_error_box(window, tmp_path: Path, monkeypatch) -> None:
    from studio.interop import python_code

    seen = []

    def import_program(path, cancel=None):  # the capture child's refusal, as import_program raises it
        seen.append((cancel, threading.current_thread() is threading.main_thread()))
        raise python_code.ModelImportError(f"{path.name}: not a program saved with torch.export.save (BadZipFile)")

    monkeypatch.setattr(python_code, "import_program", import_program)
    program = tmp_path / "broken.pt2"
    program.write_bytes(b"not a zip archive")
    assert not window.files.import_model(program)
    assert seen == [(seen[0][0], False)] and seen[0][0] is not None  # run once, with a cancel event, off the GUI thread
    assert window.errors[-1] == ("Cannot import model", "broken.pt2: not a program saved with torch.export.save (BadZipFile)")


def test_a_file_with_a_syntax_error_is_refused_before_the_dialog(window, tmp_path: Path) -> None:
    answer_with(window, "Net", ("4",))
    assert not window.files.import_model(written(tmp_path, "broken.py", "def f(:\n"))
    assert not window.asked
    assert window.errors[-1] == ("Cannot import model", "broken.py is not valid Python (line 1: invalid syntax); fix the file, then import it again")


def test_closing_the_dialog_imports_nothing(window, tmp_path: Path) -> None:
    window.files.ask_code_import = lambda scan: None
    before = window.document.project
    assert not window.files.import_model(written(tmp_path, "models.py", MODELS))
    assert window.document.project is before and not window.errors
