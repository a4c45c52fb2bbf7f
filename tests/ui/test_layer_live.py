"""The network shows what it learns: a run's layer events on the canvas cards, its flags in Problems, its statistics afterwards."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage, QPainter

from studio.codegen.pytorch import module_names
from studio.graph.project import load_project, project_to_dict
from studio.train import layer_stats
from studio.train.engine import NoControl, run_training
from studio.train.request import TrainRequest
from studio.ui import layer_live, open_main_window
from studio.ui.canvas.scene import GraphScene
from studio.ui.files import Unsaved
from studio.ui.layer_live import LiveLayerStats
from studio.ui.problems import ProblemsView
from studio.ui.theme import DARK, LIGHT, use_theme
from studio.ui.train_layers import LayerStatsView
from tests.ui.helpers import EXAMPLES


def live(qtbot, document) -> tuple[LiveLayerStats, GraphScene, ProblemsView]:
    scene = GraphScene(document)
    problems = ProblemsView(document)
    qtbot.addWidget(problems)
    return LiveLayerStats(document, scene, problems), scene, problems


def start(stats: LiveLayerStats) -> dict[str, str]:
    layers = module_names(stats.document.project)
    stats.handle_event({"kind": "start", "layers": layers})
    return layers


def figures(layers: dict[str, str], seed: float) -> dict[str, list[float | None]]:
    """Distinct made-up figures per layer: [mean, std, zeros, grad]."""
    return {layer: [seed + i, 1.0 + i, 0.1, 0.5 + i] for i, layer in enumerate(layers)}


def test_a_probe_reaches_each_layers_card_and_an_instance_sums_up_its_layers(qtbot, resnet) -> None:
    stats, scene, _ = live(qtbot, resnet)
    layers = start(stats)
    instance = next(n for n in resnet.network.nodes.values() if n.block is not None)
    inner = [layer for layer in layers if layer.startswith(instance.id + ".")]
    assert len(inner) > 2  # a residual block: convolutions, norms, activations
    sent = {layer: [0.1 * i, 1.0 + i, 0.25 * (i % 3), 0.5 + i] for i, layer in enumerate(inner)}
    sent[inner[-1]][3] = None  # its last layer (an activation) has no weights
    stats.handle_event({"kind": "layers", "epoch": 1, "layers": sent})
    stats.flush()
    shown = scene.nodes[instance.id].figures
    assert shown is not None and shown.layers == len(inner)
    assert shown.grad == pytest.approx(math.sqrt(sum(f[3] ** 2 for f in sent.values() if f[3] is not None)))
    assert [shown.mean, shown.std, shown.zeros] == sent[inner[-1]][:3]  # the last inner layer's activations
    assert shown.history == (shown.grad,) and not shown.stale
    others = [item for node_id, item in scene.nodes.items() if node_id != instance.id]
    assert others and all(item.figures is None for item in others)
    assert "gradient norm combined" in scene.nodes[instance.id].tooltip()


def test_the_cards_repaint_at_most_once_a_flush_and_only_those_that_changed(qtbot, document) -> None:
    stats, scene, _ = live(qtbot, document)
    layers = start(stats)
    conv, relu = "n2", "n3"
    for k in range(40):  # a burst far faster than the eye: one repaint of each card per flush
        stats.handle_event({"kind": "layers", "epoch": 1, "layers": {conv: [0.0, 1.0, 0.0, 1.0 + k], relu: [0.3, 0.5, 0.5, None]}})
    assert stats.pushes == 0 and scene.nodes[conv].figures is None  # nothing drawn before the timer
    qtbot.waitUntil(lambda: stats.pushes > 0, timeout=2000)
    assert stats.pushes == 2 and scene.nodes[conv].figures.history[-1] == 40.0
    assert len(scene.nodes[conv].figures.history) == min(40, 48) and scene.nodes[relu].figures.history_kind == "spread"
    assert all(scene.nodes[n].figures is None for n in layers if n not in (conv, relu))
    qtbot.wait(layer_live.FLUSH_INTERVAL_MS * 2)
    assert stats.pushes == 2  # no new figures: no repaint


def test_flags_are_listed_with_their_epoch_pinned_to_the_card_and_go_with_a_new_run(qtbot, document) -> None:
    stats, scene, problems = live(qtbot, document)
    layers = start(stats)
    relu = next(n for n in layers if document.network.node(n).type == "ReLU")
    summary = figures(layers, 0.0)
    summary[relu] = [0.0, 0.0, 0.995, None]
    stats.handle_event({"kind": "layer_epoch", "epoch": 3, "layers": summary, "flags": [{"layer": relu, "kind": "dead", "epoch": 3}]})
    (row,) = problems.problems()
    name = document.network.node(relu).name
    assert row.node_id == relu and row.layer == name and row.severity == "warning"
    assert row.message == "99% of its outputs are zero since epoch 3 — the layer is dead"
    assert "LeakyReLU" in row.hint
    problems._show_problem(problems.model.index(0, 0))
    assert document.selected_ids == [relu]
    stats.flush()
    assert scene.nodes[relu].figures.flags == ("dead",)
    start(stats)
    assert problems.problems() == [] and stats.run.flags == []


def test_an_inner_layers_flag_names_its_path_and_opens_its_block(qtbot, resnet) -> None:
    stats, _, problems = live(qtbot, resnet)
    layers = start(stats)
    layer = next(n for n in layers if n.count(".") == 2 and resnet.network.node(n.split(".")[0]).block is not None)
    stats.handle_event({"kind": "layer_epoch", "epoch": 2, "layers": {layer: [0.0, 1.0, 0.0, 3e-9]}, "flags": [{"layer": layer, "kind": "vanishing", "epoch": 2}]})
    (row,) = problems.problems()
    assert row.layer == layers[layer].replace(".", " › ") and row.message == "Its gradient norm is 3e-09 since epoch 2 — its gradient vanishes"
    problems._show_problem(problems.model.index(0, 0))
    assert resnet.levels and resnet.selected_ids == [layer.split(".")[-1]]
    problems._show_problem(problems.model.index(0, 0))  # from inside the block: back through the network
    assert len(resnet.levels) == 1 and resnet.selected_ids == [layer.split(".")[-1]]


def test_after_the_run_the_figures_stay_dimmed_until_the_network_changes(qtbot, document) -> None:
    stats, scene, _ = live(qtbot, document)
    layers = start(stats)
    stats.handle_event({"kind": "layers", "epoch": 1, "layers": figures(layers, 0.0)})
    stats.handle_event({"kind": "done"})
    assert all(scene.nodes[n].figures.stale for n in layers)
    assert "Last run" in scene.nodes["n2"].tooltip()
    document.move_nodes({"n2": (400.0, 40.0)})
    node = document.network.node("n2")
    document.rename(node.id, "first_conv")  # a rename is no change of what the figures describe
    assert scene.nodes["n2"].figures is not None
    document.set_param("n2", "out_channels", 12)
    assert all(item.figures is None for item in scene.nodes.values())
    stats.handle_event({"kind": "layers", "epoch": 1, "layers": figures(layers, 0.0)})  # the old run's late events
    stats.flush()
    assert all(item.figures is None for item in scene.nodes.values())


def test_the_figures_paint_in_both_themes(qtbot, document) -> None:
    stats, scene, _ = live(qtbot, document)
    layers = start(stats)
    for k in range(6):
        stats.handle_event({"kind": "layers", "epoch": 1, "layers": figures(layers, float(k))})
    item = scene.nodes["n3"]
    for theme in (LIGHT, DARK):
        use_theme(theme)
        try:
            before, far = _render(item), _render(item, 0.3)
            stats.flush()
            stats.run.dirty.add("n3")
            stats.flush()
            assert _render(item) != before and _render(item, 0.3) != far  # zoomed far out too: the zeros band
            item.set_figures(None)
        finally:
            use_theme(None)


def _render(item, scale: float = 1.0) -> bytes:
    image = QImage(int(item.width) + 20, int(item.height) + 20, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.translate(QPoint(10, 10))
    painter.scale(scale, scale)
    item.paint(painter, _Option(), None)
    painter.end()
    return bytes(image.constBits())


class _Option:
    """paint() reads nothing from its option but the level of detail, which comes from the painter."""


def test_a_real_run_reaches_the_cards_through_the_window_and_its_table_afterwards(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layer_stats, "PROBE_INTERVAL", 0.0)
    project = load_project(EXAMPLES / "digits_cnn.lstudio")
    events: list[dict[str, Any]] = []
    done = run_training(TrainRequest(project_to_dict(project), None, {"epochs": 1}, str(tmp_path)), events.append, NoControl())
    assert done["kind"] == "done"
    window = open_main_window(EXAMPLES / "digits_cnn.lstudio")
    qtbot.addWidget(window)
    panel = window.training
    panel._runs_root = tmp_path
    panel._worker_factory = lambda _request: Replay(events)
    assert panel.train()
    panel._poll()  # the events as the worker hands them over, the final one included
    cards = window.canvas.graph_scene.nodes
    conv = cards["n2"].figures
    assert conv is not None and conv.stale and conv.grad == [e for e in events if e["kind"] == "layers"][-1]["layers"]["n2"][3]
    assert cards["n1"].figures is None  # the Input: no module, no figures
    kept: dict[str, Any] = json.loads((Path(done["run_dir"]) / "layer_stats.json").read_text())
    view = panel.layer_stats
    table = view.table
    assert view.run_dir == Path(done["run_dir"])  # the finished run, listed first
    assert table.rowCount() == len(kept["layers"]) and table.columnCount() == len(kept["epochs"]) + 2
    assert [table.item(r, 0).text() for r in range(3)] == ["conv1", "relu1", "conv2"]  # in the order data flows
    assert table.item(0, 1).text() == f"{kept['epochs'][0]['n2'][3]:.3g}"  # gradient norm first
    view.figure.setCurrentIndex(3)  # zeros
    assert table.item(1, 1).text() == f"{kept['epochs'][0]['n3'][2]:.1%}"
    (Path(done["run_dir"]) / "layer_stats.json").unlink()
    view.show_run(done["run_dir"], "an older run")
    assert table.isHidden() and "no per-layer statistics" in view.note.text()
    window.files.ask_unsaved = lambda: Unsaved.DISCARD
    window.files.close()


class Replay:
    """A worker that hands over a finished run's events at the first poll."""

    pid = None

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events, self.running = list(events), True

    def start(self) -> None:
        pass

    def poll(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        out, self.events, self.running = self.events, [], False
        return out

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_flagged_layer_is_tinted_from_its_epoch_and_a_broken_file_is_named(qtbot, tmp_path: Path) -> None:
    stats = {"layers": {"n2": "conv1", "n3": "relu1"}, "fields": ["mean", "std", "zeros", "grad"],
             "epochs": [{"n2": [0, 1, 0, 0.5], "n3": [0.2, 0.3, 0.5, None]}, {"n2": [0, 1, 0, 0.4], "n3": [0, 0, 1.0, None]}],
             "flags": [{"layer": "n3", "kind": "dead", "epoch": 2}]}  # fmt: skip
    (tmp_path / "layer_stats.json").write_text(json.dumps(stats))
    view = LayerStatsView()
    qtbot.addWidget(view)
    view.show_run(tmp_path)
    view.figure.setCurrentIndex(3)
    assert view.table.item(1, 3).text() == "dead since epoch 2"
    assert view.table.item(1, 1).background().style() == Qt.BrushStyle.NoBrush != view.table.item(1, 2).background().style()
    (tmp_path / "layer_stats.json").write_text("{not json")
    view.show_run(tmp_path)
    assert view.table.isHidden() and "layer_stats.json could not be read" in view.note.text()


def test_during_a_run_the_table_grows_an_epoch_at_a_time(qtbot) -> None:
    view = LayerStatsView()
    qtbot.addWidget(view)
    view.follow({"kind": "start", "layers": {"n3": "relu1", "n2": "conv1"}}, ["n1", "n2", "n3"])
    assert view.table.rowCount() == 2 and view.table.columnCount() == 2 and view.table.item(0, 0).text() == "conv1"
    summary = {"n2": [0.0, 1.0, 0.0, 0.25], "n3": [0.0, 0.0, 1.0, None]}
    view.follow({"kind": "layer_epoch", "epoch": 1, "layers": summary, "flags": [{"layer": "n3", "kind": "dead", "epoch": 1}]})
    assert view.table.columnCount() == 3 and view.table.item(0, 1).text() == "0.25"
    assert view.table.item(1, 2).text() == "dead since epoch 1"
