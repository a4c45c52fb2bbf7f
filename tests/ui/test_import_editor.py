"""File > Import…: a model opens as a new, unsaved project; saving writes the project and its weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from studio.codegen.weights import by_attribute
from studio.graph.project import load_project
from studio.interop import import_model
from studio.ui import open_main_window, theme
from studio.ui.files import Unsaved
from studio.ui.recovery import find_recoverable
from tests.interop import onnx_models as om
from tests.ui.helpers import EXAMPLES


@pytest.fixture
def window(qtbot):
    win = open_main_window(EXAMPLES / "digits_cnn.lstudio")
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.errors, win.notes = [], []
    win.files.show_error = lambda title, message: win.errors.append((title, message))
    win.files.show_notes = lambda title, message: win.notes.append((title, message))
    yield win
    win.files.close()
    theme.use_theme(None)


def test_import_opens_an_unsaved_project_and_save_writes_its_weights(
    window, tmp_path: Path
) -> None:
    source = om.save(om.padded_convolutions(), tmp_path / "convs.onnx")
    assert window.files.import_model(source)
    document = window.document
    assert document.path is None and document.is_modified
    assert {"Conv2d", "ZeroPad2d"} <= {n.type for n in document.graph.nodes.values()}
    assert document.analysis.is_valid and not window.errors
    assert "Imported convs.onnx" in window.statusBar().currentMessage()
    assert window.canvas.scene().items()  # the canvas shows the imported graph
    assert (
        window.files.save_as(tmp_path / "saved" / "net.lstudio") is False
    )  # no such folder: nothing written
    (tmp_path / "saved").mkdir()
    assert window.files.save_as(tmp_path / "saved" / "net.lstudio")
    weights = tmp_path / "saved" / "net.weights.npz"
    assert weights.is_file() and not document.is_modified
    assert (
        load_project(tmp_path / "saved" / "net.lstudio").training.weights
        == "net.weights.npz"
    )
    with np.load(weights) as stored:
        assert any(key.endswith("/weight") for key in stored.files)
    assert not window.files.holds_imported_weights()
    assert not window.files.autosaver.weights.exists()  # the waiting copy went with the save
    assert not document.undo_stack.canUndo()  # pointing at the saved weights is no edit to undo


def test_the_import_action_is_in_the_file_menu(window) -> None:
    action = window.act["import"]
    assert action in window.menuBar().actions()[0].menu().actions()
    assert "ONNX" in action.toolTip() or "ONNX" in action.statusTip()


def test_a_failed_import_keeps_the_open_project_and_says_why(
    window, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 not a model")
    before = window.document.project
    assert not window.files.import_model(garbage)
    assert window.document.project is before
    assert (
        window.errors
        and window.errors[-1][0] == "Cannot import model"
        and "garbage.onnx" in window.errors[-1][1]
    )


def test_opening_another_project_forgets_the_imported_weights(
    window, tmp_path: Path
) -> None:
    assert window.files.import_model(
        om.save(om.gemm_without_trans_b(), tmp_path / "fc.onnx")
    )
    waiting = window.files.autosaver.weights
    assert window.files.holds_imported_weights() and waiting.is_file()
    window.files.new_project()
    assert not window.files.holds_imported_weights() and not waiting.exists()


def test_an_unsaved_import_exports_with_its_weights(window, qtbot, tmp_path: Path) -> None:
    source = om.save(om.gemm_without_trans_b(), tmp_path / "fc.onnx")
    assert window.files.import_model(source)
    done = []
    window.files.export_finished.connect(lambda ok, message: done.append((ok, message)))
    assert window.files.export("onnx", tmp_path / "again.onnx")
    qtbot.waitUntil(lambda: bool(done), timeout=60_000)
    assert done[0][0], done
    again = onnx.load(tmp_path / "again.onnx")
    model = import_model(source)
    imported = by_attribute(model.state, model.project)  # named as the export names its weights
    exported = {t.name: numpy_helper.to_array(t) for t in again.graph.initializer}
    assert exported.keys() == imported.keys()
    assert all(np.allclose(exported[k], imported[k]) for k in imported)  # not freshly initialized ones


CRASHING_IMPORT = """
import os, sys
from PySide6.QtWidgets import QApplication
from studio.ui import open_main_window
app = QApplication([])
window = open_main_window(None)
window.files.import_model(sys.argv[1])
window.files.autosave()
os._exit(1)  # a crash before the import was saved
"""


def test_a_crashed_unsaved_import_is_recovered_with_its_weights(window, tmp_path: Path) -> None:
    source = om.save(om.gemm_without_trans_b(), tmp_path / "fc.onnx")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    subprocess.run([sys.executable, "-c", CRASHING_IMPORT, str(source)], env=env, check=False, timeout=120)
    window.files.ask_recover = lambda item: True
    assert window.files.offer_recovery()
    assert window.files.holds_imported_weights() and window.files.autosaver.weights.is_file()
    assert not find_recoverable()
    assert window.files.save_as(tmp_path / "recovered.lstudio")
    with np.load(tmp_path / "recovered.weights.npz") as stored:
        assert any(key.endswith("/weight") for key in stored.files)
