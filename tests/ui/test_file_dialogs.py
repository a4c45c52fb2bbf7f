"""Where the file dialogs start: the project's folder, else the user's documents; never the shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.graph.project import Project
from studio.ui import open_main_window, theme
from studio.ui.files import PROJECT_FILTER, Unsaved, documents_folder, is_example
from tests.ui.helpers import EXAMPLES

DIGITS = EXAMPLES / "digits_cnn.lstudio"


@pytest.fixture
def documents(tmp_path: Path, monkeypatch) -> Path:
    """A home folder with a Documents folder, as the platform names it when the user set nothing else."""
    home = tmp_path / "user"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user-dirs.dirs: the default names
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    return home / "Documents"


@pytest.fixture
def window(qtbot, documents):
    win = open_main_window(DIGITS)  # as `make run` opens it
    qtbot.addWidget(win)
    win.files.ask_unsaved = lambda: Unsaved.DISCARD
    win.asked = []

    def ask_save_path(title: str, suggested: str, file_filter: str) -> None:
        win.asked.append((title, win.files._folder(saving=True), suggested, file_filter))

    win.files.ask_save_path = ask_save_path
    yield win
    win.files.close()
    theme.use_theme(None)


def test_the_documents_folder_is_the_platforms(documents: Path) -> None:
    assert Path(documents_folder()) == documents
    assert is_example(DIGITS) and not is_example(documents / "digits_cnn.lstudio")


def test_saving_a_shipped_example_asks_where_and_starts_in_the_documents(window, documents: Path) -> None:
    assert not window.files.save()  # Save on the example `make run` opened is Save As: the example stays as it is
    assert window.asked == [("Save Project As", str(documents), "digits_cnn.lstudio", PROJECT_FILTER)]


def test_a_new_project_is_saved_and_exported_from_the_documents_folder(window, documents: Path) -> None:
    window.files.new_project()  # the recent files hold only the example
    assert window.files.recent_files() == [DIGITS.resolve()]
    window.files.save_as()
    window.files.export("pytorch")
    assert [(title, folder) for title, folder, _, _ in window.asked] == [
        ("Save Project As", str(documents)),
        ("Export PyTorch module (.py)", str(documents)),
    ]


def test_a_saved_project_keeps_its_own_folder_and_open_starts_in_the_latest(window, tmp_path: Path, documents: Path) -> None:
    assert window.files._folder() == str(documents)  # opening: the recent files hold only the example
    saved = tmp_path / "work" / "mine.lstudio"
    saved.parent.mkdir()
    window.files._replace(Project("mine"), None)
    assert window.files.save_as(saved)
    assert window.files._folder(saving=True) == window.files._folder() == str(saved.parent)
    window.files.new_project()
    assert window.files._folder(saving=True) == str(documents)  # a new file starts in the documents
    assert window.files._folder() == str(saved.parent)  # opening starts where the user worked last
