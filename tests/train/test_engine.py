"""The training engine, in process on the CPU with tiny runs: events, run folder, failures, resume."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from studio.cli import main as cli_main
from studio.codegen.export import build_torch_model, load_weights
from studio.graph.model import Graph
from studio.graph.project import (
    OPTIMIZERS,
    SCHEDULES,
    Project,
    TrainingSettings,
    load_project,
    project_to_dict,
)
from studio.train import datasets, runs
from studio.train.engine import NoControl, TrainRequest, available_devices, run_training
from studio.train.recipe import (
    augmenter,
    batch_bounds,
    class_predictor,
    step_milestones,
)

Event = dict[str, Any]
EXAMPLE = (
    Path(__file__).resolve().parents[2] / "assets" / "examples" / "digits_cnn.lstudio"
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread, and a busy machine cannot slow them down much."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----- helpers -----
def train(
    project: Project | Path, root: Path, control: Any = None, **overrides: Any
) -> list[Event]:
    """Run the trainer in process; return every event it emitted."""
    if isinstance(project, Path):
        path, project = str(project), load_project(project)
    else:
        path = None
    events: list[Event] = []
    request = TrainRequest(project_to_dict(project), path, overrides, str(root))
    final = run_training(request, events.append, control or NoControl())
    assert final == events[-1]
    json.dumps(events, allow_nan=False)  # every event is plain JSON
    return events


def of_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e["kind"] == kind]


def chain(
    name: str, *layers: tuple[str, dict[str, Any]], dataset: str, loss: str
) -> Project:
    """A project whose layers form one chain from an Input to an Output."""
    graph = Graph()
    nodes = [
        graph.add_node(kind, f"{kind.lower()}{i}", params)
        for i, (kind, params) in enumerate(layers)
    ]
    for a, b in itertools.pairwise(nodes):
        graph.connect(a.id, "out", b.id, "in")
    return Project(
        name,
        graph,
        TrainingSettings(dataset=dataset, loss=loss, batch_size=256, epochs=2),
    )


def classifier(
    classes: int = 4, dataset: str = "blobs", loss: str = "cross_entropy"
) -> Project:
    return chain(
        "tiny classifier",
        ("Input", {"shape": (2,)}),
        ("Linear", {"out_features": 16}),
        ("ReLU", {}),
        ("Linear", {"out_features": classes}),
        ("Output", {}),
        dataset=dataset,
        loss=loss,
    )


def regressor(loss: str = "mse") -> Project:
    return chain(
        "tiny regressor",
        ("Input", {"shape": (1,)}),
        ("Linear", {"out_features": 16}),
        ("Tanh", {}),
        ("Linear", {"out_features": 1}),
        ("Output", {}),
        dataset="sine",
        loss=loss,
    )


class StopAfter:
    """A control that asks to stop at its `calls`-th question."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.asked = 0

    def stop_requested(self) -> bool:
        self.asked += 1
        return self.asked >= self.calls

    def wait_while_paused(self) -> None:
        return None


