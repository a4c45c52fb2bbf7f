"""A run's per-layer statistics afterwards: one row per layer, one column per epoch, for the figure chosen, with its flags.

Read from the run folder's layer_stats.json (written by the trainer, `studio.train.layer_stats`);
a run without the file (trained before the file was kept) says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.ui.theme import current_theme

STATS_FILE = "layer_stats.json"
FIGURES = (("grad", "Gradient norm"), ("mean", "Activation mean"), ("std", "Activation spread"), ("zeros", "Zeros (share of outputs)"))
LIVE_FIELDS = ("mean", "std", "zeros", "grad")  # the order of a `layers` event's figures (studio.train.layer_stats.FIELDS)
_FLAG_FIGURE = {"dead": "zeros", "vanishing": "grad", "exploding": "grad"}


class LayerStatsError(ValueError):
    """A layer_stats.json that cannot be read, with the reason in words."""


def read_layer_stats(run_dir: str | Path) -> dict[str, Any] | None:
    """A run's layer statistics (None when the run has none); LayerStatsError when the file is unreadable or malformed."""
    path = Path(run_dir) / STATS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LayerStatsError(f"{path.name} could not be read: {err}") from err
    if not (
        isinstance(data, dict)
        and isinstance(data.get("layers"), dict)
        and isinstance(data.get("fields"), list)
        and isinstance(data.get("epochs"), list)
        and all(isinstance(e, dict) for e in data["epochs"])
    ):
        raise LayerStatsError(f"{path.name} is not a layer statistics file (it needs layers, fields and epochs)")
    data.setdefault("flags", [])
    return data


class LayerStatsView(QWidget):
    """The per-layer table of one run: pick the figure; a flagged layer's cells from its first flagged epoch are tinted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerStats")
        self.title = QLabel()
        self.title.setObjectName("layerStatsTitle")
        self.figure = QComboBox()
        self.figure.setObjectName("layerStatsFigure")
        for key, label in FIGURES:
            self.figure.addItem(label, key)
        self.figure.setToolTip("The figure shown per layer and epoch (the mean over the epoch's probes)")
        self.figure.currentIndexChanged.connect(self._fill)
        self.note = QLabel()
        self.note.setObjectName("layerStatsNote")
        self.note.setWordWrap(True)
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.table = QTableWidget()
        self.table.setObjectName("layerStatsTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.figure)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        self.stats: dict[str, Any] | None = None
        self.run_dir: Path | None = None
        self.order: list[str] = []
        self.show_run(None)

    def show_run(self, run_dir: str | Path | None, label: str = "", order: list[str] | None = None) -> None:
        """Show a run's statistics (None: no run chosen), rows in the network's flow `order` of top-level node ids where given."""
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.order = list(order or [])
        self.stats = None
        self.title.setText(f"Per-layer statistics · run {label}" if label and run_dir is not None else "Per-layer statistics")
        if run_dir is None:
            self._empty("Select a run in the Curves tab's list, or train one, to see what each layer did.")
            return
        try:
            self.stats = read_layer_stats(run_dir)
        except LayerStatsError as err:
            self._empty(f"This run's per-layer statistics cannot be shown: {err}.")
            return
        if self.stats is None:
            self._empty("This run has no per-layer statistics: it was trained before Layer Studio kept them. Train again to see them.")
            return
        self._fill()

    def follow(self, event: dict[str, Any], order: list[str] | None = None) -> None:
        """The run in progress: its `start` shows an empty table of its layers, each `layer_epoch` adds a column."""
        if event.get("kind") == "start" and isinstance(event.get("layers"), dict):
            self.run_dir = None
            self.order = list(order or [])
            self.stats = {"layers": dict(event["layers"]), "fields": list(LIVE_FIELDS), "epochs": [], "flags": []}
            self.title.setText("Per-layer statistics · this run, epoch by epoch")
            self._fill()
        elif event.get("kind") == "layer_epoch" and self.run_dir is None and self.stats is not None:
            self.stats["epochs"].append(dict(event.get("layers") or {}))
            self.stats["flags"] += [f for f in event.get("flags") or [] if isinstance(f, dict)]
            self._fill()

    def _empty(self, text: str) -> None:
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.table.hide()
        self.note.setText(text)

    def _fill(self) -> None:
        stats = self.stats
        if stats is None:
            return
        key = self.figure.currentData()
        fields = [str(f) for f in stats["fields"]]
        if key not in fields:
            self._empty(f"This run's statistics have no {key!r} figure (they hold {', '.join(fields)}).")
            return
        column = fields.index(key)
        epochs = stats["epochs"]
        rank = {node_id: i for i, node_id in enumerate(self.order)}
        layers = sorted(stats["layers"].items(), key=lambda item: rank.get(item[0].split(".", 1)[0], len(rank)))
        flags: dict[str, list[tuple[int, str]]] = {}
        for flag in stats["flags"]:
            if isinstance(flag, dict) and flag.get("layer") in stats["layers"]:
                flags.setdefault(flag["layer"], []).append((int(flag.get("epoch") or 0), str(flag.get("kind"))))
        self.table.show()
        self.table.clear()
        self.table.setColumnCount(len(epochs) + 2)
        self.table.setHorizontalHeaderLabels(["Layer", *(f"Epoch {i + 1}" for i in range(len(epochs))), "Flags"])
        self.table.setRowCount(len(layers))
        tint = QColor(current_theme().warning)
        tint.setAlpha(60)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, (layer, path) in enumerate(layers):
            name = QTableWidgetItem(" › ".join(str(path).split(".")))
            name.setToolTip(f"{path} (layer {layer})")
            self.table.setItem(row, 0, name)
            mine = flags.get(layer, [])
            since = min((e for e, kind in mine if _FLAG_FIGURE.get(kind) == key), default=None)
            for i, summary in enumerate(epochs):
                values = summary.get(layer)
                value = values[column] if isinstance(values, list) and len(values) > column else None
                item = QTableWidgetItem(_cell(value, key))
                item.setTextAlignment(right)
                if since is not None and i + 1 >= since:
                    item.setBackground(tint)
                self.table.setItem(row, i + 1, item)
            text = ", ".join(f"{kind} since epoch {epoch}" for epoch, kind in sorted(mine))
            flagged = QTableWidgetItem(text)
            if text:
                flagged.setForeground(current_theme().warning)
            self.table.setItem(row, len(epochs) + 1, flagged)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        count = len(stats["flags"])
        self.note.setText(
            f"{len(layers)} layers over {len(epochs)} epoch{'s' if len(epochs) != 1 else ''}; "
            + (f"{count} problem{'s' if count != 1 else ''} flagged (tinted from the epoch it began)." if count else "no layer was flagged.")
            + " Layers without weights have no gradient norm; functional layers (Add, Concat) are not measured."
        )


def _cell(value: Any, key: str) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    if key == "zeros":
        return f"{value:.1%}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.2e}"
