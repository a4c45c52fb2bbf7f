"""Fixtures the export tests share."""

from __future__ import annotations

import pytest

from studio.codegen import onnx_export


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The projects that went through torch.onnx (none, where every layer has a direct form)."""
    names: list[str] = []
    real = onnx_export._traced

    def tracing(project, *args):  # type: ignore[no-untyped-def]
        names.append(project.name)
        return real(project, *args)

    monkeypatch.setattr(onnx_export, "_traced", tracing)
    return names
