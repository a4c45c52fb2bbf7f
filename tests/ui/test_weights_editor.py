"""The editor keeps a project's weights through renames: format 1 weights are re-keyed by layer on open."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.graph.weights_file import keyed_by_node
from studio.ui import open_main_window, theme
from studio.ui.files import Unsaved
from tests.ui.helpers import EXAMPLES

FORMAT1 = Path(__file__).resolve().parents[1] / "data" / "format1"


@pytest.fixture
def window(qtbot):
    win = open_main_window(EXAMPLES / "mlp.lstudio")
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.errors = []
    win.files.show_error = lambda title, message: win.errors.append((title, message))
    yield win
    win.files.close()
    theme.use_theme(None)


def _export(window, qtbot, out: Path) -> dict[str, np.ndarray]:
    with qtbot.waitSignal(window.files.export_finished, timeout=120_000) as blocker:
        assert window.files.export("pytorch", out)
    assert blocker.args[0], blocker.args[1]
    return {k: v.numpy() for k, v in torch.load(out.with_suffix(".pt"), weights_only=True).items()}


def test_a_format_1_project_keeps_its_weights_through_rename_undo_and_save(window, qtbot, tmp_path: Path) -> None:
    shutil.copytree(FORMAT1, tmp_path / "p")
    project_file = tmp_path / "p" / "mlp.lstudio"
    with np.load(tmp_path / "p" / "mlp.weights.npz") as archive:
        original = {key: archive[key] for key in archive.files}
    assert window.files.open_file(project_file)
    document = window.document
    assert window.files.holds_imported_weights() and document.is_modified  # re-keyed, waiting to be saved
    node = document.graph.node_by_name("hidden1")
    assert node is not None
    document.rename(node.id, "first layer")
    exported = _export(window, qtbot, tmp_path / "renamed.py")
    np.testing.assert_array_equal(exported["first_layer.weight"], original["hidden1.weight"])
    document.undo_stack.undo()
    exported = _export(window, qtbot, tmp_path / "undone.py")
    np.testing.assert_array_equal(exported["hidden1.weight"], original["hidden1.weight"])
    document.undo_stack.redo()
    assert window.files.save()
    saved = json.loads(project_file.read_text(encoding="utf-8"))
    assert saved["format_version"] == 2 and saved["training"]["weights"] == "mlp.weights.npz"
    with np.load(tmp_path / "p" / "mlp.weights.npz") as archive:
        assert keyed_by_node(archive.files)
        np.testing.assert_array_equal(archive[f"{node.id}/weight"], original["hidden1.weight"])
    assert window.files.open_file(project_file) and not window.document.is_modified  # nothing left to re-key
    exported = _export(window, qtbot, tmp_path / "reopened.py")
    np.testing.assert_array_equal(exported["first_layer.bias"], original["hidden1.bias"])
    assert window.errors == []


def test_exporting_an_enormous_network_says_its_size_and_the_limit(window, qtbot, tmp_path: Path) -> None:
    document = window.document
    document.set_param(document.graph.node_by_name("point").id, "shape", (10**6,))
    document.set_param(document.graph.node_by_name("hidden1").id, "out_features", 10**6)
    with qtbot.waitSignal(window.files.export_finished, timeout=120_000) as blocker:
        assert not window.files.export("onnx", tmp_path / "huge.onnx")
    succeeded, message = blocker.args[:2]
    assert not succeeded and "needs 3.6 TiB of weights" in message and "the limit is 16 GiB" in message and "LAYER_STUDIO_MAX_WEIGHTS_GIB" in message
    assert not (tmp_path / "huge.onnx").exists()
