"""Automatic layer names: the type in lower case with a counter, as the examples name layers."""

from __future__ import annotations

from studio.graph.model import Graph
from studio.graph.naming import name_stem


def names(graph: Graph, *types: str) -> list[str]:
    return [graph.add_node(t).name for t in types]


def test_new_layers_are_named_by_type_with_a_counter():
    graph = Graph()
    assert names(graph, "Input", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "BatchNorm2d", "Linear", "Output") == [
        "input1", "conv1", "relu1", "maxpool1", "conv2", "relu2", "batchnorm1", "linear1", "output1",
    ]
    assert names(graph, "Conv1d", "ConvTranspose2d", "LeakyReLU", "GlobalAvgPool2d") == ["conv3", "convtranspose1", "leakyrelu1", "globalavgpool1"]
    assert names(graph, "ReLU6", "ReLU6") == ["relu6_1", "relu6_2"]  # a stem ending in a digit keeps it apart


def test_the_counter_continues_from_the_highest_number_in_use():
    graph = Graph()
    first, second = (graph.add_node("ReLU") for _ in range(2))
    graph.rename(second.id, "relu7")
    assert graph.add_node("ReLU").name == "relu8"
    graph.rename(first.id, "act")  # relu1 is free again, but the counter goes on from relu8
    assert graph.add_node("ReLU").name == "relu9"


def test_removing_the_highest_frees_its_number_so_undo_and_redo_name_alike():
    graph = Graph()
    conv = graph.add_node("Conv2d")
    graph.remove_node(conv.id)
    assert graph.add_node("Conv2d").name == "conv1"
    two = graph.add_node("Conv2d")
    graph.add_node("Conv2d", "conv12")
    graph.remove_node(graph.node_by_name("conv12").id)
    graph.remove_node(two.id)
    assert graph.add_node("Conv2d").name == "conv2"


def test_a_block_instance_is_named_after_its_block():
    assert name_stem("BasicBlock") == "basicblock"
    assert name_stem("Conv2d") == "conv" and name_stem("ReLU6") == "relu6" and name_stem("Stage3d") == "stage"
    assert name_stem("???") == "layer"
