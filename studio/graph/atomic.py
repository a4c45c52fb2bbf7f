"""Atomic file writes: a temporary file in the same folder, flushed, then renamed over the target."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from contextlib import suppress


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data`, so that it is either the old file or the new one.

    A symbolic link is followed (the file it points to is replaced), an existing file keeps its
    permissions, and on any failure the temporary file is removed and the OSError re-raised.
    """
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    temporary: str | None = None
    try:
        fd, temporary = _create_temporary(directory, os.path.basename(target))
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _copy_mode(target, temporary)
        os.replace(temporary, target)
        temporary = None
    finally:
        if temporary is not None:
            with suppress(OSError):
                os.remove(temporary)
    _sync_directory(directory)


def _create_temporary(directory: str, base: str) -> tuple[int, str]:
    # os.open with mode 0o666 lets the umask decide a new file's permissions, as a plain open does.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = os.path.join(directory or ".", f".{base[:100]}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "cannot create a temporary file", os.path.join(directory, base))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _copy_mode(target: str, temporary: str) -> None:
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return
    os.chmod(temporary, mode)


def _sync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows it (best effort: not on Windows)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_os_error(err: OSError) -> str:
    """Say in a user's words why a file could not be written."""
    directory = os.path.dirname(err.filename) if isinstance(err.filename, str) else "."
    if isinstance(err, FileNotFoundError):
        return f"the folder {directory!r} does not exist"
    if isinstance(err, PermissionError):
        return f"permission denied (cannot write in the folder {directory!r})"
    if isinstance(err, IsADirectoryError):
        return "it is a folder"
    if err.errno == errno.ENOSPC:
        return "the disk is full"
    return err.strerror or str(err)
