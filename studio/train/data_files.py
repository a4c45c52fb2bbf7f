"""Readers for the user's data files: CSV, image folders, NumPy .npz, MNIST-style IDX files and CIFAR python batches.

Each reader checks what it reads before trusting it (headers, sizes, dtypes, counts) and turns
every problem into a `DatasetError` that names the file and what was expected. Sizes are checked
before memory is allocated: no decoded dataset may exceed `MAX_BYTES`.

Formats and their rules:
- CSV: a header row, then one sample per row (",", ";" or tab separated); a first row of numbers
  only is data, and the columns are then named "column 1", "column 2", ... The target column is
  `target` ('' = the last column). A target holding text is a classification with the sorted
  distinct texts as classes; a numeric target with only whole numbers and at most
  `CSV_MAX_CLASSES` distinct values is a classification too (classes: the sorted values),
  anything else is a regression. Every other column is a feature and must be numeric.
- Image folder: one sub-folder per class (sorted names are the classes), images in common formats
  (PNG, JPEG, BMP, GIF, TIFF, WebP), resized to the Input's H×W and converted to its channels
  (1 grey, 3 RGB, 4 RGBA); without an image-shaped Input, the first image's size and colour.
- NumPy .npz with arrays `x` (samples) and `y` (targets), optionally `classes` (names). Integer `y`
  (N,) are class ids; float `y` (N,) of whole numbers >= 0 with at most `CSV_MAX_CLASSES` values
  too; anything else is a regression target. Integer `x` stays int64 only for an int64 Input.
- IDX (MNIST, Fashion-MNIST; gzipped or not): the images file, with the labels file beside it
  named alike (train-images-idx3-ubyte.gz ↔ train-labels-idx1-ubyte.gz), or a folder holding them
  (train-* before t10k-*). Pixels are scaled to [0, 1]; a path containing "fashion" names the
  Fashion-MNIST classes.
- CIFAR-10 (and CIFAR-100) python batches: a folder with data_batch_1..5 (else test_batch, or
  CIFAR-100's train) and batches.meta (or meta) for the class names, or one batch file.

NOTE: CIFAR batches are Python pickles, and unpickling can run arbitrary code. They are read with
an unpickler that resolves only the globals a batch needs (numpy's array, dtype and scalar
reconstruction (protocols 2 to 5), restricted to plain numeric arrays, and latin-1 `_codecs.encode`);
every other global is refused, so a hostile file fails with a message instead of running code.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import gzip
import io
import math
import pickle
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.graph.regular_files import (
    FileTooLargeError,
    NotRegularFileError,
    check_regular,
    open_regular,
    read_regular,
)
from studio.train.dataset_record import RECONSTRUCT, Dataset, DatasetError

MAX_BYTES = 4 * 2**30  # the most a decoded dataset (or a file read whole) may take
MAX_DIM = 2**24  # the largest single dimension an IDX header may announce
MAX_CLASSES = 100_000
FLOAT32_MAX = float(np.finfo(np.float32).max)
CSV_MAX_CLASSES = 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_KINDS = (
    "a .csv file, a .npz file (arrays x and y), MNIST IDX files (*-images-idx3-ubyte[.gz]), "
    "a CIFAR-10 python batch, or a folder of images with one sub-folder per class"
)
_ARCHIVE_ERRORS = (OSError, ValueError, EOFError, KeyError, TypeError, zlib.error, NotImplementedError, RuntimeError)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_path(
    path: Path, *, name: str, input_shape: tuple[int, ...] | None, target: str, input_dtype: str | None
) -> Dataset:
    """Read the file or folder at `path`, whatever its format (see the module docstring); a FIFO, device or socket is refused unread."""
    if not path.is_dir():
        _check_file(path)
    kind = _folder_kind(path) if path.is_dir() else _file_kind(path)
    if kind == "csv":
        return read_csv(path, name, target)
    if target and target != RECONSTRUCT:
        raise DatasetError(
            f"{path}: the target '{target}' names a CSV column, but this is {kind} data: leave the target empty "
            f"(or set it to '{RECONSTRUCT}' to reconstruct the samples)"
        )
    if kind == "npz":
        dataset = read_npz(path, name, input_dtype)
    elif kind == "idx":
        dataset = read_idx(path, name)
    elif kind == "cifar":
        dataset = read_cifar(path, name)
    else:
        dataset = read_image_folder(path, name, input_shape)
    return replace(dataset, reconstruction=True) if target == RECONSTRUCT else dataset


def _folder_kind(path: Path) -> str:
    names = set(_listing(path))
    if any(n.startswith("data_batch_") for n in names) or "test_batch" in names or {"train", "meta"} <= names:
        return "cifar"
    if any("idx3" in n for n in names):
        return "idx"
    return "image folder"


def _file_kind(path: Path) -> str:
    lower = path.name.lower()
    if lower.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if lower.endswith(".npz"):
        return "npz"
    if lower.endswith(".npy"):
        raise DatasetError(
            f"{path}: a .npy file holds one array; save the samples and targets together with numpy.savez(file, x=..., y=...)"
        )
    if "idx1" in lower or "idx3" in lower or "ubyte" in lower:
        return "idx"
    if lower.startswith(("data_batch", "test_batch")) or lower in ("train", "test"):
        return "cifar"
    if lower.endswith(IMAGE_SUFFIXES):
        raise DatasetError(
            f"{path}: one image is not a dataset: give the folder that holds one sub-folder of images per class"
        )
    head = _head(path, 4)
    if head[:2] == b"PK":
        return "npz"
    if head[:1] == b"\x80":
        return "cifar"
    raise DatasetError(f"{path}: this kind of data file is not recognized; use {_KINDS}")


# ----- CSV -----


def read_csv(path: Path, name: str, target: str) -> Dataset:
    """A CSV table: a header row, numeric feature columns and one target column (see the module docstring)."""
    text = _text(path)
    delimiter = _delimiter(text[:65536])
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        header_lines = reader.line_num
    except csv.Error as err:
        raise DatasetError(f"{path}: line {reader.line_num}: not valid CSV ({err})") from None
    if header is None:
        raise DatasetError(f"{path}: the file is empty; a CSV dataset needs a header row and one row per sample")
    columns = [cell.strip() or f"column {i + 1}" for i, cell in enumerate(header)]
    if all(_is_number(cell) for cell in header):  # no header: the first row is data
        columns, header_lines = ([f"column {i + 1}" for i in range(len(header))], header_lines - 1)
    target_index = _target_column(path, columns, target)
    if target_index is not None and len(columns) < 2:
        raise DatasetError(f"{path}: needs at least two columns (features and a target), it has one: '{columns[0]}'")
    table = _numeric_table(text, delimiter, header_lines, len(columns))
    features = [j for j in range(len(columns)) if j != target_index]
    if table is None:
        cells = _cell_columns(path, text, delimiter, header_lines, columns)
        if len(cells[0]) == 0:
            raise DatasetError(f"{path}: has a header but no data rows")
        x = np.stack([_numeric_column(path, columns[j], cells[j], feature=True) for j in features], axis=1)
    else:  # all numbers: checked as one array, so a table of a million columns costs what its cells do
        cells = {target_index: table[:, target_index]} if target_index is not None else {}
        x = table if target_index is None else np.delete(table, target_index, axis=1)
        _check_numbers(path, [columns[j] for j in features], x)
    source = f"CSV file {path}"
    if target_index is None:
        return Dataset(name, x.astype(np.float32), x.astype(np.float32), "regression", (), source, True)
    return _csv_target(path, name, source, x.astype(np.float32), columns[target_index], cells[target_index])


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _target_column(path: Path, columns: list[str], target: str) -> int | None:
    if not target:
        return len(columns) - 1
    if target in columns:
        return columns.index(target)
    folded = [i for i, c in enumerate(columns) if c.casefold() == target.casefold()]
    if len(folded) == 1:
        return folded[0]
    if target == RECONSTRUCT:
        return None
    close = difflib.get_close_matches(target, columns, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    shown = ", ".join(f"'{c}'" for c in columns[:30]) + (", ..." if len(columns) > 30 else "")
    raise DatasetError(f"{path}: has no column '{target}' to use as the target (its columns: {shown}){hint}")


def _delimiter(sample: str) -> str:
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _numeric_table(text: str, delimiter: str, skip: int, width: int) -> np.ndarray | None:
    """The body parsed as numbers in one fast pass; None when any cell is not a number (the slow path explains)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input" and the like: the checks below say it better
            table = np.loadtxt(
                io.StringIO(text),
                delimiter=delimiter,
                skiprows=skip,
                dtype=np.float64,
                ndmin=2,
                quotechar='"',
                comments=None,
            )
    except (ValueError, TypeError, IndexError):
        return None
    if table.shape[0] and table.shape[1] != width:
        return None
    return table if table.shape[0] else None


