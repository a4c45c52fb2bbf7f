"""Checks the direct ONNX tests share: random weights, an untraced export, and ONNX Runtime against PyTorch."""

from __future__ import annotations

import onnx
import onnxruntime as ort
import torch

from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.onnx_writer import writable
from studio.graph.project import Project
from tests.codegen.cases import random_inputs, seeded_model


def randomized(project: Project, seed: int = 3) -> torch.nn.Module:
    """The seeded model with every float weight uniform in [-1, 1) and running variances in [0.5, 2).

    Fresh layers hold ones and zeros, which would hide a swapped operand.
    """
    model = seeded_model(project)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                noise = torch.rand(value.shape, generator=generator)
                value.copy_(0.5 + 1.5 * noise if key.endswith("running_var") else 2 * noise - 1)
    return model


def assert_matches_torch(data: bytes, project: Project, model: torch.nn.Module) -> None:
    """ONNX Runtime gives the model's outputs at batch 3 (the export used another)."""
    xs = random_inputs(project.graph, 3)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs)})
    with torch.no_grad():
        expected = model(*xs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        torch.testing.assert_close(torch.from_numpy(g), e, rtol=1e-4, atol=1e-5)


def direct_export(project: Project, model: torch.nn.Module, opset: int = 18) -> bytes:
    """Export a one-layer project straight from the graph: checker-clean, its last node the layer, PyTorch's numbers."""
    assert writable(project)
    data = onnx_bytes(project, model, opset=opset)
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.node[-1].name == "layer"
    assert_matches_torch(data, project, model)
    return data
