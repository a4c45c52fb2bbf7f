"""The Keras 3 emitter: what it refuses, names, reads like; a few graphs beyond the one-layer cases.

Every example and every one-layer case is checked against PyTorch on each backend in
`test_keras_backends.py`. Here, projects are generated for PyTorch and Keras; the PyTorch model is
built with seeded weights (as `layer-studio export` does), its state dict is converted with
`write_keras_weights`, and the Keras model (on the torch backend the exporter picks) must agree on
the same random input in inference mode within 1e-4 relative. Layers and parameter values Keras
cannot express must be refused with a message naming the node. Set UPDATE_GOLDEN=1 to rewrite the
golden files.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import torch

from studio.codegen.export import build_torch_model
from studio.codegen.keras import generate_keras, write_keras_weights
from studio.codegen.keras_backend import load_keras
from studio.codegen.names import CodegenError
from studio.codegen.pytorch import generate_pytorch
from studio.graph import CATALOGUE, Graph
from studio.graph.project import Project, load_project
from tests.codegen.cases import (
    EXAMPLES,
    HOSTILE,
    VARIANTS,
    hostile_project,
    single_layer,
)
from tests.codegen.helpers import (
    assert_keras_parity,
    assert_ruff_clean,
    ruff_executable,
    run_both,
)
from tests.codegen.keras_cases import EXPORTABLE, REFUSED, layer_cases, refusal

keras = load_keras()  # as the exporter does: on torch unless the user chose a backend

# Keras 3.15 variables predate numpy 2's __array__(copy=...); loading weights warns inside Keras.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

GOLDEN = Path(__file__).resolve().parent / "golden_keras"


# ----- every layer type (their parity with PyTorch on every backend: test_keras_backends.py) -----
def test_every_exportable_layer_type_has_an_emitter_and_the_goal_is_met() -> None:
    layer_types = set(CATALOGUE) - {"Input", "Output"}
    assert {t for t, spec in CATALOGUE.items() if spec.keras is not None} == set(EXPORTABLE)
    share = len(EXPORTABLE) / len(layer_types)
    print(f"Keras exports {len(EXPORTABLE)} of {len(layer_types)} catalogue layer types ({share:.0%})")
    assert share >= 0.8


REFUSED_VARIANTS = [(t, p, s) for t, p, s in VARIANTS if refusal(t, p) is not None]


@pytest.mark.parametrize(("layer_type", "params", "shapes"), REFUSED_VARIANTS, ids=[t for t, _, _ in REFUSED_VARIANTS])
def test_values_keras_cannot_express_are_refused(layer_type: str, params: dict, shapes: list | None) -> None:
    with pytest.raises(CodegenError) as err:
        generate_keras(single_layer(layer_type, params, shapes))
    assert f"- layer: {layer_type}: " in str(err.value) and str(refusal(layer_type, params)) in str(err.value)


def test_every_refusal_is_met_by_a_variant() -> None:
    assert len(REFUSED_VARIANTS) == len(REFUSED)


def test_unsupported_layers_are_listed_together() -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (3, 8, 8)})
    pool = graph.add_node("MaxPool2d", "pool", {"kernel_size": 3, "stride": 2, "ceil_mode": True})
    conv = graph.add_node("Conv2d", "conv", {"out_channels": 3, "padding": 1, "padding_mode": "replicate"})
    graph.connect(x.id, "out", pool.id, "in")
    graph.connect(pool.id, "out", conv.id, "in")
    sink = graph.add_node("Output", "y")
    graph.connect(conv.id, "out", sink.id, "in")
    with pytest.raises(CodegenError) as err:
        generate_keras(Project(name="mixed", graph=graph))
    text = str(err.value)
    assert "- pool: MaxPool2d: ceil_mode" in text
    assert "- conv: Conv2d: padding_mode 'replicate'" in text


def test_a_graph_with_errors_is_refused() -> None:
    graph = Graph()
    image = graph.add_node("Input", "image", {"shape": (3, 8, 8)})
    fc = graph.add_node("Linear", "fc")
    graph.connect(image.id, "out", fc.id, "in")
    with pytest.raises(CodegenError, match="fc: Linear 'fc' needs a 2-D input"):
        generate_keras(Project(name="broken", graph=graph))


def test_weights_path_must_be_a_keras_weights_file(tmp_path: Path) -> None:
    project = load_project(EXAMPLES[0])
    state = build_torch_model(generate_pytorch(project), seed=0).state_dict()
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        write_keras_weights(project, generate_keras(project), state, tmp_path / "model.h5")


def test_hostile_names_and_multiple_inputs_and_outputs(tmp_path: Path) -> None:
    project = hostile_project()
    source = assert_keras_parity(project, tmp_path)
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == ["import keras", "from keras import layers"]
    words = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    words |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not words & {"os", "system", "exec", "eval", "__import__"}
    for line in source.splitlines():  # a raw name survives only in a comment
        code = line.split("#", 1)[0]
        assert not any(name in code for name in HOSTILE if not name.isidentifier()), line


def test_unused_branch_is_left_out_and_inputs_keep_their_order(tmp_path: Path) -> None:
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
    expected, got, source = run_both(project, tmp_path)
    assert "unused" not in source and [g.shape for g in got] == [tuple(e.shape) for e in expected]
    torch.testing.assert_close(torch.from_numpy(got[0]), expected[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.from_numpy(got[1]), expected[1])


def test_names_that_shadow_the_keras_module_stay_apart(tmp_path: Path) -> None:
    graph = Graph()
    x = graph.add_node("Input", "keras", {"shape": (4,)})
    previous = x
    for name in ("layers", "ops", "model", "weights"):
        node = graph.add_node("Linear", name, {"out_features": 4})
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    sink = graph.add_node("Output", "out")
    graph.connect(previous.id, "out", sink.id, "in")
    assert_keras_parity(Project(name="keras", graph=graph), tmp_path)


def test_node_names_cannot_clash_with_keras_operation_names(tmp_path: Path) -> None:
    graph = Graph()
    previous = graph.add_node("Input", "x", {"shape": (3, 8)})
    chain = [("gelu", "Linear", {"out_features": 8}), ("g", "GELU", {"approximate": "tanh"}),
             ("log_softmax", "LogSoftmax", {"dim": 1}), ("repeat", "Upsample", {}), ("get_item", "SequencePool", {"mode": "first"})]  # fmt: skip
    for name, layer_type, params in chain:
        node = graph.add_node(layer_type, name, params)
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    sink = graph.add_node("Output", "y")
    graph.connect(previous.id, "out", sink.id, "in")
    assert_keras_parity(Project(name="clash", graph=graph), tmp_path)


# ----- reading well -----
@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "lstm_classifier"])
def test_golden_source(name: str) -> None:
    source = generate_keras(load_project(Path(EXAMPLES[0]).parent / f"{name}.lstudio"))
    path = GOLDEN / f"{name}.py"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8")


def test_generated_code_is_ruff_and_black_clean(tmp_path: Path) -> None:
    ruff = ruff_executable()
    if ruff is None:
        pytest.skip("ruff is not installed so formatting cannot be checked")
    sources = {p.stem: generate_keras(load_project(p)) for p in EXAMPLES}
    for i, (_, layer_type, params, shapes) in enumerate(layer_cases()):
        sources[f"layer_{i}"] = generate_keras(single_layer(layer_type, params, shapes))
    sources["hostile"] = generate_keras(hostile_project())
    long = Graph()
    previous = long.add_node("Input", "an input with a long and descriptive name", {"shape": (3, 8, 8)})
    for i in range(3):
        node = long.add_node("Conv2d", f"a convolution with a very long descriptive name {i}",
                             {"out_channels": 8, "kernel_size": 3, "padding": 2, "stride": 1, "bias": False, "dilation": 2})  # fmt: skip
        long.connect(previous.id, "out", node.id, "in")
        previous = node
    other = long.add_node("Input", "another input with a long and descriptive name", {"shape": (8, 8, 8)})
    add = long.add_node("Add", "the sum of the long named convolution and the other long input")
    long.connect(previous.id, "out", add.id, "in1")
    long.connect(other.id, "out", add.id, "in2")
    sink = long.add_node("Output", "out")
    long.connect(add.id, "out", sink.id, "in")
    sources["long_names"] = generate_keras(Project(name="long names", graph=long))
    assert_ruff_clean(ruff, sources, tmp_path)
