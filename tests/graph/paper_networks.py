"""Networks of blocks as papers draw them, for the layout tests: ResNet-50, BERT-base and U-Net, at their real sizes."""

from __future__ import annotations

from typing import Any

from studio.graph.blocks import BlockLibrary, Exposed
from studio.graph.model import Graph
from tests.graph.block_graphs import chain, ids

RESNET50_PARAMS = 25_557_032  # torchvision's resnet50
BERT_BASE_PARAMS = 109_482_240  # Hugging Face's BertModel (bert-base-uncased), pooler included


def _bottleneck(library: BlockLibrary) -> None:
    g = Graph(library=library)
    x = g.add_node("Input", "x", {"shape": (64, 56, 56)}).id
    body = chain(
        g, x,
        ("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 1, "bias": False}), ("BatchNorm2d", "bn1", {}), ("ReLU", "relu1", {}),
        ("Conv2d", "conv2", {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}), ("BatchNorm2d", "bn2", {}), ("ReLU", "relu2", {}),
        ("Conv2d", "conv3", {"out_channels": 256, "kernel_size": 1, "bias": False}), ("BatchNorm2d", "bn3", {}),
    )  # fmt: skip
    shortcut = chain(g, x, ("Conv2d", "down_conv", {"out_channels": 256, "kernel_size": 1, "bias": False}), ("BatchNorm2d", "down_bn", {}))
    add = g.add_node("Add", "add").id
    g.connect(body, "out", add, "in1")
    g.connect(shortcut, "out", add, "in2")
    chain(g, add, ("ReLU", "relu3", {}), ("Output", "y", {}))
    n = ids(g)
    library.define("Bottleneck", g, (
        Exposed("width", 64, binds=((n["conv1"], "out_channels"), (n["conv2"], "out_channels"))),
        Exposed("out_channels", 256, binds=((n["conv3"], "out_channels"), (n["down_conv"], "out_channels"))),
        Exposed("stride", (1, 1), binds=((n["conv2"], "stride"), (n["down_conv"], "stride"))),
        Exposed("downsample", False, switches=(n["down_conv"], n["down_bn"])),
    ))  # fmt: skip


def _stage(library: BlockLibrary) -> None:
    g = Graph(library=library)
    x = g.add_node("Input", "x", {"shape": (64, 56, 56)}).id
    chain(g, x, ("Bottleneck", "0", {"downsample": True}), ("Bottleneck", "rest", {"repeat": 2}), ("Output", "y", {}))
    n = ids(g)
    library.define("Stage", g, (
        Exposed("width", 64, binds=((n["0"], "width"), (n["rest"], "width"))),
        Exposed("out_channels", 256, binds=((n["0"], "out_channels"), (n["rest"], "out_channels"))),
        Exposed("stride", (1, 1), binds=((n["0"], "stride"),)),
        Exposed("blocks", 2, binds=((n["rest"], "repeat"),)),
    ))  # fmt: skip


def resnet50(size: int = 224) -> Graph:
    """torchvision's ResNet-50: a stem, stages of 3, 4, 6 and 3 bottlenecks (a Stage block each), a head."""
    library = BlockLibrary()
    _bottleneck(library)
    _stage(library)
    g = Graph(library=library)
    x = g.add_node("Input", "image", {"shape": (3, size, size)}).id
    s = chain(
        g, x,
        ("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False}),
        ("BatchNorm2d", "bn1", {}), ("ReLU", "relu", {}), ("MaxPool2d", "maxpool", {"kernel_size": 3, "stride": 2, "padding": 1}),
    )  # fmt: skip
    for index, (width, count) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), 1):
        params: dict[str, Any] = {"width": width, "out_channels": 4 * width, "blocks": count - 1}
        if index > 1:
            params["stride"] = 2
        s = chain(g, s, ("Stage", f"layer{index}", params))
    chain(g, s, ("AdaptiveAvgPool2d", "avgpool", {}), ("Flatten", "flatten", {}), ("Linear", "fc", {"out_features": 1000}), ("Output", "logits", {}))
    return g


