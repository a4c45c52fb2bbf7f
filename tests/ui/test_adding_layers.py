"""Adding layers: Enter in the palette places the top match beside the selection, the Add Layer popup, the empty-canvas hint, names, history text."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtCore import QPointF, Qt

from studio.graph.model import Edge
from studio.graph.project import Project, load_project
from studio.ui.canvas.interactions import ConnectDrag
from studio.ui.canvas.placement import free_spot
from studio.ui.files import Unsaved
from studio.ui.main_window import MainWindow
from tests.ui.helpers import EXAMPLES

POPUP_WARNINGS = pytest.mark.qt_log_ignore("grabbing the keyboard", "does not support raise")


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.files.close()


def press_enter_on(window, qtbot, query: str) -> str:
    """Type a search into the palette and press Enter; the id of the layer added (and selected)."""
    before = set(window.document.graph.nodes)
    window.layer_palette.search.clear()
    qtbot.keyClicks(window.layer_palette.search, query)
    qtbot.keyClick(window.layer_palette.search, Qt.Key.Key_Return)
    (added,) = set(window.document.graph.nodes) - before
    assert window.document.selected_ids == [added]
    return added


def assert_no_card_overlaps(window) -> None:
    cards = {n: item.sceneBoundingRect() for n, item in window.canvas.graph_scene.nodes.items()}
    for (a, ra), (b, rb) in itertools.combinations(cards.items(), 2):
        assert not ra.intersects(rb), f"{window.document.graph.node(a).name} covers {window.document.graph.node(b).name}"


def feeder(document, node_id: str) -> str | None:
    edges = document.graph.in_edges(node_id)
    return document.graph.node(edges[0].src).name if edges else None


def test_enter_adds_the_top_match_beside_the_selected_layer_wired_when_the_shapes_fit(window, qtbot):
    document, scene = window.document, window.canvas.graph_scene
    image = press_enter_on(window, qtbot, "input")  # nothing selected: the middle of the view
    assert document.graph.node(image).name == "input1"
    conv = press_enter_on(window, qtbot, "conv")
    relu = press_enter_on(window, qtbot, "relu")
    assert [document.graph.node(n).name for n in (conv, relu)] == ["conv1", "relu1"]
    assert (feeder(document, conv), feeder(document, relu)) == ("input1", "conv1")
    assert scene.nodes[conv].x() > scene.nodes[image].sceneBoundingRect().right()  # right of the layer it follows
    assert scene.nodes[conv].y() == scene.nodes[image].y()
    assert window.undo_stack.text(window.undo_stack.index() - 1) == "Add ReLU 'relu1' after 'conv1'"

    document.select([image])  # the place right of input1 is taken: the new card goes elsewhere
    linear = press_enter_on(window, qtbot, "linear")
    assert feeder(document, linear) is None  # Linear takes (N, features), input1 gives (N, 1, 28, 28)
    assert window.undo_stack.text(window.undo_stack.index() - 1) == "Add Linear 'linear1'"
    document.select([relu])
    output = press_enter_on(window, qtbot, "output")  # "output" gave an Input once: the top match is Output
    assert document.graph.node(output).type == "Output" and feeder(document, output) == "relu1"
    assert_no_card_overlaps(window)

    window.undo_stack.undo()  # the layer and its wire were one step
    assert output not in document.graph and document.graph.out_edges(relu) == []


def test_enter_beside_a_crowded_card_never_covers_another(qtbot):
    window = MainWindow(load_project(EXAMPLES / "digits_cnn.lstudio"))  # cards 260 apart: every neighbour place is taken
    qtbot.addWidget(window)
    window.files.ask_unsaved = lambda: Unsaved.DISCARD
    window.resize(1000, 700)
    window.show()
    document = window.document
    for layer, query in (("conv1", "relu"), ("relu1", "batch norm"), ("conv1", "dropout"), ("pool", "maxpool")):
        document.select([document.graph.node_by_name(layer).id])
        added = press_enter_on(window, qtbot, query)
        assert feeder(document, added) == layer
    assert_no_card_overlaps(window)
    assert [document.graph.node(n).name for n in list(document.graph.nodes)[-4:]] == ["relu4", "batchnorm1", "dropout1", "maxpool1"]
    window.files.close()


def test_a_free_spot_is_found_near_the_place_wanted():
    from PySide6.QtCore import QRectF, QSizeF

    size, step = QSizeF(100, 50), QSizeF(200, 80)
    assert free_spot(size, QPointF(0, 0), [], step) == QPointF(0, 0)
    blocked = [QRectF(-10, -10, 120, 70)]
    assert free_spot(size, QPointF(0, 0), blocked, step) == QPointF(0, 80)  # one step down
    wall = [QRectF(-10, y, 120, 70) for y in range(-600, 600, 80)]
    corner = free_spot(size, QPointF(0, 0), wall, step)
    assert corner == QPointF(200, 0)  # a column right
    everything = [QRectF(-1000, -1000, 3000, 2000)]
    assert free_spot(size, QPointF(0, 0), everything, step).y() > 1000  # below every card


@POPUP_WARNINGS
def test_the_canvas_menu_opens_a_search_popup_that_adds_at_the_cursor(window, qtbot):
    view, document = window.canvas, window.document
    point = QPointF(300.0, 200.0)
    menu = view.context_menu(point)
    entry = next(a for a in menu.actions() if a.text() == "Add layer…")
    entry.trigger()
    popup = view._add_popup
    assert popup is not None and popup.isVisible() and popup.listed()[0] == "Input"
    qtbot.keyClicks(popup.search, "max pool")
    assert popup.listed()[:3] == ["MaxPool2d", "MaxPool1d", "MaxPool3d"]
    assert popup.about.text().startswith("2-D max pooling")  # what the marked layer does
    qtbot.keyClick(popup.search, Qt.Key.Key_Down)  # the mark moves while typing goes on
    assert popup.about.text().startswith("1-D max pooling")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    (node,) = document.graph.nodes.values()
    assert node.type == "MaxPool1d" and node.name == "maxpool1" and not popup.isVisible()
    assert view.graph_scene.nodes[node.id].sceneBoundingRect().contains(point)  # its title under the cursor

    view.open_add_popup(point)  # the same place again: the new card goes beside, not on top
    qtbot.keyClicks(popup.search, "relu")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert [n.name for n in document.graph.nodes.values()] == ["maxpool1", "relu1"]
    assert_no_card_overlaps(window)

    view.open_add_popup(point)
    assert popup.search.text() == ""
    qtbot.keyClicks(popup.search, "conv")
    qtbot.keyClick(popup.search, Qt.Key.Key_Escape)
    assert not popup.isVisible() and len(document.graph) == 2


@POPUP_WARNINGS
def test_the_popup_lists_the_project_blocks_first(qtbot, resnet):
    from studio.ui.canvas import CanvasView

    view = CanvasView(resnet)
    qtbot.addWidget(view)
    view.resize(800, 600)
    popup = view.open_add_popup(QPointF(0.0, 2000.0))
    blocks = [b.name for b in resnet.project.blocks]
    assert popup.listed()[: len(blocks)] == blocks
    qtbot.keyClicks(popup.search, blocks[0].lower())
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    added = resnet.selected_ids[0]
    assert resnet.graph.node(added).type == blocks[0]
    assert resnet.graph.node(added).name == blocks[0].lower() + "1"
    popup.close()


def test_an_empty_canvas_says_how_to_begin(window, qtbot, monkeypatch):
    hint, document = window.canvas.hint, window.document
    assert hint.shown and hint.button.isVisible() and "Add layer" in hint.label.text()
    label, canvas = hint.label.geometry(), window.canvas.viewport().rect()
    assert canvas.contains(label) and abs(label.center().x() - canvas.center().x()) <= 2
    opened = []

    class Gallery:  # the examples dialog, answered at once
        def __init__(self, parent):
            opened.append(parent)
            self.chosen_path = EXAMPLES / "mlp.lstudio"

        def exec(self):
            return True

    monkeypatch.setattr("studio.ui.files.ExampleGallery", Gallery)
    hint.button.click()
    assert opened == [window] and document.project.name == "mlp" and not hint.shown

    document.load(Project("untitled"))
    assert hint.shown
    document.add_node("ReLU")
    assert not hint.shown and not hint.button.isVisible()
    window.undo_stack.undo()
    assert hint.shown and hint.button.isVisible()


def test_an_empty_block_says_so_without_the_example_button(qtbot, empty_document):
    from studio.ui.canvas import CanvasView

    document = empty_document
    view = CanvasView(document)
    qtbot.addWidget(view)
    view.show()
    relu = document.add_node("ReLU")
    instance = document.group([relu], "Empty")
    assert not view.hint.shown
    document.open_instance(instance)
    assert not view.hint.shown
    document.remove_nodes(list(document.graph.nodes))
    assert view.hint.shown and "empty block" in view.hint.label.text() and not view.hint.button.isVisible()
    document.go_up()
    assert not view.hint.shown


def test_history_says_what_was_reconnected(qtbot, document):
    from studio.ui.canvas import CanvasView

    ids = {n.name: n.id for n in document.graph.nodes.values()}
    document.connect(ids["conv1"], "out", ids["conv2"], "in", replace=True)  # conv2 was fed by relu1
    assert document.undo_stack.text(document.undo_stack.index() - 1) == "Reconnect 'conv2' to 'conv1' (was 'relu1')"

    view = CanvasView(document)
    qtbot.addWidget(view)
    scene = view.graph_scene
    wire = Edge(ids["relu2"], "out", ids["pool"], "in")
    drag = ConnectDrag(scene, scene.nodes[ids["relu2"]], "out", detached=wire)  # picked up at pool's input
    drag.finish(scene.nodes[ids["dropout"]].port_scene_pos("in", False))
    assert document.undo_stack.text(document.undo_stack.index() - 1) == "Reconnect 'relu2' to 'dropout' (was 'pool')"
    assert feeder(document, ids["dropout"]) == "relu2" and feeder(document, ids["pool"]) is None


def test_enter_inside_a_block_wires_by_the_shapes_the_instance_gives(qtbot, resnet):
    from studio.ui.canvas import CanvasView

    view = CanvasView(resnet)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    instance = next(n for n in resnet.graph.nodes.values() if n.block is not None)
    resnet.open_instance(instance.id)
    resnet.select([resnet.graph.node_by_name("bn2").id])
    norm = view.add_layer_beside("GroupNorm")  # 64 channels split into its default groups: fits
    flat = view.add_layer_beside("LSTM")  # takes (N, T, F), the block gives (N, C, H, W): left unwired
    assert [resnet.graph.node(n).name for n in (norm, flat)] == ["groupnorm1", "lstm1"]
    assert feeder(resnet, norm) == "bn2" and feeder(resnet, flat) is None
    assert resnet.undo_stack.text(resnet.undo_stack.index() - 2) == "Add GroupNorm 'groupnorm1' after 'bn2'"
    cards = [item.sceneBoundingRect() for item in view.graph_scene.nodes.values()]
    assert not any(a.intersects(b) for a, b in itertools.combinations(cards, 2))
