"""Shared graphs for the export tests: the examples, one small graph per layer, hostile names, random inputs.

Every target's test imports these read-only, so all targets are proven on the same graphs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch
from studio.graph import CATALOGUE, Graph
from studio.graph.catalogue.base import Unsupported
from studio.graph.project import Project, load_project
from tests.graph.reference import made_positive, needs_positive_inputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.lstudio"))
LAYER_TYPES = sorted(set(CATALOGUE) - {"Input", "Output"})
SEED = 0


def supported(target: str) -> list[str]:
    """The layer types (Input/Output excluded) whose catalogue entry gives `target` a mapping."""
    return [t for t in LAYER_TYPES if not isinstance(CATALOGUE[t].targets[target], Unsupported)]


def example(path: Path) -> Project:
    """An example project, loaded."""
    return load_project(path)


def layer_project(
    layer_type: str, params: dict[str, Any] | None = None, shapes: list[tuple[int, ...]] | None = None
) -> Project:
    """Input(s) -> one layer -> Output, with default parameters unless given (`single_layer`)."""
    return single_layer(layer_type, params or {}, shapes)


def seeded_model(project: Project, seed: int = SEED) -> torch.nn.Module:
    """The project's generated PyTorch model with seeded weights: the numbers every export holds."""
    return build_torch_model(generate_pytorch(project), seed)


def random_inputs(graph: Graph, batch: int, seed: int = 1) -> list[torch.Tensor]:
    """A random batch per Input node in graph order; token ids stay below the smallest vocabulary, and
    values are positive where a layer needs them so (`tests.graph.reference.needs_positive_inputs`)."""
    generator = torch.Generator().manual_seed(seed)
    vocab = min((n.params["num_embeddings"] for n in graph.nodes.values() if n.type == "Embedding"), default=2)
    positive = needs_positive_inputs(graph)
    xs = []
    for node in graph.nodes.values():
        if node.type == "Input":
            shape = (batch, *node.params["shape"])
            if node.params["dtype"] == "int64":
                xs.append(torch.randint(0, vocab, shape, generator=generator))
            else:
                x = torch.randn(shape, generator=generator)
                xs.append(made_positive(x) if positive else x)
    return xs


# ----- one layer per graph -----
IMAGE, SEQUENCE, VECTOR, TOKENS = (3, 8, 8), (6, 8), (16,), (6,)


def typical_input(layer_type: str) -> tuple[int, ...]:
    """A per-sample input shape the layer accepts with its default parameters."""
    if layer_type == "Embedding":
        return TOKENS
    if layer_type in ("GroupNorm", "PixelShuffle", "ChannelShuffle"):  # channels in groups of 2 to 4
        return (8, 4, 4)
    if layer_type.endswith("3d"):
        return (3, 4, 4, 4)
    if layer_type.endswith("1d") and layer_type != "BatchNorm1d":
        return (6, 8)
    if layer_type in ("LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer", "PositionalEncoding",
                      "SequencePool", "LayerNorm", "RMSNorm", "Permute"):  # fmt: skip
        return SEQUENCE
    if layer_type in ("Linear", "Reshape", "BatchNorm1d"):
        return VECTOR
    if layer_type == "Squeeze":
        return (3, 8, 1)
    if layer_type == "Expand":
        return (1, 8)
    return IMAGE


TYPICAL_PORTS = {
    "MatMul": [(2, 6, 8), (2, 8, 5)],
    "ScaledDotProductAttention": [(2, 6, 8), (2, 5, 8), (2, 5, 4)],
    "TransformerDecoderLayer": [(6, 8), (5, 8)],
}  # layers whose inputs differ in shape


def single_layer(
    layer_type: str, params: dict[str, Any], shapes: list[tuple[int, ...]] | None = None, outputs: tuple[str, ...] | None = None
) -> Project:
    """A project Input(s) -> layer -> Output(s); one Input per given shape, wired to the ports in order.

    A layer of several outputs gets an Output per output port (or per port in `outputs`): y, y2, y3, ...
    """
    graph = Graph()
    layer = graph.add_node(layer_type, name="layer", params=params)
    ports = layer.spec.input_ports(layer.params)
    if shapes is None:
        required = [p for p in ports if not p.optional]
        shapes = TYPICAL_PORTS.get(layer_type, [typical_input(layer_type)] * len(required))
    dtype = "int64" if layer_type == "Embedding" else "float32"
    for i, (port, shape) in enumerate(zip(ports, shapes)):
        source = graph.add_node("Input", name=f"x{i + 1}", params={"shape": shape, "dtype": dtype})
        graph.connect(source.id, "out", layer.id, port.name)
    if not ports:  # a tensor every sample shares: added to an input of its shape, so the output has the batch N
        source = graph.add_node("Input", name="x", params={"shape": tuple(layer.params["shape"])})
        add = graph.add_node("Add", name="with_input")
        graph.connect(source.id, "out", add.id, "in1")
        graph.connect(layer.id, "out", add.id, "in2")
        layer = add
    wired = [p for p in layer.spec.output_ports(layer.params) if outputs is None or p.name in outputs]
    for i, port in enumerate(wired):
        sink = graph.add_node("Output", name="y" if i == 0 else f"y{i + 1}")
        graph.connect(layer.id, port.name, sink.id, "in")
    return Project(name=f"{layer_type} test", graph=graph)


