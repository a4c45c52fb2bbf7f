"""Run one of Layer Studio's modules in a child process: a time limit, a cancel, a one-line reason when it fails.

Used where the work runs code or libraries that could crash or hang the caller: a user's PyTorch
code (`studio.torch_capture`) and an exported file in its runtime (`studio.verify.child`).
On Linux the child dies when the thread that started it (and waits for it) dies (PR_SET_PDEATHSIG),
so an editor killed mid-way leaves nothing running; a parent already gone before that ends it too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

POLL_S = 0.05  # how often a cancellable child's cancel event is looked at
_DIES_WITH_PARENT = (
    "import ctypes, os, runpy, signal, sys\n"
    "parent = int(sys.argv.pop(1))\n"
    "module = sys.argv.pop(1)\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != parent:\n    sys.exit(1)\n"
    "runpy.run_module(module, run_name='__main__', alter_sys=True)\n"
)


class ChildFailed(Exception):
    """The child was stopped, ran out of time, crashed or exited with an error; the message is one line."""


class ChildStopped(ChildFailed):
    """The caller's cancel stopped the child."""


def run_module(module: str, args: list[str], cwd: Path, timeout: float, cancel: threading.Event | None = None, doing: str = "the work", env: dict[str, str] | None = None) -> str:
    """Run `python -m module *args` in `cwd` and return its stderr; `cancel` kills it at once.

    `doing` names the work in the messages ("building and capturing the module took longer than 600 s").
    `env` adds variables to the child's environment only.

    Raises:
        ChildStopped: `cancel` was set.
        ChildFailed: timed out, crashed (the signal named) or failed (its last stderr line).
    """
    start = [sys.executable, "-c", _DIES_WITH_PARENT, str(os.getpid()), module] if sys.platform.startswith("linux") else [sys.executable, "-m", module]
    root = str(Path(__file__).resolve().parents[1])
    child_env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([*start, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=child_env)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            try:
                _, stderr = child.communicate(timeout=left if cancel is None else min(left, POLL_S))
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    raise ChildStopped("stopped") from None
                if time.monotonic() >= deadline:
                    raise ChildFailed(f"{doing} took longer than {timeout:g} s; it was stopped") from None
    finally:
        if child.poll() is None:  # stopped, timed out or interrupted: the child ends with us
            child.kill()
            child.communicate()
    if child.returncode != 0:
        raise ChildFailed(reason(child.returncode, stderr, doing))
    if cancel is not None and cancel.is_set():
        raise ChildStopped("stopped")
    return stderr


def reason(returncode: int, stderr: str, doing: str) -> str:
    """The child's one-line reason: its last line on stderr, or the signal that ended it."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the child process crashed ({name}) during {doing}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"the child process ended with status {returncode} and gave no reason"


__all__ = ["ChildFailed", "ChildStopped", "reason", "run_module"]