def _cell_columns(path: Path, text: str, delimiter: str, skip: int, columns: list[str]) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    cells: list[list[str]] = [[] for _ in columns]
    try:
        for row in reader:
            if reader.line_num <= skip or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise DatasetError(
                    f"{path}: line {reader.line_num} has {len(row)} values but the header names {len(columns)} columns"
                )
            for column, cell in zip(cells, row):
                column.append(cell.strip())
    except csv.Error as err:
        raise DatasetError(f"{path}: line {reader.line_num}: not valid CSV ({err})") from None
    return cells


def _check_numbers(path: Path, columns: list[str], x: np.ndarray) -> None:
    """The first cell of `x` that is not finite or too large for 32-bit floats, named by its column and data row."""
    for bad, what in ((~np.isfinite(x), "a missing or non-finite value"), (np.abs(np.nan_to_num(x)) > FLOAT32_MAX, "a value too large for 32-bit floats")):
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise DatasetError(f"{path}: column '{columns[column]}' has {what} in data row {row + 1}")


def _numeric_column(path: Path, column: str, cells: Any, feature: bool) -> np.ndarray:
    if isinstance(cells, np.ndarray):
        values = cells
    else:
        values = np.empty(len(cells), dtype=np.float64)
        for row, cell in enumerate(cells):
            try:
                values[row] = float(cell)
            except ValueError:
                if feature:
                    what = f"the text '{cell[:40]}'" if cell else "an empty cell"
                    raise DatasetError(
                        f"{path}: column '{column}' has {what} in data row {row + 1}: every feature column must hold "
                        "numbers (encode text as numbers, drop the column, or make it the target)"
                    ) from None
                raise
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DatasetError(f"{path}: column '{column}' has a missing or non-finite value in data row {bad[0] + 1}")
    bad = np.flatnonzero(np.abs(values) > FLOAT32_MAX)
    if bad.size:
        raise DatasetError(
            f"{path}: column '{column}' has a value too large for 32-bit floats in data row {bad[0] + 1}"
        )
    return values


