"""An Input's mean and std travel into every export as its first operation, computing the same function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.codegen.caffe import generate_caffe
from studio.codegen.export import build_torch_model, export_project
from studio.codegen.pytorch import generate_pytorch
from studio.graph import Graph
from studio.graph.project import Project, load_project
from studio.graph.shapes import analyse
from studio.interop.caffe_import import import_caffe
from studio.interop.common import import_model
from tests.codegen.cases import EXAMPLES
from tests.codegen.helpers import (
    assert_keras_parity,
    assert_ruff_clean,
    ruff_executable,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
RESNET = next(p for p in EXAMPLES if p.stem == "resnet_small")


def network(sample: tuple[int, ...], mean: tuple[float, ...], std: tuple[float, ...], tail: str) -> Project:
    """Input (standardized) -> `tail` layer -> Output."""
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": sample, "mean": mean, "std": std})
    params = {"out_features": 3} if tail == "Linear" else {"out_channels": 4, "kernel_size": 3}
    layer = graph.add_node(tail, "layer", params)
    out = graph.add_node("Output", "y")
    graph.connect(x.id, "out", layer.id, "in")
    graph.connect(layer.id, "out", out.id, "in")
    return Project("net", graph)


CASES = [
    ((3, 6, 6), (0.5, -1.0, 2.0), (0.25, 2.0, 4.0), "Conv2d"),  # per channel
    ((2, 6, 6), (0.5,), (3.0,), "Conv2d"),  # one value for every channel
    ((5,), (1.0, 2.0, 3.0, 4.0, 5.0), (1.0, 0.5, 2.0, 4.0, 8.0), "Linear"),  # per feature
    ((4, 3), (1.0, -2.0, 0.5), (2.0, 1.0, 0.1), "Linear"),  # a sequence: per feature of each step
]


@pytest.mark.parametrize(("sample", "mean", "std", "tail"), CASES)
def test_the_pytorch_model_standardizes_first(sample, mean, std, tail) -> None:
    plain = network(sample, (), (), tail)
    standardized = network(sample, mean, std, tail)
    source = generate_pytorch(standardized)
    assert "Standardize(" in source and "Standardize" not in generate_pytorch(plain)
    model, reference = build_torch_model(source, 3), build_torch_model(generate_pytorch(plain), 3)
    assert model.state_dict().keys() == reference.state_dict().keys()  # constants, not weights
    axis = 1 if len(sample) != 2 else 2
    shape = [1] * (len(sample) + 1)
    shape[axis] = sample[axis - 1]
    x = torch.randn(2, *sample)
    by_hand = (x - torch.tensor(mean).expand(shape[axis]).view(shape)) / torch.tensor(std).expand(shape[axis]).view(shape)
    torch.testing.assert_close(model(x), reference(by_hand))


@pytest.mark.parametrize(("sample", "mean", "std", "tail"), CASES)
def test_keras_matches_pytorch(sample, mean, std, tail, tmp_path: Path) -> None:
    source = assert_keras_parity(network(sample, mean, std, tail), tmp_path)
    assert "layers.Normalization(" in source


def test_the_onnx_export_standardizes_too(tmp_path: Path) -> None:
    import onnxruntime

    project = network(*CASES[0])
    export_project(project, "onnx", tmp_path / "m.onnx", seed=2)
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    (got,) = session.run(None, {"x": x})
    expected = build_torch_model(generate_pytorch(project), 2)(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_caffe_applies_one_value_in_the_net_and_names_per_channel_values(tmp_path: Path) -> None:
    text = generate_caffe(network(*CASES[1]))
    assert 'type: "Power"' in text and "scale: 0.3333333333333333" in text and "shift: -0.16666666666666666" in text
    (tmp_path / "net.prototxt").write_text(text)
    (x,) = (n for n in import_caffe(tmp_path / "net.prototxt").project.graph.nodes.values() if n.type == "Input")
    assert x.params["mean"] == pytest.approx((0.5,)) and x.params["std"] == pytest.approx((3.0,))  # read back
    text = generate_caffe(network(*CASES[0]))
    assert 'type: "Power"' not in text
    assert "# Standardize x before feeding it: subtract mean [0.5, -1.0, 2.0] and divide by std [0.25, 2.0, 4.0]" in text


def test_long_statistics_stay_formatted(tmp_path: Path) -> None:
    ruff = ruff_executable()
    if ruff is None:
        pytest.skip("ruff is not installed (add it to the dev extras) so formatting cannot be checked")
    wide = network((300,), tuple(i / 7 for i in range(300)), (2.0,), "Linear")
    project = load_project(RESNET)
    image = next(n for n in project.graph.nodes.values() if n.type == "Input")
    project.graph.set_param(image.id, "mean", (0.49, 0.48, 0.45))
    project.graph.set_param(image.id, "std", (0.25, 0.24, 0.26))
    assert_ruff_clean(ruff, {"wide": generate_pytorch(wide), "resnet": generate_pytorch(project)}, tmp_path)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"mean": (0.5, 0.5), "std": (1.0, 1.0)}, ["mean has 2 values but the input has 3 channels"]),
        ({"mean": (0.5,)}, ["std has 0 values", "both needed"]),
        ({"mean": (0.5,), "std": (1.0,), "dtype": "int64"}, ["token ids", "clear mean and std"]),
    ],
)
def test_statistics_that_do_not_fit_the_input_are_pinned_to_it(params: dict, words: list[str]) -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (3, 4, 4), **params})
    out = graph.add_node("Output", "y")
    graph.connect(x.id, "out", out.id, "in")
    (problem,) = [d for d in analyse(graph).diagnostics() if d.severity == "error"]
    assert problem.node_id == x.id
    assert all(w in f"{problem.text} {problem.hint}" for w in words), problem


@pytest.mark.parametrize(("sample", "mean", "std", "tail"), CASES)
def test_an_onnx_export_imports_back_with_the_inputs_statistics(sample, mean, std, tail, tmp_path: Path) -> None:
    export_project(network(sample, mean, std, tail), "onnx", tmp_path / "net.onnx", seed=1)
    graph = import_model(tmp_path / "net.onnx").project.graph
    (x,) = (n for n in graph.nodes.values() if n.type == "Input")
    assert x.params["mean"] == pytest.approx(mean, rel=1e-6) and x.params["std"] == pytest.approx(std, rel=1e-6)
    assert {n.type for n in graph.nodes.values()} == {"Input", tail, "Output"}  # nothing else stands for them
