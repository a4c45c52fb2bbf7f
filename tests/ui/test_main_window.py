"""The main window: its panels, title, files, recovery, export and themes, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication, QUndoStack
from PySide6.QtWidgets import QApplication, QGraphicsView

from studio.graph.project import load_project, project_to_dict
from studio.ui import open_main_window, theme
from studio.ui.files import Unsaved
from studio.ui.recovery import find_recoverable
from tests.ui.helpers import EXAMPLES

DIGITS = EXAMPLES / "digits_cnn.lstudio"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def window(qtbot):
    win = open_main_window(DIGITS)
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    errors: list[tuple[str, str]] = []
    win.files.show_error = lambda title, message: errors.append((title, message))
    win.errors = errors
    yield win
    win.files.close()
    theme.use_theme(None)


def test_window_has_every_panel_and_owns_its_history(window):
    for name in ("palette", "canvas", "inspector", "problems", "codePreview"):
        assert window.findChild(object, name) is not None, name
    assert isinstance(window.findChild(QGraphicsView, "canvas"), QGraphicsView)
    assert window.findChild(QUndoStack) is window.undo_stack
    assert window.undo_stack.parent() is window


def shown_title(window) -> str:
    """The title bar's text: Qt's xcb and Windows plugins append the display name unless the title ends with it."""
    window.winId()  # the native window holds the title with its [*] placeholder resolved
    title = window.windowHandle().title()
    name = QGuiApplication.applicationDisplayName()
    return title if title.endswith(name) else f"{title} \u2014 {name}"


@pytest.fixture(autouse=True)
def display_name(qapp):
    """The display name the editor's application sets (studio.ui.app.application)."""
    before = QGuiApplication.applicationDisplayName()
    QGuiApplication.setApplicationDisplayName("Layer Studio")
    yield
    QGuiApplication.setApplicationDisplayName(before)


def test_title_names_the_project_and_marks_unsaved_changes(window):
    assert shown_title(window) == "digits_cnn \u2014 Layer Studio"
    conv = window.document.graph.node_by_name("conv1")
    window.document.set_param(conv.id, "out_channels", 20)
    assert shown_title(window) == "digits_cnn* \u2014 Layer Studio"
    window.undo_stack.undo()
    assert shown_title(window) == "digits_cnn \u2014 Layer Studio"


def test_the_title_names_the_program_once(window, tmp_path):
    window.show()
    assert shown_title(window).count("Layer Studio") == 1
    window.files.save_as(tmp_path / "mycnn.lstudio")
    assert shown_title(window) == "mycnn \u2014 Layer Studio"
    window.document.set_name("odd [*] name")
    assert shown_title(window) == "odd [*] name \u2014 Layer Studio"


def test_status_bar_shows_the_totals_and_follows_edits(window):
    window.update_summary()
    before = window.summary_label.text()
    assert "param" in before.lower()
    conv = window.document.graph.node_by_name("conv2")
    window.document.set_param(conv.id, "out_channels", 64)
    window.update_summary()
    assert window.summary_label.text() != before


def test_save_then_open_reproduces_the_project(window, tmp_path, qtbot):
    doc = window.document
    doc.add_node("Dropout", (100.0, 400.0))
    doc.rename(doc.graph.node_by_name("fc1").id, "hidden")
    target = tmp_path / "copy"
    assert window.files.save_as(target)
    saved = tmp_path / "copy.lstudio"
    assert saved.is_file() and not doc.is_modified
    assert shown_title(window) == "copy \u2014 Layer Studio"
    other = open_main_window(saved)
    qtbot.addWidget(other)
    assert project_to_dict(other.document.project) == project_to_dict(doc.project)
    assert window.files.recent_files()[0] == saved.resolve()
    other.files.close()


def test_a_broken_file_is_reported_and_the_open_project_kept(window, tmp_path):
    broken = tmp_path / "broken.lstudio"
    broken.write_text('{"format_version": 1, "graph": ', encoding="utf-8")
    before = project_to_dict(window.document.project)
    assert not window.files.open_file(broken)
    assert window.errors and "broken.lstudio" in window.errors[0][1]
    assert project_to_dict(window.document.project) == before


def test_unsaved_work_prompts_before_it_is_lost(window):
    doc = window.document
    doc.add_node("ReLU")
    window.files.ask_unsaved = lambda: Unsaved.CANCEL
    window.files.new_project()
    assert len(doc.graph) == 13 and doc.is_modified
    assert not window.close()
    window.files.ask_unsaved = lambda: Unsaved.DISCARD
    window.files.new_project()
    assert len(doc.graph) == 0 and not doc.is_modified
    assert shown_title(window) == "untitled \u2014 Layer Studio"


def test_save_from_the_prompt_writes_the_file(window, tmp_path):
    path = tmp_path / "kept.lstudio"
    window.files.save_as(path)
    window.document.add_node("ReLU")
    window.files.ask_unsaved = lambda: Unsaved.SAVE
    window.files.new_project()
    assert len(load_project(path).graph) == 13


def test_new_from_example_opens_an_unsaved_copy(window):
    window.files.open_example(EXAMPLES / "lenet5.lstudio")
    assert window.document.path is None
    assert window.document.graph.node_by_name("c1") is not None
    assert window.undo_stack.count() == 0


CRASHING_EDITOR = """
import os, sys
from PySide6.QtWidgets import QApplication
from studio.graph.project import load_project
from studio.ui.recovery import Autosaver
app = QApplication([])
project = load_project(sys.argv[1])
project.graph.add_node("Dropout", "crash_survivor")
Autosaver().save(project, None)
os._exit(1)  # a crash: no clean close, the recovery copy stays
"""


