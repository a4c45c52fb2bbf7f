"""The training script's --resume and --init: a crafted or damaged file is one line naming the field, exit status 2."""

from __future__ import annotations

import importlib.util
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from studio.codegen.script import generate_script
from studio.graph.project import load_project
from tests.codegen.cases import ROOT

RUN = ["--synthetic", "64", "--batch-size", "16"]
FIELDS = {"step", "exp_avg", "exp_avg_sq"}  # the mlp example trains with Adam


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The mlp example's script, and the last.pt of one epoch it wrote itself (in a child, as a user runs it)."""
    folder = tmp_path_factory.mktemp("script")
    script = folder / "train.py"
    script.write_text(generate_script(load_project(ROOT / "assets" / "examples" / "mlp.lstudio")), encoding="utf-8")
    done = run_child(script, [*RUN, "--epochs", "1", "--out", str(folder / "ck")])
    assert done.returncode == 0, done.stderr
    return script, torch.load(folder / "ck" / "last.pt", weights_only=True)


@pytest.fixture(scope="module")
def script_module(trained: tuple[Path, dict[str, Any]]) -> ModuleType:
    """The generated script imported as a module, so the crafted files below cost no interpreter each."""
    spec = importlib.util.spec_from_file_location("generated_train_script", trained[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_child(script: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script), *args], cwd=script.parent, capture_output=True, text=True, timeout=120, check=False)


def crafted(folder: Path, sound: dict[str, Any], changes: dict[str, Any]) -> Path:
    """The sound last.pt with `changes` (a value of ... removes the field; a callable edits the field's value in place)."""
    state = {key: value for key, value in sound.items()}
    state["model"], state["optimizer"] = dict(sound["model"]), {**sound["optimizer"], "state": dict(sound["optimizer"]["state"])}
    for key, value in changes.items():
        if value is ...:
            del state[key]
        elif callable(value):
            value(state[key])
        else:
            state[key] = value
    torch.save(state, folder / "last.pt")
    return folder / "last.pt"


