"""Golden ONNX graphs: each example's exported graph as text, with the project's layer names.

The text is onnx.printer's form of the graph without its weights: one line per node
(`[name] output = Op <attributes> (inputs)`), so a change in what the export writes shows
as a readable diff. Set UPDATE_GOLDEN=1 to rewrite the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import onnx.printer
import pytest

from studio.codegen.onnx_export import onnx_bytes
from studio.graph.project import load_project
from tests.codegen.cases import seeded_model

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden_onnx"
EXAMPLES = ("lenet5", "resnet_small", "lstm_classifier", "transformer_classifier")


def graph_text(data: bytes) -> str:
    """The graph's nodes, inputs and outputs as onnx.printer writes them, weights left out."""
    graph = onnx.load_from_string(data).graph
    bare = onnx.helper.make_graph(graph.node, graph.name, graph.input, graph.output)
    return onnx.printer.to_text(bare) + "\n"


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_exported_graph_matches_its_golden_file(name: str) -> None:
    project = load_project(ROOT / "assets" / "examples" / f"{name}.lstudio")
    text = graph_text(onnx_bytes(project, seeded_model(project)))
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    layers = [n.name for n in project.graph.nodes.values() if n.type not in ("Input", "Output")]
    assert all(f"[{layer}]" in text for layer in layers)  # every layer's node carries its name
