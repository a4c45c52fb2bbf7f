"""Blocks in project files: written with the project, read back exactly, every bad block named by its place."""

from __future__ import annotations

import json
from typing import Any

import pytest

from studio.graph.project import (
    Project,
    ProjectFileError,
    dumps_project,
    loads_project,
    project_to_dict,
)
from studio.graph.shapes import analyse
from tests.graph import block_graphs as bg


def resnet_text() -> str:
    return dumps_project(Project("resnet18", bg.resnet18(size=64, classes=10)))


def test_a_project_with_blocks_round_trips_exactly() -> None:
    text = resnet_text()
    data = json.loads(text)
    assert data["format_version"] == 3 and list(data["blocks"]) == ["BasicBlock"]
    assert data["blocks"]["BasicBlock"]["exposed"][2] == {"name": "downsample", "default": False, "switches": ["n7", "n8"]}
    project = loads_project(text)
    assert dumps_project(project) == text
    assert analyse(project.graph).summary() == analyse(bg.resnet18(size=64, classes=10)).summary()
    block = project.blocks.get("BasicBlock")
    assert block.graph.library is project.blocks and block.graph.owner == "BasicBlock"


def test_nested_blocks_are_read_after_the_blocks_they_use() -> None:
    project = Project("nested")
    bg.mlp_block(project.blocks, "Zeta")
    outer = project.blocks.define("Alpha")
    x = outer.graph.add_node("Input", "x", {"shape": (8,)}).id
    bg.chain(outer.graph, x, ("Zeta", "inner", {}), ("Output", "y", {}))
    x = project.graph.add_node("Input", "input", {"shape": (8,)}).id
    bg.chain(project.graph, x, ("Alpha", "alpha", {}), ("Output", "output", {}))
    text = dumps_project(project)
    again = loads_project(text)
    assert dumps_project(again) == text and analyse(again.graph).is_valid


def broken(change: Any) -> str:
    data = project_to_dict(Project("resnet18", bg.resnet18(size=64, classes=10)))
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "place", "reason"),
    [
        (lambda d: d["blocks"].update(Linear=d["blocks"]["BasicBlock"]), "blocks.Linear", "is a layer type"),
        (lambda d: d["blocks"]["BasicBlock"]["exposed"][0].update(binds=[["n99", "out_channels"]]), "blocks.BasicBlock.exposed", "does not have"),
        (lambda d: d["blocks"]["BasicBlock"]["exposed"][0].update(default=-3), "blocks.BasicBlock.exposed", "'channels'"),
        (lambda d: d["blocks"]["BasicBlock"]["exposed"][0].pop("default"), "blocks.BasicBlock.exposed[0].default", "missing"),
        (lambda d: d["blocks"]["BasicBlock"]["graph"]["nodes"]["n2"].update(type="Conv2D"), "blocks.BasicBlock.graph.nodes.n2.type", "Conv2d"),
        (lambda d: d["graph"]["nodes"]["n6"].update(type="BasicBlok"), "graph.nodes.n6.type", "BasicBlock"),
        (lambda d: d["graph"]["nodes"]["n6"]["params"].update(stride=[0, 0]), "graph.nodes.n6.params.stride", "stride"),
        (lambda d: d["blocks"]["BasicBlock"].update(colour="red"), "blocks.BasicBlock.colour", "unknown key"),
    ],
)
def test_a_bad_block_is_named_by_its_place(change: Any, place: str, reason: str) -> None:
    with pytest.raises(ProjectFileError) as info:
        loads_project(broken(change))
    assert info.value.place == place and reason in info.value.reason


def test_blocks_that_use_each_other_are_refused() -> None:
    def cycle(data: dict[str, Any]) -> None:
        block = data["blocks"]["BasicBlock"]
        data["blocks"]["Other"] = json.loads(json.dumps(block))
        block["graph"]["nodes"]["n99"] = {"type": "Other", "name": "loop", "params": {}, "position": [0, 0]}
        data["blocks"]["Other"]["graph"]["nodes"]["n99"] = {"type": "BasicBlock", "name": "loop", "params": {}, "position": [0, 0]}

    with pytest.raises(ProjectFileError, match="a block cannot contain itself"):
        loads_project(broken(cycle))
