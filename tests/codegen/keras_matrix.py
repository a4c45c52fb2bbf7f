"""The Keras backend matrix: each case exported once (PyTorch's outputs, the Keras file and weights, the inputs) for every backend to run.

The weights are copied on the backend this process has (torch, as the exporter picks); the
`.weights.h5` file is the same for every backend, so the children only build and run.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.codegen.export import build_torch_model
from studio.codegen.keras import generate_keras, write_keras_weights
from studio.codegen.pytorch import generate_pytorch
from studio.graph import Graph
from studio.graph.project import Project, load_project
from tests.codegen.cases import EXAMPLES, single_layer
from tests.codegen.helpers import sample_inputs
from tests.codegen.keras_cases import layer_cases

BACKENDS = ("torch", "jax", "tensorflow")
LIMIT = 1e-4  # the largest relative difference from PyTorch a backend may show
# How each backend runs a case: torch and TensorFlow eagerly, as `model(x)`, on the batch and on its
# first sample alone (TensorFlow's ops.add takes an operand of one non-1 axis for a bias, so one
# sample can take another path than two); JAX, which compiles every operation for every new shape
# when eager, through `predict` (one compiled function) on the batch only.
BATCH_ONE = {"torch": True, "jax": False, "tensorflow": True}
COMPILED = {"torch": False, "jax": True, "tensorflow": False}


def child_env(backend: str) -> dict[str, str]:
    """What a backend's child sets beside KERAS_BACKEND: for JAX, XLA's compiler without its costly
    optimization passes, which changes how fast the compiled code runs (each case runs once), not
    what it computes."""
    if backend != "jax":
        return {}
    flags = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    return {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()}


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


@dataclass
class Prepared:
    """One case ready to run: PyTorch's outputs on a batch of two, and the files a Keras run needs."""

    name: str
    expected: list[np.ndarray] = field(default_factory=list)
    source: str = ""
    weights: str = ""
    inputs: list[str] = field(default_factory=list)  # the batch of two, then its first sample alone
    error: str = ""  # what stopped the export

    def job(self, backend: str) -> dict[str, Any]:
        """The job `studio.codegen.keras_run` runs for this case on `backend`."""
        inputs = self.inputs[: 2 if BATCH_ONE[backend] else 1]
        return {"name": self.name, "source": self.source, "weights": self.weights, "inputs": inputs, "compiled": COMPILED[backend]}


def prepare(name: str, project: Project, folder: Path) -> Prepared:
    """Export `project` to PyTorch (seeded weights) and Keras under `folder`; PyTorch's outputs on one random batch."""
    case = Prepared(name)
    stem = folder / f"case{abs(hash(name))}"
    try:
        model = build_torch_model(generate_pytorch(project), seed=0)
        torch.manual_seed(1)
        xs = sample_inputs(project.graph)
        with torch.no_grad():
            out = model(*xs)
        case.expected = [o.numpy() for o in (out if isinstance(out, tuple) else [out])]
        source = generate_keras(project)
        Path(f"{stem}.py").write_text(source, encoding="utf-8")
        write_keras_weights(project, source, model.state_dict(), f"{stem}.weights.h5")
    except Exception as err:  # noqa: BLE001 - the case's test reports it
        case.error = f"export failed: {type(err).__name__}: {err}"
        return case
    case.source, case.weights = f"{stem}.py", f"{stem}.weights.h5"
    for label, batch in (("batch", xs), ("one", [x[:1] for x in xs])):
        path = f"{stem}_{label}.npz"
        np.savez(path, **{f"in{i}": x.numpy() for i, x in enumerate(batch)})
        case.inputs.append(path)
    return case


def relative_difference(got: list[np.ndarray], expected: list[np.ndarray]) -> float:
    """The largest |got - expected| over every output, relative to the output's largest |expected|.

    Raises:
        AssertionError: the outputs differ in number or shape.
    """
    assert len(got) == len(expected), f"{len(got)} outputs, PyTorch gives {len(expected)}"
    worst = 0.0
    for g, e in zip(got, expected):
        assert g.shape == e.shape, f"an output of shape {g.shape}, PyTorch gives {e.shape}"
        if e.size:
            scale = max(float(np.max(np.abs(e))), 1e-6)
            worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - e.astype(np.float64)))) / scale)
    return worst


def read_outputs(path: str) -> list[np.ndarray]:
    with np.load(path) as stored:
        return [stored[f"out{i}"] for i in range(len(stored.files))]


def shared_channel_operand() -> Project:
    """An image plus a learned (8, 1, 1) tensor every sample shares, width 8 == channels 8."""
    graph = Graph()
    image = graph.add_node("Input", "image", {"shape": (8, 8, 8)})
    bias = graph.add_node("Parameter", "bias", {"shape": (8, 1, 1), "std": 1.0})
    add = graph.add_node("Add", "add")
    graph.connect(image.id, "out", add.id, "in1")
    graph.connect(bias.id, "out", add.id, "in2")
    sink = graph.add_node("Output", "y")
    graph.connect(add.id, "out", sink.id, "in")
    return Project(name="shared channel operand", graph=graph)


def all_cases() -> dict[str, Any]:
    """Every case of the matrix by name: each example (its path), the shared channel operand, each one-layer case (type, params, shapes)."""
    found: dict[str, Any] = {f"example-{p.stem}": p for p in EXAMPLES}
    found["shared-channel-operand"] = shared_channel_operand
    found.update({name: (layer_type, params, shapes) for name, layer_type, params, shapes in layer_cases()})
    return found


def case_project(spec: Any) -> Project:
    """The project a case of `all_cases` stands for."""
    if isinstance(spec, Path):
        return load_project(spec)
    return spec() if callable(spec) else single_layer(*spec)
