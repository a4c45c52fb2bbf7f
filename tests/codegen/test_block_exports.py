"""A network of blocks exports to every target as its flattened layers, with the same numbers everywhere."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.weights import by_node, declared_state
from studio.graph.blocks import BlockLibrary
from studio.graph.project import Project
from tests.codegen.helpers import assert_keras_parity
from tests.codegen.onnx_checks import assert_matches_torch, randomized
from tests.graph import block_graphs as bg

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras reading torch tensors


def resnet() -> Project:
    return Project("resnet_blocks", bg.resnet18(size=32, classes=10))


def test_resnet18_of_blocks_exports_to_onnx_with_pytorchs_numbers() -> None:
    project = resnet()
    model = randomized(project)
    assert sum(p.numel() for p in model.parameters()) == 11_181_642  # torchvision's resnet18 with a 10-class head
    data = onnx_bytes(project, model, opset=18)
    assert len(onnx.load_from_string(data).graph.node) > 40
    assert_matches_torch(data, project, model)


def test_flattened_layers_are_named_after_the_instance() -> None:
    source = generate_pytorch(resnet())
    assert "self.layer2_0_down_conv = nn.Conv2d(" in source
    assert "layer2_1_down_conv" not in source  # switched off: an identity shortcut


def test_weights_of_inner_layers_are_keyed_by_the_instance_path() -> None:
    project = resnet()
    state = randomized(project).state_dict()
    keyed = by_node(state, project)
    block = project.blocks.get("BasicBlock")
    conv1 = bg.ids(block.graph)["conv1"]
    instance = bg.ids(project.graph)["layer3_1"]
    assert keyed[f"{instance}.0.{conv1}/weight"].shape == (256, 256, 3, 3)
    assert len(keyed) == len(declared_state(project))


def test_a_repeated_block_computes_the_same_in_keras(tmp_path: Path) -> None:
    library = BlockLibrary()
    bg.mlp_block(library)
    project = Project("stacked", bg.network(library, ("MLP", "stack", {"repeat": 3, "hidden": 12}), ("MLP", "last", {})))
    source = assert_keras_parity(project, tmp_path)
    assert "stack_2_up" in source
