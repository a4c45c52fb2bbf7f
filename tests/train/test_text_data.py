"""Texts for language modelling: the built-in 'alice', .txt files, windows, the ordered split and the errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from studio.train import text_data
from studio.train.dataset_record import LANGUAGE_MODELLING
from studio.train.datasets import DatasetError, check_fits, load_dataset, split

ROOT = Path(__file__).resolve().parents[2]
TOKENS = "int64"


def load_text(spec: str | Path, length: int = 16, **kwargs):
    return load_dataset(str(spec), input_shape=(length,), input_dtype=TOKENS, **kwargs)


def write(folder: Path, text: str | bytes, name: str = "story.txt") -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# ----- the built-in text -----


def test_alice_is_the_recorded_public_domain_text():
    raw = text_data.ALICE_FILE.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == text_data.ALICE_SHA256
    assert text_data.ALICE_SHA256 in (ROOT / "assets" / "datasets" / "README.md").read_text()
    text = raw.decode("ascii")
    assert 30_000 <= len(raw) <= 100_000
    assert text.startswith("CHAPTER I.\nDown the Rabbit-Hole") and "CHAPTER VI.\nPig and Pepper" in text


def test_alice_is_cut_into_windows_of_the_inputs_length_and_their_next_characters():
    alice = load_text("alice", 64)
    text = text_data.ALICE_FILE.read_text(encoding="ascii")
    assert alice.task == LANGUAGE_MODELLING and alice.x.dtype == np.int64 and alice.y.dtype == np.int64
    assert alice.classes == tuple(sorted(set(text))) and alice.vocabulary == len(alice.classes) == 64
    assert alice.sample_shape == (64,) and len(alice) == (len(text) - 1) // 64
    assert text_data.decode(alice.x.ravel().tolist(), alice.classes) == text[: 64 * len(alice)]
    assert text_data.decode(alice.y.ravel().tolist(), alice.classes) == text[1 : 64 * len(alice) + 1]
    assert np.array_equal(alice.y[:-1, -1], alice.x[1:, 0])  # windows follow each other through the text
    assert set(alice.prompt) <= set(alice.classes)
    assert load_text("alice", 32).sample_shape == (32,)
    assert load_dataset("alice").sample_shape == (text_data.WINDOW,)  # no network: the default window


def test_a_texts_windows_split_by_their_place_so_no_validation_target_is_trained_on():
    alice = load_text("alice", 64)
    train, validation = split(alice, 0.1, seed=7)
    assert len(validation) == round(0.1 * len(alice)) and len(train) + len(validation) == len(alice)
    assert np.array_equal(train.x, alice.x[: len(train)]) and np.array_equal(validation.x, alice.x[len(train) :])
    assert np.array_equal(split(alice, 0.1, seed=8)[1].x, validation.x)  # the seed does not move them
    # the text positions of the targets: training's all come before validation's
    positions = np.arange(len(alice) * 64).reshape(len(alice), 64) + 1
    assert positions[: len(train)].max() < positions[len(train) :].min()


# ----- a user's text file -----


def test_a_txt_file_is_a_text_for_an_input_of_token_ids(tmp_path):
    story = "The cat sat on the mat. " * 20
    data = load_text(write(tmp_path, story), 8)
    assert data.task == LANGUAGE_MODELLING and data.classes == tuple(sorted(set(story)))
    assert data.prompt == "The cat sat on the mat. " and data.source == "text file: story.txt"
    assert text_data.decode(data.y[0].tolist(), data.classes) == story[1:9]


def test_a_txt_file_is_still_a_csv_table_for_other_inputs(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    table = load_dataset(str(path), input_shape=(2,), input_dtype="float32")
    assert table.task == "classification" and table.sample_shape == (2,)


def test_a_byte_order_mark_and_windows_line_ends_are_read_as_plain_text(tmp_path):
    data = load_text(write(tmp_path, b"\xef\xbb\xbf" + b"One line\r\nand another\rand more\n" * 4), 8)
    assert "\r" not in data.classes and "\ufeff" not in data.classes and "\n" in data.classes


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the text file is empty"),
        (b" \n\n ", "the text file is empty"),
        (b"PK\x03\x04\x00\x00binary", "this is not a text file (it holds NUL bytes"),
        ("Grüße".encode("latin-1") * 10, "this is not UTF-8 text (byte 2 cannot be decoded)"),
        (b"\x01\x02\x03\x04 text" * 10, "this does not read as text"),
        (b"too short", "the text has 9 characters, too few for one window: the network's Input takes 16 tokens, so the text needs at least 17"),
    ],
)  # fmt: skip
def test_a_text_file_that_cannot_train_says_why(tmp_path, content, expected):
    with pytest.raises(DatasetError, match="story.txt") as caught:
        load_text(write(tmp_path, content), 16)
    assert expected in str(caught.value)


def test_a_target_makes_no_sense_for_a_text():
    with pytest.raises(DatasetError, match="its targets are the next characters, so leave the target empty"):
        load_text("alice", 64, target="input")


# ----- does the text fit the network -----


def fits(data, input_shape=(64,), output_shape=(64, 64), loss="cross_entropy", dtype=TOKENS, tables=(("embed", 64),)):
    check_fits(
        data, input_shape, output_shape, loss, input_name="tokens", output_name="scores", input_dtype=dtype, tables=tables
    )


def test_alice_fits_a_language_model_of_its_vocabulary():
    fits(load_text("alice", 64))
    fits(load_text("alice", 64), output_shape=(64, 80), tables=(("embed", 80),))  # room to spare is fine


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"tables": (("embed", 50),)}, "The text 'alice' has 64 distinct characters but the Embedding 'embed' holds 50 (num_embeddings): set its num_embeddings to at least 64"),
        ({"output_shape": (64, 50)}, "has 64 distinct characters but the network's Output 'scores' scores 50 per position: make the last layer give at least 64"),
        ({"output_shape": (64,)}, "needs scores for the next character at each of the 64 positions, but the network's Output 'scores' gives 64 per sample"),
        ({"loss": "mse"}, "whose loss is cross_entropy over the next character at every position, not mse"),
        ({"dtype": "float32"}, "but the network's Input 'tokens' takes float32 values of shape 64: give the Input the dtype int64"),
        ({"input_shape": (32,)}, "is cut into windows of 64 characters but the network's Input 'tokens' takes 32"),
    ],
)  # fmt: skip
def test_a_network_that_does_not_fit_the_text_is_told_what_would(change, expected):
    with pytest.raises(DatasetError) as caught:
        fits(load_text("alice", 64), **change)
    assert expected in str(caught.value)


def test_token_ids_past_an_embedding_table_are_refused_for_any_token_data():
    sequence = load_dataset("sequence", input_shape=(32,), input_dtype=TOKENS)
    with pytest.raises(DatasetError, match="token ids up to 15 but the Embedding 'embed' holds 8"):
        check_fits(sequence, (32,), (2,), "cross_entropy", input_dtype=TOKENS, tables=[("embed", 8)])


def test_the_opening_words_of_a_text_prompt_its_samples():
    assert text_data.opening("  Once upon a time there were three sisters") == "Once upon a time there "
    assert text_data.opening("Once upon a time, therefore") == "Once upon a time, "
    assert text_data.opening("word") == "word"
    assert text_data.opening("x" * 40) == "x" * text_data.PROMPT_CHARACTERS
