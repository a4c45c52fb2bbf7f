"""Where the editor's runs go, and the request that starts one (made without importing torch)."""

from __future__ import annotations

import importlib
import operator
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths

from studio.ui.recovery import HOME_ENV


def default_runs_root(project_path: Path | None) -> Path:
    """Where the editor writes runs: `<project folder>/runs` (as `layer-studio train` run there does).

    An unsaved project (or one in a folder that cannot be written) uses `runs` in the editor's data
    folder ($LAYER_STUDIO_HOME when set).
    """
    if project_path is not None and os.access(project_path.parent, os.W_OK):
        return project_path.parent / "runs"
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override) / "runs"
    location = QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.AppLocalDataLocation
    )
    return Path(location or Path.home() / ".layer-studio") / "runs"


class _Deferred:
    """A call made where it is unpickled: `fn(*args)` in the process that receives it."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.fn, self.args


def train_request(
    project: dict[str, Any], project_path: str | None, runs_root: str
) -> Any:
    """A `studio.train.engine.TrainRequest` for the worker, made without importing torch here.

    NOTE: studio.train.engine imports torch, which takes seconds and would freeze the editor, so
    unless it is loaded already the request travels as a call that builds the TrainRequest in the
    training process (which imports the engine anyway).
    """
    engine = sys.modules.get("studio.train.engine")
    if engine is not None:
        return engine.TrainRequest(project, project_path, {}, runs_root)
    module = _Deferred(importlib.import_module, "studio.train.engine")
    request_class = _Deferred(getattr, module, "TrainRequest")
    return _Deferred(operator.call, request_class, project, project_path, {}, runs_root)
