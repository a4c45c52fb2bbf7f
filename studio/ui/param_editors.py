"""One editor widget per parameter kind: shows the graph's value and offers only values the spec allows."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from studio.graph.params import Param, ParamValueError

INT_LIMIT = 2**31 - 1


def format_value(value: Any) -> str:
    """Write a parameter value the way a person types it: 3, 3  /  same  /  1e-05  /  true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_text(param: Param, text: str) -> Any:
    """Read typed text as a value of `param` in canonical form; ParamValueError says what is valid."""
    stripped = text.strip()
    if param.kind == "floats":
        return param.validate(_read_floats(stripped))
    if not stripped:
        raise ParamValueError(f"'{param.name}' must be {param.describe()}")
    value: Any = stripped
    if param.kind == "float":
        try:
            value = float(stripped)
        except ValueError:
            pass
    elif param.kind == "int":
        try:
            value = int(stripped)
        except ValueError:
            pass
    elif param.kind == "tuple":
        value = _read_ints(stripped)
    return param.validate(value)


def _read_ints(text: str) -> Any:
    """Read "3", "3, 3", "3 3", "(3, 3)" as integers; anything else stays text (a word, or a mistake)."""
    pieces = [p for p in re.split(r"[,\s]+", text.strip("()[] ")) if p]
    try:
        numbers = [int(p) for p in pieces]
    except ValueError:
        return text.strip("'\"")
    if not numbers:
        return text
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


def _read_floats(text: str) -> Any:
    """Read "0.5, 0.25", "0.5 0.25" or "[0.5]" as numbers (empty: none); anything else stays text (a mistake)."""
    pieces = [p for p in re.split(r"[,\s]+", text.strip("()[] ")) if p]
    try:
        return tuple(float(p) for p in pieces)
    except ValueError:
        return text


class EscapableLineEdit(QLineEdit):
    """A line edit that reports Escape (to revert) instead of passing it on."""

    escape_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class _ScrollSafeSpinBox(QSpinBox):
    """A spin box that leaves the wheel to the scroll area unless it has focus."""

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _ScrollSafeComboBox(QComboBox):
    """A combo box that leaves the wheel to the scroll area unless it has focus."""

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ParamEditor(QObject):
    """The field of one parameter: shows a value and emits `committed` with a value the spec accepts.

    `problem_changed` carries the reason the typed text is not valid ('' once it is).
    """

    committed = Signal(object)
    problem_changed = Signal(str)

    def __init__(
        self, param: Param, widget: QWidget, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.param = param
        self.widget = widget
        widget.setObjectName(f"param_{param.name}")
        widget.setToolTip(f"{param.help}\nValid: {param.describe()}.")
        self._value: Any = param.default

    @property
    def value(self) -> Any:
        """The value last shown (the graph's)."""
        return self._value

    def set_value(self, value: Any) -> None:
        """Show the graph's value without emitting anything."""
        self._value = value
        blocked = self.widget.blockSignals(True)
        try:
            self._show(value)
        finally:
            self.widget.blockSignals(blocked)
        self.problem_changed.emit("")

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def _offer(self, value: Any) -> None:
        if value != self._value:
            self.committed.emit(value)


class IntEditor(ParamEditor):
    """A spin box bounded by the spec's min and max; steps apply at once, typing on Enter."""

    def __init__(self, param: Param, parent: QObject | None = None) -> None:
        box = _ScrollSafeSpinBox()
        box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        box.setRange(
            int(param.min if param.min is not None else -INT_LIMIT),
            int(param.max if param.max is not None else INT_LIMIT),
        )
        box.setKeyboardTracking(False)
        box.setGroupSeparatorShown(False)
        box.setSpecialValueText(param.special)
        super().__init__(param, box, parent)
        self.spin_box = box
        box.valueChanged.connect(self._offer)

    def _show(self, value: Any) -> None:
        self.spin_box.setValue(int(value))


class BoolEditor(ParamEditor):
    """A check box; a click applies at once."""

    def __init__(self, param: Param, parent: QObject | None = None) -> None:
        box = QCheckBox()
        super().__init__(param, box, parent)
        self.check_box = box
        box.toggled.connect(self._offer)

    def _show(self, value: Any) -> None:
        self.check_box.setChecked(bool(value))


class ChoiceEditor(ParamEditor):
    """A drop-down of the spec's choices; a pick applies at once."""

    def __init__(self, param: Param, parent: QObject | None = None) -> None:
        box = _ScrollSafeComboBox()
        box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        box.addItems(list(param.choices))
        super().__init__(param, box, parent)
        self.combo_box = box
        box.currentTextChanged.connect(self._offer)

    def _show(self, value: Any) -> None:
        self.combo_box.setCurrentText(str(value))


class TextEditor(ParamEditor):
    """A line edit checked as you type (floats such as 1e-5, tuples such as "3, 3" or "same").

    Valid text applies on Enter or when the field loses focus; invalid text shows its reason and
    is kept for fixing; Escape puts the graph's value back.
    """

    def __init__(self, param: Param, parent: QObject | None = None) -> None:
        edit = EscapableLineEdit()
        edit.setPlaceholderText(_placeholder(param))
        super().__init__(param, edit, parent)
        self.line_edit = edit
        edit.textEdited.connect(self._check)
        edit.editingFinished.connect(self._finish)
        edit.escape_pressed.connect(lambda: self.set_value(self._value))

    def _show(self, value: Any) -> None:
        self.line_edit.setText(format_value(value))
        self.line_edit.setCursorPosition(0)

    def _check(self, text: str) -> Any:
        try:
            value = parse_text(self.param, text)
        except ParamValueError as err:
            self.problem_changed.emit(str(err))
            return err
        self.problem_changed.emit("")
        return value

    def _finish(self) -> None:
        value = self._check(self.line_edit.text())
        if isinstance(value, ParamValueError):
            return
        if value == self._value:
            self._show(value)
        else:
            self._offer(value)


def _placeholder(param: Param) -> str:
    if param.kind == "int":
        return f"a whole number, {param.describe()}"
    if param.kind == "float":
        return "a number, e.g. 0.5 or 1e-5"
    if param.kind == "floats":
        return "none, or numbers such as 0.5, 0.25"
    if param.length and param.length > 1:
        example = ", ".join(["3"] * param.length)
        return f"e.g. {example}" + (f" or {param.words[0]}" if param.words else "")
    return "e.g. 3" + (f" or {param.words[0]}" if param.words else "")


def make_editor(param: Param, parent: QObject | None = None) -> ParamEditor:
    """The editor that suits the parameter's kind (a text field for integers beyond a spin box's 32 bits)."""
    if param.kind == "int" and _fits_spin_box(param):
        return IntEditor(param, parent)
    if param.kind == "bool":
        return BoolEditor(param, parent)
    if param.kind == "choice":
        return ChoiceEditor(param, parent)
    return TextEditor(param, parent)


def _fits_spin_box(param: Param) -> bool:
    return all(bound is None or -INT_LIMIT <= bound <= INT_LIMIT for bound in (param.min, param.max))
