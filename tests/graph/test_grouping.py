"""Group into Block and Ungroup: the wires crossing a selection become ports, and ungrouping undoes grouping exactly."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.graph.blocks import BlockError, BlockLibrary
from studio.graph.grouping import group, ungroup
from studio.graph.model import Graph
from studio.graph.project import Project, project_to_dict
from studio.graph.shapes import analyse
from tests.graph import block_graphs as bg


def residual() -> Graph:
    """Input, a stem, two residual MLP stages, a head: a graph with wires that cross any middle selection."""
    g = Graph(library=BlockLibrary())
    x = g.add_node("Input", "input", {"shape": (8,)}).id
    s = bg.chain(g, x, ("Linear", "stem", {"out_features": 8}))
    for i in range(2):
        body = bg.chain(g, s, ("Linear", f"up{i}", {"out_features": 16}), ("ReLU", f"act{i}", {}), ("Linear", f"down{i}", {"out_features": 8}))
        add = g.add_node("Add", f"add{i}").id
        g.connect(body, "out", add, "in1")
        g.connect(s, "out", add, "in2")
        s = add
    bg.chain(g, s, ("Linear", "head", {"out_features": 3}), ("Output", "output", {}))
    return g


def text(graph: Graph) -> str:
    """The graph's file form (the library keeps the block after an ungroup, ready for reuse)."""
    return json.dumps(project_to_dict(Project("p", graph))["graph"], sort_keys=True)


def test_grouping_a_stage_keeps_the_function_and_ungrouping_restores_the_graph() -> None:
    g = residual()
    before, summary = text(g), analyse(g).summary()
    n = bg.ids(g)
    made = group(g, [n["up0"], n["act0"], n["down0"], n["add0"]], "Stage")
    assert [p.name for p in made.instance.spec.input_ports({})] == ["in"]
    assert analyse(g).summary().trainable_params == summary.trainable_params
    assert analyse(g).is_valid
    assert len(g.nodes) == 9
    ungroup(g, made.instance.id)
    assert text(g) == before


def test_a_selection_fed_by_two_tensors_gets_two_ports() -> None:
    g = residual()
    n = bg.ids(g)
    made = group(g, [n["act0"], n["down0"], n["add0"]], "Tail")
    assert [p.name for p in made.instance.spec.input_ports({})] == ["in1", "in2"]
    inputs = [made.block.graph.node(i) for i in made.block.input_ids()]
    assert [i.params["shape"] for i in inputs] == [(16,), (8,)]
    assert analyse(g).is_valid


def test_inputs_and_outputs_stay_outside_and_a_selection_has_no_gaps() -> None:
    g = residual()
    with pytest.raises(BlockError, match="leaves out up0, which lies between"):
        group(g, [bg.ids(g)["stem"], bg.ids(g)["act0"]], "Gap")
    with pytest.raises(BlockError, match="stay outside"):
        group(g, [bg.ids(g)["input"], bg.ids(g)["stem"]], "Front")
    with pytest.raises(BlockError, match="is a layer type"):
        group(g, [bg.ids(g)["stem"]], "Linear")


def test_ungrouping_a_repeated_instance_lays_out_every_repeat() -> None:
    library = BlockLibrary()
    bg.mlp_block(library)
    g = bg.network(library, ("MLP", "stack", {"repeat": 3, "hidden": 5}))
    params = analyse(g).summary().trainable_params
    added = ungroup(g, bg.ids(g)["stack"])
    assert len(added) == 9 and not any(node.block for node in g.nodes.values())
    assert analyse(g).summary().trainable_params == params and analyse(g).is_valid


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(["stem", "up0", "act0", "down0", "add0", "up1", "act1", "down1", "add1", "head"]), min_size=1))
def test_group_then_ungroup_is_the_identity_for_any_selection(names: set[str]) -> None:
    g = residual()
    before, summary = text(g), analyse(g).summary()
    try:
        made = group(g, [bg.ids(g)[name] for name in sorted(names)], "Picked")
    except BlockError as err:  # a selection with a gap would make a cycle through the instance
        assert "lies between selected layers" in str(err)
        return
    assert analyse(g).is_valid
    assert analyse(g).summary().trainable_params == summary.trainable_params
    ungroup(g, made.instance.id)
    assert text(g) == before
