"""Text for language modelling: the built-in 'alice' and a user's .txt file, as windows of character ids (numpy only).

A text becomes a dataset of windows: its characters, sorted, are the vocabulary (token id i is
the i-th character), and the text is cut into windows of T ids, T the length of the network's
Input; each window's target is the same window one character later. Windows follow each other
through the text without overlapping, so holding out the last ones for validation keeps every
validation target out of training (`samples.ordered_indices`).

A `.txt` file is read as text when the network's Input takes token ids (int64) of one
dimension; otherwise it stays a CSV table (`data_files`).
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.graph.regular_files import read_or_refuse
from studio.train.dataset_record import (
    LANGUAGE_MODELLING,
    Dataset,
    DatasetError,
    format_shape,
)

ALICE_FILE = Path(__file__).resolve().parents[2] / "assets" / "datasets" / "alice.txt"
ALICE_SHA256 = "a34abc0f872fcdf1c24030f7efe4790c492f931e191106aa6947a5e6079e48f3"
ALICE_PROMPT = 'The Rabbit looked at Alice and said, "'
TEXT_SUFFIXES = (".txt",)
WINDOW = 64  # characters per window when the network does not say
PROMPT_CHARACTERS = 24  # a user's text: its opening words, at most this long, prompt the samples
MAX_TEXT_BYTES = 64 * 2**20
CONTROL_SHARE = 0.01  # more control characters than this (besides line breaks and tabs): not text
_LAYOUT = frozenset("\n\t\f\v")


def wants_text(input_shape: Sequence[int] | None, input_dtype: str | None) -> bool:
    """Whether a .txt file feeds this Input as text: token ids (int64) in one dimension."""
    return input_dtype == "int64" and input_shape is not None and len(input_shape) == 1


def is_text_file(path: Path) -> bool:
    """Whether the path names a plain-text file (by its suffix)."""
    return path.is_file() and path.suffix.lower() in TEXT_SUFFIXES


def window_length(input_shape: Sequence[int] | None) -> int:
    """The characters per window: the Input's length when it has one dimension, else WINDOW."""
    if input_shape is not None and len(input_shape) == 1 and input_shape[0] >= 1:
        return int(input_shape[0])
    return WINDOW


def alice(input_shape: Sequence[int] | None) -> Dataset:
    """Chapters I to VI of Alice's Adventures in Wonderland, in windows of the Input's length."""
    source = f"built-in: {ALICE_FILE.name}, Lewis Carroll (1865), chapters I-VI, public domain"
    return text_dataset(_alice_text(), "alice", source, window_length(input_shape), ALICE_PROMPT)


@functools.cache
def _alice_text() -> str:
    where = f"The built-in dataset 'alice' ({ALICE_FILE})"
    try:
        raw = ALICE_FILE.read_bytes()
    except OSError as err:
        raise DatasetError(
            f"{where} cannot be read ({err.strerror or err}): restore assets/datasets/ from the repository"
        ) from None
    if hashlib.sha256(raw).hexdigest() != ALICE_SHA256:
        raise DatasetError(
            f"{where} is damaged: its SHA-256 differs from the one recorded in assets/datasets/README.md; "
            "restore the file from the repository"
        )
    return raw.decode("ascii")


def read_text_file(path: Path, name: str, input_shape: Sequence[int] | None) -> Dataset:
    """A user's UTF-8 text file as windows of the Input's length; DatasetError says what is wrong with it."""
    text = read_text(path)
    return text_dataset(text, name, f"text file: {path.name}", window_length(input_shape), where=str(path))


