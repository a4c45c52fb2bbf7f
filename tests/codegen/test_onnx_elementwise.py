"""ONNX written straight from the graph for the Math layers and the activations: no trace, every opset, PyTorch's numbers.

Each layer (with its default parameters, and the values whose ONNX form differs) is written at
the oldest and newest opset the writer supports, must pass onnx.checker, and must run in ONNX
Runtime at a batch other than the traced one to the PyTorch model's numbers; where one ONNX
operator is the layer, the file imports back as the same layer with the same parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio.codegen import onnx_export
from studio.graph.catalogue import CATALOGUE
from studio.interop.onnx_import import import_onnx
from tests.codegen.cases import layer_project, seeded_model
from tests.codegen.onnx_checks import direct_export

TYPES = sorted(t for t, spec in CATALOGUE.items() if spec.category in ("Math", "Activation") and t != "PReLU")
FORMS: list[tuple[str, dict[str, Any], list[tuple[int, ...]] | None]] = [
    *((t, {}, None) for t in TYPES),
    ("Clip", {"min": (-0.25,), "max": ()}, None),
    ("Scale", {"factor": 1.0, "offset": -1.5}, None),
    ("Scale", {"factor": 3.0, "offset": 0.0}, None),
    ("Threshold", {"threshold": 0.1, "value": -2.0}, None),
    ("Softshrink", {"lambd": 1.0}, None),
    ("Hardshrink", {"lambd": 0.2}, None),
    ("GLU", {"dim": 2}, [(3, 8, 8)]),
    ("SwiGLU", {}, [(6, 8)]),
]
COMES_BACK = {  # layer types whose ONNX form the importer maps back onto the same layer
    "Exp", "Log", "Abs", "Neg", "Reciprocal", "Sqrt", "Rsqrt", "Pow", "Square", "Erf", "Sin", "Cos", "Clip", "Scale",
    "Softsign", "Threshold", "CELU", "Softshrink", "Hardshrink", "Hardsigmoid",
}  # fmt: skip


def comes_back(layer_type: str, params: dict[str, Any]) -> bool:
    """True where the form is one the importer knows (a Threshold's value other than 0 is written as Greater and Where)."""
    return layer_type in COMES_BACK and not (layer_type == "Threshold" and params.get("value", 0.0) != 0.0)


@pytest.fixture(autouse=True)
def no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def traced(*args: object) -> None:
        raise AssertionError("torch.onnx was used")

    monkeypatch.setattr(onnx_export, "_traced", traced)


@pytest.mark.parametrize("opset", [18, 23])
@pytest.mark.parametrize(("layer_type", "params", "shapes"), FORMS, ids=[f"{f[0]}-{i}" for i, f in enumerate(FORMS)])
def test_written_directly_it_computes_what_pytorch_does(
    layer_type: str, params: dict, shapes: list | None, opset: int, tmp_path: Path
) -> None:
    project = layer_project(layer_type, params, shapes)
    data = direct_export(project, seeded_model(project), opset)
    if comes_back(layer_type, params):
        path = tmp_path / "layer.onnx"
        path.write_bytes(data)
        (back,) = [n for n in import_onnx(path).project.graph.nodes.values() if n.type not in ("Input", "Output")]
        original = project.graph.node_by_name("layer")
        assert (back.type, dict(back.params)) == (layer_type, dict(original.params))
