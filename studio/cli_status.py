"""The exit statuses every `layer-studio` command shares, and reading the project a command is given."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.graph.project import Project

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
# NOTE: a bug inside an importer exits 3, apart from 2 (a file that cannot be read or is refused
# as unsafe), so a script or a bug report can tell Layer Studio's fault from the file's.
EXIT_INTERNAL = 3


def read_project(path: str | Path) -> Project | None:
    """The project in `path`, or None after saying on stderr why it cannot be read (the command exits 2)."""
    from studio.graph.project import ProjectFileError, load_project

    try:
        return load_project(path)
    except ProjectFileError as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return None
