"""The code preview: the network as PyTorch or Keras source, kept current while the graph is edited.

Generating a large network takes tens of milliseconds, so the preview waits for a pause in the
edits and regenerates only while it can be seen; when shown again it catches up. A network of
more than `LIVE_LAYERS` layers takes seconds: its code waits for the Refresh button. The selected
layers' lines are highlighted, and selecting a layer scrolls its code into view.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QPalette,
    QShowEvent,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from studio.graph.model import Event, NodeMoved
from studio.graph.project import Project
from studio.ui.code_lines import layer_lines
from studio.ui.document import Document
from studio.ui.highlighter import PythonHighlighter
from studio.ui.problems import problem_rows
from studio.ui.theme import current_theme

TARGETS = {"pytorch": "PyTorch", "keras": "Keras"}
UPDATE_DELAY_MS = 150
LIVE_LAYERS = 5_000  # past this many layers (a second or more of generating), the code waits for Refresh
COPIED_FEEDBACK_MS = 1200
ERRORS_HEADER = "The network has problems; fix them to see the code:"
ERRORS_FOOTER = "The Problems list shows them too: click one to show its layer."
REPORT_IT = "Please report this, with the project file."


def generate_code(project: Project, target: str) -> tuple[str, str]:
    """The code for `target` (or a commented reason) and a status: 'ok', 'refused' or 'failed'."""
    from studio.codegen.names import CodegenError

    if target == "keras":
        from studio.codegen.keras import generate_keras as generate
    else:
        from studio.codegen.pytorch import generate_pytorch as generate
    try:
        return generate(project), "ok"
    except CodegenError as err:  # the target cannot express some layers
        first, *rest = str(err).splitlines()
        footer = (
            "PyTorch can express every layer: choose it above."
            if target == "keras"
            else ""
        )
        return commented(_sentence(first) + ":", rest, footer), "refused"
    except Exception as err:  # noqa: BLE001 - a generator bug must not break the editor
        name = TARGETS.get(target, target)
        header = f"The {name} generator failed ({type(err).__name__}: {err})."
        return commented(header, [], REPORT_IT), "failed"


def errors_text(document: Document) -> str:
    """The commented list of the errors that keep the network from becoming code."""
    lines = [
        f"  - {p.layer}: {p.message}. {p.hint}."
        for p in problem_rows(document, network=True)
        if p.severity == "error"
    ]
    return commented(ERRORS_HEADER, lines, ERRORS_FOOTER)


def commented(header: str, lines: list[str], footer: str = "") -> str:
    """A block of Python comments: a header, the lines, a footer, with blank comment lines between."""
    body = ["# " + header, "#", *(f"# {_printable(line)}" for line in lines)]
    if footer:
        body += ["#", "# " + footer]
    return "\n".join(body) + "\n"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class CodePreview(QWidget):
    """Read-only, highlighted source of the network in the chosen framework, with a Copy button."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codePreview")
        self.document = document
        self._text = ""
        self._status = "ok"
        self._stale = True
        self._edited = False
        self._scroll_to_top = True
        self._level_pending = False  # a block was opened or left: show its code at the next refresh
        self._highlighted: list[int] = []
        self._reveal_pending = False  # the selection changed: scroll to its code at the next refresh

        self.target_box = QComboBox(self)
        self.target_box.setObjectName("codeTarget")
        self.target_box.setToolTip("The framework the code is written for")
        for key, label in TARGETS.items():
            self.target_box.addItem(label, key)
        self.target_box.currentIndexChanged.connect(self._target_chosen)
        self.status = QLabel(self)
        self.status.setObjectName("codeStatus")
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setObjectName("copyCode")
        self.copy_button.setToolTip("Copy the whole code to the clipboard")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setObjectName("refreshCode")
        self.refresh_button.setToolTip("Write the code of the network as it is now (a network this large is not rewritten on every edit)")
        self.refresh_button.clicked.connect(self.refresh_now)
        self.refresh_button.hide()

        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("codeText")
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setFont(
            QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        )
        self.editor.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.editor.document().setDocumentMargin(8)
        self._dark = current_theme().dark
        self.highlighter = PythonHighlighter(self.editor.document(), self._dark)

        bar = QHBoxLayout()
        bar.setContentsMargins(8, 6, 8, 6)
        bar.setSpacing(8)
        bar.addWidget(self.target_box)
        bar.addWidget(self.status, 1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.editor, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._refresh_if_visible)
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_FEEDBACK_MS)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText("Copy"))
        document.graph_changed.connect(self._graph_changed)
        document.analysed.connect(self._analysed)
        document.reset.connect(self._mark_stale)
        document.renamed.connect(lambda _name: self._mark_stale())  # the class is named after the project
        document.level_changed.connect(self._level_changed)
        document.selection_changed.connect(self._selection_changed)

    # ----- public -----
    def text(self) -> str:
        """What the preview shows: the code, or the commented reason there is none."""
        return self._text

    def is_code(self) -> bool:
        """True when the preview shows code (False: it explains why it cannot)."""
        return self._status == "ok"

    def target(self) -> str:
        """The chosen framework: 'pytorch' or 'keras'."""
        return str(self.target_box.currentData())

    def set_target(self, target: str) -> None:
        """Choose the framework ('pytorch' or 'keras'); the code follows at once when visible."""
        index = self.target_box.findData(target)
        if index < 0:
            raise ValueError(
                f"unknown code target {target!r}: choose one of {', '.join(TARGETS)}"
            )
        self.target_box.setCurrentIndex(index)

    def refresh_now(self) -> None:
        """Generate the code now, whether or not the preview is visible."""
        self._timer.stop()
        self._stale = False
        if not self.document.network_analysis.is_valid:
            text, status = errors_text(self.document), "errors"
        else:
            text, status = generate_code(self.document.project, self.target())
        self._status = status
        coloured = self.editor.document() if status == "ok" else None  # plain messages
        if self.highlighter.document() is not coloured:
            self.highlighter.setDocument(coloured)
        self._show_text(text)
        self._show_status()
        if self._level_pending:
            self._level_pending = False
            self.show_level()
        self.show_selection(scroll=self._reveal_pending)

    def show_level(self) -> int | None:
        """Scroll to the code of the block open in the editor (its class, or its Keras function); return its line."""
        levels = self.document.levels
        if not levels or not self.is_code():
            return None
        name = levels[-1].block
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
        pattern = re.compile(rf"^(class {re.escape(name)}\d*\(|def {re.escape(snake)}(_block)?\d*\()")
        for number, line in enumerate(self._text.splitlines()):
            if pattern.match(line):
                self.editor.verticalScrollBar().setValue(number)
                return number
        return None

    def highlighted_lines(self) -> list[int]:
        """The 0-based lines highlighted as the selected layers' code."""
        return list(self._highlighted)

    def show_selection(self, scroll: bool = True) -> list[int]:
        """Highlight the selected layers' lines (their attributes and forward statements); with `scroll`, bring them into view."""
        self._reveal_pending = False
        lines: list[int] = []
        if self.is_code():
            graph, levels = self.document.graph, self.document.levels
            block = levels[-1].block if levels else None
            for node_id in self.document.selected_ids:
                if node_id in graph:
                    node = graph.node(node_id)
                    lines += layer_lines(self._text, node.name, node.type, block)
        self._highlighted = sorted(set(lines))
        self._paint_highlight()
        if scroll and self._highlighted:
            self._scroll_to(self._highlighted)
        return self.highlighted_lines()

    def copy_to_clipboard(self) -> None:
        """Put the code on the clipboard."""
        if self._stale:
            self.refresh_now()
        if not self.is_code():
            return
        QApplication.clipboard().setText(self._text)
        self.copy_button.setText("Copied")
        self._copied_timer.start()

    # ----- Qt -----
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._timer.start(0)
        elif self._reveal_pending:
            self.show_selection()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
        ):
            dark = current_theme().dark
            if dark != self._dark:
                self._dark = dark
                self.highlighter.set_dark(dark)
                self._show_status()
            self._paint_highlight()

    # ----- internals -----
    def _selection_changed(self, _ids: object) -> None:
        if self._stale or not self.isVisible():
            self._reveal_pending = True
        else:
            self.show_selection()

    def _paint_highlight(self) -> None:
        color = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        color.setAlpha(70 if current_theme().dark else 50)
        selections = []
        document = self.editor.document()
        for number in self._highlighted:
            block = document.findBlockByNumber(number)
            if not block.isValid():
                continue
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(color)
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            selection.cursor = QTextCursor(block)
            selections.append(selection)
        self.editor.setExtraSelections(selections)

    def _scroll_to(self, lines: list[int]) -> None:
        """Show `lines` whole when they fit in the view, else their first line a quarter of the way down."""
        bar = self.editor.verticalScrollBar()
        shown = max(1, self.editor.viewport().height() // max(1, self.editor.fontMetrics().lineSpacing()))
        first, last = lines[0], lines[-1]
        if last - first + 1 <= shown:
            top = first - (shown - (last - first + 1)) // 2
        else:
            top = first - shown // 4
        if not (bar.value() <= first and last < bar.value() + shown):
            bar.setValue(max(0, top))
        self.editor.horizontalScrollBar().setValue(0)

    def _level_changed(self) -> None:
        self._level_pending = True
        if not self._stale and self.is_code():
            self._level_pending = False
            self.show_level()

    def _graph_changed(self, event: Event) -> None:
        if not isinstance(event, NodeMoved):  # positions never reach the code
            self._edited = True

    def _analysed(self, _ids: object) -> None:
        if self._edited:
            self._edited = False
            self._mark_stale()

    def _mark_stale(self) -> None:
        self._stale = True
        if self.isVisible():
            self._timer.start(UPDATE_DELAY_MS)

    def _refresh_if_visible(self) -> None:
        if self.isVisible():
            if self._waits():
                self._show_waiting()
            else:
                self.refresh_now()

    def _waits(self) -> bool:
        """True when the network is too large for its code to follow every edit."""
        return len(self.document.network) > LIVE_LAYERS

    def _show_waiting(self) -> None:
        """Say that the code waits for Refresh (it stays stale, so Copy writes it first)."""
        self._status = "waiting"
        self.highlighter.setDocument(None)
        layers = len(self.document.network)
        self._show_text(commented(f"A network of {layers:,} layers takes a while to write out,", ["so its code does not follow every edit."], "Press Refresh to see it as it is now."))
        self._show_status()

    def _target_chosen(self, _index: int) -> None:
        self._scroll_to_top = True  # another file: start at its top
        self._stale = True
        if self.isVisible():
            self.refresh_now()

    def _show_text(self, text: str) -> None:
        if text == self._text:
            return
        keep_place, self._scroll_to_top = not self._scroll_to_top, False
        vertical, horizontal = (
            self.editor.verticalScrollBar(),
            self.editor.horizontalScrollBar(),
        )
        place = (vertical.value(), horizontal.value())
        self._text = text
        self.editor.setPlainText(text)
        if keep_place:
            vertical.setValue(place[0])
            horizontal.setValue(place[1])

    def _show_status(self) -> None:
        theme = current_theme()
        self.refresh_button.setVisible(self._waits())
        if self._status == "ok":
            text, color = f"{len(self._text.splitlines())} lines", None
        elif self._status == "waiting":
            text, color = "Press Refresh for the code", None
        elif self._status == "errors":
            errors = self.document.network_analysis.summary().errors
            plural = "s" if errors != 1 else ""
            text, color = f"{errors} error{plural} to fix first", theme.error
        elif self._status == "refused":
            name = self.target_box.currentText()
            text, color = f"{name} cannot express some layers", theme.warning
        else:
            text, color = "The generator failed", theme.error
        palette = self.palette()
        if color is None:
            color = palette.color(QPalette.ColorRole.PlaceholderText)
        elif not theme.dark:
            color = color.darker(125)  # the accents are a little light for small text
        palette.setColor(QPalette.ColorRole.WindowText, color)
        self.status.setPalette(palette)
        self.status.setText(text)
        self.copy_button.setEnabled(self.is_code())