def _csv_target(path: Path, name: str, source: str, x: np.ndarray, column: str, cells: Any) -> Dataset:
    try:
        values = _numeric_column(path, column, cells, feature=False)
    except ValueError:
        values = None
    if values is not None:
        distinct = np.unique(values)
        if np.all(distinct == np.round(distinct)) and len(distinct) <= CSV_MAX_CLASSES:
            y = np.searchsorted(distinct, values).astype(np.int64)
            return Dataset(name, x, y, "classification", tuple(str(int(v)) for v in distinct), source)
        return Dataset(name, x, values.astype(np.float32)[:, None], "regression", (), source)
    empty = [i for i, cell in enumerate(cells) if not cell]
    if empty:
        raise DatasetError(f"{path}: the target column '{column}' is empty in data row {empty[0] + 1}")
    classes = sorted(set(cells))
    if len(classes) > MAX_CLASSES or (len(classes) == len(cells) and len(cells) > CSV_MAX_CLASSES):
        raise DatasetError(
            f"{path}: the target column '{column}' holds a different text in (nearly) every row, so it cannot be a class "
            "label: choose the target column in the training settings"
        )
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in cells], dtype=np.int64)
    return Dataset(name, x, y, "classification", tuple(classes), source)


# ----- NumPy .npz -----


