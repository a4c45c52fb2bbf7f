"""Atomic writes of one file or several together: all or none, special targets refused, temporaries of killed runs removed."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.graph import atomic
from studio.graph.atomic import (
    STALE_AFTER_S,
    NotRegularFileError,
    remove_stale_temporaries,
    temporary_name,
    write_all_atomically,
    write_atomically,
)

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, /dev and process ids as POSIX has them")


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_every_file_is_written_and_no_temporary_is_left(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"old weights")
    write_all_atomically([(tmp_path / "model.pt", b"new weights"), (tmp_path / "model.py", b"code")])
    assert (tmp_path / "model.pt").read_bytes() == b"new weights" and (tmp_path / "model.py").read_bytes() == b"code"
    assert listing(tmp_path) == ["model.pt", "model.py"]


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failure_on_the_second_file_leaves_the_first_target_unchanged(tmp_path: Path, monkeypatch, error) -> None:
    (tmp_path / "model.pt").write_bytes(b"old weights")
    (tmp_path / "model.py").write_bytes(b"old code")
    real, writes = atomic._write_all, []

    def full_on_the_second(fd, data):
        writes.append(data)
        if len(writes) == 2:
            real(fd, data[:2])  # a part is on disk when the disk fills up
            raise error
        real(fd, data)

    monkeypatch.setattr(atomic, "_write_all", full_on_the_second)
    with pytest.raises(type(error)) as caught:
        write_all_atomically([(tmp_path / "model.pt", b"new weights"), (tmp_path / "model.py", b"new code")])
    if isinstance(error, OSError):
        assert caught.value.filename == str(tmp_path / "model.py")  # the target, not its temporary
    assert (tmp_path / "model.pt").read_bytes() == b"old weights" and (tmp_path / "model.py").read_bytes() == b"old code"
    assert listing(tmp_path) == ["model.pt", "model.py"]


def test_a_target_that_is_a_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"old weights")
    (tmp_path / "model.py").mkdir()
    with pytest.raises(NotRegularFileError) as caught:
        write_all_atomically([(tmp_path / "model.pt", b"new weights"), (tmp_path / "model.py", b"code")])
    assert str(caught.value) == f"{tmp_path / 'model.py'}: is a folder, not a file"
    assert atomic.describe_os_error(caught.value) == "is a folder, not a file"
    assert (tmp_path / "model.pt").read_bytes() == b"old weights" and listing(tmp_path) == ["model.pt", "model.py"]


@posix_only
def test_a_fifo_target_is_refused_and_left_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="is a FIFO \\(named pipe\\), not a file$"):
        write_atomically(fifo, b"onnx")
    assert fifo.is_fifo() and listing(tmp_path) == ["model.onnx"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_link_to_a_device_is_refused_and_a_link_to_a_file_is_written_through(tmp_path: Path) -> None:
    device = tmp_path / "out.py"
    device.symlink_to("/dev/full")
    with pytest.raises(NotRegularFileError, match=r"is a character device \(/dev/full\), not a file"):
        write_atomically(device, b"code")
    assert device.is_symlink() and os.readlink(device) == "/dev/full" and Path("/dev/full").is_char_device()
    real = tmp_path / "real.py"
    real.write_bytes(b"old")
    link = tmp_path / "link.py"
    link.symlink_to(real)
    write_atomically(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "run.sh"
    path.write_bytes(b"old")
    path.chmod(0o751)
    write_all_atomically([(path, b"new")])
    assert path.stat().st_mode & 0o777 == 0o751


def test_temporaries_carry_a_recognizable_name() -> None:
    name = temporary_name("model.py")
    assert name.startswith(".model.py.layer-studio.") and name.endswith(".tmp")
    assert atomic._TEMPORARY.fullmatch(name) and f".{os.getpid()}.{atomic._PROCESS}" in name


def test_an_earlier_process_with_our_pid_left_a_stale_temporary_and_ours_is_kept(tmp_path: Path) -> None:
    other = "0000" if atomic._PROCESS != "0000" else "ffff"
    earlier = tmp_path / f".model.pt.layer-studio.{atomic._HOST}.{os.getpid()}.{other}abcd.tmp"  # a container restarted with the same PID
    ours = tmp_path / temporary_name("model.pt")
    earlier.write_bytes(b"x")
    ours.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [earlier.name] and ours.exists()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@posix_only
def test_stale_temporaries_are_removed_and_nothing_else(tmp_path: Path) -> None:
    host = atomic._HOST
    dead = tmp_path / f".model.pt.layer-studio.{host}.{dead_pid()}.0123abcd.tmp"
    alive = tmp_path / f".model.pt.layer-studio.{host}.{os.getppid()}.0123abcd.tmp"  # a live writer's (our parent)
    elsewhere = tmp_path / ".model.pt.layer-studio.ffffffff.1.0123abcd.tmp"  # another machine's: only its age counts
    old = tmp_path / f".old.pt.layer-studio.{host}.{os.getppid()}.0123abcd.tmp"
    foreign = [tmp_path / ".model.pt.0123abcd.tmp", tmp_path / f".model.pt.layer-studio.{host}.1.0123abcd.tmp.keep", tmp_path / "model.pt"]
    for path in (dead, alive, elsewhere, old, *foreign):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - STALE_AFTER_S - 60,) * 2)
    link = tmp_path / f".link.layer-studio.{host}.{dead_pid()}.0123abcd.tmp"
    link.symlink_to(tmp_path / "model.pt")  # a link of that name is not ours: never followed, never removed
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([dead.name, old.name])
    assert not dead.exists() and not old.exists()
    assert alive.exists() and elsewhere.exists() and link.is_symlink() and all(p.exists() for p in foreign)
    later = time.time() + STALE_AFTER_S + 60  # a day on, every temporary is stale, whoever wrote it
    assert sorted(remove_stale_temporaries(tmp_path, now=later)) == sorted([alive.name, elsewhere.name])
    assert link.is_symlink() and all(p.exists() for p in foreign)


KILLED_WRITER = """
import os, sys, time
from studio.graph import atomic
real = atomic._write_all
def stalled(fd, data):
    real(fd, data[: len(data) // 2])
    print("half", flush=True)
    time.sleep(60)
atomic._write_all = stalled
atomic.write_all_atomically([(sys.argv[1], b"w" * 100_000), (sys.argv[2], b"code")])
"""


@posix_only
def test_a_writer_killed_mid_write_leaves_a_temporary_the_next_write_removes(tmp_path: Path) -> None:
    weights, code = tmp_path / "model.pt", tmp_path / "model.py"
    weights.write_bytes(b"old weights")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(weights), str(code)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout.readline().strip() == "half"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    left = [name for name in listing(tmp_path) if name.startswith(".model.pt.layer-studio.")]
    assert len(left) == 1 and weights.read_bytes() == b"old weights" and not code.exists()
    write_all_atomically([(weights, b"new weights"), (code, b"code")])
    assert listing(tmp_path) == ["model.pt", "model.py"] and weights.read_bytes() == b"new weights"


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_during_the_renames_waits_for_them_to_finish() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), atomic._interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal arrives here, and is held
        done.append("renamed")
    assert done == ["renamed"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
