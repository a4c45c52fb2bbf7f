"""Training data: built-in and file datasets, a seeded split, normalization and the check that data fits a network.

Works on numpy arrays only (no torch), so the editor and the CLI can load and check data cheaply.
A dataset is named by a spec: a built-in name (`builtin_names()`, always the built-in, even when a
file of that name exists: write "./digits" for the file) or the path of a file or folder, read by
`studio.train.data_files`. Every problem a user can cause (a missing or damaged file, data that
does not fit the network) is a `DatasetError` whose message names the dataset or the file and says
what would be valid.

NOTE: the samples are adapted to the network's Input when `load_dataset` is given its shape:
image samples (C×H×W) are resized to H×W and converted to C channels (1 grey, 3 RGB), channels-last
images are transposed, and samples with the same number of values are reshaped (8×8 → 64). Data
that still differs is left alone for `check_fits` to explain. The target "input" makes a dataset
reconstruct its own samples (an autoencoder's regression target); any other non-empty target names
a CSV column. Texts (the built-in 'alice', a .txt file for an Input of token ids) become windows
for language modelling (`studio.train.text_data`), cut to the Input's length.
"""

from __future__ import annotations

import difflib
import functools
import gzip
import hashlib
import io
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.graph.project import LOSSES, Project, project_from_dict, project_to_dict
from studio.train import data_files, text_data
from studio.train.dataset_record import (
    LANGUAGE_MODELLING,
    RECONSTRUCT,
    Dataset,
    DatasetError,
    format_shape,
)
from studio.train.samples import (
    held_out_count,
    loss_targets,
    ordered_indices,
    split_indices,
)

DIGITS_FILE = Path(__file__).resolve().parents[2] / "assets" / "datasets" / "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
SEQUENCE_LENGTH = 32  # tokens per sample unless the Input asks for another length
SEQUENCE_VOCABULARY = 16  # token ids 0..15: 0..7 are "low", 8..15 "high"
MAX_SEQUENCE_LENGTH = 4096
IMAGE_CHANNELS = (1, 3, 4)  # grey, RGB, RGBA: first dimensions that mark a C×H×W sample as an image
_NOT_BUILT_IN = {  # well-known datasets users may name, and how to get them
    "mnist": "download the MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz)",
    "fashion_mnist": "download the Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)",
    "fashion-mnist": "download the Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)",
    "cifar10": "download the CIFAR-10 python version (cifar-10-python.tar.gz) and unpack it",
    "cifar-10": "download the CIFAR-10 python version (cifar-10-python.tar.gz) and unpack it",
}


# ----- loading -----


def builtin_names() -> list[str]:
    """Names of the built-in datasets, in the order a chooser shows them."""
    return list(_BUILTINS)


def builtin_description(name: str) -> str:
    """What a built-in dataset holds, for a tooltip or `--help`."""
    return _BUILTINS[name][1]


def load_dataset(
    spec: str,
    *,
    input_shape: Sequence[int | None] | None = None,
    target: str = "",
    base_dir: Path | None = None,
    seed: int = 0,
    input_dtype: str | None = None,
) -> Dataset:
    """Load a built-in dataset or a file, adapted to the network's Input shape (and dtype) when given.

    Args:
        spec: a built-in name or a path (relative paths resolve against `base_dir`).
        input_shape: the Input's shape without the batch dimension (a leading None is dropped).
        target: a CSV column ('' = the last), or "input" to make the samples their own targets.
        seed: the seed of the generated built-ins (digits and files do not depend on it).
        input_dtype: the Input's dtype ("float32" or "int64" token ids); None keeps the data's own.
    Raises:
        DatasetError: unknown name, missing or damaged file, samples unusable for that dtype.
    """
    text = (spec or "").strip()
    if not text:
        raise DatasetError(
            f"No dataset is chosen: pick a built-in one ({', '.join(_BUILTINS)}) or give a data file or folder"
        )
    wanted = _plain_shape(input_shape)
    target = (target or "").strip()
    if text.lower() in _BUILTINS:
        name = text.lower()
        if target and target != RECONSTRUCT:
            raise DatasetError(
                f"The target '{target}' names a CSV column, but '{name}' is a built-in dataset: leave the target "
                f"empty (or set it to '{RECONSTRUCT}' to reconstruct the samples)"
            )
        dataset = _BUILTINS[name][0](seed, wanted)
        if target == RECONSTRUCT:
            dataset = replace(dataset, reconstruction=True)
    else:
        path = Path(text).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.exists():
            raise _unknown(text, path)
        if text_data.is_text_file(path) and text_data.wants_text(wanted, input_dtype):
            dataset = text_data.read_text_file(path, text, wanted)
        else:
            dataset = data_files.read_path(path, name=text, input_shape=wanted, target=target, input_dtype=input_dtype)
    if dataset.task == LANGUAGE_MODELLING:
        if target:
            raise DatasetError(
                f"The text '{dataset.name}' trains a language model: its targets are the next characters, so leave "
                f"the target empty (not '{target}')"
            )
        return dataset
    dataset = fit_to_input(dataset, wanted)
    dataset = _cast(dataset, input_dtype)
    if dataset.reconstruction:
        dataset = replace(dataset, y=dataset.x.astype(np.float32, copy=False), task="regression", classes=())
    return dataset


