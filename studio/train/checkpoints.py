"""Checkpoints of a run: best.pt (a state dict) and last.pt (everything a resumed run needs).

Both are serialized in memory (tensors on the CPU) so the run folder's writer can replace the
files atomically on its own thread; both load with `torch.load(weights_only=True)`, and both
are accepted by `studio.codegen.export.load_weights` (last.pt keeps the weights under "model").
A resumed last.pt is checked field by field first (`checkpoint_fields`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.codegen.export import WeightsError, load_weights
from studio.codegen.weights_reader import open_weights
from studio.train.checkpoint_fields import KIND, VERSION, CheckpointError, read_last
from studio.train.plan import TrainingFailed


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
        last = read_last(path, epochs)
        optimizer_state = last.optimizer_state(optimizer) if last.state.get("optimizer_name") == optimizer_name else None
    except CheckpointError as err:
        raise TrainingFailed(str(err), reason="arguments") from None
    state, done, best = last.state, last.epochs_done, last.best
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
