"""The training panel: settings through the undo stack, live curves and progress, results, runs, a real run."""

from __future__ import annotations

import math
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.graph.project import load_project
from studio.train import runs
from studio.train.request import TrainRequest
from studio.ui import train_settings
from studio.ui.train_panel import TrainingPanel
from studio.ui.train_plots import GrowingBuffer
from studio.ui.train_run import default_runs_root
from tests.ui.helpers import EXAMPLES

DIGITS = EXAMPLES / "digits_cnn.lstudio"
ROOT = Path(__file__).resolve().parents[2]
SPE = 10  # steps per epoch in the scripted runs


class FakeWorker:
    """Stands in for TrainingWorker: hands out scripted events and records what it was asked."""

    def __init__(self, request: Any) -> None:
        # as the training process gets it
        self.request = pickle.loads(pickle.dumps(request))
        self.calls: list[str] = []
        self.events: list[dict] = []
        self.started = self.finished = False
        self.pid = None

    def feed(self, *events: dict) -> None:
        self.events.extend(events)

    def start(self) -> None:
        self.calls.append("start")
        self.started = True

    def poll(self, timeout: float = 0.0) -> list[dict]:
        out, self.events = self.events, []
        if any(e.get("kind") in ("done", "failed") for e in out):
            self.finished = True
        return out

    def stop(self) -> None:
        self.calls.append("stop")

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def close(self) -> None:
        self.calls.append("close")

    @property
    def running(self) -> bool:
        return self.started and not self.finished


@pytest.fixture(autouse=True)
def known_devices(monkeypatch):
    """No device check in a child process: say this computer has a CPU only."""
    monkeypatch.setattr(train_settings, "_devices", {"cuda": None, "mps": False})


@pytest.fixture
def workers():
    return []


@pytest.fixture
def panel(qtbot, document, tmp_path, workers):
    def factory(request):
        worker = FakeWorker(request)
        workers.append(worker)
        return worker

    widget = TrainingPanel(
        document, worker_factory=factory, runs_root=tmp_path / "runs"
    )
    qtbot.addWidget(widget)
    widget.resize(1300, 360)
    widget.ensure_views()
    yield widget
    widget.shutdown()


def _start(classes=("0", "1"), epochs=3, task="classification", run_dir="") -> dict:
    return {
        "kind": "start",
        "run_dir": run_dir,
        "device": "cpu",
        "train_samples": 600,
        "val_samples": 60,
        "batch_size": 64,
        "epochs": epochs,
        "first_epoch": 1,
        "steps_per_epoch": SPE,
        "classes": list(classes),
        "task": task,
    }


def _step(global_step: int, loss: float = 1.0) -> dict:
    epoch, step = divmod(global_step - 1, SPE)
    return {
        "kind": "step",
        "epoch": epoch + 1,
        "step": step + 1,
        "global_step": global_step,
        "loss": loss,
        "lr": 0.001,
        "samples_per_s": 1234.0,
    }


def _epoch(epoch: int, val_loss: float = 0.5, val_accuracy: float | None = 0.8) -> dict:
    return {
        "kind": "epoch",
        "epoch": epoch,
        "train_loss": 0.6,
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
        "samples_per_s": 1000.0,
        "seconds": 1.0,
        "train_samples": 600,
        "val_samples": 60,
        "batch_size": 64,
        "lr": 0.001,
        "eta_seconds": 2.0,
    }


def _deliver(qtbot, panel: TrainingPanel, worker: FakeWorker, *events: dict) -> None:
    """Hand events to the worker and let the panel's timer take them."""
    worker.feed(*events)
    qtbot.waitUntil(lambda: not worker.events, timeout=5000)


# ----- curves and progress -----
def test_growing_buffer_doubles_and_keeps_its_points():
    buffer = GrowingBuffer(4)
    for i in range(9):
        buffer.append(i, 10 * i)
    x, y = buffer.view()
    assert buffer.capacity == 16 and buffer.size == 9
    assert list(x) == list(range(9)) and y[-1] == 80


