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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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


def batch_bounds(samples: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, end) of each training batch; a final batch of one sample is skipped.

    One sample cannot train BatchNorm; shuffling makes it a different sample each epoch.
    """
    bounds = [
        (lo, min(lo + batch_size, samples)) for lo in range(0, samples, batch_size)
    ]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds.pop()
    return bounds


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
    """One model's training steps and evaluation, with the chosen loss, optimizer and precision."""

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
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.per_step_schedule = False
        self.device = device
        self.grad_clip = grad_clip
        self.augment = augment
        self.step = 0  # the step in progress (1-based), for messages
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.autocast: Callable[[], AbstractContextManager[object]] = nullcontext
        if dtype is not None:
            self.autocast = lambda: torch.autocast(device.type, dtype=dtype)
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def set_schedule(
        self, scheduler: torch.optim.lr_scheduler.LRScheduler | None, per_step: bool
    ) -> None:
        """Use a learning-rate schedule, stepped after every step or else after every epoch."""
        self.scheduler = scheduler
        self.per_step_schedule = per_step and scheduler is not None

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
        xs, ys = data.x[order], data.y[order]
        # data too big for the GPU stays on the host: batches are copied over
        travel = xs.device != self.device
        net, loss_fn, optimizer = self.net, self.loss_fn, self.optimizer
        scheduler, per_step = self.scheduler, self.per_step_schedule
        augment, autocast, device = self.augment, self.autocast, self.device
        plain = self.scaler is None and not self.grad_clip
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
            with autocast():
                out = net(xb)
                if isinstance(out, tuple):
                    out = out[0]
                loss = loss_fn(out, yb)
            optimizer.zero_grad(set_to_none=True)
            if plain:
                loss.backward()
                optimizer.step()
            else:
                self._careful_step(loss)
            if per_step:
                scheduler.step()  # type: ignore[union-attr]
            losses.append(loss.detach())
            if clock() >= progress.due:
                progress.tick(step, losses)
        progress.collect(losses)

    def _careful_step(self, loss: torch.Tensor) -> None:
        """Backward and step with gradient scaling (fp16) and/or clipping."""
        scaler = self.scaler
        if scaler is None:
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
            return
        scaler.scale(loss).backward()
        if self.grad_clip:
            scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        scaler.step(self.optimizer)
        scaler.update()

    def end_epoch(self) -> None:
        """Advance a per-epoch schedule."""
        if self.scheduler is not None and not self.per_step_schedule:
            self.scheduler.step()

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
        with self.autocast():
            out = self.net(xb)
        return out[0] if isinstance(out, tuple) else out


def class_predictor(loss: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """How a classifier's output becomes class ids: argmax over classes, or a threshold on one output."""
    threshold = 0.0 if loss in ("cross_entropy", "bce_with_logits") else 0.5

    def predict(out: torch.Tensor) -> torch.Tensor:
        if out.dim() >= 2 and out.shape[1] == 1:
            return (out[:, 0] > threshold).long()
        return out.argmax(1)

    return predict


def image_augmenter(sample_shape: tuple[int, ...]) -> Batch | None:
    """Random crops (zero padding of 1/8 of the side, at least 1) and horizontal flips of (C, H, W) images."""
    if len(sample_shape) != 3:
        return None
    _, height, width = sample_shape
    pad = max(1, min(height, width) // 8)
    padded_width = width + 2 * pad

    def augment(x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[0], x.shape[1]
        padded = F.pad(x, (pad, pad, pad, pad)).flatten(2)
        dy = torch.randint(0, 2 * pad + 1, (batch, 1, 1), device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (batch, 1, 1), device=x.device)
        rows = torch.arange(height, device=x.device).view(1, height, 1) + dy
        cols = torch.arange(width, device=x.device).view(1, 1, width) + dx
        index = (
            (rows * padded_width + cols)
            .view(batch, 1, height * width)
            .expand(batch, channels, -1)
        )
        cropped = padded.gather(2, index).view(batch, channels, height, width)
        flip = torch.rand(batch, 1, 1, 1, device=x.device) < 0.5
        return torch.where(flip, cropped.flip(3), cropped)

    return augment


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
