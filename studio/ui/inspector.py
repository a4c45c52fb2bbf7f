"""The inspector: the selected layer's name, problems, parameters, tensor shapes and size."""

from __future__ import annotations

import html
from functools import partial
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.graph.catalogue.base import show
from studio.graph.model import (
    Graph,
    GraphError,
    NodeAdded,
    NodeRemoved,
    NodeRenamed,
    ParamChanged,
)
from studio.graph.shapes import NodeResult
from studio.ui.document import Document
from studio.ui.icons import category_pixmap
from studio.ui.instance_bar import InstanceBar, mark_bound
from studio.ui.param_editors import EscapableLineEdit, ParamEditor, make_editor
from studio.ui.theme import current_theme

FIRST_SECTION = 4  # the page's rows above its sections: header, name problem, diagnostics, description


class Inspector(QWidget):
    """Edits the one selected layer through the document; follows selection, edits, undo and analysis."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspector")
        self.document = document
        self._node_id: str | None = None
        self._page: _NodePage | None = None
        self._selection_stale = False
        self._analysis_stale = False

        self._placeholder = QLabel()
        self._placeholder.setObjectName("inspector_placeholder")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        self._placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._placeholder.setContentsMargins(16, 16, 16, 16)
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._placeholder)
        self._stack.addWidget(self._scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        self.setMinimumWidth(240)

        document.selection_changed.connect(self._on_selection_changed)
        document.graph_changed.connect(self._on_graph_changed)
        document.analysed.connect(self._on_analysed)
        document.reset.connect(self._on_reset)
        document.level_changed.connect(self._on_reset)
        self._follow_selection()
        self._refresh_analysis()

    # ----- what tests and the main window may ask -----
    @property
    def shown_node_id(self) -> str | None:
        """The id of the layer being edited, or None when the placeholder shows."""
        return self._node_id

    @property
    def placeholder_text(self) -> str:
        """The text shown instead of a layer (empty while a layer is shown)."""
        return "" if self._node_id else self._placeholder.text()

    def editor(self, param_name: str) -> ParamEditor | None:
        """The field of one parameter of the shown layer."""
        return self._page.editors.get(param_name) if self._page else None

    def problem_text(self, param_name: str) -> str:
        """The reason shown under a parameter's field ('' when none is shown)."""
        if self._page is None or param_name not in self._page.problems:
            return ""
        label = self._page.problems[param_name]
        return label.text() if not label.isHidden() else ""

    @property
    def name_edit(self) -> EscapableLineEdit | None:
        """The field holding the shown layer's name."""
        return self._page.name_edit if self._page else None

    @property
    def name_problem(self) -> str:
        """Why the typed name was refused ('' when it was not)."""
        if self._page is None or self._page.name_problem.isHidden():
            return ""
        return self._page.name_problem.text()

    def apply_theme(self) -> None:
        """Repaint the colours that come from the theme (icon, problems, diagnostics)."""
        if self._page is not None:
            self._page.apply_theme()
            self._refresh_analysis()

    # ----- following the document -----
    def _on_selection_changed(self, _ids: list[str]) -> None:
        self._follow_selection()
        self._refresh_analysis()

    def _on_reset(self) -> None:
        self._node_id = None
        self._show_node(None)
        self._selection_stale = True

    def _on_graph_changed(self, event: Any) -> None:
        # NOTE: never ask the analysis here: that would consume the ids `analysed` is about to report.
        page = self._page
        if isinstance(event, ParamChanged) and page and event.node_id == self._node_id:
            editor = page.editors.get(event.name)
            if editor is not None:
                editor.set_value(event.new)
        elif isinstance(event, NodeRenamed):
            if page and event.node_id == self._node_id:
                page.show_name(event.new)
            self._analysis_stale = True  # a feeder's name is shown next to each input
        elif isinstance(event, (NodeAdded, NodeRemoved)):
            self._selection_stale = True
            if isinstance(event, NodeRemoved) and event.node.id == self._node_id:
                self._follow_selection()
            elif self._node_id is None:
                self._update_placeholder()

    def _on_analysed(self, ids: Any) -> None:
        if self._selection_stale:
            self._selection_stale = False
            self._follow_selection()
        if self._node_id is not None and (
            self._analysis_stale or not ids or self._node_id in ids
        ):
            self._refresh_analysis()

    def _follow_selection(self) -> None:
        selected = [n for n in self.document.selected_ids if n in self.document.graph]
        target = selected[0] if len(selected) == 1 else None
        if target != self._node_id or (target is not None and self._page is None):
            self._show_node(target)
        elif target is None:
            self._update_placeholder()

    def _show_node(self, node_id: str | None) -> None:
        self._node_id = node_id
        old, self._page = self._page, None
        if node_id is None:
            self._update_placeholder()
            self._stack.setCurrentWidget(self._placeholder)
        else:
            self._page = _NodePage(self.document.graph, node_id)
            if self.document.graph.node(node_id).block is not None:
                self._page.layout().insertWidget(FIRST_SECTION, InstanceBar(self.document, node_id, self._page))
            mark_bound(self.document, node_id, self._page.editors)
        if old is not None:
            self._scroll.takeWidget()
            old.deleteLater()  # not at once: a signal of one of its fields may be on the stack
        if self._page is not None:
            self._connect_fields(self._page)
            self._scroll.setWidget(self._page)
            self._stack.setCurrentWidget(self._scroll)
            self._analysis_stale = True

    def _connect_fields(self, page: _NodePage) -> None:
        node_id, edit = page.node_id, page.name_edit
        for editor in page.editors.values():
            editor.committed.connect(partial(self._commit_param, node_id, editor))
        edit.editingFinished.connect(lambda: self._commit_name(node_id, edit.text()))
        edit.escape_pressed.connect(lambda: self._revert_name(node_id))

    def _update_placeholder(self) -> None:
        count = len([n for n in self.document.selected_ids if n in self.document.graph])
        if count > 1:
            text = f"{count} layers selected\n\nSelect a single layer to edit its parameters"
        elif len(self.document.graph) == 0:
            text = (
                "The network is empty\n\nDrag a layer from the palette onto the canvas"
            )
        else:
            text = "Select a layer to edit its parameters"
        self._placeholder.setText(text)

    def _refresh_analysis(self) -> None:
        if self._page is None or self._node_id not in self.document.graph:
            return
        self._analysis_stale = False
        self._page.show_analysis(self.document.analysis.result(self._node_id))

    # ----- edits from the fields -----
    def _commit_param(self, node_id: str, editor: ParamEditor, value: Any) -> None:
        if (
            node_id != self._node_id
            or node_id not in self.document.graph
            or self._page is None
        ):
            return
        name = editor.param.name
        try:
            self.document.set_param(node_id, name, value)
        except GraphError as err:
            if editor.param.kind in ("int", "bool", "choice"):
                editor.set_value(self.document.graph.node(node_id).params[name])
            self._page.show_problem(name, _without_type(str(err)))

    def _commit_name(self, node_id: str, text: str) -> None:
        if (
            node_id != self._node_id
            or node_id not in self.document.graph
            or self._page is None
        ):
            return
        if text == self.document.graph.node(node_id).name:
            self._page.show_name(text)
            return
        try:
            self.document.rename(node_id, text)
        except GraphError as err:
            self._page.show_name_problem(str(err))

    def _revert_name(self, node_id: str) -> None:
        if self._page is not None and node_id in self.document.graph:
            self._page.show_name(self.document.graph.node(node_id).name)