def test_train_sends_the_project_and_starts_the_worker(
    panel, workers, document, tmp_path
):
    assert panel.train()
    (worker,) = workers
    assert worker.calls == ["start"]
    assert worker.request.project["name"] == document.project.name
    assert worker.request.project_path == str(document.path)
    assert worker.request.runs_root == str(tmp_path / "runs")
    assert panel.running and not panel.train_button.isEnabled()
    assert panel.pause_button.isEnabled() and panel.stop_button.isEnabled()
    assert not panel.train()  # one run at a time
    assert len(workers) == 1


def test_the_request_carries_the_project(panel, workers):
    assert panel.train()
    request = workers[0].request
    assert isinstance(request, TrainRequest) and request.overrides == {}
    assert request.project["name"] == panel.document.project.name


def test_curves_and_progress_follow_the_events(qtbot, panel, workers):
    panel.train()
    worker = workers[0]
    _deliver(
        qtbot,
        panel,
        worker,
        _start(),
        *[_step(s, loss=2.0 / s) for s in range(1, SPE + 1)],
        _epoch(1),
        *[_step(s, loss=2.0 / s) for s in range(SPE + 1, 16)],
    )
    qtbot.waitUntil(lambda: panel.curves.drawn_count("step_loss") == 15)
    curves = panel.curves
    assert curves.point_count("smoothed_loss") == 15
    assert curves.point_count("lr") == 15
    assert (
        curves.point_count("val_loss") == 1 and curves.point_count("val_accuracy") == 1
    )
    assert curves.drawn_count("val_accuracy") == 1
    assert panel.progress.maximum() == 3 * SPE
    qtbot.waitUntil(lambda: panel.progress.value() == 15)
    x, _y = curves.series["val_loss"].buffer.view()
    assert list(x) == [1.0]  # at the end of epoch 1, where its steps end
    _deliver(qtbot, panel, worker, *[_step(s) for s in range(16, 300)])
    qtbot.waitUntil(lambda: curves.drawn_count("step_loss") == 299)
    assert curves.series["step_loss"].buffer.capacity >= 299
    # clamped, never past the end
    qtbot.waitUntil(lambda: panel.progress.value() == panel.progress.maximum())
    assert "samples/s" in panel.status.text()


def test_the_smoothed_loss_lies_between_the_first_and_the_newest_loss(
    qtbot, panel, workers
):
    panel.train()
    _deliver(
        qtbot, panel, workers[0], _start(), _step(1, 4.0), _step(2, 2.0), _step(6, 1.0)
    )
    qtbot.waitUntil(lambda: panel.curves.drawn_count("smoothed_loss") == 3)
    _x, smoothed = panel.curves.series["smoothed_loss"].buffer.view()
    assert smoothed[0] == 4.0 and 1.0 < smoothed[-1] < smoothed[1] < 4.0


def test_pause_resume_and_stop_go_to_the_worker(qtbot, panel, workers):
    panel.train()
    worker = workers[0]
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert worker.calls[-1] == "pause" and panel.paused
    assert panel.pause_button.text() == "Resume"
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert worker.calls[-1] == "resume" and not panel.paused
    assert panel.pause_button.text() == "Pause"
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert worker.calls[-1] == "stop"
    assert not panel.stop_button.isEnabled() and not panel.pause_button.isEnabled()
    done = {
        "kind": "done",
        "run_dir": "",
        "epochs_run": 0,
        "stopped_by_user": True,
        "stopped_early": False,
    }
    with qtbot.waitSignal(panel.run_finished, timeout=5000):
        worker.feed(_start(), done)
    assert not panel.running and panel.train_button.isEnabled()
    assert panel.status.text().startswith("Stopped")


