"""What becomes of a run's weights: the project takes a finished run's best; a stopped run's only if the user says so.

NOTE: a run the user stopped (Stop, not early stopping) never replaces weights the project
already has without asking, and the question's default keeps them: a run stopped after two
epochs is usually worse than what the project held. A project without weights takes the stopped
run's best, since nothing is lost; the run folder keeps them either way (History).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from studio.graph.project import ProjectFileError, load_project
from studio.ui.document import Document


def best_weights(event: dict[str, Any], epochs: int) -> Path | None:
    """The weights file a finished run (its "done" event) leaves, or None when it trained no epoch or left none."""
    run_dir = event.get("run_dir")
    if not run_dir or epochs < 1:
        return None
    weights = Path(event.get("weights") or Path(run_dir) / "best.pt")
    return weights if weights.is_file() else None


def needs_asking(event: dict[str, Any], document: Document) -> bool:
    """True when the run was stopped by the user and taking its weights would replace the project's own."""
    return bool(event.get("stopped_by_user")) and bool(document.project.training.weights)


def ask_replace(parent: QWidget, epochs: int, weights: Path) -> bool:
    """Ask whether a stopped run's weights replace the project's; the default keeps the project's."""
    box = QMessageBox(parent)
    box.setObjectName("replaceWeights")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Use the stopped run's weights?")
    box.setText(f"The run was stopped after {epochs} epoch{'s' if epochs != 1 else ''}. Replace the project's weights with its best ones?")
    box.setInformativeText(f"The project keeps its previous weights unless you choose this run's. They stay in the run's folder either way:\n{weights}")
    keep = box.addButton("Keep previous weights", QMessageBox.ButtonRole.RejectRole)
    box.addButton("Use this run's weights", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    chosen = box.clickedButton()
    box.deleteLater()
    return chosen is not None and chosen is not keep


def store(document: Document, weights: Path, trained: str | None) -> str:
    """Make `weights` the project's (one undo step, with the Input's standardization the run used); return the path as stored.

    Raises:
        ValueError: the setting cannot take the path.
    """
    text = weights_text(document, weights)
    document.undo_stack.beginMacro("Keep the trained weights")
    try:
        _adopt_standardization(document, trained)
        document.set_training("weights", text)
    finally:
        document.undo_stack.endMacro()
    return text


def weights_text(document: Document, weights: Path) -> str:
    """A weights file as the project stores it: relative to the project's folder when it is saved."""
    if document.path is None:
        return os.fspath(weights.resolve())
    try:
        return Path(os.path.relpath(weights.resolve(), document.path.parent.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return os.fspath(weights.resolve())


def _adopt_standardization(document: Document, trained: str | None) -> None:
    """Give the project's Input the mean and std the run's model standardized with (the trained project's)."""
    if not trained:
        return
    try:
        project = load_project(trained)
    except ProjectFileError:
        return  # a run folder without its project: the weights alone still fit
    for node_id, node in project.graph.nodes.items():
        if node.type == "Input" and node_id in document.network:
            for name in ("mean", "std"):
                if document.network.node(node_id).params[name] != node.params[name]:
                    document.go_up(0)  # an edit of the network is made where it can be seen
                    document.set_param(node_id, name, node.params[name])
