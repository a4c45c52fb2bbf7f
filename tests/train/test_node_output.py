"""A layer's output for one sample, checked against the generated PyTorch model run with forward hooks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch, module_names
from studio.codegen.weights import project_weights_bytes
from studio.graph.flatten import flat_project
from studio.graph.project import (
    Project,
    load_project,
    project_from_dict,
    project_to_dict,
)
from studio.train import datasets
from studio.train.node_output import NodeOutputError, clear_cache, node_output

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"
SMALL = sorted(p.stem for p in EXAMPLES.glob("*.lstudio") if p.stem != "resnet18_blocks")  # 224×224 on the CPU is slow


def _without_data(name: str) -> Project:
    """The example with a standardization that changes nothing, so samples given as arrays reach the layers as they are."""
    project = load_project(EXAMPLES / f"{name}.lstudio")
    node = next(n for n in project.graph.nodes.values() if n.type == "Input")
    if node.params["dtype"] == "float32":
        project.graph.set_param(node.id, "mean", (0.0,))
        project.graph.set_param(node.id, "std", (1.0,))
    return project


def _input(project: Project, seed: int = 0) -> np.ndarray:
    node = next(n for n in project.graph.nodes.values() if n.type == "Input")
    shape = tuple(node.params["shape"])
    rng = np.random.default_rng(seed)
    if node.params["dtype"] == "int64":
        return rng.integers(0, 8, size=shape).astype(np.int64)
    return rng.standard_normal(shape).astype(np.float32)


def _hooked(project: Project, x: np.ndarray, path: str, state: dict | None = None) -> tuple[torch.Tensor, object]:
    """The module at `path`'s output and the model's result, on the generated model run directly."""
    model = build_torch_model(generate_pytorch(project), project.training.seed)
    if state is not None:
        model.load_state_dict(state)
    seen = {}
    model.get_submodule(path).register_forward_hook(lambda _m, _a, out: seen.setdefault("out", out))
    with torch.no_grad():
        result = model(torch.as_tensor(x[None]))
    out = seen["out"]
    return (out[0] if isinstance(out, tuple) else out), result  # MultiheadAttention returns (output, weights)


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.mark.parametrize("name", SMALL)
def test_module_and_output_equal_the_generated_model(name):
    project = _without_data(name)
    x = _input(project)
    paths = module_names(project)
    layer = next(n for n in project.graph.nodes if n in paths)  # the first layer that is a module
    out, result = _hooked(project, x, paths[layer])
    got = node_output(project, None, layer, x)
    np.testing.assert_allclose(got.values, out[0].numpy(), rtol=1e-5, atol=1e-6)
    assert not got.trained
    output = next(n for n, node in project.graph.nodes.items() if node.type == "Output")
    final = result[0] if isinstance(result, tuple) else result
    np.testing.assert_allclose(node_output(project, None, output, x).values, final[0].numpy(), rtol=1e-5, atol=1e-5)


def test_a_functional_layer_is_what_its_reader_receives():
    project = _without_data("resnet_small")
    x = _input(project, 1)
    add = project.graph.node_by_name("block1_add")
    reader = project.graph.node_by_name("block1_out")  # the ReLU after the Add
    model = build_torch_model(generate_pytorch(project), project.training.seed)
    seen = {}
    model.get_submodule(module_names(project)[reader.id]).register_forward_pre_hook(lambda _m, args: seen.setdefault("in", args[0]))
    with torch.no_grad():
        model(torch.as_tensor(x[None]))
    np.testing.assert_allclose(node_output(project, None, add.id, x).values, seen["in"][0].numpy(), rtol=1e-5, atol=1e-5)


def test_a_layer_inside_a_block_instance_by_its_flattened_id():
    project = _without_data("bert_mini_blocks")
    flat = flat_project(project)
    inner = next(n for n in flat.graph.nodes if n.startswith("n9.0.") and n in module_names(flat))
    x = _input(project, 2)
    out, _ = _hooked(flat, x, module_names(flat)[inner])
    np.testing.assert_allclose(node_output(project, None, inner, x).values, out[0].numpy(), rtol=1e-5, atol=1e-5)


def test_attention_weights_are_softmax_of_scaled_queries_and_keys():
    project = _without_data("transformer_classifier")
    x = _input(project, 3)
    layer = project.graph.node_by_name("encoder1")
    got = node_output(project, None, layer.id, x)
    model = build_torch_model(generate_pytorch(project), project.training.seed)
    seen = {}
    encoder = model.get_submodule(module_names(project)[layer.id])
    encoder.register_forward_pre_hook(lambda _m, args: seen.setdefault("in", args[0]))
    with torch.no_grad():
        model(torch.as_tensor(x[None]))
        h = seen["in"][0]
        attention = encoder.self_attn
        q, k, _ = torch.nn.functional.linear(h, attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
        heads, width = attention.num_heads, attention.head_dim
        q, k = (t.reshape(len(h), heads, width).transpose(0, 1) for t in (q, k))
        expected = torch.softmax(q @ k.transpose(1, 2) / width**0.5, dim=-1)
    assert got.attention is not None and got.attention.shape == (heads, len(h), len(h))
    np.testing.assert_allclose(got.attention, expected.numpy(), rtol=1e-4, atol=1e-6)


def test_project_weights_and_a_dataset_sample(tmp_path):
    source = load_project(EXAMPLES / "digits_cnn.lstudio")
    model = build_torch_model(generate_pytorch(source), 7)  # another seed: numbers the seeded start does not have
    (tmp_path / "weights.npz").write_bytes(project_weights_bytes(source, model.state_dict()))
    data = project_to_dict(source)
    data["training"]["weights"] = "weights.npz"
    project = project_from_dict(data)
    path = tmp_path / "digits.lstudio"
    conv = project.graph.node_by_name("conv1")
    got = node_output(project, path, conv.id, 7)
    digits = datasets.load_dataset("digits")
    out, _ = _hooked(project, digits.x[7], "conv1", model.state_dict())
    np.testing.assert_allclose(got.values, out[0].numpy(), rtol=1e-5, atol=1e-5)
    assert got.trained and not got.fresh and got.label == digits.classes[digits.y[7]] and got.samples == len(digits)


def test_an_untrained_network_standardizes_as_training_would():
    project = load_project(EXAMPLES / "mlp.lstudio")
    layer = next(n for n in project.graph.nodes if n in module_names(project))
    got = node_output(project, None, layer, 4)
    data = datasets.load_dataset("spirals", input_shape=(2,), seed=project.training.seed)
    train, _ = datasets.split(data, project.training.validation_split, project.training.seed)
    standardized = datasets.with_standardization(project, datasets.Normalizer.fit(train))
    out, _ = _hooked(standardized, data.x[4], module_names(project)[layer])
    np.testing.assert_allclose(got.values, out[0].numpy(), rtol=1e-5, atol=1e-5)
    assert not got.trained


def test_mistakes_are_messages():
    project = _without_data("digits_cnn")
    missing = project_to_dict(project)
    missing["training"]["dataset"] = "no_such_folder"
    with pytest.raises(NodeOutputError, match="no_such_folder"):
        node_output(project_from_dict(missing), None, "n2", 0)
    with pytest.raises(NodeOutputError, match="takes"):
        node_output(project, None, "n2", np.zeros((3, 8, 8), np.float32))
    with pytest.raises(NodeOutputError, match="no layer with id"):
        node_output(project, None, "n99", np.zeros((1, 8, 8), np.float32))
    shared = load_project(EXAMPLES / "bert_mini_blocks.lstudio")
    with pytest.raises(NodeOutputError, match="every sample shares"):
        node_output(shared, None, shared.graph.node_by_name("positions").id, _input(shared))
    with pytest.raises(NodeOutputError, match="pick one from 0"):
        node_output(load_project(EXAMPLES / "digits_cnn.lstudio"), None, "n2", 10**6)
