"""What every importer returns and shares: the imported model, its errors, names, and how it is written."""

# NOTE: importers (ONNX, Caffe) build a `Project` whose graph is laid out and checks clean, plus
# every layer's weights as NumPy arrays keyed by node id and the names the layer's `state`
# declares (`n3/weight`, `studio.graph.weights_file`), so no importer needs to know what the
# generated code calls its attributes. Writing stores them as `<stem>.weights.npz` beside the
# project (no pickle) and points `training.weights` at it, so export and training pick them up.

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from studio.graph.atomic import check_target, describe_os_error, write_all_atomically
from studio.graph.bulk import collector_paused
from studio.graph.layout import arrange_levels
from studio.graph.model import MAX_NAME_LENGTH, Graph
from studio.graph.project import SUFFIX, Project, dumps_project
from studio.graph.weights_file import npz_bytes

if TYPE_CHECKING:
    import numpy as np

WEIGHTS_SUFFIX = ".weights.npz"
LAYOUT_ASPECT = 1.6  # imported networks are laid out in bands that make a 16:10 picture
MAX_LISTED = 12


class Unmappable(Exception):
    """An operator or layer of a file, or one setting of it, that no catalogue layer expresses.

    `kind` is how the import error lists it ("Conv (asymmetric 3-D padding)"); every such node is
    collected and reported at once (`UnsupportedLayersError`). A file that is itself wrong raises
    `ModelImportError` (Caffe's per-layer `BrokenLayer` is gathered into one).
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class ModelImportError(Exception):
    """A model file that cannot be imported; the message names the file and lists every problem at once."""


class UnsupportedLayersError(ModelImportError):
    """A readable model using operators or layers with no mapping (all of them listed): CLI exit code 1."""

    def __init__(self, message: str, found: dict[str, tuple[int, str]]) -> None:
        super().__init__(message)
        self.found = found  # type -> (how many, name of the first node of that type)


class InternalImportError(ModelImportError):
    """An unexpected exception inside an importer: a bug in Layer Studio, not a fault of the file (CLI exit code 3)."""


def internal_error(source: str, err: BaseException, where: str = "") -> InternalImportError:
    """The error for an importer bug: it says so, names what was being imported (a node) and the exception."""
    first = (str(err).strip().splitlines() or [""])[0][:200]
    at = f" while importing {where}" if where else ""
    return InternalImportError(
        f"{source}: internal error of Layer Studio{at} ({type(err).__name__}: {first}); "
        "this is a bug in Layer Studio, not a fault of the file: please report it with the file"
    )


class ImportWriteError(ModelImportError):
    """An imported project or its weights that could not be written; the message names the path."""


@dataclass
class ImportedModel:
    """An imported network: the project (laid out, names kept), its weights by node id and what the user should know."""

    project: Project
    state: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def unsupported_error(
    source: str, what: str, found: Iterable[tuple[str, ...]]
) -> UnsupportedLayersError:
    """Build the error listing every unsupported `what` ("operator", "layer") type: count and first node.

    `found` holds (type, node name) or (type, node name, origin) in file order; the origin says
    where the first node came from in the source code, where the file records it.
    """
    counts: Counter[str] = Counter()
    first: dict[str, tuple[str, ...]] = {}
    for kind, *node in found:
        counts[kind] += 1
        first.setdefault(kind, tuple(node))
    table = {kind: (counts[kind], first[kind][0]) for kind in counts}
    lines = [
        f"  {kind}: {n} node{'s' if n != 1 else ''}, first {first[kind][0]!r}" + "".join(f" ({origin})" for origin in first[kind][1:] if origin)
        for kind, n in counts.most_common()
    ]
    noun = what if len(counts) == 1 else f"{what}s"
    message = (
        f"{source}: {len(counts)} {noun} with no Layer Studio mapping:\n"
        + "\n".join(lines)
    )
    return UnsupportedLayersError(message, table)


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]+")


class NameTable:
    """Turns a file's node names into unique graph names, keeping them as they are wherever the graph allows."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._next: dict[str, int] = {}  # per base name, the suffix to try first (100,000 unnamed nodes would count up from 2 each)

    def take(self, name: str, fallback: str = "layer") -> str:
        """Return `name` cleaned (no control characters, trimmed, at most 128 characters) and unique."""
        base = (
            _UNSAFE_NAME.sub("_", name or "").strip()[: MAX_NAME_LENGTH - 6] or fallback
        )
        candidate = base
        if candidate in self._taken:
            k = self._next.get(base, 2)
            while f"{base}_{k}" in self._taken:
                k += 1
            candidate, self._next[base] = f"{base}_{k}", k + 1
        self._taken.add(candidate)
        return candidate


