"""The training worker: a spawned child whose events stream back, stop, pause, and whose death is seen.

The targets below stand in for engine.run_training: module-level functions, so the spawned
child can import them by name.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from studio.train.worker import TrainingWorker, describe_exit

Event = dict[str, Any]
# Seconds: generous, so a loaded machine cannot fail a test, only slow it down.
DEADLINE = 20.0


# ----- targets run in the child -----
def many_steps(request: dict, emit: Callable[[Event], None], control: Any) -> Event:
    emit({"kind": "start", "epochs": request["epochs"]})
    global_step = 0
    for epoch in range(1, request["epochs"] + 1):
        for step in range(1, request["steps"] + 1):
            global_step += 1
            emit(
                {
                    "kind": "step",
                    "epoch": epoch,
                    "step": step,
                    "global_step": global_step,
                    "loss": float(global_step),
                }
            )
        emit({"kind": "epoch", "epoch": epoch})
    emit({"kind": "evaluation", "confusion": [[1, 0], [0, 1]]})
    return {"kind": "done", "run_dir": "nowhere", "stopped_by_user": False}


def until_stopped(request: dict, emit: Callable[[Event], None], control: Any) -> None:
    emit({"kind": "start"})
    step = 0
    while not control.stop_requested():
        control.wait_while_paused()
        step += 1
        emit(
            {"kind": "step", "epoch": 1, "step": step, "global_step": step, "loss": 1.0}
        )
        time.sleep(0.005)
    emit({"kind": "done", "stopped_by_user": True, "steps": step})


def ignoring_stop(request: dict, emit: Callable[[Event], None], control: Any) -> None:
    emit({"kind": "start"})
    time.sleep(120)


def exiting_abruptly(
    request: dict, emit: Callable[[Event], None], control: Any
) -> None:
    emit({"kind": "start"})
    emit({"kind": "step", "epoch": 2, "step": 5, "global_step": 9, "loss": 0.5})
    os._exit(3)


def raising(request: dict, emit: Callable[[Event], None], control: Any) -> None:
    emit({"kind": "start"})
    raise ValueError("broken on purpose")


def returning_nothing(
    request: dict, emit: Callable[[Event], None], control: Any
) -> None:
    emit({"kind": "start"})


# ----- helpers -----
def collect(
    worker: TrainingWorker, until: Callable[[list[Event]], bool] | None = None
) -> list[Event]:
    """Poll until the run's final event (or `until` holds); fail after DEADLINE seconds."""
    events: list[Event] = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        events += worker.poll(timeout=0.05)
        if until(events) if until else not worker.running:
            return events
    pytest.fail(f"no end after {DEADLINE} s; received {[e['kind'] for e in events]}")


def kinds(events: list[Event]) -> list[str]:
    return [e["kind"] for e in events]


def has(kind: str) -> Callable[[list[Event]], bool]:
    return lambda events: kind in kinds(events)


# ----- tests -----
def test_events_arrive_in_order_and_steps_are_coalesced() -> None:
    epochs, steps = 3, 10_000
    with TrainingWorker(
        {"epochs": epochs, "steps": steps}, target=many_steps
    ) as worker:
        worker.start()
        events = collect(worker)
    assert not worker.running
    assert [k for k in kinds(events) if k != "step"] == [
        "start",
        "epoch",
        "epoch",
        "epoch",
        "evaluation",
        "done",
    ]
    step_events = [e for e in events if e["kind"] == "step"]
    assert len(step_events) < epochs * steps / 20
    assert sum(e["steps"] for e in step_events) == epochs * steps
    total_loss = sum(e["mean_loss"] * e["steps"] for e in step_events)
    assert total_loss == pytest.approx(sum(range(1, epochs * steps + 1)))
    # The last step of an epoch comes just before the epoch's event.
    for index, event in enumerate(events):
        if event["kind"] == "epoch":
            last = events[index - 1]
            assert last["kind"] == "step" and last["step"] == steps
            assert last["epoch"] == event["epoch"]
            assert last["loss"] == float(event["epoch"] * steps)
    assert events[-1]["run_dir"] == "nowhere"


