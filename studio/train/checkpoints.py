"""Checkpoints of a run: best.pt (a state dict) and last.pt (everything a resumed run needs).

Both are serialized in memory (tensors on the CPU) so the run folder's writer can replace the
files atomically on its own thread; both load with `torch.load(weights_only=True)`, and both
are accepted by `studio.codegen.export.load_weights` (last.pt keeps the weights under "model").
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.codegen.export import WeightsError, load_weights
from studio.codegen.weights_reader import load_torch_file, open_weights
from studio.train.plan import TrainingFailed

KIND = "layer-studio-checkpoint"
VERSION = 1


def tensor_bytes(obj: object) -> bytes:
    """torch.save into memory, tensors moved to the CPU first (a GPU-free machine can load them)."""
    buffer = io.BytesIO()
    torch.save(_to_cpu(obj), buffer)
    return buffer.getvalue()


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


@dataclass
class Resumed:
    """What a last.pt carries over into a new run."""

    epochs_done: int
    best_loss: float
    best_epoch: int | None
    bad_epochs: int
    best_state: dict[str, torch.Tensor] | None  # of the best.pt beside it


def last_checkpoint(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    optimizer_name: str,
    scaler: torch.amp.GradScaler | None,
    epochs_done: int,
    partial: bool,
    best: tuple[float, int | None, int],
    settings: dict[str, Any],
) -> bytes:
    """last.pt: weights, optimizer state, epochs done, and the best loss, its epoch and the epochs since."""
    best_loss, best_epoch, bad_epochs = best
    return tensor_bytes(
        {
            "kind": KIND,
            "version": VERSION,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "optimizer_name": optimizer_name,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "epoch": epochs_done,
            "partial": partial,  # stopped inside the next epoch: a resumed run redoes it from here
            "best_loss": best_loss,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            "settings": settings,
        }
    )


def resume_from(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    optimizer_name: str,
    scaler: torch.amp.GradScaler | None,
    epochs: int,
    device: torch.device,
) -> Resumed:
    """Load a last.pt into the model and optimizer (its state only when the optimizer is the same).

    Every field is checked before any is used, so a damaged or crafted file is one line naming
    the field and what would be valid. The optimizer keeps the hyperparameters of the new
    settings; so does the schedule, which the caller fast-forwards.

    Raises:
        TrainingFailed: (reason "arguments") the file is no last.pt, a field is wrong, or it has trained `epochs` already.
    """
    try:
        state = load_torch_file(path)  # mapped, not read: a tensor's declared size allocates nothing
    except WeightsError as err:
        raise TrainingFailed(f"cannot resume: {err}", reason="arguments") from None
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise TrainingFailed(
            f"cannot resume from {path}: it holds weights only, not a last.pt checkpoint of a run",
            reason="arguments",
        )
    try:
        done, best = _counts(state)
        same = state.get("optimizer_name") == optimizer_name
        optimizer_state = _optimizer_state(state.get("optimizer"), optimizer) if same else None
        _check_scaler(state.get("scaler"))
    except _FieldError as err:
        raise TrainingFailed(f"cannot resume from {path}: {err}", reason="arguments") from None
    if done >= epochs:
        raise TrainingFailed(
            f"{path} has already trained {done} epochs: set epochs above {done} to train on",
            reason="arguments",
        )
    try:
        load_weights(model, path)
        best_state = _best_beside(path, model, device) if best[1] is not None else None
    except WeightsError as err:
        raise TrainingFailed(f"cannot resume: {err}", reason="arguments") from None
    if optimizer_state is not None:
        optimizer.load_state_dict({"state": optimizer_state, "param_groups": optimizer.state_dict()["param_groups"]})
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if best_state is None:
        return Resumed(done, math.inf, None, 0, None)
    return Resumed(done, *best, best_state)


class _FieldError(Exception):
    """One field of a last.pt that is missing or wrong; the message names it and what would be valid."""


def _counts(state: dict[str, Any]) -> tuple[int, tuple[float, int | None, int]]:
    """The epochs done, and the best loss, its epoch and the epochs since, each checked."""
    version = state.get("version")
    if not _whole(version) or not 1 <= version <= VERSION:
        raise _FieldError(f"version is {_shown(version)}: this Layer Studio reads checkpoints of version 1 to {VERSION}")
    if "epoch" not in state:
        raise _FieldError("epoch is missing: a last.pt holds the number of epochs done")
    done = state["epoch"]
    if not _whole(done) or done < 0:
        raise _FieldError(f"epoch is {_shown(done)}: the epochs done are a whole number, 0 or more")
    if not isinstance(state.get("partial", False), bool):
        raise _FieldError(f"partial is {_shown(state['partial'])}: it is true or false")
    best_epoch = state.get("best_epoch")
    if best_epoch is None:
        return done, (math.inf, None, 0)
    if not _whole(best_epoch) or not 1 <= best_epoch <= done:
        raise _FieldError(f"best_epoch is {_shown(best_epoch)}: it is an epoch done, 1 to {done}, or none")
    best_loss, bad_epochs = state.get("best_loss"), state.get("bad_epochs")
    if isinstance(best_loss, bool) or not isinstance(best_loss, (int, float)) or math.isnan(best_loss):
        raise _FieldError(f"best_loss is {_shown(best_loss)}: it is the best epoch's loss, a number")
    if not _whole(bad_epochs) or not 0 <= bad_epochs <= done - best_epoch:
        raise _FieldError(f"bad_epochs is {_shown(bad_epochs)}: it counts the epochs since the best one, 0 to {done - best_epoch}")
    return done, (float(best_loss), best_epoch, bad_epochs)


def _optimizer_state(found: object, optimizer: torch.optim.Optimizer) -> dict[int, dict[str, Any]]:
    """The per-parameter state of a last.pt's optimizer, checked against the parameters it will step."""
    if not isinstance(found, dict) or not isinstance(found.get("state"), dict):
        raise _FieldError(f"optimizer is {_shown(found)}: it is the optimizer's state dict (a dict holding 'state')")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    checked: dict[int, dict[str, Any]] = {}
    for index, values in found["state"].items():
        if not _whole(index) or not 0 <= index < len(params):
            raise _FieldError(f"optimizer state is kept for parameter {_shown(index)}: the network has parameters 0 to {len(params) - 1}")
        if not isinstance(values, dict) or not all(isinstance(name, str) for name in values):
            raise _FieldError(f"optimizer state of parameter {index} is {_shown(values)}: it is a dict of named values")
        shape = tuple(params[index].shape)
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1 and tuple(value.shape) != shape:
                    raise _FieldError(f"optimizer state {name} of parameter {index} has shape {tuple(value.shape)}: the parameter's is {shape}")
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise _FieldError(f"optimizer state {name} of parameter {index} holds values that are not finite")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise _FieldError(f"optimizer state {name} of parameter {index} is {_shown(value)}: it is a tensor or a finite number")
        checked[index] = values
    return checked


