"""Independent PyTorch references for every catalogue layer, used by the conformance test.

Each family module defines `CASES: dict[str, Case]`. A case says which inputs a layer takes
(a hypothesis strategy of per-sample shapes, batch excluded), optional parameter strategies
that keep examples small, and how to build the same layer in PyTorch. The catalogue's shape
rule and counts are then checked against what PyTorch itself does, on the meta device.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import strategies as st

Params = dict[str, Any]
SampleShape = tuple[int, ...]


@dataclass
class Case:
    """How to test one layer type against PyTorch.

    `inputs(params)` returns a strategy of per-sample input shapes (one per input port);
    `build(params, input_shapes)` returns an nn.Module whose forward takes the input tensors
    (full shapes, batch included) and returns a tensor. `stricter(params, shapes)` says when
    the catalogue rejects, on purpose, something PyTorch would run (documented per case).
    `positive(params)` says when the layer computes real numbers only for positive inputs
    (a logarithm, a square root): the export tests then feed it positive values.
    """

    inputs: Callable[[Params], st.SearchStrategy[list[SampleShape]]]
    build: Callable[[Params, list[tuple[int, ...]]], torch.nn.Module]
    params: dict[str, st.SearchStrategy] = field(default_factory=dict)
    dtype: torch.dtype = torch.float32
    device: str = "meta"
    stricter: Callable[[Params, list[SampleShape]], bool] = lambda p, s: False
    positive: Callable[[Params], bool] = lambda p: False


class Lambda(torch.nn.Module):
    """Wrap a function of tensors (plus optional submodules) as a module."""

    def __init__(self, fn: Callable[..., torch.Tensor], **modules: torch.nn.Module) -> None:
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(self, *xs)


def shapes(*dims: st.SearchStrategy[int]) -> st.SearchStrategy[list[SampleShape]]:
    """One input whose per-sample shape draws each dimension from the given strategies."""
    return st.tuples(*dims).map(lambda t: [tuple(t)])


def small(low: int = 1, high: int = 8) -> st.SearchStrategy[int]:
    """A small integer, the usual size of a test dimension."""
    return st.integers(low, high)


def _collect() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, case in getattr(module, "CASES", {}).items():
            assert name not in cases, f"two reference cases for {name}"
            cases[name] = case
    return cases


CASES = _collect()


def needs_positive_inputs(graph: Any) -> bool:
    """True when a layer of `graph` (a `studio.graph.Graph`) computes real numbers only for positive inputs."""
    return any(node.type in CASES and CASES[node.type].positive(node.params) for node in graph.nodes.values())


def made_positive(x: torch.Tensor) -> torch.Tensor:
    """Random normal values moved into [0.25, inf), where every layer's domain lies."""
    return x.abs() + 0.25
