"""The ONNX export: checker-clean files that ONNX Runtime runs to the PyTorch model's numbers.

Every example and every layer type ONNX supports is exported (traced at batch 2), checked with
`full_check=True`, and run in ONNX Runtime at batch 3, proving the dynamic batch, against the
seeded PyTorch model on the same input: agreement within 1e-4 relative.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from studio.codegen import onnx_export
from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import (
    DEFAULT_OPSET,
    MAX_OPSET,
    MIN_OPSET,
    io_names,
    onnx_bytes,
)
from studio.graph import CATALOGUE, Graph
from studio.graph.catalogue.base import Inexpressible, Unsupported
from studio.graph.project import Project
from tests.codegen.cases import (
    EXAMPLES,
    LAYER_TYPES,
    example,
    hostile_project,
    layer_project,
    random_inputs,
    seeded_model,
    supported,
)
from tests.codegen.helpers import _torchlib_registry_built_once  # noqa: F401 - the module fixture

RUN_BATCH = 3  # the export traces at batch 2: a different batch proves axis 0 is dynamic
ONNX_TYPES = supported("onnx")

# Configurations the default one does not reach and where ONNX's form differs (sizes that do
# not divide, bilinear scales, statistics modes, stacked bidirectional recurrences, an open
# bound, a threshold's value other than 0, a gate along the channels).
VARIANTS = [
    ("AdaptiveAvgPool2d", {"output_size": (3, 5)}, None),
    ("AdaptiveMaxPool2d", {"output_size": (2, 4)}, None),
    ("AdaptiveAvgPool1d", {"output_size": (3,)}, [(6, 7)]),
    ("Upsample", {"scale_factor": (2, 3), "mode": "bilinear"}, None),
    ("BatchNorm2d", {"track_running_stats": False}, None),
    ("InstanceNorm2d", {"affine": True, "track_running_stats": True}, None),
    ("LSTM", {"hidden_size": 5, "bidirectional": True, "num_layers": 2}, None),
    ("GRU", {"hidden_size": 4, "reverse": True, "num_layers": 2}, None),
    ("MultiheadAttention", {"num_heads": 4, "bias": False}, [(6, 8), (5, 4), (5, 3)]),
    ("Pow", {"exponent": 0.5}, None),
    ("Clip", {"min": (), "max": (0.5,)}, None),
    ("Scale", {"factor": -2.0, "offset": 0.5}, None),
    ("Threshold", {"threshold": 0.1, "value": -2.0}, None),
    ("CELU", {"alpha": 0.5}, None),
    ("Softmin", {"dim": 1}, None),
    ("GLU", {"dim": 1}, [(4, 8, 8)]),
    ("Hardsigmoid", {"alpha": 0.2, "beta": 0.4}, None),
]


def run_onnx(data: bytes, xs: list[torch.Tensor]) -> list[np.ndarray]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs)})


def check_parity(project: Project, batch: int = RUN_BATCH, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Export `project`, fully check the file, and compare ONNX Runtime with the torch model."""
    model = seeded_model(project)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = onnx_bytes(project, model, opset=opset)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "the export changed the model"
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    inputs, outputs = io_names(project)
    assert [i.name for i in proto.graph.input] == inputs
    assert [o.name for o in proto.graph.output] == outputs
    for value in [*proto.graph.input, *proto.graph.output]:
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch", value.name
    xs = random_inputs(project.graph, batch)
    with torch.no_grad():
        expected = model(*xs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = run_onnx(data, xs)
    assert len(got) == len(expected)
    for name, g, e in zip(outputs, got, expected):
        torch.testing.assert_close(torch.from_numpy(g), e, rtol=1e-4, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")
    return proto


# ----- parity -----
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_torch(path: Path) -> None:
    proto = check_parity(example(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [DEFAULT_OPSET]
    assert len(proto.graph.initializer) > 0


@pytest.mark.parametrize("layer_type", ONNX_TYPES)
def test_layer_matches_torch(layer_type: str) -> None:
    check_parity(layer_project(layer_type))


@pytest.mark.parametrize(("layer_type", "params", "shapes"), VARIANTS, ids=[f"{v[0]}-{i}" for i, v in enumerate(VARIANTS)])
def test_layer_variant_matches_torch(layer_type: str, params: dict, shapes: list | None) -> None:
    check_parity(layer_project(layer_type, params, shapes))


def test_onnx_covers_at_least_90_percent_of_the_catalogue() -> None:
    share = len(ONNX_TYPES) / len(LAYER_TYPES)
    print(f"ONNX exports {len(ONNX_TYPES)} of {len(LAYER_TYPES)} layer types ({share:.0%})")
    assert share >= 0.9, sorted(set(LAYER_TYPES) - set(ONNX_TYPES))


# ----- names, inputs and outputs -----
def two_way_project(name_a: str = "first", name_b: str = "second") -> Project:
    """Two inputs, an Add, an unused branch, an Input passed straight out and one tensor output twice."""
    graph = Graph()
    a = graph.add_node("Input", name_a, {"shape": (4,)})
    b = graph.add_node("Input", name_b, {"shape": (4,)})
    unused = graph.add_node("Input", "unused input", {"shape": (2,)})
    fc = graph.add_node("Linear", "fc", {"out_features": 3})
    add = graph.add_node("Add", "sum")
    graph.connect(a.id, "out", add.id, "in1")
    graph.connect(b.id, "out", add.id, "in2")
    graph.connect(add.id, "out", fc.id, "in")
    dead = graph.add_node("Linear", "dead end", {"out_features": 2})
    graph.connect(unused.id, "out", dead.id, "in")
    for out_name, source in (("scores", fc), ("scores again", fc), ("echo", b)):
        sink = graph.add_node("Output", out_name)
        graph.connect(source.id, "out", sink.id, "in")
    return Project(name="two way", graph=graph)


def test_inputs_and_outputs_keep_project_order_and_the_batch_is_free() -> None:
    project = two_way_project()
    proto = check_parity(project)
    assert [i.name for i in proto.graph.input] == ["first", "second", "unused_input"]
    assert [o.name for o in proto.graph.output] == ["scores", "scores_again", "echo"]
    check_parity(project, batch=1)
    check_parity(project, batch=17)


def test_onnx_names_are_the_generated_forward_parameters() -> None:
    project = two_way_project("class", "x y")
    model = seeded_model(project)
    assert list(inspect.signature(model.forward).parameters) == io_names(project)[0] == ["class_", "x_y", "unused_input"]


def test_hostile_names_become_plain_identifiers() -> None:
    project = hostile_project()
    proto = check_parity(project)
    names = [v.name for v in [*proto.graph.input, *proto.graph.output]]
    assert all(n.isidentifier() for n in names), names
    assert len(set(names)) == len(names)


# ----- refusals -----
def test_layers_onnx_cannot_express_are_all_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CATALOGUE["ReLU"].targets, "onnx", Unsupported("no ReLU here, for this test"))
    graph = Graph()
    previous = graph.add_node("Input", "x", {"shape": (4,)})
    for name in ("act 1", "act 2"):
        node = graph.add_node("ReLU", name)
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    sink = graph.add_node("Output", "y")
    graph.connect(previous.id, "out", sink.id, "in")
    project = Project(name="relus", graph=graph)
    with pytest.raises(CodegenError) as err:
        onnx_bytes(project, seeded_model(project))
    text = str(err.value)
    assert "- act 1: ReLU: no ReLU here, for this test" in text and "- act 2: ReLU:" in text


def test_a_graph_with_errors_is_refused_naming_the_nodes() -> None:
    graph = Graph()
    image = graph.add_node("Input", "image", {"shape": (3, 8, 8)})
    fc = graph.add_node("Linear", "fc")
    graph.connect(image.id, "out", fc.id, "in")
    sink = graph.add_node("Output", "y")
    graph.connect(fc.id, "out", sink.id, "in")
    with pytest.raises(CodegenError, match="fc: Linear 'fc' needs a 2-D input"):
        onnx_bytes(Project(name="broken", graph=graph), torch.nn.Identity())


def test_an_opset_outside_the_range_is_refused() -> None:
    project = layer_project("ReLU")
    wanted = f"choose {MIN_OPSET} to {MAX_OPSET} \\(default {DEFAULT_OPSET}\\)"
    with pytest.raises(CodegenError, match=f"opset {MIN_OPSET - 1} is too old: {wanted}"):
        onnx_bytes(project, seeded_model(project), opset=MIN_OPSET - 1)
    with pytest.raises(CodegenError, match=f"opset {MAX_OPSET + 1} is newer than ONNX Runtime here runs: {wanted}"):
        onnx_bytes(project, seeded_model(project), opset=MAX_OPSET + 1)
    assert (MIN_OPSET, MAX_OPSET) == (13, onnx.defs.onnx_opset_version())


def test_every_catalogue_type_is_covered_here() -> None:
    unsupported = set(LAYER_TYPES) - set(ONNX_TYPES)
    for layer_type in unsupported:  # the reason is what `layer-studio layers --json` shows
        assert CATALOGUE[layer_type].targets["onnx"].reason.strip()
    assert set(ONNX_TYPES) | unsupported == set(LAYER_TYPES)


def test_adaptive_max_pool_to_sizes_that_do_not_divide_is_refused() -> None:
    project = layer_project("AdaptiveMaxPool2d", {"output_size": (3, 5)})
    with pytest.raises(CodegenError, match=r"- layer: AdaptiveMaxPool2d: output_size \(3, 5\) does not divide the input size \(8, 8\)"):
        onnx_bytes(project, seeded_model(project))


def no_direct_form(*args: object) -> None:
    raise Inexpressible("layer: ReLU: no direct form, for this test")


def test_a_model_torch_onnx_cannot_export_is_a_codegen_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_export, "onnx_model", no_direct_form)
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow cannot be traced
                return x
            return -x

    with pytest.raises(CodegenError, match="torch.onnx could not export 'ReLU test': "):
        onnx_bytes(layer_project("ReLU"), Broken())
