"""The Keras 3 emitter: every example and every layer Keras can express computes what PyTorch does.

Each project is generated for PyTorch and Keras; the PyTorch model is built with seeded weights
(as `layer-studio export` does), its state dict is converted with `write_keras_weights`, and the
Keras model (on the torch backend the exporter picks) must agree on the same random input in inference
mode within 1e-4 relative. Layers and parameter values Keras cannot express must be refused with
a message naming the node. Set UPDATE_GOLDEN=1 to rewrite the golden files.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from studio.codegen.export import build_torch_model
from studio.codegen.keras import generate_keras, write_keras_weights
from studio.codegen.keras_backend import load_keras
from studio.codegen.names import CodegenError
from studio.codegen.pytorch import generate_pytorch
from studio.graph import CATALOGUE, Graph
from studio.graph.catalogue.base import Unsupported
from studio.graph.project import Project, load_project
from tests.codegen.cases import (
    EXAMPLES,
    HOSTILE,
    IMAGE,
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

keras = load_keras()  # as the exporter does: on torch unless the user chose a backend

# Keras 3.15 variables predate numpy 2's __array__(copy=...); loading weights warns inside Keras.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

GOLDEN = Path(__file__).resolve().parent / "golden_keras"
EXPORTABLE = sorted(t for t, spec in CATALOGUE.items() if t not in ("Input", "Output") and not isinstance(spec.targets["keras"], Unsupported))


# ----- examples -----
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_pytorch(path: Path, tmp_path: Path) -> None:
    assert_keras_parity(load_project(path), tmp_path)


# ----- every layer type -----
KERAS_VARIANTS: list[tuple[str, dict[str, Any], list[tuple[int, ...]] | None]] = [
    ("Conv2d", {"out_channels": 4, "kernel_size": (3, 2), "stride": 2, "padding": (1, 2)}, None),
    ("Conv2d", {"out_channels": 4, "kernel_size": (3, 2), "padding": (1, 2), "dilation": (2, 1)}, None),
    ("Conv2d", {"out_channels": 4, "kernel_size": 2, "padding": "same", "dilation": 3, "bias": False}, None),
    ("Conv1d", {"out_channels": 4, "kernel_size": 4, "padding": "same", "groups": 2}, None),
    ("Conv3d", {"out_channels": 2, "kernel_size": 2, "padding": 1, "stride": (1, 2, 1)}, None),
    ("ConvTranspose1d", {"out_channels": 4, "kernel_size": 4, "stride": 3, "padding": 2, "output_padding": 1}, None),
    ("ConvTranspose1d", {"out_channels": 4, "kernel_size": 3, "padding": 2, "dilation": 2}, None),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": (3, 2), "stride": (2, 1), "padding": (0, 1), "bias": False}, None),
    ("DepthwiseConv2d", {"depth_multiplier": 3, "padding": 1, "dilation": 2}, None),
    ("SeparableConv2d", {"out_channels": 5, "depth_multiplier": 2, "padding": 2, "stride": 2}, None),
    ("MaxPool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, None),
    ("MaxPool2d", {"kernel_size": (3, 2), "stride": (1, 2)}, None),
    ("MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}, None),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [(3, 7, 7)]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [(3, 8, 8)]),  # ResNet's stem: padded with -inf first
    ("MaxPool1d", {"kernel_size": 4, "stride": 3, "padding": 2}, None),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, None),
    ("AvgPool1d", {"kernel_size": 3, "stride": 1}, None),
    ("AdaptiveAvgPool1d", {"output_size": (3,)}, None),
    ("AdaptiveMaxPool2d", {"output_size": (3, 5)}, None),
    ("Upsample", {"scale_factor": (3,)}, [(6, 8)]),
    ("Upsample", {"scale_factor": (2, 1, 3)}, [(3, 2, 3, 4)]),
    ("Upsample", {"scale_factor": (2,), "mode": "bilinear"}, None),
    ("BatchNorm2d", {"affine": False, "eps": 1e-3, "momentum": 0.3}, None),
    ("BatchNorm3d", {}, None),
    ("InstanceNorm1d", {"affine": True}, None),
    ("LayerNorm", {"elementwise_affine": False}, None),
    ("LayerNorm", {"num_dims": 3}, [IMAGE]),
    ("GroupNorm", {"num_groups": 4, "affine": True}, None),
    ("PReLU", {"per_channel": True}, [(16,)]),
    ("LeakyReLU", {"negative_slope": 0.2}, None),
    ("ELU", {"alpha": 0.5}, None),
    ("LogSoftmax", {"dim": 1}, None),
    ("Softmax", {"dim": -2}, None),
    ("Subtract", {}, [IMAGE, IMAGE]),
    ("Multiply", {"num_inputs": 3}, [IMAGE] * 3),
    ("Concat", {"num_inputs": 2, "dim": 1}, [(3, 8, 2), (5, 8, 2)]),
    ("LSTM", {"hidden_size": 5, "num_layers": 3, "bias": False, "dropout": 0.3}, None),
    ("GRU", {"hidden_size": 5, "num_layers": 2, "bidirectional": True}, None),
    ("LSTM", {"hidden_size": 4, "num_layers": 2, "reverse": True, "dropout": 0.1}, None),
    ("GRU", {"hidden_size": 4, "bias": False}, None),
    ("RNN", {"hidden_size": 5, "bidirectional": True, "num_layers": 2}, None),
    ("MultiheadAttention", {"num_heads": 2}, [(6, 8), (5, 8), (5, 8)]),
    ("MultiheadAttention", {"num_heads": 2}, [(6, 8)]),
    ("TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 16}, None),
    ("TransformerEncoderLayer", {"nhead": 4, "dim_feedforward": 12, "norm_first": True, "activation": "gelu"}, None),
]

# Variants of the PyTorch suite that Keras must refuse, and a word its reason contains.
# Variants Keras cannot express, found by a parameter value (not by position in VARIANTS, which
# grows), with the words the refusal must use.
REFUSED = [
    ("Conv2d", "padding_mode", "reflect", "padding_mode 'reflect'"),
    ("Conv1d", "padding_mode", "circular", "padding_mode 'circular'"),
    ("MaxPool2d", "ceil_mode", True, "ceil_mode"),
    ("MaxPool1d", "dilation", 2, "dilation"),
    ("AvgPool2d", "count_include_pad", False, "count_include_pad"),
    ("BatchNorm2d", "track_running_stats", False, "track_running_stats"),
    ("InstanceNorm2d", "track_running_stats", True, "track_running_stats"),
    ("MaxPool3d", "dilation", (1, 2, 1), "dilation"),
    ("LPPool2d", "ceil_mode", True, "ceil_mode"),
    ("Resize", "mode", "bicubic", "mode 'bicubic'"),
    ("Resize", "mode", "trilinear", "mode 'trilinear'"),
    ("Resize", "mode", "linear", "mode 'linear'"),
]


def refusal(layer_type: str, params: dict) -> str | None:
    """The words Keras's refusal of this variant must use, or None where Keras expresses it."""
    return next((words for kind, key, value, words in REFUSED if kind == layer_type and params.get(key) == value), None)


