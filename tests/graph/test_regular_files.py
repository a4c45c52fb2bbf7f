"""Reading only regular files: FIFOs, devices, sockets and folders are refused at once, sizes come from the open file."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from studio.graph import regular_files
from studio.graph.regular_files import (
    FileTooLargeError,
    NotRegularFileError,
    check_regular,
    open_regular,
    read_regular,
    size_of,
)
from tests.hang_guard import fails_instead_of_hanging

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev are POSIX")


@pytest.fixture(autouse=True)
def no_hang():
    """A reader that blocks on a FIFO fails this test in 10 s instead of hanging the suite."""
    with fails_instead_of_hanging(10, "a reader blocked"):
        yield


def test_a_regular_file_is_read_whole_and_sized_from_the_open_file(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"0123456789")
    assert read_regular(path, 10) == b"0123456789"
    with open_regular(path) as file:
        assert size_of(file) == 10 and file.read() == b"0123456789"
    assert check_regular(path).st_size == 10
    link = tmp_path / "link.bin"
    link.symlink_to(path)
    assert read_regular(link, 100) == b"0123456789"  # a link to a regular file is followed


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1000)
    with pytest.raises(FileTooLargeError) as caught:
        read_regular(path, 999)
    assert caught.value.size == 1000 and caught.value.limit == 999
    assert str(caught.value) == f"{path}: is 1,000 bytes, more than the 999 allowed"


@posix_only
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "weights.pt"
    os.mkfifo(fifo)
    for read in (lambda: check_regular(fifo), lambda: open_regular(fifo), lambda: read_regular(fifo, 100)):
        with pytest.raises(NotRegularFileError) as caught:
            read()
        assert str(caught.value) == f"{fifo}: is a FIFO (named pipe), not a file"
    with pytest.raises(NotRegularFileError, match="is a FIFO \\(named pipe\\), not a project file$"):
        read_regular(fifo, 100, "project file")


@posix_only
def test_a_fifo_swapped_in_after_the_check_opens_at_once_and_is_refused(tmp_path: Path, monkeypatch) -> None:
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    monkeypatch.setattr(regular_files, "check_regular", lambda path, what="file": None)  # the check saw a regular file
    with pytest.raises(NotRegularFileError, match="FIFO"):
        open_regular(fifo)  # O_NONBLOCK: the open returns, fstat refuses it


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero_is_refused_naming_the_device(tmp_path: Path) -> None:
    link = tmp_path / "net.prototxt"
    link.symlink_to("/dev/zero")
    with pytest.raises(NotRegularFileError) as caught:
        read_regular(link, 2**30)
    assert str(caught.value) == f"{link}: is a character device (/dev/zero), not a file"
    with pytest.raises(NotRegularFileError, match="is a character device, not a file"):
        read_regular("/dev/zero", 2**30)


def test_a_folder_and_a_socket_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFileError, match="is a folder, not a file$"):
        read_regular(tmp_path, 100)
    if not hasattr(socket, "AF_UNIX"):
        return
    path = tmp_path / "s.lstudio"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(NotRegularFileError, match="is a socket, not a file$"):
            read_regular(path, 100)


def test_a_missing_file_and_a_dangling_link_are_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 100)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        open_regular(dangling)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_a_file_that_says_it_is_empty_is_still_read_only_up_to_the_limit() -> None:
    assert os.stat("/proc/self/status").st_size == 0
    assert b"Name:" in read_regular("/proc/self/status", 2**20)
    with pytest.raises(FileTooLargeError):
        read_regular("/proc/self/status", 10)


def test_the_error_is_an_os_error_that_says_one_line() -> None:
    err = NotRegularFileError("x.pt", "is a FIFO (named pipe), not a file")
    assert isinstance(err, OSError) and err.strerror == err.reason and "\n" not in str(err)
