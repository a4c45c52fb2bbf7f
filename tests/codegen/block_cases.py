"""Networks of blocks for the export tests, and ResNet-18 as torchvision lays out its modules (torchvision is no dependency)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from studio.graph.blocks import Block, BlockLibrary, Exposed
from studio.graph.model import Graph
from studio.graph.project import Project, TrainingSettings
from tests.graph import block_graphs as bg


def small_resnet() -> Project:
    """A stem and BasicBlocks: identity shortcuts, a projected one (the switch on), a repeated block."""
    library = BlockLibrary()
    bg.basic_block(library)
    g = Graph(library=library)
    x = g.add_node("Input", "image", {"shape": (3, 16, 16)}).id
    bg.chain(
        g, x,
        ("Conv2d", "stem", {"out_channels": 8, "kernel_size": 3, "padding": 1}),
        ("BasicBlock", "a", {"channels": 8}),
        ("BasicBlock", "b", {"channels": 16, "stride": 2, "downsample": True}),
        ("BasicBlock", "c", {"channels": 16, "repeat": 2}),
        ("Flatten", "flatten", {}), ("Linear", "fc", {"out_features": 3}), ("Output", "logits", {}),
    )  # fmt: skip
    return Project("small resnet", g)


def stacked() -> Project:
    """An MLP block repeated three times, then once more at its default width."""
    library = BlockLibrary()
    bg.mlp_block(library)
    return Project("stacked", bg.network(library, ("MLP", "stack", {"repeat": 3, "hidden": 12}), ("MLP", "last", {})))


def nested() -> Project:
    """A Pair block of two MLP instances, its `hidden` passed on to the first; used twice, once repeated."""
    library = BlockLibrary()
    bg.mlp_block(library)
    pair = Graph(library=library)
    x = pair.add_node("Input", "x", {"shape": (8,)}).id
    bg.chain(pair, x, ("MLP", "first", {}), ("MLP", "second", {"hidden": 4}), ("Output", "y", {}))
    library.define("Pair", pair, (Exposed("hidden", 16, binds=((bg.ids(pair)["first"], "hidden"),)),))
    return Project("nested", bg.network(library, ("Pair", "pairs", {"repeat": 2, "hidden": 6}), ("Pair", "pair", {})))


def mix_block(library: BlockLibrary, width: int = 8) -> Block:
    """Two inputs in, two outputs out: their sum through a Linear, and their product."""
    g = Graph()
    a = g.add_node("Input", "a", {"shape": (width,)}).id
    b = g.add_node("Input", "b", {"shape": (width,)}).id
    total = g.add_node("Add", "total").id
    product = g.add_node("Multiply", "product").id
    for merge in (total, product):
        g.connect(a, "out", merge, "in1")
        g.connect(b, "out", merge, "in2")
    mixed = bg.chain(g, total, ("Linear", "mixed", {"out_features": width}), ("Tanh", "squash", {}))
    bg.chain(g, mixed, ("Output", "first", {}))
    bg.chain(g, product, ("Output", "second", {}))
    return library.define("Mix", g)


def two_way() -> Project:
    """A block of two inputs and two outputs, repeated (a loop over a ModuleList), then once with one output read."""
    library = BlockLibrary()
    mix_block(library)
    g = Graph(library=library)
    x = g.add_node("Input", "x", {"shape": (8,)}).id
    left = bg.chain(g, x, ("Linear", "left", {"out_features": 8}))
    right = bg.chain(g, x, ("Linear", "right", {"out_features": 8}))
    mixes = g.add_node("Mix", "mixes", {"repeat": 3}).id
    g.connect(left, "out", mixes, "in1")
    g.connect(right, "out", mixes, "in2")
    once = g.add_node("Mix", "once").id
    g.connect(mixes, "out1", once, "in1")
    g.connect(mixes, "out2", once, "in2")
    joined = g.add_node("Concat", "joined", {"dim": 1}).id
    g.connect(mixes, "out1", joined, "in1")
    g.connect(once, "out2", joined, "in2")
    bg.chain(g, joined, ("Output", "y", {}))
    return Project("two way", g)


def cuts() -> Project:
    """A block whose forward depends on its input's rank (a slice of the last dimension): one class per rank."""
    library = BlockLibrary()
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (8,)}).id
    bg.chain(g, x, ("Slice", "head", {"dim": -1, "start": 0, "length": 4}), ("Linear", "fc", {"out_features": 4}), ("Output", "y", {}))
    library.define("Cut", g, (Exposed("width", 4, binds=((bg.ids(g)["fc"], "out_features"),)),))
    top = bg.network(library, ("Cut", "first", {}), ("Flatten", "flat", {}), ("Cut", "second", {"width": 3}), shape=(5, 8))
    return Project("cuts", top)