class PausedThenStopped:
    """Pauses at the first chance; Stop is pressed while paused (wait returns early on stop)."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.paused_at: int | None = None
        self.stopped = False

    def stop_requested(self) -> bool:
        return self.stopped

    def wait_while_paused(self) -> None:
        if self.paused_at is None:
            self.paused_at = len(self.events)
            self.stopped = True  # Stop pressed during the pause: the wait ends


# ----- a real run, shared by several tests -----
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Event], Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    events = train(EXAMPLE, root, epochs=2)
    return events, Path(events[-1]["run_dir"])


def test_digits_cnn_learns_in_two_epochs(digits_run: tuple[list[Event], Path]) -> None:
    events, _ = digits_run
    kinds = [e["kind"] for e in events if e["kind"] not in ("step", "layers")]
    assert kinds == ["start", "epoch", "layer_epoch", "epoch", "layer_epoch", "evaluation", "done"]
    start = events[0]
    assert start["device"] == "cpu" and start["task"] == "classification"
    assert start["train_samples"] + start["val_samples"] == 1797
    assert start["classes"] == [str(i) for i in range(10)]
    first, second = of_kind(events, "epoch")
    assert second["train_loss"] < first["train_loss"]
    assert second["val_loss"] < first["val_loss"]
    assert second["val_accuracy"] > 0.5  # chance is 0.1
    steps = of_kind(events, "step")
    assert steps, "step events are emitted"
    assert all(e["loss"] > 0 and e["lr"] == pytest.approx(0.001) for e in steps)
    assert [e["global_step"] for e in steps] == sorted(e["global_step"] for e in steps)
    done = events[-1]
    assert (
        done["epochs_run"] == 2
        and not done["stopped_early"]
        and not done["stopped_by_user"]
    )
    assert done["best_val_accuracy"] == second["val_accuracy"]


def test_the_evaluation_event_holds_a_confusion_matrix_and_samples(
    digits_run: tuple[list[Event], Path],
) -> None:
    events, _ = digits_run
    (evaluation,) = of_kind(events, "evaluation")
    confusion = np.array(evaluation["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == events[0]["val_samples"]
    assert (
        confusion.sum(axis=1) == 18
    ).all()  # the split is stratified: 18 of each digit
    assert evaluation["accuracy"] == pytest.approx(
        np.trace(confusion) / confusion.sum()
    )
    samples = evaluation["samples"]
    assert len(samples) == 32
    assert all(np.array(s["x"]).shape == (1, 8, 8) for s in samples)
    assert all(0 <= s["label"] < 10 and 0 <= s["predicted"] < 10 for s in samples)


def test_the_run_folder_holds_config_metrics_weights_and_code(
    digits_run: tuple[list[Event], Path],
) -> None:
    events, run_dir = digits_run
    assert {p.name for p in run_dir.iterdir()} == {
        "config.json",
        "metrics.csv",
        "layer_stats.json",
        "best.pt",
        "last.pt",
        "model.py",
        "project.lstudio",
        "weights.npz",
    }
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["epochs"] == 2 and config["device"] == "cpu"
    assert (
        config["dataset"]["name"] == "digits"
        and config["outcome"]["status"] == "finished"
    )
    assert config["versions"]["torch"] == torch.__version__
    stats = config["normalization"]
    assert len(stats["mean"]) == len(stats["std"]) == 1  # per channel for images
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    epoch_events = of_kind(events, "epoch")
    assert list(rows[0]) == [k for k in epoch_events[0] if k != "kind"]
    assert [float(r["val_loss"]) for r in rows] == [e["val_loss"] for e in epoch_events]
    source = (run_dir / "model.py").read_text()
    model = build_torch_model(source, seed=1)
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True))
    for name in (
        "best.pt",
        "last.pt",
    ):  # a state dict, and a checkpoint with a "model" key
        load_weights(build_torch_model(source, seed=1), run_dir / name)


def test_the_exports_of_the_trained_project_reproduce_the_validation_on_raw_samples(
    digits_run: tuple[list[Event], Path], tmp_path: Path
) -> None:
    import onnxruntime

    events, run_dir = digits_run
    trained = run_dir / "project.lstudio"
    (image,) = (n for n in load_project(trained).graph.nodes.values() if n.type == "Input")
    config = json.loads((run_dir / "config.json").read_text())
    assert list(image.params["mean"]) == pytest.approx(config["normalization"]["mean"])
    out = tmp_path / "digits_model.py"
    assert cli_main(["export", str(trained), "--to", "pytorch", "-o", str(out)]) == 0
    assert cli_main(["export", str(trained), "--to", "onnx", "-o", str(tmp_path / "digits.onnx")]) == 0
    spec = importlib.util.spec_from_file_location("exported_digits", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model(str(out.with_suffix(".pt"))).eval()
    # The validation split rebuilt from what the run folder records, fed as the dataset has it.
    settings = config["settings"]
    dataset = datasets.load_dataset(settings["dataset"], input_shape=(1, 8, 8))
    _, val = datasets.split(dataset, settings["validation_split"], settings["seed"])
    session = onnxruntime.InferenceSession(str(tmp_path / "digits.onnx"))
    with torch.no_grad():
        predicted = model(torch.from_numpy(val.x)).argmax(1).numpy()
        (evaluation,) = of_kind(events, "evaluation")
        shown = np.array([s["x"] for s in evaluation["samples"]], dtype=np.float32)
        shown_predicted = model(torch.from_numpy(shown)).argmax(1).tolist()
    by_onnx = session.run(None, {session.get_inputs()[0].name: val.x})[0].argmax(1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (val.y, predicted), 1)
    assert confusion.tolist() == evaluation["confusion"]
    assert shown_predicted == [s["predicted"] for s in evaluation["samples"]]
    assert (by_onnx == predicted).mean() >= 1 - 1 / len(val)  # float rounding may flip one close call
    assert (predicted == val.y).mean() == pytest.approx(evaluation["accuracy"])


def test_same_seed_same_metrics_and_resume_continues_exactly(
    digits_run: tuple[list[Event], Path], tmp_path: Path
) -> None:
    two_epochs, run_dir = digits_run
    three_epochs = train(EXAMPLE, tmp_path, epochs=3)
    resumed = train(EXAMPLE, tmp_path, epochs=3, resume=str(run_dir / "last.pt"))

    def metrics(events: list[Event]) -> list[tuple[Any, ...]]:
        return [
            (e["epoch"], e["train_loss"], e["val_loss"], e["val_accuracy"])
            for e in of_kind(events, "epoch")
        ]

    assert metrics(three_epochs)[:2] == metrics(
        two_epochs
    )  # same seed: identical numbers
    assert resumed[0]["first_epoch"] == 3
    assert (
        metrics(resumed) == metrics(three_epochs)[2:]
    )  # resumed at the next epoch, as if never stopped
    assert resumed[-1]["epochs_run"] == 3
    resumed_dir = Path(resumed[-1]["run_dir"])
    assert resumed_dir != run_dir
    assert [row["epoch"] for row in runs.read_metrics(resumed_dir)] == [1, 2, 3]
    assert json.loads((resumed_dir / "config.json").read_text())["resumed_from"] == str(
        run_dir / "last.pt"
    )


def test_resume_needs_more_epochs_than_the_checkpoint_has(
    digits_run: tuple[list[Event], Path], tmp_path: Path
) -> None:
    _, run_dir = digits_run
    events = train(EXAMPLE, tmp_path, epochs=2, resume=str(run_dir / "last.pt"))
    assert events[-1]["kind"] == "failed"
    assert "already trained 2 epochs" in events[-1]["message"]
    weights_only = train(EXAMPLE, tmp_path, epochs=3, resume=str(run_dir / "best.pt"))
    assert (
        weights_only[-1]["kind"] == "failed"
        and "not a last.pt checkpoint" in weights_only[-1]["message"]
    )


# ----- settings -----
def loss_project(loss: str) -> Project:
    if loss == "cross_entropy":
        return classifier()
    if loss == "bce_with_logits":
        return classifier(classes=1, dataset="moons", loss=loss)
    return regressor(loss)


@pytest.mark.parametrize(
    ("optimizer", "schedule", "loss"),
    list(
        itertools.product(
            OPTIMIZERS, SCHEDULES, ("cross_entropy", "mse", "bce_with_logits", "l1")
        )
    ),
)
def test_every_optimizer_schedule_and_loss_trains(
    optimizer: str, schedule: str, loss: str, tmp_path: Path
) -> None:
    events = train(
        loss_project(loss),
        tmp_path,
        optimizer=optimizer,
        schedule=schedule,
        learning_rate=0.01,
    )
    assert events[-1]["kind"] == "done", events[-1]
    epochs = of_kind(events, "epoch")
    assert len(epochs) == 2 and all(math.isfinite(e["train_loss"]) for e in epochs)
    classification = loss in ("cross_entropy", "bce_with_logits")
    assert (epochs[0]["val_accuracy"] is not None) == classification
    assert bool(of_kind(events, "evaluation")) == classification


def test_learning_rate_schedules_follow_their_shape(tmp_path: Path) -> None:
    def rates(schedule: str, epochs: int = 4) -> list[float]:
        events = train(
            classifier(), tmp_path, schedule=schedule, epochs=epochs, learning_rate=0.1
        )
        return [e["lr"] for e in of_kind(events, "epoch")]

    assert rates("constant") == [0.1] * 4
    assert step_milestones(4) == [2, 3]
    assert rates("step") == pytest.approx([0.1, 0.1, 0.01, 0.001])
    cosine = rates("cosine")
    assert all(a > b for a, b in itertools.pairwise(cosine)) and cosine[0] < 0.1
    onecycle = rates("onecycle", epochs=10)  # warms up over the first 30% of the steps
    peak = onecycle.index(max(onecycle))
    assert 0 < peak < 9 and max(onecycle) <= 0.1
    assert onecycle[: peak + 1] == sorted(onecycle[: peak + 1]) and onecycle[
        peak:
    ] == sorted(onecycle[peak:], reverse=True)


def test_weight_decay_clipping_augmentation_and_gpu_only_settings_run_on_the_cpu(
    tmp_path: Path,
) -> None:
    events = train(
        EXAMPLE,
        tmp_path,
        epochs=1,
        weight_decay=0.01,
        grad_clip=1.0,
        augment=True,
        precision="bf16",
        compile=True,
        optimizer="adamw",
    )
    assert events[-1]["kind"] == "done"
    assert events[0]["precision"] == "fp32"  # mixed precision is for GPUs
    config = json.loads((Path(events[-1]["run_dir"]) / "config.json").read_text())
    assert config["compiled"] is False and config["settings"]["augment"] is True


def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path: Path) -> None:
    # Updates of 1e-10 do not change float32 weights: the validation loss stays exactly the same.
    events = train(
        regressor(),
        tmp_path,
        optimizer="sgd",
        momentum=0.0,
        learning_rate=1e-10,
        epochs=10,
        early_stopping=2,
    )
    done = events[-1]
    assert done["kind"] == "done" and done["stopped_early"] is True
    assert done["epochs_run"] == 3 and done["best_epoch"] == 1


def test_training_without_validation_keeps_the_best_training_loss(
    tmp_path: Path,
) -> None:
    events = train(classifier(), tmp_path, validation_split=0.0)
    assert events[0]["val_samples"] == 0
    assert all(
        e["val_loss"] is None and e["val_accuracy"] is None
        for e in of_kind(events, "epoch")
    )
    (evaluation,) = of_kind(events, "evaluation")
    assert evaluation["split"] == "train"
    assert (
        events[-1]["kind"] == "done"
        and (Path(events[-1]["run_dir"]) / "best.pt").exists()
    )


# ----- stopping, pausing, failing -----
def test_stop_ends_the_run_early(tmp_path: Path) -> None:
    events = train(EXAMPLE, tmp_path, control=StopAfter(3), epochs=50)
    done = events[-1]
    assert done["kind"] == "done" and done["stopped_by_user"] is True
    assert done["epochs_run"] < 50
    run_dir = Path(done["run_dir"])
    assert (
        json.loads((run_dir / "config.json").read_text())["outcome"]["status"]
        == "stopped"
    )
    assert (run_dir / "best.pt").exists() and (run_dir / "last.pt").exists()


def test_pause_holds_training_until_stop(tmp_path: Path) -> None:
    events: list[Event] = []
    control = PausedThenStopped(events)
    request = TrainRequest(project_to_dict(load_project(EXAMPLE)), None, {"epochs": 50}, str(tmp_path))
    run_training(request, events.append, control)
    assert control.paused_at is not None
    after_pause = [e["kind"] for e in events[control.paused_at :]]
    assert (
        "step" not in after_pause and "epoch" not in after_pause
    )  # no training once paused
    assert events[-1]["kind"] == "done" and events[-1]["stopped_by_user"] is True


def test_a_diverging_run_fails_naming_epoch_and_step(tmp_path: Path) -> None:
    linear = chain(
        "linear",
        ("Input", {"shape": (1,)}),
        ("Linear", {"out_features": 1}),
        ("Output", {}),
        dataset="sine",
        loss="mse",
    )
    events = train(
        linear,
        tmp_path,
        optimizer="sgd",
        momentum=0.0,
        learning_rate=10.0,
        batch_size=8,
    )
    failed = events[-1]
    assert failed["kind"] == "failed"
    assert (
        failed["epoch"] == 1 and isinstance(failed["step"], int) and failed["step"] > 1
    )
    assert f"epoch 1, step {failed['step']}" in failed["message"]
    assert "learning rate" in failed["message"] and failed["reason"] == "diverged"
    assert not of_kind(events, "epoch")
    run_dir = Path(events[0]["run_dir"])
    assert (
        json.loads((run_dir / "config.json").read_text())["outcome"]["status"]
        == "failed"
    )


def test_a_dataset_that_does_not_fit_fails_naming_both_sides(tmp_path: Path) -> None:
    events = train(EXAMPLE, tmp_path, dataset="spirals")
    assert [e["kind"] for e in events] == ["failed"]
    message = events[0]["message"]
    assert "spirals" in message and "'image'" in message and "1×8×8" in message
    assert events[0]["reason"] == "data"
    assert not list(tmp_path.iterdir())  # nothing was started, so no run folder


@pytest.mark.parametrize(
    ("overrides", "expected", "reason"),
    [
        ({"dataset": "no_such_data"}, "no_such_data", "data"),
        ({"epochs": 0}, "epochs", "settings"),
        ({"optimiser": "sgd"}, "unknown training setting 'optimiser'", "settings"),
        ({"resume": "/no/such/last.pt"}, "cannot resume", "arguments"),
    ],
)
def test_bad_settings_fail_with_a_message(
    overrides: dict[str, Any], expected: str, reason: str, tmp_path: Path
) -> None:
    events = train(EXAMPLE, tmp_path, **overrides)
    assert [e["kind"] for e in events] == ["failed"]
    assert expected in events[0]["message"] and events[0]["reason"] == reason


def test_a_device_that_is_not_there_fails_listing_the_available_ones(
    tmp_path: Path,
) -> None:
    missing = next((d for d in ("cuda", "mps") if d not in available_devices()), None)
    if missing is None:
        pytest.skip("this machine has both CUDA and MPS")
    events = train(EXAMPLE, tmp_path, device=missing)
    assert [e["kind"] for e in events] == ["failed"]
    assert f"'{missing}' is not available" in events[0]["message"]
    assert "cpu" in events[0]["message"] and events[0]["reason"] == "settings"


def test_gpu_out_of_memory_fails_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio.train import loop

    def out_of_memory(self: loop.Trainer, *args: Any) -> None:
        self.step = 7
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB"
        )

    monkeypatch.setattr(loop.Trainer, "train_epoch", out_of_memory)
    events = train(EXAMPLE, tmp_path, epochs=1, batch_size=64)
    failed = events[-1]
    assert failed["kind"] == "failed" and (failed["epoch"], failed["step"]) == (1, 7)
    assert failed["reason"] == "out_of_memory"
    assert (
        "out of memory at epoch 1, step 7" in failed["message"]
        and "try 32" in failed["message"]
    )


# ----- pieces -----
def test_batches_cover_the_data_and_never_leave_a_single_sample() -> None:
    assert batch_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert batch_bounds(9, 4) == [(0, 4), (4, 8)]  # one sample cannot train BatchNorm
    assert batch_bounds(3, 64) == [(0, 3)]
    assert batch_bounds(1, 64) == [(0, 1)]


def test_augmentation_crops_and_flips_each_image() -> None:
    augment = augmenter(True, (2, 8, 8), torch.float32)
    assert augment is not None and augmenter(True, (64,), torch.float32) is None
    assert augmenter(False, (2, 8, 8), torch.float32) is None
    assert augmenter(True, (2, 8, 8), torch.int64) is None  # token ids are never cropped
    torch.manual_seed(0)
    x = torch.randn(16, 2, 8, 8)
    out = augment(x)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(len(x)):
        crops = [
            padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(3) for dx in range(3)
        ]
        assert any(
            torch.equal(out[i], c) or torch.equal(out[i], c.flip(2)) for c in crops
        )
    assert not torch.equal(out, x)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_with_scaling_and_clipping_learn(precision: str) -> None:
    # The engine uses autocast only on GPUs; the same Trainer code runs here on the CPU.
    from torch import nn

    from studio.train.loop import Progress, Split, Trainer

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(
        model,
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        torch.device("cpu"),
        precision,
        grad_clip=1.0,
    )
    assert (trainer.scaler is not None) == (precision == "fp16")
    x = torch.randn(256, 2)
    y = (x[:, 0] > 0).long()
    data = Split(x, y, y)
    progress = Progress(lambda step, losses: False, interval=0.05)
    first = trainer.evaluate(data, 64, class_predictor("cross_entropy"))
    for _ in range(5):
        trainer.train_epoch(data, torch.randperm(256), batch_bounds(256, 32), progress)
        assert len(progress.values) == 8 and all(
            math.isfinite(v) for v in progress.values
        )
    loss, accuracy = trainer.evaluate(data, 64, class_predictor("cross_entropy"))
    assert loss < first[0] and accuracy is not None and accuracy > 0.9


class StopAfterEpoch:
    """Presses Stop once the epoch event of `epoch` has been emitted."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.events: list[Event] = []

    def stop_requested(self) -> bool:
        return any(
            e["kind"] == "epoch" and e["epoch"] == self.epoch for e in self.events
        )

    def wait_while_paused(self) -> None:
        return None


