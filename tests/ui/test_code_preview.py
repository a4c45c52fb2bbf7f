"""The code preview follows edits with PyTorch or Keras code, explains when there is none, highlights it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextDocument
from PySide6.QtWidgets import QApplication

from studio.codegen.pytorch import generate_pytorch
from studio.graph.project import load_project
from studio.ui import code_preview, open_main_window, theme
from studio.ui.code_preview import CodePreview
from studio.ui.highlighter import STYLES, PythonHighlighter
from tests.ui.helpers import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def preview(qtbot, document):
    widget = CodePreview(document)
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    return widget


@pytest.fixture
def shown(qtbot, preview):
    preview.show()
    qtbot.waitExposed(preview)
    qtbot.waitUntil(lambda: "class DigitsCnn" in preview.text())
    return preview


@pytest.fixture
def generations(monkeypatch):
    """Counts calls of the generator behind the preview."""
    calls = []
    real = code_preview.generate_code

    def counted(project, target):
        calls.append(target)
        return real(project, target)

    monkeypatch.setattr(code_preview, "generate_code", counted)
    return calls


def test_shows_the_pytorch_class_with_one_attribute_per_layer(preview):
    preview.refresh_now()
    text = preview.text()
    assert "class DigitsCnn(nn.Module):" in text
    assert "self.conv1 = nn.Conv2d(1, 16, kernel_size=3" in text
    assert "self.logits = nn.Linear(64, 10)" in text
    assert text == generate_pytorch(load_project(EXAMPLES / "digits_cnn.lstudio"))
    assert preview.editor.toPlainText() == text
    assert preview.is_code() and preview.copy_button.isEnabled()
    assert preview.editor.isReadOnly()


def test_generation_leaves_no_listener_on_the_live_graph(preview, document):
    before = len(document.graph._listeners)
    preview.refresh_now()
    preview.set_target("keras")
    preview.refresh_now()
    assert len(document.graph._listeners) == before


def test_follows_a_parameter_edit(qtbot, shown, document):
    document.set_param("n2", "out_channels", 24)
    qtbot.waitUntil(lambda: "nn.Conv2d(1, 24, kernel_size=3" in shown.text())
    assert "nn.Conv2d(24, 32" in shown.text()


def test_a_burst_of_edits_generates_once(qtbot, shown, document, generations):
    for channels in (20, 22, 24):
        document.set_param("n2", "out_channels", channels)
    qtbot.waitUntil(lambda: "nn.Conv2d(1, 24," in shown.text())
    assert generations == ["pytorch"]


def test_moving_layers_does_not_regenerate(qtbot, shown, document, generations):
    document.move_nodes({"n2": (500.0, 500.0)})
    QApplication.processEvents()
    assert generations == []
    assert shown.text().count("class DigitsCnn") == 1


def test_a_hidden_preview_waits_and_catches_up_when_shown(
    qtbot, preview, document, generations
):
    document.set_param("n2", "out_channels", 24)
    document.rename("n2", "stem")
    QApplication.processEvents()
    assert generations == []
    preview.show()
    qtbot.waitUntil(lambda: "self.stem = nn.Conv2d(1, 24" in preview.text())
    assert generations == ["pytorch"]


def test_keras_target_shows_keras_code(preview):
    preview.set_target("keras")
    preview.refresh_now()
    assert preview.target() == "keras"
    assert "import keras" in preview.text()
    assert 'layers.Conv2D(\n        16,\n        3,\n        padding="same",' in preview.text()
    assert "nn.Module" not in preview.text()
    preview.set_target("pytorch")
    preview.refresh_now()
    assert "nn.Module" in preview.text()
    with pytest.raises(ValueError, match="unknown code target"):
        preview.set_target("caffe")


def test_choosing_a_target_in_the_box_regenerates_at_once(shown):
    shown.target_box.setCurrentIndex(shown.target_box.findData("keras"))
    assert "def build_model(weights: str | None = None) -> keras.Model:" in shown.text()


def test_a_network_with_errors_shows_them_instead_of_code(preview, document):
    document.disconnect(next(e for e in document.graph.edges if e.dst == "n4"))
    preview.refresh_now()
    text = preview.text()
    assert text.startswith("# The network has problems; fix them to see the code:")
    assert (
        "#   - conv2: Has no input connected. Connect a layer's output to it." in text
    )
    assert "relu1" not in text  # a warning does not block the code
    assert "Traceback" not in text and "class " not in text
    assert not preview.is_code()
    assert not preview.copy_button.isEnabled()
    assert "1 error" in preview.status.text()


def test_keras_refusal_names_the_layer_and_the_reason(preview, document):
    document.set_param("n2", "padding_mode", "reflect")  # conv1: Keras pads with zeros only
    preview.set_target("keras")
    preview.refresh_now()
    text = preview.text()
    assert text.startswith("# Cannot generate Keras code")
    assert "#   - conv1: Conv2d: padding_mode 'reflect'" in text
    assert not preview.is_code()
    preview.set_target("pytorch")
    preview.refresh_now()
    assert 'padding_mode="reflect"' in preview.text()


def test_a_generator_bug_is_a_message_not_a_traceback(preview, monkeypatch):
    def broken(project):
        raise KeyError("conv1")

    monkeypatch.setattr("studio.codegen.pytorch.generate_pytorch", broken)
    preview.refresh_now()
    assert preview.text().startswith(
        "# The PyTorch generator failed (KeyError: 'conv1')."
    )
    assert not preview.is_code()


def test_copy_puts_the_code_on_the_clipboard(qtbot, preview):
    preview.refresh_now()
    QApplication.clipboard().clear()
    qtbot.mouseClick(preview.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == preview.text()
    assert preview.copy_button.text() == "Copied"


def test_regenerating_keeps_the_scroll_position(qtbot, shown, document):
    shown.resize(400, 200)
    bar = shown.editor.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 10)
    bar.setValue(10)
    document.set_param("n2", "out_channels", 24)
    qtbot.waitUntil(lambda: "nn.Conv2d(1, 24" in shown.text())
    assert bar.value() == 10


def test_loading_another_project_regenerates(qtbot, shown, document):
    document.load(load_project(EXAMPLES / "lenet5.lstudio"))
    qtbot.waitUntil(lambda: "class DigitsCnn" not in shown.text())
    assert (
        "class LeNet5(nn.Module):" in shown.text()
        or "class Lenet5(nn.Module):" in shown.text()
    )


def test_save_as_renames_the_class_in_the_preview(qtbot, tmp_path):
    window = open_main_window()
    qtbot.addWidget(window)
    project = load_project(EXAMPLES / "digits_cnn.lstudio")
    project.name = "untitled"  # a network drawn in a new, never saved project
    window.document.load(project)
    window.show()
    window.docks["codePreview"].raise_()
    preview = window.code_preview
    qtbot.waitUntil(lambda: "class Untitled" in preview.text())
    assert window.files.save_as(tmp_path / "mycnn.lstudio")
    qtbot.waitUntil(lambda: "class Untitled" not in preview.text())
    assert "class Mycnn(nn.Module):" in preview.text()
    window.files.close()


def test_code_preview_and_generators_do_not_import_torch_or_keras():
    script = textwrap.dedent(
        """
        import sys
        from studio.graph.project import load_project
        from studio.ui.code_preview import generate_code
        project = load_project(sys.argv[1])
        assert "class DigitsCnn" in generate_code(project, "pytorch")[0]
        assert "import keras" in generate_code(project, "keras")[0]
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "keras", "tensorflow", "onnx"})
        print(heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(EXAMPLES / "digits_cnn.lstudio")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


# ----- highlighting -----
def formats_of(doc: QTextDocument, block: int) -> list[tuple[str, QColor]]:
    """(text, colour) of each coloured span of one block (Qt counts in UTF-16 units)."""
    b = doc.findBlockByNumber(block)
    units = b.text().encode("utf-16-le")

    def span(start: int, length: int) -> str:
        return units[2 * start : 2 * (start + length)].decode("utf-16-le")

    return [
        (span(r.start, r.length), r.format.foreground().color())
        for r in b.layout().formats()
    ]


def colour(kind: str, dark: bool = False) -> QColor:
    return QColor(STYLES[kind][1 if dark else 0])


@pytest.fixture
def highlighted(qapp):
    doc = QTextDocument()
    doc.documentLayout()  # a document without a layout announces no changes to highlight
    highlighter = PythonHighlighter(doc, dark=False)
    doc.setPlainText(
        "@property\n"
        "class Net(nn.Module):\n"
        '    """Doc with # no comment\n'
        '    still the docstring"""\n'
        "    def forward(self, x):  # a comment\n"
        '        s = "a # b" + str(len(x)) + x.float()\n'
        "        return x @ 0x1F * 2.5e-3  # 😀 emoji\n"
        '        t = "😀" + str(1)\n'
    )
    return doc, highlighter


def test_highlights_keywords_names_and_decorators(highlighted):
    doc, _ = highlighted
    assert formats_of(doc, 0) == [("@property", colour("decorator"))]
    assert ("class", colour("keyword")) in formats_of(doc, 1)
    assert ("Net", colour("definition")) in formats_of(doc, 1)
    line = formats_of(doc, 4)
    assert ("def", colour("keyword")) in line
    assert ("forward", colour("definition")) in line
    assert ("self", colour("self")) in line
    assert ("# a comment", colour("comment")) in line


def test_triple_quoted_strings_span_blocks(highlighted):
    doc, _ = highlighted
    assert formats_of(doc, 2) == [('"""Doc with # no comment', colour("string"))]
    assert formats_of(doc, 3) == [('    still the docstring"""', colour("string"))]
    assert ("def", colour("keyword")) in formats_of(doc, 4)  # the string ended


def test_strings_numbers_builtins_and_attributes(highlighted):
    doc, _ = highlighted
    line = formats_of(doc, 5)
    assert ('"a # b"', colour("string")) in line
    assert ("str", colour("builtin")) in line and ("len", colour("builtin")) in line
    assert all(
        text != "float" for text, _ in line
    )  # x.float is an attribute, not the builtin
    assert all(c != colour("comment") for _, c in line)
    line = formats_of(doc, 6)
    assert ("0x1F", colour("number")) in line and ("2.5e-3", colour("number")) in line
    assert ("# 😀 emoji", colour("comment")) in line
    assert all(text != "@" for text, _ in line)  # the matrix product is no decorator
    line = formats_of(doc, 7)
    assert ('"😀"', colour("string")) in line and ("str", colour("builtin")) in line


def test_dark_colours_replace_light_ones(highlighted):
    doc, highlighter = highlighted
    highlighter.set_dark(True)
    assert ("class", colour("keyword", dark=True)) in formats_of(doc, 1)
    assert highlighter.format_of("keyword").foreground().color() == colour(
        "keyword", dark=True
    )


def test_code_is_coloured_and_messages_are_plain(qtbot, preview, document, undo_stack):
    def coloured() -> bool:
        return bool(preview.editor.document().findBlockByNumber(0).layout().formats())

    preview.refresh_now()
    qtbot.waitUntil(coloured)
    document.disconnect(next(e for e in document.graph.edges if e.dst == "n4"))
    preview.refresh_now()
    assert not coloured()
    undo_stack.undo()
    preview.refresh_now()
    qtbot.waitUntil(coloured)


def test_follows_a_switch_to_the_dark_theme(qtbot, preview):
    try:
        theme.use_theme(theme.LIGHT)
        light = preview.highlighter.format_of("keyword").foreground().color()
        theme.use_theme(theme.DARK)
        qtbot.waitUntil(
            lambda: (
                preview.highlighter.format_of("keyword").foreground().color() != light
            )
        )
        assert preview.highlighter.format_of("keyword").foreground().color() == colour(
            "keyword", dark=True
        )
    finally:
        theme.use_theme(None)


def test_a_layer_selected_inside_a_block_is_highlighted_in_its_class_and_follows_edits(qtbot, resnet):
    preview = CodePreview(resnet)
    qtbot.addWidget(preview)
    preview.resize(700, 300)
    preview.show()
    qtbot.waitExposed(preview)
    resnet.open_instance(resnet.graph.node_by_name("layer2_0").id)
    resnet.select([resnet.graph.node_by_name("conv2").id])
    qtbot.waitUntil(lambda: bool(preview.highlighted_lines()))
    lines = preview.text().splitlines()
    picked = [lines[i].strip() for i in preview.highlighted_lines()]
    assert picked[0].startswith("self.conv2 = nn.Conv2d(") and "conv2 = self.conv2(relu)" in picked
    start = next(i for i, line in enumerate(lines) if line.startswith("class BasicBlock("))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("class "))
    assert all(start < i < end for i in preview.highlighted_lines())
    bar = preview.editor.verticalScrollBar()
    assert bar.value() <= preview.highlighted_lines()[0] < bar.value() + 12  # scrolled to it
    before = preview.text()
    resnet.set_param(resnet.graph.node_by_name("conv2").id, "bias", True)  # the code changes; the highlight follows
    qtbot.waitUntil(lambda: preview.text() != before)
    lines = preview.text().splitlines()
    picked = [lines[i].strip() for i in preview.highlighted_lines()]
    assert picked[0].startswith("self.conv2 = nn.Conv2d(") and "conv2 = self.conv2(relu)" in picked
    assert len(preview.editor.extraSelections()) == len(picked)
