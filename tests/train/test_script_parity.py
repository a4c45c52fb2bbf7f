"""The exported training script trains exactly as the trainer does, for every kind of setting."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from studio.codegen.export import export_project
from studio.graph.project import load_project, project_to_dict
from studio.train import recipe
from studio.train.datasets import load_dataset
from studio.train.engine import NoControl, TrainRequest, run_training
from studio.train.text_data import opening
from tests.train.language_models import project_with_story

DIGITS = Path(__file__).resolve().parents[2] / "assets" / "examples" / "digits_cnn.lstudio"
SAMPLES = 320
BASE = {"epochs": 3, "batch_size": 32, "validation_split": 0.2, "seed": 3, "device": "cpu"}
CASES = {
    "defaults": {},
    "sgd_momentum_step": {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.5, "schedule": "step", "weight_decay": 1e-3},
    "adamw_cosine_clip": {"optimizer": "adamw", "learning_rate": 0.003, "schedule": "cosine", "grad_clip": 0.05},
    "rmsprop_onecycle": {"optimizer": "rmsprop", "schedule": "onecycle"},
    "augment": {"augment": True},
    "early_stopping": {"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.99, "early_stopping": 1, "epochs": 4},
    "bce_with_logits": {"loss": "bce_with_logits"},
    "mse_regression": {"loss": "mse"},
    "l1_regression": {"loss": "l1", "optimizer": "sgd", "learning_rate": 0.1},
}  # fmt: skip
REGRESSION = ("mse", "l1")
TOLERANCE = 2e-4  # float32 rounding; every setting above moves the losses by far more


def digits_subset(regression: bool) -> tuple[np.ndarray, np.ndarray]:
    """The first digits as they come (raw pixels): trainer and script both standardize them inside the model."""
    digits = load_dataset("digits", input_shape=(1, 8, 8))
    x, labels = digits.x[:SAMPLES], digits.y[:SAMPLES]
    y = np.eye(10, dtype=np.float32)[labels] * 0.8 + 0.1 if regression else labels
    return x.astype(np.float32), y


def project_on_file_data(folder: Path, settings: dict[str, Any]) -> Path:
    """The digits CNN training on a .npz beside its project file, with `settings`."""
    x, y = digits_subset(settings.get("loss") in REGRESSION)
    np.savez(folder / "data.npz", x=x, y=y)
    project = load_project(DIGITS)
    project.training = replace(project.training, dataset="data.npz", **{**BASE, **settings})
    path = folder / "digits.lstudio"
    path.write_text("")  # only its folder is used: the project travels as a dict
    return path, project


def trainer_run(project: Any, path: Path, folder: Path) -> tuple[dict, list[dict], dict[str, torch.Tensor]]:
    events: list[dict] = []
    request = TrainRequest(project_to_dict(project), str(path), {}, str(folder / "runs"))
    done = run_training(request, events.append, NoControl())
    assert done["kind"] == "done", done.get("message")
    last = torch.load(Path(done["run_dir"]) / "last.pt", weights_only=True)
    return done, [e for e in events if e["kind"] == "epoch"], last["model"]


def script_run(
    project: Any, path: Path, folder: Path, capsys: pytest.CaptureFixture[str], patch: dict[str, Any] | None = None
) -> tuple[list[tuple], dict, str]:
    """Export the script with its data and run its main() in this process (same threads, same numbers).

    Returns the (epoch, loss, val_loss) of each epoch line, the final weights and all it printed.
    """
    result = export_project(project, "script", folder / "train.py", project_path=path)
    assert (folder / "train_data.npz") in result.files and not result.warnings
    namespace: dict[str, Any] = {"__name__": "exported_train", "__file__": str(folder / "train.py")}
    exec(compile((folder / "train.py").read_text(), str(folder / "train.py"), "exec"), namespace)  # noqa: S102
    namespace.update(patch or {})
    capsys.readouterr()
    with torch.random.fork_rng(devices=[]):
        namespace["main"](["--out", str(folder / "ck")])
    out = capsys.readouterr().out
    rows = re.findall(r"epoch (\d+)/\d+  loss ([0-9.]+)  val_loss ([0-9.]+)", out)
    last = torch.load(folder / "ck" / "last.pt", weights_only=True)
    return [(int(e), float(a), float(b)) for e, a, b in rows], last["model"], out


@pytest.fixture(scope="module")
def default_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    folder = tmp_path_factory.mktemp("defaults")
    path, project = project_on_file_data(folder, {})
    return trainer_run(project, path, folder)[2]


def assert_same_training(epochs: list[dict], rows: list[tuple], trained: dict, scripted: dict) -> None:
    """The same epochs, the same losses per epoch and the same final weights, up to float rounding."""
    assert [e for e, _, _ in rows] == [e["epoch"] for e in epochs]
    for (_, loss, val_loss), event in zip(rows, epochs, strict=True):
        assert loss == pytest.approx(event["train_loss"], rel=TOLERANCE, abs=TOLERANCE)
        assert val_loss == pytest.approx(event["val_loss"], rel=TOLERANCE, abs=TOLERANCE)
    assert all(torch.allclose(trained[k], scripted[k], rtol=1e-3, atol=TOLERANCE) for k in trained)


def assert_differs(trained: dict, default_weights: dict) -> None:
    """The setting matters: a script that ignored it would have failed the comparison."""
    assert any(not torch.allclose(trained[k], default_weights[k], atol=100 * TOLERANCE) for k in trained)


@pytest.mark.parametrize("settings", CASES.values(), ids=CASES.keys())
def test_the_script_trains_exactly_as_the_trainer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: dict[str, Any], default_weights: dict
) -> None:
    path, project = project_on_file_data(tmp_path, settings)
    done, epochs, trained = trainer_run(project, path, tmp_path)
    rows, scripted, _ = script_run(project, path, tmp_path, capsys)

    assert_same_training(epochs, rows, trained, scripted)
    if settings:
        assert_differs(trained, default_weights)
    if "early_stopping" in settings:
        assert done["stopped_early"] and done["epochs_run"] < project.training.epochs


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_the_script_trains_in_mixed_precision_as_the_trainer(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    precision: str,
    default_weights: dict,
) -> None:
    """Autocast on the CPU stands in for the GPU's: both sides are let use mixed precision off CUDA."""
    anywhere = {"precision_on": lambda name, device: name}
    monkeypatch.setattr(recipe, "precision_on", anywhere["precision_on"])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    path, project = project_on_file_data(tmp_path, {"precision": precision})
    _, epochs, trained = trainer_run(project, path, tmp_path)
    rows, scripted, _ = script_run(project, path, tmp_path, capsys, anywhere)

    assert_same_training(epochs, rows, trained, scripted)
    assert_differs(trained, default_weights)
    last = torch.load(tmp_path / "ck" / "last.pt", weights_only=True)
    assert (last["scaler"] is not None) == (precision == "fp16")  # fp16 steps through the gradient scaler


def test_the_script_trains_a_language_model_as_the_trainer_and_writes_the_same_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Windows of a text held out by their place, the loss at every position, per-token accuracy, samples."""
    path, project, _ = project_with_story(tmp_path, epochs=2, seed=3, schedule="cosine")
    _, epochs, trained = trainer_run(project, path, tmp_path)
    rows, scripted, out = script_run(project, path, tmp_path, capsys)

    assert_same_training(epochs, rows, trained, scripted)
    accuracies = [float(a) for a in re.findall(r"val_acc ([0-9.]+)", out)]
    assert accuracies == pytest.approx([e["val_accuracy"] for e in epochs], abs=1e-4)
    assert all(0.0 < a < 1.0 for a in accuracies)  # per token, not per window
    samples = [ast.literal_eval(line) for line in re.findall(r"^sample: (.*)$", out, flags=re.MULTILINE)]
    prompt = opening((tmp_path / "story.txt").read_text())
    assert samples == [prompt + e["sample"] for e in epochs]
