"""The main window's docks: the canvas keeps its room, Problems is a strip, the layout is remembered and reset."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QDockWidget

from studio.ui import open_main_window
from studio.ui.dock_layout import BOTTOM
from studio.ui.files import Unsaved
from studio.ui.main_window import LAYOUT_VERSION
from studio.ui.recovery import settings
from tests.ui.helpers import EXAMPLES

DIGITS = EXAMPLES / "digits_cnn.lstudio"
Area = Qt.DockWidgetArea


def shown_window(qtbot, width: int = 1280, height: int = 800):
    window = open_main_window(DIGITS)
    qtbot.addWidget(window)
    window.files.ask_unsaved = lambda: Unsaved.DISCARD
    window.resize(width, height)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.dock_layout._active)
    return window


@pytest.fixture
def window(qtbot):
    win = shown_window(qtbot)
    yield win
    win.training.shutdown()
    win.files.close()


def in_view(dock: QDockWidget) -> bool:
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def canvas_share(window) -> float:
    return window.centralWidget().height() / window.height()


def layout_of(window) -> dict[str, tuple]:
    """Each dock's area, floating, hidden, in view, and the docks tabbed with it."""
    return {
        name: (
            window.dockWidgetArea(dock),
            dock.isFloating(),
            dock.isHidden(),
            in_view(dock),
            sorted(d.objectName() for d in window.tabifiedDockWidgets(dock)),
        )
        for name, dock in window.docks.items()
    }


def test_the_default_layout_keeps_the_canvas_and_shows_inspector_beside_code(window):
    docks = window.docks
    assert canvas_share(window) >= 0.75
    assert window.dockWidgetArea(docks["inspector"]) == window.dockWidgetArea(docks["codePreview"]) == Area.RightDockWidgetArea
    assert window.tabifiedDockWidgets(docks["inspector"]) == []  # the code preview has a dock of its own
    assert in_view(docks["inspector"]) and in_view(docks["codePreview"])
    assert docks["codePreview"].y() > docks["inspector"].y()  # below it, in the same column
    assert in_view(docks["problems"]) and not in_view(docks["train"])


def test_the_training_tab_takes_a_share_of_the_window_and_problems_goes_back_to_a_strip(window, qtbot):
    train, problems = window.docks["train"], window.docks["problems"]
    strip = problems.height()
    train.raise_()
    qtbot.waitUntil(lambda: window.training.findChild(object, "trainingCurves") is not None)
    qtbot.waitUntil(lambda: train.height() > strip)
    assert canvas_share(window) >= 0.6
    scroll = window.findChild(object, "trainScroll")
    assert not scroll.verticalScrollBar().isVisible()  # the whole panel fits: nothing is cut off
    assert not scroll.horizontalScrollBar().isVisible()
    problems.raise_()
    qtbot.waitUntil(lambda: problems.height() <= strip)
    assert canvas_share(window) >= 0.75
    train.raise_()  # the training panel comes back as tall as it was
    qtbot.waitUntil(lambda: in_view(train) and train.height() > strip)
    assert canvas_share(window) >= 0.6
    for name in BOTTOM:  # and no bottom panel's minimum holds the dock tall: each can be dragged to a few lines
        dock = window.docks[name]
        assert dock.minimumSizeHint().height() <= 4 * dock.fontMetrics().lineSpacing(), name


def test_the_problems_strip_is_one_line_when_there_are_none_and_grows_with_them(window, qtbot):
    problems, view = window.docks["problems"], window.problems
    assert view.count() == 0
    line = view.empty.sizeHint().height()
    assert view.height() <= line + 4
    assert problems.height() - view.height() <= 2 * line  # just the dock's title above the line
    document, graph = window.document, window.document.graph
    fc1, pool = graph.node_by_name("fc1"), graph.node_by_name("pool")
    document.remove_nodes([graph.node_by_name("flatten").id])
    document.connect(pool.id, "out", fc1.id, "in")
    qtbot.waitUntil(lambda: view.count() == 1)
    row = view.view.visualRect(view.model.index(0, 0))
    qtbot.waitUntil(lambda: view.view.viewport().height() >= row.height())
    assert view.view.viewport().rect().contains(row)  # the problem can be read without scrolling
    assert canvas_share(window) >= 0.6
    window.undo_stack.undo()
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: view.count() == 0 and view.height() <= line + 4)


