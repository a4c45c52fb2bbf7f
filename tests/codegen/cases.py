"""Shared graphs for the export parity tests: the examples, one small graph per layer, random inputs.

Every target's test imports these read-only, so all targets are proven on the same graphs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch
from studio.graph import CATALOGUE, Graph
from studio.graph.catalogue.base import Unsupported
from studio.graph.project import Project, load_project
from tests.codegen.test_pytorch import VARIANTS, single_layer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.lstudio"))
LAYER_TYPES = sorted(set(CATALOGUE) - {"Input", "Output"})
SEED = 0

__all__ = [
    "EXAMPLES", "LAYER_TYPES", "VARIANTS", "example", "layer_project", "random_inputs", "seeded_model", "supported",
]  # fmt: skip


def supported(target: str) -> list[str]:
    """The layer types (Input/Output excluded) whose catalogue entry gives `target` a mapping."""
    return [t for t in LAYER_TYPES if not isinstance(CATALOGUE[t].targets[target], Unsupported)]


def example(path: Path) -> Project:
    """An example project, loaded."""
    return load_project(path)


def layer_project(
    layer_type: str, params: dict[str, Any] | None = None, shapes: list[tuple[int, ...]] | None = None
) -> Project:
    """Input(s) -> one layer -> Output, with default parameters unless given (as test_pytorch builds it)."""
    return single_layer(layer_type, params or {}, shapes)


def seeded_model(project: Project, seed: int = SEED) -> torch.nn.Module:
    """The project's generated PyTorch model with seeded weights: the numbers every export holds."""
    return build_torch_model(generate_pytorch(project), seed)


def random_inputs(graph: Graph, batch: int, seed: int = 1) -> list[torch.Tensor]:
    """A random batch per Input node in graph order; token ids stay below the smallest vocabulary."""
    generator = torch.Generator().manual_seed(seed)
    vocab = min((n.params["num_embeddings"] for n in graph.nodes.values() if n.type == "Embedding"), default=2)
    xs = []
    for node in graph.nodes.values():
        if node.type == "Input":
            shape = (batch, *node.params["shape"])
            if node.params["dtype"] == "int64":
                xs.append(torch.randint(0, vocab, shape, generator=generator))
            else:
                xs.append(torch.randn(shape, generator=generator))
    return xs
