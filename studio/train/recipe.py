"""The training recipe: loss, optimizer, schedule, precision, clipping, augmentation, shuffling, early stopping.

Language modelling (the task "language_modelling") scores the next token at every position of
a window: cross-entropy over all positions, accuracy per token, and samples drawn one token at
a time from a prompt (`generate_tokens`).

Plain torch, importing nothing from studio: the trainer imports it and the exported training
script embeds this file verbatim, so both train with the same code.

Schedules:
- ``constant``: the learning rate never changes.
- ``step``: multiplied by 0.1 after half of the epochs and again after three quarters of them
  (per epoch; 10 epochs: epochs 1-5 at lr, 6-7 at lr/10, 8-10 at lr/100).
- ``cosine``: cosine annealing from lr to 0 over all the steps of the run (per step).
- ``onecycle``: torch's OneCycleLR with max_lr = lr over all the steps (per step); momentum is
  left as set, only the learning rate cycles.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn

LOSSES: dict[str, type[nn.Module]] = {
    "cross_entropy": nn.CrossEntropyLoss,
    "mse": nn.MSELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
    "l1": nn.L1Loss,
}
CLASSIFICATION_LOSSES = ("cross_entropy", "bce_with_logits")
STEP_FACTOR = 0.1
PER_STEP_SCHEDULES = ("cosine", "onecycle")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
EPOCH_SEED_STRIDE = 1_000_003
SHUFFLE_SALT = 0x5DEECE66D
LANGUAGE_MODELLING = "language_modelling"
SAMPLE_TEMPERATURE = 0.8
SAMPLE_TOKENS = 300  # tokens a language model writes after its prompt at the end of each epoch


class TokenCrossEntropy(nn.Module):
    """Cross-entropy of (N, T, V) scores against (N, T) token ids, averaged over every position."""

    def forward(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(scores.flatten(0, -2), target.flatten())


def make_loss(name: str, task: str = "") -> nn.Module:
    """The loss module named by the settings (mean over the batch; over every token for language modelling)."""
    if task == LANGUAGE_MODELLING:
        return TokenCrossEntropy()
    return LOSSES[name]()


def make_optimizer(
    name: str,
    parameters: Sequence[nn.Parameter],
    lr: float,
    weight_decay: float,
    momentum: float,
    device: torch.device,
) -> torch.optim.Optimizer:
    """The optimizer named by the settings; Adam and AdamW use their fused kernels on CUDA."""
    fused = {"fused": True} if device.type == "cuda" else {}
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, **fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, **fused)


def step_milestones(epochs: int) -> list[int]:
    """The epochs after which the ``step`` schedule multiplies the learning rate by 0.1."""
    return sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})


class Schedule:
    """The learning-rate schedule named by the settings, advanced after each step or each epoch."""

    def __init__(
        self, name: str, optimizer: torch.optim.Optimizer, lr: float, epochs: int, steps_per_epoch: int
    ) -> None:
        sched = torch.optim.lr_scheduler
        total = max(1, epochs * steps_per_epoch)
        self.steps_per_epoch = steps_per_epoch
        self.per_step = name in PER_STEP_SCHEDULES
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        if name == "step":
            self.scheduler = sched.MultiStepLR(optimizer, step_milestones(epochs), gamma=STEP_FACTOR)
        elif name == "cosine":
            self.scheduler = sched.CosineAnnealingLR(optimizer, T_max=total)
        elif name == "onecycle":
            self.scheduler = sched.OneCycleLR(optimizer, max_lr=lr, total_steps=total, cycle_momentum=False)

    def after_step(self) -> None:
        """Advance a per-step schedule."""
        if self.per_step and self.scheduler is not None:
            self.scheduler.step()

    def after_epoch(self) -> None:
        """Advance a per-epoch schedule."""
        if not self.per_step and self.scheduler is not None:
            self.scheduler.step()

    def skip_epochs(self, epochs: int) -> None:
        """Advance a fresh schedule past `epochs` epochs, as a resumed run continues where it left off."""
        if self.scheduler is None:
            return
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": on purpose here
            warnings.simplefilter("ignore")
            for _ in range(epochs * (self.steps_per_epoch if self.per_step else 1)):
                self.scheduler.step()


def precision_on(name: str, device: torch.device) -> str:
    """The precision a run uses: mixed precision on CUDA only, fp32 elsewhere."""
    return name if device.type == "cuda" else "fp32"


class Precision:
    """Autocast to bf16 or fp16 (fp16 with gradient scaling), or plain fp32."""

    def __init__(self, name: str, device: torch.device) -> None:
        self.dtype = AUTOCAST_DTYPES.get(name)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self) -> AbstractContextManager[object]:
        """The context the forward pass and the loss run in."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def first_output(out: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The output the loss is computed on: the first, when the network has several."""
    return out[0] if isinstance(out, tuple) else out