class _NodePage(QWidget):
    """The widgets of one layer, built once per shown layer and then only updated."""

    def __init__(self, graph: Graph, node_id: str) -> None:
        super().__init__()
        self.setObjectName("inspector_page")
        self.graph = graph
        self.node_id = node_id
        node = graph.node(node_id)
        spec = node.spec
        self.editors: dict[str, ParamEditor] = {}
        self.problems: dict[str, QLabel] = {}
        metrics = self.fontMetrics()
        label_texts = [p.name for p in spec.params] + [
            "Parameters",
            "Input in10" if spec.variadic else "Input",
        ]
        label_texts += [f"Input {p.name}" for p in spec.inputs] + [
            f"Output {p.name}" for p in spec.output_ports(node.params)
        ]
        if spec.pieces is not None:
            label_texts.append("Output out16")
        self.label_width = max(metrics.horizontalAdvance(t) for t in label_texts) + 2

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(6)

        self.icon = QLabel()
        self.icon.setFixedSize(32, 32)
        self.name_edit = EscapableLineEdit()
        self.name_edit.setObjectName("name_edit")
        self.name_edit.setToolTip(
            "The layer's name: unique in the network, used for its attribute in exported code"
        )
        font = self.name_edit.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.name_edit.setFont(font)
        type_label = QLabel(f"{spec.type}  ·  {spec.category}")
        type_label.setObjectName("type_label")
        type_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        type_label.setWordWrap(True)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(self.name_edit)
        titles.addWidget(type_label)
        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addLayout(titles, 1)
        layout.addLayout(header)

        self.name_problem = _problem_label("name_problem")
        layout.addWidget(self.name_problem)
        # the layer's problems come first, where they are seen without scrolling
        self.diagnostics = QLabel()
        self.diagnostics.setObjectName("diagnostics")
        self.diagnostics.setWordWrap(True)
        self.diagnostics.setTextFormat(Qt.TextFormat.RichText)
        self.diagnostics.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        layout.addWidget(self.diagnostics)
        doc = QLabel(spec.doc)
        doc.setObjectName("doc_label")
        doc.setWordWrap(True)
        doc.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(doc)

        layout.addWidget(_section("Parameters"))
        self.params_form = _form()
        if not spec.params:
            self.params_form.addRow(_muted("This layer has no parameters."))
        for param in spec.params:
            editor = make_editor(param, self)
            label = self._label(param.name)
            label.setToolTip(param.help)
            label.setBuddy(editor.widget)
            problem = _problem_label(f"problem_{param.name}")
            self.params_form.addRow(label, editor.widget)
            self.params_form.setWidget(
                self.params_form.rowCount(), QFormLayout.ItemRole.FieldRole, problem
            )
            self.params_form.setRowVisible(problem, False)
            self.editors[param.name] = editor
            self.problems[param.name] = problem
            editor.set_value(node.params[param.name])
            editor.problem_changed.connect(
                lambda text, n=param.name: self.show_problem(n, text)
            )
        layout.addLayout(self.params_form)

        layout.addWidget(_section("Tensors"))
        self.tensors_form = _form()
        layout.addLayout(self.tensors_form)

        layout.addWidget(_section("Size"))
        size_form = _form()
        self.param_count = _value_label("param_count")
        self.param_count.setToolTip("Learnable weights of this layer")
        self.buffer_count = _value_label("buffer_count")
        self.buffer_count.setToolTip(
            "Saved state that is not learned, such as running statistics"
        )
        self.macs = _value_label("macs")
        self.macs.setToolTip("Multiply-accumulate operations for one sample")
        size_form.addRow(self._label("Parameters"), self.param_count)
        size_form.addRow(self._label("Buffers"), self.buffer_count)
        size_form.addRow(self._label("MACs"), self.macs)
        self.size_form = size_form
        layout.addLayout(size_form)

        layout.addStretch(1)

        self.apply_theme()
        self.show_name(node.name)
        self.name_edit.textEdited.connect(lambda _text: self.name_problem.hide())

    def _label(self, text: str) -> QLabel:
        """A form label as wide as the widest, so the sections' fields line up."""
        label = QLabel(text)
        label.setMinimumWidth(self.label_width)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return label

    def show_name(self, name: str) -> None:
        """Show the graph's name of the layer and forget any refusal."""
        if self.name_edit.text() != name:
            self.name_edit.setText(name)
            self.name_edit.setCursorPosition(0)
        self.name_problem.hide()

    def show_name_problem(self, message: str) -> None:
        """Say why the typed name was refused."""
        self.name_problem.setText(message)
        self.name_problem.show()

    def show_problem(self, param_name: str, message: str) -> None:
        """Show (or, with '', hide) the reason under a parameter's field."""
        label = self.problems[param_name]
        label.setText(message)
        self.params_form.setRowVisible(label, bool(message))

    def show_analysis(self, result: NodeResult) -> None:
        """Show the shapes, counts and diagnostics of the layer."""
        node = self.graph.node(self.node_id)
        spec = node.spec
        while self.tensors_form.rowCount():
            self.tensors_form.removeRow(0)
        ports = spec.input_ports(node.params)
        for index, port in enumerate(ports):
            shape = result.inputs[index] if index < len(result.inputs) else None
            edge = self.graph.source_of(self.node_id, port.name)
            feeder = (
                self.graph.node(edge.src).name
                if edge and edge.src in self.graph
                else None
            )
            title = "Input" if len(ports) == 1 else f"Input {port.name}"
            missing = (
                "unknown"
                if feeder
                else "not connected (optional)"
                if port.optional
                else "not connected"
            )
            label = _tensor_label(
                f"shape_in_{port.name}", shape, feeder, missing, self.palette()
            )
            self.tensors_form.addRow(self._label(title), label)
        outputs = spec.output_ports(node.params)
        for port in outputs:
            shape = (
                result.outputs.get(port.name) if result.outputs is not None else None
            )
            title = "Output" if len(outputs) == 1 else f"Output {port.name}"
            label = _tensor_label(
                f"shape_out_{port.name}", shape, None, "unknown", self.palette()
            )
            if shape is not None and result.dtype and result.dtype != "float32":
                label.setText(f"{label.text()} {result.dtype}")
            self.tensors_form.addRow(self._label(title), label)
        if not ports and not outputs:
            self.tensors_form.addRow(_muted("No tensors."))

        known = result.outputs is not None
        self.param_count.setText(_count(result.params) if known else "unknown")
        self.buffer_count.setText(_count(result.buffers) if known else "unknown")
        self.size_form.setRowVisible(self.buffer_count, result.buffers > 0)
        self.macs.setText(_count(result.macs) if known else "unknown")
        self.diagnostics.setText(_diagnostics_html(result, self.palette()))

    def apply_theme(self) -> None:
        """Paint the icon and the problem texts in the current theme's colours."""
        self.icon.setPixmap(
            category_pixmap(
                self.graph.node(self.node_id).spec.category,
                32,
                self.devicePixelRatioF(),
            )
        )
        for label in [self.name_problem, *self.problems.values()]:
            _tint(label, current_theme().error)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and self.node_id in self.graph:
            self.apply_theme()
        super().changeEvent(event)


