"""Weights files read without trusting them: what a file holds is listed from its headers, and only what fits is read.

A `.npz` lists its arrays from each member's `.npy` header (shape, dtype), each checked against
the bytes its zip entry holds, before any array is read; a PyTorch file is mapped, not read
(`torch.load(weights_only=True, mmap=True)`), so a header that lies about a size can neither
allocate it nor pass for a tensor. The kind of file is told by its content, not its suffix.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from studio.graph.regular_files import NotRegularFileError, check_regular, open_regular
from studio.graph.weights_limit import describe_bytes

if TYPE_CHECKING:
    import torch

REAL_DTYPES = frozenset({"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"})
_ITEM_BYTES = {"bool": 1, "uint8": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
_ZIP, _EMPTY_ZIP, _NPY = b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY"
_DEFLATE_RATIO = 1032  # deflate never expands more than this
_KINDS = "a PyTorch state dict (torch.save) or an .npz of named NumPy arrays"


class WeightsError(Exception):
    """A weights file that cannot be read or does not fit the network; the message names it."""


@dataclass(frozen=True)
class Entry:
    """One tensor a weights file declares, before it is read: its shape and dtype (`float32`; `object` for pickled data)."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def real(self) -> bool:
        """Whether it holds real numbers a layer can take (not complex, text, records or pickled objects)."""
        return self.dtype in REAL_DTYPES

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * _ITEM_BYTES.get(self.dtype, 8)


