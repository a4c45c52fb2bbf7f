"""File > Import Model for PyTorch code: the dialog that asks for NAME, the inputs' shapes and optional weights.

The choices come from the file's syntax tree (`code_scan`), never from running it. The last values
are remembered per file (by its resolved path) and, as defaults for a file not seen before, the
last name and shapes overall; a weights file is remembered only for its own source file, since
another model's state dict would not fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from studio.interop.python_code import TIMEOUT_S
from studio.torch_capture import DTYPES, CaptureError, parse_input
from studio.ui.code_scan import CodeScan
from studio.ui.recovery import settings
from studio.ui.theme import current_theme

LAST_KEY = "codeImport/last"
FILES_KEY = "codeImport/files"
WIDTH = 620
MAX_FILES = 50  # remembered source files; the oldest is forgotten first
WEIGHTS_FILTER = "PyTorch state dicts (*.pt *.pth *.bin *.ckpt);;All files (*)"
_IDENTIFIER = "A module class built with no arguments, or a function that returns a module"


class InputsError(ValueError):
    """The inputs' shapes line cannot be read; the message says which part and what would be valid."""


@dataclass(frozen=True)
class CodeImportRequest:
    """What to import from a `.py` file: NAME, each input's per-sample shape (`3x32x32`, `16:int64`), a state dict."""

    path: Path
    name: str
    inputs: tuple[str, ...]
    weights: Path | None = None

    @property
    def spec(self) -> str:
        """`FILE.py:NAME`, as the CLI and `import_python` take it."""
        return f"{self.path}:{self.name}"


def parse_inputs(text: str, optional: bool) -> tuple[str, ...]:
    """The inputs' per-sample shapes from one line (`3x224x224`, `16:int64, 16:int64`), in the capture's own grammar.

    Raises InputsError naming the part that is not a shape; an empty line is allowed when `optional`
    (the file defines `example_inputs()`).
    """
    if not text.strip():
        if optional:
            return ()
        raise InputsError("give each input's shape for one sample, such as 3x224x224, or 16:int64 for token ids; separate inputs with commas")
    shapes = []
    for part in text.split(","):
        shape = "".join(part.split())
        if not shape:
            raise InputsError("an input is missing between two commas")
        try:
            parse_input(shape)
        except CaptureError:
            raise InputsError(f"{part.strip()!r} is not a shape: write the sizes of one sample joined by x, such as 3x224x224, then :dtype if it is not float32 (dtypes: {', '.join(sorted(DTYPES))})") from None
        shapes.append(shape)
    return tuple(shapes)


def name_problem(name: str, scan: CodeScan) -> str:
    """Why `name` cannot be imported from the scanned file ("" when it may be)."""
    if not name:
        return f"choose the model to import: {_IDENTIFIER.lower()}"
    if not name.isidentifier():
        return f"{name!r} is not a Python name; choose a class or function the file defines"
    if not scan.defines(name):
        offered = ", ".join(scan.names) or "none that can be built without arguments"
        return f"{scan.path.name} defines no {name!r} (models it offers: {offered})"
    return ""


def weights_problem(text: str) -> str:
    """Why the weights file cannot be used ("" when it is absent or an existing file)."""
    if not text.strip():
        return ""
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        return f"weights {path}: no such file"
    return ""


# ----- remembered values -----
def remembered(path: Path, scan: CodeScan) -> tuple[str, str, str]:
    """The name, inputs line and weights to start from: this file's last import, else the last overall (name only where the file defines it)."""
    own = _stored_files().get(str(Path(path).resolve()))
    if own:
        name = str(own.get("name", ""))
        return (name if scan.defines(name) else scan.suggested), str(own.get("inputs", "")), str(own.get("weights", ""))
    last = _stored(LAST_KEY)
    name = str(last.get("name", "")) if isinstance(last, dict) else ""
    inputs = str(last.get("inputs", "")) if isinstance(last, dict) else ""
    return (name if name in scan.names else scan.suggested), inputs, ""


def remember(request: CodeImportRequest) -> None:
    """Keep this import's values for its file, and its name and shapes as the next file's defaults."""
    inputs = ", ".join(request.inputs)
    files = _stored_files()
    key = str(Path(request.path).resolve())
    files.pop(key, None)
    files[key] = {"name": request.name, "inputs": inputs, "weights": str(request.weights or "")}
    store = settings()
    store.setValue(FILES_KEY, json.dumps(dict(list(files.items())[-MAX_FILES:])))
    store.setValue(LAST_KEY, json.dumps({"name": request.name, "inputs": inputs}))
    store.sync()


def _stored(key: str) -> object:
    try:
        return json.loads(str(settings().value(key, "{}")))
    except ValueError:  # a hand-edited or damaged settings file: start afresh
        return {}


def _stored_files() -> dict[str, dict]:
    found = _stored(FILES_KEY)
    return {k: v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}


