"""The inspector's strip for a block instance: which block it uses, how many share it, Open and Make Unique."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.graph.model import GraphError
from studio.ui.document import Document
from studio.ui.levels import LevelAnalysis
from studio.ui.param_editors import ParamEditor


def instance_count(document: Document, block: str) -> int:
    """How many instances of `block` the network and the project's blocks hold."""
    graphs = [document.network, *(b.graph for b in document.project.blocks)]
    return sum(1 for graph in graphs for node in graph.nodes.values() if node.type == block)


class InstanceBar(QWidget):
    """Says which block an instance uses and offers to open it or give the instance a copy of its own."""

    def __init__(self, document: Document, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("instance_bar")
        self.document, self.node_id = document, node_id
        block = document.graph.node(node_id).type
        shared = instance_count(document, block)
        self.usage = QLabel(
            f"Uses block <b>{block}</b>, "
            + ("its only instance." if shared == 1 else f"with {shared - 1} other instance{'s' if shared > 2 else ''}: editing the block changes them all.")
        )
        self.usage.setObjectName("instance_usage")
        self.usage.setWordWrap(True)
        self.usage.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.open_button = QPushButton("Open Block")
        self.open_button.setObjectName("open_block")
        self.open_button.setToolTip("Show the block's layers as this instance runs them (Ctrl+Enter; Esc goes back)")
        self.open_button.clicked.connect(self.open_block)
        self.unique_button = QPushButton("Make Unique")
        self.unique_button.setObjectName("make_unique")
        self.unique_button.setToolTip("Copy the block into a new block that only this instance uses")
        self.unique_button.setEnabled(shared > 1)
        self.unique_button.clicked.connect(self.make_unique)
        self.problem = QLabel()
        self.problem.setObjectName("instance_problem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.unique_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.usage)
        layout.addLayout(buttons)
        layout.addWidget(self.problem)

    def open_block(self) -> None:
        """Show the instance's block."""
        if self.node_id in self.document.graph:
            self.document.open_instance(self.node_id)

    def make_unique(self) -> None:
        """Give the instance its own copy of the block (one undoable step)."""
        try:
            self.document.make_unique(self.node_id)
        except GraphError as err:
            self.problem.setText(str(err))
            self.problem.show()


def mark_bound(document: Document, node_id: str, editors: dict[str, ParamEditor]) -> list[str]:
    """In an open block, show the fields a block parameter sets as that parameter sets them, read-only; return their names."""
    block = document.project.blocks.get(document.graph.owner) if document.graph.owner else None
    if block is None:
        return []
    analysis = document.analysis
    ran = analysis.resolved.nodes.get(node_id) if isinstance(analysis, LevelAnalysis) else None
    marked = []
    for exposed in block.exposed:
        for inner_id, name in exposed.binds:
            editor = editors.get(name)
            if inner_id != node_id or editor is None:
                continue
            if ran is not None:
                editor.set_value(ran.params[name])
            editor.widget.setEnabled(False)
            editor.widget.setToolTip(f"Set by the block's parameter '{exposed.name}': change it on the instance")
            marked.append(name)
    return marked
