"""A run's last.pt read and checked field by field before any field is used: each problem one line naming the field.

Apart from `checkpoints` so the run's plan can check a `--resume` file before it loads any data
(`studio.train.plan` cannot import `checkpoints`, which builds on it); `checkpoints.resume_from`
checks it again with the model and optimizer it loads into.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.codegen.weights_reader import WeightsError, load_torch_file

KIND = "layer-studio-checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A last.pt that cannot be resumed from: the message names the file, the field and what would be valid."""


@dataclass(frozen=True)
class LastCheckpoint:
    """A last.pt whose counts are checked: the epochs done, and the best loss, its epoch and the epochs since."""

    path: Path
    state: dict[str, Any]
    epochs_done: int
    best: tuple[float, int | None, int]

    def optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict[int, dict[str, Any]]:
        """Its optimizer's per-parameter state, checked against the parameters `optimizer` steps."""
        try:
            return _optimizer_state(self.state.get("optimizer"), optimizer)
        except CheckpointError as err:
            raise CheckpointError(f"cannot resume from {self.path}: {err}") from None


def read_last(path: Path, epochs: int) -> LastCheckpoint:
    """The last.pt at `path` (mapped, not read), its counts and scaler checked, for a run of `epochs` epochs.

    Raises:
        CheckpointError: it is no last.pt of a run, a field is missing or wrong, or it has trained `epochs` already.
    """
    try:
        state = load_torch_file(path)  # mapped: a tensor's declared size allocates nothing
    except WeightsError as err:
        raise CheckpointError(f"cannot resume: {err}") from None
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise CheckpointError(f"cannot resume from {path}: it holds weights only, not a last.pt checkpoint of a run")
    try:
        done, best = _counts(state)
        _optimizer_fields(state.get("optimizer"))
        _check_scaler(state.get("scaler"))
    except CheckpointError as err:
        raise CheckpointError(f"cannot resume from {path}: {err}") from None
    if done >= epochs:
        raise CheckpointError(f"{path} has already trained {done} epochs: set epochs above {done} to train on")
    return LastCheckpoint(path, state, done, best)


def _counts(state: dict[str, Any]) -> tuple[int, tuple[float, int | None, int]]:
    """The epochs done, and the best loss, its epoch and the epochs since, each checked."""
    version = state.get("version")
    if not _whole(version) or not 1 <= version <= VERSION:
        raise CheckpointError(f"version is {_shown(version)}: this Layer Studio reads checkpoints of version 1 to {VERSION}")
    if "epoch" not in state:
        raise CheckpointError("epoch is missing: a last.pt holds the number of epochs done")
    done = state["epoch"]
    if not _whole(done) or done < 0:
        raise CheckpointError(f"epoch is {_shown(done)}: the epochs done are a whole number, 0 or more")
    if not isinstance(state.get("partial", False), bool):
        raise CheckpointError(f"partial is {_shown(state['partial'])}: it is true or false")
    best_epoch = state.get("best_epoch")
    if best_epoch is None:
        return done, (math.inf, None, 0)
    if not _whole(best_epoch) or not 1 <= best_epoch <= done:
        raise CheckpointError(f"best_epoch is {_shown(best_epoch)}: it is an epoch done, 1 to {done}, or none")
    best_loss, bad_epochs = state.get("best_loss"), state.get("bad_epochs")
    loss = _real(best_loss)
    if loss is None or math.isnan(loss):
        raise CheckpointError(f"best_loss is {_shown(best_loss)}: it is the best epoch's loss, a number")
    if not _whole(bad_epochs) or not 0 <= bad_epochs <= done - best_epoch:
        raise CheckpointError(f"bad_epochs is {_shown(bad_epochs)}: it counts the epochs since the best one, 0 to {done - best_epoch}")
    return done, (loss, best_epoch, bad_epochs)


def _optimizer_state(found: object, optimizer: torch.optim.Optimizer) -> dict[int, dict[str, Any]]:
    """The per-parameter state of a last.pt's optimizer, checked against the parameters it will step."""
    _optimizer_fields(found)
    assert isinstance(found, dict)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    checked: dict[int, dict[str, Any]] = {}
    for index, values in found["state"].items():
        if not _whole(index) or not 0 <= index < len(params):
            raise CheckpointError(f"optimizer state is kept for parameter {_shown(index)}: the network has parameters 0 to {len(params) - 1}")
        if not isinstance(values, dict) or not all(isinstance(name, str) for name in values):
            raise CheckpointError(f"optimizer state of parameter {index} is {_shown(values)}: it is a dict of named values")
        shape = tuple(params[index].shape)
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1 and tuple(value.shape) != shape:
                    raise CheckpointError(f"optimizer state {name} of parameter {index} has shape {tuple(value.shape)}: the parameter's is {shape}")
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise CheckpointError(f"optimizer state {name} of parameter {index} holds values that are not finite")
            elif not _finite(value):
                raise CheckpointError(f"optimizer state {name} of parameter {index} is {_shown(value)}: it is a tensor or a finite number")
        checked[index] = {name: value.clone() if isinstance(value, torch.Tensor) else value for name, value in values.items()}  # off the file's mapping
    return checked


def _optimizer_fields(found: object) -> None:
    """An optimizer's state dict, whichever optimizer wrote it: a dict holding a dict 'state'."""
    if not isinstance(found, dict) or not isinstance(found.get("state"), dict):
        raise CheckpointError(f"optimizer is {_shown(found)}: it is the optimizer's state dict (a dict holding 'state')")


def _check_scaler(found: object) -> None:
    """A mixed-precision scaler's state: none, or its numbers (a positive scale)."""
    if found is None or (isinstance(found, dict) and not found):
        return
    numbers = isinstance(found, dict) and all(_finite(value) for value in found.values())
    if not numbers or not {"scale", "growth_factor", "backoff_factor", "growth_interval"} <= set(found) or found["scale"] <= 0:  # type: ignore[union-attr, operator]
        raise CheckpointError(f"scaler is {_shown(found)}: it is none, or a gradient scaler's state (a positive scale and its factors)")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value: object) -> float | None:
    """A number field as a float (NaN and the infinities included); None for anything else, or an int too large for a float."""
    if isinstance(value, float):
        return value
    if _whole(value) and value.bit_length() <= 1000:  # type: ignore[union-attr]
        return float(value)  # type: ignore[arg-type]
    return None


def _finite(value: object) -> bool:
    number = _real(value)
    return number is not None and math.isfinite(number)


def _shown(value: object) -> str:
    """A field's value as the message shows it: short, with its type where that is the problem."""
    if value is None:
        return "none"
    if _whole(value) and value.bit_length() > 64:  # type: ignore[union-attr]
        return f"a whole number of {value.bit_length()} bits"  # type: ignore[union-attr]
    if isinstance(value, (bool, int, float)):
        return repr(value)
    text = repr(value)
    return f"a {type(value).__name__}" if len(text) > 40 else f"{text} (a {type(value).__name__})"