@pytest.mark.qt_log_ignore("does not support raise")  # the offscreen platform cannot raise a floating dock
def test_reset_layout_restores_the_default(window, qtbot):
    default = layout_of(window)
    heights = {name: window.docks[name].height() for name in ("problems", "inspector")}
    docks = window.docks
    docks["codePreview"].setFloating(True)
    docks["palette"].hide()
    window.tabifyDockWidget(docks["train"], docks["inspector"])
    docks["train"].raise_()
    window.resizeDocks([docks["problems"]], [400], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: layout_of(window) != default)
    window.act["reset_layout"].trigger()
    qtbot.waitUntil(lambda: layout_of(window) == default)
    qtbot.waitUntil(lambda: abs(docks["problems"].height() - heights["problems"]) <= 2)
    assert abs(docks["inspector"].height() - heights["inspector"]) <= 30
    assert canvas_share(window) >= 0.75
    assert "Reset Layout" in [a.text().replace("&", "") for a in window.menuBar().actions()[2].menu().actions()]


def test_the_layout_round_trips_through_the_settings_and_an_older_one_is_not_restored(window, qtbot):
    docks = window.docks
    default = layout_of(window)
    window.tabifyDockWidget(docks["inspector"], docks["codePreview"])
    docks["codePreview"].raise_()
    docks["palette"].hide()
    docks["train"].raise_()
    qtbot.waitUntil(lambda: in_view(docks["train"]) and in_view(docks["codePreview"]))
    window.resizeDocks([docks["train"]], [300], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: docks["train"].height() > 250)
    saved, train_height = layout_of(window), docks["train"].height()
    window.close()  # saves the layout, as quitting does
    assert isinstance(settings().value("window/state"), QByteArray)
    again = shown_window(qtbot)
    try:
        assert layout_of(again) == saved
        assert abs(again.docks["train"].height() - train_height) <= 2
        store = settings()
        store.setValue("window/state", again.saveState(LAYOUT_VERSION - 1))  # as a version with other docks saved it
        store.sync()
    finally:
        again.training.shutdown()
        again.files.close()
    older = shown_window(qtbot)
    try:
        assert layout_of(older) == default
    finally:
        older.files.close()


def test_selecting_a_layer_shows_the_inspector_while_the_code_shows(window, qtbot):
    docks, document = window.docks, window.document
    conv2 = document.graph.node_by_name("conv2").id
    document.select([conv2])
    assert in_view(docks["inspector"]) and in_view(docks["codePreview"])
    window.tabifyDockWidget(docks["inspector"], docks["codePreview"])  # the user put them in one dock
    docks["codePreview"].raise_()
    qtbot.waitUntil(lambda: not in_view(docks["inspector"]))
    document.select([document.graph.node_by_name("fc1").id])
    qtbot.waitUntil(lambda: in_view(docks["inspector"]))
    assert window.inspector.shown_node_id == document.graph.node_by_name("fc1").id
    docks["inspector"].close()  # closed by the user: selecting does not bring it back
    document.select([conv2])
    assert docks["inspector"].isHidden()


def test_the_code_preview_highlights_and_shows_the_selected_layers_lines(window, qtbot):
    preview, document = window.code_preview, window.document
    qtbot.waitUntil(lambda: preview.is_code() and bool(preview.text()))
    document.select([document.graph.node_by_name("logits").id])
    qtbot.waitUntil(lambda: bool(preview.highlighted_lines()))
    lines = preview.text().splitlines()
    shown = [lines[i].strip() for i in preview.highlighted_lines()]
    assert shown == ["self.logits = nn.Linear(64, 10)", "# logits: Linear -> (N, 10)", "logits = self.logits(dropout)"]
    assert len(preview.editor.extraSelections()) == 3
    bar = preview.editor.verticalScrollBar()
    first = preview.highlighted_lines()[0]
    visible = preview.editor.viewport().height() // preview.editor.fontMetrics().lineSpacing()
    assert bar.value() <= first < bar.value() + visible
    document.select([])
    qtbot.waitUntil(lambda: not preview.highlighted_lines())
    assert preview.editor.extraSelections() == []
