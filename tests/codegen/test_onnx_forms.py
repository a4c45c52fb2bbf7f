"""The plain forms (`onnx_forms`) on files torch.onnx writes: no default-valued attribute, no needless `allowzero`, same numbers.

A network with a layer whose parameters have no direct ONNX form (a ceil-mode MaxPool that drops
a window) goes through torch.onnx, which spells out every attribute (all-ones `dilations`, zero
`pads`, `group` 1, Gemm's `alpha`) and writes every Reshape with `allowzero` 1. Exported, it must
read as plainly as the writer's files and still give PyTorch's numbers in ONNX Runtime; Reshape's
`allowzero` stays where a 0 in the target would be read otherwise.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper

from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import MAX_OPSET, onnx_bytes
from studio.codegen.onnx_forms import plain_model
from studio.graph.model import Graph
from studio.graph.project import Project
from tests.codegen.cases import random_inputs
from tests.codegen.helpers import _torchlib_registry_built_once  # noqa: F401 - the module fixture
from tests.codegen.onnx_checks import default_valued, randomized
from tests.graph.block_graphs import chain


def traced_project() -> Project:
    """Conv, a MaxPool with no direct ONNX form, Flatten, LayerNorm, Linear: torch.onnx writes it."""
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (3, 8, 9)}).id
    last = chain(
        graph, x,
        ("Conv2d", "conv", {"out_channels": 4, "kernel_size": 3}),
        ("MaxPool2d", "pool", {"kernel_size": (2, 2), "stride": (3, 3), "ceil_mode": True}),  # a window ONNX keeps, PyTorch drops
        ("Flatten", "flat", {}),
        ("LayerNorm", "norm", {}),
        ("Linear", "fc", {"out_features": 5}),
    )  # fmt: skip
    graph.connect(last, "out", graph.add_node("Output", "y").id, "in")
    return Project(name="traced", graph=graph)


def test_a_file_torch_onnx_writes_is_as_plain_as_the_writers_and_gives_torch_s_numbers(traced: list[str]) -> None:
    project = traced_project()
    model = randomized(project)
    proto = onnx.load_from_string(onnx_bytes(project, model))
    assert traced == ["traced"]
    written = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    assert written == [MAX_OPSET]  # the default where torch.onnx writes: a ceil-mode MaxPool is PyTorch's from MaxPool-22 only
    assert default_valued(proto, MAX_OPSET) == []
    assert [n.op_type for n in proto.graph.node if n.op_type == "Reshape"] == ["Reshape"]  # Flatten, as torch.onnx writes it
    assert all(a.name != "allowzero" for n in proto.graph.node for a in n.attribute)
    xs = random_inputs(project.graph, 3)
    got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": xs[0].numpy()})
    with torch.no_grad():
        expected = model(*xs)
    torch.testing.assert_close(torch.from_numpy(got[0]), expected, rtol=1e-4, atol=1e-5)


def reshape_model(target: list[int] | None, input_shape: list[int]) -> onnx.ModelProto:
    """x -> Reshape(allowzero=1) -> y, its target a constant (`target`) or computed from x's shape (None)."""
    nodes, initializers = [], []
    if target is None:  # x's shape after its first axis, known only when it runs
        nodes.append(helper.make_node("Shape", ["x"], ["target"], start=1))
    else:
        initializers.append(numpy_helper.from_array(np.array(target, np.int64), "target"))
    nodes.append(helper.make_node("Reshape", ["x", "target"], ["y"], allowzero=1))
    graph = helper.make_graph(
        nodes, "reshape", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, input_shape)], [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], initializers
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize(
    ("target", "input_shape", "kept"),
    [
        ([3, -1], [2, 3, 4], False),  # no 0: both readings agree
        ([0, 5], [2, 0, 3], True),  # a 0: allowzero 1 makes it (0, 5); without it, 0 copies x's 2 and (2, 5) cannot hold 0 entries
        (None, [2, 0, 3], True),  # computed: a 0 may come at run time, as (0, 3) here
    ],
)
def test_reshape_keeps_allowzero_only_where_a_zero_can_reach_it(target: list[int] | None, input_shape: list[int], kept: bool) -> None:
    model = reshape_model(target, input_shape)
    x = np.arange(int(np.prod(input_shape)), dtype=np.float32).reshape(input_shape)
    before = run(model, x)
    plain = plain_model(model)
    (reshape,) = [n for n in plain.graph.node if n.op_type == "Reshape" and n.input[0] == "x"]
    assert any(a.name == "allowzero" for a in reshape.attribute) == kept
    np.testing.assert_array_equal(run(plain, x), before)


def test_a_file_torch_onnx_gets_wrong_at_the_opset_asked_for_is_refused_naming_the_layer(traced: list[str]) -> None:
    project = traced_project()
    with pytest.raises(CodegenError) as err:
        onnx_bytes(project, randomized(project), opset=17)  # torch.onnx's MaxPool-12 keeps the window PyTorch drops
    assert str(err.value).startswith("the ONNX export of 'traced' fails onnx.checker: [ShapeInferenceError]")
    assert str(err.value).endswith(
        "a layer has no direct ONNX form and torch.onnx wrote the file, wrongly at opset 17 (choose a newer opset, up to "
        f"{MAX_OPSET}, or change the layer's parameters):\n  - pool: MaxPool2d: a ceil_mode window ONNX keeps and PyTorch drops"
    )
