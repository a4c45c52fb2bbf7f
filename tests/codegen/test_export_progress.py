"""`export_project` tells its steps, and an export stopped at any of them writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.codegen.export import export_project
from studio.graph.project import load_project

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"


class Stop(Exception):
    """Raised by the progress to stop the export."""


class Recorder:
    """Records the steps; raises Stop at step number `stop_at` (counting `writing` as the last)."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.steps: list[str] = []
        self.stop_at = stop_at

    def step(self, text: str) -> None:
        if len(self.steps) == self.stop_at:
            raise Stop
        self.steps.append(text)

    def writing(self, text: str) -> None:
        self.step(text)


@pytest.mark.parametrize(
    ("target", "name", "expected"),
    [
        ("pytorch", "model.py", ["generating the pytorch code", "building the model", "writing model.py, model.pt"]),
        ("caffe", "model.prototxt", ["generating the caffe code", "building the model", "converting the weights for Caffe", "writing model.prototxt, model.caffemodel"]),
        ("script", "train.py", ["loading the training data", "generating the script code", "writing train.py, train_data.npz"]),
    ],
)
def test_each_step_is_told_and_a_stop_at_any_writes_nothing(tmp_path: Path, target: str, name: str, expected: list[str]) -> None:
    project = load_project(EXAMPLES / "mlp.lstudio")
    told = Recorder()
    done = tmp_path / "done"
    done.mkdir()
    result = export_project(project, target, done / name, progress=told)
    assert told.steps == expected
    assert {p.name for p in done.iterdir()} == {p.name for p in result.files}
    for stop_at in range(len(expected)):
        out = tmp_path / f"stopped{stop_at}"
        out.mkdir()
        with pytest.raises(Stop):
            export_project(project, target, out / name, progress=Recorder(stop_at))
        assert list(out.iterdir()) == [], stop_at


def test_the_weights_are_a_step_of_their_own(tmp_path: Path) -> None:
    project = load_project(EXAMPLES / "mlp.lstudio")
    first = export_project(project, "pytorch", tmp_path / "first.py")
    told = Recorder()
    export_project(project, "pytorch", tmp_path / "again.py", weights=first.files[-1], progress=told)
    assert told.steps[2] == "loading the weights first.pt"
