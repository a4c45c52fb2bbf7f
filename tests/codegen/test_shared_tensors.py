"""Tensors every sample shares (Parameter, Constant) meeting per-sample ones: a class token and a position table.

The graph is ViT's stem in small: a learned token joined in front of the patch vectors, then a
learned position table added; each export must broadcast the shared tensors over the batch.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from studio.codegen.caffe import generate_caffe
from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import onnx_bytes
from studio.graph import Graph, analyse
from studio.graph.project import Project
from studio.interop.onnx_import import import_onnx
from tests.codegen.helpers import assert_keras_parity
from tests.codegen.onnx_checks import assert_matches_torch, randomized
from tests.interop.onnx_models import assert_matches_onnxruntime

# Keras's torch backend reads outputs with np.array, which torch 2.x answers with this warning.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def token_and_positions() -> Project:
    """Input (4, 8) -> Concat(class token, x) -> Add position table (5, 8), times a constant mask -> Output."""
    graph = Graph()
    x = graph.add_node("Input", "patches", {"shape": (4, 8)})
    token = graph.add_node("Parameter", "cls_token", {"shape": (1, 8)})
    table = graph.add_node("Parameter", "positions", {"shape": (5, 8)})
    mask = graph.add_node("Constant", "mask", {"shape": (5, 1), "fill": 0.5})
    join = graph.add_node("Concat", "join", {"dim": 1})
    add = graph.add_node("Add", "embed")
    scale = graph.add_node("Multiply", "masked")
    out = graph.add_node("Output", "tokens")
    graph.connect(token.id, "out", join.id, "in1")
    graph.connect(x.id, "out", join.id, "in2")
    graph.connect(join.id, "out", add.id, "in1")
    graph.connect(table.id, "out", add.id, "in2")
    graph.connect(add.id, "out", scale.id, "in1")
    graph.connect(mask.id, "out", scale.id, "in2")
    graph.connect(scale.id, "out", out.id, "in")
    return Project("token and positions", graph)


def test_shared_tensors_have_batch_one_and_their_sum_has_the_batch() -> None:
    project = token_and_positions()
    analysis = analyse(project.graph)
    shapes = {project.graph.nodes[n].name: r.outputs for n, r in analysis.results().items() if r.outputs}
    assert shapes["cls_token"] == {"out": (1, 1, 8)} and shapes["mask"] == {"out": (1, 5, 1)}
    assert shapes["join"] == {"out": (None, 5, 8)} and shapes["masked"] == {"out": (None, 5, 8)}
    summary = analysis.summary()
    assert (summary.trainable_params, summary.total_params) == (8 + 40, 8 + 40 + 5)  # the mask is a buffer


def test_onnx_broadcasts_the_token_over_the_batch() -> None:
    project = token_and_positions()
    model = randomized(project)
    data = onnx_bytes(project, model)
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    assert "Expand" in {n.op_type for n in proto.graph.node}
    assert {"cls_token", "positions"} <= {t.name for t in proto.graph.initializer}  # weights
    assert [n.output[0] for n in proto.graph.node if n.op_type == "Constant"] == ["mask"]  # a fixed value
    assert_matches_torch(data, project, model)


def test_keras_matches_pytorch(tmp_path: Path) -> None:
    assert_keras_parity(token_and_positions(), tmp_path)


def test_caffe_names_what_it_cannot_broadcast() -> None:
    with pytest.raises(CodegenError, match="cls_token.*shared by every sample"):
        generate_caffe(token_and_positions())


def test_a_shared_tensor_cannot_be_the_networks_output() -> None:
    graph = Graph()
    token = graph.add_node("Parameter", "token", {"shape": (1, 8)})
    graph.connect(token.id, "out", graph.add_node("Output", "y").id, "in")
    (diagnostic,) = [d for d in analyse(graph).diagnostics() if d.node_id == graph.node_by_name("y").id]
    assert "gets 1 rows where it needs the batch N" in diagnostic.text
    assert diagnostic.hint == "combine it with the network's input first"


def test_the_onnx_file_imports_back_with_its_token_table_and_mask(tmp_path: Path) -> None:
    project = token_and_positions()
    path = tmp_path / "stem.onnx"
    path.write_bytes(onnx_bytes(project, randomized(project)))
    imported = import_onnx(path)
    kinds = sorted(n.type for n in imported.project.graph.nodes.values())
    assert {"Parameter", "Constant", "Concat", "Multiply"} <= set(kinds)  # the table may come back as a PositionalEncoding
    summary = analyse(imported.project.graph).summary()
    assert (summary.trainable_params, summary.total_params) == (48, 53)
    assert_matches_onnxruntime(path, imported)
