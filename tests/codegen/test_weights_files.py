"""Weights files that lie or are not weights files: one line naming the file, and nothing allocated from what they declare."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from studio.codegen.export import WeightsError, load_weights
from studio.codegen.weights import read_weights
from studio.codegen.weights_reader import open_weights

EIGHT_GIB = (2**31,)  # float32


def npy(shape: tuple[int, ...], dtype: str = "<f4", data: bytes | None = None) -> bytes:
    """A .npy member: its header declaring `shape`, then `data` (by default the bytes the header promises)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + (bytes(int(np.prod(shape)) * np.dtype(dtype).itemsize) if data is None else data)


def npz(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)
    return path


def model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def state_members(module: nn.Module) -> dict[str, bytes]:
    members = {}
    for key, value in module.state_dict().items():
        buffer = io.BytesIO()
        np.save(buffer, value.numpy())
        members[key] = buffer.getvalue()
    return members


def test_an_npz_header_declaring_8_gib_is_refused_from_the_zip_directory(tmp_path: Path) -> None:
    lying = npz(tmp_path / "lie.npz", {"0.weight": npy(EIGHT_GIB, data=bytes(64))})
    assert lying.stat().st_size < 1000
    with pytest.raises(WeightsError, match=r"lie.npz: 0.weight.npy declares \(2147483648,\) float32 \(8 GiB\) but holds 64 bytes"):
        load_weights(model(), lying)


def test_a_deflated_member_declaring_more_than_deflate_can_expand_is_refused(tmp_path: Path) -> None:
    path = npz(tmp_path / "bomb.npz", {"0.weight": npy((2, 3))}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    central = data.rindex(b"PK\x01\x02")  # the central directory's uncompressed size, at offset 24
    data[central + 24 : central + 28] = struct.pack("<I", 2**32 - 1)
    path.write_bytes(bytes(data))
    assert info.compress_size < 100
    with pytest.raises(WeightsError, match=r"bomb.npz: is damaged: 0.weight.npy declares 4 GiB from \d+ bytes compressed"):
        open_weights(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"hello, these are not weights\n", "is not a weights file: give a PyTorch state dict"),
        (b"", "is empty"),
        (npy((2,)), "holds one array, not named arrays"),
        (b"PK\x03\x04 not really", "cut short or damaged"),
    ],
)
@pytest.mark.parametrize("suffix", [".pt", ".npz", ".bin"])
def test_a_file_that_is_not_a_weights_file_is_one_line_whatever_its_name(tmp_path: Path, content: bytes, words: str, suffix: str) -> None:
    path = tmp_path / f"w{suffix}"
    path.write_bytes(content)
    with pytest.raises(WeightsError) as caught:
        load_weights(model(), path)
    message = str(caught.value)
    assert words in message and str(path) in message and "\n" not in message


def test_a_cut_short_npz_and_a_zip_of_other_files_are_refused(tmp_path: Path) -> None:
    whole = npz(tmp_path / "whole.npz", state_members(model())).read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match="cut.npz: is cut short or damaged"):
        load_weights(model(), tmp_path / "cut.npz")
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(WeightsError, match=r"other.npz: is a zip archive of other files \(readme.txt\)"):
        load_weights(model(), tmp_path / "other.npz")


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (npy((2, 3), "|O", data=b"\x80\x04N."), r"not real numbers: 0.weight \(object\)"),
        (npy((2, 3), "<c8"), r"not real numbers: 0.weight \(complex64\)"),
        (npy((3, 2)), r"wrong shape for 0.weight \(\(3, 2\) instead of \(2, 3\)\)"),
        (npy((2, 3), "<f4", data=bytes(8)), r"0.weight.npy declares \(2, 3\) float32 \(24 bytes\) but holds 8 bytes"),
        (npy((-1, 3), data=bytes(12)), r"impossible shape"),
    ],
)
def test_names_shapes_and_dtypes_are_checked_before_any_array_is_read(tmp_path: Path, member: bytes, words: str) -> None:
    members = state_members(model())
    members["0.weight"] = member
    with pytest.raises(WeightsError, match=words):
        load_weights(model(), npz(tmp_path / "w.npz", members))


def test_only_the_tensors_that_fit_are_read(tmp_path: Path) -> None:
    source = model()
    with torch.no_grad():
        source[0].weight.fill_(0.5)
    members = state_members(source)
    members["extra"] = npy((4096,))  # longer than zipfile's first read, so its header reads before the checksum is due
    path = npz(tmp_path / "w.npz", members)
    data = bytearray(path.read_bytes())
    start = data.index(b"extra.npy") + len("extra.npy") + 10000  # inside the extra member's array data
    data[start : start + 4] = b"\xff\xff\xff\xff"  # its checksum no longer holds: reading it would fail
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="extra cannot be read: the file is damaged"):
        read_weights(path)
    target = model()
    assert load_weights(target, path, partial=True) == []
    assert torch.equal(target[0].weight, source[0].weight)


def test_a_big_endian_or_fortran_ordered_npz_loads_as_it_reads(tmp_path: Path) -> None:
    source = model()
    members = state_members(source)
    buffer = io.BytesIO()
    np.save(buffer, np.asfortranarray(source[0].weight.detach().numpy().astype(">f4")))
    members["0.weight"] = buffer.getvalue()
    target = model()
    load_weights(target, npz(tmp_path / "w.npz", members))
    assert torch.equal(target[0].weight, source[0].weight)


def test_a_pt_whose_pickle_declares_a_huge_storage_is_refused_without_allocating(tmp_path: Path) -> None:
    torch.save({"0.weight": torch.zeros(4)}, tmp_path / "ok.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    pickle_name = next(name for name in members if name.endswith("data.pkl"))
    huge = b"J" + struct.pack("<i", 2**31 - 1)  # the storage's and the tensor's size, 4 -> 2^31 - 1 elements
    members[pickle_name] = members[pickle_name].replace(b"K\x04t", huge + b"t", 1).replace(b"K\x00K\x04\x85", b"K\x00" + huge + b"\x85", 1)
    with zipfile.ZipFile(tmp_path / "lie.pt", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(WeightsError, match="lie.pt: cannot be read as PyTorch weights"):
        load_weights(model(), tmp_path / "lie.pt")


@pytest.mark.parametrize(("saved", "words"), [([1, 2, 3], "holds a list, not a state dict"), ({"a": 1}, "entries that are not named tensors")])
def test_a_pt_that_is_not_a_state_dict_is_refused(tmp_path: Path, saved: object, words: str) -> None:
    torch.save(saved, tmp_path / "w.pt")
    with pytest.raises(WeightsError, match=words):
        load_weights(model(), tmp_path / "w.pt")


def test_reading_a_whole_file_keeps_to_the_weights_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = npz(tmp_path / "w.npz", state_members(model()))
    assert set(read_weights(path)) == set(model().state_dict())
    monkeypatch.setenv("LAYER_STUDIO_MAX_WEIGHTS_GIB", str(16 / 2**30))
    with pytest.raises(WeightsError, match=r"w.npz: holds \d+ bytes of weights; the limit is 16 bytes: raise it with --max-weights-gib"):
        read_weights(path)
