"""The trainer's hot path: epochs over tensors already on the device, with as little overhead as a hand loop.

NOTE: speed rules (the trainer must reach 0.97 of a plain PyTorch loop, benchmarks/trainer_overhead.py):
data stays on the device as whole tensors, shuffled by one gather per epoch and cut into batch
views (no DataLoader); a step does no host sync: losses are kept as device scalars and read in
one transfer by `Progress` at most every `interval` seconds, which is also when the caller
emits events and checks Stop and Pause.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from studio.train import recipe
from studio.train.layer_stats import LayerProbe

Batch = Callable[[torch.Tensor], torch.Tensor]
EVALUATION_SAMPLES = 32  # predictions sent with their inputs after training
MAX_SAMPLE_VALUES = 4096  # a larger input (more numbers than 3x32x32) is not sent
STOP_CHECK_INTERVAL = 0.05  # seconds between Stop checks while validating


class NonFiniteLoss(Exception):
    """The loss became NaN or infinite at `step` (1-based, within the epoch)."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"non-finite loss {value} at step {step}")
        self.step = step
        self.value = value


class StopRequested(Exception):
    """Stop was asked for in the middle of an epoch."""


@dataclass
class Split:
    """One split's tensors: inputs, training targets, and class labels (for accuracy) or None."""

    x: torch.Tensor
    y: torch.Tensor
    labels: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.x)


class Progress:
    """Reads the device-side losses now and then: for step events, the NaN check, Stop and Pause.

    `on_tick(step, losses)` is called with the losses of the steps since the last call, at most
    every `interval` seconds (and every step when steps are slower); it returns True to stop.
    """

    def __init__(
        self, on_tick: Callable[[int, list[float]], bool], interval: float
    ) -> None:
        self.on_tick = on_tick
        self.interval = interval
        self.due = 0.0
        self.read = 0  # losses of this epoch read so far
        self.values: list[float] = []  # and their values

    def start_epoch(self) -> None:
        """Forget the last epoch's losses; the first tick comes after one interval."""
        self.read = 0
        self.values = []
        self.due = time.perf_counter() + self.interval

    def tick(self, step: int, losses: list[torch.Tensor]) -> None:
        """Read the new losses, check them, and let the caller report; raises to end the epoch."""
        values = self.collect(losses)
        if self.on_tick(step, values):
            raise StopRequested
        self.due = time.perf_counter() + self.interval

    def collect(self, losses: list[torch.Tensor]) -> list[float]:
        """Read and empty `losses` (one transfer); NonFiniteLoss names the first bad step."""
        if not losses:
            return []
        values = torch.stack(losses).float().cpu().tolist()
        losses.clear()  # only the steps since the last read stay held on the device
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                raise NonFiniteLoss(self.read + offset + 1, value)
        self.read += len(values)
        self.values += values
        return values


