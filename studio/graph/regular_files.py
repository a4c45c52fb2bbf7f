"""Reading a user's path only when it is a regular file: a FIFO, a device, a socket or a folder is refused before a byte is read.

NOTE: every reader of a path a user names (projects, weights, models, data, checkpoints, code)
opens it here or checks it here first. A link is followed and what it points to is judged, the
opening never blocks (O_NONBLOCK: a FIFO swapped in after the check opens at once and is refused),
and the size is taken from the opened file, so a symlink to /dev/zero or a named pipe is one line
of error instead of a hang or an endless read. Writers refuse the same targets (`atomic.py`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_CHUNK = 2**20


class NotRegularFileError(OSError):
    """A path that names something other than a regular file once links are followed; str() is one line naming it."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(errno.EINVAL, reason, os.fspath(path))
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.filename}: {self.reason}"


class FileTooLargeError(OSError):
    """A regular file larger than its reader allows; `size` is what the opened file holds (at least), `limit` the most allowed."""

    def __init__(self, path: str | os.PathLike[str], size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(errno.EFBIG, f"is {size:,} bytes, more than the {limit:,} allowed", os.fspath(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def kind_of(mode: int) -> str | None:
    """What a file of this `st_mode` is in words ("a FIFO (named pipe)"), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def refuse_unless_regular(path: str | os.PathLike[str], info: os.stat_result, what: str = "file") -> None:
    """Raise NotRegularFileError unless `info` (the status of `path`, links followed) is a regular file's."""
    kind = kind_of(info.st_mode)
    if kind is None:
        return
    name = os.fspath(path)
    resolved = os.path.realpath(name)
    shown = f"{kind} ({resolved})" if os.path.normcase(resolved) != os.path.normcase(os.path.abspath(name)) else kind
    raise NotRegularFileError(name, f"is {shown}, not a {what}")


def check_regular(path: str | os.PathLike[str], what: str = "file") -> os.stat_result:
    """The status of the regular file at `path` (links followed), for a reader that must hand the path itself to a library.

    Raises:
        NotRegularFileError: it is a folder, FIFO, device or socket.
        OSError: it cannot be looked at (FileNotFoundError for a missing file or a dangling link).
    """
    info = os.stat(path)
    refuse_unless_regular(path, info, what)
    return info


def open_regular(path: str | os.PathLike[str], what: str = "file") -> BinaryIO:
    """The regular file at `path` opened for reading in binary; `size_of` gives its size from the open file.

    Raises:
        NotRegularFileError: it is a folder, FIFO, device or socket (checked before and after opening).
        OSError: it cannot be opened.
    """
    check_regular(path, what)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        refuse_unless_regular(path, os.fstat(fd), what)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def size_of(file: BinaryIO) -> int:
    """The size of an open file, from the file itself (not from its path, which may have changed)."""
    return os.fstat(file.fileno()).st_size


def read_regular(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file at `path`, refused beyond `limit` bytes; never reads more than `limit` + 1.

    A file whose size reads 0 but that holds more (/proc) is read in chunks up to the limit.

    Raises:
        NotRegularFileError: it is a folder, FIFO, device or socket.
        FileTooLargeError: it holds more than `limit` bytes.
        OSError: it cannot be read.
    """
    with open_regular(path, what) as file:
        return read_bounded(file, limit, path)


def read_or_refuse(path: str | os.PathLike[str], limit: int, error: Callable[[str], Exception], too_large: Callable[[int], str]) -> bytes:
    """`read_regular`, with every refusal one `error` naming the file; `too_large(size)` says what a file past `limit` is."""
    try:
        return read_regular(path, limit)
    except NotRegularFileError as err:
        raise error(str(err)) from None
    except FileTooLargeError as err:
        raise error(f"{path}: {too_large(err.size)}") from None
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror or err})") from None


def read_bounded(file: BinaryIO, limit: int, path: str | os.PathLike[str]) -> bytes:
    """The rest of an open regular file, refused (FileTooLargeError naming `path`) when it holds more than `limit` bytes."""
    size = size_of(file)
    if size > limit:
        raise FileTooLargeError(path, size, limit)
    parts = [file.read(size + 1)]
    total = len(parts[0])
    while total <= limit and parts[-1]:
        part = file.read(min(_CHUNK, limit + 1 - total))
        parts.append(part)
        total += len(part)
    if total > limit:
        raise FileTooLargeError(path, total, limit)
    parts = [part for part in parts if part]
    return parts[0] if len(parts) == 1 else b"".join(parts)
