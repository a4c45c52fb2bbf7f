"""Training runs on disk: one folder per run, written as it trains, listed and read back for comparison.

A run lives in ``<runs_root>/<project>/<timestamp>/`` and holds ``config.json`` (the settings,
dataset, normalization, device and versions, and how the run ended), ``metrics.csv`` (one row
per epoch), ``best.pt`` and ``last.pt`` and ``model.py`` (the generated PyTorch source), and the
trained network as a project: ``project.lstudio`` (its Input standardizes as the run did) with
its best weights keyed by layer, ``weights.npz``, ready to export or to open; a language
model's run also keeps ``sample.txt``, the text it wrote after its newest epoch. Every
file is replaced atomically; checkpoints and metrics are written on a background thread so a
slow disk never holds up training. Only the standard library here: the editor lists runs
without importing torch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.graph.atomic import write_atomically

CONFIG = "config.json"
METRICS = "metrics.csv"
BEST = "best.pt"
LAST = "last.pt"
MODEL = "model.py"
PROJECT = "project.lstudio"
WEIGHTS = "weights.npz"
SAMPLE = "sample.txt"
LAYER_STATS = "layer_stats.json"  # each epoch's per-layer figures and the problems found (studio.train.layer_stats)
METRIC_FIELDS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_perplexity",
    "samples_per_s",
    "seconds",
    "train_samples",
    "val_samples",
    "batch_size",
    "lr",
    "eta_seconds",
)
_INT_FIELDS = frozenset({"epoch", "train_samples", "val_samples", "batch_size"})
_LATER_FIELDS = frozenset({"val_perplexity"})  # absent from the metrics.csv of older runs
_UNSAFE = re.compile(r"[^\w.-]+")
MAX_FOLDER_NAME = 80


@dataclass(frozen=True)
class RunInfo:
    """One run of a project as its folder tells it (for the run history)."""

    run_dir: Path
    name: str  # the folder name: the start time, e.g. 20261123-142501
    started: str  # ISO 8601 local time, "" when unknown
    status: str  # running, finished, stopped, early_stopped, failed (or unknown)
    dataset: str
    epochs_run: int
    best_val_loss: float | None
    best_val_accuracy: float | None
    config: dict[str, Any] = field(repr=False, compare=False)


def project_folder(runs_root: str | Path, project_name: str) -> Path:
    """The folder holding the runs of a project: its name made safe as one path component."""
    name = _UNSAFE.sub("_", project_name.strip()).strip("._")[:MAX_FOLDER_NAME]
    return Path(runs_root) / (name or "project")


def create_run_dir(runs_root: str | Path, project_name: str) -> Path:
    """Make a new, empty run folder named after the current time (``-2``, ``-3``... on a clash)."""
    parent = project_folder(runs_root, project_name)
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 10_000):
        path = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{parent}: too many runs started at {stamp}")


def metrics_csv(rows: list[dict[str, Any]]) -> bytes:
    """The text of metrics.csv for these epoch rows (the epoch event's fields; empty for None)."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, METRIC_FIELDS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: "" if row.get(k) is None else row[k] for k in METRIC_FIELDS}
        )
    return out.getvalue().encode("utf-8")


def json_bytes(data: Any) -> bytes:
    """JSON as the run folder stores it: sorted, indented, non-finite numbers as null."""
    return (
        json.dumps(_finite(data), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    ).encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class RunWriter:
    """Writes the files of one run folder atomically; `later` writes go to a background thread.

    A later write of a file replaces a pending one (only the newest content matters), so a
    slow disk costs writes, not training time. A write that fails is raised, as OSError, by
    the next call to `check` or `close`.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._pending: dict[str, bytes] = {}
        self._error: OSError | None = None
        self._closing = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(
            target=self._work, name="run-writer", daemon=True
        )
        self._thread.start()

    def now(self, name: str, data: bytes) -> None:
        """Write the file `name` of the run folder before returning."""
        with self._wake:  # an older queued version must not land afterwards
            self._pending.pop(name, None)
        write_atomically(self.run_dir / name, data)

    def later(self, name: str, data: bytes) -> None:
        """Queue the file `name` for writing, replacing a queued older version."""
        self.check()
        with self._wake:
            self._pending[name] = data
            self._wake.notify()

    def check(self) -> None:
        """Raise the error of a failed background write, if any."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Finish the queued writes; raise the first error."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        self.check()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closing:
                    self._wake.wait()
                if not self._pending:
                    return
                name = next(iter(self._pending))
                data = self._pending.pop(name)
            try:
                write_atomically(self.run_dir / name, data)
            except OSError as err:
                if self._error is None:
                    self._error = err


def sample_text(epoch: int, prompt: str, sample: str) -> bytes:
    """sample.txt: which epoch wrote it, then the prompt and the text the model went on with."""
    return f"After epoch {epoch}, from the prompt {prompt!r}:\n\n{prompt}{sample}\n".encode()


# ----- reading runs back -----
def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's config.json, or {} when it is missing or unreadable."""
    try:
        data = json.loads((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_sample(run_dir: str | Path) -> str:
    """The run's sample.txt ('' when it has none)."""
    try:
        return (Path(run_dir) / SAMPLE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The epoch rows of the run's metrics.csv as numbers (None where empty); [] when missing.

    A row cut short (the run was killed while writing) or not numeric is skipped.
    """
    try:
        text = (Path(run_dir) / METRICS).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        row = _parse_row(raw)
        if row is not None:
            rows.append(row)
    return rows


def _parse_row(raw: dict[str | None, Any]) -> dict[str, Any] | None:
    row: dict[str, Any] = {}
    for key in METRIC_FIELDS:
        text = raw.get(key)
        if text is None and key in _LATER_FIELDS and key not in raw:
            text = ""
        if text is None:
            return None
        if text == "":
            row[key] = None
            continue
        try:
            row[key] = int(text) if key in _INT_FIELDS else float(text)
        except ValueError:
            return None
    return row if row["epoch"] is not None else None


def list_runs(runs_root: str | Path, project_name: str) -> list[RunInfo]:
    """The runs of a project, newest first (folders without a config.json are left out)."""
    parent = project_folder(runs_root, project_name)
    try:
        folders = [p for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return []
    runs = []
    for folder in folders:
        config = read_config(folder)
        if config:
            runs.append(_run_info(folder, config))
    runs.sort(key=lambda run: (run.started, _natural(run.name)), reverse=True)
    return runs


def _run_info(folder: Path, config: dict[str, Any]) -> RunInfo:
    outcome = config.get("outcome") if isinstance(config.get("outcome"), dict) else {}
    dataset = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    return RunInfo(
        run_dir=folder,
        name=folder.name,
        started=str(config.get("started", "")),
        status=str(outcome.get("status", "unknown")),
        dataset=str(dataset.get("name", "")),
        epochs_run=int(outcome.get("epochs_run") or 0),
        best_val_loss=_number(outcome.get("best_val_loss")),
        best_val_accuracy=_number(outcome.get("best_val_accuracy")),
        config=config,
    )


def _number(value: Any) -> float | None:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else None
    )


def _natural(text: str) -> list[tuple[int, int | str]]:
    return [
        (0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", text) if t
    ]
