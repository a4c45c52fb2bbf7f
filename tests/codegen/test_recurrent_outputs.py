"""A recurrent layer's outputs read in every combination: each export writes another form, and all compute alike.

PyTorch against the independent reference (the ports picked from its tuple), Keras against
PyTorch on the same weights, ONNX straight from the graph against PyTorch at opsets 13 and 18,
and the file imported back to one layer whose ports give ONNX Runtime's outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from studio.codegen.pytorch import generate_pytorch
from studio.graph.catalogue.recurrent_forms import PORTS
from studio.graph.project import Project
from tests.codegen.cases import OUTPUT_VARIANTS, seeded_model, single_layer
from tests.codegen.helpers import assert_keras_parity, sample_inputs
from tests.codegen.onnx_checks import check_direct, imported_layers, nodes
from tests.graph.reference import CASES

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras 3.15 on numpy 2
CASES_BY_ID = [pytest.param(*v, id=f"{v[0]}-{'+'.join(v[3])}-{i}") for i, v in enumerate(OUTPUT_VARIANTS)]


def project_of(layer_type: str, params: dict[str, Any], shapes: list | None, outputs: tuple[str, ...]) -> Project:
    return single_layer(layer_type, params, shapes, outputs)


@pytest.mark.parametrize(("layer_type", "params", "shapes", "outputs"), CASES_BY_ID)
def test_pytorch_gives_the_ports_read(layer_type: str, params: dict, shapes: list | None, outputs: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    project = project_of(layer_type, params, shapes, outputs)
    model = seeded_model(project).eval()
    xs = sample_inputs(project.graph)
    layer = project.graph.node_by_name("layer")
    reference = CASES[layer_type].build(dict(layer.params), [tuple(x.shape) for x in xs]).eval()
    reference.rnn.load_state_dict(model.layer.state_dict())
    with torch.no_grad():
        got = model(*xs)
        every = reference(*xs)
    got = got if isinstance(got, tuple) else (got,)
    expected = [every[PORTS[layer_type].index(port)] for port in PORTS[layer_type] if port in outputs]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_the_generated_code_reads_as_its_form() -> None:
    steps = generate_pytorch(project_of("LSTM", {"hidden_size": 4}, None, ("sequence",)))
    assert "layer, _ = self.layer(x1)" in steps and "recurrent_outputs" not in steps
    flipped = generate_pytorch(project_of("GRU", {"hidden_size": 4, "reverse": True}, None, ("sequence",)))
    assert "self.layer(x1.flip(1))[0].flip(1)" in flipped
    cell = generate_pytorch(project_of("LSTM", {"hidden_size": 4}, None, ("cell",)))
    assert "layer = recurrent_outputs(self.layer, x1)[2]" in cell
    both = generate_pytorch(project_of("LSTM", {"hidden_size": 4, "reverse": True}, None, ("sequence", "cell")))
    assert "layer = recurrent_outputs(self.layer, x1, reverse=True)" in both and "return layer[0], layer[2]" in both


@pytest.mark.parametrize(("layer_type", "params", "shapes", "outputs"), CASES_BY_ID)
def test_keras_computes_what_pytorch_does(
    layer_type: str, params: dict, shapes: list | None, outputs: tuple[str, ...], tmp_path: Path
) -> None:
    source = assert_keras_parity(project_of(layer_type, params, shapes, outputs), tmp_path)
    assert ("return_state=True" in source) == (outputs not in (("sequence",), ("hidden",)))
    assert ("go_backwards=True" in source) == params.get("reverse", False)


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize(("layer_type", "params", "shapes", "outputs"), CASES_BY_ID)
def test_onnx_computes_what_pytorch_does_and_imports_back(
    layer_type: str, params: dict, shapes: list | None, outputs: tuple[str, ...], opset: int, tmp_path: Path
) -> None:
    project = project_of(layer_type, params, shapes, outputs)
    data = check_direct(project, opset)
    operators = [attrs for op, attrs in nodes(data) if op == layer_type]
    assert len(operators) == params.get("num_layers", 1)
    direction = "bidirectional" if params.get("bidirectional") else "reverse" if params.get("reverse") else None
    assert all(attrs.get("direction") == direction for attrs in operators)
    (imported,) = imported_layers(data, tmp_path)
    assert imported[0] == layer_type
    assert {k: imported[1][k] for k in params} == params