def test_a_failed_run_shows_its_message_and_the_editor_goes_on(qtbot, panel, workers):
    panel.train()
    message = (
        "the loss became nan at epoch 2, step 7: lower the learning rate (try 0.0001)"
    )
    with qtbot.waitSignal(panel.running_changed, timeout=5000) as blocker:
        workers[0].feed(
            _start(),
            _step(1),
            {"kind": "failed", "message": message, "epoch": 2, "step": 7},
        )
    assert blocker.args == [False]
    assert message in panel.banner.text and panel.banner.kind == "error"
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert panel.train()  # a new run can start


def test_a_worker_that_ends_without_a_word_is_a_failure(qtbot, panel, workers):
    panel.train()
    workers[0].finished = True
    qtbot.waitUntil(lambda: not panel.running, timeout=5000)
    assert "without reporting a result" in panel.banner.text


def test_graph_errors_keep_training_from_starting(panel, workers, document):
    edge = (
        document.graph.edges[0]
        if isinstance(document.graph.edges, list)
        else next(iter(document.graph.edges))
    )
    document.disconnect(edge)
    errors = document.analysis.summary().errors
    assert errors > 0
    assert not panel.train()
    assert workers == []
    assert "Fix the" in panel.banner.text and "first" in panel.banner.text


# ----- results -----
def test_evaluation_shows_the_confusion_matrix_and_predictions(qtbot, panel, workers):
    panel.train()
    image = np.arange(64, dtype=np.float32).reshape(1, 8, 8).tolist()
    evaluation = {
        "kind": "evaluation",
        "confusion": [[5, 1], [0, 4]],
        "samples": [
            {"x": image, "label": 0, "predicted": 0},
            {"x": image, "label": 0, "predicted": 1},
            {"x": None, "label": 1, "predicted": 1},  # an input too large to send
            {"x": [0.5, -1.25], "label": 1, "predicted": 1},  # not an image
        ],
    }
    done = {
        "kind": "done",
        "run_dir": "",
        "epochs_run": 1,
        "best_val_accuracy": 0.9,
        "stopped_by_user": False,
    }
    with qtbot.waitSignal(panel.run_finished, timeout=5000):
        workers[0].feed(_start(classes=("cat", "dog")), evaluation, done)
    matrix = panel.results.matrix
    assert matrix.counts.tolist() == [[5, 1], [0, 4]]
    assert matrix.classes == ["cat", "dog"]
    items = panel.results.predictions.items
    assert [i.wrong for i in items] == [False, True, False, False]
    assert items[1].caption == "cat → dog" and items[0].image is not None
    assert items[2].image is None and items[3].values == "0.5, -1.25"
    assert "90.0% correct (9 of 10)" in panel.results.headline.text()
    assert "90.0%" in panel.status.text()


def test_a_finished_run_stores_its_weights_with_the_project(
    qtbot, panel, workers, document, tmp_path
):
    document.path = tmp_path / "digits.lstudio"
    run_dir = tmp_path / "runs" / "digits_cnn" / "20260101-120000"
    run_dir.mkdir(parents=True)
    (run_dir / "best.pt").write_bytes(b"weights")
    panel.train()
    done = {
        "kind": "done",
        "run_dir": str(run_dir),
        "epochs_run": 2,
        "best_val_accuracy": 0.5,
        "stopped_by_user": False,
    }
    with qtbot.waitSignal(panel.run_finished, timeout=5000):
        workers[0].feed(_start(run_dir=str(run_dir)), done)
    assert (
        document.project.training.weights == "runs/digits_cnn/20260101-120000/best.pt"
    )
    assert "Weights saved with the project" in panel.banner.text
    assert (
        panel.settings.weights_label.text() == "runs/digits_cnn/20260101-120000/best.pt"
    )
    document.undo_stack.undo()
    assert document.project.training.weights == ""