def test_stop_ends_a_run_that_honours_it() -> None:
    with TrainingWorker({}, target=until_stopped) as worker:
        worker.start()
        collect(worker, has("step"))
        worker.stop()
        events = collect(worker)
    assert events[-1]["kind"] == "done" and events[-1]["stopped_by_user"] is True
    assert worker.pid is None  # the child was reaped and the pipe closed


def test_stop_terminates_a_run_that_ignores_it() -> None:
    with TrainingWorker({}, target=ignoring_stop) as worker:
        worker.start()
        collect(worker, has("start"))
        worker.stop()
        started = time.monotonic()
        events = collect(worker)
        waited = time.monotonic() - started
    final = events[-1]
    assert final["kind"] == "failed" and final["stopped_by_user"] is True
    assert "stopped" in final["message"]
    assert final["exit_code"] == -signal.SIGTERM
    assert waited < 100  # the target sleeps for 120 s: only termination ends it sooner


def test_close_ends_a_running_child_at_once() -> None:
    worker = TrainingWorker({}, target=ignoring_stop)
    worker.start()
    collect(worker, has("start"))
    worker.close()
    assert not worker.running and worker.pid is None
    assert worker.poll() == []


def test_pause_holds_the_run_and_resume_continues_it() -> None:
    with TrainingWorker({}, target=until_stopped) as worker:
        worker.start()
        collect(worker, has("step"))
        worker.pause()
        assert worker.paused

        def quiet_for_half_a_second(events: list[Event]) -> bool:
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < 0.5:
                if worker.poll(timeout=0.05):
                    return False
            return True

        # A run that ignored the pause would never be quiet this long.
        collect(worker, quiet_for_half_a_second)
        assert worker.running
        worker.resume()
        assert not worker.paused
        collect(worker, has("step"))
        worker.stop()
        events = collect(worker)
    assert events[-1]["kind"] == "done"


def test_stop_while_paused_ends_the_run() -> None:
    with TrainingWorker({}, target=until_stopped) as worker:
        worker.start()
        collect(worker, has("step"))
        worker.pause()
        worker.stop()
        events = collect(worker)
    assert events[-1]["kind"] == "done" and events[-1]["stopped_by_user"] is True


def test_a_child_exiting_without_a_result_is_a_failed_run() -> None:
    with TrainingWorker({}, target=exiting_abruptly) as worker:
        worker.start()
        events = collect(worker)
    assert kinds(events) == ["start", "step", "failed"]
    message = events[-1]["message"]
    assert "ended unexpectedly" in message and "exit code 3" in message
    assert "epoch 2, step 5" in message
    assert (events[-1]["epoch"], events[-1]["step"]) == (2, 5)


def test_a_killed_child_is_a_failed_run_and_a_new_run_can_start() -> None:
    with TrainingWorker({}, target=until_stopped) as worker:
        worker.start()
        collect(worker, has("step"))
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        events = collect(worker)
    assert events[-1]["kind"] == "failed"
    assert "SIGKILL" in events[-1]["message"]
    assert "stopped_by_user" not in events[-1]
    with TrainingWorker({"epochs": 1, "steps": 3}, target=many_steps) as again:
        again.start()
        assert collect(again)[-1]["kind"] == "done"


def test_an_exception_in_the_trainer_is_a_failed_run(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with TrainingWorker({}, target=raising) as worker:
        worker.start()
        events = collect(worker)
    assert kinds(events) == ["start", "failed"]
    assert "ValueError: broken on purpose" in events[-1]["message"]
    assert "Traceback" in capfd.readouterr().err


def test_a_trainer_returning_no_result_is_a_failed_run() -> None:
    with TrainingWorker({}, target=returning_nothing) as worker:
        worker.start()
        events = collect(worker)
    assert kinds(events) == ["start", "failed"]
    assert "without reporting a result" in events[-1]["message"]


def test_a_worker_starts_once_and_polls_nothing_before_start() -> None:
    worker = TrainingWorker({"epochs": 1, "steps": 1}, target=many_steps)
    assert worker.poll() == [] and not worker.running
    worker.stop()  # harmless before start
    with worker:
        worker.start()
        with pytest.raises(RuntimeError, match="already been started"):
            worker.start()
        collect(worker)


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL).startswith("signal SIGKILL: it was killed")
    assert describe_exit(-signal.SIGSEGV) == "signal SIGSEGV: it crashed"
    assert describe_exit(None) == "its exit status is unknown"
