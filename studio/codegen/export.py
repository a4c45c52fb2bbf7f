"""Write a project's exports to disk: generated source plus its weights, never half-written."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.codegen.names import CodegenError
from studio.codegen.pytorch import generate_pytorch
from studio.graph.atomic import describe_os_error, write_atomically
from studio.graph.project import Project

if TYPE_CHECKING:
    import torch

TARGETS = ("pytorch",)
"""Export targets available now; Keras, ONNX, Caffe and the training script follow (issue 3)."""


class ExportWriteError(Exception):
    """An export that was generated but could not be written; the message names the path."""


@dataclass(frozen=True)
class ExportResult:
    """The files one export wrote."""

    files: tuple[Path, ...]


def export_project(project: Project, target: str, out: str | Path, seed: int = 0) -> ExportResult:
    """Generate `target` for `project` and write it to `out` (plus weights beside it).

    Raises:
        CodegenError: the graph has errors or a layer the target cannot express.
        ExportWriteError: a file could not be written; nothing is left half-written.
    """
    if target not in TARGETS:
        raise CodegenError(f"unknown export target {target!r}: choose one of {', '.join(TARGETS)}")
    out = Path(out)
    source = generate_pytorch(project)
    weights = _initial_weights(source, str(out), seed)
    files = ((out.with_suffix(".pt"), weights), (out, source.encode("utf-8")))
    created: list[Path] = []
    for path, data in files:
        existed = path.exists()
        try:
            write_atomically(path, data)
        except OSError as err:
            for orphan in created:  # a new weights file without its code would mislead
                orphan.unlink(missing_ok=True)
            raise ExportWriteError(f"{path}: cannot be written: {describe_os_error(err)}") from err
        if not existed:
            created.append(path)
    return ExportResult((out, out.with_suffix(".pt")))


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