VARIANTS: list[tuple[str, dict[str, Any], list[tuple[int, ...]] | None]] = [
    ("Conv2d", {"out_channels": 6, "padding": "same", "groups": 3}, None),
    (
        "Conv2d",
        {"out_channels": 4, "kernel_size": (3, 2), "stride": 2, "padding": (1, 0), "dilation": (2, 1), "bias": False, "padding_mode": "reflect"},
        None,
    ),
    ("Conv1d", {"out_channels": 4, "padding": "valid", "padding_mode": "circular"}, None),
    ("ConvTranspose2d", {"out_channels": 4, "stride": 2, "padding": 1, "output_padding": 1, "groups": 1}, None),
    ("DepthwiseConv2d", {"depth_multiplier": 2, "stride": 2, "bias": False}, None),
    ("SeparableConv2d", {"out_channels": 5, "depth_multiplier": 2, "padding": "same", "bias": False}, None),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, None),
    ("MaxPool1d", {"kernel_size": 3, "stride": "kernel", "padding": 1, "dilation": 2}, None),
    ("AvgPool2d", {"kernel_size": 3, "stride": (1, 2), "padding": 1, "count_include_pad": False}, None),
    ("AdaptiveAvgPool2d", {"output_size": (2, 3)}, None),
    ("Upsample", {"scale_factor": (2, 3), "mode": "bilinear"}, None),
    ("ZeroPad2d", {"padding": (1, 2, 0, 3)}, None),
    ("LSTM", {"hidden_size": 5, "bidirectional": True, "num_layers": 2}, None),
    ("LSTM", {"hidden_size": 4, "num_layers": 2, "reverse": True, "dropout": 0.2}, None),
    ("GRU", {"hidden_size": 5, "bidirectional": True}, None),
    ("GRU", {"hidden_size": 3, "num_layers": 3, "reverse": True, "bias": False}, None),
    ("RNN", {"hidden_size": 5, "nonlinearity": "relu", "bias": False, "reverse": True}, None),
    ("MultiheadAttention", {"num_heads": 2}, [(6, 8), (5, 4)]),
    ("MultiheadAttention", {"num_heads": 4, "bias": False}, [(6, 8), (5, 4), (5, 3)]),
    (
        "TransformerEncoderLayer",
        {"nhead": 2, "dim_feedforward": 16, "activation": "gelu", "norm_first": True, "bias": False},
        None,
    ),
    ("TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 16, "causal": True}, None),
    ("TransformerDecoderLayer", {"nhead": 2, "dim_feedforward": 16, "causal": True, "activation": "gelu"}, None),
    ("TransformerDecoderLayer", {"nhead": 4, "dim_feedforward": 8, "norm_first": True, "bias": False}, [(6, 8), (3, 8)]),
    ("PositionalEncoding", {"kind": "learned", "max_len": 10}, None),
    ("PositionalEncoding", {"max_len": 6}, [(6, 7)]),
    ("SequencePool", {"mode": "max"}, None),
    ("SequencePool", {"mode": "first"}, None),
    ("SequencePool", {"mode": "last"}, None),
    ("LayerNorm", {"num_dims": 2, "bias": False}, None),
    ("RMSNorm", {"num_dims": 2, "elementwise_affine": False, "eps": 1e-5}, None),
    ("GroupNorm", {"num_groups": 2, "affine": False, "eps": 1e-3}, None),
    ("BatchNorm2d", {"track_running_stats": False, "momentum": 0.2}, None),
    ("BatchNorm1d", {}, [(6, 8)]),
    ("InstanceNorm2d", {"affine": True, "track_running_stats": True}, None),
    ("PReLU", {"per_channel": True, "init": 0.1}, None),
    ("GELU", {"approximate": "tanh"}, None),
    ("Softmax", {"dim": 1}, None),
    ("Reshape", {"shape": (4, -1)}, None),
    ("Permute", {"dims": (2, 3, 1)}, [IMAGE]),
    ("Slice", {"dim": 2, "start": 3, "length": 4}, None),
    ("Slice", {"dim": -1, "start": 2, "length": 0}, [SEQUENCE]),
    ("Slice", {"dim": 1, "start": 0, "length": 0}, None),
    ("Add", {"num_inputs": 3}, [IMAGE] * 3),
    ("Maximum", {"num_inputs": 3}, [IMAGE] * 3),
    ("Multiply", {}, [(3, 8, 8), (3, 1, 1)]),  # squeeze-and-excitation's gate over the channels
    ("Add", {"num_inputs": 3}, [(3, 1, 8), (1, 8, 1), (3, 8, 8)]),
    ("Maximum", {"num_inputs": 3}, [(3, 8, 1), (3, 1, 8), (1, 1, 1)]),
    ("Minimum", {"num_inputs": 3}, [(6, 8), (1, 8), (6, 1)]),
    ("Subtract", {}, [(6, 1), (6, 8)]),
    ("Divide", {}, [(3, 8, 8), (1, 8, 8)]),
    ("MatMul", {}, [(4, 1, 6, 8), (1, 3, 8, 5)]),  # heads broadcast against one shared matrix
    ("ScaledDotProductAttention", {"causal": True, "scale": 0.5}, [(2, 6, 8), (2, 6, 8), (2, 6, 3)]),
    ("ScaledDotProductAttention", {}, [(2, 6, 8), (1, 5, 8), (2, 5, 4), (1, 6, 5)]),  # an additive mask
    ("Parameter", {"shape": (3, 1, 8), "std": 0.0}, None),
    ("Constant", {"shape": (6, 8), "fill": 1.5}, None),
    ("Concat", {"num_inputs": 3, "dim": -1}, [(3, 8, 2), (3, 8, 5), (3, 8, 1)]),
    ("Pow", {"exponent": 0.5}, None),
    ("Clip", {"min": (), "max": (0.5,)}, None),
    ("Clip", {"min": (-0.25,), "max": ()}, [SEQUENCE]),
    ("Scale", {"factor": -2.0, "offset": 0.5}, None),
    ("Scale", {"factor": 1.0, "offset": -1.5}, [VECTOR]),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}, None),
    ("Threshold", {"threshold": 0.1, "value": -2.0}, None),
    ("CELU", {"alpha": 0.5}, None),
    ("Softshrink", {"lambd": 1.0}, None),
    ("Hardshrink", {"lambd": 0.2}, [SEQUENCE]),
    ("Softmin", {"dim": 1}, None),
    ("GLU", {"dim": 1}, [(4, 8, 8)]),
    ("SwiGLU", {}, [SEQUENCE]),
    ("Hardsigmoid", {"alpha": 0.2, "beta": 0.4}, None),
    # spatial layers (issue 13)
    ("ConvTranspose3d", {"out_channels": 4, "stride": 2, "padding": 1, "output_padding": 1}, None),
    ("MaxPool3d", {"kernel_size": 2, "stride": 1, "padding": 1, "dilation": (1, 2, 1)}, None),
    ("AvgPool3d", {"kernel_size": (2, 3, 2), "stride": 1, "padding": (1, 1, 0)}, None),
    ("LPPool2d", {"norm_type": 4.0, "kernel_size": 3, "stride": 2, "ceil_mode": True}, None),
    ("LPPool1d", {"kernel_size": 3, "stride": 1}, None),
    ("AdaptiveMaxPool1d", {"output_size": (3,)}, [(6, 7)]),
    ("AdaptiveAvgPool3d", {"output_size": (2, 1, 4)}, None),
    ("Resize", {"size": (5, 11), "mode": "bilinear"}, None),
    ("Resize", {"scale_factor": (1.5, 0.75)}, None),
    ("Resize", {"scale_factor": (2.5,), "mode": "nearest-exact"}, [(3, 5)]),
    ("Resize", {"scale_factor": (1.5,), "mode": "bicubic", "align_corners": True}, None),
    ("Resize", {"size": (3, 4, 5), "mode": "trilinear"}, [(2, 4, 4, 4)]),
    ("Resize", {"scale_factor": (0.5,), "mode": "linear"}, [(3, 9)]),
    ("Pad", {"padding": (1, 2, 0, 3), "mode": "reflect"}, None),
    ("Pad", {"padding": (2, 1, 1, 0), "mode": "replicate"}, None),
    ("Pad", {"padding": (1, 2), "mode": "circular"}, [(6, 8)]),
    ("Pad", {"padding": (1, 0, 2, 2, 1, 1), "value": -0.5}, None),
    ("PixelShuffle", {"upscale_factor": 3}, [(18, 2, 3)]),
    ("PixelUnshuffle", {"downscale_factor": 4}, [(2, 8, 4)]),
    ("ChannelShuffle", {"groups": 3}, [(6, 5)]),
    ("ChannelShuffle", {"groups": 2}, [(4, 2, 3, 2)]),
    ("Dropout2d", {"p": 0.3}, None),
    ("Pad", {"padding": (1, 0, 0, 2, 1, 1, 2, 0), "value": 0.25}, [(2, 3, 4, 4)]),
    # reductions
    ("ReduceMean", {"dims": (2, 3), "keepdim": True}, None),
    ("ReduceSum", {"dims": (1, -1)}, None),
    ("ReduceMax", {"dims": (1,), "keepdim": True}, [SEQUENCE]),
    ("ReduceMin", {"dims": (-2, -1)}, None),
    ("ReduceProd", {"dims": (2, 3)}, [(3, 2, 3)]),
    ("LogSumExp", {"dims": (1, 2, 3), "keepdim": True}, None),
    ("ArgMax", {"dim": 1, "keepdim": True}, None),
    ("ArgMin", {"dim": -2}, [SEQUENCE]),
    ("Norm", {"dims": (2, 3), "p": 1.0, "keepdim": True}, None),
    ("Norm", {"dims": (1,), "p": 3.0}, [SEQUENCE]),
    ("Normalize", {"dim": -1, "p": 1.0}, [SEQUENCE]),
    ("Normalize", {"dim": 1, "p": 2.5, "eps": 1e-3}, None),
    # tensor rearrangements
    ("Flatten", {"start_dim": 2}, None),
    ("Flatten", {"start_dim": 1, "end_dim": 2}, None),
    ("Squeeze", {"dims": (2, 3)}, [(6, 1, 1)]),
    ("Unsqueeze", {"dim": 2}, [SEQUENCE]),
    ("Transpose", {"dim0": -1, "dim1": 1}, None),
    ("Unflatten", {"dim": -1, "sizes": (2, 2, 2)}, [SEQUENCE]),
    ("Expand", {"sizes": (-1, 4, 8)}, [(3, 1, 8)]),
    ("Repeat", {"repeats": (3, 1)}, [SEQUENCE]),
    ("Flip", {"dims": (1, 3)}, None),
    ("Roll", {"shifts": (2, -3), "dims": (2, 3)}, None),
    ("Roll", {"shifts": (8,), "dims": (2,)}, None),
    ("IndexSelect", {"dim": -1, "indices": (5, 0, 5)}, [SEQUENCE]),
    ("IndexSelect", {"dim": 1, "indices": (2,), "keepdim": False}, None),
    ("Cumsum", {"dim": 1, "reverse": True}, None),
    ("Cumsum", {"dim": -1, "exclusive": True}, [SEQUENCE]),
    ("Cumsum", {"dim": 2, "exclusive": True, "reverse": True}, None),
    ("Split", {"dim": -1, "sizes": (3, 1, 4)}, [SEQUENCE]),
    ("Chunk", {"dim": 2, "chunks": 3}, None),
    ("Stack", {"num_inputs": 3, "dim": -1}, [SEQUENCE] * 3),
]


