"""The PyTorch emitter: generated code runs, matches the analysis, resists hostile names, reads well.

Every example and every catalogue layer is generated, executed in a fresh namespace and run
on a random batch; output shapes, parameter and buffer counts must equal studio's analysis,
and single layers must compute what the independent references in tests/graph/reference do.
Set UPDATE_GOLDEN=1 to rewrite the golden files.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from studio.codegen.names import MODULE_ATTRIBUTES, CodegenError, Namespace
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.weights import declared_state
from studio.graph import CATALOGUE, Graph, analyse
from studio.graph.project import Project, load_project
from tests.codegen.cases import (
    EXAMPLES,
    HOSTILE,
    ROOT,
    VARIANTS,
    hostile_project,
    single_layer,
)
from tests.codegen.helpers import (
    BATCH,
    assert_ruff_clean,
    ruff_executable,
    run_source,
    sample_inputs,
)
from tests.graph.reference import CASES

GOLDEN = Path(__file__).resolve().parent / "golden"


def check_project(project: Project) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], list[torch.Tensor]]:
    """Generate, build and run `project`; assert shapes and counts agree with the analysis."""
    source = generate_pytorch(project)
    assert generate_pytorch(project) == source, "generation is not deterministic"
    model = run_source(source)["build_model"]()
    model.eval()
    xs = sample_inputs(project.graph)
    with torch.no_grad():
        out = model(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    analysis = analyse(project.graph)
    expected = []
    for node_id, node in project.graph.nodes.items():
        if node.type == "Output":
            shape = analysis.result(node_id).inputs[0]
            expected.append((BATCH, *shape[1:]))
    assert [tuple(o.shape) for o in outs] == expected
    summary = analysis.summary()
    learnable = {name for name, _ in model.named_parameters()}
    saved = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters())
    n_buffers = sum(t.numel() for k, t in saved.items() if k not in learnable)
    assert n_params == summary.trainable_params
    assert n_buffers == summary.total_params - summary.trainable_params
    declared = {key: (tensor.shape, tensor.learned) for key, tensor in declared_state(project).items()}
    assert declared == {key: (tuple(t.shape), key in learnable) for key, t in saved.items()}  # the weights layout
    return model, outs, xs


# ----- examples -----
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_and_matches_the_analysis(path: Path) -> None:
    check_project(load_project(path))


def test_weights_round_trip_through_build_model(tmp_path: Path) -> None:
    project = load_project(ROOT / "assets" / "examples" / "digits_cnn.lstudio")
    namespace = run_source(generate_pytorch(project))
    model = namespace["build_model"]()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    loaded = namespace["build_model"](str(tmp_path / "weights.pt"))
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)


# ----- every layer type -----
def layer_cases() -> list[Any]:
    cases = [pytest.param(t, {}, None, id=t) for t in sorted(set(CATALOGUE) - {"Input", "Output"})]
    for i, (layer_type, params, shapes) in enumerate(VARIANTS):
        cases.append(pytest.param(layer_type, params, shapes, id=f"{layer_type}-{i}"))
    return cases


def test_every_layer_type_has_an_emitter() -> None:
    missing = {t for t, spec in CATALOGUE.items() if spec.pytorch is None} - {"Input", "Output"}
    assert not missing, f"layer types without a PyTorch emitter in their family: {sorted(missing)}"


def copy_by_order(source: torch.nn.Module, target: torch.nn.Module) -> bool:
    """Copy `source`'s state into `target` entry by entry; False when the layouts differ."""
    a, b = source.state_dict(), target.state_dict()
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a.values(), b.values())):
        return False
    target.load_state_dict(dict(zip(b.keys(), a.values())))
    return True


@pytest.mark.parametrize(("layer_type", "params", "shapes"), layer_cases())
def test_layer_runs_and_matches_the_reference(layer_type: str, params: dict, shapes: list | None) -> None:
    torch.manual_seed(0)
    project = single_layer(layer_type, params, shapes)
    model, outs, xs = check_project(project)
    layer = project.graph.node_by_name("layer")
    assert layer is not None
    full = [tuple(x.shape) for x in xs]
    reference = CASES[layer_type].build(dict(layer.params), full)
    reference.eval()
    assert copy_by_order(model, reference), "the generated layer's state does not line up with the reference"
    with torch.no_grad():
        expected = reference(*xs)
    expected = tuple(expected) if isinstance(expected, (tuple, list)) else (expected,)  # a layer of several pieces
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected):
        torch.testing.assert_close(got, want)


