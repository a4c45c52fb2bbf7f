"""PyTorch code as a project: the module built and captured in a child process, then imported from ONNX.

`FILE.py:NAME` names a module class (built with no arguments) or a function returning a module.
Importing it runs FILE.py, so it runs in a child process (`studio.torch_capture`): a crash or an
endless loop there never takes the caller down (a time limit ends it with a message), and only
an ONNX file comes back, never a pickle. The capture is torch.onnx's dynamo exporter, a
`torch.export` graph with the batch dynamic and each module's scope in the node metadata, so the
ONNX importer makes blocks of the module hierarchy and recognises attention as it does for any
exported file. Decision: capturing through ONNX reuses the importer's mapping, pattern matching
and blocks whole, rather than keeping a second mapping of the ATen graph.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from studio.child import ChildFailed, ChildStopped, run_module
from studio.graph.regular_files import NotRegularFileError, check_regular
from studio.interop.common import ImportedModel, ModelImportError
from studio.interop.onnx_import import import_onnx

TIMEOUT_S = 600
CAPTURED = "captured.onnx"
NOTE = "note: "  # the child's stderr lines that the import passes on as warnings
CODE_SPEC = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_]\w*)$")


def is_code_spec(text: str) -> bool:
    """True for `FILE.py:NAME`, PyTorch code to import."""
    return CODE_SPEC.match(str(text)) is not None


def import_python(spec: str, inputs: list[str], weights: Path | None = None, blocks: bool = True, timeout: float = TIMEOUT_S, cancel: threading.Event | None = None) -> ImportedModel:
    """Import the module `spec` (`FILE.py:NAME`) built from its code, with inputs of these per-sample shapes (`3x32x32`, `16:int64`).

    Raises ModelImportError when the code cannot be run or captured (the child's one-line reason) or
    `cancel` was set (the child is stopped at once), or the importers' errors for what the captured graph holds.
    """
    match = CODE_SPEC.match(spec)
    if match is None:
        raise ModelImportError(f"{spec}: name the module as FILE.py:NAME (a class or a function in that file)")
    path, name = Path(match["file"]).resolve(), match["name"]
    _check_file(path)
    extra = [arg for text in inputs for arg in ("--input", text)]
    if weights is not None:
        _check_file(Path(weights).resolve())
        extra += ["--weights", str(Path(weights).resolve())]
    model = _as_source(spec, lambda: _captured(spec, [str(path), name], extra, path.parent, blocks, timeout, cancel))
    model.project.name = name
    return model


def import_program(path: Path, blocks: bool = True, timeout: float = TIMEOUT_S, cancel: threading.Event | None = None) -> ImportedModel:
    """Import a program saved with `torch.export.save` (`.pt2`), read in a child process by `torch.export.load`; `cancel` stops it."""
    path = Path(path).resolve()
    _check_file(path)
    model = _as_source(path.name, lambda: _captured(str(path), [str(path), "-"], [], path.parent, blocks, timeout, cancel))
    model.project.name = path.stem
    return model


def _check_file(path: Path) -> None:
    """ModelImportError unless `path` is a regular file: the child would wait forever on a FIFO."""
    try:
        check_regular(path)
    except NotRegularFileError as err:
        raise ModelImportError(str(err)) from None
    except FileNotFoundError:
        raise ModelImportError(f"{path}: no such file") from None
    except OSError as err:
        raise ModelImportError(f"{path}: cannot be read ({err.strerror or err})") from None


def _as_source(source: str, run: Callable[[], ImportedModel]) -> ImportedModel:
    """The import `run` makes, its messages and description naming `source` (the code or program) rather than the captured file."""
    try:
        model = run()
    except ModelImportError as err:
        text = str(err)
        if text.startswith(CAPTURED):
            err.args = (source + text[len(CAPTURED):], *err.args[1:])
        raise
    model.project.description = model.project.description.replace(CAPTURED, source, 1)
    return model


def _captured(spec: str, args: list[str], extra: list[str], folder: Path, blocks: bool, timeout: float, cancel: threading.Event | None = None) -> ImportedModel:
    """Run the capture child with `args` (source, name) and `extra` flags, then import the ONNX file it wrote; `cancel` kills the child."""
    with tempfile.TemporaryDirectory(prefix="layer-studio-capture-") as temporary:
        out = Path(temporary) / CAPTURED
        try:
            stderr = run_module("studio.torch_capture", [*args, str(out), *extra], folder, timeout, cancel, doing="building and capturing the module")
        except ChildStopped:
            raise ModelImportError(f"{spec}: the import was stopped") from None
        except ChildFailed as err:
            raise ModelImportError(f"{spec}: {err}") from None
        if not out.is_file():
            raise ModelImportError(f"{spec}: the capture process wrote no model")
        model = import_onnx(out, blocks=blocks)
        model.warnings[:0] = [line.removeprefix(NOTE) for line in stderr.splitlines() if line.startswith(NOTE)]
        return model
