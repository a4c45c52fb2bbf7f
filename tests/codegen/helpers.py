"""Checks the export tests share: running generated code, comparing targets, linting the output."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from studio.codegen.export import build_torch_model
from studio.codegen.keras import generate_keras, write_keras_weights
from studio.codegen.keras_backend import load_keras
from studio.codegen.pytorch import generate_pytorch
from studio.graph import Graph
from studio.graph.project import Project
from tests.graph.reference import made_positive, needs_positive_inputs

BATCH = 2


def run_source(source: str) -> dict[str, Any]:
    """Execute generated source in a fresh module namespace."""
    namespace: dict[str, Any] = {"__name__": "generated_model"}
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace


def sample_inputs(graph: Graph) -> list[torch.Tensor]:
    """A random batch for each Input node, in graph order (token ids below the smallest vocabulary, values
    positive where a layer needs them so)."""
    vocab = min((n.params["num_embeddings"] for n in graph.nodes.values() if n.type == "Embedding"), default=2)
    positive = needs_positive_inputs(graph)
    xs = []
    for node in graph.nodes.values():
        if node.type == "Input":
            shape = (BATCH, *node.params["shape"])
            if node.params["dtype"] == "int64":
                xs.append(torch.randint(0, vocab, shape))
            else:
                xs.append(made_positive(torch.randn(shape)) if positive else torch.randn(shape))
    return xs


def load_module(path: Path) -> ModuleType:
    """Import an exported Python file as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_both(project: Project, tmp_path: Path) -> tuple[list[torch.Tensor], list[Any], str]:
    """PyTorch and Keras outputs of `project` on one random batch, with the same weights."""
    model = build_torch_model(generate_pytorch(project), seed=0)
    torch.manual_seed(1)
    xs = sample_inputs(project.graph)
    with torch.no_grad():
        out = model(*xs)
    expected = list(out) if isinstance(out, tuple) else [out]
    source = generate_keras(project)
    assert generate_keras(project) == source, "generation is not deterministic"
    path = tmp_path / "model_keras.weights.h5"
    write_keras_weights(project, source, model.state_dict(), path)
    kmodel = run_source(source)["build_model"](str(path))
    arrays = [x.numpy() for x in xs]
    got = kmodel(arrays[0] if len(arrays) == 1 else arrays, training=False)
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    return expected, [load_keras().ops.convert_to_numpy(g) for g in got], source


def assert_keras_parity(project: Project, tmp_path: Path) -> str:
    """Require the Keras export of `project` to compute what its PyTorch model does; return the Keras source."""
    expected, got, source = run_both(project, tmp_path)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        torch.testing.assert_close(torch.from_numpy(g).to(e.dtype), e, rtol=1e-4, atol=1e-5)
    return source


def assert_ruff_clean(ruff: str, sources: dict[str, str], folder: Path) -> None:
    """Write each generated source to `folder` and require `ruff format` and `ruff check` to pass."""
    for stem, text in sources.items():
        (folder / f"{stem}.py").write_text(text, encoding="utf-8")
    fmt = subprocess.run([ruff, "format", "--isolated", "--no-cache", "--diff", str(folder)], capture_output=True, text=True, check=False)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run([ruff, "check", "--isolated", "--no-cache", str(folder)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def ruff_executable() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.exists() else shutil.which("ruff")


@pytest.fixture(scope="module", autouse=True)
def _torchlib_registry_built_once() -> Iterator[None]:
    """Build torch.onnx's function registry once per opset instead of once per export (~0.5 s each).

    The registry is private API and read-only during an export (we pass no custom table);
    should torch rename it, the tests only run slower.
    """
    try:
        from torch.onnx._internal.exporter import _registration

        build = _registration.ONNXRegistry.from_torchlib.__func__
    except (ImportError, AttributeError):
        yield
        return
    built: dict[object, object] = {}

    def once(cls: type, *args: object, **kwargs: object) -> object:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = build(cls, *args, **kwargs)
        return built[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_registration.ONNXRegistry, "from_torchlib", classmethod(once))
        yield