def read_npz(path: Path, name: str, input_dtype: str | None) -> Dataset:
    """Arrays `x` and `y` (and optionally `classes`) from numpy.savez / savez_compressed."""
    try:
        with open_regular(path) as file:
            with zipfile.ZipFile(file) as archive:
                members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
                missing = [key for key in ("x", "y") if key not in members]
                if missing:
                    found = ", ".join(sorted(members)) or "nothing"
                    raise DatasetError(
                        f"{path}: needs the arrays x (samples) and y (targets); it has no {' and '.join(missing)} (it holds: {found})"
                    )
                for key in ("x", "y", "classes"):
                    if key in members:
                        _check_npy_header(path, archive, members[key], key)
            file.seek(0)
            with np.load(file, allow_pickle=False) as data:
                x, y = data["x"], data["y"]
                names = data["classes"] if "classes" in members else None
    except DatasetError:
        raise
    except (*_ARCHIVE_ERRORS, zipfile.BadZipFile) as err:  # RuntimeError: an encrypted member
        raise DatasetError(f"{path}: not a readable .npz archive of numpy arrays ({_reason(err)})") from None
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: x and y must hold numbers; x is {x.dtype} and y is {y.dtype}")
    if x.ndim < 1 or y.ndim < 1 or len(x) == 0 or len(x) != len(y):
        raise DatasetError(
            f"{path}: x and y need one entry per sample and at least one sample; x has shape {x.shape}, y {y.shape}"
        )
    if x.ndim == 1:
        x = x[:, None]
    for key, array in (("x", x), ("y", y)):
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise DatasetError(f"{path}: {key} holds missing (NaN) or infinite values")
        if array.dtype.kind == "f" and array.size and float(np.abs(array).max()) > FLOAT32_MAX:
            raise DatasetError(f"{path}: {key} holds values too large for 32-bit floats")
    keep_ids = x.dtype.kind in "iub" and input_dtype == "int64"  # load_dataset checks their range
    x = (x.astype(np.uint8) if x.dtype.kind == "b" else x) if keep_ids else x.astype(np.float32)
    source = f"NumPy file {path}"
    if y.ndim == 1 and _class_ids(y):
        ids = y.astype(np.int64)
        if ids.min() < 0 or ids.max() >= MAX_CLASSES:
            raise DatasetError(
                f"{path}: class ids in y must lie from 0 to {MAX_CLASSES - 1}, they run from {ids.min()} to {ids.max()}"
            )
        count = int(ids.max()) + 1
        classes = tuple(str(i) for i in range(count))
        if names is not None and names.ndim == 1 and len(names) >= count and names.dtype.kind in "US":
            classes = tuple(str(n) for n in names.tolist())
        return Dataset(name, x, ids, "classification", classes, source)
    targets = y.astype(np.float32)
    return Dataset(name, x, targets[:, None] if targets.ndim == 1 else targets, "regression", (), source)


def _class_ids(y: np.ndarray) -> bool:
    if y.dtype.kind in "biu":
        return True
    distinct = np.unique(y)
    return bool(np.all(distinct == np.round(distinct)) and distinct.min() >= 0 and len(distinct) <= CSV_MAX_CLASSES)