# Layers of several outputs with only some of them read: each export then writes another form
# (a recurrent layer's steps alone, its final hidden or cell state alone, or two of them).
OUTPUT_VARIANTS: list[tuple[str, dict[str, Any], list[tuple[int, ...]] | None, tuple[str, ...]]] = [
    ("LSTM", {"hidden_size": 5}, None, ("sequence",)),
    ("LSTM", {"hidden_size": 5, "bidirectional": True, "num_layers": 2}, None, ("hidden",)),
    ("LSTM", {"hidden_size": 4, "bidirectional": True}, None, ("cell",)),
    ("LSTM", {"hidden_size": 4, "reverse": True, "num_layers": 2}, None, ("hidden", "cell")),
    ("LSTM", {"hidden_size": 4, "reverse": True}, None, ("sequence",)),
    ("GRU", {"hidden_size": 4, "reverse": True}, [(5, 3)], ("hidden",)),
    ("GRU", {"hidden_size": 4, "bidirectional": True, "num_layers": 3}, None, ("sequence", "hidden")),
    ("RNN", {"hidden_size": 4, "nonlinearity": "relu", "reverse": True, "num_layers": 2}, None, ("sequence", "hidden")),
    ("RNN", {"hidden_size": 3, "bidirectional": True, "bias": False}, None, ("hidden",)),
]


