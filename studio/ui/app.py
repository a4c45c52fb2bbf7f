"""Starting the editor: the application object, the theme, the main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from studio import APP_NAME
from studio.graph.bulk import collector_paused
from studio.ui import theme
from studio.ui.recovery import settings


def application() -> QApplication:
    """The running QApplication, created (with the saved theme) when there is none yet."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName(APP_NAME)
        app.setOrganizationName(APP_NAME)
        app.setApplicationDisplayName(APP_NAME)  # the window title ends with it (MainWindow.update_title)
        app.setStyle("Fusion")
        chosen = str(settings().value("theme", "system"))
        theme.use_theme({"light": theme.LIGHT, "dark": theme.DARK}.get(chosen))
    return app  # type: ignore[return-value]


def open_main_window(path: str | Path | None = None):
    """Build the editor's main window (not shown) with `path` open, or a recovered or empty project.

    Raises:
        studio.graph.project.ProjectFileError: `path` cannot be opened.
    """
    application()
    from studio.graph.layout import lay_out_unplaced
    from studio.graph.project import load_project
    from studio.ui.main_window import MainWindow

    with collector_paused():
        project = load_project(path) if path is not None else None
        if project is not None:
            lay_out_unplaced(project.graph)  # a file without positions would show every card on one spot
        window = MainWindow(project)
    if path is not None:
        window.document.path = Path(path).resolve()
        window.files.add_recent(window.document.path)
        window.update_title()
    return window


def run(path: str | None = None) -> int:
    """Show the editor and run until it is closed; return the exit status."""
    app = application()
    from studio.graph.project import ProjectFileError

    try:
        window = open_main_window(path)
    except ProjectFileError as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return 2
    window.show()
    if path is None:
        window.files.offer_recovery()
    window.canvas.fit_to_view()
    return app.exec()
