"""What starts a training run: the project and its settings, as plain picklable data (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TrainingEvent = dict[str, Any]
"""One message of a run (start, step, epoch, evaluation, done, failed) as JSON-able data; the graph's
`studio.graph.model.Event` is another thing: a change to the network."""


@dataclass(frozen=True)
class TrainRequest:
    """Everything a run needs; picklable, so it can be sent to a spawned child process."""

    project: dict[str, Any]  # studio.graph.project.project_to_dict(project)
    project_path: str | None = None  # relative dataset paths resolve against its folder
    # settings over the project's, and "resume": the path of a last.pt to continue
    overrides: dict[str, Any] = field(default_factory=dict)
    runs_root: str = "runs"  # runs go to <runs_root>/<project name>/<timestamp>/