CAFFE_VARIANTS = [  # configurations where Caffe's form differs (rounding, bias, statistics)
    ("Conv2d", {"out_channels": 6, "padding": "same", "groups": 3}, None),
    ("Conv2d", {"out_channels": 4, "kernel_size": (3, 2), "stride": 2, "padding": (1, 0), "dilation": (2, 1), "bias": False}, None),
    ("Conv3d", {"out_channels": 4, "stride": 2, "padding": 1}, None),
    ("ConvTranspose2d", {"out_channels": 4, "stride": 2, "padding": 1, "groups": 1}, None),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2}, [(3, 8, 8)]),  # floor differs from Caffe's ceil here
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1}, [(3, 9, 9)]),
    ("AvgPool2d", {"kernel_size": 3, "stride": (1, 2), "padding": 1}, None),
    ("Linear", {"out_features": 5}, [(6, 8)]),
    ("Softmax", {"dim": 1}, None),
    ("Concat", {"num_inputs": 3, "dim": -1}, [(3, 8, 2), (3, 8, 5), (3, 8, 1)]),
    ("BatchNorm2d", {"affine": False, "track_running_stats": False}, None),
    ("BatchNorm1d", {}, [(6, 8)]),
    ("InstanceNorm2d", {"affine": True}, None),
    ("PReLU", {"per_channel": True, "init": 0.1}, None),
    ("SequencePool", {"mode": "max"}, None),
    ("SequencePool", {"mode": "first"}, None),
    ("SequencePool", {"mode": "last"}, None),
    ("PositionalEncoding", {"kind": "learned", "max_len": 10}, None),
    ("Add", {"num_inputs": 3}, [(3, 8, 8)] * 3),
    ("Scale", {"factor": -2.0, "offset": 0.5}, None),
    ("Pow", {"exponent": 0.5}, None),
    ("Threshold", {"threshold": 0.1, "value": -2.0}, None),
    ("CELU", {"alpha": 0.5}, None),
    ("GLU", {"dim": 1}, [(4, 8, 8)]),
    ("Hardsigmoid", {"alpha": 0.2, "beta": 0.4}, None),
    ("ReduceSum", {"dims": (2, 3), "keepdim": True}, None),
    ("ReduceMean", {"dims": (1, 2, 3)}, None),
    ("Norm", {"dims": (2, 3)}, None),
    ("Norm", {"dims": (3,), "p": 1.0, "keepdim": True}, None),
    ("ArgMax", {"dim": 1, "keepdim": True}, None),
    ("ArgMin", {"dim": 1}, None),
    ("Flatten", {"start_dim": 2}, None),
    ("Flatten", {"start_dim": 1, "end_dim": 2}, None),
    ("Expand", {"sizes": (-1, 4, 8)}, [(3, 1, 8)]),
    ("Roll", {"shifts": (2, -3), "dims": (2, 3)}, None),
    ("Split", {"dim": -1, "sizes": (3, 1, 4)}, [SEQUENCE]),
    ("Stack", {"num_inputs": 3, "dim": -1}, [SEQUENCE] * 3),
]