def _check_scaler(found: object) -> None:
    """A mixed-precision scaler's state: none, or its numbers (a positive scale)."""
    if found is None or found == {}:
        return
    numbers = isinstance(found, dict) and all(
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) for value in found.values()
    )
    if not numbers or not {"scale", "growth_factor", "backoff_factor", "growth_interval"} <= set(found) or found["scale"] <= 0:  # type: ignore[union-attr, operator]
        raise _FieldError(f"scaler is {_shown(found)}: it is none, or a gradient scaler's state (a positive scale and its factors)")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A field's value as the message shows it: short, with its type where that is the problem."""
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float)):
        return repr(value)
    text = repr(value)
    return f"a {type(value).__name__}" if len(text) > 40 else f"{text} (a {type(value).__name__})"


def _best_beside(path: Path, model: torch.nn.Module, device: torch.device) -> dict[str, torch.Tensor] | None:
    """The best.pt beside a last.pt, on `device`; None where there is none, WeightsError where it does not fit the model."""
    best = path.with_name("best.pt")
    if not best.is_file():
        return None
    expected = model.state_dict()
    with open_weights(best) as archive:
        entries = archive.entries
        wrong = [k for k in expected if k not in entries or not entries[k].real or entries[k].shape != tuple(expected[k].shape)]
        wrong += sorted(set(entries) - set(expected))
        if wrong:
            raise WeightsError(f"{best}: does not fit this network ({', '.join(wrong[:5])}): remove it to resume without the best epoch's weights")
        return {k: v.to(device, dtype=expected[k].dtype, copy=True) for k, v in archive.tensors(expected).items()}