def _unknown(spec: str, path: Path) -> DatasetError:
    close = difflib.get_close_matches(spec.lower(), list(_BUILTINS), n=1)
    built_in = ", ".join(_BUILTINS)
    if spec.lower() in _NOT_BUILT_IN:
        hint = f"'{spec}' is not built in (nothing is downloaded): {_NOT_BUILT_IN[spec.lower()]} and give its path"
    elif close:
        hint = f"did you mean the built-in '{close[0]}'?"
    else:
        hint = f"the built-in datasets are {built_in}"
    return DatasetError(
        f"The dataset '{spec}' is neither a built-in dataset nor an existing file or folder ({path}): {hint}"
    )


def _cast(dataset: Dataset, input_dtype: str | None) -> Dataset:
    """Give the samples the Input's dtype: float32 data, or int64 token ids that must be whole numbers >= 0."""
    if input_dtype in (None, ""):
        return dataset
    if input_dtype == "float32":
        return dataset if dataset.x.dtype == np.float32 else replace(dataset, x=dataset.x.astype(np.float32))
    if input_dtype != "int64":
        raise DatasetError(f"The Input dtype '{input_dtype}' is unknown (valid: float32, int64)")
    x = dataset.x
    if x.size and not (np.all(np.isfinite(x)) and np.all(x == np.round(x)) and x.min() >= 0 and x.max() < 2**31):
        raise DatasetError(
            f"The network's Input takes int64 token ids, but the samples of '{dataset.name}' are not whole numbers "
            "from 0 up: set the Input's dtype to float32, or choose token data (such as the built-in 'sequence')"
        )
    return dataset if x.dtype == np.int64 else replace(dataset, x=x.astype(np.int64))


# ----- adapting samples to the Input -----


def fit_to_input(dataset: Dataset, input_shape: Sequence[int | None] | None) -> Dataset:
    """Resize/convert images, transpose channels-last images or reshape samples to `input_shape` where sensible."""
    wanted = _plain_shape(input_shape)
    have = dataset.sample_shape
    how = _adaptation(have, wanted)
    if how is None or wanted is None:
        return dataset
    x = dataset.x
    if how in ("resized", "converted"):
        channels = convert_channels(x, wanted[0])
        x = resize_images(channels, wanted[1], wanted[2]) if how == "resized" else channels  # type: ignore[arg-type]
    elif how == "transposed":
        x, how = np.ascontiguousarray(x.transpose(0, 3, 1, 2)), "transposed (channels last to first)"
    else:
        x = x.reshape((len(x), *wanted))
    return replace(dataset, x=x, note=f"{how} from {format_shape(have)} to {format_shape(wanted)}")


