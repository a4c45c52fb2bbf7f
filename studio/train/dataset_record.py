"""The Dataset record every loader returns, and the DatasetError every loader raises (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

LANGUAGE_MODELLING = "language_modelling"
TASKS = ("classification", "regression", LANGUAGE_MODELLING)
RECONSTRUCT = "input"  # the target that makes the samples their own targets (autoencoders)


class DatasetError(Exception):
    """Data that cannot be loaded or does not fit the network; the message names it and what would be valid."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples and targets of one task.

    `x` is float32 (N, *sample_shape), or int64 when the samples are token ids (for an Embedding).
    `y` is int64 (N,) class ids for classification, float32 (N, *target_shape) for regression.
    For language modelling `x` holds windows of a text as int64 token ids (N, T), `y` the same
    windows one token later, `classes` the vocabulary (the character of each token id) and
    `prompt` the opening that samples of the trained model continue.
    `reconstruction` marks a dataset whose targets are its own samples (normalized with them);
    `note` says how the samples were adapted to the network's Input ("" when they were not).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    task: str
    classes: tuple[str, ...] = ()
    source: str = ""
    reconstruction: bool = False
    note: str = ""
    prompt: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DatasetError(
                f"The dataset '{self.name}' has an unknown task '{self.task}' (valid: {', '.join(TASKS)})"
            )
        if self.x.ndim < 2 or len(self.x) != len(self.y):
            raise DatasetError(
                f"The dataset '{self.name}' needs one target per sample and samples of at least one value; "
                f"it has x of shape {self.x.shape} and y of shape {self.y.shape}"
            )
        if self.task == LANGUAGE_MODELLING and (self.x.ndim != 2 or self.y.shape != self.x.shape):
            raise DatasetError(
                f"The text '{self.name}' needs windows of token ids and the same windows one token later; "
                f"it has x of shape {self.x.shape} and y of shape {self.y.shape}"
            )

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def target_shape(self) -> tuple[int, ...]:
        """Shape of one target: () for class ids."""
        return tuple(int(d) for d in self.y.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of classes; 0 for regression."""
        return len(self.classes)

    @property
    def token_ids(self) -> bool:
        """True when the samples are integer token ids (never normalized; for an int64 Input)."""
        return self.x.dtype.kind in "iu"

    @property
    def vocabulary(self) -> int:
        """One more than the largest token id (what an Embedding's num_embeddings must reach); 0 for other data.

        A text's vocabulary is every character it holds, whichever of them the windows use.
        """
        if self.task == LANGUAGE_MODELLING:
            return len(self.classes)
        return int(self.x.max()) + 1 if self.token_ids and self.x.size else 0

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, indices: np.ndarray) -> Dataset:
        """The samples at `indices`, in that order."""
        return replace(self, x=self.x[indices], y=self.y[indices])

    def describe(self) -> str:
        """One line for people: '1,797 samples of 1×8×8, 10 classes'."""
        what = (
            f"{self.num_classes} classes"
            if self.task == "classification"
            else f"targets of shape {format_shape(self.target_shape)}"
        )
        if self.reconstruction:
            what = "reconstructing its samples"
        if self.task == LANGUAGE_MODELLING:
            length = self.sample_shape[0] if self.sample_shape else 0
            return f"{len(self):,} windows of {length} characters, a vocabulary of {len(self.classes)} characters"
        return f"{len(self):,} samples of {format_shape(self.sample_shape)}, {what}"


def format_shape(shape: Sequence[int]) -> str:
    """A sample shape the way the messages show it: 1×8×8 (a scalar is 'a single value')."""
    return "×".join(str(d) for d in shape) if len(shape) else "a single value"