def refusal(module: ModuleType, args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line the script refuses `args` with, having checked it stops with exit status 2."""
    with pytest.raises(SystemExit) as stopped:
        module.main([*RUN, *args])
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_a_sound_checkpoint_resumes(tmp_path: Path, trained: tuple[Path, dict[str, Any]], script_module: ModuleType,
                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path = crafted(tmp_path, trained[1], {})
    script_module.main([*RUN, "--epochs", "2", "--out", str(tmp_path / "ck"), "--resume", str(path)])
    out = capsys.readouterr().out
    assert "resumed from" in out and "epoch 2/2" in out and "epoch 1/2" not in out
    assert torch.load(tmp_path / "ck" / "last.pt", weights_only=True)["epoch"] == 1


def weight(name: str, value: Any) -> Any:
    return lambda model: model.__setitem__(name, value)


def optimizer_entry(index: Any, value: Any) -> Any:
    return lambda optimizer: optimizer["state"].__setitem__(index, value)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"epoch": ...}, "epoch is missing: it is the last epoch done, counted from 0"),
        ({"epoch": "three"}, "epoch is 'three' (a str): it is the last epoch done"),
        ({"epoch": math.nan}, "epoch is nan: it is the last epoch done"),
        ({"epoch": -7}, "epoch is -7: it is the last epoch done"),
        ({"epoch": True}, "epoch is True:"),
        ({"epoch": 2.0}, "epoch is 2.0:"),
        ({"epoch": 2**200}, "has already trained"),
        ({"epoch": 4}, "has already trained 5 epochs: pass --epochs above 5 to train on"),
        ({"best_epoch": 9}, "best_epoch is 9: it is an epoch done, 1 to 1, or None"),
        ({"best": math.nan}, "best is nan: it is the best epoch's loss, a number"),
        ({"best": "low"}, "best is 'low' (a str)"),
        ({"best": 2**2000}, "best is a whole number of 2001 bits"),
        ({"bad_epochs": -1}, "bad_epochs is -1: it is the epochs since the best, 0 to 0"),
        ({"scaler": "x"}, "scaler is 'x' (a str): it is None, or a gradient scaler's state"),
        ({"scaler": torch.ones(3)}, "scaler is tensor([1., 1., 1.]) (a Tensor)"),
        ({"scaler": {"scale": -1.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 10, "_growth_tracker": 0}}, "scaler is {"),
        ({"model": [1, 2]}, "model is [1, 2] (a list): it is this network's state dict"),
        ({"model": weight("extra.weight", torch.zeros(1))}, "model holds 'extra.weight' (a str), which this network does not have"),
        ({"model": lambda model: model.pop("hidden1.bias")}, "model: hidden1.bias is missing: this network's is torch.float32 of shape (64,)"),
        ({"model": weight("hidden1.weight", torch.zeros(3, 3))}, "model: hidden1.weight is torch.float32 of shape (3, 3): this network's is torch.float32 of shape (64, 2)"),
        ({"model": weight("hidden1.weight", "w")}, "model: hidden1.weight is 'w' (a str)"),
        ({"model": weight("hidden1.bias", torch.zeros(64, dtype=torch.int64))}, "model: hidden1.bias is torch.int64 of shape (64,)"),
        ({"optimizer": ...}, "optimizer is None: it is the optimizer's state dict (a dict holding 'state')"),
        ({"optimizer": [1, 2]}, "optimizer is [1, 2] (a list): it is the optimizer's state dict"),
        ({"optimizer": optimizer_entry(7, {})}, "optimizer state is kept for parameter 7: the network has parameters 0 to 5"),
        ({"optimizer": optimizer_entry("0", {})}, "optimizer state is kept for parameter '0' (a str)"),
        ({"optimizer": optimizer_entry(0, [1])}, "optimizer state of parameter 0 holds [1] (a list): Adam keeps exp_avg, exp_avg_sq, step"),
        ({"optimizer": optimizer_entry(0, {"momentum_buffer": torch.zeros(64, 2)})}, "optimizer state of parameter 0 holds momentum_buffer: Adam keeps exp_avg, exp_avg_sq, step"),
        ({"optimizer": optimizer_entry(0, {"step": 1.0, "exp_avg": torch.zeros(5), "exp_avg_sq": torch.zeros(64, 2)})},
         "optimizer state exp_avg of parameter 0 is tensor([0., 0., 0., 0., 0.]) (a Tensor): it is a number, or a float tensor of shape (64, 2)"),
        ({"optimizer": optimizer_entry(0, {"step": 1.0, "exp_avg": torch.full((64, 2), math.nan), "exp_avg_sq": torch.zeros(64, 2)})},
         "optimizer state exp_avg of parameter 0 holds values that are not finite"),
        ({"optimizer": optimizer_entry(0, {"step": "x", "exp_avg": torch.zeros(64, 2), "exp_avg_sq": torch.zeros(64, 2)})},
         "optimizer state step of parameter 0 is 'x' (a str)"),
        ({"optimizer": optimizer_entry(0, {"step": math.inf, "exp_avg": torch.zeros(64, 2), "exp_avg_sq": torch.zeros(64, 2)})},
         "optimizer state step of parameter 0 holds values that are not finite"),
    ],
)
def test_a_crafted_field_is_refused_naming_it(tmp_path: Path, trained: tuple[Path, dict[str, Any]], script_module: ModuleType,
                                              capsys: pytest.CaptureFixture[str], changes: dict[str, Any], words: str) -> None:  # fmt: skip
    path = crafted(tmp_path, trained[1], changes)
    line = refusal(script_module, ["--epochs", "5", "--out", str(tmp_path / "ck"), "--resume", str(path)], capsys)
    assert line.startswith(f"--resume {path}") and words in line, line
    assert not (tmp_path / "ck" / "last.pt").exists()


class Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"epoch: 3\n", "cannot be read as a file torch.save wrote"),
        (pickle.dumps({"model": Payload()}), "cannot be read as a file torch.save wrote"),
        ([1, 2, 3], "holds [1, 2, 3] (a list), not a last.pt this script wrote"),
        ({"0.weight": torch.zeros(1)}, "holds {'0.weight': tensor([0.])} (a dict), not a last.pt"),
    ],
)
def test_a_file_that_is_no_checkpoint_is_refused(tmp_path: Path, trained: tuple[Path, dict[str, Any]], script_module: ModuleType,
                                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, content: Any,
                                                 words: str) -> None:  # fmt: skip
    path = tmp_path / "last.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    monkeypatch.chdir(tmp_path)  # where the payload would write
    line = refusal(script_module, ["--epochs", "5", "--out", "ck", "--resume", str(path)], capsys)
    assert words in line and not (tmp_path / "pwned").exists(), line


def test_paths_that_are_not_files_are_refused(tmp_path: Path, script_module: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert refusal(script_module, ["--resume", str(tmp_path)], capsys) == f"--resume {tmp_path}: not a regular file"
    assert refusal(script_module, ["--resume", str(tmp_path / "gone.pt")], capsys) == f"--resume {tmp_path / 'gone.pt'}: no such file"
    assert refusal(script_module, ["--init", "/dev/zero"], capsys) == "--init /dev/zero: not a regular file"


def test_init_weights_that_do_not_fit_are_refused(tmp_path: Path, trained: tuple[Path, dict[str, Any]], script_module: ModuleType,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    torch.save({**trained[1]["model"], "logits.bias": torch.zeros(3)}, tmp_path / "init.pt")
    line = refusal(script_module, ["--init", str(tmp_path / "init.pt")], capsys)
    assert line == f"--init {tmp_path / 'init.pt'}: logits.bias is torch.float32 of shape (3,): this network's is torch.float32 of shape (2,)"


def test_as_a_user_runs_it_a_fifo_and_a_crafted_epoch_exit_2_in_one_line(tmp_path: Path, trained: tuple[Path, dict[str, Any]]) -> None:
    fifo = tmp_path / "last.pt"
    os.mkfifo(fifo)
    done = run_child(trained[0], [*RUN, "--resume", str(fifo)])
    assert (done.returncode, done.stderr) == (2, f"--resume {fifo}: not a regular file\n")
    fifo.unlink()
    path = crafted(tmp_path, trained[1], {"epoch": "three"})
    done = run_child(trained[0], [*RUN, "--epochs", "3", "--resume", str(path)])
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "epoch is 'three' (a str)" in done.stderr
