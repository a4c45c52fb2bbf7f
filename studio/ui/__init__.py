"""The Qt editor: canvas, palette, inspector, problems, code preview, training panel (see docs/architecture.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from studio.ui.main_window import MainWindow


def open_main_window(path: str | Path | None = None) -> MainWindow:
    """Build the editor's main window (the caller shows it); see `studio.ui.app.open_main_window`."""
    from studio.ui.app import open_main_window as build

    return build(path)
