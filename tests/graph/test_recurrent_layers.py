"""Recurrent layers in the graph: their ports and shapes, the mistake they refuse, and projects saved before they had ports."""

from __future__ import annotations

from typing import Any

import pytest

from studio.graph import Graph, analyse
from studio.graph.project import (
    ProjectFileError,
    dumps_project,
    loads_project,
    project_from_dict,
)


def old_project(layer_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """A format 2 project as Layer Studio wrote it when a recurrent layer had one output `out`."""
    return {
        "format_version": 2,
        "name": "old",
        "graph": {
            "nodes": {
                "n1": {"type": "Input", "name": "x", "params": {"shape": [6, 8]}, "position": [0, 0]},
                "n2": {"type": layer_type, "name": "rnn", "params": params, "position": [200, 0]},
                "n3": {"type": "Output", "name": "y", "params": {}, "position": [400, 0]},
            },
            "edges": [{"from": ["n1", "out"], "to": ["n2", "in"]}, {"from": ["n2", "out"], "to": ["n3", "in"]}],
        },
    }


@pytest.mark.parametrize(
    ("params", "port", "shape"),
    [
        ({"hidden_size": 4, "return_sequences": True}, "sequence", (None, 6, 4)),
        ({"hidden_size": 4, "return_sequences": False, "bidirectional": True}, "hidden", (None, 8)),
        ({"hidden_size": 4}, "hidden", (None, 4)),  # false was the default, and files leave defaults out
    ],
)
@pytest.mark.parametrize("layer_type", ["LSTM", "GRU", "RNN"])
def test_a_project_saved_with_one_output_loads_reading_the_port_it_chose(
    layer_type: str, params: dict[str, Any], port: str, shape: tuple
) -> None:
    project = project_from_dict(old_project(layer_type, params))
    graph = project.graph
    (edge,) = graph.out_edges("n2")
    assert edge.src_port == port
    assert "return_sequences" not in graph.nodes["n2"].params
    assert analyse(graph).result("n3").inputs == (shape,)
    again = loads_project(dumps_project(project))  # saved in today's form, it reads the same
    assert [(e.src, e.src_port) for e in again.graph.edges] == [(e.src, e.src_port) for e in graph.edges]
    assert '"return_sequences"' not in dumps_project(project)


def test_a_stored_return_sequences_that_is_no_bool_names_its_place() -> None:
    with pytest.raises(ProjectFileError) as caught:
        project_from_dict(old_project("GRU", {"return_sequences": "yes"}), "old.lstudio")
    assert "graph.nodes.n2.params" in str(caught.value) and "true or false" in str(caught.value)


def test_an_edge_from_a_port_the_layer_never_had_is_refused() -> None:
    data = old_project("LSTM", {})
    data["graph"]["edges"][1]["from"] = ["n2", "final"]
    with pytest.raises(ProjectFileError) as caught:
        project_from_dict(data, "old.lstudio")
    assert "its outputs: sequence, hidden, cell" in str(caught.value)


@pytest.mark.parametrize(
    ("layer_type", "params", "shapes"),
    [
        ("LSTM", {"hidden_size": 5}, [(None, 6, 5), (None, 5), (None, 5)]),
        ("LSTM", {"hidden_size": 5, "bidirectional": True, "num_layers": 3}, [(None, 6, 10), (None, 10), (None, 10)]),
        ("GRU", {"hidden_size": 3, "reverse": True}, [(None, 6, 3), (None, 3)]),
        ("RNN", {"hidden_size": 2, "bidirectional": True}, [(None, 6, 4), (None, 4)]),
    ],
)
def test_every_port_has_its_shape(layer_type: str, params: dict[str, Any], shapes: list[tuple]) -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (6, 8)})
    layer = graph.add_node(layer_type, "rnn", params)
    graph.connect(x.id, "out", layer.id, "in")
    outputs = analyse(graph).result(layer.id).outputs
    assert outputs is not None and list(outputs.values()) == shapes
    assert list(outputs) == ["sequence", "hidden", "cell"][: len(shapes)]


def test_a_reversed_bidirectional_layer_is_a_mistake_with_a_hint() -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (6, 8)})
    layer = graph.add_node("GRU", "rnn", {"bidirectional": True, "reverse": True})
    graph.connect(x.id, "out", layer.id, "in")
    result = analyse(graph).result(layer.id)
    assert result.outputs is None
    (diagnostic,) = result.diagnostics
    assert diagnostic.severity == "error" and "both ways already" in diagnostic.message and "turn reverse off" in diagnostic.hint