class WeightsArchive(ABC):
    """An opened weights file: `entries` lists its tensors, `tensors` reads the ones asked for."""

    def __init__(self, path: Path, entries: dict[str, Entry]) -> None:
        self.path = path
        self.entries = entries

    @abstractmethod
    def tensors(self, keys: Iterable[str]) -> dict[str, torch.Tensor]:
        """The tensors named `keys`, read now."""

    def close(self) -> None:
        """Let go of the file."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_weights(path: Path) -> WeightsArchive:
    """Open a weights file and list what it holds, reading no tensor yet.

    Raises:
        WeightsError: it is not a weights file, is cut short, or declares more than it holds (one line, naming it).
    """
    path = Path(path)
    try:
        with open_regular(path) as file:  # a FIFO or a device is refused here, and the path is a file from then on
            start = file.read(8)
    except NotRegularFileError as err:
        raise WeightsError(str(err)) from None
    except OSError as err:
        raise WeightsError(f"{path}: cannot be read ({err.strerror or err})") from None
    if not start:
        raise WeightsError(f"{path}: is empty, not {_KINDS}")
    if start.startswith(_NPY):
        raise WeightsError(f"{path}: holds one array, not named arrays (an .npz archive)")
    if not start.startswith((_ZIP, _EMPTY_ZIP)):
        raise WeightsError(f"{path}: is not a weights file: give {_KINDS}")
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as err:
        raise WeightsError(f"{path}: is cut short or damaged: not a readable zip archive ({_first_line(err)})") from None
    names = archive.namelist()
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        archive.close()
        return _TorchArchive.load(path)
    if not names:
        archive.close()
        raise WeightsError(f"{path}: holds no arrays")
    if not all(name.endswith(".npy") for name in names):
        archive.close()
        raise WeightsError(f"{path}: is a zip archive of other files ({names[0]}), not {_KINDS}")
    return _NpzArchive.load(path, archive)


def load_torch_file(path: Path) -> Any:
    """What a PyTorch file holds, its tensors mapped from the file (never allocated as its pickle declares them).

    Raises:
        WeightsError: not a file torch.save writes, or a damaged one (one line, naming it).
    """
    import torch

    try:
        check_regular(path)  # torch maps the file by its path: a FIFO would block it
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except NotRegularFileError as err:
        raise WeightsError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - the unpickler of a crafted file raises anything (KeyError, IndexError, ...)
        raise WeightsError(f"{path}: cannot be read as PyTorch weights ({_first_line(err)})") from None


class _TorchArchive(WeightsArchive):
    """A state dict from torch.save (or a checkpoint's "model"), mapped from the file."""

    def __init__(self, path: Path, state: dict[str, torch.Tensor]) -> None:
        super().__init__(path, {key: Entry(tuple(value.shape), _torch_dtype(value)) for key, value in state.items()})
        self._state = state

    @classmethod
    def load(cls, path: Path) -> _TorchArchive:
        import torch

        state = load_torch_file(path)
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        if not isinstance(state, dict):
            raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors")
        if not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
            raise WeightsError(f"{path}: holds entries that are not named tensors: not a state dict")
        return cls(path, state)

    def tensors(self, keys: Iterable[str]) -> dict[str, torch.Tensor]:
        return {key: self._state[key] for key in keys}

    def close(self) -> None:
        self._state = {}  # the file stays mapped only while tensors handed out live


def _torch_dtype(tensor: torch.Tensor) -> str:
    import torch

    return str(tensor.dtype).removeprefix("torch.") if tensor.layout == torch.strided and not tensor.is_quantized else "sparse or quantized"


class _NpzArchive(WeightsArchive):
    """Named NumPy arrays, each member's header read and checked against the bytes its zip entry holds."""

    def __init__(self, path: Path, entries: dict[str, Entry], archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> None:
        super().__init__(path, entries)
        self._archive, self._members = archive, members

    @classmethod
    def load(cls, path: Path, archive: zipfile.ZipFile) -> _NpzArchive:
        try:
            size = path.stat().st_size
            entries: dict[str, Entry] = {}
            members: dict[str, zipfile.ZipInfo] = {}
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                if key in entries:
                    raise WeightsError(f"{path}: holds {key} twice")
                entries[key] = _npz_entry(path, archive, info, size)
                members[key] = info
        except BaseException:
            archive.close()
            raise
        return cls(path, entries, archive, members)

    def tensors(self, keys: Iterable[str]) -> dict[str, torch.Tensor]:
        import numpy as np
        import torch

        read: dict[str, torch.Tensor] = {}
        for key in keys:
            try:
                with self._archive.open(self._members[key]) as member:
                    array = np.lib.format.read_array(member, allow_pickle=False)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
                raise WeightsError(f"{self.path}: {key} cannot be read: the file is damaged ({_first_line(err)})") from None
            read[key] = torch.from_numpy(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("=")))
        return read

    def close(self) -> None:
        self._archive.close()


def _npz_entry(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> Entry:
    """One member's shape and dtype from its .npy header, refused where the header declares more than the member holds."""
    import numpy as np

    name = info.filename
    if info.header_offset + info.compress_size > size:
        raise WeightsError(f"{path}: is cut short: {name} runs past the end of the file")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise WeightsError(f"{path}: is damaged: {name} is stored as {info.compress_size} bytes but declares {info.file_size}")
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > info.compress_size * _DEFLATE_RATIO + 1024:
        raise WeightsError(f"{path}: is damaged: {name} declares {describe_bytes(info.file_size)} from {describe_bytes(info.compress_size)} compressed")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise WeightsError(f"{path}: {name} is compressed in a way NumPy never writes (zip method {info.compress_type})")
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f".npy format {version[0]}.{version[1]}, which holds records, not numbers")
            header = member.tell()
    except (OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile, zlib.error) as err:
        raise WeightsError(f"{path}: {name} is not a NumPy array ({_first_line(err)})") from None
    if any(d < 0 for d in shape):
        raise WeightsError(f"{path}: {name} declares the impossible shape {shape}")
    if dtype.hasobject:
        return Entry(tuple(int(d) for d in shape), "object")  # pickled: never read (allow_pickle=False), so its size does not matter
    kind = "records" if dtype.fields is not None or dtype.subdtype is not None else dtype.name
    declared = header + math.prod(shape) * dtype.itemsize
    if declared != info.file_size:
        raise WeightsError(
            f"{path}: {name} declares {shape} {kind} ({describe_bytes(declared - header)}) but holds "
            f"{describe_bytes(max(info.file_size - header, 0))}: the file is cut short or damaged"
        )
    return Entry(tuple(int(d) for d in shape), kind)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