def assorted() -> Project:
    """Token ids into a recurrent block of two outputs (one a piece of a Split), a switch on a layer with no
    module, and a repeat set by an exposed parameter of the block around it."""
    library = BlockLibrary()
    g = Graph(library=library)
    x = g.add_node("Input", "tokens", {"shape": (6,), "dtype": "int64"}).id
    lstm = g.add_node("LSTM", "rnn", {"hidden_size": 8}).id
    g.connect(bg.chain(g, x, ("Embedding", "embed", {"num_embeddings": 20, "embedding_dim": 8})), "out", lstm, "in")
    split = g.add_node("Split", "halves", {"dim": 1, "sizes": (4, 4)}).id
    g.connect(lstm, "hidden", split, "in")
    g.connect(lstm, "sequence", g.add_node("Output", "steps").id, "in")
    g.connect(split, "out1", g.add_node("Output", "half").id, "in")
    library.define("Reader", g, (Exposed("width", 8, binds=((bg.ids(g)["rnn"], "hidden_size"),)),))
    maybe = Graph(library=library)
    x = maybe.add_node("Input", "x", {"shape": (8,)}).id
    skip = maybe.add_node("Add", "skip").id
    maybe.connect(bg.chain(maybe, x, ("Linear", "lin", {"out_features": 8})), "out", skip, "in1")
    maybe.connect(x, "out", skip, "in2")
    bg.chain(maybe, skip, ("Output", "y", {}))
    library.define("Maybe", maybe, (Exposed("residual", True, switches=(bg.ids(maybe)["skip"],)),))
    deep = Graph(library=library)
    x = deep.add_node("Input", "x", {"shape": (8,)}).id
    bg.chain(deep, x, ("Maybe", "inner", {"repeat": 2}), ("Output", "y", {}))
    library.define("Deep", deep, (Exposed("depth", 2, binds=((bg.ids(deep)["inner"], "repeat"),)),))
    top = Graph(library=library)
    reader = top.add_node("Reader", "reader").id
    top.connect(top.add_node("Input", "tokens", {"shape": (6,), "dtype": "int64"}).id, "out", reader, "in")
    top.connect(reader, "out1", top.add_node("Output", "steps").id, "in")
    widen = top.add_node("Linear", "widen", {"out_features": 8}).id
    top.connect(reader, "out2", widen, "in")
    bg.chain(top, widen, ("Linear", "m1_lin", {"out_features": 3}), ("Output", "side", {}))  # m1's layers must not take its name
    bg.chain(
        top, widen,
        ("Maybe", "m1", {}), ("Maybe", "m2", {"residual": False}), ("Deep", "deep", {"depth": 3}), ("Deep", "deeper", {}),
        ("Output", "final", {}),
    )  # fmt: skip
    return Project("assorted", top)


def encoder_stack() -> Project:
    """A pre-norm transformer encoder block repeated four times over embedded tokens (BERT-mini's shape)."""
    library = BlockLibrary()
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (6, 16)}).id
    attention = g.add_node("MultiheadAttention", "attention", {"num_heads": 4}).id
    g.connect(bg.chain(g, x, ("LayerNorm", "ln1", {})), "out", attention, "query")
    first = g.add_node("Add", "residual1").id
    g.connect(x, "out", first, "in1")
    g.connect(attention, "out", first, "in2")
    ffn = bg.chain(g, first, ("LayerNorm", "ln2", {}), ("Linear", "up", {"out_features": 64}), ("GELU", "act", {}), ("Linear", "down", {"out_features": 16}))
    second = g.add_node("Add", "residual2").id
    g.connect(first, "out", second, "in1")
    g.connect(ffn, "out", second, "in2")
    bg.chain(g, second, ("Output", "y", {}))
    n = bg.ids(g)
    library.define("EncoderBlock", g, (Exposed("heads", 4, binds=((n["attention"], "num_heads"),)), Exposed("ffn", 64, binds=((n["up"], "out_features"),))))
    top = Graph(library=library)
    tokens = top.add_node("Input", "tokens", {"shape": (6,), "dtype": "int64"}).id
    bg.chain(
        top, tokens,
        ("Embedding", "embed", {"num_embeddings": 50, "embedding_dim": 16}), ("EncoderBlock", "encoder", {"repeat": 4}),
        ("Linear", "head", {"out_features": 50}), ("Output", "logits", {}),
    )  # fmt: skip
    return Project("bert mini", top)


def residual_block(library: BlockLibrary, width: int = 16) -> Block:
    """x + Linear(ReLU(Linear(x))): a block to train."""
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (width,)}).id
    inner = bg.chain(g, x, ("Linear", "up", {"out_features": 2 * width}), ("ReLU", "act", {}), ("Linear", "down", {"out_features": width}))
    add = g.add_node("Add", "add").id
    g.connect(x, "out", add, "in1")
    g.connect(inner, "out", add, "in2")
    bg.chain(g, add, ("Output", "y", {}))
    return library.define("Residual", g)


