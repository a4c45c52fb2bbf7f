"""`layer-studio train`: flags, the JSON lines, the human summary, exit codes and Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from studio.cli import main
from studio.cli_train import (
    JSON_EPOCH_KEYS,
    TEXT_EPOCH_KEYS,
    TrainReport,
    run_training_worker,
)
from studio.train.worker import TrainingWorker
from tests.train.language_models import project_with_story

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "assets" / "examples" / "digits_cnn.lstudio"
Event = dict[str, Any]
Emit = Callable[[Event], None]


# ----- stand-ins for engine.run_training, run in the spawned child -----
def two_epochs(request: Any, emit: Emit, control: Any) -> Event:
    emit(
        {
            "kind": "start",
            "run_dir": "runs/demo/1",
            "device": "cpu",
            "train_samples": 90,
            "val_samples": 10,
            "batch_size": 30,
            "epochs": 2,
            "steps_per_epoch": 3,
            "classes": ["a", "b"],
            "task": "classification",
        }
    )
    for epoch in (1, 2):
        for step in (1, 2, 3):
            emit(
                {
                    "kind": "step",
                    "epoch": epoch,
                    "step": step,
                    "global_step": 3 * (epoch - 1) + step,
                    "loss": 1.0 / step,
                    "lr": 0.1,
                    "samples_per_s": 1000.0,
                }
            )
        emit(
            {
                "kind": "epoch",
                "epoch": epoch,
                "train_loss": 0.5 / epoch,
                "val_loss": 0.6 / epoch,
                "val_accuracy": 0.4 * epoch,
                "samples_per_s": 1000.0,
                "seconds": 0.1,
                "train_samples": 90,
                "val_samples": 10,
                "batch_size": 30,
                "lr": 0.1,
                "eta_seconds": 0.1 * (2 - epoch),
            }
        )
    return {
        "kind": "done",
        "run_dir": "runs/demo/1",
        "best_val_accuracy": 0.8,
        "best_val_loss": 0.3,
        "epochs_run": 2,
        "stopped_early": False,
        "stopped_by_user": False,
    }


def one_epoch_of_text(request: Any, emit: Emit, control: Any) -> Event:
    emit({"kind": "start", "run_dir": "runs/lm/1", "device": "cpu", "epochs": 1, "steps_per_epoch": 2,
          "task": "language_modelling", "prompt": "Once upon "})  # fmt: skip
    sample = "a time\nthe end."
    emit({"kind": "epoch", "epoch": 1, "train_loss": 2.0, "val_loss": 1.6094, "val_accuracy": 0.5,
          "val_perplexity": 5.0, "sample": sample, "seconds": 0.1})  # fmt: skip
    return {"kind": "done", "run_dir": "runs/lm/1", "best_val_accuracy": 0.5, "best_val_loss": 1.6094,
            "best_val_perplexity": 5.0, "sample": sample, "epochs_run": 1}  # fmt: skip


def bad_data(request: Any, emit: Emit, control: Any) -> Event:
    return {
        "kind": "failed",
        "message": "data.csv: column 'label' not found",
        "epoch": None,
        "step": None,
    }


def diverging(request: Any, emit: Emit, control: Any) -> Event:
    emit({"kind": "start", "epochs": 5, "steps_per_epoch": 10})
    return {"kind": "failed", "message": "the loss is NaN", "epoch": 3, "step": 7}


def dying(request: Any, emit: Emit, control: Any) -> None:
    os._exit(9)


def run_fake(
    target: Callable[..., Any], *, as_json: bool, tty: bool = False
) -> tuple[int, str, str]:
    out, err = io.StringIO(), Terminal() if tty else io.StringIO()
    report = TrainReport("demo.lstudio", "demo", as_json=as_json, out=out, err=err)
    code = run_training_worker(TrainingWorker({}, target=target), report)
    return code, out.getvalue(), err.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# ----- arguments -----
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--epochs", "0"], "--epochs must be an integer from 1 to 100000, not '0'"),
        (["--batch-size", "many"], "--batch-size must be an integer"),
        (["--lr", "20"], "--lr must be a number from 1e-10 to 10"),
        (["--learning-rate", "nan"], "--lr must be a number"),
        (["--optimizer", "lbfgs"], "--optimizer must be one of 'sgd', 'adam'"),
        (["--device", "tpu"], "--device must be one of 'auto', 'cpu', 'cuda', 'mps'"),
        (["--validation-split", "0.95"], "--validation-split must be a number from 0"),
        (["--dataset", " "], "--dataset must name a built-in dataset"),
    ],
)
def test_bad_flag_values_exit_2_naming_the_flag(
    capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    code = main(["train", str(DIGITS), *flags])
    out, err = capsys.readouterr()
    assert code == 2
    assert expected in err and "Traceback" not in err
    assert out == ""


def test_an_unreadable_project_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.lstudio"
    broken.write_text("{not json", encoding="utf-8")
    assert main(["train", str(broken)]) == 2
    assert "broken.lstudio" in capsys.readouterr().err


# ----- output and exit codes, with stand-in trainers -----
def test_json_mode_prints_one_line_per_epoch_and_a_final_line() -> None:
    code, out, err = run_fake(two_epochs, as_json=True)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [list(line) for line in lines[:2]] == [list(JSON_EPOCH_KEYS)] * 2
    assert [line["epoch"] for line in lines[:2]] == [1, 2]
    assert lines[1]["val_accuracy"] == pytest.approx(0.8)
    assert lines[2] == {
        "done": True,
        "run_dir": "runs/demo/1",
        "best_val_accuracy": 0.8,
    }
    assert len(lines) == 3
    assert "epoch 2/2" in err  # stderr is not a terminal: one progress line per epoch


def test_human_mode_summarizes_epochs_and_says_how_to_export() -> None:
    code, out, err = run_fake(two_epochs, as_json=False)
    assert code == 0
    assert "epoch 1/2" in out and "val accuracy 40.00%" in out
    assert "best validation accuracy 80.00%" in out
    assert "run folder: runs/demo/1" in out
    assert "layer-studio export " + os.path.join("runs/demo/1", "project.lstudio") + " --to pytorch" in out
    assert "training demo on cpu: 90 training and 10 validation samples" in err


def test_a_language_models_epochs_show_its_perplexity_and_sample() -> None:
    code, out, _ = run_fake(one_epoch_of_text, as_json=False)
    assert code == 0
    assert "val accuracy 50.00%  val perplexity 5.00" in out
    assert "\n  sample:\n  | Once upon a time\n  | the end.\n" in out
    assert "best validation accuracy 50.00%, perplexity 5.00" in out
    code, out, _ = run_fake(one_epoch_of_text, as_json=True)
    epoch, done = (json.loads(line) for line in out.splitlines())
    assert list(epoch) == [*JSON_EPOCH_KEYS, *TEXT_EPOCH_KEYS]
    assert epoch["val_perplexity"] == 5.0 and epoch["sample"] == "a time\nthe end."
    assert done["best_val_perplexity"] == 5.0


def test_a_terminal_gets_a_live_progress_line() -> None:
    code, _, err = run_fake(two_epochs, as_json=True, tty=True)
    assert code == 0
    live = [part for part in err.split("\r") if part.startswith("epoch 2/2")]
    assert live and "3/3" in live[0] and "ETA" in live[0] and "samples/s" in live[0]
    assert err.count("\x1b[K") >= 2  # the line is cleared before each epoch's result


def test_a_data_failure_exits_2_and_a_diverging_run_exits_1() -> None:
    code, out, err = run_fake(bad_data, as_json=True)
    assert code == 2 and "column 'label' not found" in err
    assert json.loads(out) == {
        "done": False,
        "message": "data.csv: column 'label' not found",
    }
    code, _, err = run_fake(diverging, as_json=False)
    assert code == 1 and "the loss is NaN (epoch 3, step 7)" in err


def test_a_dead_training_process_exits_1_with_a_message() -> None:
    code, _, err = run_fake(dying, as_json=False)
    assert code == 1
    assert "ended unexpectedly" in err and "exit code 9" in err


# ----- with the real engine -----
def test_one_epoch_on_digits_prints_the_documented_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        ["train", str(DIGITS), "--epochs", "1", "--device", "cpu", "--json"]
        + ["--out", str(tmp_path)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    epoch, done = (json.loads(line) for line in out.splitlines())
    assert list(epoch) == list(JSON_EPOCH_KEYS)
    assert epoch["epoch"] == 1
    assert epoch["train_samples"] + epoch["val_samples"] == 1797
    assert 0.5 < epoch["val_accuracy"] <= 1.0
    assert (
        set(done) == {"done", "run_dir", "best_val_accuracy"} and done["done"] is True
    )
    run_dir = Path(done["run_dir"])
    assert run_dir.parent.parent == tmp_path
    assert (run_dir / "best.pt").is_file() and (run_dir / "metrics.csv").is_file()


def test_a_language_model_trains_on_a_text_file_and_prints_its_samples(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, _, text = project_with_story(tmp_path)
    code = main(["train", str(path), "--epochs", "1", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    block = out.split("  sample:\n", 1)[1].split("\ndone:", 1)[0]
    assert block.startswith("  | " + text[:10]) and "val perplexity" in out
    assert all(line.startswith("  | ") for line in block.splitlines())


def test_a_diverging_run_exits_1_naming_the_epoch_and_step(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Weight decay 1 at learning rate 10 multiplies every weight by -9 each step: the
    # logits overflow within a few steps, whatever the seed.
    diverging_flags = ["--optimizer", "sgd", "--lr", "10", "--momentum", "0"]
    diverging_flags += ["--weight-decay", "1"]
    code = main(
        ["train", str(DIGITS), "--epochs", "2", "--device", "cpu", "--json"]
        + [*diverging_flags, "--out", str(tmp_path)]
    )
    out, err = capsys.readouterr()
    assert code == 1, err
    assert re.search(r"loss became (NaN|infinite) at epoch 1, step \d+", err), err
    assert "Traceback" not in err
    assert json.loads(out.splitlines()[-1])["done"] is False


def test_ctrl_c_stops_the_run_cleanly(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "studio", "train", str(DIGITS), "--json"]
    command += ["--epochs", "1000", "--device", "cpu", "--out", str(tmp_path)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        first = process.stdout.readline()  # the first epoch has run
        assert json.loads(first)["epoch"] == 1
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    final = json.loads(out.splitlines()[-1])
    assert final["done"] is True and final["stopped_by_user"] is True
    assert "Traceback" not in err and "stopping the run" in err
    assert (Path(final["run_dir"]) / "metrics.csv").is_file()
