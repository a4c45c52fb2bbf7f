"""Which samples train and which validate, and the targets as each loss takes them (numpy only).

Imports nothing from studio and no torch: the trainer's datasets call it, and the exported
training script embeds this file verbatim, so both hold out the same samples.
"""

from __future__ import annotations

import numpy as np


def held_out_count(samples: int, fraction: float) -> int:
    """How many of `samples` the validation split holds: a share of at least one when it is not 0."""
    held = round(samples * fraction)
    if fraction > 0 and held == 0 and samples >= 2:
        held = 1
    return held


def split_indices(
    samples: int, held: int, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices: a seeded shuffle, stratified by class when `labels` are given."""
    order = np.random.default_rng(seed).permutation(samples)
    if labels is None or not held:
        return order[held:], order[:held]
    shuffled = labels[order]
    counts = np.bincount(shuffled)
    quota = counts * (held / samples)
    take = np.floor(quota).astype(np.int64)
    extra = np.argsort(-(quota - take), kind="stable")[: held - int(take.sum())]
    take[extra] += 1
    by_class = np.argsort(shuffled, kind="stable")
    rank = np.empty(samples, dtype=np.int64)
    rank[by_class] = np.arange(samples) - np.repeat(np.cumsum(counts) - counts, counts)
    in_validation = rank < take[shuffled]
    return order[~in_validation], order[in_validation]


def ordered_indices(samples: int, held: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices of samples in their order: the last `held` validate.

    For the windows of a text, which follow each other through it: no validation target is trained on.
    """
    order = np.arange(samples)
    return order[: samples - held], order[samples - held :]


def loss_targets(labels: np.ndarray, loss: str, output_shape: tuple[int, ...]) -> np.ndarray:
    """Class ids as the loss takes them: ids for cross_entropy, 0/1 or one-hot floats for bce_with_logits."""
    if loss == "cross_entropy":
        return labels
    if loss == "bce_with_logits" and tuple(output_shape) == (1,):
        return labels.astype(np.float32)[:, None]
    if loss == "bce_with_logits":
        return np.eye(output_shape[0], dtype=np.float32)[labels]
    return labels.astype(np.float32)
