"""Fixtures for the editor's tests: a document holding an example project, on the offscreen platform."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QUndoStack

from studio.graph.project import load_project
from studio.ui.document import Document
from tests.ui.helpers import EXAMPLES


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Settings, recent files and recovery copies go to a fresh folder per test."""
    home = tmp_path / "home"
    monkeypatch.setenv("LAYER_STUDIO_HOME", str(home))
    return home


@pytest.fixture
def undo_stack(qapp):
    stack = QUndoStack()
    yield stack
    stack.clear()


@pytest.fixture
def document(undo_stack):
    """A document with the digits CNN example open and a clean history."""
    doc = Document(undo_stack)
    doc.load(
        load_project(EXAMPLES / "digits_cnn.lstudio"), EXAMPLES / "digits_cnn.lstudio"
    )
    return doc


@pytest.fixture
def resnet(undo_stack):
    """A document with the ResNet-18 of blocks example open."""
    doc = Document(undo_stack)
    doc.load(load_project(EXAMPLES / "resnet18_blocks.lstudio"))
    return doc


@pytest.fixture
def empty_document(qapp):
    """A document with an empty, untitled project and a history of its own."""
    stack = QUndoStack()
    yield Document(stack)
    stack.clear()
