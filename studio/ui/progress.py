"""Slow work run off the GUI thread behind a progress dialog whose Cancel (or closing it) stops the work at once.

The work is a function of a `Cancellation` (a `threading.Event`) that it polls or reports its
steps to: the PyTorch capture kills its child process when the event is set, an export stops at
its next step and writes nothing. The caller waits in a local event loop, so the window keeps
painting while the dialog blocks edits; a cancel returns at once and the thread's late result,
if any, is dropped. The thread touches no Qt object: the GUI thread looks at it every `POLL_MS`,
so nothing Qt owns is made or freed off the GUI thread.

Work that is usually quick (`show_after_ms`) shows the dialog only once it has taken that long;
until then the window ignores the mouse and keyboard, as it will behind the modal dialog.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

POLL_MS = 50
QUICK_MS = 500  # work that may end sooner shows no dialog: a flash would only distract
USER_INPUT = frozenset(
    {
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.KeyPress,
        QEvent.Type.KeyRelease,
        QEvent.Type.ShortcutOverride,
        QEvent.Type.Shortcut,
        QEvent.Type.Wheel,
        QEvent.Type.ContextMenu,
        QEvent.Type.Drop,
    }
)


class Cancelled(Exception):
    """The user cancelled the work; raised in the worker thread by `Cancellation.step`."""


class Cancellation(threading.Event):
    """The flag Cancel sets, and the step the work reports (shown under the dialog's text).

    Once the work calls `writing`, it can no longer be cancelled: a Cancel then waits for the
    last writes instead of leaving files the user believes were never written.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.committed = False
        self.text = ""

    def step(self, text: str) -> None:
        """The work starts `text`; raises Cancelled when the user has cancelled."""
        if self.is_set():
            raise Cancelled
        self.text = text

    def writing(self, text: str) -> None:
        """The work writes its results next: from here on Cancel waits for it; raises Cancelled if it came first."""
        with self._lock:
            if self.is_set():
                raise Cancelled
            self.committed = True
            self.text = text

    def request(self) -> bool:
        """Ask the work to stop (the GUI's Cancel); False when it is already writing and must be waited for."""
        with self._lock:
            if self.committed:
                return False
            self.set()
            return True


@dataclass(frozen=True)
class Outcome:
    """How the work ended: its result, the exception it raised, or cancelled by the user."""

    result: object = None
    error: BaseException | None = None
    cancelled: bool = False


class _HoldInput(QObject):
    """Drops the user's clicks and keys while quick work runs with its dialog not shown yet."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        return event.type() in USER_INPUT


def run_cancellable(
    parent: QWidget, title: str, text: str, work: Callable[[Cancellation], object], show_after_ms: int = 0
) -> Outcome:
    """Run `work(cancel)` in a thread behind a modal progress dialog (shown after `show_after_ms`); return when it ends or the user cancels."""
    cancel = Cancellation()
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
        except Cancelled:
            ended.append(Outcome(cancelled=True))
        except BaseException as err:  # noqa: BLE001 - every failure reaches the caller, who reports it; the loop must end
            ended.append(Outcome(error=err))

    dialog = QProgressDialog(text, "Cancel", 0, 0, parent)
    dialog.setObjectName("workProgress")
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(86_400_000)  # shown by `reveal` below, never by QProgressDialog's own timer
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setMinimumWidth(420)
    started = time.monotonic()

    def label() -> None:
        step = f"{cancel.text[:1].upper()}{cancel.text[1:]}…" if cancel.text else "Working…"
        dialog.setLabelText(f"{text}\n{step} ({time.monotonic() - started:.0f} s)")

    clock = QTimer(dialog)
    clock.setInterval(250)
    clock.timeout.connect(label)

    def stop() -> None:
        if cancel.request():
            finish(Outcome(cancelled=True))
            return
        dialog.setCancelButton(None)  # writing: too late to stop, and it ends soon
        dialog.show()

    dialog.canceled.connect(stop)
    dialog.rejected.connect(stop)  # Escape reaching the dialog itself, when its Cancel shortcut did not take it
    watch = QTimer(dialog)
    watch.setInterval(POLL_MS)
    watch.timeout.connect(lambda: ended and finish(ended[0]))
    hold = _HoldInput()
    application = QApplication.instance()

    def reveal() -> None:
        if outcomes:
            return
        application.removeEventFilter(hold)
        dialog.show()

    worker = threading.Thread(target=body, name=f"work: {title}", daemon=True)
    worker.start()
    if show_after_ms > 0:
        application.installEventFilter(hold)
        QTimer.singleShot(show_after_ms, dialog, reveal)
    else:
        reveal()
    clock.start()
    watch.start()
    loop.exec()
    application.removeEventFilter(hold)
    watch.stop()
    clock.stop()
    dialog.canceled.disconnect(stop)
    dialog.rejected.disconnect(stop)
    dialog.close()
    dialog.deleteLater()
    return outcomes[0]