def project_name(path: Path) -> str:
    """A project name from a model file's name (without its suffixes)."""
    stem = path.name.split(".")[0] or path.stem
    cleaned = _UNSAFE_NAME.sub("_", stem).strip()[:MAX_NAME_LENGTH]
    return cleaned or "imported"


def lay_out(graph: Graph) -> None:
    """Place an imported graph's nodes with the automatic layered layout, in bands of a 16:10 whole; each block's graph too."""
    arrange_levels(graph, aspect=LAYOUT_ASPECT)


def weights_path(project_path: Path) -> Path:
    """Where the weights of the project at `project_path` go: net.lstudio -> net.weights.npz."""
    name = project_path.name
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else project_path.stem
    return project_path.with_name(stem + WEIGHTS_SUFFIX)


def with_weights_file(
    project: Project, project_path: Path, state: dict[str, np.ndarray]
) -> Project:
    """The project with `training.weights` naming its weights file beside `project_path` (cleared without weights)."""
    weights = weights_path(project_path).name if state else ""
    if project.training.weights == weights:
        return project
    return Project(
        project.name,
        project.graph,
        replace(project.training, weights=weights),
        project.description,
    )


def check_output(out: Path) -> None:
    """Refuse (ImportWriteError) a project path that could not be written (its suffix, its folder, a target that is not a file): asked before an import's work, and again as it writes."""
    if out.suffix != SUFFIX:
        raise ImportWriteError(f"{out}: a project file must end in {SUFFIX}")
    try:
        check_target(out)
    except OSError as err:
        raise ImportWriteError(f"{out}: cannot be written: {describe_os_error(err)}") from err


@collector_paused()
def write_imported(model: ImportedModel, out: Path) -> list[Path]:
    """Write the project to `out` and its weights to `<stem>.weights.npz` beside it; return the paths written.

    Both are written together (`write_all_atomically`): on a failure or Ctrl-C neither is
    replaced, so a project never meets weights that are not its own. `model.project.training.weights` is set
    to the weights file's name (relative to the project).

    Raises:
        ImportWriteError: a file could not be written.
    """
    out = Path(out)
    check_output(out)
    model.project = with_weights_file(model.project, out, model.state)
    files = [(weights_path(out), npz_bytes(model.state))] if model.state else []
    files.append((out, dumps_project(model.project).encode("utf-8")))
    try:
        write_all_atomically(files)
    except OSError as err:
        where = err.filename if isinstance(err.filename, str) else os.fspath(out)
        raise ImportWriteError(
            f"{where}: cannot be written: {describe_os_error(err)}"
        ) from err
    return [out, *(path for path, _ in files[:-1])]


IMPORTERS = {
    ".onnx": "studio.interop.onnx_import:import_onnx",
    ".prototxt": "studio.interop.caffe_import:import_caffe",
    ".pt2": "studio.interop.python_code:import_program",
}


def import_model(path: Path, blocks: bool = True) -> ImportedModel:
    """Import the model at `path`, choosing the importer by its suffix (.onnx, .prototxt); `blocks=False` keeps an ONNX model flat.

    Raises:
        UnsupportedLayersError: the file is readable but uses types with no mapping (all listed).
        InternalImportError: the importer failed in a way it did not foresee (a bug).
        ModelImportError: the file cannot be read, is hostile, or has an unknown suffix.
    """
    import importlib

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMPORTERS:
        kinds = ", ".join(IMPORTERS)
        raise ModelImportError(
            f"{path}: cannot import a {suffix or 'suffix-less'} file (choose one of: {kinds})"
        )
    module_name, function = IMPORTERS[suffix].split(":")
    importer = getattr(importlib.import_module(module_name), function)
    try:
        return importer(path, blocks=blocks) if suffix in (".onnx", ".pt2") else importer(path)
    except ModelImportError:
        raise
    except Exception as err:  # an exception no importer expected is its bug, never the file's fault
        raise internal_error(str(path), err) from err