# ----- errors and names -----
def test_a_graph_with_errors_is_refused_naming_the_nodes() -> None:
    graph = Graph()
    image = graph.add_node("Input", "image", {"shape": (3, 8, 8)})
    fc = graph.add_node("Linear", "fc")
    graph.connect(image.id, "out", fc.id, "in")
    graph.add_node("ReLU", "dangling")
    with pytest.raises(CodegenError) as err:
        generate_pytorch(Project(name="broken", graph=graph))
    text = str(err.value)
    assert "fc: Linear 'fc' needs a 2-D input" in text and "dangling:" in text and "no Output" in text


def test_unused_branch_keeps_its_weights_and_inputs_keep_their_order() -> None:
    graph = Graph()
    first = graph.add_node("Input", "first", {"shape": (4,)})
    second = graph.add_node("Input", "second", {"shape": (3,)})
    used = graph.add_node("Linear", "used", {"out_features": 2})
    unused = graph.add_node("Linear", "unused", {"out_features": 5})
    graph.connect(second.id, "out", used.id, "in")
    graph.connect(first.id, "out", unused.id, "in")
    for name, source in (("a", used), ("b", first)):
        sink = graph.add_node("Output", name)
        graph.connect(source.id, "out", sink.id, "in")
    project = Project(name="branches", graph=graph)
    _, outs, xs = check_project(project)  # counts include the unused Linear's weights
    assert torch.equal(outs[1], xs[0])
    assert "unused = self.unused(" not in generate_pytorch(project)


def test_namespace_makes_safe_unique_identifiers() -> None:
    names = Namespace()
    made = [names.identifier(n) for n in ["conv 1", "conv_1", "1st", "class", "self", "", "名前", "café", "__x__", "torch"]]
    assert made == ["conv_1", "conv_1_2", "layer_1st", "class_", "self_", "layer", "layer_2", "cafe", "x", "torch_"]
    assert all(m.isidentifier() for m in made)
    assert names.class_name("digits_cnn") == "DigitsCnn"
    assert names.class_name("none") == "None_"
    assert names.class_name("3d net") == "Model3dNet"


def test_reserved_names_cover_every_module_attribute() -> None:
    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES | {"forward"}, sorted(public - MODULE_ATTRIBUTES)


def test_hostile_names_cannot_inject_code() -> None:
    project = hostile_project()
    source = generate_pytorch(project)
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == ["import torch", "from torch import nn"]
    words = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    words |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not words & {"os", "system", "exec", "eval", "__import__", "x\ny"}
    for node in ast.walk(tree):  # the only string constants are docstrings and literals we emit
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert all(n not in node.value for n in HOSTILE if len(n) > 2), node.value
    for line in source.splitlines():  # a raw name survives only in a comment
        code = line.split("#", 1)[0]
        assert not any(name in code for name in HOSTILE if not name.isidentifier()), line
    model, outs, _ = check_project(project)
    assert len(outs) == 2
    assert isinstance(model.training, bool) and isinstance(model.training_, torch.nn.Linear)
    assert type(model).__name__ == "OsSystemRm"


# ----- reading well -----
def golden_projects() -> dict[str, Project]:
    return {name: load_project(ROOT / "assets" / "examples" / f"{name}.lstudio") for name in ("digits_cnn", "lenet5", "resnet_small")}


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "resnet_small"])
def test_golden_source(name: str) -> None:
    source = generate_pytorch(golden_projects()[name])
    path = GOLDEN / f"{name}.py"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8")


def test_generated_code_is_ruff_and_black_clean(tmp_path: Path) -> None:
    ruff = ruff_executable()
    if ruff is None:
        pytest.skip("ruff is not installed (add it to the dev extras) so formatting cannot be checked")
    sources = {p.stem: generate_pytorch(load_project(p)) for p in EXAMPLES}
    for i, case in enumerate(layer_cases()):
        sources[f"layer_{i}"] = generate_pytorch(single_layer(*case.values))
    sources["hostile"] = generate_pytorch(hostile_project())
    long = Graph()
    previous = long.add_node("Input", "an input with a long and descriptive name", {"shape": (3, 8, 8)})
    for i in range(3):
        node = long.add_node("Conv2d", f"a convolution with a very long descriptive name {i}",
                             {"out_channels": 8, "kernel_size": 3, "padding": 1, "stride": 1, "bias": False,
                              "dilation": 1, "padding_mode": "reflect"})  # fmt: skip
        long.connect(previous.id, "out", node.id, "in")
        previous = node
    other = long.add_node("Input", "another input with a long and descriptive name", {"shape": (8, 8, 8)})
    add = long.add_node("Add", "the sum of the long named convolution and the other long input")
    long.connect(previous.id, "out", add.id, "in1")
    long.connect(other.id, "out", add.id, "in2")
    sink = long.add_node("Output", "out")
    long.connect(add.id, "out", sink.id, "in")
    sources["long_names"] = generate_pytorch(Project(name="long names", graph=long))
    assert_ruff_clean(ruff, sources, tmp_path)
