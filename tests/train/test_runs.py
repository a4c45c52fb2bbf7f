"""Run folders: names, atomic background writes, listing a project's runs and reading their metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from studio.graph.project import load_project, project_to_dict
from studio.train import runs
from studio.train.engine import NoControl, TrainRequest, run_training

EXAMPLE = Path(__file__).resolve().parents[2] / "assets" / "examples" / "mlp.lstudio"


def row(epoch: int, **values: Any) -> dict[str, Any]:
    base = {field: None for field in runs.METRIC_FIELDS}
    base.update(
        epoch=epoch,
        train_loss=1.0 / epoch,
        batch_size=32,
        train_samples=900,
        val_samples=100,
    )
    base.update(values)
    return base


def make_run(
    root: Path, project: str, started: str, status: str, rows: list[dict[str, Any]]
) -> Path:
    run_dir = runs.create_run_dir(root, project)
    config = {
        "started": started,
        "dataset": {"name": "digits"},
        "outcome": {"status": status, "epochs_run": len(rows)},
    }
    (run_dir / runs.CONFIG).write_bytes(runs.json_bytes(config))
    (run_dir / runs.METRICS).write_bytes(runs.metrics_csv(rows))
    return run_dir


def test_project_folders_are_one_safe_path_component(tmp_path: Path) -> None:
    assert runs.project_folder(tmp_path, "digits_cnn") == tmp_path / "digits_cnn"
    assert runs.project_folder(tmp_path, "../../etc/passwd").parent == tmp_path
    assert runs.project_folder(tmp_path, "a/b\\c d").name == "a_b_c_d"
    assert runs.project_folder(tmp_path, "..").name == "project"
    assert runs.project_folder(tmp_path, "Zahlen erkennen").name == "Zahlen_erkennen"


def test_run_folders_never_clash(tmp_path: Path) -> None:
    made = {runs.create_run_dir(tmp_path, "p") for _ in range(3)}
    assert len(made) == 3 and all(
        p.is_dir() and p.parent == tmp_path / "p" for p in made
    )


def test_metrics_round_trip_with_empty_values_as_none(tmp_path: Path) -> None:
    rows = [
        row(1, val_loss=0.5, val_accuracy=0.75, lr=0.001),
        row(2, val_loss=None, samples_per_s=1234.5),
    ]
    (tmp_path / runs.METRICS).write_bytes(runs.metrics_csv(rows))
    back = runs.read_metrics(tmp_path)
    assert back == rows
    assert isinstance(back[0]["epoch"], int) and isinstance(
        back[0]["train_loss"], float
    )


def test_a_truncated_or_missing_metrics_file_reads_what_is_whole(
    tmp_path: Path,
) -> None:
    assert runs.read_metrics(tmp_path) == []
    text = runs.metrics_csv([row(1), row(2)]).decode()
    (tmp_path / runs.METRICS).write_text(
        text + "3,0.3"
    )  # killed while writing the third row
    assert [r["epoch"] for r in runs.read_metrics(tmp_path)] == [1, 2]


def test_list_runs_newest_first_with_their_outcome(tmp_path: Path) -> None:
    old = make_run(
        tmp_path,
        "p",
        "2026-11-20T10:00:00",
        "finished",
        [row(1, val_loss=0.4, val_accuracy=0.9)],
    )
    new = make_run(tmp_path, "p", "2026-11-21T10:00:00", "stopped", [])
    make_run(tmp_path, "other", "2026-11-22T10:00:00", "finished", [])
    (tmp_path / "p" / "not-a-run").mkdir()  # no config.json: left out
    listed = runs.list_runs(tmp_path, "p")
    assert [r.run_dir for r in listed] == [new, old]
    assert [r.status for r in listed] == ["stopped", "finished"]
    assert listed[1].dataset == "digits" and listed[1].epochs_run == 1
    assert runs.list_runs(tmp_path, "nobody") == []


def test_json_bytes_writes_non_finite_numbers_as_null() -> None:
    data = json.loads(
        runs.json_bytes({"best": float("inf"), "nested": [float("nan"), 1.5]})
    )
    assert data == {"best": None, "nested": [None, 1.5]}


def test_the_writer_keeps_only_the_newest_version_and_reports_failures(
    tmp_path: Path,
) -> None:
    writer = runs.RunWriter(tmp_path)
    for i in range(50):
        writer.later("last.pt", f"version {i}".encode())
    writer.now("config.json", b"{}")
    writer.close()
    assert (tmp_path / "last.pt").read_text() == "version 49"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    broken = runs.RunWriter(tmp_path / "missing")
    broken.later("last.pt", b"x")
    with pytest.raises(OSError):
        broken.close()


def test_a_real_run_is_listed_and_its_metrics_match_its_events(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        project = load_project(EXAMPLE)
        events: list[dict[str, Any]] = []
        request = TrainRequest(
            project_to_dict(project), str(EXAMPLE), {"epochs": 2}, str(tmp_path)
        )
        run_training(request, events.append, NoControl())
    finally:
        torch.set_num_threads(threads)
    assert events[-1]["kind"] == "done", events[-1]
    (info,) = runs.list_runs(tmp_path, project.name)
    assert info.run_dir == Path(events[-1]["run_dir"])
    assert (
        info.status == "finished" and info.epochs_run == 2 and info.dataset == "spirals"
    )
    assert info.best_val_accuracy == events[-1]["best_val_accuracy"]
    epoch_events = [e for e in events if e["kind"] == "epoch"]
    assert runs.read_metrics(info.run_dir) == [
        {k: e[k] for k in runs.METRIC_FIELDS} for e in epoch_events
    ]