def _stopped_run(qtbot, panel, workers, tmp_path, previous: str, answer: bool) -> list[int]:
    """Train, stop after 2 epochs with `previous` as the project's weights and `answer` to the question; the epochs asked about."""
    panel.document.set_training("weights", previous)
    run_dir = tmp_path / "runs" / "digits_cnn" / "stopped"
    run_dir.mkdir(parents=True)
    (run_dir / "best.pt").write_bytes(b"weights")
    asked: list[int] = []
    panel.ask_replace_weights = lambda epochs, weights: asked.append(epochs) or answer
    panel.train()
    done = {"kind": "done", "run_dir": str(run_dir), "epochs_run": 2, "stopped_by_user": True}
    with qtbot.waitSignal(panel.run_finished, timeout=5000):
        workers[0].feed(_start(run_dir=str(run_dir)), done)
    return asked


def test_a_stopped_run_keeps_the_projects_weights_unless_the_user_says_otherwise(qtbot, panel, workers, document, tmp_path):
    document.path = tmp_path / "digits.lstudio"
    asked = _stopped_run(qtbot, panel, workers, tmp_path, "finished.pt", answer=False)
    assert asked == [2] and document.project.training.weights == "finished.pt"
    assert "keeps its previous weights" in panel.banner.text


def test_a_stopped_run_replaces_the_weights_when_the_user_chooses_it(qtbot, panel, workers, document, tmp_path):
    document.path = tmp_path / "digits.lstudio"
    asked = _stopped_run(qtbot, panel, workers, tmp_path, "finished.pt", answer=True)
    assert asked == [2] and document.project.training.weights == "runs/digits_cnn/stopped/best.pt"
    assert "Weights of the stopped run saved with the project" in panel.banner.text


def test_a_stopped_run_gives_a_project_without_weights_its_own_unasked(qtbot, panel, workers, document, tmp_path):
    document.path = tmp_path / "digits.lstudio"
    asked = _stopped_run(qtbot, panel, workers, tmp_path, "", answer=False)
    assert asked == [] and document.project.training.weights == "runs/digits_cnn/stopped/best.pt"


def test_the_question_keeps_the_previous_weights_by_default(qtbot, panel, tmp_path):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen = []

    def press_enter() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, press_enter)
            return
        seen.append((box.windowTitle(), box.defaultButton().text()))
        qtbot.keyClick(box, Qt.Key.Key_Return)

    QTimer.singleShot(20, press_enter)
    assert panel.ask_replace_weights(2, tmp_path / "best.pt") is False
    assert seen == [("Use the stopped run's weights?", "Keep previous weights")]


def test_weights_of_an_unsaved_project_are_stored_as_an_absolute_path(
    panel, document, tmp_path
):
    document.path = None
    weights = tmp_path / "best.pt"
    assert panel.weights_text(weights) == str(weights.resolve())


def test_runs_go_next_to_a_saved_project_else_to_the_editor_folder(
    tmp_path, private_home
):
    assert default_runs_root(tmp_path / "a.lstudio") == tmp_path / "runs"
    assert default_runs_root(None) == private_home / "runs"


# ----- settings -----
def test_settings_edit_the_project_through_the_undo_stack(qtbot, panel, document):
    epochs = panel.settings.editors["epochs"]
    epochs.spin_box.setValue(3)
    assert document.project.training.epochs == 3
    optimizer = panel.settings.editors["optimizer"]
    optimizer.combo_box.setCurrentText("sgd")
    assert document.project.training.optimizer == "sgd"
    document.undo_stack.undo()
    assert document.project.training.optimizer == "adam"
    assert optimizer.combo_box.currentText() == "adam"
    document.undo_stack.undo()
    assert epochs.spin_box.value() == 20
    document.undo_stack.redo()
    assert epochs.spin_box.value() == 3


def test_typed_settings_apply_on_enter_and_bad_ones_say_why(qtbot, panel, document):
    panel.show()
    edit = panel.settings.editors["learning_rate"].line_edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "3e-4")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.project.training.learning_rate == 0.0003
    edit.selectAll()
    qtbot.keyClicks(edit, "fast")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert document.project.training.learning_rate == 0.0003
    assert "learning_rate" in panel.settings.problem_text("learning_rate")


