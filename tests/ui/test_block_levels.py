"""Blocks in the editor: open an instance (breadcrumb, Escape), edit inside, undo from anywhere, palette, Make Unique."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel, QToolButton

from studio.graph.project import load_project, project_to_dict
from studio.ui.document import Document
from studio.ui.files import Unsaved
from studio.ui.inspector import Inspector
from studio.ui.instance_bar import InstanceBar
from studio.ui.levels import Level
from studio.ui.main_window import MainWindow
from studio.ui.mime import LAYER_MIME
from studio.ui.problems import problem_rows
from tests.ui.helpers import EXAMPLES

RESNET18_PARAMS = 11_689_512  # torchvision's resnet18


@pytest.fixture
def window(qtbot):
    win = MainWindow(load_project(EXAMPLES / "resnet18_blocks.lstudio"))
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.files.close()


def state(document: Document) -> str:
    return json.dumps(project_to_dict(document.project), sort_keys=True)


def by_name(document: Document, name: str) -> str:
    return document.graph.node_by_name(name).id


def test_an_opened_instance_shows_its_block_as_that_instance_runs_it(resnet):
    resnet.open_instance(by_name(resnet, "layer2_0"))
    assert resnet.graph is resnet.project.blocks.get("BasicBlock").graph
    conv1 = by_name(resnet, "conv1")
    assert resnet.analysis.result(conv1).outputs["out"] == (None, 128, 28, 28)
    assert resnet.analysis.result(by_name(resnet, "downsample_conv")).params == 64 * 128
    assert resnet.go_up() and resnet.levels == []
    assert resnet.selected_ids == [by_name(resnet, "layer2_0")]  # where the user came from
    resnet.open_instance(by_name(resnet, "layer1_0"))  # no downsampling here: those layers are off
    assert resnet.analysis.result(by_name(resnet, "conv1")).outputs["out"] == (None, 64, 56, 56)
    assert resnet.analysis.result(by_name(resnet, "downsample_conv")).outputs is None
    assert by_name(resnet, "downsample_conv") in resnet.analysis.switched_off


def test_an_inner_edit_reanalyses_every_instance_and_undo_at_the_top_shows_the_block(resnet):
    before = state(resnet)
    assert resnet.network_analysis.summary().trainable_params == RESNET18_PARAMS
    resnet.open_instance(by_name(resnet, "layer1_0"))
    resnet.set_param(by_name(resnet, "conv2"), "bias", True)
    edited = state(resnet)
    widths = 2 * (64 + 128 + 256 + 512)  # a bias per channel in each of the 8 instances
    assert resnet.network_analysis.summary().trainable_params == RESNET18_PARAMS + widths
    layer4 = resnet.network.node_by_name("layer4_1").id
    assert resnet.network_analysis.result(layer4).params == 2 * 512 * 512 * 9 + 4 * 512 + 512
    resnet.go_up()
    assert resnet.levels == []
    resnet.undo_stack.undo()  # the step edits the block: the block is shown again
    assert [level.block for level in resnet.levels] == ["BasicBlock"]
    assert state(resnet) == before
    assert resnet.network_analysis.summary().trainable_params == RESNET18_PARAMS
    resnet.go_up()
    resnet.undo_stack.redo()
    assert state(resnet) == edited and resnet.levels


def test_a_network_edit_undone_inside_a_block_shows_the_network(resnet):
    resnet.rename(by_name(resnet, "fc"), "classifier")
    resnet.open_instance(by_name(resnet, "layer3_1"))
    resnet.undo_stack.undo()
    assert resnet.levels == [] and resnet.graph.node_by_name("fc") is not None


def test_the_canvas_and_breadcrumb_follow_the_level(window, qtbot):
    document, view = window.document, window.canvas
    assert window.breadcrumb.isHidden()
    instance = by_name(document, "layer3_0")
    card = view.graph_scene.nodes[instance]
    point = view.mapFromScene(card.sceneBoundingRect().center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert [level.block for level in document.levels] == ["BasicBlock"]
    assert window.breadcrumb.isVisible() and window.breadcrumb.crumbs() == ["Network", "BasicBlock"]
    assert set(view.graph_scene.nodes) == set(document.project.blocks.get("BasicBlock").graph.nodes)
    conv1 = view.graph_scene.nodes[by_name(document, "conv1")]
    assert conv1.result.outputs["out"] == (None, 256, 14, 14)
    assert view.graph_scene.nodes[by_name(document, "downsample_conv")].opacity() == 1.0
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert document.levels == [] and window.breadcrumb.isHidden()
    assert set(view.graph_scene.nodes) == set(document.network.nodes)
    document.select([by_name(document, "layer3_1")])  # no shortcut here: those layers are dimmed
    window.act["open_block"].trigger()
    assert document.levels
    assert view.graph_scene.nodes[by_name(document, "downsample_conv")].opacity() < 1.0
    assert view.graph_scene.nodes[by_name(document, "conv1")].opacity() == 1.0
    window.act["go_up"].trigger()
    assert document.levels == []
    window.act["open_block"].trigger()
    crumb = window.breadcrumb.findChild(QToolButton, "crumb0")
    qtbot.mouseClick(crumb, Qt.MouseButton.LeftButton)
    assert document.levels == []


def test_the_inspector_problems_and_summary_follow_the_level(window):
    document = window.document
    document.open_instance(by_name(document, "layer4_0"))
    document.select([by_name(document, "conv2")])
    assert window.inspector.shown_node_id == by_name(document, "conv2")
    assert window.inspector.editor("out_channels") is not None
    document.set_param(by_name(document, "conv1"), "padding", (0, 0))  # 7×7 then 5×5: conv2's 3×3 no longer fits the shortcut
    window.problems.flush()
    layers = {p.layer for p in window.problems.problems()}
    assert "residual" in layers  # pinned to the inner layer while the block is open
    window.update_summary()
    assert "error" in window.summary_label.text()  # the status bar counts the whole network
    document.go_up()
    window.problems.flush()
    rows = window.problems.problems()
    assert rows and all(" › " in p.layer for p in rows if p.severity == "error")
    assert {p.layer.split(" › ")[0] for p in rows if p.severity == "error"} == {"layer1_0"}  # the first to fail: the instances after it get no shapes


def test_a_problem_inside_an_instance_opens_the_block_at_the_inner_layer(resnet):
    resnet.set_param(by_name(resnet, "layer4_1"), "channels", 256)  # its shortcut still carries 512 channels
    rows = [p for p in problem_rows(resnet) if p.severity == "error"]
    assert "layer4_1 › residual" in {p.layer for p in rows}
    assert all(p.layer.startswith("layer4_1 › ") or " › " not in p.layer for p in rows)
    row = next(p for p in rows if p.layer.startswith("layer4_1"))
    resnet.open_inner(row.node_id, row.inner)
    assert resnet.levels[-1].instance == resnet.network.node_by_name("layer4_1").id
    assert resnet.selected_ids == [row.inner[-1]]
    assert any(d.node_id == row.inner[-1] for d in resnet.analysis.diagnostics())


def test_the_palette_lists_the_blocks_and_a_dropped_block_is_an_instance(window, qtbot):
    document, palette, view = window.document, window.layer_palette, window.canvas
    assert palette.visible_categories()[0] == "Blocks"
    assert "BasicBlock" in palette.visible_layer_types()
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"BasicBlock")
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    before = set(document.graph.nodes)
    view.dropEvent(event)
    (new,) = set(document.graph.nodes) - before
    assert document.graph.node(new).block is document.project.blocks.get("BasicBlock")
    document.group([by_name(document, "avgpool"), by_name(document, "fc")], "Head")
    assert "Head" in palette.visible_layer_types()
    document.undo_stack.undo()
    assert "Head" not in palette.visible_layer_types()
    document.open_instance(by_name(document, "layer1_0"))
    view.dropEvent(event)  # a block inside itself: refused with the reason
    assert "cannot hold an instance of BasicBlock" in window.statusBar().currentMessage()


def test_the_inspector_edits_exposed_parameters_and_makes_an_instance_unique(resnet, qtbot):
    inspector = Inspector(resnet)
    qtbot.addWidget(inspector)
    before = state(resnet)
    layer = by_name(resnet, "layer2_1")
    resnet.select([layer])
    assert {"repeat", "channels", "stride", "downsample"} <= set(inspector._page.editors)
    inspector.editor("repeat").spin_box.setValue(2)
    assert resnet.graph.node(layer).params["repeat"] == 2
    assert resnet.network_analysis.summary().trainable_params == RESNET18_PARAMS + 2 * (128 * 128 * 9) + 4 * 128
    resnet.undo_stack.undo()
    assert state(resnet) == before
    bar = inspector.findChild(InstanceBar, "instance_bar")
    bar.make_unique()
    assert resnet.undo_stack.index() == resnet.undo_stack.count() == 1  # one step (the undone one is dropped)
    assert "unique" in resnet.undo_stack.text(0)
    node = resnet.graph.node(layer)
    assert node.type == "BasicBlock2" and node.block is resnet.project.blocks.get("BasicBlock2")
    assert resnet.network_analysis.summary().trainable_params == RESNET18_PARAMS
    resnet.open_instance(layer)
    resnet.set_param(by_name(resnet, "conv1"), "bias", True)  # only this instance changes
    assert resnet.network_analysis.summary().trainable_params == RESNET18_PARAMS + 128
    resnet.undo_stack.undo()
    resnet.undo_stack.undo()
    assert state(resnet) == before and resnet.levels == []
    assert "BasicBlock2" not in resnet.project.blocks


def test_an_instance_expands_in_place_to_show_its_layers_and_collapses_back(window):
    document, view = window.document, window.canvas
    scene = view.graph_scene
    plain, shortcut = by_name(document, "layer1_1"), by_name(document, "layer3_0")
    small = scene.nodes[shortcut].boundingRect()
    menu = view.context_menu(scene.nodes[shortcut].sceneBoundingRect().center())
    next(a for a in menu.actions() if a.text() == "Expand in Place").trigger()
    item = scene.nodes[shortcut]
    inner = {n.name for n in document.project.blocks.get("BasicBlock").graph.nodes.values() if n.type not in ("Input", "Output")}
    assert {card.name for card in item.picture.cards.values()} == inner  # downsample on: every layer runs
    assert {card.shape for card in item.picture.cards.values()} == {"N×256×14×14"}
    assert item.boundingRect().width() > 3 * small.width() and item.boundingRect().height() > 2 * small.height()
    scene.set_expanded(plain, True)
    assert "2 layers switched off" in scene.nodes[plain].picture.note()
    assert document.undo_stack.count() == 0  # a way of looking, not an edit
    document.open_instance(plain)
    document.go_up()
    assert scene.nodes[shortcut].picture is not None  # still expanded after a visit inside
    document.select([shortcut])
    view.toggle_expanded()
    assert scene.nodes[shortcut].picture is None and scene.nodes[shortcut].boundingRect() == small


def test_the_code_preview_shows_the_open_blocks_class(window):
    preview, document = window.code_preview, window.document
    preview.refresh_now()
    document.open_instance(by_name(document, "layer2_0"))
    line = preview.show_level()
    assert line is not None and preview.text().splitlines()[line].startswith("class BasicBlock")
    assert preview.editor.verticalScrollBar().value() == line or preview.editor.verticalScrollBar().maximum() < line
    preview.set_target("keras")
    preview.refresh_now()
    line = preview.show_level()
    assert line is not None and preview.text().splitlines()[line].startswith("def basic_block(")


def test_inside_a_block_the_fields_a_block_parameter_sets_show_its_value_read_only(resnet, qtbot):
    inspector = Inspector(resnet)
    qtbot.addWidget(inspector)
    resnet.open_instance(by_name(resnet, "layer3_0"))
    resnet.select([by_name(resnet, "conv1")])
    channels = inspector.editor("out_channels")
    assert channels.value == 256 and not channels.widget.isEnabled()
    assert "channels" in channels.widget.toolTip()
    assert inspector.editor("kernel_size").widget.isEnabled()
    resnet.select([by_name(resnet, "x")])  # the Input: shaped by what feeds the instance
    assert inspector.editor("shape").value == (128, 28, 28) and not inspector.editor("shape").widget.isEnabled()


def test_layers_a_block_parameter_sets_cannot_be_deleted_from_inside(window):
    document, view = window.document, window.canvas
    document.open_instance(by_name(document, "layer2_0"))
    messages: list[str] = []
    view.edit_refused.connect(messages.append)
    document.select([by_name(document, "downsample_bn"), by_name(document, "relu")])
    view.delete_selection()
    assert messages and "parameter 'downsample' switches it" in messages[0]
    assert document.graph.node_by_name("downsample_bn") is not None and document.undo_stack.count() == 0
    document.select([by_name(document, "relu")])
    view.delete_selection()  # a layer no parameter names goes
    assert document.graph.node_by_name("relu") is None


def test_blocks_open_inside_blocks_and_undo_from_deep_inside_goes_back_to_the_network(window, qtbot):
    document = window.document
    before = state(document)
    stage = document.group([by_name(document, "layer3_0"), by_name(document, "layer3_1")], "Stage3")
    document.open_instance(stage)
    document.open_instance(by_name(document, "layer3_0"))
    assert window.breadcrumb.crumbs() == ["Network", "Stage3", "BasicBlock"]
    assert document.analysis.result(by_name(document, "conv2")).outputs["out"] == (None, 256, 14, 14)
    window.breadcrumb.findChild(QToolButton, "crumb1").click()
    assert [level.block for level in document.levels] == ["Stage3"]
    document.open_instance(by_name(document, "layer3_1"))
    document.undo_stack.undo()  # the group was made at the network: it is shown, and Stage3 is gone
    assert document.levels == [] and state(document) == before
    assert window.breadcrumb.isHidden() and "Stage3" not in window.layer_palette.visible_layer_types()


def test_a_repeated_instance_opens_at_its_first_repeat(qtbot):
    win = MainWindow(load_project(EXAMPLES / "bert_mini_blocks.lstudio"))
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    document = win.document
    instance = next(n for n in document.graph.nodes.values() if n.block is not None and n.params["repeat"] > 1)
    document.open_instance(instance.id)
    assert f"the first of its {instance.params['repeat']} repeats" in " ".join(
        label.text() for label in win.breadcrumb.findChildren(QLabel)
    )
    assert document.analysis.is_valid and document.analysis.summary().trainable_params * instance.params["repeat"] == document.network_analysis.result(instance.id).params
    win.files.close()


def test_the_palettes_menu_opens_a_block(window):
    palette, document = window.layer_palette, window.document
    group = palette.proxy.index(0, 0)
    menu = palette.block_menu(palette.proxy.index(0, 0, group))
    assert palette.block_menu(palette.proxy.index(0, 0, palette.proxy.index(1, 0))) is None  # a layer: no menu
    next(a for a in menu.actions() if a.text() == "Open Block").trigger()
    assert [level.block for level in document.levels] == ["BasicBlock"]
    assert document.levels[0].instance == document.network.node_by_name("layer1_0").id  # through its first instance


def test_edits_of_the_same_parameter_at_two_levels_stay_two_steps(resnet):
    before = state(resnet)
    conv1 = by_name(resnet, "conv1")  # n2 names a layer in the network and one in the block
    resnet.set_param(conv1, "kernel_size", (5, 5))
    resnet.open_instance(by_name(resnet, "layer1_0"))
    assert by_name(resnet, "conv1") == conv1
    resnet.set_param(conv1, "kernel_size", (5, 5))
    resnet.set_param(conv1, "kernel_size", (7, 7))  # the same parameter again: one step
    assert resnet.undo_stack.count() == 2
    resnet.undo_stack.undo()
    assert resnet.graph.node(conv1).params["kernel_size"] == (3, 3)
    resnet.undo_stack.undo()
    assert state(resnet) == before and resnet.levels == []


def test_the_arrow_on_an_instances_title_expands_and_collapses_it(window, qtbot):
    view = window.canvas
    scene = view.graph_scene
    instance = by_name(window.document, "layer4_0")
    item = scene.nodes[instance]
    arrow = view.mapFromScene(item.mapToScene(item.toggle_rect().center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=arrow)
    assert scene.is_expanded(instance) and scene.nodes[instance].picture is not None
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=arrow)
    assert not scene.is_expanded(instance) and scene.nodes[instance].picture is None
    assert window.document.undo_stack.count() == 0


def test_a_block_no_instance_uses_opens_on_its_own_inputs_shapes(resnet):
    head = resnet.group([by_name(resnet, "avgpool"), by_name(resnet, "fc")], "Head")
    resnet.ungroup(head)  # the block stays in the project, used by nothing
    resnet.open_block("Head")
    assert resnet.levels == [Level("Head", None)]
    fc = by_name(resnet, "fc")
    assert resnet.analysis.result(fc).outputs["out"] == (None, 1000) and resnet.analysis.is_valid
