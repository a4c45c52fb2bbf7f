"""The Layer Output panel: what the selected layer computes for one sample of the dataset.

The view suits the tensor: a grid of feature maps for (C, H, W), a heat map for (T, D), bars for
a vector (the top classes named for the network's output), one T×T map per head for an attention
layer. The network runs on a background thread (`studio.train.node_output` keeps the built model,
so clicking through layers is quick); a newer request wins, and a problem is one line in the panel.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.graph.project import project_from_dict, project_to_dict
from studio.ui.document import Document


class _Done(QObject):
    """Carries a worker thread's result to the UI thread (queued)."""

    finished = Signal(int, object)


class LayerOutputPanel(QWidget):
    """The selected layer's output for the sample picked here (or in the dataset preview)."""

    shown = Signal()  # a result (or its problem) is on screen

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerOutput")
        self.document = document
        self.title = QLabel("Select a layer to see its output")
        self.title.setObjectName("layerOutputTitle")
        self.sample = QSpinBox()
        self.sample.setObjectName("layerOutputSample")
        self.sample.setPrefix("sample ")
        self.sample.setRange(0, 0)
        self.sample.setKeyboardTracking(False)
        self.sample.valueChanged.connect(lambda _value: self.refresh())
        self.note = QLabel("")
        self.note.setObjectName("layerOutputNote")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.views: Any = None  # layer_output_views.OutputViews, built with the first result (it imports pyqtgraph)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.sample)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.note)
        self._column = layout
        self.view = ""  # what is shown: "maps", "heatmap", "bars", "attention", "value", or "" (nothing)
        self.message = ""  # the problem shown instead of a picture
        self.result: Any = None
        self.node_id: str | None = None
        self._token = 0
        self._done = _Done(self)
        self._done.finished.connect(self._on_finished)
        self._timer = QTimer(self, singleShot=True, interval=250, timeout=self.refresh)
        document.selection_changed.connect(lambda _ids: self.refresh())
        document.analysed.connect(lambda *_: self._timer.start())
        document.training_changed.connect(lambda _name: self._timer.start())
        document.reset.connect(self.refresh)
        document.level_changed.connect(self.refresh)

    def set_sample(self, index: int) -> None:
        """Show the sample at `index` of the project's dataset (the dataset preview's pick)."""
        if index > self.sample.maximum():
            self.sample.setMaximum(index)
        self.sample.setValue(index)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.refresh)  # once shown: isVisible() is true then

    def _selected(self) -> tuple[str | None, str]:
        """The selected layer as the network runs it (a flattened id inside a block opened through an instance), and its name."""
        ids = self.document.selected_ids
        if len(ids) != 1:
            return None, ""
        node = self.document.graph.node(ids[0])
        prefix = ""
        for level in self.document.levels:
            if level.instance is None:
                return None, node.name  # a block opened on its own runs nowhere
            prefix += f"{level.instance}.0."
        return prefix + ids[0], node.name

    def refresh(self) -> None:
        """Compute the selected layer's output for the chosen sample, off the UI thread."""
        if not self.isVisible():
            return
        node_id, name = self._selected()
        self.node_id = node_id
        self._token += 1
        if node_id is None:
            self.title.setText("Select one layer to see its output" if not name else f"{name}: open its block through an instance to run it")
            self._clear()
            return
        self.title.setText(f"<b>{name}</b> · computing…")
        project = project_from_dict(project_to_dict(self.document.project))  # a snapshot: edits go on while it runs
        path, index, token, done = self.document.path, self.sample.value(), self._token, self._done

        def work() -> None:
            from studio.train.node_output import NodeOutputError, node_output

            try:
                result: Any = node_output(project, str(path) if path else None, node_id, index)
            except NodeOutputError as err:
                result = err
            except Exception as err:  # noqa: BLE001 - a bug must reach the panel as a line, not kill the thread
                result = RuntimeError(f"the output could not be computed: {type(err).__name__}: {err}")
            try:
                done.finished.emit(token, result)
            except RuntimeError:  # the panel was closed meanwhile: nobody to show it to
                pass

        threading.Thread(target=work, name="layer-output", daemon=True).start()

    def _clear(self) -> None:
        self.view, self.result, self.message = "", None, ""
        self.note.setText("")
        if self.views is not None:
            self.views.hide()

    def _on_finished(self, token: int, result: Any) -> None:
        if token != self._token:
            return
        if isinstance(result, Exception):
            self._clear()
            self.message = str(result).splitlines()[0] if str(result) else type(result).__name__
            self.title.setText(self.title.text().replace(" · computing…", ""))
            self.note.setText(self.message)
        else:
            self._show(result)
        self.shown.emit()

    def _show(self, result: Any) -> None:
        self.result, self.message = result, ""
        if result.samples:
            self.sample.blockSignals(True)
            self.sample.setMaximum(result.samples - 1)
            self.sample.blockSignals(False)
        shape = "×".join(str(d) for d in result.values.shape) or "one value"
        label = f" · target {result.label}" if result.label else ""
        self.title.setText(f"<b>{result.name}</b> · {shape}{label}")
        notes = []
        if not result.trained:
            notes.append("The project has no weights yet: this is the untrained (seeded) network.")
        elif result.fresh:
            notes.append(f"The weights do not fit {', '.join(result.fresh[:4])}: {'those layers keep' if len(result.fresh) > 1 else 'it keeps'} the seeded start.")
        if self.views is None:
            from studio.ui.layer_output_views import OutputViews

            self.views = OutputViews()
            self._column.addWidget(self.views, 1)
        named = result.node in self.document.network.nodes and self._feeds_output(result.node)
        notes.append(self.views.show_output(result.values, result.attention, result.classes if named else ()))
        self.view = self.views.view
        self.note.setText(" ".join(n for n in notes if n))

    def _feeds_output(self, node_id: str) -> bool:
        """True for the network's Output and the layer that feeds it (its bars are the classes)."""
        graph = self.document.network
        if graph.node(node_id).type == "Output":
            return True
        return any(graph.node(e.dst).type == "Output" for e in graph.out_edges(node_id))