def _check_npy_header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> None:
    """Refuse an array whose header announces more data than the member holds (before numpy allocates it)."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(member)
        except (ValueError, OSError, EOFError, SyntaxError, TypeError) as err:
            raise DatasetError(f"{path}: the array {key} is not a valid .npy entry ({_reason(err)})") from None
    size = math.prod(shape) * dtype.itemsize
    if dtype.hasobject:
        raise DatasetError(f"{path}: the array {key} holds Python objects; store numbers (or, for classes, strings)")
    if size > MAX_BYTES or size > info.file_size:
        raise DatasetError(f"{path}: the array {key} announces shape {shape} of {dtype}, more than the file holds")


# ----- IDX (MNIST, Fashion-MNIST) -----


def read_idx(path: Path, name: str) -> Dataset:
    """An IDX images file and its labels file (or a folder holding both)."""
    images_path, labels_path = _idx_pair(path)
    images = _read_idx_array(images_path, (3,), "images")
    labels = _read_idx_array(labels_path, (1,), "labels")
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path}: holds {len(images):,} images but {labels_path.name} holds {len(labels):,} labels"
        )
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= MAX_CLASSES:
        raise DatasetError(f"{labels_path}: labels must be whole numbers from 0 up")
    x = images.astype(np.float32)[:, None]
    if images.dtype == np.uint8:
        x /= 255.0
    count = int(labels.max()) + 1
    fashion = "fashion" in str(images_path).lower() and count <= len(FASHION_CLASSES)
    classes = FASHION_CLASSES if fashion else tuple(str(i) for i in range(count))
    return Dataset(
        name, x, labels.astype(np.int64), "classification", classes, f"IDX files {images_path} and {labels_path.name}"
    )


def _idx_pair(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        names = sorted(_listing(path))
        images = [n for n in names if "images" in n and "idx3" in n]
        images.sort(key=lambda n: (not n.startswith("train"), n))
        if not images:
            raise DatasetError(f"{path}: holds no IDX images file (such as train-images-idx3-ubyte.gz)")
        path = path / images[0]
    lower = path.name.lower()
    if "labels" in lower and "idx1" in lower:
        return _partner(path, ("labels", "idx1"), ("images", "idx3")), path
    if "images" in lower and "idx3" in lower:
        return path, _partner(path, ("images", "idx3"), ("labels", "idx1"))
    raise DatasetError(
        f"{path}: give the IDX images file named like train-images-idx3-ubyte[.gz] (its labels file lies beside it)"
    )


def _partner(path: Path, have: tuple[str, str], want: tuple[str, str]) -> Path:
    base = re.sub(have[1], want[1], re.sub(have[0], want[0], path.name, flags=re.IGNORECASE), flags=re.IGNORECASE)
    plain = base.removesuffix(".gz")
    for candidate in (base, plain, plain + ".gz"):
        if (path.parent / candidate).is_file():
            return path.parent / candidate
    raise DatasetError(
        f"{path}: the {want[0]} file that belongs to it ({plain} or {plain}.gz) is not in the same folder"
    )


def _read_idx_array(path: Path, ranks: tuple[int, ...], what: str) -> np.ndarray:
    try:
        with _open_maybe_gzip(path) as stream:
            header = stream.read(4)
            if len(header) < 4 or header[:2] != b"\0\0" or header[2] not in _IDX_TYPES:
                raise DatasetError(
                    f"{path}: not an IDX file: it should start with the magic number 00 00 <type> <rank>"
                )
            if header[3] not in ranks:
                raise DatasetError(
                    f"{path}: an IDX {what} file has rank {' or '.join(map(str, ranks))}, this one {header[3]}"
                )
            dims = struct.unpack(f">{header[3]}I", _exactly(stream, 4 * header[3], path, "its header"))
            dtype = np.dtype(_IDX_TYPES[header[2]])
            size = math.prod(dims) * dtype.itemsize
            if min(dims) < 1 or max(dims) > MAX_DIM or size > MAX_BYTES:
                raise DatasetError(
                    f"{path}: the header announces a {'×'.join(map(str, dims))} array, which is not a sensible {what} file"
                )
            data = _exactly(stream, size, path, f"the {'×'.join(map(str, dims))} values its header announces")
            if stream.read(1):
                raise DatasetError(f"{path}: holds more data than its header announces ({'×'.join(map(str, dims))})")
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path}: cannot be read as an IDX {what} file ({_reason(err)})") from None
    return np.frombuffer(data, dtype=dtype).reshape(dims)


@contextlib.contextmanager
def _open_maybe_gzip(path: Path) -> Iterator[Any]:
    with open_regular(path) as file:
        gzipped = file.read(2) == b"\x1f\x8b"
        file.seek(0)
        if not gzipped:
            yield file
            return
        with gzip.GzipFile(fileobj=file, mode="rb") as unzipped:
            yield unzipped


def _exactly(stream: Any, size: int, path: Path, what: str) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise DatasetError(
            f"{path}: the file is truncated: it ends after {len(data):,} of the {size:,} bytes of {what}"
        )
    return data


# ----- CIFAR python batches -----


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only the globals a CIFAR batch needs (see the module NOTE)."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(
                f"it asks for {module}.{name}, which a CIFAR batch never holds; refused for safety"
            )
        return allowed


_NUMPY_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_NUMPY_SCALAR = np.int64(0).__reduce__()[0]


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray or tuple(shape) != (0,):
        raise pickle.UnpicklingError("an array reconstruction that a CIFAR batch never holds")
    return _NUMPY_RECONSTRUCT(cls, shape, dtype)


def _scalar(dtype: Any, data: Any) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a numpy scalar that a CIFAR batch never holds")
    return _NUMPY_SCALAR(dtype, data)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """What numpy's pickle protocol 5 calls; only plain numbers of exactly the announced size."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or order not in ("C", "F"):
        raise pickle.UnpicklingError("an array that a CIFAR batch never holds")
    if not isinstance(buffer, (bytes, bytearray)) or not isinstance(shape, tuple):
        raise pickle.UnpicklingError("an array that a CIFAR batch never holds")
    array = np.frombuffer(buffer, dtype=dtype)
    if array.size != math.prod(shape):
        raise pickle.UnpicklingError(f"an array of {array.size} values announced as {shape}")
    return array.reshape(shape, order=order)