def test_work_left_by_a_crash_is_offered_back(window, private_home):
    env = dict(
        os.environ, LAYER_STUDIO_HOME=str(private_home), QT_QPA_PLATFORM="offscreen"
    )
    subprocess.run(
        [sys.executable, "-c", CRASHING_EDITOR, str(DIGITS)],
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert len(find_recoverable()) == 1
    asked = []
    window.files.ask_recover = lambda item: asked.append(item) or True
    assert window.files.offer_recovery()
    assert asked and window.document.graph.node_by_name("crash_survivor") is not None
    assert window.document.is_modified
    assert shown_title(window) == "digits_cnn* \u2014 Layer Studio"
    assert find_recoverable() == []


def test_autosave_writes_a_copy_that_a_clean_close_removes(window):
    window.document.add_node("ReLU")
    window.files.autosave()
    copy = window.files.autosaver.copy
    assert copy.is_file() and len(load_project(copy).graph) == 13
    assert find_recoverable() == []  # this editor is alive: its copy is not offered
    window.files.close()
    assert not copy.exists()


def test_export_runs_in_the_background_and_reports(window, tmp_path, qtbot):
    out = tmp_path / "digits.prototxt"
    with qtbot.waitSignal(window.files.export_finished, timeout=120_000) as blocker:
        assert window.files.export("caffe", out)
    ok, message = blocker.args
    assert ok, message
    assert out.is_file() and "Convolution" in out.read_text()


def test_export_of_a_broken_network_says_why(window, tmp_path, qtbot):
    doc = window.document
    doc.remove_nodes([doc.graph.node_by_name("flatten").id])
    with qtbot.waitSignal(window.files.export_finished, timeout=120_000) as blocker:
        window.files.export("pytorch", tmp_path / "model.py")
    assert blocker.args[0] is False
    assert window.errors and "Export failed" == window.errors[0][0]
    assert not (tmp_path / "model.py").exists()


def test_a_keras_backend_that_cannot_load_is_a_plain_export_message(window, tmp_path, qtbot, monkeypatch):
    from studio.codegen import keras_backend

    monkeypatch.setattr(keras_backend, "_installed", lambda package: package == "keras")
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # as in a fresh editor that never loaded it
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with qtbot.waitSignal(window.files.export_finished, timeout=120_000) as blocker:
        window.files.export("keras", tmp_path / "model_keras.py")
    assert blocker.args[0] is False
    title, message = window.errors[0]
    assert title == "Export failed"
    assert message.startswith("Keras backend 'jax' (from KERAS_BACKEND) cannot load") and "Error" not in message
    assert not (tmp_path / "model_keras.py").exists()


def window_lightness() -> int:
    palette = QApplication.palette()
    return palette.color(palette.ColorRole.Window).lightness()


def test_the_chosen_theme_is_applied_and_remembered(window, qtbot):
    window.set_theme("dark")
    assert theme.current_theme().dark and window_lightness() < 128
    again = open_main_window(DIGITS)
    qtbot.addWidget(again)
    assert again.findChild(object, "theme_dark").isChecked()
    window.set_theme("light")
    assert not theme.current_theme().dark and window_lightness() > 128
    again.files.close()


def test_the_layout_of_the_docks_is_remembered(window, qtbot):
    window.docks["problems"].hide()
    window.save_layout()
    again = open_main_window(DIGITS)
    qtbot.addWidget(again)
    assert again.docks["problems"].isHidden()
    again.files.close()


def test_the_editor_starts_without_torch_keras_or_onnx():
    code = textwrap.dedent(
        f"""
        import sys
        from studio.ui import open_main_window
        window = open_main_window({str(DIGITS)!r})
        window.show()
        window.code_preview.setVisible(True)
        from PySide6.QtWidgets import QApplication
        for _ in range(5):
            QApplication.processEvents()
        from studio.train.request import TrainRequest  # what Train imports before the child starts
        from studio.train.worker import TrainingWorker
        TrainingWorker(TrainRequest({{}}))
        heavy = sorted(m for m in ("torch", "keras", "onnx", "onnxruntime") if m in sys.modules)
        print("heavy:", heavy)
        window.files.close()
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout, result.stdout


def test_export_carries_the_projects_trained_weights(window, tmp_path, qtbot):
    import torch

    from studio.codegen.export import build_torch_model
    from studio.codegen.pytorch import generate_pytorch

    trained = build_torch_model(generate_pytorch(window.document.project), seed=123).state_dict()
    torch.save(trained, tmp_path / "best.pt")
    window.files.save_as(tmp_path / "digits.lstudio")
    window.document.set_training("weights", "best.pt")
    with qtbot.waitSignal(window.files.export_finished, timeout=120_000) as blocker:
        window.files.export("pytorch", tmp_path / "model.py")
    assert blocker.args[0], blocker.args[1]
    exported = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(torch.equal(exported[k], trained[k]) for k in trained)
    window.document.set_training("weights", "gone.pt")
    assert not window.files.export("pytorch", tmp_path / "other.py")
    assert window.errors[-1][0] == "Trained weights missing"


def test_closing_during_training_asks_first_and_stops_the_run(window, monkeypatch):
    monkeypatch.setattr(type(window.training), "running", property(lambda self: True))
    stopped = []
    monkeypatch.setattr(window.training, "shutdown", lambda: stopped.append(True))
    window.ask_stop_training = lambda: False
    assert not window.close()
    assert not stopped
    window.ask_stop_training = lambda: True
    assert window.close()
    assert stopped == [True]
