"""Nested block instances multiply: the layers they expand to are counted without expanding them, and a network past the limit is refused before anything expands it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.graph.blocks import (
    MAX_EXPANDED_LAYERS,
    MAX_NESTING,
    expanded_layers,
    expansion_problem,
    nesting,
)
from studio.graph.flatten import flatten
from studio.graph.project import ProjectFileError, load_project
from studio.graph.weights_limit import WeightsLimitError, check_network
from tests.hostile.inputs import nested_blocks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "assets" / "examples"


def saved(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "nested.lstudio"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("depth", "width", "repeat"), [(0, 1, 1), (3, 2, 1), (2, 3, 2), (4, 1, 3)])
def test_the_count_is_what_flattening_makes(tmp_path: Path, depth: int, width: int, repeat: int) -> None:
    graph = load_project(saved(tmp_path, nested_blocks(depth, width, repeat))).graph
    assert expanded_layers(graph) == len(flatten(graph).nodes) == 2 + (width**depth) * repeat ** (depth + 1)


@pytest.mark.parametrize("example", ["resnet18_blocks", "bert_mini_blocks", "vit_tiny", "digits_cnn"])
def test_the_count_bounds_the_flat_network_of_each_example(example: str) -> None:
    graph = load_project(EXAMPLES / f"{example}.lstudio").graph
    assert expanded_layers(graph) >= len(flatten(graph).nodes)  # a layer its block switches off counts too
    assert expansion_problem(graph) is None


def test_a_project_of_2_to_the_30_layers_is_refused_as_it_opens(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError) as refused:
        load_project(saved(tmp_path, nested_blocks(15, 4)))
    assert "expand it to 1,073,741,826 layers" in str(refused.value) and f"{MAX_EXPANDED_LAYERS:,}" in str(refused.value)


def test_blocks_nested_past_the_limit_are_refused_as_they_open(tmp_path: Path) -> None:
    graph = load_project(saved(tmp_path, nested_blocks(MAX_NESTING - 1, 1))).graph
    assert nesting(graph) == MAX_NESTING and expansion_problem(graph) is None
    with pytest.raises(ProjectFileError, match=f"nest {MAX_NESTING + 1} deep"):
        load_project(saved(tmp_path, nested_blocks(MAX_NESTING, 1)))
    with pytest.raises(ProjectFileError, match="nest 1,501 deep"):
        load_project(saved(tmp_path, nested_blocks(1500, 1)))


def test_a_network_nested_past_the_limit_while_editing_is_refused_before_it_is_built(tmp_path: Path) -> None:
    graph = load_project(saved(tmp_path, nested_blocks(10))).graph  # 1,026 layers: it opens
    graph.set_param(next(n.id for n in graph.nodes.values() if n.type == "B0"), "repeat", 1000)  # 1,024,000 layers
    with pytest.raises(WeightsLimitError, match="expand it to 1,024,002 layers"):
        check_network(graph)
