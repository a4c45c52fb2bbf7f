"""The trainer's optimizers, learning-rate schedules and losses, built from the project's settings.

Schedules:
- ``constant``: the learning rate never changes.
- ``step``: multiplied by 0.1 after half of the epochs and again after three quarters of them
  (per epoch; 10 epochs: epochs 1-5 at lr, 6-7 at lr/10, 8-10 at lr/100).
- ``cosine``: cosine annealing from lr to 0 over all the steps of the run (per step).
- ``onecycle``: torch's OneCycleLR with max_lr = lr over all the steps (per step); momentum is
  left as set, only the learning rate cycles.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from studio.graph.project import TrainingSettings

LOSSES: dict[str, type[nn.Module]] = {
    "cross_entropy": nn.CrossEntropyLoss,
    "mse": nn.MSELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
    "l1": nn.L1Loss,
}
STEP_FACTOR = 0.1
PER_STEP_SCHEDULES = ("cosine", "onecycle")


def make_optimizer(
    settings: TrainingSettings, parameters: list[nn.Parameter], device: torch.device
) -> torch.optim.Optimizer:
    """The optimizer named by the settings, with their learning rate and weight decay."""
    lr, decay = settings.learning_rate, settings.weight_decay
    fused = {"fused": True} if device.type == "cuda" else {}
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=lr, momentum=settings.momentum, weight_decay=decay
        )
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=decay, **fused)
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, weight_decay=decay)
    return torch.optim.Adam(parameters, lr=lr, weight_decay=decay, **fused)


def step_milestones(epochs: int) -> list[int]:
    """The epochs after which the ``step`` schedule multiplies the learning rate by 0.1."""
    return sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})


def make_scheduler(
    settings: TrainingSettings, optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The schedule named by the settings; `is_per_step` tells when to step it."""
    sched = torch.optim.lr_scheduler
    if settings.schedule == "step":
        return sched.MultiStepLR(
            optimizer, step_milestones(settings.epochs), gamma=STEP_FACTOR
        )
    if settings.schedule == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    if settings.schedule == "onecycle":
        return sched.OneCycleLR(
            optimizer,
            max_lr=settings.learning_rate,
            total_steps=max(1, total_steps),
            cycle_momentum=False,
        )
    return None


def is_per_step(schedule: str) -> bool:
    """Whether the schedule advances every step (else every epoch)."""
    return schedule in PER_STEP_SCHEDULES


def fast_forward(scheduler: torch.optim.lr_scheduler.LRScheduler, count: int) -> None:
    """Advance a fresh schedule by `count` steps, as a resumed run continues where it left off."""
    with (
        warnings.catch_warnings()
    ):  # "scheduler.step() before optimizer.step()": on purpose here
        warnings.simplefilter("ignore")
        for _ in range(count):
            scheduler.step()


def make_loss(name: str) -> nn.Module:
    """The loss module named by the settings (mean over the batch)."""
    return LOSSES[name]()
