"""Write a project's exports to disk: generated source plus its weights, never half-written."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from studio.codegen.names import CodegenError
from studio.codegen.pytorch import generate_pytorch
from studio.graph.atomic import describe_os_error, write_atomically
from studio.graph.project import Project

if TYPE_CHECKING:
    import torch

Files = list[tuple[Path, bytes]]
"""What an export writes: (path, content) pairs, companions (weights) before the main file."""


class ExportWriteError(Exception):
    """An export that was generated but could not be written; the message names the path."""


@dataclass(frozen=True)
class ExportResult:
    """The files one export wrote."""

    files: tuple[Path, ...]


def _pytorch(project: Project, out: Path, seed: int) -> Files:
    source = generate_pytorch(project)
    return [(out.with_suffix(".pt"), _initial_weights(source, str(out), seed)), (out, source.encode("utf-8"))]


def _onnx(project: Project, out: Path, seed: int) -> Files:
    from studio.codegen.onnx_export import onnx_bytes

    return [(out, onnx_bytes(project, build_torch_model(generate_pytorch(project), seed, str(out))))]


def _caffe(project: Project, out: Path, seed: int) -> Files:
    from studio.codegen.caffe import generate_caffe

    return [(out, generate_caffe(project).encode("utf-8"))]


def _script(project: Project, out: Path, seed: int) -> Files:
    from studio.codegen.script import generate_script

    return [(out, generate_script(project).encode("utf-8"))]


def _keras(project: Project, out: Path, seed: int) -> Files:
    from studio.codegen.keras import generate_keras, write_keras_weights

    source = generate_keras(project)
    model = build_torch_model(generate_pytorch(project), seed, str(out))
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / "staged.weights.h5"  # Keras insists on this suffix
        write_keras_weights(project, source, model.state_dict(), staged)
        weights = staged.read_bytes()
    return [(keras_weights_path(out), weights), (out, source.encode("utf-8"))]


def keras_weights_path(out: Path) -> Path:
    """Where the Keras weights of `out` go: model_keras.py -> model_keras.weights.h5."""
    return out.with_name(out.stem + ".weights.h5")


EXPORTERS: dict[str, Callable[[Project, Path, int], Files]] = {
    "pytorch": _pytorch,
    "keras": _keras,
    "onnx": _onnx,
    "caffe": _caffe,
    "script": _script,
}
TARGETS = tuple(EXPORTERS)


def export_project(project: Project, target: str, out: str | Path, seed: int = 0) -> ExportResult:
    """Generate `target` for `project` and write it to `out` (plus weights beside it where it has them).

    Raises:
        CodegenError: the graph has errors or a layer the target cannot express.
        ExportWriteError: a file could not be written; nothing is left half-written.
    """
    if target not in EXPORTERS:
        raise CodegenError(f"unknown export target {target!r}: choose one of {', '.join(TARGETS)}")
    files = EXPORTERS[target](project, Path(out), seed)
    created: list[Path] = []
    for path, data in files:
        existed = path.exists()
        try:
            write_atomically(path, data)
        except OSError as err:
            for orphan in created:  # weights without their code would mislead
                orphan.unlink(missing_ok=True)
            raise ExportWriteError(f"{path}: cannot be written: {describe_os_error(err)}") from err
        if not existed:
            created.append(path)
    return ExportResult(tuple(path for path, _ in reversed(files)))


def build_torch_model(source: str, seed: int, filename: str = "<generated>") -> "torch.nn.Module":
    """Run generated PyTorch source and build its model with weights initialized from `seed`.

    Every export of a project starts from this model, so all targets hold the same numbers.
    """
    import torch

    namespace: dict[str, object] = {"__name__": "layer_studio_export"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated, sanitized code
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = namespace["build_model"]()  # type: ignore[operator]
    return model.eval()


def _initial_weights(source: str, filename: str, seed: int) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(build_torch_model(source, seed, filename).state_dict(), buffer)
    return buffer.getvalue()
