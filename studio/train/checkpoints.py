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
from studio.graph.regular_files import open_regular
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

    The optimizer keeps the hyperparameters of the new settings; so does the schedule, which
    the caller fast-forwards.
    """
    try:
        load_weights(model, path)
        with open_regular(path) as file:
            state = torch.load(file, map_location=device, weights_only=True)
    except (WeightsError, OSError, RuntimeError, ValueError) as err:
        raise TrainingFailed(f"cannot resume: {err}", reason="arguments") from None
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise TrainingFailed(
            f"cannot resume from {path}: it holds weights only, not a last.pt checkpoint of a run",
            reason="arguments",
        )
    done = int(state["epoch"])
    if done >= epochs:
        raise TrainingFailed(
            f"{path} has already trained {done} epochs: set epochs above {done} to train on",
            reason="arguments",
        )
    if state.get("optimizer_name") == optimizer_name:
        fresh = optimizer.state_dict()["param_groups"]
        try:
            optimizer.load_state_dict(
                {"state": state["optimizer"]["state"], "param_groups": fresh}
            )
        except (ValueError, KeyError, RuntimeError):
            pass  # state of another shape: the optimizer starts afresh
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    best_state = (
        _best_beside(path, device) if state.get("best_epoch") is not None else None
    )
    if best_state is None:
        return Resumed(done, math.inf, None, 0, None)
    return Resumed(
        done,
        float(state["best_loss"]),
        int(state["best_epoch"]),
        int(state["bad_epochs"]),
        best_state,
    )


def _best_beside(path: Path, device: torch.device) -> dict[str, torch.Tensor] | None:
    best = path.with_name("best.pt")
    try:
        with open_regular(best) as file:
            state = torch.load(file, map_location=device, weights_only=True)
    except (OSError, RuntimeError, ValueError):
        return None
    return state if isinstance(state, dict) else None