# ----- the dialog -----
class CodeImportDialog(QDialog):
    """Ask what to import from a scanned `.py` file; `request()` holds the answer after `exec()` accepts."""

    def __init__(self, scan: CodeScan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scan = scan
        self.setWindowTitle(f"Import PyTorch Code: {scan.path.name}")
        name, inputs, weights = remembered(scan.path, scan)

        self.name = QComboBox(self)
        self.name.setObjectName("codeImportName")
        self.name.setEditable(True)
        self.name.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name.addItems(scan.names)
        self.name.setCurrentText(name)
        self.name.setToolTip(_IDENTIFIER)
        self.name.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        self.inputs = QLineEdit(inputs, self)
        self.inputs.setObjectName("codeImportInputs")
        self.inputs.setPlaceholderText("(from example_inputs)" if scan.has_example_inputs else "3x224x224   or   16:int64, 16:int64")
        self.inputs.setToolTip("Each input's shape for one sample, without the batch dimension; separate inputs with commas")

        self.weights = QLineEdit(weights, self)
        self.weights.setObjectName("codeImportWeights")
        self.weights.setPlaceholderText("optional: a state dict saved with torch.save")
        self.weights.setClearButtonEnabled(True)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights, 1)
        weights_row.addWidget(browse)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("&Model:", self.name)
        form.addRow("", _hint(_IDENTIFIER + ".", self))
        form.addRow("&Inputs:", self.inputs)
        form.addRow("", _hint(self._inputs_hint(), self))
        weights_label = QLabel("&Weights:", self)
        weights_label.setBuddy(self.weights)
        form.addRow(weights_label, weights_row)

        self.problem = QLabel(self)
        self.problem.setObjectName("codeImportProblem")
        self.problem.setWordWrap(True)
        self.problem.setMinimumHeight(2 * self.fontMetrics().lineSpacing())  # room for the longest message, so nothing jumps
        self.problem.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.problem.setStyleSheet(f"color: {current_theme().error.name()}")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self._warning())
        layout.addSpacing(10)
        layout.addLayout(form)
        layout.addSpacing(4)
        layout.addWidget(self.problem)
        layout.addSpacing(6)
        layout.addWidget(self.buttons)

        self.name.currentTextChanged.connect(self.validate)
        self.inputs.textChanged.connect(self.validate)
        self.weights.textChanged.connect(self.validate)
        self.validate()
        self.setMinimumWidth(WIDTH)
        self.resize(WIDTH, layout.totalHeightForWidth(WIDTH))  # wrapped lines measured at the dialog's width, not a guess

    def _warning(self) -> QWidget:
        """The plain warning that importing runs the file's code."""
        box = QWidget(self)
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        icon = QLabel(box)
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(32, 32))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        text = QLabel(
            f"Importing runs the Python code in <b>{self.scan.path.name}</b>, as running it yourself would. "
            f"It runs in a separate process, stopped after {TIMEOUT_S // 60} minutes or when you cancel, "
            "but it can still read and change your files: only import code you trust.",
            box,
        )
        text.setObjectName("codeImportWarning")
        text.setWordWrap(True)
        row.addWidget(icon)
        row.addWidget(text, 1)
        return box

    def _inputs_hint(self) -> str:
        if self.scan.has_example_inputs:
            return "Leave empty to use the file's example_inputs(), or give the shapes."
        return "One sample's shape per input (no batch), commas between; :int64 for token ids."

    def _browse_weights(self) -> None:
        start = self.weights.text().strip() or str(self.scan.path.parent)
        path, _ = QFileDialog.getOpenFileName(self, "Weights for the model", start, WEIGHTS_FILTER)
        if path:
            self.weights.setText(path)

    def problems(self) -> list[str]:
        """What stops the import as the fields stand (empty when it can go)."""
        found = [name_problem(self.name.currentText().strip(), self.scan)]
        try:
            parse_inputs(self.inputs.text(), optional=self.scan.has_example_inputs)
        except InputsError as err:
            found.append(f"inputs: {err}")
        found.append(weights_problem(self.weights.text()))
        return [p for p in found if p]

    def validate(self) -> bool:
        """Show the first problem under the fields and allow Import only when there is none."""
        problems = self.problems()
        self.problem.setText(problems[0] if problems else "")
        self.import_button.setEnabled(not problems)
        return not problems

    def accept(self) -> None:
        if self.validate():
            super().accept()

    def request(self) -> CodeImportRequest:
        """The import the fields describe (call after `validate()` is True)."""
        weights = self.weights.text().strip()
        return CodeImportRequest(
            path=self.scan.path,
            name=self.name.currentText().strip(),
            inputs=parse_inputs(self.inputs.text(), optional=self.scan.has_example_inputs),
            weights=Path(weights).expanduser().resolve() if weights else None,
        )


def _hint(text: str, parent: QWidget) -> QLabel:
    """A small grey line under a field (one line: a wrapped label in a form is measured at a guessed width)."""
    label = QLabel(text, parent)
    label.setEnabled(False)
    return label
