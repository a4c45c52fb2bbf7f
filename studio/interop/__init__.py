"""Importers: ONNX and Caffe prototxt files to editable projects with their weights (see docs/architecture.md).

`import_model(path)` picks the importer by suffix (`onnx_import.import_onnx`,
`caffe_import.import_caffe`); each returns a `common.ImportedModel` or raises a
`common.ModelImportError` that lists every problem at once. onnx and numpy load lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["import_model"]


def __getattr__(name: str) -> Any:
    if name == "import_model":
        from studio.interop.common import import_model

        return import_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
