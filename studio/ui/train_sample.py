"""What a language model writes: the sample text of its newest epoch, or of a finished run, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtGui import QFont, QFontDatabase, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

LANGUAGE_MODELLING = "language_modelling"
LINES = 4  # lines of text the box shows whole at its smallest (a 300-character sample on a wide panel)
WAITING = "The model writes a sample after each epoch: its prompt, then what it makes of it."


class SampleText(QWidget):
    """A title and a read-only box holding a language model's sample, its prompt set apart.

    It follows a run's events (`follow`): shown when a language model starts, filled after each
    epoch, and left as it is when the run ends; `show_run` shows the sample a run folder keeps.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sampleText")
        self.title = QLabel("Sample text")
        self.title.setObjectName("sampleTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.box = QPlainTextEdit()
        self.box.setObjectName("sampleBox")
        self.box.setReadOnly(True)
        self.box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.box.setPlaceholderText(WAITING)
        margins = 2 * (self.box.document().documentMargin() + self.box.frameWidth()) + 2
        self.box.setMinimumHeight(round(LINES * self.box.fontMetrics().lineSpacing() + margins))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(self.title)
        layout.addWidget(self.box, 1)
        self.prompt = ""
        self.run_dir = ""  # the run whose sample is shown ('' for none)
        self.hide()

    def sizeHint(self) -> QSize:
        """As tall as the smallest whole box: the curves above take the rest."""
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())

    @property
    def text(self) -> str:
        """The sample shown, prompt first ('' when none)."""
        return self.box.toPlainText()

    def follow(self, event: dict[str, Any]) -> None:
        """Take a run's event: a language model's start shows the box, each epoch's sample fills it."""
        kind = event.get("kind")
        if kind == "start":
            self.setVisible(event.get("task") == LANGUAGE_MODELLING)
            self.prompt = str(event.get("prompt") or "")
            self.run_dir = str(event.get("run_dir") or "")
            self.title.setText("Sample text")
            self.box.clear()
        elif kind == "epoch" and isinstance(event.get("sample"), str):
            self.title.setText(f"Sample text after epoch {event.get('epoch')}")
            self._fill(self.prompt, event["sample"])

    def show_run(self, run_dir: Path, label: str) -> bool:
        """Show the sample a run folder keeps (sample.txt); False, changing nothing, when it has none."""
        from studio.train.runs import read_sample

        text = read_sample(run_dir)
        if not text:
            return False
        heading, _, body = text.partition("\n\n")
        when, _, quoted = heading.partition(", from the prompt ")
        prompt = _literal(quoted.removesuffix(":"))
        body = body.rstrip("\n")
        if not body.startswith(prompt):
            prompt = ""
        self.run_dir = str(run_dir)
        self.prompt = prompt
        self.title.setText(f"Sample text of the run {label} ({when[:1].lower()}{when[1:]})")
        self._fill(prompt, body[len(prompt) :])
        self.show()
        return True

    def forget(self) -> None:
        """Empty and hide the box (another project)."""
        self.box.clear()
        self.prompt = self.run_dir = ""
        self.hide()

    def _fill(self, prompt: str, sample: str) -> None:
        self.box.clear()
        cursor = self.box.textCursor()
        emphasis = QTextCharFormat()
        emphasis.setFontWeight(QFont.Weight.Bold)
        emphasis.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
        cursor.insertText(prompt, emphasis)
        cursor.insertText(sample, QTextCharFormat())
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        self.box.setTextCursor(cursor)


def _literal(text: str) -> str:
    """The prompt as sample.txt quotes it (a Python string literal); '' when it is not one."""
    import ast

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return ""
    return value if isinstance(value, str) else ""