def test_the_dataset_field_takes_built_in_names_and_typed_paths(qtbot, panel, document):
    box = panel.settings.dataset_box
    names = [box.itemText(i) for i in range(box.count())]
    assert (
        names[:3] == ["digits", "spirals", "moons"]
        and names[-1] == "Browse for a folder…"
    )
    box.activated.emit(names.index("moons"))
    assert document.project.training.dataset == "moons"
    box.lineEdit().setText("data/train.csv")
    box.lineEdit().editingFinished.emit()
    assert document.project.training.dataset == "data/train.csv"
    box.lineEdit().setText("   ")
    box.lineEdit().editingFinished.emit()
    assert document.project.training.dataset == "data/train.csv"
    assert "dataset" in panel.settings.problem_text("dataset")
    document.undo_stack.undo()  # edits of one setting in a row merge into one step
    assert box.currentText() == "digits"


def test_a_browsed_dataset_is_stored_relative_to_the_project(
    panel, document, tmp_path, monkeypatch
):
    document.path = tmp_path / "p.lstudio"
    (tmp_path / "data").mkdir()
    chosen = tmp_path / "data" / "set.npz"
    from studio.ui import train_settings as module

    monkeypatch.setattr(
        module.QFileDialog, "getOpenFileName", lambda *a, **k: (str(chosen), "")
    )
    panel.settings.browse_dataset()
    assert document.project.training.dataset == "data/set.npz"
    assert (
        panel.settings.dataset_path_text(Path("/elsewhere/x.csv")) == "/elsewhere/x.csv"
    )


def test_more_settings_fold_out_and_follow_a_new_project(qtbot, panel, document):
    panel.show()
    assert panel.settings.more.isHidden()
    panel.settings.more_button.click()
    assert not panel.settings.more.isHidden()
    panel.settings.editors["augment"].check_box.click()
    assert document.project.training.augment is True
    panel.settings.editors["init"].combo_box.setCurrentText("weights")  # fine-tune from the project's weights
    assert document.project.training.init == "weights"
    project = load_project(DIGITS)
    document.load(project, DIGITS)
    assert panel.settings.editors["augment"].check_box.isChecked() is False


def test_the_device_choices_say_what_this_computer_has(panel):
    box = panel.settings.editors["device"].combo_box
    texts = [box.itemText(i) for i in range(box.count())]
    assert texts == [
        "auto (CPU)",
        "cpu",
        "cuda (not available here)",
        "mps (not available here)",
    ]
    box.setCurrentIndex(1)
    assert panel.document.project.training.device == "cpu"


def test_the_seed_takes_values_past_32_bits(panel, document):
    editor = panel.settings.editors["seed"]
    editor.line_edit.setText(str(2**32 - 1))
    editor.line_edit.editingFinished.emit()
    assert document.project.training.seed == 2**32 - 1


# ----- dataset preview and runs -----
@pytest.mark.parametrize(
    ("dataset", "mode"),
    [("digits", "grid"), ("moons", "scatter"), ("sequence", "table")],
)
def test_the_dataset_preview_suits_the_data(qtbot, panel, document, dataset, mode):
    document.set_training("dataset", dataset)
    with qtbot.waitSignal(panel.preview.loaded, timeout=10000):
        panel.tabs.setCurrentWidget(panel.preview)
    assert panel.preview.mode == mode and not panel.preview.error
    if mode == "grid":
        captions = {item.caption for item in panel.preview.grid.items}
        assert (
            captions <= {str(d) for d in range(10)}
            and len(panel.preview.grid.items) == 60
        )


def test_the_dataset_preview_shows_why_data_cannot_be_read(qtbot, panel, document):
    document.set_training("dataset", "no/such/file.csv")
    with qtbot.waitSignal(panel.preview.loaded, timeout=10000):
        panel.tabs.setCurrentWidget(panel.preview)
    assert "file.csv" in panel.preview.error
    assert panel.preview.summary.text() == panel.preview.error


