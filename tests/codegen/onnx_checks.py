"""Checks the direct ONNX tests share: random weights, an untraced export, ONNX Runtime against PyTorch, and the import back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
import torch
from onnx import defs, helper

from studio.codegen.onnx_export import io_names, onnx_bytes
from studio.codegen.onnx_forms import KEPT_AT_DEFAULT
from studio.codegen.onnx_writer import onnx_model, writable
from studio.graph.catalogue.base import Inexpressible
from studio.graph.project import Project
from studio.graph.shapes import snapshot_analysis
from studio.interop.onnx_import import import_onnx
from tests.codegen.cases import random_inputs, seeded_model
from tests.interop.onnx_models import assert_matches_onnxruntime


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


def check_direct(project: Project, opset: int = 18) -> bytes:
    """Export with random weights straight from the graph; ONNX Runtime gives PyTorch's outputs."""
    return direct_export(project, randomized(project), opset)


def imported_layers(data: bytes, tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Import the file; it gives ONNX Runtime's outputs; return its layers' types and parameters."""
    path = tmp_path / "layer.onnx"
    path.write_bytes(data)
    imported = import_onnx(path)
    assert_matches_onnxruntime(path, imported)
    return [(n.type, dict(n.params)) for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")]


def nodes(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Each operator with its attributes (strings decoded)."""
    def value(a: onnx.AttributeProto) -> Any:
        v = onnx.helper.get_attribute_value(a)
        return v.decode() if isinstance(v, bytes) else v

    return [(n.op_type, {a.name: value(a) for a in n.attribute}) for n in onnx.load_from_string(data).graph.node]


def direct(project: Project, opset: int = 18) -> bool:
    """Whether the project's layers write it without torch.onnx (no emitter refuses its parameters)."""
    analysis = snapshot_analysis(project.graph)
    state = {key: value.numpy() for key, value in seeded_model(project).state_dict().items()}
    try:
        onnx_model(project, analysis, state, io_names(project, analysis), opset, "g")
    except Inexpressible as err:
        (layer,) = [n for n in project.graph.nodes.values() if n.name == "layer"]
        assert str(err).startswith(f"layer: {layer.type}: "), err  # the layer is named
        return False
    return True


SPOKEN_DEFAULTS = {"dilations": 1, "strides": 1, "pads": 0, "output_padding": 0}  # per axis, in the schema's words only
WINDOWED = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")


def default_valued(proto: onnx.ModelProto, opset: int) -> list[str]:
    """'Op.attribute' for every attribute written at its default: the schema's, or all-ones dilations and the like."""
    found = []
    for node in proto.graph.node:
        schema = defs.get_schema(node.op_type, opset, "")
        for attribute in node.attribute:
            default = schema.attributes[attribute.name].default_value
            value = helper.get_attribute_value(attribute)
            at_default = bool(default.name) and value == helper.get_attribute_value(default)
            spoken = node.op_type in WINDOWED and attribute.name in SPOKEN_DEFAULTS and all(v == SPOKEN_DEFAULTS[attribute.name] for v in value)
            if (at_default or spoken) and (node.op_type, attribute.name) not in KEPT_AT_DEFAULT:
                found.append(f"{node.op_type}.{attribute.name}")
    return found
