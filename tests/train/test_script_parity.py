"""The exported training script reaches the trainer's accuracy on the digits example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from studio.cli import main
from studio.graph.project import load_project, project_to_dict
from studio.train.datasets import load_dataset
from studio.train.engine import NoControl, TrainRequest, run_training

DIGITS = (
    Path(__file__).resolve().parents[2] / "assets" / "examples" / "digits_cnn.lstudio"
)
EPOCHS = 10


def test_the_exported_script_reaches_the_trainers_accuracy(tmp_path: Path) -> None:
    events: list[dict] = []
    request = TrainRequest(
        project_to_dict(load_project(DIGITS)),
        str(DIGITS),
        {"epochs": EPOCHS, "device": "cpu"},
        str(tmp_path / "runs"),
    )
    final = run_training(request, events.append, NoControl())
    assert final["kind"] == "done", final.get("message")
    trainer = max(e["val_accuracy"] for e in events if e["kind"] == "epoch")

    assert (
        main(
            ["export", str(DIGITS), "--to", "script", "-o", str(tmp_path / "train.py")]
        )
        == 0
    )
    digits = load_dataset("digits", input_shape=(1, 8, 8))
    np.savez(tmp_path / "digits.npz", x=digits.x, y=digits.y)
    result = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "train.py"),
            "--data",
            str(tmp_path / "digits.npz"),
            "--epochs",
            str(EPOCHS),
            "--out",
            str(tmp_path / "ckpt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    script = max(float(v) for v in re.findall(r"val_acc ([0-9.]+)", result.stdout))
    print(
        f"best validation accuracy after {EPOCHS} epochs: trainer {trainer:.3f}, exported script {script:.3f}"
    )
    assert trainer >= 0.95 and script >= 0.95
    assert abs(trainer - script) <= 0.025
