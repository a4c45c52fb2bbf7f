"""The network shows what it learns: a run's per-layer events drawn on the canvas cards and its flags listed in Problems.

NOTE: decisions. Events only update `RunFigures`; a timer pushes the changed cards to the canvas
at most FLUSH_INTERVAL_MS apart, so a card repaints a few times a second at most and only when its
figures changed. Figures are drawn on the network level only (a block's inner graph is shared by
all its instances, so its cards have no single set of figures). When the run ends the figures stay,
dimmed, as the last run's; they and the flags go when a new run starts, another project is opened,
or the network changes under them (a node or wire added or removed, a parameter of a layer they
describe changed): they would describe a network that no longer exists.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QObject, QTimer

from studio.graph.model import (
    EdgeAdded,
    EdgeRemoved,
    NodeAdded,
    NodeRemoved,
    ParamChanged,
)
from studio.ui.canvas.scene import GraphScene
from studio.ui.document import Document
from studio.ui.layer_figures import LayerFlag, RunFigures, card_of, inner_path
from studio.ui.problems import Problem, ProblemsView

FLUSH_INTERVAL_MS = 250  # cards repaint at most 4 times a second
EVENT_KINDS = ("start", "layers", "layer_epoch", "done", "failed")

_ADVICE = {
    "dead": ("the layer is dead", "Lower the learning rate, use LeakyReLU or check the initialisation"),
    "vanishing": ("its gradient vanishes", "Add normalisation (BatchNorm) or skip connections, or check the initialisation"),
    "exploding": ("its gradient explodes", "Lower the learning rate, clip the gradients or add normalisation"),
}


class LiveLayerStats(QObject):
    """Follows a run's events (`handle_event`), paints the figures on the scene's cards and lists the flags in `problems`."""

    def __init__(self, document: Document, scene: GraphScene, problems: ProblemsView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.scene = scene
        self.problems = problems
        self.run = RunFigures()
        self.following = False  # a run's events are taken (False after the network changed under it)
        self.pushes = 0  # cards handed to the canvas (for tests: the repaint is throttled)
        self._timer = QTimer(self, interval=FLUSH_INTERVAL_MS, timeout=self.flush)
        scene.rebuilt.connect(self._push_all)
        document.graph_changed.connect(self._on_graph_changed)
        document.reset.connect(self.clear)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Take one event of a run (start, layers, layer_epoch, done, failed); others are ignored."""
        kind = event.get("kind")
        if kind == "start":
            self.run.start(event.get("layers") or {})
            self.following = True
            self.problems.set_found([])
            self._push_all()
            self._timer.start()
        elif not self.following:
            return
        elif kind == "layers":
            self.run.take(event.get("layers") or {})
        elif kind == "layer_epoch":
            if self.run.take_epoch(event):
                self.problems.set_found(self.flag_rows())
        elif kind in ("done", "failed"):
            self.following = False
            self.run.finish()
            self._timer.stop()
            self.flush()

    def clear(self) -> None:
        """Forget the run: its figures leave the cards and its flags the Problems list."""
        self.following = False
        self._timer.stop()
        self.run.clear()
        self.problems.set_found([])
        self.flush()

    def flush(self) -> None:
        """Hand the cards whose figures changed to the canvas (only on the network level)."""
        dirty = self.run.take_dirty()
        if self.document.levels:
            return
        for card in dirty:
            item = self.scene.nodes.get(card)
            if item is not None:
                self.pushes += 1
                item.set_figures(self.run.figures(card))

    def _push_all(self) -> None:
        if self.document.levels:
            return
        for card, item in self.scene.nodes.items():
            item.set_figures(self.run.figures(card))

    def _on_graph_changed(self, event: object) -> None:
        structural = isinstance(event, (NodeAdded, NodeRemoved, EdgeAdded, EdgeRemoved))
        if isinstance(event, ParamChanged):  # at the top, a layer without figures (the Input's statistics) changes none
            structural = bool(self.document.levels) or event.node_id in self.run.cards
        if structural and (self.run.cards or self.run.flags):
            self.clear()

    # ----- problems -----
    def flag_rows(self) -> list[Problem]:
        """The run's flags as rows of the Problems list, pinned to their cards (an inner layer through its instance)."""
        network = self.document.network
        rows = []
        for flag in self.run.flags:
            card = card_of(flag.layer)
            node = network.nodes.get(card)
            if node is None:
                continue
            inner = inner_path(flag.layer)
            path = self.run.layers.get(flag.layer, node.name)
            layer = " › ".join(path.split(".")) if inner else node.name
            what, hint = _ADVICE[flag.kind]
            message = f"{_finding(flag)} since epoch {flag.epoch} — {what}"
            rows.append(
                Problem(
                    node_id=card,
                    severity="warning",
                    layer=layer,
                    layer_type=f"{node.type}, flagged by training" if not inner else f"layer in block {node.type}, flagged by training",
                    message=message,
                    hint=hint,
                    text=f"{layer}: {message}: {hint[:1].lower()}{hint[1:]}",
                    inner=inner,
                    of_network=True,
                )
            )
        return rows


def _finding(flag: LayerFlag) -> str:
    value = flag.value
    if flag.kind == "dead":
        share = f"{math.floor(value * 100):.0f}%" if isinstance(value, (int, float)) else "Nearly all"
        return f"{share} of its outputs are zero"
    if not isinstance(value, (int, float)):
        return "Its gradient norm is out of range"
    if not math.isfinite(value):
        return "Its gradient norm is not finite"
    return f"Its gradient norm is {value:.2g}"