def _adaptation(have: tuple[int, ...], wanted: tuple[int, ...] | None) -> str | None:
    """How samples of shape `have` become `wanted`: resized, converted, transposed, reshaped; None if left as they are."""
    if wanted is None or have == wanted or any(d < 1 for d in wanted):
        return None
    if _is_image(have) and _is_image(wanted):
        if not _convertible(have[0], wanted[0]):
            return None
        return "resized" if have[1:] != wanted[1:] else "converted"
    if len(have) == 3 and have[2] == wanted[0] and have[:2] == wanted[1:] and wanted[0] in IMAGE_CHANNELS:
        return "transposed"
    if math.prod(have) == math.prod(wanted):
        return "reshaped"
    return None


def describe_feeding(have: tuple[int, ...], input_shape: Sequence[int | None] | None) -> str:
    """What the network is fed for samples of shape `have`: 'fed as 3×32×32 (resized, channels repeated)'; "" when unchanged."""
    wanted = _plain_shape(input_shape, unknown_ok=True)
    how = _adaptation(have, wanted)
    if wanted is None or have == wanted:
        return ""
    if how is None:
        return f"the Input takes {format_shape(wanted)}: these samples do not fit it"
    details = [how] if how != "converted" else []
    if how in ("resized", "converted") and have[0] != wanted[0]:
        details.append(_CHANNEL_CHANGES[(have[0], wanted[0])])
    if how == "transposed":
        details = ["channels last to first"]
    return f"fed as {format_shape(wanted)} ({', '.join(details)})"


_CHANNEL_CHANGES = {
    (1, 3): "channels repeated",
    (3, 1): "converted to grey",
    (4, 3): "alpha dropped",
    (4, 1): "alpha dropped, converted to grey",
}


def _convertible(have: int, wanted: int) -> bool:
    return have == wanted or (have, wanted) in _CHANNEL_CHANGES


def _is_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[0] in IMAGE_CHANNELS


def convert_channels(x: np.ndarray, channels: int) -> np.ndarray | None:
    """Images (N, C, H, W) with `channels` channels: grey to RGB, RGB to grey, alpha dropped; None if impossible."""
    have = x.shape[1]
    if have == channels:
        return x
    if have == 4:
        x, have = x[:, :3], 3
        if channels == 3:
            return np.ascontiguousarray(x)
    if have == 1 and channels == 3:
        return np.repeat(x, 3, axis=1)
    if have == 3 and channels == 1:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32).reshape(1, 3, 1, 1)
        return (x * weights).sum(axis=1, keepdims=True, dtype=np.float32)
    return None


