"""The training settings of the project as fields: dataset, epochs, batch size, optimizer, device and more.

Every edit goes through `document.set_training` (undoable); a refused value shows its reason
under the field. Which devices this computer has is asked of a short child Python process, so
the editor never imports torch for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.graph.params import Param
from studio.graph.project import TEXT_SETTINGS, TRAINING_PARAMS
from studio.ui.document import Document
from studio.ui.param_editors import (
    EscapableLineEdit,
    ParamEditor,
    make_editor,
)
from studio.ui.theme import current_theme

MAIN_SETTINGS = ("epochs", "batch_size", "optimizer", "learning_rate", "device")
MORE_SETTINGS = (
    "loss",
    "schedule",
    "weight_decay",
    "momentum",
    "grad_clip",
    "early_stopping",
    "validation_split",
    "seed",
    "init",
    "precision",
    "compile",
    "augment",
)
LABELS = {
    "dataset": "Dataset",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "optimizer": "Optimizer",
    "learning_rate": "Learning rate",
    "device": "Device",
    "loss": "Loss",
    "schedule": "LR schedule",
    "weight_decay": "Weight decay",
    "momentum": "Momentum",
    "grad_clip": "Gradient clip",
    "early_stopping": "Early stopping",
    "validation_split": "Validation split",
    "seed": "Seed",
    "init": "Start from",
    "precision": "Precision",
    "compile": "Compile",
    "augment": "Augment",
    "target": "CSV target",
    "weights": "Weights",
}
BROWSE_FILE = "Browse for a file…"
BROWSE_FOLDER = "Browse for a folder…"
DATA_FILTER = (
    "Data files (*.csv *.npz *.gz *.idx *ubyte *.tsv *.txt);;"
    "Text for a language model (*.txt);;All files (*)"
)
_PROBE = (
    "import json, torch\n"
    "cuda = torch.cuda.is_available()\n"
    "mps = getattr(torch.backends, 'mps', None)\n"
    "print(json.dumps({'cuda': torch.cuda.get_device_name(0) if cuda else None,\n"
    "                  'mps': bool(mps is not None and mps.is_available())}))\n"
)
PROBE_TIMEOUT = 120  # seconds
_devices: dict[str, Any] | None = None  # what the probe found, once per editor session


def _describe_devices(found: dict[str, Any] | None) -> dict[str, str]:
    """The device choices as shown: 'auto (cuda: NVIDIA H200)', 'cuda (not available here)'..."""
    if found is None:
        return {"auto": "auto (checking…)", "cpu": "cpu", "cuda": "cuda", "mps": "mps"}
    if found.get("error"):
        return {"auto": "auto", "cpu": "cpu", "cuda": "cuda", "mps": "mps"}
    cuda, mps = found.get("cuda"), found.get("mps")
    best = f"cuda: {cuda}" if cuda else "Apple GPU" if mps else "CPU"
    return {
        "auto": f"auto ({best})",
        "cpu": "cpu",
        "cuda": f"cuda ({cuda})" if cuda else "cuda (not available here)",
        "mps": "mps (Apple GPU)" if mps else "mps (not available here)",
    }


class DeviceProbe(QObject):
    """Finds the CUDA and MPS devices in a child Python process; `found` carries the result once."""

    found = Signal(dict)
    _answered = Signal(dict)  # from the probing thread (queued to this object's thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._asked = False
        self._answered.connect(self._finish)

    def start(self) -> None:
        """Ask (unless known already: then `found` is emitted at once)."""
        if _devices is not None:
            self.found.emit(dict(_devices))
            return
        torch = sys.modules.get("torch")
        # paid for already (tests, or the Layer Output panel): ask directly, unless another thread is still importing it
        if torch is not None and not getattr(getattr(torch, "__spec__", None), "_initializing", False):
            mps = getattr(torch.backends, "mps", None)
            cuda = torch.cuda.is_available()
            self._finish(
                {
                    "cuda": torch.cuda.get_device_name(0) if cuda else None,
                    "mps": bool(mps and mps.is_available()),
                }
            )
            return
        if not self._asked:
            self._asked = True
            threading.Thread(target=self._ask, name="device-probe", daemon=True).start()

    def _ask(self) -> None:
        """Run the probe (on a thread: the child's import of torch takes seconds)."""
        try:
            done = subprocess.run(
                [sys.executable, "-c", _PROBE],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT,
                check=False,
            )
            data = (
                json.loads(done.stdout.strip().splitlines()[-1])
                if done.returncode == 0
                else None
            )
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            data = None
        try:
            self._answered.emit(
                data if isinstance(data, dict) else {"error": "the device check failed"}
            )
        except RuntimeError:  # the panel is gone
            pass

    def _finish(self, data: dict[str, Any]) -> None:
        global _devices
        _devices = data
        self.found.emit(dict(data))


class DeviceEditor(ParamEditor):
    """The device choice, each entry saying what it means on this computer."""

    def __init__(self, param: Param, parent: QObject | None = None) -> None:
        box = QComboBox()
        box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for choice in param.choices:
            box.addItem(choice, choice)
        super().__init__(param, box, parent)
        self.combo_box = box
        box.currentIndexChanged.connect(lambda index: self._offer(box.itemData(index)))
        self.show_devices(_devices)

    def show_devices(self, found: dict[str, Any] | None) -> None:
        """Relabel the choices with what the probe found (None: still checking)."""
        texts = _describe_devices(found)
        for index in range(self.combo_box.count()):
            value = self.combo_box.itemData(index)
            self.combo_box.setItemText(index, texts.get(value, value))

    def _show(self, value: Any) -> None:
        index = self.combo_box.findData(value)
        if index >= 0:
            self.combo_box.setCurrentIndex(index)


def _make_editor(param: Param, parent: QObject) -> ParamEditor:
    if param.name == "device":
        return DeviceEditor(param, parent)
    return make_editor(param, parent)


class TrainingSettingsForm(QWidget):
    """Fields for the project's training settings, kept in step with the document (and its undo)."""

    dataset_changed = Signal(str)  # the dataset setting as it now reads

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainSettings")
        self.document = document
        self.editors: dict[str, ParamEditor] = {}
        self.problems: dict[str, QLabel] = {}
        self._forms: dict[str, QFormLayout] = {}
        params = {p.name: p for p in TRAINING_PARAMS}

        self.dataset_box = QComboBox()
        self.dataset_box.setObjectName("param_dataset")
        self.dataset_box.setEditable(True)
        self.dataset_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.dataset_box.setToolTip(f"The training data: {TEXT_SETTINGS['dataset']}.")
        self.dataset_box.lineEdit().setPlaceholderText("a built-in name or a path")
        self.dataset_box.activated.connect(self._on_dataset_picked)
        self.dataset_box.lineEdit().editingFinished.connect(self._commit_dataset_text)
        self._builtins_shown = False

        self.main_form = _form()
        self._forms["dataset"] = self.main_form
        self._add_row(self.main_form, "dataset", self.dataset_box)
        for name in MAIN_SETTINGS:
            self._add_editor(self.main_form, params[name])

        self.more_button = QToolButton()
        self.more_button.setObjectName("moreSettings")
        self.more_button.setText("More settings")
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.ArrowType.RightArrow)
        self.more_button.setAutoRaise(True)
        self.more_button.clicked.connect(lambda: self.show_more(self.more.isHidden()))
        self.more = QWidget()
        self.more.setObjectName("moreSettingsBox")
        self.more_form = _form(self.more)
        self.more_form.setContentsMargins(0, 0, 0, 0)
        for name in MORE_SETTINGS:
            self._add_editor(self.more_form, params[name])
        self.target_edit = EscapableLineEdit()
        self.target_edit.setObjectName("param_target")
        self.target_edit.setPlaceholderText("the last column")
        self.target_edit.setToolTip(
            f"{TEXT_SETTINGS['target'][0].upper()}{TEXT_SETTINGS['target'][1:]}."
        )
        self.target_edit.editingFinished.connect(self._commit_target)
        self.target_edit.escape_pressed.connect(lambda: self.show_setting("target"))
        self._forms["target"] = self.more_form
        self._add_row(self.more_form, "target", self.target_edit)
        self.weights_label = QLabel()
        self.weights_label.setObjectName("weightsLabel")
        self.weights_label.setWordWrap(True)
        self.weights_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.weights_label.setToolTip(
            "The trained weights the project remembers: exports carry them. Each successful run replaces them."
        )
        self.more_form.addRow(_label(LABELS["weights"]), self.weights_label)
        self.more.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(self.main_form)
        layout.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.more)
        layout.addStretch(1)

        self.probe = DeviceProbe(self)
        self.probe.found.connect(self._on_devices)
        document.training_changed.connect(self.show_setting)
        document.reset.connect(self.show_all)
        self.show_all()

    # ----- building -----
    def _add_editor(self, form: QFormLayout, param: Param) -> None:
        editor = _make_editor(param, self)
        self.editors[param.name] = editor
        self._forms[param.name] = form
        self._add_row(form, param.name, editor.widget)
        editor.committed.connect(partial(self._commit, param.name))
        editor.problem_changed.connect(partial(self.show_problem, param.name))

    def _add_row(self, form: QFormLayout, name: str, widget: QWidget) -> None:
        label = _label(LABELS[name])
        label.setBuddy(widget)
        label.setToolTip(widget.toolTip())
        problem = QLabel()
        problem.setObjectName(f"problem_{name}")
        problem.setWordWrap(True)
        form.addRow(label, widget)
        form.setWidget(form.rowCount(), QFormLayout.ItemRole.FieldRole, problem)
        form.setRowVisible(problem, False)
        self.problems[name] = problem

    def prepare(self) -> None:
        """The costly parts, when the form is first shown: the built-in dataset names, the device check."""
        if not self._builtins_shown:
            from studio.train.datasets import builtin_description, builtin_names

            self._builtins_shown = True
            box = self.dataset_box
            blocked = box.blockSignals(True)
            try:
                box.clear()
                for name in builtin_names():
                    box.addItem(name)
                    box.setItemData(
                        box.count() - 1,
                        builtin_description(name),
                        Qt.ItemDataRole.ToolTipRole,
                    )
                box.insertSeparator(box.count())
                box.addItem(BROWSE_FILE)
                box.addItem(BROWSE_FOLDER)
            finally:
                box.blockSignals(blocked)
            self.show_setting("dataset")
        self.probe.start()

    # ----- following the document -----
    def show_all(self) -> None:
        """Show every setting of the open project (and forget shown problems)."""
        for name in (*TEXT_SETTINGS, *self.editors):
            self.show_setting(name)

    def show_setting(self, name: str) -> None:
        """Show one setting's value from the project."""
        training = self.document.project.training
        value = getattr(training, name, None)
        if name in self.editors:
            self.editors[name].set_value(value)
        elif name == "dataset":
            self.dataset_box.setEditText(str(value))
            self.dataset_box.lineEdit().setCursorPosition(0)
            self.dataset_changed.emit(str(value))
        elif name == "target":
            self.target_edit.setText(str(value))
        elif name == "weights":
            self.weights_label.setText(str(value) or "none yet: train the network")
            self.weights_label.setForegroundRole(
                QPalette.ColorRole.WindowText
                if value
                else QPalette.ColorRole.PlaceholderText
            )
        if name in self.problems:
            self.show_problem(name, "")

    def show_problem(self, name: str, message: str) -> None:
        """Show (or hide, with '') why a value was refused, under its field."""
        label = self.problems[name]
        label.setText(message)
        palette = label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, current_theme().error)
        label.setPalette(palette)
        self._forms[name].setRowVisible(label, bool(message))
        if message and self._forms[name] is self.more_form:
            self.show_more(True)

    def problem_text(self, name: str) -> str:
        """The reason shown under a field ('' when none)."""
        label = self.problems[name]
        return label.text() if not label.isHidden() else ""

    # ----- edits -----
    def _commit(self, name: str, value: Any) -> None:
        try:
            self.document.set_training(name, value)
        except ValueError as err:
            self.editors[name].set_value(getattr(self.document.project.training, name))
            self.show_problem(name, str(err))

    def _commit_text(self, name: str, text: str) -> None:
        if text == getattr(self.document.project.training, name):
            return
        try:
            self.document.set_training(name, text)
        except ValueError as err:
            self.show_problem(name, str(err))

    def _commit_dataset_text(self) -> None:
        text = self.dataset_box.currentText().strip()
        if text in (BROWSE_FILE, BROWSE_FOLDER):
            return
        self._commit_text("dataset", text)

    def _commit_target(self) -> None:
        self._commit_text("target", self.target_edit.text().strip())

    def _on_dataset_picked(self, index: int) -> None:
        text = self.dataset_box.itemText(index)
        if text in (BROWSE_FILE, BROWSE_FOLDER):
            self.dataset_box.setEditText(self.document.project.training.dataset)
            self.browse_dataset(folder=text == BROWSE_FOLDER)
            return
        self._commit_text("dataset", text)

    def browse_dataset(self, folder: bool = False) -> None:
        """Pick a data file (or an image folder) and make it the dataset."""
        start = str(self._project_folder() or Path.home())
        if folder:
            chosen = QFileDialog.getExistingDirectory(
                self, "Choose a folder of images (one sub-folder per class)", start
            )
        else:
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Choose a data file", start, DATA_FILTER
            )
        if chosen:
            self._commit_text("dataset", self.dataset_path_text(Path(chosen)))

    def dataset_path_text(self, path: Path) -> str:
        """A chosen path as the project stores it: relative to the project's folder when inside it."""
        folder = self._project_folder()
        if folder is not None:
            try:
                relative = path.resolve().relative_to(folder.resolve())
            except ValueError:
                pass
            else:
                text = relative.as_posix()
                from studio.train.datasets import builtin_names

                return f"./{text}" if text.lower() in builtin_names() else text
        return os.fspath(path)

    def _project_folder(self) -> Path | None:
        return self.document.path.parent if self.document.path is not None else None

    def show_more(self, shown: bool) -> None:
        """Fold the less common settings out (or in)."""
        self.more.setVisible(shown)
        self.more_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )

    def _on_devices(self, found: dict[str, Any]) -> None:
        editor = self.editors["device"]
        assert isinstance(editor, DeviceEditor)
        editor.show_devices(found)
        if found.get("error"):
            editor.widget.setToolTip(
                f"{editor.param.help}\n({found['error']}: auto picks the best one at the start.)"
            )


def _form(parent: QWidget | None = None) -> QFormLayout:
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    form.setHorizontalSpacing(8)
    form.setVerticalSpacing(5)
    return form


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setMinimumWidth(
        QLabel().fontMetrics().horizontalAdvance("Validation split") + 4
    )
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label