def train_step(
    net: nn.Module,
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    target: torch.Tensor,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    grad_clip: float,
) -> torch.Tensor:
    """One optimizer step on a batch; returns its loss, still on the device (reading it would sync).

    `net` runs the batch (the model, or a compiled or data-parallel wrapper of it); the gradient
    norm of `model`'s parameters is clipped to `grad_clip` unless it is 0.
    """
    with precision.autocast():
        loss = loss_fn(first_output(net(*inputs)), target)
    optimizer.zero_grad(set_to_none=True)
    scaler = precision.scaler
    if scaler is None:
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        if grad_clip:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


def maybe_compile(model: nn.Module, enabled: bool, device: torch.device) -> nn.Module:
    """The model compiled with torch.compile when asked for and on CUDA, else the model itself."""
    return torch.compile(model) if enabled and device.type == "cuda" else model


def augmenter(
    enabled: bool, sample_shape: Sequence[int], dtype: torch.dtype
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Random crops (zero padding of 1/8 of the side, at least 1) and horizontal flips of (C, H, W) float images.

    None when augmentation is off or the samples are not images (token ids, vectors, sequences).
    """
    if not enabled or not dtype.is_floating_point or len(sample_shape) != 3:
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
        index = (rows * padded_width + cols).view(batch, 1, height * width).expand(batch, channels, -1)
        cropped = padded.gather(2, index).view(batch, channels, height, width)
        flip = torch.rand(batch, 1, 1, 1, device=x.device) < 0.5
        return torch.where(flip, cropped.flip(3), cropped)

    return augment


def epoch_order(samples: int, seed: int, epoch: int) -> torch.Tensor:
    """Seed dropout and augmentation from (seed, epoch) alone and return the epoch's shuffle of the samples.

    So a run resumed at epoch k draws exactly what the uninterrupted run drew there.
    """
    epoch_seed = (seed * EPOCH_SEED_STRIDE + epoch) % 2**63
    torch.manual_seed(epoch_seed)
    generator = torch.Generator().manual_seed(epoch_seed ^ SHUFFLE_SALT)
    return torch.randperm(samples, generator=generator)


def batch_bounds(samples: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, end) of each training batch; a final batch of one sample is skipped.

    One sample cannot train BatchNorm; shuffling makes it a different sample each epoch.
    """
    bounds = [(lo, min(lo + batch_size, samples)) for lo in range(0, samples, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds.pop()
    return bounds


def class_predictor(loss: str, task: str = "") -> Callable[[torch.Tensor], torch.Tensor]:
    """How a classifier's output becomes class ids: argmax over classes, or a threshold on one output.

    A language model's output becomes the likeliest token at every position.
    """
    if task == LANGUAGE_MODELLING:
        return lambda out: out.argmax(-1)
    threshold = 0.0 if loss in CLASSIFICATION_LOSSES else 0.5

    def predict(out: torch.Tensor) -> torch.Tensor:
        if out.dim() >= 2 and out.shape[1] == 1:
            return (out[:, 0] > threshold).long()
        return out.argmax(1)

    return predict


class EarlyStopping:
    """The best epoch's score (validation loss, else training loss), and when to stop without a better one."""

    def __init__(
        self, patience: int, best: float = math.inf, best_epoch: int | None = None, bad_epochs: int = 0
    ) -> None:
        self.patience = patience  # epochs without a better score before stopping; 0: never stop
        self.best = best
        self.best_epoch = best_epoch
        self.bad_epochs = bad_epochs

    def update(self, score: float, epoch: int) -> bool:
        """Record an epoch's score; True when it is the best so far."""
        if score >= self.best:
            self.bad_epochs += 1
            return False
        self.best, self.best_epoch, self.bad_epochs = score, epoch, 0
        return True

    @property
    def should_stop(self) -> bool:
        """Whether `patience` epochs in a row brought no better score."""
        return bool(self.patience) and self.bad_epochs >= self.patience


@torch.inference_mode()
def generate_tokens(
    model: nn.Module,
    prompt: Sequence[int],
    count: int,
    window: int,
    vocabulary: int,
    seed: int,
    temperature: float = SAMPLE_TEMPERATURE,
) -> list[int]:
    """`count` token ids drawn one at a time after `prompt` (temperature 0: always the likeliest).

    The model reads windows of `window` tokens: the newest ones, from the window's first
    position on, so a causal model's score at the last of them predicts the next; the positions
    after them hold token 0 and cannot matter to it. Only the first `vocabulary` scores are drawn
    from. The seed makes the draws repeat; the global random state is left alone.
    """
    if not prompt:
        raise ValueError("the prompt needs at least one token")
    was_training = model.training
    model.eval()
    device = next(iter(model.parameters())).device
    generator = torch.Generator().manual_seed(seed)
    tokens = [int(t) for t in prompt]
    batch = torch.zeros(1, window, dtype=torch.long, device=device)
    try:
        for _ in range(count):
            context = tokens[-window:]
            batch.zero_()
            batch[0, : len(context)] = torch.tensor(context, dtype=torch.long)
            scores = first_output(model(batch))[0, len(context) - 1, :vocabulary].float().cpu()
            if temperature <= 0:
                tokens.append(int(scores.argmax()))
            else:
                weights = torch.softmax(scores / temperature, dim=-1)
                tokens.append(int(torch.multinomial(weights, 1, generator=generator)))
    finally:
        model.train(was_training)
    return tokens[len(prompt) :]