def resize_images(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Images (N, C, H, W) resized to height×width by (antialiased when shrinking) linear interpolation."""
    rows, cols = (_resample_matrix(x.shape[2], height), _resample_matrix(x.shape[3], width).T)
    out = np.empty((x.shape[0], x.shape[1], height, width), dtype=np.float32)
    for start in range(0, len(x), 2048):  # bounded temporaries for large sets
        chunk = x[start : start + 2048].astype(np.float32, copy=False)
        out[start : start + 2048] = np.matmul(np.matmul(rows, chunk), cols)
    return out


def _resample_matrix(size_in: int, size_out: int) -> np.ndarray:
    scale = size_in / size_out
    support = max(scale, 1.0)
    centres = (np.arange(size_out) + 0.5) * scale - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(size_in)[None, :] - centres[:, None]) / support)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


# ----- built-in datasets -----


def _digits(seed: int, input_shape: tuple[int, ...] | None) -> Dataset:
    table = _digits_table()
    x = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    classes = tuple(str(i) for i in range(10))
    return Dataset("digits", x, y, "classification", classes, f"built-in: {DIGITS_FILE.name} (UCI optical digits)")


@functools.cache
def _digits_table() -> np.ndarray:
    """The 1,797×65 table of digits.csv.gz, checked against its recorded SHA-256."""
    where = f"The built-in dataset 'digits' ({DIGITS_FILE})"
    try:
        raw = DIGITS_FILE.read_bytes()
    except OSError as err:
        raise DatasetError(
            f"{where} cannot be read ({err.strerror or err}): restore assets/datasets/ from the repository"
        ) from None
    if hashlib.sha256(raw).hexdigest() != DIGITS_SHA256:
        raise DatasetError(
            f"{where} is damaged: its SHA-256 differs from the one recorded in assets/datasets/README.md; "
            "restore the file from the repository"
        )
    try:
        table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as err:  # pragma: no cover - the checksum matched
        raise DatasetError(f"{where} cannot be parsed: {err}") from None
    if table.shape != (1797, 65):  # pragma: no cover - the checksum matched
        raise DatasetError(f"{where} has shape {table.shape}, expected 1,797 rows of 65 values")
    table.flags.writeable = False
    return table


def _spirals(seed: int, input_shape: tuple[int, ...] | None, arms: int = 2, per_arm: int = 500) -> Dataset:
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for arm in range(arms):
        radius = np.sqrt(rng.uniform(0.0025, 1.0, per_arm))
        angle = radius * 3.5 * np.pi + arm * 2 * np.pi / arms + rng.normal(0.0, 0.08, per_arm)
        points.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        labels.append(np.full(per_arm, arm))
    classes = tuple(f"arm {i}" for i in range(arms))
    return _shuffled(rng, "spirals", np.concatenate(points), np.concatenate(labels), classes, "two interleaved spirals")


def _moons(seed: int, input_shape: tuple[int, ...] | None, per_moon: int = 500) -> Dataset:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, np.pi, (2, per_moon))
    upper = np.stack([np.cos(t[0]), np.sin(t[0])], axis=1)
    lower = np.stack([1.0 - np.cos(t[1]), 0.5 - np.sin(t[1])], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, 0.1, (2 * per_moon, 2))
    y = np.repeat([0, 1], per_moon)
    return _shuffled(rng, "moons", x, y, ("upper", "lower"), "two interleaving half circles")


def _blobs(seed: int, input_shape: tuple[int, ...] | None, per_blob: int = 250) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = np.array([[-2.0, -2.0], [-2.0, 2.0], [2.0, -2.0], [2.0, 2.0]])
    x = np.concatenate([c + rng.normal(0.0, 0.9, (per_blob, 2)) for c in centres])
    y = np.repeat(np.arange(len(centres)), per_blob)
    classes = tuple(f"blob {i}" for i in range(len(centres)))
    return _shuffled(rng, "blobs", x, y, classes, "four Gaussian blobs")


def _shuffled(
    rng: np.random.Generator, name: str, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...], what: str
) -> Dataset:
    order = rng.permutation(len(x))
    xs, ys = x[order].astype(np.float32), y[order].astype(np.int64)
    return Dataset(name, xs, ys, "classification", classes, f"built-in: {what}, generated from the seed")


def _sine(seed: int, input_shape: tuple[int, ...] | None, samples: int = 1000) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2 * np.pi, 2 * np.pi, (samples, 1))
    y = np.sin(x) + rng.normal(0.0, 0.05, (samples, 1))
    source = "built-in: y = sin(x) + noise, generated from the seed"
    return Dataset("sine", x.astype(np.float32), y.astype(np.float32), "regression", (), source)


def _sequence(seed: int, input_shape: tuple[int, ...] | None, samples: int = 2000) -> Dataset:
    """Token sequences labelled by which half of the vocabulary ("low" 0..7 or "high" 8..15) has more tokens."""
    length = SEQUENCE_LENGTH
    if input_shape is not None and len(input_shape) == 1 and 2 <= input_shape[0] <= MAX_SEQUENCE_LENGTH:
        length = input_shape[0]
    rng = np.random.default_rng(seed)
    half = SEQUENCE_VOCABULARY // 2
    drawn = rng.integers(0, 2, samples)
    high = rng.random((samples, length)) < np.where(drawn == 1, 0.65, 0.35)[:, None]
    x = rng.integers(0, half, (samples, length)) + half * high
    count = high.sum(axis=1)
    y = np.where(2 * count == length, drawn, (2 * count > length).astype(np.int64))
    source = f"built-in: {length} tokens of {SEQUENCE_VOCABULARY}, is the low or the high half more common"
    return Dataset("sequence", x.astype(np.int64), y.astype(np.int64), "classification", ("low", "high"), source)


_BUILTINS: dict[str, tuple[Callable[[int, tuple[int, ...] | None], Dataset], str]] = {
    "digits": (_digits, "1,797 handwritten digits, 1×8×8 grey images in [0, 1], 10 classes (UCI)"),
    "spirals": (_spirals, "1,000 2-D points on two interleaved spirals, 2 classes"),
    "moons": (_moons, "1,000 2-D points on two interleaving half circles, 2 classes"),
    "blobs": (_blobs, "1,000 2-D points in four Gaussian blobs, 4 classes"),
    "sine": (_sine, "1,000 values x in [-2π, 2π] with targets sin(x) + noise, regression"),
    "sequence": (_sequence, "2,000 sequences of 32 token ids (0-15), 2 classes: do low or high tokens dominate"),
    "alice": (
        lambda seed, shape: text_data.alice(shape),
        "Alice's Adventures in Wonderland, chapters I-VI (71,000 characters): language modelling, next character",
    ),
}


# ----- splitting -----


def split(dataset: Dataset, validation_split: float, seed: int) -> tuple[Dataset, Dataset]:
    """Seeded train/validation split, stratified by class for classification; 0 gives an empty validation set.

    A text's windows are split by their place in it: the last ones validate.
    """
    if not 0.0 <= validation_split < 1.0:
        raise DatasetError(f"The validation split must be at least 0 and below 1, not {validation_split}")
    total = len(dataset)
    held = held_out_count(total, validation_split)
    if total - held < 1:
        raise DatasetError(
            f"The dataset '{dataset.name}' has {total} samples: too few to hold {validation_split:.0%} out for validation"
        )
    if dataset.task == LANGUAGE_MODELLING:
        train, validation = ordered_indices(total, held)
        return dataset.subset(train), dataset.subset(validation)
    labels = dataset.y if dataset.task == "classification" and dataset.num_classes else None
    train, validation = split_indices(total, held, seed, labels)
    return dataset.subset(train), dataset.subset(validation)


# ----- checking that the data fits the network -----


def check_fits(
    dataset: Dataset,
    input_shape: Sequence[int | None],
    output_shape: Sequence[int | None],
    loss: str,
    *,
    input_name: str = "",
    output_name: str = "",
    input_dtype: str | None = None,
    tables: Sequence[tuple[str, int]] = (),
) -> None:
    """Raise DatasetError, naming both sides, unless the dataset's samples and targets fit the network and loss.

    `tables` are the (name, num_embeddings) of the Embeddings the Input feeds: token ids must stay below.
    """
    data = f"The dataset '{dataset.name}'"
    inp = f"the network's Input '{input_name}'" if input_name else "the network's Input"
    out = f"the network's Output '{output_name}'" if output_name else "the network's Output"
    have_in, have_out = (_plain_shape(input_shape, unknown_ok=True), _plain_shape(output_shape, unknown_ok=True))
    if have_in is None or have_out is None or not all(have_in) or not all(have_out):
        raise DatasetError(
            "The network's input or output shape is not known: fix the problems shown in the editor first"
        )
    if len(dataset) == 0:
        raise DatasetError(f"{data} has no samples")
    if dataset.task == LANGUAGE_MODELLING:
        text_data.check_text_fits(dataset, have_in, have_out, loss, input_dtype, tables, inp, out)
        return
    if dataset.sample_shape != have_in:
        if math.prod(dataset.sample_shape) == math.prod(have_in):
            hint = f"the same number of values in another arrangement: set the Input's shape to {format_shape(dataset.sample_shape)}"
        else:
            hint = f"set the Input's shape to {format_shape(dataset.sample_shape)} or choose a dataset whose samples fit"
        raise DatasetError(
            f"{data} has samples of shape {format_shape(dataset.sample_shape)} but {inp} expects {format_shape(have_in)}: {hint}"
        )
    if input_dtype == "int64" and not dataset.token_ids:
        raise DatasetError(
            f"{data} has float samples but {inp} takes int64 token ids: set the Input's dtype to float32, "
            "or choose token data (such as the built-in 'sequence')"
        )
    if dataset.token_ids:
        text_data.check_tables(dataset, tables, data)
    if loss not in LOSSES:
        raise DatasetError(f"The loss '{loss}' is unknown (valid: {', '.join(LOSSES)})")
    if loss == "cross_entropy":
        _check_classes(dataset, have_out, data, out)
    elif loss == "bce_with_logits":
        _check_binary(dataset, have_out, data, out)
    else:
        _check_regression(dataset, have_out, loss, data, out)


def _check_classes(dataset: Dataset, out_shape: tuple[int, ...], data: str, out: str) -> None:
    if dataset.task != "classification":
        raise DatasetError(
            f"The loss cross_entropy needs class labels, but the dataset '{dataset.name}' is a regression task "
            f"(targets of shape {format_shape(dataset.target_shape)}): use the loss mse or l1"
        )
    k = dataset.num_classes
    if len(out_shape) != 1:
        raise DatasetError(
            f"{data} has {k} classes but {out} gives a tensor of shape {format_shape(out_shape)} per sample: cross_entropy "
            f"needs one score per class (shape {k}); flatten or pool before a last Linear with out_features {k}"
        )
    if out_shape[0] != k:
        raise DatasetError(
            f"{data} has {k} classes but {out} gives {out_shape[0]} values per sample: "
            f"make the last layer produce {k} (for example a Linear with out_features {k})"
        )


def _check_binary(dataset: Dataset, out_shape: tuple[int, ...], data: str, out: str) -> None:
    if dataset.task == "classification":
        k = dataset.num_classes
        if out_shape == (k,) or (k == 2 and out_shape == (1,)):
            return
        wanted = "1 value (the logit of the second class) or 2" if k == 2 else f"{k} values (one per class)"
        raise DatasetError(f"{data} has {k} classes but {out} gives {format_shape(out_shape)}: bce_with_logits needs {wanted}")
    if dataset.target_shape != out_shape:
        raise DatasetError(
            f"{data} has targets of shape {format_shape(dataset.target_shape)} but {out} gives {format_shape(out_shape)}"
        )
    low, high = float(dataset.y.min()), float(dataset.y.max())
    if low < 0.0 or high > 1.0:
        raise DatasetError(
            f"{data} has targets from {low:g} to {high:g}, but bce_with_logits needs targets between 0 and 1 "
            "(probabilities or 0/1 labels): use the loss mse or l1"
        )


def _check_regression(dataset: Dataset, out_shape: tuple[int, ...], loss: str, data: str, out: str) -> None:
    if dataset.task == "classification":
        hint = "use the loss cross_entropy"
        if out_shape == dataset.sample_shape:
            hint += f", or for an autoencoder set the training target to '{RECONSTRUCT}' so the samples are their own targets"
        raise DatasetError(
            f"{data} is a classification task ({dataset.num_classes} classes) but the loss {loss} needs numeric targets: {hint}"
        )
    if dataset.target_shape != out_shape:
        raise DatasetError(
            f"{data} has targets of shape {format_shape(dataset.target_shape)} but {out} gives {format_shape(out_shape)} per sample: "
            f"make the last layer produce {format_shape(dataset.target_shape)}"
        )


def targets_for_loss(dataset: Dataset, loss: str, output_shape: Sequence[int | None]) -> np.ndarray:
    """The targets as the loss takes them: class ids for cross_entropy, float (one-hot or 0/1) for bce_with_logits.

    A text's targets are the next token ids at every position, as they are.
    """
    if dataset.task != "classification":
        return dataset.y
    return loss_targets(dataset.y, loss, _plain_shape(output_shape, unknown_ok=True) or ())


# ----- normalization -----


@dataclass(frozen=True, eq=False)
class Normalizer:
    """Standardizes samples with statistics of the training split: per channel for images, else per feature.

    `mean`/`std` broadcast against one sample; None means no change (token ids are never normalized).
    """

    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def fit(cls, train: Dataset) -> Normalizer:
        """Statistics of `train` (the training split only, so validation data stays unseen)."""
        if train.token_ids or len(train) == 0:
            return cls()
        x = train.x
        rank = x.ndim - 1
        axes = (0,) if rank == 1 else (0, 1) if rank == 2 else (0, *range(2, x.ndim))
        count = x.size // math.prod(x.shape[a] for a in range(x.ndim) if a not in axes)
        total = np.zeros([1 if a in axes else x.shape[a] for a in range(x.ndim)], dtype=np.float64)
        squares = np.zeros_like(total)
        for start in range(0, len(x), 4096):
            chunk = x[start : start + 4096].astype(np.float64)
            total += chunk.sum(axis=axes, keepdims=True)
        mean = total / count
        for start in range(0, len(x), 4096):
            chunk = x[start : start + 4096].astype(np.float64) - mean
            squares += (chunk * chunk).sum(axis=axes, keepdims=True)
        std = np.sqrt(squares / count)
        std = np.where(std < 1e-6, 1.0, std)  # constant features (a blank image border) pass through centred
        return cls(mean[0].astype(np.float32), std[0].astype(np.float32))

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Samples (N, *sample_shape) standardized; token ids and an unfitted normalizer leave them as they are."""
        if self.mean is None or self.std is None or x.dtype.kind in "iu":
            return x
        return ((x - self.mean) / self.std).astype(np.float32, copy=False)

    def apply(self, dataset: Dataset) -> Dataset:
        """The dataset with standardized samples (and targets, when it reconstructs its samples)."""
        if self.mean is None or dataset.token_ids:
            return dataset
        x = self.normalize(dataset.x)
        return replace(dataset, x=x, y=x if dataset.reconstruction else dataset.y)

    @classmethod
    def from_values(cls, mean: tuple[float, ...], std: tuple[float, ...], sample_shape: tuple[int, ...]) -> Normalizer:
        """The normalizer of an Input's mean and std (one value, or one per channel or feature; none: unfitted)."""
        if not mean or not std:
            return cls()
        rank = len(sample_shape)
        size = sample_shape[0] if rank != 2 else sample_shape[1]
        shape = (size,) if rank == 1 else (1, size) if rank == 2 else (size, *([1] * (rank - 1)))
        arrays = (np.broadcast_to(np.asarray(v, np.float32), (size,)).reshape(shape) for v in (mean, std))
        return cls(*arrays)

    def values(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The mean and std as an Input stores them (float32 values, shortest form); empty when unfitted."""
        if self.mean is None or self.std is None:
            return (), ()
        return tuple(_shortest(v) for v in self.mean.ravel()), tuple(_shortest(v) for v in self.std.ravel())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready statistics (for a run's config, so predictions can be made the same way)."""
        if self.mean is None or self.std is None:
            return {"mean": None, "std": None, "shape": None}
        return {"mean": self.mean.ravel().tolist(), "std": self.std.ravel().tolist(), "shape": list(self.mean.shape)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        """The normalizer `to_dict` described."""
        if data.get("mean") is None:
            return cls()
        shape = tuple(data["shape"])
        return cls(
            np.asarray(data["mean"], np.float32).reshape(shape), np.asarray(data["std"], np.float32).reshape(shape)
        )


def with_standardization(project: Project, normalizer: Normalizer) -> Project:
    """A copy of `project` whose Input standardizes with `normalizer` (cleared when it is unfitted)."""
    copy = project_from_dict(project_to_dict(project))
    mean, std = normalizer.values()
    for node in copy.graph.nodes.values():
        if node.type == "Input":
            copy.graph.set_param(node.id, "mean", mean)
            copy.graph.set_param(node.id, "std", std)
    return copy


# ----- helpers -----


def _shortest(value: np.floating) -> float:
    """A float32 as the shortest decimal that reads back to it (0.1, not 0.10000000149011612)."""
    return float(str(np.float32(value)))


def _plain_shape(shape: Sequence[int | None] | None, unknown_ok: bool = False) -> tuple[int, ...] | None:
    """A network shape without the batch dimension: a leading None (the batch) is dropped."""
    if shape is None:
        return None
    dims = list(shape)
    if dims and dims[0] is None:
        dims = dims[1:]
    if any(d is None for d in dims):
        if unknown_ok:
            return None
        raise DatasetError(f"The Input shape {tuple(shape)} has unknown dimensions")
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]