def test_the_dataset_tab_says_what_the_network_is_fed(qtbot, panel, document):
    document.set_training("dataset", "digits")
    with qtbot.waitSignal(panel.preview.loaded, timeout=10000):
        panel.tabs.setCurrentWidget(panel.preview)
    assert "1,797 samples of 1×8×8" in panel.preview.summary.text()
    assert "fed as" not in panel.preview.summary.text()  # the digits CNN takes the samples as they are
    source = panel.preview.summary.text()
    network_input = document.network.node_by_name("image")
    document.set_param(network_input.id, "shape", [3, 32, 32])
    assert "1,797 samples of 1×8×8, 10 classes, fed as 3×32×32 (resized, channels repeated)" in panel.preview.summary.text()
    document.set_param(network_input.id, "shape", [1, 8, 8])
    assert panel.preview.summary.text() == source


def test_describe_feeding_matches_what_fit_to_input_makes():
    from studio.train.dataset_record import Dataset
    from studio.train.datasets import describe_feeding, fit_to_input

    cases = [((1, 8, 8), [3, 32, 32]), ((3, 16, 16), [1, 16, 16]), ((4, 8, 8), [3, 4, 4]), ((8, 8, 3), [3, 8, 8]), ((64,), [1, 8, 8]), ((64,), [3, 32, 32])]
    for have, wanted in cases:
        dataset = Dataset(name="d", x=np.zeros((2, *have), np.float32), y=np.zeros(2, np.int64), task="classification", classes=("a", "b"))
        fed = fit_to_input(dataset, [None, *wanted])
        text = describe_feeding(have, [None, *wanted])
        assert text.startswith(f"fed as {'×'.join(map(str, wanted))}") == (fed.sample_shape == tuple(wanted)), (have, text)
    assert describe_feeding((1, 8, 8), [None, 3, 32, 32]) == "fed as 3×32×32 (resized, channels repeated)"
    assert describe_feeding((3, 16, 16), [1, 16, 16]) == "fed as 1×16×16 (converted to grey)"
    assert describe_feeding((8, 8, 3), [3, 8, 8]) == "fed as 3×8×8 (channels last to first)"
    assert describe_feeding((64,), [3, 32, 32]) == "the Input takes 3×32×32: these samples do not fit it"
    assert describe_feeding((1, 8, 8), [1, 8, 8]) == ""


def _fake_run(root: Path, name: str, accuracy: float) -> Path:
    run_dir = root / "digits_cnn" / name
    run_dir.mkdir(parents=True)
    config = {
        "started": f"2026-01-0{name[-1]}T10:00:00",
        "dataset": {"name": "digits"},
        "outcome": {
            "status": "finished",
            "epochs_run": 2,
            "best_val_accuracy": accuracy,
            "best_val_loss": 0.3,
        },
    }
    (run_dir / runs.CONFIG).write_bytes(runs.json_bytes(config))
    rows = [
        {"epoch": e, "val_loss": 1.0 / e, "val_accuracy": accuracy * e / 2}
        for e in (1, 2)
    ]
    (run_dir / runs.METRICS).write_bytes(runs.metrics_csv(rows))
    return run_dir


def test_the_run_history_lists_runs_and_overlays_the_chosen_ones(panel, tmp_path):
    _fake_run(tmp_path / "runs", "20260101-1", 0.8)
    _fake_run(tmp_path / "runs", "20260102-2", 0.9)
    panel.refresh_history()
    tree = panel.history.tree
    assert tree.topLevelItemCount() == 2
    assert tree.topLevelItem(0).text(1) == "90.0%"  # the newest first
    tree.topLevelItem(0).setSelected(True)
    tree.topLevelItem(1).setSelected(True)
    assert panel.curves.overlay_count == 4  # loss and accuracy of each
    tree.clearSelection()
    assert panel.curves.overlay_count == 0


