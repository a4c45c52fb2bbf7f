"""A test that blocks (a reader waiting on a FIFO) fails after a time instead of hanging the suite."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fails_instead_of_hanging(seconds: int, what: str) -> Iterator[None]:
    """Raise TimeoutError(`what`) in the block once it has run `seconds` (where SIGALRM exists; elsewhere nothing is guarded)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def hung(number: int, frame: object) -> None:
        raise TimeoutError(what)

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