def test_a_stopped_run_resumes_its_schedule_and_optimizer_state_exactly(
    tmp_path: Path,
) -> None:
    settings = {
        "optimizer": "sgd",
        "momentum": 0.9,
        "schedule": "cosine",
        "learning_rate": 0.1,
        "epochs": 4,
    }
    whole = train(classifier(), tmp_path, **settings)
    control = StopAfterEpoch(2)
    request = TrainRequest(project_to_dict(classifier()), None, settings, str(tmp_path))
    stopped = run_training(request, control.events.append, control)
    assert stopped["stopped_by_user"] and stopped["epochs_run"] == 2
    last = Path(stopped["run_dir"]) / "last.pt"
    rest = train(classifier(), tmp_path, resume=str(last), **settings)

    def numbers(events: list[Event]) -> list[tuple[float, float]]:
        return [(e["train_loss"], e["lr"]) for e in of_kind(events, "epoch")]

    assert numbers(rest) == numbers(whole)[2:]


def test_init_weights_fine_tunes_from_the_project_weights(tmp_path: Path) -> None:
    first = train(regressor(), tmp_path / "first")
    start = Path(first[-1]["weights"])  # the first run's weights.npz, keyed by layer
    project = regressor()
    project.training = replace(project.training, weights=str(start), init="weights", learning_rate=1e-10, epochs=1)
    tuned = train(project, tmp_path / "tuned")
    assert tuned[-1]["kind"] == "done", tuned[-1]

    def best(events: list[Event]) -> dict[str, torch.Tensor]:
        return torch.load(Path(events[-1]["run_dir"]) / "best.pt", weights_only=True)

    before, after = best(first), best(tuned)
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)  # started there, barely moved
    fresh = train(regressor(), tmp_path / "fresh", learning_rate=1e-10, epochs=1)
    again = best(fresh)
    assert not all(torch.allclose(before[k], again[k], atol=1e-6) for k in before)  # init seed ignores them


def test_init_weights_without_fitting_weights_fails_with_a_message(tmp_path: Path) -> None:
    project = regressor()
    project.training = replace(project.training, init="weights")
    events = train(project, tmp_path)
    assert events[-1]["kind"] == "failed" and events[-1]["reason"] == "settings"
    assert "no weights yet" in events[-1]["message"] and "'seed'" in events[-1]["message"]
    other = train(classifier(), tmp_path / "other")
    project.training = replace(project.training, weights=other[-1]["weights"])
    events = train(project, tmp_path)
    assert events[-1]["kind"] == "failed" and events[-1]["reason"] == "project"
    assert "cannot be used" in events[-1]["message"] and "does not fit" in events[-1]["message"]
