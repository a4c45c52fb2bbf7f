"""Atomic file writes: temporary files in the target's folder, flushed, then renamed over the targets, one file or several together.

NOTE: a temporary is named `.NAME.layer-studio.HOST.PID.RANDOM.tmp` (HOST: 8 hex digits of the
machine's name, PID: the writing process, RANDOM: 8 hex digits, the first 4 drawn once per
process), so a run that was killed while writing leaves files that say what they are, and the
next write to that folder removes them. One is stale when its writer is gone (its host is this
machine and no process has its PID, or this process has it but did not write it, as after a
restart in a container that reuses PIDs; where a PID cannot be asked safely, as on Windows,
this is never assumed) or when it was last written more than `STALE_AFTER_S` ago, whoever
wrote it. Nothing else in the folder is touched: the name must match exactly and the entry be
a regular file, not a link.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from studio.graph.regular_files import NotRegularFileError, refuse_unless_regular

STALE_AFTER_S = 24 * 3600  # a temporary this old is stale even when its writer may be alive (another machine, a reused PID)
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_PROCESS = secrets.token_hex(2)  # tells this process's temporaries from those of an earlier one with the same PID
_TEMPORARY = re.compile(r"\..*\.layer-studio\.([0-9a-f]{8})\.([0-9]{1,10})\.([0-9a-f]{4})[0-9a-f]{4}\.tmp", re.DOTALL)

PathLike = str | os.PathLike[str]


def write_atomically(path: PathLike, data: bytes) -> None:
    """Replace the file at `path` with `data`, so that it is either the old file or the new one (`write_all_atomically` of one file)."""
    write_all_atomically([(path, data)])


def write_all_atomically(files: Sequence[tuple[PathLike, bytes]]) -> None:
    """Replace every file of `files` together: all are written to temporaries and renamed over their targets only when all are complete.

    A symbolic link is followed (the file it points to is replaced); an existing target that is
    not a regular file (a folder, FIFO, device, socket) is refused before anything is written.
    An existing file keeps its permissions. Stale temporaries of killed runs in the targets'
    folders are removed first. On any failure before the renames (Ctrl-C too) every temporary is
    removed and every target is left as it was; Ctrl-C during the renames waits for them.

    Raises:
        NotRegularFileError: a target exists and is not a regular file.
        OSError: a file could not be written; its `filename` is the target's path as given.
    """
    targets = [os.path.realpath(os.fspath(path)) for path, _ in files]
    for path, _ in files:
        check_target(path)
    folders = list(dict.fromkeys(os.path.dirname(target) for target in targets))
    for folder in folders:
        remove_stale_temporaries(folder)
    staged: list[tuple[str, str]] = []
    try:
        for (path, data), target in zip(files, targets, strict=True):
            try:
                staged.append((_stage(target, data), target))
            except OSError as err:
                err.filename = os.fspath(path)
                raise
        with _interrupts_deferred():
            for (path, _), (temporary, target) in zip(files, staged, strict=True):
                try:
                    os.replace(temporary, target)
                except OSError as err:
                    err.filename = os.fspath(path)
                    raise
            staged.clear()
    finally:
        for temporary, _ in staged:
            with suppress(OSError):
                os.remove(temporary)
    for folder in folders:
        _sync_directory(folder)


def check_target(path: PathLike) -> None:
    """Refuse a target before any work for it: one that exists, links followed, and is not a regular file (NotRegularFileError), or whose folder is missing or cannot be written in (OSError)."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as err:
        err.filename = os.fspath(path)
        raise
    if info is not None:
        refuse_unless_regular(path, info)
    folder = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(folder):
        code = errno.ENOTDIR if os.path.exists(folder) else errno.ENOENT
        raise (NotADirectoryError if code == errno.ENOTDIR else FileNotFoundError)(code, os.strerror(code), os.fspath(path))
    if not os.access(folder, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))


def _stage(target: str, data: bytes) -> str:
    """A complete, flushed temporary beside `target` holding `data` with the target's permissions; removed again on failure."""
    fd, temporary = _create_temporary(os.path.dirname(target), os.path.basename(target))
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _copy_mode(target, temporary)
    except BaseException:
        with suppress(OSError):
            os.remove(temporary)
        raise
    return temporary


def temporary_name(base: str) -> str:
    """A fresh temporary's name for a target named `base` (see the module's NOTE)."""
    return f".{base[:100]}.layer-studio.{_HOST}.{os.getpid()}.{_PROCESS}{secrets.token_hex(2)}.tmp"


def _create_temporary(directory: str, base: str) -> tuple[int, str]:
    # os.open with mode 0o666 lets the umask decide a new file's permissions, as a plain open does.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = os.path.join(directory or ".", temporary_name(base))
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "cannot create a temporary file", os.path.join(directory, base))


def remove_stale_temporaries(folder: PathLike, now: float | None = None) -> list[str]:
    """Remove the temporaries of killed writes in `folder` (see the module's NOTE); returns the names removed."""
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = os.scandir(os.fspath(folder) or ".")
    except OSError:
        return removed
    with entries:
        for entry in entries:
            match = _TEMPORARY.fullmatch(entry.name)
            if match is None:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if now - info.st_mtime < STALE_AFTER_S and not _writer_gone(match[1], int(match[2]), match[3]):
                continue
            with suppress(OSError):
                os.remove(entry.path)
                removed.append(entry.name)
    return removed


def _writer_gone(host: str, pid: int, process: str) -> bool:
    """True only when the process that wrote a temporary surely no longer runs."""
    if host != _HOST:
        return False  # another machine's process cannot be asked
    if pid == os.getpid():
        return process != _PROCESS
    if os.name != "posix":
        return False  # on Windows os.kill(pid, 0) would send a Ctrl-C
    if not 0 < pid < 2**31:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process), or cannot be asked
    return False


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that comes while the block runs and deliver it after, so renames are not cut in half (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    held: list[object] = []
    signal.signal(signal.SIGINT, lambda number, frame: held.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        previous(signal.SIGINT, held[0])


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
    if isinstance(err, NotRegularFileError):
        return err.reason
    directory = os.path.dirname(err.filename) if isinstance(err.filename, str) else "."
    if isinstance(err, FileNotFoundError):
        return f"the folder {directory!r} does not exist"
    if isinstance(err, NotADirectoryError):
        return f"{directory!r} is a file, not a folder"
    if isinstance(err, PermissionError):
        return f"permission denied (cannot write in the folder {directory!r})"
    if isinstance(err, IsADirectoryError):
        return "it is a folder"
    if err.errno == errno.ENOSPC:
        return "the disk is full"
    return err.strerror or str(err)