def keras_cases() -> list[Any]:
    cases = [pytest.param(t, {}, None, id=t) for t in EXPORTABLE]
    for i, (layer_type, params, shapes) in enumerate(VARIANTS):
        if not isinstance(CATALOGUE[layer_type].targets["keras"], Unsupported) and refusal(layer_type, params) is None:
            cases.append(pytest.param(layer_type, params, shapes, id=f"{layer_type}-{i}"))
    for i, (layer_type, params, shapes) in enumerate(KERAS_VARIANTS):
        cases.append(pytest.param(layer_type, params, shapes, id=f"{layer_type}-k{i}"))
    return cases


def test_every_exportable_layer_type_has_an_emitter_and_the_goal_is_met() -> None:
    layer_types = set(CATALOGUE) - {"Input", "Output"}
    assert {t for t, spec in CATALOGUE.items() if spec.keras is not None} == set(EXPORTABLE)
    share = len(EXPORTABLE) / len(layer_types)
    print(f"Keras exports {len(EXPORTABLE)} of {len(layer_types)} catalogue layer types ({share:.0%})")
    assert share >= 0.8


@pytest.mark.parametrize(("layer_type", "params", "shapes"), keras_cases())
def test_layer_matches_pytorch(layer_type: str, params: dict, shapes: list | None, tmp_path: Path) -> None:
    assert_keras_parity(single_layer(layer_type, params, shapes), tmp_path)


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
    for i, case in enumerate(keras_cases()):
        sources[f"layer_{i}"] = generate_keras(single_layer(*case.values))
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
