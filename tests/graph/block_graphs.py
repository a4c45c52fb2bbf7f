"""Networks built from blocks, for the block tests: ResNet-18 from one BasicBlock, small blocks to poke at."""

from __future__ import annotations

from typing import Any

from studio.graph.blocks import Block, BlockLibrary, Exposed
from studio.graph.model import Graph

Layer = tuple[str, str, dict[str, Any]]


def chain(graph: Graph, src: str, *layers: Layer) -> str:
    """Add `layers` one after another from node `src`; return the last one's id."""
    for layer_type, name, params in layers:
        node = graph.add_node(layer_type, name, params)
        graph.connect(src, "out", node.id, "in")
        src = node.id
    return src


def ids(graph: Graph) -> dict[str, str]:
    """Node ids by name."""
    return {node.name: node.id for node in graph.nodes.values()}


def basic_block(library: BlockLibrary) -> Block:
    """torchvision's BasicBlock: two 3x3 convolutions with batch norm, and a 1x1 shortcut switched on by `downsample`."""
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (64, 56, 56)}).id
    body = chain(
        g, x,
        ("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}),
        ("BatchNorm2d", "bn1", {}), ("ReLU", "relu1", {}),
        ("Conv2d", "conv2", {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}),
        ("BatchNorm2d", "bn2", {}),
    )  # fmt: skip
    shortcut = chain(g, x, ("Conv2d", "down_conv", {"out_channels": 64, "kernel_size": 1, "bias": False}), ("BatchNorm2d", "down_bn", {}))
    add = g.add_node("Add", "add").id
    g.connect(body, "out", add, "in1")
    g.connect(shortcut, "out", add, "in2")
    chain(g, add, ("ReLU", "relu2", {}), ("Output", "y", {}))
    n = ids(g)
    exposed = (
        Exposed("channels", 64, binds=((n["conv1"], "out_channels"), (n["conv2"], "out_channels"), (n["down_conv"], "out_channels"))),
        Exposed("stride", (1, 1), binds=((n["conv1"], "stride"), (n["down_conv"], "stride"))),
        Exposed("downsample", False, switches=(n["down_conv"], n["down_bn"])),
    )
    return library.define("BasicBlock", g, exposed)


def resnet18(size: int = 224, classes: int = 1000) -> Graph:
    """ResNet-18 as torchvision builds it: a stem, four stages of two BasicBlock instances, a head."""
    library = BlockLibrary()
    basic_block(library)
    g = Graph(library=library)
    x = g.add_node("Input", "image", {"shape": (3, size, size)}).id
    s = chain(
        g, x,
        ("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False}),
        ("BatchNorm2d", "bn1", {}), ("ReLU", "relu", {}),
        ("MaxPool2d", "maxpool", {"kernel_size": 3, "stride": 2, "padding": 1}),
    )  # fmt: skip
    for stage, channels in enumerate((64, 128, 256, 512), 1):
        first = {"channels": channels} if stage == 1 else {"channels": channels, "stride": 2, "downsample": True}
        s = chain(g, s, ("BasicBlock", f"layer{stage}_0", first), ("BasicBlock", f"layer{stage}_1", {"channels": channels}))
    chain(g, s, ("AdaptiveAvgPool2d", "avgpool", {}), ("Flatten", "flatten", {}), ("Linear", "fc", {"out_features": classes}), ("Output", "logits", {}))
    return g


def mlp_block(library: BlockLibrary, name: str = "MLP", width: int = 8) -> Block:
    """Linear, ReLU, Linear back to the input's width, with the hidden width exposed."""
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (width,)}).id
    end = chain(g, x, ("Linear", "up", {"out_features": 2 * width}), ("ReLU", "act", {}), ("Linear", "down", {"out_features": width}), ("Output", "y", {}))
    assert end
    return library.define(name, g, (Exposed("hidden", 2 * width, binds=((ids(g)["up"], "out_features"),)),))


def network(library: BlockLibrary, *layers: Layer, shape: tuple[int, ...] = (8,)) -> Graph:
    """Input, `layers` in a row, Output."""
    g = Graph(library=library)
    x = g.add_node("Input", "input", {"shape": shape}).id
    chain(g, x, *layers, ("Output", "output", {}))
    return g
