"""The node-graph canvas: items follow the document, and mouse gestures become document edits."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QDropEvent, QImage, QPainter, QWheelEvent
from PySide6.QtWidgets import QApplication

from studio.graph.model import Edge, GraphError
from studio.ui.canvas import CanvasView, EdgeItem, NodeItem
from studio.ui.canvas.style import format_count, format_shape, summarize_params
from studio.ui.canvas.view import MAX_ZOOM, MIN_ZOOM
from studio.ui.mime import FRAGMENT_MIME, LAYER_MIME

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def view(qtbot, document):
    canvas = CanvasView(document)
    qtbot.addWidget(canvas)
    canvas.resize(900, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_zoom(1.0)
    return canvas


def port_point(view: CanvasView, node_id: str, port: str, output: bool) -> QPoint:
    """Where a port lies in viewport coordinates, after scrolling it into view."""
    item = view.graph_scene.nodes[node_id]
    view.centerOn(item.port_scene_pos(port, output))
    return view.mapFromScene(item.port_scene_pos(port, output))


def drag(qtbot, view: CanvasView, start: QPoint, end: QPoint) -> None:
    viewport = view.viewport()
    qtbot.mousePress(viewport, LEFT, pos=start)
    middle = (start + end) / 2
    qtbot.mouseMove(viewport, middle)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, LEFT, pos=end)


def test_scene_has_one_item_per_node_and_edge(view, document):
    scene = view.graph_scene
    assert view.objectName() == "canvas"
    node_items = [i for i in scene.items() if isinstance(i, NodeItem)]
    edge_items = [i for i in scene.items() if isinstance(i, EdgeItem)]
    assert sorted(i.node_id for i in node_items) == sorted(document.graph.nodes)
    assert sorted(i.edge for i in edge_items) == sorted(document.graph.edges)
    assert scene.nodes["n4"].pos() == QPointF(*document.graph.node("n4").position)
    assert scene.nodes["n4"].texts == (
        "Conv2d",
        "4.6k params",
        "conv2",
        "32 ch, 3×3, same",
    )


def test_edge_labels_show_the_shape_with_a_symbolic_batch(view):
    labels = {e.src: item.label for e, item in view.graph_scene.edges.items()}
    assert labels["n4"] == "N×32×8×8"
    assert labels["n7"] == "N×512"
    assert all(label.startswith("N×") for label in labels.values())


def test_edges_follow_a_moved_node(view, document):
    edge_item = view.graph_scene.edges[Edge("n2", "out", "n3", "in")]
    before = edge_item.boundingRect()
    x, y = document.graph.node("n3").position
    document.move_nodes({"n3": (x, y + 300.0)})
    assert edge_item.boundingRect().bottom() > before.bottom() + 250


def test_dropping_a_layer_adds_it_where_it_lands(view, document, qtbot):
    scene_point = QPointF(500.0, 400.0)
    view.centerOn(scene_point)
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"BatchNorm2d")
    drop_at = QPointF(view.mapFromScene(scene_point))
    event = QDropEvent(
        drop_at,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    before = set(document.graph.nodes)
    view.dropEvent(event)
    (new_id,) = set(document.graph.nodes) - before
    assert document.graph.node(new_id).type == "BatchNorm2d"
    assert view.graph_scene.nodes[new_id].sceneBoundingRect().contains(scene_point)
    assert document.selected_ids == [new_id]


def test_dropping_an_unknown_layer_reports_it(view, document, qtbot):
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"NoSuchLayer")
    event = QDropEvent(
        QPointF(100, 100),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(view.edit_refused) as blocker:
        view.dropEvent(event)
    assert "NoSuchLayer" in blocker.args[0]
    assert len(document.graph) == 12


def test_add_layer_at_center_uses_the_visible_middle(view, document):
    view.centerOn(QPointF(300.0, 700.0))
    first = view.add_layer_at_center("ReLU")
    second = view.add_layer_at_center("ReLU")
    center = view.visible_center()
    assert view.graph_scene.nodes[first].sceneBoundingRect().contains(center)
    assert document.graph.node(second).position != document.graph.node(first).position


def test_dragging_from_an_output_to_an_input_connects_them(view, document, qtbot):
    new_id = document.add_node("ReLU", (480.0, 300.0))
    start = port_point(view, "n3", "out", True)
    end = view.mapFromScene(view.graph_scene.nodes[new_id].port_scene_pos("in", False))
    viewport = view.viewport()
    qtbot.mousePress(viewport, LEFT, pos=start)
    qtbot.mouseMove(viewport, end)
    marks = view.graph_scene.nodes
    assert marks[new_id].port_marks == {"in": True}
    assert marks["n3"].port_marks == {"in": False}  # the same node
    assert marks["n4"].port_marks == {"in": False}  # would duplicate n3 → n4
    assert marks["n2"].port_marks == {"in": True}  # fed already: re-wired
    qtbot.mouseRelease(viewport, LEFT, pos=end)
    edge = Edge("n3", "out", new_id, "in")
    assert edge in document.graph.edges
    assert view.graph_scene.edges[edge].label == "N×16×8×8"
    assert all(item.port_marks is None for item in marks.values())


def test_dropping_a_wire_on_empty_canvas_cancels_it(view, document, qtbot):
    edges = list(document.graph.edges)
    start = port_point(view, "n3", "out", True)
    drag(qtbot, view, start, start + QPoint(60, 150))
    assert document.graph.edges == edges
    assert view.graph_scene.connect_drag is None


def test_wiring_a_node_to_itself_is_refused_with_a_message(view, document, qtbot):
    start = port_point(view, "n3", "out", True)
    end = view.mapFromScene(view.graph_scene.nodes["n3"].port_scene_pos("in", False))
    with qtbot.waitSignal(view.edit_refused) as blocker:
        drag(qtbot, view, start, end)
    assert "itself" in blocker.args[0] or "own" in blocker.args[0]
    assert Edge("n3", "out", "n3", "in") not in document.graph.edges


def test_dragging_a_connected_input_away_disconnects_it(view, document, qtbot):
    start = port_point(view, "n5", "in", False)
    drag(qtbot, view, start, start + QPoint(-40, 180))
    assert Edge("n4", "out", "n5", "in") not in document.graph.edges
    assert Edge("n4", "out", "n5", "in") not in view.graph_scene.edges
    document.undo_stack.undo()
    assert view.graph_scene.edges[Edge("n4", "out", "n5", "in")].isVisible()


def test_delete_selection_is_one_undoable_step(view, document):
    scene = view.graph_scene
    nodes, edges = len(scene.nodes), len(scene.edges)
    document.select(["n4"])
    scene.edges[Edge("n9", "out", "n10", "in")].setSelected(True)
    depth = document.undo_stack.count()
    view.delete_selection()
    assert "n4" not in scene.nodes and "n4" not in document.graph
    assert Edge("n9", "out", "n10", "in") not in scene.edges
    assert len(scene.edges) == edges - 3
    assert document.undo_stack.count() == depth + 1
    document.undo_stack.undo()
    assert len(scene.nodes) == nodes and len(scene.edges) == edges
    assert scene.edges[Edge("n3", "out", "n4", "in")].label == "N×16×8×8"


def test_delete_key_deletes_the_selection(view, document, qtbot):
    document.select(["n2", "n3"])
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert "n2" not in document.graph and "n3" not in document.graph
    assert document.selected_ids == []


def test_selection_follows_the_document(view, document):
    document.select(["n2", "n5"])
    selected = {i.node_id for i in view.graph_scene.selectedItems()}
    assert selected == {"n2", "n5"}
    document.select(["n6"])
    assert [i.node_id for i in view.graph_scene.selectedItems()] == ["n6"]


def test_document_follows_the_scene_selection(view, document, qtbot):
    view.graph_scene.nodes["n8"].setSelected(True)
    assert document.selected_ids == ["n8"]
    qtbot.mouseClick(
        view.viewport(), LEFT, pos=port_point(view, "n3", "out", True) - QPoint(40, 0)
    )
    assert document.selected_ids == ["n3"]
    ctrl = Qt.KeyboardModifier.ControlModifier
    n4 = view.graph_scene.nodes["n4"]
    qtbot.mouseClick(
        view.viewport(), LEFT, ctrl, view.mapFromScene(n4.pos() + QPointF(40, 40))
    )
    assert document.selected_ids == ["n3", "n4"]
    view.select_all()
    assert sorted(document.selected_ids) == sorted(document.graph.nodes)


def test_rubber_band_selects_nodes_but_not_the_wires_it_crosses(view, document, qtbot):
    scene = view.graph_scene
    view.centerOn(scene.nodes["n3"])
    rect = (
        scene.nodes["n3"]
        .sceneBoundingRect()
        .united(scene.nodes["n4"].sceneBoundingRect())
    )
    start = view.mapFromScene(rect.topLeft() + QPointF(-30, -30))
    end = view.mapFromScene(rect.bottomRight() + QPointF(-20, 30))
    drag(qtbot, view, start, end)
    assert sorted(document.selected_ids) == ["n3", "n4"]
    assert view.graph_scene.selected_edges() == []


def test_moving_nodes_by_mouse_pushes_one_move(view, document, qtbot):
    document.select(["n4", "n5"])
    item = view.graph_scene.nodes["n4"]
    view.centerOn(item)
    start = view.mapFromScene(item.pos() + QPointF(60, 40))
    depth = document.undo_stack.count()
    before = {n: document.graph.node(n).position for n in ("n4", "n5")}
    drag(qtbot, view, start, start + QPoint(0, 100))
    assert document.undo_stack.count() == depth + 1
    for node_id, (x, y) in before.items():
        assert document.graph.node(node_id).position == (x, y + 100.0)
    document.undo_stack.undo()
    assert view.graph_scene.nodes["n5"].pos() == QPointF(*before["n5"])


def test_a_param_edit_updates_the_node_and_its_outgoing_edge(view, document):
    document.set_param("n4", "out_channels", 8)
    item = view.graph_scene.nodes["n4"]
    assert item.texts[3] == "8 ch, 3×3, same"
    assert item.texts[1] == "1.2k params"
    assert view.graph_scene.edges[Edge("n4", "out", "n5", "in")].label == "N×8×8×8"


def test_an_analysis_update_touches_only_the_changed_nodes(view, document, monkeypatch):
    touched = []
    original = NodeItem.refresh

    def spy(self, node, result):
        touched.append(self.node_id)
        original(self, node, result)

    monkeypatch.setattr(NodeItem, "refresh", spy)
    document.set_param("n4", "bias", False)
    assert set(touched) == {"n4"}
    assert view.graph_scene.nodes["n4"].texts[1] == "4.6k params"  # 4608


def test_an_error_node_turns_red_with_the_diagnostic_as_tooltip(view, document):
    new_id = document.add_node("Linear", (0.0, 300.0))
    item = view.graph_scene.nodes[new_id]
    assert item.severity == "error"
    assert "has no input connected" in item.tooltip()
    image = QImage(200, 120, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    target = QRectF(0, 0, 200, 120)
    view.graph_scene.render(
        painter, target, item.sceneBoundingRect().adjusted(-20, -20, 20, 20)
    )
    painter.end()
    reds = [
        image.pixelColor(x, y)
        for x in range(200)
        for y in range(120)
        if image.pixelColor(x, y).red() > 150 and image.pixelColor(x, y).green() < 110
    ]
    assert reds, "the error node has no red border"


def test_a_warning_node_is_amber(view, document):
    new_id = document.add_node("ReLU", (0.0, 300.0))
    document.connect("n3", "out", new_id, "in")
    assert view.graph_scene.nodes[new_id].severity == "warning"
    assert "not used" in view.graph_scene.nodes[new_id].tooltip()


def test_copy_and_paste_through_the_clipboard(view, document):
    document.select(["n2", "n3"])
    assert view.copy_selection()
    mime = QApplication.clipboard().mimeData()
    assert mime.hasFormat(FRAGMENT_MIME) and '"nodes"' in mime.text()
    new_ids = view.paste()
    assert len(new_ids) == 2 and all(n in view.graph_scene.nodes for n in new_ids)
    assert document.selected_ids == new_ids
    assert (
        len([e for e in document.graph.edges if e.src in new_ids and e.dst in new_ids])
        == 1
    )
    placed = view.paste(QPointF(1000.0, 1000.0))
    assert min(document.graph.node(n).position for n in placed) == (1000.0, 1000.0)


def test_duplicate_leaves_the_clipboard_alone(view, document):
    QApplication.clipboard().setText("something else")
    document.select(["n8"])
    (copy_id,) = view.duplicate_selection()
    assert document.graph.node(copy_id).type == "Linear"
    assert QApplication.clipboard().text() == "something else"


def test_pasting_foreign_text_is_reported(view, document, qtbot):
    QApplication.clipboard().setText("not layers")
    with qtbot.waitSignal(view.edit_refused):
        assert view.paste() == []


def test_context_menus(view, document):
    node_menu = view.context_menu(
        view.graph_scene.nodes["n4"].sceneBoundingRect().center()
    )
    assert [a.text() for a in node_menu.actions() if a.text()] == [
        "Duplicate",
        "Copy",
        "Group into Block…",
        "Delete",
    ]
    assert document.selected_ids == ["n4"]
    empty_menu = view.context_menu(QPointF(0.0, 900.0))
    assert [a.text() for a in empty_menu.actions() if a.text()] == [
        "Add layer…",
        "Paste",
        "Select all",
        "Arrange",
        "Fit to view",
    ]


def test_wheel_zoom_is_clamped(view):
    def wheel(steps: int) -> None:
        center = QPointF(view.viewport().rect().center())
        event = QWheelEvent(
            center,
            view.mapToGlobal(center),
            QPoint(),
            QPoint(0, 120 * steps),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        view.wheelEvent(event)

    wheel(1)
    assert view.zoom() > 1.0
    for _ in range(40):
        wheel(3)
    assert view.zoom() == pytest.approx(MAX_ZOOM)
    for _ in range(60):
        wheel(-3)
    assert view.zoom() == pytest.approx(MIN_ZOOM)


def test_fit_and_focus(view, document):
    view.fit_to_view()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    for item in view.graph_scene.nodes.values():
        assert visible.contains(item.sceneBoundingRect())
    document.focus("n12")
    center = view.visible_center()
    assert (
        view.graph_scene.nodes["n12"]
        .sceneBoundingRect()
        .adjusted(-5, -5, 5, 5)
        .contains(center)
    )


def test_loading_a_project_rebuilds_the_scene(view, document):
    from studio.graph.project import load_project
    from tests.ui.helpers import EXAMPLES

    document.load(load_project(EXAMPLES / "resnet_small.lstudio"))
    scene = view.graph_scene
    assert set(scene.nodes) == set(document.graph.nodes)
    assert set(scene.edges) == set(document.graph.edges)
    assert all(item.label for item in scene.edges.values())


@pytest.mark.parametrize("zoom", [0.1, 1.0, 3.0])
def test_painting_at_every_level_of_detail(view, document, zoom):
    document.add_node("MultiheadAttention", (300.0, 250.0))
    view.set_zoom(zoom)
    view.apply_theme()
    image = view.viewport().grab().toImage()
    assert not image.isNull()


def test_summaries_and_counts():
    from studio.graph.catalogue import get_spec

    conv = get_spec("Conv2d")
    params = {**conv.defaults(), "out_channels": 32, "stride": (2, 2)}
    assert summarize_params(params, conv.params) == "32 ch, 3×3, s2"
    assert format_count(1234) == "1.2k params"
    assert format_count(1) == "1 param"
    assert format_count(2_500_000) == "2.5M params"
    assert format_shape((None, 3, 224, 224)) == "N×3×224×224"
    assert format_shape(None) == ""


def test_middle_button_and_space_drag_pan_the_view(view, qtbot):
    viewport = view.viewport()
    before = view.visible_center()
    middle = Qt.MouseButton.MiddleButton
    qtbot.mousePress(viewport, middle, pos=QPoint(400, 300))
    qtbot.mouseMove(viewport, QPoint(300, 250))
    qtbot.mouseRelease(viewport, middle, pos=QPoint(300, 250))
    moved = view.visible_center() - before
    assert (round(moved.x()), round(moved.y())) == (100, 50)
    view.setFocus()
    qtbot.keyPress(view, Qt.Key.Key_Space)
    drag(qtbot, view, QPoint(300, 300), QPoint(340, 300))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert round((view.visible_center() - before).x()) == 60


def test_escape_cancels_a_wire(view, document, qtbot):
    start = port_point(view, "n3", "out", True)
    qtbot.mousePress(view.viewport(), LEFT, pos=start)
    qtbot.mouseMove(view.viewport(), start + QPoint(50, 80))
    assert view.graph_scene.connect_drag is not None
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert view.graph_scene.connect_drag is None
    assert all(item.port_marks is None for item in view.graph_scene.nodes.values())
    qtbot.mouseRelease(view.viewport(), LEFT, pos=start + QPoint(50, 80))


def test_ports_follow_the_number_of_inputs(view, document):
    add_id = document.add_node("Add", (0.0, 400.0))
    item = view.graph_scene.nodes[add_id]
    assert list(item.inputs) == ["in1", "in2"]
    height = item.height
    document.set_param(add_id, "num_inputs", 4)
    assert list(item.inputs) == ["in1", "in2", "in3", "in4"]
    assert item.height > height
    document.undo_stack.undo()
    assert list(item.inputs) == ["in1", "in2"]


def test_a_split_has_an_output_port_per_piece_each_wired_with_its_shape(view, document, qtbot):
    split_id = document.add_node("Split", (480.0, 300.0))
    document.connect("n3", "out", split_id, "in")  # (N, 16, 8, 8)
    document.set_param(split_id, "sizes", (4, 4, 8))
    item = view.graph_scene.nodes[split_id]
    assert list(item.outputs) == ["out1", "out2", "out3"]
    relu_id = document.add_node("ReLU", (640.0, 300.0))
    start = port_point(view, split_id, "out3", True)
    drag(qtbot, view, start, view.mapFromScene(view.graph_scene.nodes[relu_id].port_scene_pos("in", False)))
    edge = Edge(split_id, "out3", relu_id, "in")
    assert edge in document.graph.edges
    assert view.graph_scene.edges[edge].label == "N×8×8×8"
    with pytest.raises(GraphError, match="out3"):
        document.set_param(split_id, "sizes", (8, 8))  # would drop the wired out3
    assert list(item.outputs) == ["out1", "out2", "out3"]


def test_rename_and_long_names_are_elided(view, document):
    document.rename("n4", "a_very_long_layer_name_that_cannot_fit_on_any_card")
    item = view.graph_scene.nodes["n4"]
    assert item.texts[2].endswith("…")
    assert "a_very_long_layer_name_that_cannot_fit_on_any_card" in item.tooltip()


def test_double_click_activates_a_node(view, qtbot):
    item = view.graph_scene.nodes["n6"]
    view.centerOn(item)
    with qtbot.waitSignal(view.node_activated) as blocker:
        qtbot.mouseDClick(
            view.viewport(), LEFT, pos=view.mapFromScene(item.pos() + QPointF(40, 40))
        )
    assert blocker.args == ["n6"]


def test_apply_theme_uses_the_current_theme(view):
    from studio.ui import theme
    from studio.ui.canvas.style import style

    try:
        theme.use_theme(theme.DARK)
        view.apply_theme()
        assert style().theme is theme.DARK
        theme.use_theme(theme.LIGHT)
        view.apply_theme()
        assert style().theme is theme.LIGHT
    finally:
        theme.use_theme(None)
        view.apply_theme()
