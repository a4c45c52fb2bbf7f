"""A slow import run off the GUI thread behind a progress dialog whose Cancel (or closing it) stops the work at once.

The work is a function of a `threading.Event` that it polls (the PyTorch capture kills its child
process when the event is set). The caller waits in a local event loop, so the window keeps
painting and answering while the dialog blocks edits; a cancel returns at once and the thread's
late result, if any, is dropped. The thread touches no Qt object: the GUI thread looks at it
every `POLL_MS`, so nothing Qt owns is made or freed off the GUI thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QProgressDialog, QWidget

POLL_MS = 50


@dataclass(frozen=True)
class Outcome:
    """How the work ended: its result, the exception it raised, or cancelled by the user."""

    result: object = None
    error: BaseException | None = None
    cancelled: bool = False


def run_cancellable(parent: QWidget, title: str, text: str, work: Callable[[threading.Event], object]) -> Outcome:
    """Run `work(cancel)` in a thread behind a modal progress dialog; return when it ends or the user cancels."""
    cancel = threading.Event()
    ended: list[Outcome] = []  # the thread's outcome, appended once
    outcomes: list[Outcome] = []  # what the caller gets: the thread's, or cancelled
    loop = QEventLoop()

    def finish(outcome: Outcome) -> None:
        if not outcomes:
            outcomes.append(outcome)
        loop.quit()

    def body() -> None:
        try:
            ended.append(Outcome(result=work(cancel)))
        except BaseException as err:  # noqa: BLE001 - every failure reaches the caller, who reports it; the loop must end
            ended.append(Outcome(error=err))

    dialog = QProgressDialog(text, "Cancel", 0, 0, parent)
    dialog.setObjectName("importProgress")
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setMinimumWidth(420)
    started = time.monotonic()
    clock = QTimer(dialog)
    clock.setInterval(1000)
    clock.timeout.connect(lambda: dialog.setLabelText(f"{text}\n{time.monotonic() - started:.0f} s"))

    def stop() -> None:
        cancel.set()
        finish(Outcome(cancelled=True))

    dialog.canceled.connect(stop)
    watch = QTimer(dialog)
    watch.setInterval(POLL_MS)
    watch.timeout.connect(lambda: ended and finish(ended[0]))
    worker = threading.Thread(target=body, name=f"import: {title}", daemon=True)
    worker.start()
    dialog.show()
    clock.start()
    watch.start()
    loop.exec()
    watch.stop()
    clock.stop()
    dialog.canceled.disconnect(stop)
    dialog.close()
    dialog.deleteLater()
    return outcomes[0]
