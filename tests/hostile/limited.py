"""One `layer-studio` command in a fresh process under a memory limit and a timeout, and what it left behind."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEMORY = 3 * 2**30  # address space: torch, onnx and the runtimes load in well under it
TIMEOUT_S = 90.0
_LIMITED = (  # the child sets its own limit, then runs `python -m studio` with the rest of its arguments
    "import resource, runpy, sys; limit = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
    "runpy.run_module('studio', run_name='__main__', alter_sys=True)"
)  # a hang shows as a timeout; every case here answers in seconds


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit status (None when it ran past the timeout) and its output."""

    status: int | None
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"exit {self.status}\n--- stderr ---\n{self.stderr[-3000:]}\n--- stdout ---\n{self.stdout[-1000:]}"


def run_limited(args: list[str], cwd: Path, memory: int = MEMORY, timeout: float = TIMEOUT_S, env: dict[str, str] | None = None) -> Outcome:
    """`python -m studio ARGS` with RLIMIT_AS set to `memory` in the child (its own process group); killed (with its children) after `timeout` seconds."""

    child_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", _LIMITED, str(memory), *args]
    with subprocess.Popen(command, cwd=cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, process_group=0) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return Outcome(None, stdout, stderr)
    return Outcome(process.returncode, stdout, stderr)


def fingerprint(path: Path) -> tuple[object, ...]:
    """What a path is and holds, without following a final link and without reading a FIFO or a device."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return ("absent",)
    kind = stat.S_IFMT(info.st_mode)
    if stat.S_ISREG(info.st_mode):
        return (kind, hashlib.sha256(path.read_bytes()).hexdigest())
    if stat.S_ISLNK(info.st_mode):
        return (kind, os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return (kind, tuple(sorted(p.name for p in path.iterdir())))
    return (kind, info.st_ino, info.st_rdev)
