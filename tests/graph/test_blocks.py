"""Blocks: a sub-network defined once, used by instances whose shapes, counts and errors come from inside it."""

from __future__ import annotations

import pytest

from studio.graph.blocks import BlockError, BlockLibrary, Exposed
from studio.graph.flatten import flatten
from studio.graph.model import Graph, GraphError
from studio.graph.shapes import analyse
from tests.graph import block_graphs as bg


def test_resnet18_from_basic_blocks_counts_torchvisions_parameters() -> None:
    g = bg.resnet18()
    analysis = analyse(g)
    assert analysis.is_valid, analysis.diagnostics()
    assert analysis.summary().trainable_params == 11_689_512  # torchvision.models.resnet18
    assert analysis.result(bg.ids(g)["logits"]).inputs[0] == (None, 1000)
    assert analysis.result(bg.ids(g)["layer3_0"]).outputs == {"out": (None, 256, 14, 14)}


def test_an_instance_analyses_as_its_flattened_layers() -> None:
    g = bg.resnet18(size=64, classes=10)
    flat = flatten(g)
    assert not any(node.block for node in flat.nodes.values())
    assert analyse(g).summary() == analyse(flat).summary()
    inner = analyse(g).result(bg.ids(g)["layer2_0"]).inner[0]
    for node_id, result in inner.items():
        if flat.nodes.get(f"{bg.ids(g)['layer2_0']}.0.{node_id}") is not None:
            assert analyse(flat).result(f"{bg.ids(g)['layer2_0']}.0.{node_id}").outputs == result.outputs


def test_a_switch_bypasses_its_layers() -> None:
    g = bg.resnet18(size=64)
    analysis = analyse(g)
    plain, down = analysis.result(bg.ids(g)["layer2_1"]), analysis.result(bg.ids(g)["layer2_0"])
    assert len(plain.inner[0]) == len(down.inner[0]) - 2
    flat = flatten(g)
    assert f"{bg.ids(g)['layer2_0']}.0.{bg.ids(g.library.get('BasicBlock').graph)['down_conv']}" in flat.nodes
    assert not any(name.startswith("layer2_1.down") for name in (n.name for n in flat.nodes.values()))


def test_editing_a_definition_reanalyses_its_instances_only() -> None:
    g = bg.resnet18(size=64)
    analysis = analyse(g)
    before = analysis.summary().trainable_params
    analysis.take_recomputed()
    block = g.library.get("BasicBlock")
    block.graph.set_param(bg.ids(block.graph)["conv2"], "bias", True)
    analysis.refresh()
    recomputed = analysis.take_recomputed()
    assert recomputed == {bg.ids(g)[f"layer{s}_{i}"] for s in range(1, 5) for i in range(2)}
    assert analysis.summary().trainable_params == before + 2 * (64 + 128 + 256 + 512)


def test_exposed_parameters_set_the_inner_layers_per_instance() -> None:
    library = BlockLibrary()
    bg.mlp_block(library)
    g = bg.network(library, ("MLP", "wide", {"hidden": 32}), ("MLP", "narrow", {"hidden": 4}))
    analysis = analyse(g)
    assert analysis.result(bg.ids(g)["wide"]).params == 8 * 32 + 32 + 32 * 8 + 8
    assert analysis.result(bg.ids(g)["narrow"]).params == 8 * 4 + 4 + 4 * 8 + 8


def test_repeat_runs_the_block_in_sequence_with_its_own_weights() -> None:
    library = BlockLibrary()
    bg.mlp_block(library)
    g = bg.network(library, ("MLP", "stack", {"repeat": 3}))
    result = analyse(g).result(bg.ids(g)["stack"])
    assert len(result.inner) == 3
    assert result.params == 3 * (8 * 16 + 16 + 16 * 8 + 8)
    assert len([n for n in flatten(g).nodes.values() if n.type == "Linear"]) == 6


def test_a_problem_inside_a_block_is_named_on_the_instance() -> None:
    library = BlockLibrary()
    bg.basic_block(library)
    g = bg.network(library, ("BasicBlock", "stage", {"channels": 32}), shape=(16,))
    diags = [d for d in analyse(g).diagnostics() if d.severity == "error"]
    assert [d.node_id for d in diags] == [bg.ids(g)["stage"]]
    assert "inside block BasicBlock" in diags[0].message and "conv1" in diags[0].message


def test_an_identity_shortcut_needs_matching_channels() -> None:
    library = BlockLibrary()
    bg.basic_block(library)
    g = bg.network(library, ("BasicBlock", "stage", {"channels": 32}), shape=(64, 8, 8))
    diags = [d for d in analyse(g).diagnostics() if d.severity == "error"]
    assert len(diags) == 1 and "Add 'add'" in diags[0].message
    g.set_param(bg.ids(g)["stage"], "downsample", True)
    assert analyse(g).is_valid


def test_a_block_cannot_contain_itself() -> None:
    library = BlockLibrary()
    outer = bg.mlp_block(library, "Outer")
    bg.mlp_block(library, "Inner")
    with pytest.raises(GraphError, match="cannot contain itself"):
        outer.graph.add_node("Outer")
    library.get("Inner").graph.add_node("Outer")
    with pytest.raises(GraphError, match="cannot contain itself"):
        outer.graph.add_node("Inner")


def test_nested_blocks_flatten_with_prefixed_ids() -> None:
    library = BlockLibrary()
    bg.mlp_block(library, "MLP")
    pair = Graph(library=library)
    x = pair.add_node("Input", "x", {"shape": (8,)}).id
    bg.chain(pair, x, ("MLP", "first", {}), ("MLP", "second", {"hidden": 4}), ("Output", "y", {}))
    library.define("Pair", pair)
    g = bg.network(library, ("Pair", "pair", {"repeat": 2}))
    flat = flatten(g)
    assert analyse(g).summary() == analyse(flat).summary()
    names = sorted(n.name for n in flat.nodes.values() if n.type == "Linear")
    assert names[0] == "pair.0.first.down" and len(names) == 8


def test_block_names_and_exposed_parameters_are_checked() -> None:
    library = BlockLibrary()
    bg.mlp_block(library)
    for bad in ("Linear", "MLP", "2fast", "a b", ""):
        with pytest.raises(BlockError):
            library.check_name(bad)
    block = library.get("MLP")
    with pytest.raises(BlockError, match="does not have"):
        library.set_exposed("MLP", (Exposed("width", 3, binds=(("n99", "out_features"),)),))
    with pytest.raises(BlockError, match="not a new identifier"):
        library.set_exposed("MLP", (Exposed("repeat", 3, binds=((bg.ids(block.graph)["up"], "out_features"),)),))
    assert [p.name for p in block.spec().params] == ["repeat", "hidden"]