def _latin1(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("a text encoding that a CIFAR batch never holds")
    return text.encode("latin1")


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
}


def read_cifar(path: Path, name: str) -> Dataset:
    """CIFAR-10/100 python batches: a folder of them or one batch file."""
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        names = _listing(path)
        batches = sorted(
            (n for n in names if re.fullmatch(r"data_batch_\d+", n)), key=lambda n: int(n.rsplit("_", 1)[1])
        )
        batches = batches or [n for n in ("test_batch", "train") if n in names][:1]
        files = [path / n for n in batches]
    else:
        files = [path]
    xs, ys = [], []
    for file in files:
        x, y = _cifar_batch(file)
        xs.append(x)
        ys.append(y)
    labels = np.concatenate(ys)
    count = int(labels.max()) + 1
    classes = _cifar_names(folder, count) or (CIFAR10_CLASSES if count <= 10 else tuple(str(i) for i in range(count)))
    images = np.concatenate(xs).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    shown = path if len(files) == 1 else f"{path} ({', '.join(f.name for f in files)})"
    return Dataset(name, images, labels, "classification", classes, f"CIFAR batches {shown}")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise DatasetError(
            f"{path}: a CIFAR batch is a dict with data and labels, this file holds {type(batch).__name__}"
        )
    data = _key(batch, "data")
    labels = _key(batch, "labels")
    if labels is None:
        labels = _key(batch, "fine_labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DatasetError(
            f"{path}: a CIFAR batch's data is a uint8 array of N×3072 pixels (3×32×32); found {type(data).__name__} {shape or ''}"
        )
    if labels is None:
        raise DatasetError(
            f"{path}: a CIFAR batch holds its labels under 'labels' (or 'fine_labels'); this one has none"
        )
    try:
        ids = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        ids = np.array([-1])
    if ids.ndim != 1 or len(ids) != len(data) or ids.min(initial=0) < 0 or ids.max(initial=0) >= MAX_CLASSES:
        raise DatasetError(
            f"{path}: a CIFAR batch needs one label (a whole number from 0 up) per image; found {len(data):,} images"
        )
    return data, ids


def _cifar_names(folder: Path, count: int) -> tuple[str, ...] | None:
    for meta_name, key in (("batches.meta", "label_names"), ("meta", "fine_label_names")):
        meta = folder / meta_name
        if meta.is_file():
            names = _key(_unpickle(meta), key)
            if isinstance(names, list) and len(names) >= count and all(isinstance(n, (bytes, str)) for n in names):
                return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)
            raise DatasetError(f"{meta}: should list the {count} class names under '{key}'")
    return None


def _unpickle(path: Path) -> Any:
    raw = _read_whole(path, 2**30)
    try:
        return _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # noqa: BLE001 - any failure of a damaged or hostile pickle is the file's fault
        raise DatasetError(f"{path}: not a readable CIFAR python batch ({_reason(err)})") from None


def _key(batch: Any, key: str) -> Any:
    if not isinstance(batch, dict):
        return None
    return batch.get(key.encode(), batch.get(key))