def block_classifier() -> Project:
    """The blobs classifier with two residual blocks between its Linear layers."""
    library = BlockLibrary()
    residual_block(library)
    g = bg.network(
        library,
        ("Linear", "embed", {"out_features": 16}), ("Residual", "body", {"repeat": 2}), ("Linear", "head", {"out_features": 4}),
        shape=(2,),
    )  # fmt: skip
    return Project("block classifier", g, TrainingSettings(dataset="blobs", loss="cross_entropy", batch_size=256, epochs=1))


# ----- ResNet-18 with torchvision's module names -----
def stages_resnet18(size: int = 32, classes: int = 1000) -> Project:
    """ResNet-18 whose blocks are named as torchvision's modules: stages `layer1`.. of BasicBlocks `0` and `1`,
    each with a shortcut `downsample` of layers `0` and `1`, so the state-dict keys are torchvision's."""
    library = BlockLibrary()
    down = Graph()
    x = down.add_node("Input", "x", {"shape": (64, 56, 56)}).id
    bg.chain(down, x, ("Conv2d", "0", {"out_channels": 64, "kernel_size": 1, "bias": False}), ("BatchNorm2d", "1", {}), ("Output", "y", {}))
    n = bg.ids(down)
    library.define("Downsample", down, (
        Exposed("channels", 64, binds=((n["0"], "out_channels"),)), Exposed("stride", (1, 1), binds=((n["0"], "stride"),)),
    ))  # fmt: skip
    block = Graph(library=library)
    x = block.add_node("Input", "x", {"shape": (64, 56, 56)}).id
    body = bg.chain(
        block, x,
        ("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}), ("BatchNorm2d", "bn1", {}), ("ReLU", "relu1", {}),
        ("Conv2d", "conv2", {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}), ("BatchNorm2d", "bn2", {}),
    )  # fmt: skip
    shortcut = bg.chain(block, x, ("Downsample", "downsample", {}))
    add = block.add_node("Add", "add").id
    block.connect(body, "out", add, "in1")
    block.connect(shortcut, "out", add, "in2")
    bg.chain(block, add, ("ReLU", "relu2", {}), ("Output", "y", {}))
    n = bg.ids(block)
    library.define("BasicBlock", block, (
        Exposed("channels", 64, binds=((n["conv1"], "out_channels"), (n["conv2"], "out_channels"), (n["downsample"], "channels"))),
        Exposed("stride", (1, 1), binds=((n["conv1"], "stride"), (n["downsample"], "stride"))),
        Exposed("downsample", False, switches=(n["downsample"],)),
    ))  # fmt: skip
    stage = Graph(library=library)
    x = stage.add_node("Input", "x", {"shape": (64, 56, 56)}).id
    bg.chain(stage, x, ("BasicBlock", "0", {}), ("BasicBlock", "1", {}), ("Output", "y", {}))
    n = bg.ids(stage)
    library.define("Stage", stage, (
        Exposed("channels", 64, binds=((n["0"], "channels"), (n["1"], "channels"))),
        Exposed("stride", (1, 1), binds=((n["0"], "stride"),)),
        Exposed("downsample", False, binds=((n["0"], "downsample"),)),
    ))  # fmt: skip
    g = Graph(library=library)
    x = g.add_node("Input", "image", {"shape": (3, size, size)}).id
    s = bg.chain(
        g, x,
        ("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False}),
        ("BatchNorm2d", "bn1", {}), ("ReLU", "relu", {}),
        ("MaxPool2d", "maxpool", {"kernel_size": 3, "stride": 2, "padding": 1}),
    )  # fmt: skip
    for index, channels in enumerate((64, 128, 256, 512), 1):
        params: dict[str, Any] = {"channels": channels} if index == 1 else {"channels": channels, "stride": 2, "downsample": True}
        s = bg.chain(g, s, ("Stage", f"layer{index}", params))
    bg.chain(g, s, ("AdaptiveAvgPool2d", "avgpool", {}), ("Flatten", "flatten", {}), ("Linear", "fc", {"out_features": classes}), ("Output", "logits", {}))
    return Project("resnet18", g)


class TorchvisionBasicBlock(nn.Module):
    """torchvision's BasicBlock, module for module."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchvisionResNet18(nn.Module):
    """torchvision's resnet18, module for module (its state-dict keys and shapes)."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, inplanes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(TorchvisionBasicBlock(inplanes, planes, stride), TorchvisionBasicBlock(planes, planes)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
