"""Where the user's block library lives: `<config folder>/blocks/` (the editor's and the command line's)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication

from studio import APP_NAME
from studio.ui.recovery import home_dir


def library_dir() -> Path:
    """The user's block library folder (it may not exist yet): `blocks/` in the settings folder ($LAYER_STUDIO_HOME when set)."""
    if QCoreApplication.instance() is None and not QCoreApplication.applicationName():
        QCoreApplication.setApplicationName(APP_NAME)  # as the editor names itself, so the command line finds the same folder
        QCoreApplication.setOrganizationName(APP_NAME)
    return home_dir() / "blocks"