# ----- image folders -----


def read_image_folder(path: Path, name: str, input_shape: tuple[int, ...] | None) -> Dataset:
    """One sub-folder of images per class, resized to the Input's H×W and converted to its channels."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        raise DatasetError(f"{path}: reading image folders needs Pillow (pip install pillow)") from None
    folders = sorted(p for p in (path / n for n in _listing(path)) if p.is_dir() and not p.name.startswith("."))
    groups = [(f.name, sorted(f / n for n in _listing(f) if n.lower().endswith(IMAGE_SUFFIXES))) for f in folders]
    groups = [(label, files) for label, files in groups if files]
    if not groups:
        loose = any(n.lower().endswith(IMAGE_SUFFIXES) for n in _listing(path))
        hint = "the images lie directly in it; " if loose else ""
        raise DatasetError(
            f"{path}: not a dataset: {hint}an image dataset is a folder with one sub-folder of images per class, or use {_KINDS}"
        )
    files = [(i, file) for i, (_, group) in enumerate(groups) for file in group]
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] in (1, 3, 4):
        channels, height, width = input_shape
    else:
        mode, (width, height) = _probe(Image, files[0][1])
        channels = 1 if mode in GREY_MODES else 3
    if len(files) * channels * height * width * 4 > MAX_BYTES:
        raise DatasetError(
            f"{path}: {len(files):,} images of {channels}×{height}×{width} would need more than {MAX_BYTES // 2**30} GiB of memory"
        )
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    x = np.empty((len(files), channels, height, width), dtype=np.float32)
    for row, (_, file) in enumerate(files):
        x[row] = _image(Image, file, mode, width, height)
    y = np.array([i for i, _ in files], dtype=np.int64)
    return Dataset(name, x, y, "classification", tuple(label for label, _ in groups), f"image folder {path}")


def _image(image_module: Any, file: Path, mode: str, width: int, height: int) -> np.ndarray:
    with _opened(image_module, file) as image:
        picture = image.convert(mode)
        if picture.size != (width, height):
            picture = picture.resize((width, height), image_module.Resampling.BILINEAR)
        pixels = np.asarray(picture, dtype=np.float32) / 255.0
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _probe(image_module: Any, file: Path) -> tuple[str, tuple[int, int]]:
    with _opened(image_module, file) as image:
        return image.mode, image.size


@contextlib.contextmanager
def _opened(image_module: Any, file: Path) -> Iterator[Any]:
    """An open image; any failure to decode it (a decompression bomb included) names the file."""
    bombs = (image_module.DecompressionBombError, image_module.DecompressionBombWarning)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            with open_regular(file) as stream, image_module.open(stream) as image:
                yield image
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, *bombs) as err:
        raise DatasetError(f"{file}: cannot be read as an image ({_reason(err)})") from None


# ----- small helpers -----


def _listing(path: Path) -> list[str]:
    try:
        return [entry.name for entry in path.iterdir()]
    except OSError as err:
        raise DatasetError(f"{path}: the folder cannot be read ({_reason(err)})") from None


def _head(path: Path, size: int) -> bytes:
    try:
        with open_regular(path) as stream:
            return stream.read(size)
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({_reason(err)})") from None


def _read_whole(path: Path, limit: int) -> bytes:
    try:
        return read_regular(path, limit)
    except FileTooLargeError:
        raise DatasetError(f"{path}: larger than {limit // 2**20:,} MiB, too large for this kind of file") from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({_reason(err)})") from None


def _text(path: Path) -> str:
    raw = _read_whole(path, MAX_BYTES)
    if b"\0" in raw[:65536]:
        raise DatasetError(f"{path}: not a text file (it holds NUL bytes); a CSV dataset is UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{path}: not UTF-8 text (byte {err.start:,} cannot be decoded); save the CSV file as UTF-8"
        ) from None


def _check_file(path: Path) -> None:
    try:
        check_regular(path)
    except NotRegularFileError as err:
        raise DatasetError(str(err)) from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({_reason(err)})") from None


def _reason(err: BaseException) -> str:
    if isinstance(err, NotRegularFileError):
        return err.reason
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__