class Trainer:
    """One model's training steps and evaluation, with the chosen loss, optimizer and precision (the recipe's)."""

    def __init__(
        self,
        model: nn.Module,
        net: nn.Module,
        loss_fn: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        precision: str,
        grad_clip: float,
        augment: Batch | None = None,
    ) -> None:
        self.model = model  # the generated module: its state dict is what gets saved
        self.net = net  # what runs the steps: the model, or its torch.compile wrapper
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.schedule: recipe.Schedule | None = None
        self.device = device
        self.grad_clip = grad_clip
        self.augment = augment
        self.step = 0  # the step in progress (1-based), for messages
        self.precision = recipe.Precision(precision, device)
        self.scaler = self.precision.scaler
        self.probe: LayerProbe | None = None  # per-layer statistics, gathered on a step now and then

    def set_schedule(self, schedule: recipe.Schedule) -> None:
        """Use a learning-rate schedule (the recipe's: stepped after every step or every epoch)."""
        self.schedule = schedule

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return float(self.optimizer.param_groups[0]["lr"])

    def train_epoch(
        self,
        data: Split,
        order: torch.Tensor,
        bounds: list[tuple[int, int]],
        progress: Progress,
    ) -> None:
        """Run one epoch's steps over `data` shuffled by `order`; the losses end in `progress.values`.

        Raises:
            NonFiniteLoss: a step's loss was NaN or infinite (found at the next tick).
            StopRequested: the tick's callback asked to stop.
        """
        self.model.train()
        self.step = 0
        order = order.to(data.x.device)
        xs, ys = data.x[order], data.y[order]
        # data too big for the GPU stays on the host: batches are copied over
        travel = xs.device != self.device
        net, model, loss_fn, optimizer = self.net, self.model, self.loss_fn, self.optimizer
        augment, precision, clip, device = self.augment, self.precision, self.grad_clip, self.device
        after_step = self.schedule.after_step if self.schedule is not None else None
        step_once = recipe.train_step
        probe, scaler = self.probe, self.scaler
        losses: list[torch.Tensor] = []
        progress.start_epoch()
        clock = time.perf_counter
        for step, (lo, hi) in enumerate(bounds, 1):
            self.step = step
            xb, yb = xs[lo:hi], ys[lo:hi]
            if travel:
                xb = xb.to(device, non_blocking=True)
                yb = yb.to(device, non_blocking=True)
            if augment is not None:
                xb = augment(xb)
            if probe is not None and clock() >= probe.due:
                probe.arm()
                losses.append(step_once(net, model, (xb,), yb, loss_fn, optimizer, precision, clip))
                probe.finish(scaler)
            else:
                losses.append(step_once(net, model, (xb,), yb, loss_fn, optimizer, precision, clip))
            if after_step is not None:
                after_step()
            if clock() >= progress.due:
                progress.tick(step, losses)
        progress.collect(losses)

    def end_epoch(self) -> None:
        """Advance a per-epoch schedule."""
        if self.schedule is not None:
            self.schedule.after_epoch()

    @torch.no_grad()
    def evaluate(
        self,
        data: Split,
        batch_size: int,
        predict: Callable[[torch.Tensor], torch.Tensor],
        stop: Callable[[], bool] | None = None,
    ) -> tuple[float, float | None]:
        """Mean loss and accuracy (None without labels) of the model on `data`, in one sync.

        `stop` is asked about every STOP_CHECK_INTERVAL seconds; True raises StopRequested.
        """
        self.model.eval()
        mps = self.device.type == "mps"
        wide = torch.float32 if mps else torch.float64  # MPS has no float64
        total = torch.zeros(2, dtype=wide, device=self.device)
        due = time.perf_counter() + STOP_CHECK_INTERVAL
        for lo in range(0, len(data), batch_size):
            if stop is not None and time.perf_counter() >= due:
                if stop():
                    raise StopRequested
                due = time.perf_counter() + STOP_CHECK_INTERVAL
            out = self._output(data.x[lo : lo + batch_size])
            yb = data.y[lo : lo + batch_size].to(self.device)
            total[0] += self.loss_fn(out.float(), yb).to(wide) * len(yb)
            if data.labels is not None:
                labels = data.labels[lo : lo + batch_size].to(self.device)
                total[1] += (predict(out) == labels).sum()
        loss, correct = total.cpu().tolist()
        count = max(1, len(data))
        if data.labels is None:
            return loss / count, None
        return loss / count, correct / max(1, data.labels.numel())

    @torch.no_grad()
    def predictions(
        self,
        x: torch.Tensor,
        batch_size: int,
        predict: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """The predicted class of every sample of `x`."""
        self.model.eval()
        parts = [
            predict(self._output(x[lo : lo + batch_size]))
            for lo in range(0, len(x), batch_size)
        ]
        return (
            torch.cat(parts)
            if parts
            else torch.zeros(0, dtype=torch.long, device=self.device)
        )

    def _output(self, xb: torch.Tensor) -> torch.Tensor:
        xb = xb.to(self.device)
        with self.precision.autocast():
            return recipe.first_output(self.net(xb))


def evaluation_event(
    trainer: Trainer,
    data: Split,
    shown: np.ndarray | None,
    classes: tuple[str, ...],
    batch_size: int,
    predict: Callable[[torch.Tensor], torch.Tensor],
) -> dict[str, object]:
    """The confusion matrix of the model on `data` and its first predictions with their inputs.

    `shown` holds the samples to send (as the user knows them, before normalization), or None;
    an input of more than MAX_SAMPLE_VALUES numbers is left out of its sample.
    """
    assert data.labels is not None
    predicted = trainer.predictions(data.x, batch_size, predict)
    labels = data.labels.to(predicted.device)
    size = max(len(classes), int(predicted.max()) + 1 if len(predicted) else 0)
    confusion = torch.bincount(labels * size + predicted, minlength=size * size).view(
        size, size
    )
    count = min(EVALUATION_SAMPLES, len(data))
    small = (
        shown is not None and len(shown) >= count and shown[0].size <= MAX_SAMPLE_VALUES
    )
    inputs: list[object] = [None] * count
    if small and shown is not None:
        inputs = [
            np.round(shown[i].astype(np.float64), 4).tolist() for i in range(count)
        ]
    pairs = zip(labels[:count].tolist(), predicted[:count].tolist(), strict=True)
    return {
        "kind": "evaluation",
        "classes": list(classes),
        "confusion": confusion.cpu().tolist(),
        "accuracy": int(confusion.diagonal().sum()) / max(1, len(data)),
        "samples": [
            {"x": x, "label": label, "predicted": guess}
            for x, (label, guess) in zip(inputs, pairs, strict=True)
        ],
    }