def bert_base(tokens: int = 128) -> Graph:
    """BERT-base: embeddings (words, positions, token types, summed and normalised), 12 encoder layers of one block, the pooler."""
    library = BlockLibrary()
    layer = Graph(library=library)
    x = layer.add_node("Input", "x", {"shape": (tokens, 768)}).id
    attention = layer.add_node("MultiheadAttention", "attention", {"num_heads": 12}).id
    for port in ("query", "key", "value"):
        layer.connect(x, "out", attention, port)
    residual = layer.add_node("Add", "attention_residual").id
    layer.connect(attention, "out", residual, "in1")
    layer.connect(x, "out", residual, "in2")
    norm = chain(layer, residual, ("LayerNorm", "attention_norm", {"eps": 1e-12}), ("Linear", "intermediate", {"out_features": 3072}), ("GELU", "gelu", {}), ("Linear", "output", {"out_features": 768}))
    second = layer.add_node("Add", "output_residual").id
    layer.connect(norm, "out", second, "in1")
    layer.connect(ids(layer)["attention_norm"], "out", second, "in2")
    chain(layer, second, ("LayerNorm", "output_norm", {"eps": 1e-12}), ("Output", "y", {}))
    library.define("EncoderLayer", layer, (Exposed("heads", 12, binds=((ids(layer)["attention"], "num_heads"),)),))
    g = Graph(library=library)
    words = chain(g, g.add_node("Input", "tokens", {"shape": (tokens,), "dtype": "int64"}).id, ("Embedding", "word_embeddings", {"num_embeddings": 30522, "embedding_dim": 768}))
    positions = chain(g, g.add_node("Parameter", "position_embeddings", {"shape": (512, 768)}).id, ("IndexSelect", "positions", {"dim": 1, "indices": tuple(range(tokens))}))
    types = chain(g, g.add_node("Parameter", "token_type_embeddings", {"shape": (2, 768)}).id, ("IndexSelect", "token_type", {"dim": 1, "indices": (0,)}))
    embedded = g.add_node("Add", "embedded", {"num_inputs": 3}).id
    for port, source in zip(("in1", "in2", "in3"), (words, positions, types)):
        g.connect(source, "out", embedded, port)
    chain(
        g, embedded,
        ("LayerNorm", "embedding_norm", {"eps": 1e-12}), ("EncoderLayer", "encoder", {"repeat": 12}),
        ("SequencePool", "first_token", {"mode": "first"}), ("Linear", "pooler", {"out_features": 768}), ("Tanh", "pooled", {}), ("Output", "pooler_output", {}),
    )  # fmt: skip
    return g


def unet(size: int = 256, classes: int = 2) -> Graph:
    """U-Net (Ronneberger et al.): a double convolution in, four Down blocks, four Up blocks joined to the skips, a 1x1 convolution out."""
    library = BlockLibrary()
    double = Graph(library=library)
    x = double.add_node("Input", "x", {"shape": (3, size, size)}).id
    chain(
        double, x,
        ("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}), ("BatchNorm2d", "bn1", {}), ("ReLU", "relu1", {}),
        ("Conv2d", "conv2", {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}), ("BatchNorm2d", "bn2", {}), ("ReLU", "relu2", {}),
        ("Output", "y", {}),
    )  # fmt: skip
    n = ids(double)
    library.define("DoubleConv", double, (Exposed("channels", 64, binds=((n["conv1"], "out_channels"), (n["conv2"], "out_channels"))),))
    down = Graph(library=library)
    x = down.add_node("Input", "x", {"shape": (64, size, size)}).id
    chain(down, x, ("MaxPool2d", "pool", {"kernel_size": 2}), ("DoubleConv", "conv", {"channels": 128}), ("Output", "y", {}))
    library.define("Down", down, (Exposed("channels", 128, binds=((ids(down)["conv"], "channels"),)),))
    up = Graph(library=library)
    below = up.add_node("Input", "below", {"shape": (1024, size // 16, size // 16)}).id
    skip = up.add_node("Input", "skip", {"shape": (512, size // 8, size // 8)}).id
    raised = chain(up, below, ("ConvTranspose2d", "up", {"out_channels": 512, "kernel_size": 2, "stride": 2}))
    joined = up.add_node("Concat", "join").id
    up.connect(skip, "out", joined, "in1")
    up.connect(raised, "out", joined, "in2")
    chain(up, joined, ("DoubleConv", "conv", {"channels": 512}), ("Output", "y", {}))
    n = ids(up)
    library.define("Up", up, (Exposed("channels", 512, binds=((n["up"], "out_channels"), (n["conv"], "channels"))),))
    g = Graph(library=library)
    x = chain(g, g.add_node("Input", "image", {"shape": (3, size, size)}).id, ("DoubleConv", "inc", {"channels": 64}))
    skips = [x]
    for i, channels in enumerate((128, 256, 512, 1024), 1):
        x = chain(g, x, ("Down", f"down{i}", {"channels": channels}))
        skips.append(x)
    for i, channels in enumerate((512, 256, 128, 64), 1):
        node = g.add_node("Up", f"up{i}", {"channels": channels}).id
        g.connect(x, "out", node, "in1")
        g.connect(skips[-1 - i], "out", node, "in2")
        x = node
    chain(g, x, ("Conv2d", "outc", {"out_channels": classes, "kernel_size": 1}), ("Output", "mask", {}))
    return g