# ----- a language model's sample text -----
def _text_epoch(epoch: int, sample: str) -> dict:
    return {**_epoch(epoch, 1.8 / epoch, 0.3 * epoch), "val_perplexity": math.exp(1.8 / epoch), "sample": sample}


def test_a_language_models_sample_follows_its_epochs_and_stays_when_it_ends(qtbot, panel, workers):
    assert panel.sample.isHidden()  # classification projects have no sample
    panel.train()
    start = {**_start(classes=("a", "b"), task="language_modelling"), "prompt": "Alice "}
    _deliver(qtbot, panel, workers[0], start, _text_epoch(1, "was here\nand there"))
    assert not panel.sample.isHidden() and panel.sample.text == "Alice was here\nand there"
    assert panel.sample.title.text() == "Sample text after epoch 1"
    done = {"kind": "done", "run_dir": "", "epochs_run": 2, "best_val_accuracy": 0.6, "best_val_perplexity": 2.46}
    with qtbot.waitSignal(panel.run_finished, timeout=5000):
        workers[0].feed(_text_epoch(2, "said the Cat"), done)
    assert panel.sample.text == "Alice said the Cat" and not panel.sample.isHidden()
    assert "best validation perplexity 2.46 (60.0% of characters right)" in panel.status.text()
    assert "sample text is under its curves" in panel.results.headline.text()
    panel.train()
    _deliver(qtbot, panel, workers[1], _start())
    assert panel.sample.isHidden()  # a classifier's run


def test_a_finished_runs_sample_is_read_from_its_folder(qtbot, panel, tmp_path):
    older = _fake_run(tmp_path / "runs", "20260101-1", 0.5)
    newer = _fake_run(tmp_path / "runs", "20260102-2", 0.6)
    (older / runs.SAMPLE).write_bytes(runs.sample_text(4, "Alice ", "went on."))
    (newer / runs.SAMPLE).write_bytes(runs.sample_text(7, "Alice ", "said 'nonsense!'"))
    panel.refresh_history()  # between runs: the newest run's sample
    assert panel.sample.text == "Alice said 'nonsense!'" and not panel.sample.isHidden()
    assert panel.sample.title.text() == "Sample text of the run 01-02 10:00:00 (after epoch 7)"
    panel.history.tree.topLevelItem(1).setSelected(True)  # choosing a run shows its own
    assert panel.sample.text == "Alice went on." and "(after epoch 4)" in panel.sample.title.text()


def test_the_dataset_preview_shows_a_text_as_text(qtbot, panel, document, tmp_path):
    document.load(load_project(EXAMPLES / "gpt_tiny.lstudio"), EXAMPLES / "gpt_tiny.lstudio")
    with qtbot.waitSignal(panel.preview.loaded, timeout=10000):
        panel.tabs.setCurrentWidget(panel.preview)
    assert panel.preview.mode == "text" and not panel.preview.error
    assert panel.preview.text.toPlainText().startswith("CHAPTER I.\nDown the Rabbit-Hole\n\nAlice was beginning")
    assert "a vocabulary of 64 characters" in panel.preview.summary.text()
    story = tmp_path / "story.txt"
    story.write_text("Once upon a time. " * 10, encoding="utf-8")
    with qtbot.waitSignal(panel.preview.loaded, timeout=10000):
        document.set_training("dataset", str(story))
    assert panel.preview.mode == "text" and panel.preview.text.toPlainText().startswith("Once upon a time.")


def test_main_window_has_the_training_dock_and_a_train_action(qtbot):
    from studio.ui import open_main_window

    window = open_main_window(DIGITS)
    qtbot.addWidget(window)
    dock = window.docks["train"]
    assert dock.objectName() == "trainDock" and dock.windowTitle() == "Training"
    assert window.findChild(TrainingPanel, "trainPanel") is window.training
    assert window.act["train"].shortcut().toString() == "F5"
    assert not window.act["stop_training"].isEnabled()
    window.training.shutdown()


