"""A batch folded with a dimension and unfolded again: attention heads built from plain layers.

Each sample (6 tokens of 8 features) is projected to queries, keys and values, split into 2
heads of 4, and the heads are folded into the batch (N×2 rows) so that MatMul and Softmax work
per head; the result is unfolded back to (N, 2, 6, 4) and joined. The exports must compute
what attention computes, at any batch size.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from studio.codegen.caffe import generate_caffe
from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import onnx_bytes
from studio.graph import Graph, analyse
from studio.graph.catalogue.base import show
from tests.codegen.batch_graphs import HEADS, TOKENS, WIDTH, heads_project
from tests.codegen.helpers import assert_keras_parity
from tests.codegen.onnx_checks import assert_matches_torch, randomized

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_the_analysis_shows_the_folded_batch() -> None:
    project = heads_project()
    analysis = analyse(project.graph)
    assert analysis.is_valid, [d.text for d in analysis.diagnostics()]
    shape = {n.name: show(analysis.result(i).outputs["out"]) for i, n in project.graph.nodes.items() if n.type != "Output"}
    assert shape["q_fold"] == "(N×2, 6, 4)" and shape["k_columns"] == "(N×2, 4, 6)"
    assert shape["scores"] == "(N×2, 6, 6)" and shape["unfold"] == "(N, 2, 6, 4)" and shape["joined"] == "(N, 6, 8)"
    assert analysis.result(project.graph.node_by_name("scores").id).macs == HEADS * TOKENS * TOKENS * (WIDTH // HEADS)


def test_the_pytorch_export_computes_attention_per_head() -> None:
    project = heads_project()
    model = randomized(project)
    x = torch.randn(3, TOKENS, WIDTH)
    q, k, v = (getattr(model, name)(x).view(3, TOKENS, HEADS, -1).transpose(1, 2) for name in "qkv")
    expected = (torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v).transpose(1, 2).reshape(3, TOKENS, WIDTH)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


def test_onnx_matches_at_another_batch() -> None:
    project = heads_project()
    model = randomized(project)
    data = onnx_bytes(project, model)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    assert_matches_torch(data, project, model)


def test_keras_matches_pytorch(tmp_path: Path) -> None:
    assert_keras_parity(heads_project(), tmp_path)


def test_caffe_names_the_product_it_lacks() -> None:
    with pytest.raises(CodegenError, match="scores.*no product of two blobs"):
        generate_caffe(heads_project())


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([("Reshape", {"shape": (8,), "batch": "unfold"})], "has no folded batch to unfold: its input is (N, 6, 8)"),
        ([("Reshape", {"shape": (8,), "batch": "fold"})], "gets N×6 rows where it needs the batch N"),
        ([("Reshape", {"shape": (8,), "batch": "fold"}), ("Flatten", {})], "gets N×6 rows where it needs the batch N"),
    ],
)
def test_folding_mistakes_are_explained(steps: list, message: str) -> None:
    graph = Graph()
    source = graph.add_node("Input", "x", {"shape": (TOKENS, WIDTH)})
    for index, (layer_type, params) in enumerate(steps):
        node = graph.add_node(layer_type, f"step{index}", params)
        graph.connect(source.id, "out", node.id, "in")
        source = node
    graph.connect(source.id, "out", graph.add_node("Output", "y").id, "in")
    texts = [d.text for d in analyse(graph).diagnostics() if d.severity == "error"]
    assert any(message in text for text in texts), texts


def test_a_folded_and_a_plain_batch_do_not_mix() -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (2, 4)})
    fold = graph.add_node("Reshape", "fold", {"shape": (4,), "batch": "fold"})
    add = graph.add_node("Add", "add")
    graph.connect(x.id, "out", fold.id, "in")
    graph.connect(fold.id, "out", add.id, "in1")
    graph.connect(graph.add_node("Input", "y", {"shape": (4,)}).id, "out", add.id, "in2")
    texts = [d.text for d in analyse(graph).diagnostics()]
    assert any("mixes the batch N×2 of in1 with the batch N of in2" in t for t in texts), texts
