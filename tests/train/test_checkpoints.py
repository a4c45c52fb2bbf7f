"""Resuming from a last.pt: every field checked before use, a crafted one refused in one line naming the field."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from studio.train.checkpoints import last_checkpoint, resume_from, tensor_bytes
from studio.train.plan import TrainingFailed

CPU = torch.device("cpu")


def trained() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.randn(8, 3)).square().mean().backward()
        optimizer.step()
    return model, optimizer


def checkpoint(folder: Path, **changes: Any) -> Path:
    """A last.pt of 3 epochs (best at 2, one since), with `changes` to its fields (a value of ... removes the field)."""
    model, optimizer = trained()
    data = torch.load(io.BytesIO(last_checkpoint(model, optimizer, "adam", None, 3, False, (0.25, 2, 1), {"epochs": 3})), weights_only=True)
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    (folder / "best.pt").write_bytes(tensor_bytes(model.state_dict()))
    (folder / "last.pt").write_bytes(tensor_bytes(data))
    return folder / "last.pt"


def resume(path: Path, epochs: int = 10) -> Any:
    model, _ = trained()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    return resume_from(path, model, optimizer, "adam", None, epochs, CPU), optimizer


def test_a_sound_checkpoint_resumes_with_its_counts_best_weights_and_optimizer_state(tmp_path: Path) -> None:
    resumed, optimizer = resume(checkpoint(tmp_path))
    assert (resumed.epochs_done, resumed.best_loss, resumed.best_epoch, resumed.bad_epochs) == (3, 0.25, 2, 1)
    assert resumed.best_state is not None and set(resumed.best_state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    _, source = trained()
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], source.state_dict()["state"][0]["exp_avg"])


def test_without_a_best_epoch_there_are_no_best_weights(tmp_path: Path) -> None:
    resumed, _ = resume(checkpoint(tmp_path, best_epoch=None))
    assert (resumed.best_loss, resumed.best_epoch, resumed.best_state) == (math.inf, None, None)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"epoch": ...}, "epoch is missing"),
        ({"epoch": "three"}, "epoch is 'three' (a str): the epochs done are a whole number, 0 or more"),
        ({"epoch": math.nan}, "epoch is nan"),
        ({"epoch": -7}, "epoch is -7"),
        ({"epoch": True}, "epoch is True"),
        ({"epoch": 2.0}, "epoch is 2.0"),
        ({"version": 99}, "version is 99: this Layer Studio reads checkpoints of version 1 to 1"),
        ({"partial": "yes"}, "partial is 'yes' (a str): it is true or false"),
        ({"best_epoch": 9}, "best_epoch is 9: it is an epoch done, 1 to 3, or none"),
        ({"best_loss": math.nan}, "best_loss is nan"),
        ({"best_loss": "low"}, "best_loss is 'low' (a str)"),
        ({"best_loss": 2**2000}, "best_loss is a whole number of 2001 bits"),
        ({"optimizer": {"state": {0: {"step": 2**2000}}}}, "optimizer state step of parameter 0 is a whole number of 2001 bits"),
        ({"bad_epochs": -1}, "bad_epochs is -1: it counts the epochs since the best one, 0 to 1"),
        ({"optimizer": [1, 2]}, "optimizer is [1, 2] (a list): it is the optimizer's state dict"),
        ({"optimizer": {"state": {7: {}}}}, "optimizer state is kept for parameter 7: the network has parameters 0 to 3"),
        ({"optimizer": {"state": {0: [1]}}}, "optimizer state of parameter 0 is [1] (a list)"),
        ({"optimizer": {"state": {0: {"exp_avg": torch.zeros(5)}}}}, "optimizer state exp_avg of parameter 0 has shape (5,): the parameter's is (4, 3)"),
        ({"optimizer": {"state": {0: {"exp_avg": torch.full((4, 3), math.nan)}}}}, "optimizer state exp_avg of parameter 0 holds values that are not finite"),
        ({"optimizer": {"state": {0: {"step": "x"}}}}, "optimizer state step of parameter 0 is 'x' (a str)"),
        ({"scaler": "x"}, "scaler is 'x' (a str): it is none, or a gradient scaler's state"),
        ({"scaler": {"scale": -1.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 10}}, "scaler is"),
    ],
)
def test_a_crafted_field_is_refused_naming_it(tmp_path: Path, changes: dict[str, Any], words: str) -> None:
    with pytest.raises(TrainingFailed) as caught:
        resume(checkpoint(tmp_path, **changes))
    message = caught.value.message
    assert words in message and "last.pt" in message and "\n" not in message
    assert caught.value.reason == "arguments"


def test_another_optimizers_state_is_not_read(tmp_path: Path) -> None:
    path = checkpoint(tmp_path, optimizer={"state": {0: {"momentum_buffer": torch.zeros(9)}}}, optimizer_name="sgd")
    resumed, optimizer = resume(path)
    assert resumed.epochs_done == 3 and optimizer.state_dict()["state"] == {}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"epoch: 3\n", "cannot resume: "),
        (tensor_bytes([1, 2, 3]), "it holds weights only, not a last.pt checkpoint"),
        (tensor_bytes({"kind": "layer-studio-checkpoint", "version": 1, "epoch": 1, "optimizer": {"state": {}}, "model": {"0.weight": torch.zeros(1)}}), "does not fit this network"),
    ],
)
def test_a_file_that_is_no_checkpoint_is_refused_in_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    (tmp_path / "last.pt").write_bytes(content)
    with pytest.raises(TrainingFailed) as caught:
        resume(tmp_path / "last.pt")
    assert words in caught.value.message and "\n" not in caught.value.message


def test_a_best_pt_that_does_not_fit_is_refused_and_one_that_is_gone_is_not_needed(tmp_path: Path) -> None:
    path = checkpoint(tmp_path)
    (tmp_path / "best.pt").write_bytes(tensor_bytes({"0.weight": torch.zeros(2, 2)}))
    with pytest.raises(TrainingFailed, match=r"best.pt: does not fit this network \(0.weight, 0.bias, 2.weight, 2.bias\)"):
        resume(path)
    (tmp_path / "best.pt").unlink()
    resumed, _ = resume(path)
    assert resumed.epochs_done == 3 and resumed.best_state is None


def test_a_checkpoint_that_has_trained_the_epochs_asked_says_so(tmp_path: Path) -> None:
    with pytest.raises(TrainingFailed, match="has already trained 3 epochs: set epochs above 3"):
        resume(checkpoint(tmp_path), epochs=3)
