"""Training in a spawned child process: events stream back, Stop and Pause work, a crash is seen.

The child runs ``run_training(request, emit, control)`` (studio.train.engine by default). Its
events come back over a one-way pipe whose write end only the child holds, so when the child
ends, however it ends, the parent reads everything it sent and then end-of-file: a child that
dies without a final event becomes one synthesized "failed" event. Step events are coalesced in
the child (about 20 a second at most) so a fast model cannot flood the editor or the terminal.
No Qt and no torch here: the parent side is imported by the CLI and the editor.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Self

from studio.train.request import TrainingEvent

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event as SyncEvent

    from studio.train.request import TrainRequest

Emit = Callable[[TrainingEvent], None]
Target = Callable[[Any, Emit, Any], Any]

STEP_INTERVAL = 0.05  # seconds between two step events sent by the child
STOP_GRACE = 1.0  # seconds a stopped child has to end by itself before it is terminated
KILL_GRACE = 1.0  # seconds a terminated child has before it is killed
EXIT_GRACE = 3.0  # seconds a child may take to exit after its final event
MAX_EVENTS_PER_POLL = 10_000
FINAL_KINDS = ("done", "failed")
_SIGNAL_HINTS = {
    "SIGKILL": "it was killed, perhaps because the computer ran out of memory",
    "SIGSEGV": "it crashed",
    "SIGBUS": "it crashed",
    "SIGABRT": "it aborted",
}


class TrainingWorker:
    """One training run in a child process; the caller polls it for events (no threads here)."""

    def __init__(
        self,
        request: TrainRequest,
        *,
        target: Target | None = None,
        step_interval: float = STEP_INTERVAL,
    ) -> None:
        """Prepare a run; `target` replaces engine.run_training (a module-level function)."""
        self._request = request
        self._target = target
        self._step_interval = step_interval
        self._started = False
        self._finished = False
        self._paused = False
        self._process: BaseProcess | None = None
        self._reader: Connection | None = None
        self._stop: SyncEvent | None = None
        self._resumed: SyncEvent | None = None
        self._pipe_closed = False
        self._stop_requested = False
        self._terminate_at: float | None = None
        self._kill_at: float | None = None
        self._last_step: TrainingEvent | None = None
        self._release: weakref.finalize | None = None

    # ----- control -----
    def start(self) -> None:
        """Spawn the child process; a worker can be started once."""
        if self._started:
            raise RuntimeError("this training worker has already been started")
        self._started = True
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        self._stop, self._resumed = context.Event(), context.Event()
        self._resumed.set()
        process = context.Process(
            target=_child_main,
            args=(
                self._target,
                self._request,
                writer,
                self._stop,
                self._resumed,
                self._step_interval,
            ),
            name="layer-studio-training",
        )
        try:
            process.start()
        except BaseException:
            reader.close()
            self._finished = True
            raise
        finally:
            writer.close()  # the child holds the only write end: its end is our end-of-file
        self._process, self._reader = process, reader
        self._release = weakref.finalize(self, _release, process, reader, self._stop)

    def stop(self) -> None:
        """Ask the child to stop; it is terminated if it has not ended a second later.

        Does not block: keep calling poll() (which enforces the deadline) or call close().
        """
        if self._process is None or self._stop_requested:
            return
        self._stop_requested = True
        assert self._stop is not None and self._resumed is not None
        self._stop.set()
        self._resumed.set()
        self._paused = False
        self._schedule_terminate(STOP_GRACE)

    def pause(self) -> None:
        """Hold the run between two steps until resume() or stop()."""
        if self.running and not self._stop_requested and self._resumed is not None:
            self._resumed.clear()
            self._paused = True

    def resume(self) -> None:
        """Continue a paused run."""
        if self._resumed is not None:
            self._resumed.set()
        self._paused = False

    def close(self) -> None:
        """End the child if it still runs (stop, then terminate, then kill: ~2 s at most); free all."""
        if self._process is None:
            return
        self._finished = True
        self._process = self._reader = None
        self._stop = self._resumed = None
        assert self._release is not None
        self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- state -----
    @property
    def running(self) -> bool:
        """Started, and poll() has not yet returned the run's final ("done"/"failed") event."""
        return self._started and not self._finished

    @property
    def paused(self) -> bool:
        """Whether pause() holds the run."""
        return self._paused and self.running

    @property
    def pid(self) -> int | None:
        """The child's process id while it exists."""
        return self._process.pid if self._process is not None else None

    # ----- events -----
    def poll(self, timeout: float = 0.0) -> list[TrainingEvent]:
        """Return the events received since the last call (waits up to `timeout` s for a first one).

        The last event of a run is "done" or "failed"; a child that ended without one yields a
        synthesized "failed" event naming its exit code or signal.
        """
        process = self._process
        if process is None:
            return []
        if timeout > 0:
            waiting = [process.sentinel]
            if self._reader is not None and not self._pipe_closed:
                waiting.append(self._reader)
            wait(waiting, timeout)
        # Checked before reading: once the child has exited, all it sent is in the pipe.
        exited = process.exitcode is not None
        events, read_all = self._drain()
        if read_all and not self._finished and (exited or self._pipe_closed):
            events.append(self._ended_without_result(process))
        self._enforce_deadlines(process)
        if self._finished and process.exitcode is not None:
            self.close()
        return events

    def _drain(self) -> tuple[list[TrainingEvent], bool]:
        """The events waiting in the pipe, and whether it was read to its current end."""
        events: list[TrainingEvent] = []
        reader = self._reader
        while reader is not None and not self._pipe_closed:
            if len(events) >= MAX_EVENTS_PER_POLL:
                return events, False
            try:
                if not reader.poll():
                    break
                event = reader.recv()
            except (EOFError, OSError):  # OSError: the child died in mid-message
                self._pipe_closed = True
                break
            kind = event.get("kind")
            if kind == "step":
                self._last_step = event
            elif kind in FINAL_KINDS and not self._finished:
                self._finished = True
                self._paused = False
                self._schedule_terminate(EXIT_GRACE)
            events.append(event)
        return events, True

    def _ended_without_result(self, process: BaseProcess) -> TrainingEvent:
        if process.exitcode is None:  # it closed the pipe: it is exiting now
            process.join(1.0)
        self._finished = True
        self._paused = False
        step = self._last_step or {}
        event: TrainingEvent = {
            "kind": "failed",
            "epoch": step.get("epoch"),
            "step": step.get("step"),
            "exit_code": process.exitcode,
        }
        if self._stop_requested:
            event["message"] = (
                "training was stopped; the training process did not end by itself "
                "and was ended before it could report its results"
            )
            event["stopped_by_user"] = True
        else:
            where = (
                f" during epoch {step['epoch']}, step {step['step']}"
                if "epoch" in step and "step" in step
                else ""
            )
            event["message"] = (
                f"the training process ended unexpectedly{where} "
                f"({describe_exit(process.exitcode)})"
            )
        return event

    def _schedule_terminate(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        if self._terminate_at is None or deadline < self._terminate_at:
            self._terminate_at = deadline

    def _enforce_deadlines(self, process: BaseProcess) -> None:
        if process.exitcode is not None:
            return
        now = time.monotonic()
        if self._kill_at is not None and now >= self._kill_at:
            process.kill()
        elif (
            self._kill_at is None
            and self._terminate_at is not None
            and now >= self._terminate_at
        ):
            process.terminate()
            self._kill_at = now + KILL_GRACE


def describe_exit(exitcode: int | None) -> str:
    """Say how a process ended, from multiprocessing's exit code (negative: a signal)."""
    if exitcode is None:
        return "its exit status is unknown"
    if exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"
    hint = _SIGNAL_HINTS.get(name)
    return f"signal {name}: {hint}" if hint else f"signal {name}"


def _release(process: BaseProcess, reader: Connection, stop: SyncEvent) -> None:
    """End the process if it still runs (stop, terminate, kill), reap it, close the pipe."""
    if process.exitcode is None:
        stop.set()
        process.join(STOP_GRACE)
    if process.exitcode is None:
        process.terminate()
        process.join(KILL_GRACE)
        if process.exitcode is None:
            process.kill()
            process.join()
    process.join()
    process.close()
    reader.close()


# ----- the child side -----
def _child_main(
    target: Target | None,
    request: Any,
    writer: Connection,
    stop: SyncEvent,
    resumed: SyncEvent,
    step_interval: float,
) -> None:
    """Run the training in the child; whatever happens, the last event sent is final."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides, we ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    emit = _EventSender(writer, step_interval)
    control = _EventControl(stop, resumed, emit)
    try:
        if target is None:
            import torch

            from studio.train.engine import run_training as target

            # NOTE: leave one core to the editor (or the terminal): on a 2-core machine torch's
            # default two threads run 5-10x slower as soon as the UI thread also wants a core.
            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
        result = target(request, emit, control)
    except BaseException as exc:  # noqa: BLE001 - a bug is reported, never a silent death
        traceback.print_exc()
        if not emit.finished:
            emit(_crash_event(exc, emit.last_step))
    else:
        if not emit.finished:
            final = isinstance(result, dict) and result.get("kind") in FINAL_KINDS
            emit(result if final else _NO_RESULT)
    finally:
        emit.flush()
        writer.close()


_NO_RESULT: TrainingEvent = {
    "kind": "failed",
    "message": "the trainer ended without reporting a result (a bug in Layer Studio)",
    "epoch": None,
    "step": None,
}


def _crash_event(exc: BaseException, last_step: TrainingEvent | None) -> TrainingEvent:
    step = last_step or {}
    return {
        "kind": "failed",
        "message": f"the trainer stopped on an internal error: {type(exc).__name__}: "
        f"{exc} (a bug in Layer Studio; the traceback is on the error output)",
        "epoch": step.get("epoch"),
        "step": step.get("step"),
        "error": type(exc).__name__,
    }


class _EventSender:
    """The `emit` given to the trainer: sends events, coalescing step events in time."""

    def __init__(self, writer: Connection, interval: float) -> None:
        self._writer = writer
        self._interval = interval
        self._pending: TrainingEvent | None = None
        self._loss_sum = 0.0
        self._loss_count = 0
        self._steps = 0
        self._last_sent = float("-inf")
        self.last_step: TrainingEvent | None = None
        self.finished = False
        self.parent_gone = False

    def __call__(self, event: TrainingEvent) -> None:
        """Send one event; a step event waits for the next slot, merged with the ones before it."""
        if event.get("kind") == "step":
            self.last_step = self._pending = event
            self._steps += 1
            loss = event.get("loss")
            if isinstance(loss, (int, float)):
                self._loss_sum += loss
                self._loss_count += 1
            if time.monotonic() - self._last_sent >= self._interval:
                self.flush()
            return
        self.flush()
        self._send(event)
        if event.get("kind") in FINAL_KINDS:
            self.finished = True

    def flush(self) -> None:
        """Send the pending step event with the mean loss of the steps it stands for."""
        if self._pending is None:
            return
        event = dict(self._pending)
        if self._loss_count:
            event["mean_loss"] = self._loss_sum / self._loss_count
        event["steps"] = self._steps
        self._pending, self._loss_sum, self._loss_count, self._steps = None, 0.0, 0, 0
        self._last_sent = time.monotonic()
        self._send(event)

    def _send(self, event: TrainingEvent) -> None:
        if self.parent_gone:
            return
        try:
            self._writer.send(event)
        except OSError:  # the parent has gone: nobody listens, so the run stops
            self.parent_gone = True


class _EventControl:
    """The `control` given to the trainer, backed by the parent's stop and resume events."""

    _PARENT_CHECK_INTERVAL = 1.0

    def __init__(
        self, stop: SyncEvent, resumed: SyncEvent, sender: _EventSender
    ) -> None:
        self._stop = stop
        self._resumed = resumed
        self._sender = sender
        self._parent = multiprocessing.parent_process()
        self._parent_checked = time.monotonic()

    def stop_requested(self) -> bool:
        """Whether the run should end now (Stop pressed, or the parent process is gone)."""
        return self._stop.is_set() or self._parent_gone()

    def wait_while_paused(self) -> None:
        """Block while the run is paused; return at once when not paused, or on stop."""
        while not self._resumed.wait(0.25):
            if self.stop_requested():
                return

    def _parent_gone(self) -> bool:
        if self._sender.parent_gone:
            return True
        now = time.monotonic()
        if (
            self._parent is not None
            and now - self._parent_checked >= self._PARENT_CHECK_INTERVAL
        ):
            self._parent_checked = now
            if not self._parent.is_alive():
                self._sender.parent_gone = True
        return self._sender.parent_gone
