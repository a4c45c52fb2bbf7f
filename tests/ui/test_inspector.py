"""The inspector: shows the selected layer, applies valid edits through the document, refuses bad ones."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from studio.graph.catalogue.base import show
from studio.graph.project import load_project
from studio.ui.document import Document
from studio.ui.inspector import Inspector
from tests.ui.helpers import EXAMPLES

CONV1 = "n2"  # digits example: Conv2d conv1, 16 channels, kernel (3, 3)
DROPOUT = "n10"  # Dropout 'dropout', p 0.25


@pytest.fixture
def inspector(qtbot, document):
    assert document.graph.node(CONV1).name == "conv1"  # the ids these tests rely on
    assert document.graph.node(DROPOUT).name == "dropout"
    widget = Inspector(document)
    qtbot.addWidget(widget)
    widget.resize(340, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _label(inspector: Inspector, name: str) -> QLabel:
    label = inspector.findChild(QLabel, name)
    assert label is not None, name
    return label


def _type(qtbot, edit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def test_placeholder_follows_the_selection(inspector, document):
    assert inspector.objectName() == "inspector"
    assert inspector.shown_node_id is None
    assert "Select a layer" in inspector.placeholder_text

    document.select(["n2", "n3", "n4"])
    assert inspector.shown_node_id is None
    assert "3 layers selected" in inspector.placeholder_text

    document.select([CONV1])
    assert inspector.shown_node_id == CONV1
    assert inspector.placeholder_text == ""


def test_shows_the_parameters_of_the_selected_layer(inspector, document):
    document.select([CONV1])
    assert inspector.name_edit.text() == "conv1"
    assert inspector.editor("out_channels").spin_box.value() == 16
    assert inspector.editor("kernel_size").line_edit.text() == "3, 3"
    assert inspector.editor("padding").line_edit.text() == "same"
    assert inspector.editor("bias").check_box.isChecked()
    assert inspector.editor("padding_mode").combo_box.currentText() == "zeros"
    assert inspector.editor("out_channels").spin_box.maximum() == 65536
    assert (
        "Number of output channels" in inspector.editor("out_channels").widget.toolTip()
    )
    assert "2-D convolution" in _label(inspector, "doc_label").text()


def test_shapes_and_counts_match_the_analysis(inspector, document):
    document.select(["n4"])  # conv2: (N, 16, 8, 8) -> (N, 32, 8, 8)
    result = document.analysis.result("n4")
    assert show(result.inputs[0]) in _label(inspector, "shape_in_in").text()
    assert "relu1" in _label(inspector, "shape_in_in").text()
    assert show(result.outputs["out"]) in _label(inspector, "shape_out_out").text()
    assert "(N, 32, 8, 8)" in _label(inspector, "shape_out_out").text()
    assert _label(inspector, "param_count").text() == f"{result.params:,}"
    assert _label(inspector, "macs").text().startswith(f"{result.macs:,}")


def test_editing_an_int_applies_it_through_the_document(
    inspector, document, undo_stack
):
    document.select([CONV1])
    inspector.editor("out_channels").spin_box.setValue(32)
    assert document.graph.node(CONV1).params["out_channels"] == 32
    assert undo_stack.count() == 1
    assert "(N, 32, 8, 8)" in _label(inspector, "shape_out_out").text()
    assert (
        _label(inspector, "param_count").text()
        == f"{document.analysis.result(CONV1).params:,}"
    )

    undo_stack.undo()
    assert document.graph.node(CONV1).params["out_channels"] == 16
    assert inspector.editor("out_channels").spin_box.value() == 16
    assert "(N, 16, 8, 8)" in _label(inspector, "shape_out_out").text()


def test_typed_tuple_is_applied_on_enter_in_canonical_form(
    inspector, document, undo_stack, qtbot
):
    document.select([CONV1])
    edit = inspector.editor("kernel_size").line_edit
    _type(qtbot, edit, "5")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.graph.node(CONV1).params["kernel_size"] == (5, 5)
    assert edit.text() == "5, 5"
    assert undo_stack.count() == 1


def test_invalid_tuple_is_refused_with_its_reason(
    inspector, document, undo_stack, qtbot
):
    document.select([CONV1])
    edit = inspector.editor("kernel_size").line_edit
    _type(qtbot, edit, "abc")
    assert "must be an integer or 2 integers" in inspector.problem_text("kernel_size")
    assert _label(inspector, "problem_kernel_size").isVisible()
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.graph.node(CONV1).params["kernel_size"] == (3, 3)
    assert undo_stack.count() == 0
    assert edit.text() == "abc"  # kept, to be fixed

    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert edit.text() == "3, 3"
    assert inspector.problem_text("kernel_size") == ""


def test_small_floats_can_be_typed_and_out_of_range_ones_are_refused(
    inspector, document, qtbot
):
    document.select([DROPOUT])
    edit = inspector.editor("p").line_edit
    _type(qtbot, edit, "2")
    assert "from 0 to 0.99" in inspector.problem_text("p")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.graph.node(DROPOUT).params["p"] == 0.25

    _type(qtbot, edit, "1e-5")
    assert inspector.problem_text("p") == ""
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.graph.node(DROPOUT).params["p"] == 1e-5


def test_check_box_and_combo_box_apply_at_once(inspector, document, undo_stack):
    document.select([CONV1])
    inspector.editor("bias").check_box.setChecked(False)
    inspector.editor("padding_mode").combo_box.setCurrentText("reflect")
    node = document.graph.node(CONV1)
    assert node.params["bias"] is False and node.params["padding_mode"] == "reflect"
    assert undo_stack.count() == 2
    undo_stack.undo()
    undo_stack.undo()
    assert inspector.editor("bias").check_box.isChecked()
    assert inspector.editor("padding_mode").combo_box.currentText() == "zeros"


def test_edits_made_elsewhere_update_the_fields_without_rebuilding_them(
    inspector, document
):
    document.select([CONV1])
    editor, edit = inspector.editor("kernel_size"), inspector.name_edit
    document.set_param(CONV1, "kernel_size", 5)
    document.rename(CONV1, "stem")
    assert inspector.editor("kernel_size") is editor and inspector.name_edit is edit
    assert editor.line_edit.text() == "5, 5"
    assert edit.text() == "stem"


def test_rename_applies_and_a_duplicate_name_is_refused(
    inspector, document, undo_stack, qtbot
):
    document.select([CONV1])
    edit = inspector.name_edit
    _type(qtbot, edit, "first_conv")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.graph.node(CONV1).name == "first_conv"
    assert undo_stack.count() == 1

    _type(qtbot, edit, "conv2")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.graph.node(CONV1).name == "first_conv"
    assert "already called 'conv2'" in inspector.name_problem
    assert _label(inspector, "name_problem").isVisible()
    assert undo_stack.count() == 1

    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert edit.text() == "first_conv"
    assert inspector.name_problem == ""

    undo_stack.undo()
    assert edit.text() == "conv1"


def test_variadic_layer_refuses_dropping_connected_inputs(qtbot, undo_stack):
    document = Document(undo_stack)
    document.load(load_project(EXAMPLES / "inception_block.lstudio"))
    concat = document.graph.node_by_name("mixed").id
    inspector = Inspector(document)
    qtbot.addWidget(inspector)
    document.select([concat])
    assert "Input in4" in [label.text() for label in inspector.findChildren(QLabel)]

    inspector.editor("num_inputs").spin_box.setValue(2)
    assert document.graph.node(concat).params["num_inputs"] == 4
    assert inspector.editor("num_inputs").spin_box.value() == 4
    assert "disconnect them first" in inspector.problem_text("num_inputs")
    assert undo_stack.count() == 0


def test_diagnostics_of_the_layer_are_listed(inspector, document):
    lstm = document.add_node("LSTM", (0.0, 0.0))
    document.select([lstm])
    text = _label(inspector, "diagnostics").text()
    assert "no input connected" in text
    assert "connect a layer" in text  # the hint
    assert "not connected" in _label(inspector, "shape_in_in").text()
    assert _label(inspector, "param_count").text() == "unknown"

    document.select([CONV1])
    assert "No problems" in _label(inspector, "diagnostics").text()


def test_removed_node_and_new_project_show_the_placeholder(
    inspector, document, undo_stack
):
    document.select([CONV1])
    document.remove_nodes([CONV1])
    assert inspector.shown_node_id is None

    lstm = document.add_node("LSTM", (0.0, 0.0))
    document.select([lstm])
    undo_stack.undo()  # the add: the node goes while still selected
    assert inspector.shown_node_id is None

    document.select(["n4"])
    document.load(load_project(EXAMPLES / "mlp.lstudio"))
    assert inspector.shown_node_id is None
    assert inspector.editor("out_channels") is None


def test_a_slice_length_of_zero_reads_to_the_end(inspector, document):
    cut = document.add_node("Slice", params={"start": 4, "length": 8})
    document.connect(CONV1, "out", cut, "in")
    document.select([cut])
    box = inspector.editor("length").spin_box
    assert box.value() == 8 and box.text() == "8"
    box.setValue(0)
    assert document.graph.node(cut).params["length"] == 0
    assert box.text() == "to the end"
    assert "(N, 12, 8, 8)" in _label(inspector, "shape_out_out").text()  # channels 4 to 15 of 16
    assert "0: to the end" in box.toolTip()


def test_an_inputs_mean_and_std_are_typed_as_numbers_and_cleared_by_emptying(
    inspector, document, undo_stack, qtbot
):
    image = document.graph.node_by_name("image")
    assert image is not None
    document.select([image.id])
    mean, std = inspector.editor("mean").line_edit, inspector.editor("std").line_edit
    _type(qtbot, std, "0, 1")
    assert "numbers of at least 1e-06" in inspector.problem_text("std")  # a std of 0 would divide by zero
    qtbot.keyClick(std, Qt.Key.Key_Escape)
    for edit, text in ((mean, "[0.3]"), (std, "0.25")):
        _type(qtbot, edit, text)
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.graph.node(image.id).params["mean"] == (0.3,)
    assert document.graph.node(image.id).params["std"] == (0.25,)
    assert document.analysis.is_valid
    mean.setFocus()
    mean.clear()
    qtbot.keyClick(mean, Qt.Key.Key_Return)
    assert document.graph.node(image.id).params["mean"] == ()
    assert not document.analysis.is_valid  # a std without a mean is pinned to the Input
    assert undo_stack.count() == 3
