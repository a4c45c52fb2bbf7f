"""Finding a layer's lines in the generated code, checked against the generator's own names."""

from __future__ import annotations

import re

import pytest

from studio.codegen.checks import feeding_outputs
from studio.codegen.keras import generate_keras
from studio.codegen.pytorch import generate_pytorch, module_names
from studio.graph.project import load_project
from studio.ui.code_lines import block_section, layer_lines
from tests.ui.helpers import EXAMPLES

NETWORKS = sorted(path.stem for path in EXAMPLES.glob("*.lstudio"))


@pytest.mark.parametrize("example", NETWORKS)
def test_every_layer_of_the_network_finds_its_module_and_its_forward_statements(example):
    project = load_project(EXAMPLES / f"{example}.lstudio")
    graph = project.graph
    text = generate_pytorch(project)
    lines = text.splitlines()
    modules = {node_id: path for node_id, path in module_names(project).items() if "." not in node_id}
    live = feeding_outputs(graph)
    for node_id, node in graph.nodes.items():
        found = layer_lines(text, node.name, node.type)
        assert found == sorted(set(found)), node.name
        picked = [lines[i].strip() for i in found]
        if node_id in live or node.type == "Output":
            assert any(line.startswith(f"# {node.name}: {node.type}") for line in picked), (node.name, picked)
        if node_id in modules and node_id in live:
            attribute = modules[node_id]
            assert any(line.startswith(f"self.{attribute} = ") for line in picked), (node.name, picked)
            assert any(re.search(rf"\bself\.{attribute}\b(?! = )", line) for line in picked), (node.name, picked)
        if node.type not in ("Input", "Output") and node_id in live:
            assert len(picked) >= 2, (node.name, picked)  # its comment and at least one statement


def test_keras_lines_hold_the_layers_named_keras_layers():
    project = load_project(EXAMPLES / "resnet_small.lstudio")
    text = generate_keras(project)
    lines = text.splitlines()
    for node in project.graph.nodes.values():
        if node.type in ("Input", "Output"):
            continue
        picked = "\n".join(lines[i] for i in layer_lines(text, node.name, node.type))
        assert f'name="{node.name}"' in picked, node.name


def test_a_layer_inside_a_block_is_found_in_its_class_and_function():
    project = load_project(EXAMPLES / "resnet18_blocks.lstudio")
    for text in (generate_pytorch(project), generate_keras(project)):
        lines = text.splitlines()
        start, end = block_section(lines, "BasicBlock")
        found = layer_lines(text, "conv1", "Conv2d", "BasicBlock")
        assert found and all(start <= i < end for i in found)
        assert any(re.match(r"\s+conv1 = ", lines[i]) for i in found)
        network = layer_lines(text, "conv1", "Conv2d")  # the network's own conv1 is another layer
        assert network and not set(network) & set(found)


def test_a_name_that_is_not_in_the_code_finds_nothing():
    text = generate_pytorch(load_project(EXAMPLES / "digits_cnn.lstudio"))
    assert layer_lines(text, "conv", "Conv2d") == []  # a prefix of conv1 and conv2 is neither
    assert layer_lines(text, "conv1", "Linear") == []
    assert layer_lines(text, "conv1", "Conv2d", "NoSuchBlock") == []