# ----- hostile names -----
HOSTILE = [
    "import os", "__import__('os').system('x')", "1st layer", "class", "self", "torch", "x\ny", "\"';",
    "名前", "a b", "a_b", "training", "forward", "x\r\n)\nimport os  #", "\u202eevil", "None", "F",
]  # fmt: skip


def hostile_project() -> Project:
    """A network whose every name tries to inject code or clash with Python, torch or another name."""
    graph = Graph()
    first = graph.add_node("Input", HOSTILE[0], {"shape": (4,)})
    previous = first
    for name in HOSTILE[1:]:
        node = graph.add_node("Linear", name, {"out_features": 4})
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    second = graph.add_node("Input", "import os ", {"shape": (4,)})
    add = graph.add_node("Add", 'exec("1")')
    graph.connect(previous.id, "out", add.id, "in1")
    graph.connect(second.id, "out", add.id, "in2")
    for name in ("out'\"", "out\n"):
        sink = graph.add_node("Output", name)
        graph.connect(add.id, "out", sink.id, "in")
    return Project(name='os.system("rm")', graph=graph)


def chain_project(name: str, sample: tuple[int, ...], layers: list[tuple[str, str, dict[str, Any]]]) -> Project:
    """Input "image" -> each (type, name, params) in turn -> Output "y"."""
    graph = Graph()
    previous = graph.add_node("Input", "image", {"shape": sample})
    for layer_type, layer_name, params in layers:
        node = graph.add_node(layer_type, layer_name, params)
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    sink = graph.add_node("Output", "y")
    graph.connect(previous.id, "out", sink.id, "in")
    return Project(name=name, graph=graph)
