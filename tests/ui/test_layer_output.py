"""The Layer Output panel: the view suits the tensor, the sample picker changes it, problems are one line."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.graph.project import load_project
from studio.train.node_output import clear_cache
from studio.ui.document import Document
from studio.ui.layer_output import LayerOutputPanel
from tests.ui.helpers import EXAMPLES


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _panel(qtbot, undo_stack, example: str) -> LayerOutputPanel:
    document = Document(undo_stack)
    path = EXAMPLES / f"{example}.lstudio"
    document.load(load_project(path), path)
    panel = LayerOutputPanel(document)
    qtbot.addWidget(panel)
    panel.resize(600, 500)
    panel.show()
    return panel


def _show(qtbot, panel: LayerOutputPanel, name: str) -> None:
    node = panel.document.graph.node_by_name(name)
    with qtbot.waitSignal(panel.shown, timeout=60_000):
        panel.document.select([node.id])


@pytest.mark.parametrize(
    ("example", "layer", "view"),
    [
        ("digits_cnn", "conv1", "maps"),
        ("digits_cnn", "fc1", "bars"),
        ("transformer_classifier", "embed", "heatmap"),
        ("transformer_classifier", "encoder1", "attention"),
    ],
)
def test_the_view_suits_the_rank(qtbot, undo_stack, example, layer, view):
    panel = _panel(qtbot, undo_stack, example)
    _show(qtbot, panel, layer)
    assert panel.message == ""
    assert panel.view == view
    shape = panel.result.values.shape
    if view == "maps":
        assert len(panel.views.maps.images) == shape[0] and panel.views.maps.captions[0] == "0"
    if view == "attention":
        assert len(panel.views.maps.images) == panel.result.attention.shape[0] and panel.views.maps.captions[0] == "head 0"


def test_the_output_names_its_top_classes(qtbot, undo_stack):
    panel = _panel(qtbot, undo_stack, "digits_cnn")
    _show(qtbot, panel, "digit")
    assert panel.view == "bars"
    texts = [item.textItem.toPlainText() for item in panel.views.plot.getPlotItem().items if hasattr(item, "textItem")]
    best = np.argsort(panel.result.values)[::-1][:3]
    assert texts == [panel.result.classes[i] for i in best]


def test_the_sample_picker_changes_the_picture(qtbot, undo_stack):
    panel = _panel(qtbot, undo_stack, "digits_cnn")
    _show(qtbot, panel, "conv1")
    first = panel.result.values.copy()
    before = panel.views.maps.images[0]
    assert panel.sample.maximum() == panel.result.samples - 1 > 0
    with qtbot.waitSignal(panel.shown, timeout=60_000):
        panel.set_sample(9)
    assert panel.result.sample == 9
    assert not np.array_equal(first, panel.result.values)
    assert panel.views.maps.images[0] != before
    assert "target" in panel.title.text()


def test_a_project_without_weights_says_it_is_untrained(qtbot, undo_stack):
    panel = _panel(qtbot, undo_stack, "digits_cnn")
    _show(qtbot, panel, "relu1")
    assert "untrained (seeded)" in panel.note.text()


def test_a_problem_is_one_line_not_a_traceback(qtbot, undo_stack):
    panel = _panel(qtbot, undo_stack, "bert_mini_blocks")
    _show(qtbot, panel, "positions")
    assert panel.view == "" and "every sample shares" in panel.message
    assert "\n" not in panel.note.text() and "Traceback" not in panel.note.text()


def test_the_dataset_preview_picks_the_sample(qtbot, undo_stack):
    from studio.ui.train_preview import DatasetPreview

    panel = _panel(qtbot, undo_stack, "digits_cnn")
    preview = DatasetPreview()
    qtbot.addWidget(preview)
    preview.sample_chosen.connect(panel.set_sample)
    _show(qtbot, panel, "conv1")
    with qtbot.waitSignal(preview.loaded, timeout=30_000):
        preview.load("digits", None)
    preview.resize(600, 400)
    preview.show()
    cell = preview.grid._cell_at(4).center().toPoint()
    with qtbot.waitSignal(panel.shown, timeout=60_000):
        qtbot.mouseClick(preview.grid, Qt.MouseButton.LeftButton, pos=cell)
    assert panel.result.sample == 4