# ----- a real run -----
def test_a_real_run_trains_the_digits_example_and_keeps_its_weights(
    qtbot, tmp_path, undo_stack
):
    from studio.ui.document import Document

    project_file = tmp_path / "digits_cnn.lstudio"
    shutil.copy(DIGITS, project_file)
    document = Document(undo_stack)
    document.load(load_project(project_file), project_file)
    document.set_training("epochs", 1)
    document.set_training("batch_size", 128)
    panel = TrainingPanel(document)
    qtbot.addWidget(panel)
    panel.ensure_views()
    assert panel.runs_root == tmp_path / "runs"
    try:
        with qtbot.waitSignal(panel.run_finished, timeout=120_000) as blocker:
            assert panel.train()
        final = blocker.args[0]
        assert final["kind"] == "done", final
        assert panel.curves.point_count("step_loss") > 0
        assert panel.curves.point_count("val_loss") == 1
        weights = document.project.training.weights
        assert weights.endswith("weights.npz") and (tmp_path / weights).is_file()
        image = document.graph.node_by_name("image")
        assert image is not None and len(image.params["mean"]) == len(image.params["std"]) == 1
        assert 0 < image.params["std"][0] < 10  # the digits' spread (pixel values 0 to 16), kept on the Input
        document.undo_stack.undo()  # keeping the weights and the statistics is one step
        assert document.project.training.weights == "" and document.graph.node(image.id).params["mean"] == ()
        assert panel.results.matrix.counts.sum() > 0
    finally:
        panel.shutdown()


def test_shutdown_stops_a_running_worker(panel, workers):
    panel.train()
    panel.shutdown()
    assert workers[0].calls[-2:] == ["stop", "close"]
    assert not panel.running


def test_weights_of_a_run_are_not_given_to_a_project_opened_meanwhile(
    qtbot, panel, workers, document, tmp_path
):
    run_dir = tmp_path / "runs" / "digits_cnn" / "1"
    run_dir.mkdir(parents=True)
    (run_dir / "best.pt").write_bytes(b"weights")
    panel.train()
    document.load(load_project(DIGITS), DIGITS)
    done = {"kind": "done", "run_dir": str(run_dir), "epochs_run": 1}
    with qtbot.waitSignal(panel.run_finished, timeout=5000):
        workers[0].feed(_start(run_dir=str(run_dir)), done)
    assert document.project.training.weights == ""


def test_the_editor_starts_without_the_plots_or_numpy():
    code = textwrap.dedent(
        f"""
        import sys
        from studio.ui import open_main_window
        from PySide6.QtWidgets import QApplication
        window = open_main_window({str(DIGITS)!r})
        window.show()
        for _ in range(5):
            QApplication.processEvents()
        print("loaded:", sorted(m for m in ("numpy", "pyqtgraph", "torch") if m in sys.modules))
        window.docks["train"].raise_()
        for _ in range(5):
            QApplication.processEvents()
        print("shown:", window.training.findChild(object, "trainingCurves") is not None)
        window.files.close()
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout
    assert "shown: True" in result.stdout, result.stdout  # built once the panel is seen


def test_the_device_probe_waits_for_a_torch_another_thread_is_still_importing(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from studio.ui import train_settings

    half = types.ModuleType("torch")  # what sys.modules holds while the Layer Output panel's thread imports torch
    half.__spec__ = types.SimpleNamespace(_initializing=True)
    monkeypatch.setitem(sys.modules, "torch", half)
    monkeypatch.setattr(train_settings, "_devices", None)
    asked: list[bool] = []
    probe = train_settings.DeviceProbe()
    monkeypatch.setattr(probe, "_ask", lambda: asked.append(True))
    probe.start()  # reading torch.backends of the half-made module raised AttributeError here
    qtbot.waitUntil(lambda: asked == [True], timeout=5000)
