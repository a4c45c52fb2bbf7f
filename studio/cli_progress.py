"""The command line's progress line: the step under way and the time so far, redrawn in place on a terminal's stderr.

Only a terminal sees it: piped or logged stderr gets no line at all, so logs and tests read as
before. It ends by erasing itself, so what the command prints afterwards starts on a clean line.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Self, TextIO

REDRAW_S = 0.25
ERASE = "\r\x1b[K"  # back to the line's start, and clear it


class ProgressLine:
    """`with ProgressLine() as progress: progress.step("building the model")`; an export's `Progress` too."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream)
        self.text = ""
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="progress line", daemon=True)

    def __enter__(self) -> Self:
        if self.live:
            self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._done.set()
        if self.live:
            self._ticker.join()
            with self._lock:
                self.stream.write(ERASE)
                self.stream.flush()

    def step(self, text: str) -> None:
        """Show `text` as the step under way."""
        self.text = text
        self._draw()

    def writing(self, text: str) -> None:
        """Show the last step, writing the files (an export's `Progress`)."""
        self.step(text)

    def _tick(self) -> None:
        while not self._done.wait(REDRAW_S):
            self._draw()

    def _draw(self) -> None:
        if not self.live or self._done.is_set():
            return
        with self._lock:
            self.stream.write(f"{ERASE}layer-studio: {self.text}… {time.monotonic() - self._started:.1f} s")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False