def _without_type(message: str) -> str:
    """'Conv2d: 'groups' must be ...' → ''groups' must be ...' (the type is in the header)."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.isidentifier() else message


def _section(title: str) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 10, 0, 2)
    layout.setSpacing(3)
    label = QLabel(title)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    layout.addWidget(label)
    layout.addWidget(line)
    return box


def _form() -> QFormLayout:
    form = QFormLayout()
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(6)
    return form


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    label.setWordWrap(True)
    return label


def _value_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


def _tint(label: QLabel, color: QColor) -> None:
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, color)
    label.setPalette(palette)


def _problem_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    _tint(label, current_theme().error)
    label.hide()
    return label


def _tensor_label(
    name: str, shape: Any, feeder: str | None, missing: str, palette: QPalette
) -> QLabel:
    """A shape in monospace (or why there is none), then the layer it comes from."""
    label = _value_label(name)
    label.setTextFormat(Qt.TextFormat.RichText)
    muted = palette.color(QPalette.ColorRole.PlaceholderText).name()
    source = (
        f" <span style='color:{muted}'>from {html.escape(feeder)}</span>"
        if feeder is not None
        else ""
    )
    if shape is not None:
        text = f"<span style='font-family:monospace'>{show(shape)}</span>"
    else:
        text = f"<span style='color:{muted}'>{missing}</span>"
    label.setText(text + source)
    return label


def _count(n: int) -> str:
    if n < 10_000:
        return f"{n:,}"
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n:,}  ({n / size:.3g}\u00a0{suffix})"
    return f"{n:,}"


def _diagnostics_html(result: NodeResult, palette: QPalette) -> str:
    if not result.diagnostics:
        muted = palette.color(QPalette.ColorRole.PlaceholderText).name()
        return f"<span style='color:{muted}'>No problems.</span>"
    theme = current_theme()
    muted = palette.color(QPalette.ColorRole.PlaceholderText).name()
    parts = []
    for diag in result.diagnostics:
        color = (theme.error if diag.severity == "error" else theme.warning).name()
        word = "Error" if diag.severity == "error" else "Warning"
        hint = (
            f"<br><span style='color:{muted}'>{html.escape(diag.hint)}</span>"
            if diag.hint
            else ""
        )
        parts.append(
            f"<p style='margin:0 0 6px 0'><b style='color:{color}'>{word}:</b> <span style='color:{color}'>{html.escape(diag.message)}</span>{hint}</p>"
        )
    return "".join(parts)