def read_text(path: Path) -> str:
    """The text of a UTF-8 file (a byte-order mark dropped, line ends made '\\n'), checked to be text."""
    too_large = f"the text takes {{:.1f}} MiB, more than the {MAX_TEXT_BYTES / 2**20:.0f} MiB a language-modelling dataset may: give a shorter text"
    raw = read_or_refuse(path, MAX_TEXT_BYTES, DatasetError, lambda size: too_large.format(size / 2**20))
    if not raw.strip():
        raise DatasetError(
            f"{path}: the text file is empty: a language model learns from text, so give a file with some "
            "(thousands of characters at least)"
        )
    if b"\0" in raw:
        raise DatasetError(
            f"{path}: this is not a text file (it holds NUL bytes, as binary files do): give a plain-text file in UTF-8"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{path}: this is not UTF-8 text (byte {err.start:,} cannot be decoded): save it as plain text in UTF-8"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    control = sum(1 for c in text if c not in _LAYOUT and unicodedata.category(c) == "Cc")
    if control > CONTROL_SHARE * len(text):
        raise DatasetError(
            f"{path}: this does not read as text ({control:,} of its {len(text):,} characters are control "
            "characters): give a plain-text file in UTF-8"
        )
    return text


def text_dataset(text: str, name: str, source: str, length: int, prompt: str | None = None, where: str = "") -> Dataset:
    """The windows of `length` character ids of `text` and, as targets, the same windows one character later."""
    where = where or f"The text '{name}'"
    if len(text) < length + 1:
        raise DatasetError(
            f"{where}: the text has {len(text):,} characters, too few for one window: the network's Input takes "
            f"{length} tokens, so the text needs at least {length + 1:,} (each window is followed by the character "
            f"it predicts last); give a longer text, or an Input of at most {max(1, len(text) - 1):,} tokens"
        )
    vocabulary = tuple(sorted(set(text)))
    ids = encode(text, vocabulary)
    count = (len(ids) - 1) // length
    x = ids[: count * length].reshape(count, length)
    y = ids[1 : count * length + 1].reshape(count, length)
    return Dataset(
        name, x, y, LANGUAGE_MODELLING, vocabulary, source, prompt=prompt if prompt is not None else opening(text)
    )


def encode(text: str, vocabulary: Sequence[str]) -> np.ndarray:
    """The token id of every character of `text` (int64); every character must be in the sorted `vocabulary`."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    table = np.array([ord(c) for c in vocabulary], dtype=np.uint32)
    return np.searchsorted(table, codes).astype(np.int64)


def decode(ids: Sequence[int], vocabulary: Sequence[str]) -> str:
    """The characters of token ids (ids past the vocabulary read as '?')."""
    return "".join(vocabulary[i] if 0 <= i < len(vocabulary) else "?" for i in ids)


def opening(text: str) -> str:
    """A user's text's first words (at most PROMPT_CHARACTERS characters): the prompt its samples continue."""
    start = text.lstrip()
    head = start[:PROMPT_CHARACTERS]
    mid_word = len(start) > PROMPT_CHARACTERS and not (head[-1].isspace() or start[PROMPT_CHARACTERS].isspace())
    if mid_word and " " in head.strip():
        head = head[: head.rstrip().rindex(" ") + 1]
    return head or text[:1]


def check_text_fits(
    dataset: Dataset,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
    loss: str,
    input_dtype: str | None,
    tables: Sequence[tuple[str, int]],
    inp: str,
    out: str,
) -> None:
    """Raise DatasetError unless the network reads windows of token ids and scores every vocabulary entry at each position."""
    data = f"The text '{dataset.name}'"
    length, vocabulary = dataset.sample_shape[0], dataset.vocabulary
    if input_dtype not in (None, "int64") or len(input_shape) != 1:
        raise DatasetError(
            f"{data} trains a language model on windows of token ids, but {inp} takes {input_dtype or 'float32'} "
            f"values of shape {format_shape(input_shape)}: give the Input the dtype int64 and one dimension, "
            f"the window's length (such as {WINDOW})"
        )
    if input_shape[0] != length:
        raise DatasetError(
            f"{data} is cut into windows of {length} characters but {inp} takes {input_shape[0]}: "
            f"load it for this network again (the windows follow the Input's length)"
        )
    if loss != "cross_entropy":
        raise DatasetError(
            f"{data} trains a language model, whose loss is cross_entropy over the next character at every "
            f"position, not {loss}: set the loss to cross_entropy"
        )
    if len(output_shape) != 2 or output_shape[0] != length:
        raise DatasetError(
            f"{data} needs scores for the next character at each of the {length} positions, but {out} gives "
            f"{format_shape(output_shape)} per sample: end the network with a Linear of out_features {vocabulary} "
            f"applied at every position (output {length}×{vocabulary})"
        )
    short = output_shape[1] < vocabulary
    also = f", and the last layer's out_features too ({out} scores {output_shape[1]} per position)" if short else ""
    check_tables(dataset, tables, data, also)
    if short:
        raise DatasetError(
            f"{data} has {vocabulary} distinct characters but {out} scores {output_shape[1]} per position: "
            f"make the last layer give at least {vocabulary} (a Linear with out_features {vocabulary})"
        )


def check_tables(dataset: Dataset, tables: Sequence[tuple[str, int]], data: str, also: str = "") -> None:
    """Raise DatasetError when the data's token ids reach past an Embedding's table (`also`: more to change)."""
    needed = dataset.vocabulary
    for name, size in tables:
        if size < needed:
            what = f"{needed} distinct characters" if dataset.task == LANGUAGE_MODELLING else f"token ids up to {needed - 1}"
            raise DatasetError(
                f"{data} has {what} but the Embedding '{name}' holds {size} (num_embeddings): "
                f"set its num_embeddings to at least {needed}{also}"
            )
