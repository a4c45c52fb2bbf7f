"""Datasets: built-ins, every file format (round trips and damaged files), split, fit checks, normalization."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.train import datasets
from studio.train.datasets import (
    Dataset,
    DatasetError,
    Normalizer,
    builtin_names,
    check_fits,
    load_dataset,
    split,
    targets_for_loss,
)

BUILTIN_SHAPES = {  # name: (sample shape, x dtype, classes or None for regression, target shape)
    "digits": ((1, 8, 8), np.float32, 10, ()),
    "spirals": ((2,), np.float32, 2, ()),
    "moons": ((2,), np.float32, 2, ()),
    "blobs": ((2,), np.float32, 4, ()),
    "sine": ((1,), np.float32, None, (1,)),
    "sequence": ((32,), np.int64, 2, ()),
}
GENERATED = [name for name in BUILTIN_SHAPES if name != "digits"]


# ----- built-in datasets -----


def test_builtin_names_are_the_documented_ones():
    assert builtin_names() == [*BUILTIN_SHAPES, "alice"]  # the text: tests/train/test_text_data.py
    assert all(datasets.builtin_description(name) for name in builtin_names())


@pytest.mark.parametrize("name", list(BUILTIN_SHAPES))
def test_builtin_has_documented_shapes_and_is_deterministic(name):
    shape, dtype, classes, target_shape = BUILTIN_SHAPES[name]
    first, again = load_dataset(name, seed=3), load_dataset(name, seed=3)
    assert first.sample_shape == shape and first.x.dtype == dtype and first.target_shape == target_shape
    assert 1000 <= len(first) <= 2000
    if classes is None:
        assert first.task == "regression" and first.classes == () and first.y.dtype == np.float32
    else:
        assert first.task == "classification" and first.num_classes == classes and first.y.dtype == np.int64
        assert set(np.unique(first.y)) == set(range(classes))
    assert np.array_equal(first.x, again.x) and np.array_equal(first.y, again.y)
    assert np.all(np.isfinite(first.x)) and np.all(np.isfinite(first.y))


@pytest.mark.parametrize("name", GENERATED)
def test_generated_builtins_follow_the_seed(name):
    assert not np.array_equal(load_dataset(name, seed=0).x, load_dataset(name, seed=1).x)


def test_digits_is_the_uci_test_set():
    digits = load_dataset("digits", seed=5)
    assert len(digits) == 1797 and digits.classes == tuple("0123456789")
    counts = np.bincount(digits.y)
    assert counts.min() >= 170 and counts.max() <= 190
    assert digits.x.min() == 0.0 and digits.x.max() == 1.0  # 0..16 scaled to [0, 1]
    assert np.array_equal(digits.x, load_dataset("digits", seed=6).x)


@pytest.fixture
def damaged_digits(tmp_path, monkeypatch):
    copy = tmp_path / "digits.csv.gz"
    raw = bytearray(datasets.DIGITS_FILE.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    datasets._digits_table.cache_clear()
    monkeypatch.setattr(datasets, "DIGITS_FILE", copy)
    yield copy
    datasets._digits_table.cache_clear()


def test_damaged_digits_file_is_reported(damaged_digits):
    with pytest.raises(DatasetError, match="damaged") as info:
        load_dataset("digits")
    assert str(damaged_digits) in str(info.value)


def test_sequence_labels_follow_the_majority_and_ids_stay_small():
    data = load_dataset("sequence", seed=2)
    high = (data.x >= datasets.SEQUENCE_VOCABULARY // 2).sum(axis=1)
    decided = 2 * high != data.x.shape[1]
    assert np.array_equal(data.y[decided], (2 * high[decided] > data.x.shape[1]).astype(np.int64))
    assert data.token_ids and data.vocabulary <= datasets.SEQUENCE_VOCABULARY
    assert 0.4 < data.y.mean() < 0.6


def test_sequence_length_follows_the_input():
    assert load_dataset("sequence", input_shape=(None, 12)).sample_shape == (12,)


# ----- adapting to the Input -----


def test_digits_are_resized_and_converted_for_an_rgb_input():
    data = load_dataset("digits", input_shape=(3, 32, 32))
    assert data.sample_shape == (3, 32, 32) and "resized" in data.note
    assert np.array_equal(data.x[:, 0], data.x[:, 2])  # grey copied to every channel
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0


def test_same_sized_samples_are_reshaped():
    data = load_dataset("digits", input_shape=(64,))
    assert data.sample_shape == (64,) and np.array_equal(data.x[0], load_dataset("digits").x[0].ravel())


def test_samples_that_cannot_be_adapted_are_left_for_check_fits():
    data = load_dataset("spirals", input_shape=(5,))
    assert data.sample_shape == (2,) and data.note == ""
    with pytest.raises(DatasetError, match="shape 2 but the network's Input 'point' expects 5"):
        check_fits(data, (5,), (2,), "cross_entropy", input_name="point")


def test_target_input_makes_an_autoencoder_dataset():
    data = load_dataset("digits", input_shape=(1, 28, 28), target="input")
    assert data.task == "regression" and data.reconstruction and data.classes == ()
    assert np.array_equal(data.x, data.y) and data.y.dtype == np.float32
    check_fits(data, (1, 28, 28), (1, 28, 28), "mse")


def test_int64_input_takes_token_ids_and_float32_input_casts_them():
    assert load_dataset("sequence", input_dtype="int64").x.dtype == np.int64
    assert load_dataset("sequence", input_dtype="float32").x.dtype == np.float32
    with pytest.raises(DatasetError, match="int64 token ids"):
        load_dataset("spirals", input_dtype="int64")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", "No dataset"),
        ("digit", "did you mean the built-in 'digits'"),
        ("mnist", "not built in"),
        ("nope.csv", "neither"),
    ],
)
def test_unknown_dataset_names_say_what_is_valid(spec, expected, tmp_path):
    with pytest.raises(DatasetError, match=expected):
        load_dataset(spec, base_dir=tmp_path)


def test_builtins_refuse_a_csv_target():
    with pytest.raises(DatasetError, match="names a CSV column"):
        load_dataset("digits", target="label")


# ----- CSV -----


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_numeric_target_with_few_whole_values_is_classification(tmp_path):
    _write(tmp_path / "d.csv", "a,b,label\n1,2,0\n3,4.5,2\n5,6,0\n7,8,2\n")
    data = load_dataset("d.csv", base_dir=tmp_path)
    assert data.task == "classification" and data.classes == ("0", "2")
    assert np.array_equal(data.y, [0, 1, 0, 1]) and np.allclose(data.x, [[1, 2], [3, 4.5], [5, 6], [7, 8]])
    assert data.x.dtype == np.float32 and data.source.endswith("d.csv")


def test_csv_text_target_and_chosen_column(tmp_path):
    _write(tmp_path / "d.csv", 'size;colour;weight\n1;"red";0.5\n2;blue;1.5\n3;red;2.25\n')
    data = load_dataset(str(tmp_path / "d.csv"), target="colour")
    assert data.classes == ("blue", "red") and np.array_equal(data.y, [1, 0, 1])
    assert np.allclose(data.x, [[1, 0.5], [2, 1.5], [3, 2.25]])


def test_csv_fractional_target_is_regression(tmp_path):
    _write(tmp_path / "d.csv", "x,y\n0,0.5\n1,1.5\n2,2.5\n")
    data = load_dataset("d.csv", base_dir=tmp_path)
    assert data.task == "regression" and data.y.shape == (3, 1) and np.allclose(data.y[:, 0], [0.5, 1.5, 2.5])


def test_csv_without_header_names_its_columns(tmp_path):
    _write(tmp_path / "d.csv", "\n1,2,0\n3,4,1\n")
    data = load_dataset("d.csv", base_dir=tmp_path, target="column 1")
    assert len(data) == 2 and data.classes == ("1", "3") and np.array_equal(data.y, [0, 1])
    assert np.allclose(data.x, [[2, 0], [4, 1]])


def test_csv_reconstruction_uses_every_column(tmp_path):
    _write(tmp_path / "d.csv", "a,b\n1,2\n3,4\n")
    data = load_dataset("d.csv", base_dir=tmp_path, target="input")
    assert data.reconstruction and data.sample_shape == (2,) and np.array_equal(data.x, data.y)


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        ("a,b\n1,red\n", "a", "column 'b' has the text 'red' in data row 1"),
        ("a,b\n1,\n2,3\n", "a", "column 'b' has an empty cell"),
        ("a,b\n1,2\n", "c", "has no column 'c'"),
        ("a,b\n1,2,3\n", "", "line 2 has 3 values but the header names 2 columns"),
        ("a,b\n", "", "no data rows"),
        ("", "", "empty"),
        ("a,b\n1,nan\n", "a", "non-finite value in data row 1"),
    ],
)
def test_bad_csv_files_are_explained(tmp_path, text, target, expected):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(DatasetError, match=expected) as info:
        load_dataset(str(path), target=target)
    assert str(path) in str(info.value)


# ----- NumPy .npz -----


def test_npz_round_trip_classification_and_regression(tmp_path):
    x = np.arange(24, dtype=np.float64).reshape(6, 4)
    np.savez(
        tmp_path / "c.npz",
        x=x,
        y=np.array([0, 1, 2, 0, 1, 2]),
        classes=np.array(["a", "b", "c"]),
    )
    np.savez_compressed(tmp_path / "r.npz", x=x, y=np.linspace(0, 1, 6))
    classes = load_dataset("c.npz", base_dir=tmp_path)
    assert classes.classes == ("a", "b", "c") and np.array_equal(classes.x, x.astype(np.float32))
    regression = load_dataset("r.npz", base_dir=tmp_path)
    assert regression.task == "regression" and regression.y.shape == (6, 1)


def test_npz_channels_last_images_are_transposed(tmp_path):
    x = np.random.default_rng(0).random((5, 8, 8, 3)).astype(np.float32)
    np.savez(tmp_path / "i.npz", x=x, y=np.arange(5) % 2)
    data = load_dataset("i.npz", base_dir=tmp_path, input_shape=(3, 8, 8))
    assert data.sample_shape == (3, 8, 8) and np.array_equal(data.x, x.transpose(0, 3, 1, 2))


def test_npz_integer_samples_are_token_ids_only_for_an_int64_input(tmp_path):
    np.savez(tmp_path / "t.npz", x=np.array([[1, 2], [3, 4]]), y=np.array([0, 1]))
    assert load_dataset("t.npz", base_dir=tmp_path, input_dtype="int64").x.dtype == np.int64
    assert load_dataset("t.npz", base_dir=tmp_path).x.dtype == np.float32


def test_npz_problems_are_explained(tmp_path):
    np.savez(tmp_path / "m.npz", x=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match="no y"):
        load_dataset("m.npz", base_dir=tmp_path)
    np.savez(tmp_path / "n.npz", x=np.zeros((2, 2)), y=np.zeros(3))
    with pytest.raises(DatasetError, match="one entry per sample"):
        load_dataset("n.npz", base_dir=tmp_path)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**5, 10**5)})
    header = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.writestr("x.npy", header)
        archive.writestr("y.npy", header)
    with pytest.raises(DatasetError, match="more than the file holds"):
        load_dataset("huge.npz", base_dir=tmp_path)


# ----- IDX (MNIST) -----


def _idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    data = (
        struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(np.uint8).tobytes()
    )
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def mnist(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (7, 5, 6), dtype=np.uint8)
    labels = np.array([0, 1, 2, 9, 4, 5, 6], dtype=np.uint8)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", images, True)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, True)
    _idx(tmp_path / "t10k-images-idx3-ubyte", images[:2], False)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:2], False)
    return tmp_path, images, labels


def test_idx_round_trip_from_images_file_labels_file_or_folder(mnist):
    folder, images, labels = mnist
    for spec in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "."):
        data = load_dataset(spec, base_dir=folder)
        assert data.sample_shape == (1, 5, 6) and data.classes == tuple("0123456789")
        assert np.allclose(data.x[:, 0], images / 255.0) and np.array_equal(data.y, labels)
    plain = load_dataset("t10k-images-idx3-ubyte", base_dir=folder)
    assert len(plain) == 2


def test_idx_fashion_folder_names_its_classes(tmp_path):
    folder = tmp_path / "fashion"
    folder.mkdir()
    _idx(folder / "train-images-idx3-ubyte", np.zeros((2, 3, 3)), False)
    _idx(folder / "train-labels-idx1-ubyte", np.array([0, 9]), False)
    assert load_dataset(str(folder)).classes[9] == "Ankle boot"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda raw: b"\x08\x03" + raw[2:], "magic number"),
        (lambda raw: raw[:-5], "truncated"),
        (lambda raw: raw + b"\0", "more data than its header"),
        (
            lambda raw: raw[:4] + struct.pack(">3I", 2**20, 2**20, 2**20) + raw[16:],
            "not a sensible images file",
        ),
        (lambda raw: raw[:3] + b"\x01" + raw[4:], "rank 3"),
    ],
)
def test_damaged_idx_files_are_explained(mnist, damage, expected):
    folder = mnist[0]
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetError, match=expected) as info:
        load_dataset(str(path))
    assert str(path) in str(info.value)


def test_idx_without_its_labels_or_with_other_counts(mnist):
    folder = mnist[0]
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="labels file that belongs to it"):
        load_dataset("t10k-images-idx3-ubyte", base_dir=folder)
    _idx(folder / "t10k-labels-idx1-ubyte", np.zeros(5), False)
    with pytest.raises(DatasetError, match="holds 2 images but t10k-labels-idx1-ubyte holds 5 labels"):
        load_dataset("t10k-images-idx3-ubyte", base_dir=folder)


# ----- CIFAR python batches -----


def _batch(path: Path, images: np.ndarray, labels: list[int], protocol: int = 2) -> None:
    path.write_bytes(
        pickle.dumps(
            {b"batch_label": b"test", b"data": images, b"labels": labels},
            protocol=protocol,
        )
    )


def test_cifar_folder_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    _batch(tmp_path / "data_batch_2", images[2:], [3, 9])
    _batch(tmp_path / "data_batch_1", images[:2], [0, 1], protocol=pickle.HIGHEST_PROTOCOL)
    names = [f"c{i}".encode() for i in range(10)]
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    data = load_dataset(str(tmp_path))
    assert data.sample_shape == (3, 32, 32) and data.classes == tuple(f"c{i}" for i in range(10))
    assert np.array_equal(data.y, [0, 1, 3, 9])
    assert np.allclose(data.x.reshape(4, -1), images / 255.0)
    single = load_dataset("data_batch_2", base_dir=tmp_path)
    assert len(single) == 2 and single.classes[0] == "c0"


def test_cifar_batch_without_meta_gets_the_cifar10_names(tmp_path):
    _batch(tmp_path / "test_batch", np.zeros((1, 3072), np.uint8), [7])
    assert load_dataset(str(tmp_path)).classes[7] == "horse"


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_hostile_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "layer-studio-pwned"  # this test's own: a shared /tmp name would race a parallel run
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": _Hostile(marker), b"labels": [0]}))
    with pytest.raises(DatasetError, match="refused for safety"):
        load_dataset(str(tmp_path))
    assert not marker.exists()


def test_cifar_batch_with_wrong_content_is_explained(tmp_path):
    _batch(tmp_path / "data_batch_1", np.zeros((2, 100), np.uint8), [0, 1])
    with pytest.raises(DatasetError, match="N×3072"):
        load_dataset(str(tmp_path))
    _batch(tmp_path / "data_batch_1", np.zeros((2, 3072), np.uint8), [0])
    with pytest.raises(DatasetError, match="one label"):
        load_dataset(str(tmp_path))


# ----- image folders -----


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    root = tmp_path / "pets"
    for label, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (12, 10), colour).save(root / label / f"{i}.png")
    Image.new("L", (6, 6), 128).save(root / "dog" / "grey.jpg")
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_is_resized_and_converted_to_the_input(image_folder):
    rgb = load_dataset(str(image_folder), input_shape=(3, 8, 8))
    assert rgb.classes == ("cat", "dog") and len(rgb) == 7 and rgb.sample_shape == (3, 8, 8)
    assert np.allclose(rgb.x[0, :, 4, 4], [1, 0, 0]) and np.allclose(rgb.x[3, :, 4, 4], [0, 0, 1])
    grey = load_dataset(str(image_folder), input_shape=(1, 4, 4))
    assert grey.sample_shape == (1, 4, 4) and np.allclose(grey.x[0], 0.299, atol=0.01)
    natural = load_dataset(str(image_folder))
    assert natural.sample_shape == (3, 10, 12)


def test_unreadable_image_is_named(image_folder):
    broken = image_folder / "cat" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(DatasetError, match="cannot be read as an image") as info:
        load_dataset(str(image_folder), input_shape=(3, 8, 8))
    assert str(broken) in str(info.value)


def test_folder_without_class_folders_is_explained(tmp_path):
    with pytest.raises(DatasetError, match="one sub-folder of images per class"):
        load_dataset(str(tmp_path))


# ----- random and truncated bytes never escape as anything but DatasetError -----

_NAMES = (
    "d.csv",
    "d.npz",
    "train-images-idx3-ubyte",
    "train-images-idx3-ubyte.gz",
    "data_batch_1",
    "cats/a.png",
)
_PREFIXES = (
    b"",
    b"\0\0\x08\x03",
    b"\0\0\x08\x01",
    b"\x1f\x8b\x08\0",
    b"\x80\x02}q\0",
    b"\x80\x04\x95",
    b"PK\x03\x04",
    b"a,b\n",
)


def _load_bytes(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        if name.startswith("train-images"):
            labels = name.replace("images-idx3", "labels-idx1")
            (Path(folder) / labels).write_bytes(data)
        try:
            load_dataset(str(path.parent if "/" in name else path), input_shape=(1, 4, 4))
        except DatasetError:
            pass


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(_NAMES),
    prefix=st.sampled_from(_PREFIXES),
    body=st.binary(max_size=300),
)
def test_random_bytes_only_ever_raise_dataset_error(name, prefix, body):
    _load_bytes(name, prefix + body)


def _valid_files() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        np.savez(Path(folder) / "d.npz", x=np.zeros((3, 2)), y=np.arange(3))
        npz = (Path(folder) / "d.npz").read_bytes()
    image = np.zeros((2, 4, 4), np.uint8)
    idx = struct.pack(">BBBB3I", 0, 0, 8, 3, 2, 4, 4) + image.tobytes()
    batch = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [1]}, protocol=2)
    return {
        "d.npz": npz,
        "train-images-idx3-ubyte": idx,
        "train-images-idx3-ubyte.gz": gzip.compress(idx),
        "data_batch_1": batch,
    }


_VALID = _valid_files()


@pytest.mark.parametrize("name", sorted(_VALID))
def test_truncated_files_name_the_file(tmp_path, name):
    if "idx3" in name:
        labels = struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes(2)
        (tmp_path / name.replace("images-idx3", "labels-idx1")).write_bytes(labels)
    path = tmp_path / name
    path.write_bytes(_VALID[name][: len(_VALID[name]) // 2])
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    assert str(path) in str(info.value)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(_VALID)),
    cut=st.floats(0.0, 1.0),
    flip=st.integers(0, 2**16),
)
def test_truncated_or_flipped_files_only_ever_raise_dataset_error(name, cut, flip):
    data = bytearray(_VALID[name][: int(len(_VALID[name]) * cut)])
    if data and flip % 2:
        data[flip % len(data)] ^= 0x5A
    _load_bytes(name, bytes(data))


# ----- split -----


def test_split_is_seeded_stratified_and_covers_every_sample():
    data = load_dataset("digits")
    train, validation = split(data, 0.2, seed=4)
    again_train, _ = split(data, 0.2, seed=4)
    other_train, _ = split(data, 0.2, seed=5)
    assert len(validation) == round(len(data) * 0.2) and len(train) + len(validation) == len(data)
    assert np.array_equal(train.x, again_train.x) and not np.array_equal(train.y, other_train.y)
    counts = np.bincount(validation.y, minlength=10)
    assert counts.max() - counts.min() <= 2
    rows = {row.tobytes() for row in np.concatenate([train.x, validation.x]).reshape(len(data), -1)}
    assert len(rows) == len({row.tobytes() for row in data.x.reshape(len(data), -1)})


def test_split_zero_gives_an_empty_validation_set_and_regression_splits_too():
    train, validation = split(load_dataset("digits"), 0.0, seed=0)
    assert len(train) == 1797 and len(validation) == 0 and validation.sample_shape == (1, 8, 8)
    train, validation = split(load_dataset("sine"), 0.25, seed=0)
    assert (len(train), len(validation)) == (750, 250)


def test_split_refuses_too_few_samples():
    tiny = Dataset(
        "tiny",
        np.zeros((3, 2), np.float32),
        np.zeros(3, np.int64),
        "classification",
        ("a",),
    )
    with pytest.raises(DatasetError, match="has 3 samples: too few"):
        split(tiny, 0.9, 0)
    assert [len(part) for part in split(tiny.subset(np.array([0])), 0.4, 0)] == [1, 0]


# ----- check_fits -----


def test_check_fits_names_both_shapes():
    with pytest.raises(DatasetError) as info:
        check_fits(
            load_dataset("digits"),
            (None, 3, 32, 32),
            (None, 10),
            "cross_entropy",
            input_name="image",
        )
    assert str(info.value).startswith(
        "The dataset 'digits' has samples of shape 1×8×8 but the network's Input 'image' expects 3×32×32"
    )


def test_check_fits_names_the_class_counts():
    with pytest.raises(
        DatasetError,
        match="has 10 classes but the network's Output 'digit' gives 2 values per sample",
    ):
        check_fits(
            load_dataset("digits"),
            (1, 8, 8),
            (2,),
            "cross_entropy",
            output_name="digit",
        )
    with pytest.raises(DatasetError, match="one score per class"):
        check_fits(load_dataset("digits"), (1, 8, 8), (4, 10), "cross_entropy")


def test_check_fits_suggests_the_loss_for_the_task():
    with pytest.raises(DatasetError, match="regression task .* use the loss mse or l1"):
        check_fits(load_dataset("sine"), (1,), (1,), "cross_entropy")
    with pytest.raises(
        DatasetError,
        match="use the loss cross_entropy, or for an autoencoder set the training target to 'input'",
    ):
        check_fits(load_dataset("digits"), (1, 8, 8), (1, 8, 8), "mse")
    with pytest.raises(DatasetError, match="targets of shape 1 but the network's Output gives 3"):
        check_fits(load_dataset("sine"), (1,), (3,), "l1")


def test_check_fits_binary_cross_entropy():
    moons, blobs = load_dataset("moons"), load_dataset("blobs")
    check_fits(moons, (2,), (1,), "bce_with_logits")
    check_fits(blobs, (2,), (4,), "bce_with_logits")
    with pytest.raises(DatasetError, match="bce_with_logits needs 4 values"):
        check_fits(blobs, (2,), (1,), "bce_with_logits")
    with pytest.raises(DatasetError, match="between 0 and 1"):
        check_fits(load_dataset("sine"), (1,), (1,), "bce_with_logits")
    assert targets_for_loss(moons, "bce_with_logits", (1,)).shape == (1000, 1)
    assert np.array_equal(targets_for_loss(blobs, "bce_with_logits", (4,)).argmax(1), blobs.y)


def test_check_fits_token_inputs():
    check_fits(load_dataset("sequence"), (32,), (2,), "cross_entropy", input_dtype="int64")
    with pytest.raises(DatasetError, match="takes int64 token ids"):
        check_fits(load_dataset("spirals"), (2,), (2,), "cross_entropy", input_dtype="int64")


# ----- normalization -----


def test_normalizer_uses_the_training_split_only():
    data = load_dataset("spirals")
    train, validation = split(data, 0.3, seed=0)
    validation = Dataset("v", validation.x + 10.0, validation.y, "classification", validation.classes)
    normalizer = Normalizer.fit(train)
    assert np.allclose(normalizer.mean, train.x.mean(axis=0), atol=1e-6)
    assert np.allclose(normalizer.std, train.x.std(axis=0), atol=1e-6)
    assert np.allclose(normalizer.apply(train).x.mean(axis=0), 0.0, atol=1e-5)
    assert normalizer.apply(validation).x.mean() > 5.0  # validation data never moved the statistics


def test_normalizer_is_per_channel_for_images_and_round_trips():
    train, _ = split(load_dataset("digits", input_shape=(3, 8, 8)), 0.1, seed=0)
    normalizer = Normalizer.fit(train)
    assert normalizer.mean.shape == (3, 1, 1)
    assert np.allclose(normalizer.mean[:, 0, 0], train.x.mean(axis=(0, 2, 3)), atol=1e-6)
    again = Normalizer.from_dict(normalizer.to_dict())
    assert np.array_equal(again.normalize(train.x), normalizer.normalize(train.x))


def test_normalizer_leaves_token_ids_alone_and_moves_reconstruction_targets():
    sequence = load_dataset("sequence")
    assert Normalizer.fit(sequence).apply(sequence).x is sequence.x
    auto = load_dataset("digits", target="input")
    normalized = Normalizer.fit(auto).apply(auto)
    assert np.array_equal(normalized.x, normalized.y) and abs(float(normalized.x.mean())) < 1e-5


# ----- the examples each have a fitting built-in dataset -----

EXAMPLE_DATASETS = {  # example: (built-in, target)
    "digits_cnn": ("digits", ""),
    "lenet5": ("digits", ""),
    "mlp": ("spirals", ""),
    "resnet_small": ("digits", ""),
    "inception_block": ("digits", ""),
    "conv_autoencoder": ("digits", "input"),
    "lstm_classifier": ("sequence", ""),
    "transformer_classifier": ("sequence", ""),
    "se_mobilenet": ("digits", ""),
    "vit_tiny": ("digits", ""),
    "gpt_tiny": ("alice", ""),
}


@pytest.mark.parametrize("example", sorted(EXAMPLE_DATASETS))
def test_every_example_fits_a_builtin_dataset(example):
    from studio.graph.project import load_project
    from studio.graph.shapes import analyse

    project = load_project(Path(__file__).parents[2] / "assets" / "examples" / f"{example}.lstudio")
    analysis = analyse(project.graph)
    (in_id, node), *_ = [(k, n) for k, n in project.graph.nodes.items() if n.type == "Input"]
    (out_id, out), *_ = [(k, n) for k, n in project.graph.nodes.items() if n.type == "Output"]
    in_shape, out_shape = (
        analysis.result(in_id).outputs["out"],
        analysis.result(out_id).inputs[0],
    )
    spec, target = EXAMPLE_DATASETS[example]
    dtype = node.params["dtype"]
    data = load_dataset(spec, input_shape=in_shape, target=target, input_dtype=dtype)
    check_fits(
        data,
        in_shape,
        out_shape,
        project.training.loss,
        input_name=node.name,
        output_name=out.name,
        input_dtype=dtype,
    )


def test_datasets_import_neither_torch_nor_qt_nor_pillow():
    code = "import sys, studio.train.datasets, studio.train.data_files; print(sorted({'torch', 'PySide6', 'PIL'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
