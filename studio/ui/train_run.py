"""Where the editor's runs go."""

from __future__ import annotations

import os
from pathlib import Path

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
