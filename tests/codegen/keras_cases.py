"""The one-layer graphs the Keras tests export, and the variants Keras must refuse.

Shared by `test_keras.py` (refusals, formatting) and `test_keras_backends.py` (every case on every
backend against PyTorch).
"""

from __future__ import annotations

from typing import Any

from studio.graph import CATALOGUE
from studio.graph.catalogue.base import Unsupported
from tests.codegen.cases import IMAGE, VARIANTS

EXPORTABLE = sorted(t for t, spec in CATALOGUE.items() if t not in ("Input", "Output") and not isinstance(spec.targets["keras"], Unsupported))

KERAS_VARIANTS: list[tuple[str, dict[str, Any], list[tuple[int, ...]] | None]] = [
    ("Conv2d", {"out_channels": 4, "kernel_size": (3, 2), "stride": 2, "padding": (1, 2)}, None),
    ("Conv2d", {"out_channels": 4, "kernel_size": (3, 2), "padding": (1, 2), "dilation": (2, 1)}, None),
    ("Conv2d", {"out_channels": 4, "kernel_size": 2, "padding": "same", "dilation": 3, "bias": False}, None),
    ("Conv1d", {"out_channels": 4, "kernel_size": 4, "padding": "same", "groups": 2}, None),
    ("Conv3d", {"out_channels": 2, "kernel_size": 2, "padding": 1, "stride": (1, 2, 1)}, None),
    ("ConvTranspose1d", {"out_channels": 4, "kernel_size": 4, "stride": 3, "padding": 2, "output_padding": 1}, None),
    ("ConvTranspose1d", {"out_channels": 4, "kernel_size": 3, "padding": 2, "dilation": 2}, None),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": (3, 2), "stride": (2, 1), "padding": (0, 1), "bias": False}, None),
    ("DepthwiseConv2d", {"depth_multiplier": 3, "padding": 1, "dilation": 2}, None),
    ("SeparableConv2d", {"out_channels": 5, "depth_multiplier": 2, "padding": 2, "stride": 2}, None),
    ("MaxPool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, None),
    ("MaxPool2d", {"kernel_size": (3, 2), "stride": (1, 2)}, None),
    ("MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}, None),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [(3, 7, 7)]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [(3, 8, 8)]),  # ResNet's stem: padded with -inf first
    ("MaxPool1d", {"kernel_size": 4, "stride": 3, "padding": 2}, None),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, None),
    ("AvgPool1d", {"kernel_size": 3, "stride": 1}, None),
    ("AdaptiveAvgPool1d", {"output_size": (3,)}, None),
    ("AdaptiveMaxPool2d", {"output_size": (3, 5)}, None),
    ("Upsample", {"scale_factor": (3,)}, [(6, 8)]),
    ("Upsample", {"scale_factor": (2, 1, 3)}, [(3, 2, 3, 4)]),
    ("Upsample", {"scale_factor": (2,), "mode": "bilinear"}, None),
    ("BatchNorm2d", {"affine": False, "eps": 1e-3, "momentum": 0.3}, None),
    ("BatchNorm3d", {}, None),
    ("InstanceNorm1d", {"affine": True}, None),
    ("LayerNorm", {"elementwise_affine": False}, None),
    ("LayerNorm", {"num_dims": 3}, [IMAGE]),
    ("GroupNorm", {"num_groups": 4, "affine": True}, None),
    ("PReLU", {"per_channel": True}, [(16,)]),
    ("LeakyReLU", {"negative_slope": 0.2}, None),
    ("ELU", {"alpha": 0.5}, None),
    ("LogSoftmax", {"dim": 1}, None),
    ("Softmax", {"dim": -2}, None),
    ("Subtract", {}, [IMAGE, IMAGE]),
    ("Multiply", {"num_inputs": 3}, [IMAGE] * 3),
    ("Concat", {"num_inputs": 2, "dim": 1}, [(3, 8, 2), (5, 8, 2)]),
    ("LSTM", {"hidden_size": 5, "num_layers": 3, "bias": False, "dropout": 0.3}, None),
    ("GRU", {"hidden_size": 5, "num_layers": 2, "bidirectional": True}, None),
    ("LSTM", {"hidden_size": 4, "num_layers": 2, "reverse": True, "dropout": 0.1}, None),
    ("GRU", {"hidden_size": 4, "bias": False}, None),
    ("RNN", {"hidden_size": 5, "bidirectional": True, "num_layers": 2}, None),
    ("MultiheadAttention", {"num_heads": 2}, [(6, 8), (5, 8), (5, 8)]),
    ("MultiheadAttention", {"num_heads": 2}, [(6, 8)]),
    ("TransformerEncoderLayer", {"nhead": 2, "dim_feedforward": 16}, None),
    ("TransformerEncoderLayer", {"nhead": 4, "dim_feedforward": 12, "norm_first": True, "activation": "gelu"}, None),
    # an output whose width equals its channel count: where TensorFlow's ops.add took a conv's bias for NHWC
    ("Conv1d", {"out_channels": 8, "padding": "same"}, [(3, 8)]),
    ("Conv2d", {"out_channels": 8, "padding": 1}, [(3, 8, 8)]),
    ("Conv3d", {"out_channels": 4, "padding": 1}, [(2, 4, 4, 4)]),
    ("ConvTranspose1d", {"out_channels": 8}, [(3, 6)]),
    ("ConvTranspose2d", {"out_channels": 8, "stride": 2, "output_padding": 1}, [(3, 3, 3)]),
    ("ConvTranspose3d", {"out_channels": 4}, [(2, 2, 2, 2)]),
    ("DepthwiseConv2d", {"depth_multiplier": 2, "padding": 1}, [(4, 8, 8)]),
    ("SeparableConv2d", {"out_channels": 8, "padding": 1}, [(3, 8, 8)]),
    # and broadcasting adds of that shape: a per-channel operand, one along the height (H == C == W)
    ("Add", {}, [(8, 8, 8), (8, 1, 1)]),
    ("Add", {}, [(8, 8, 8), (1, 8, 1)]),
    ("Add", {"num_inputs": 3}, [(4, 4), (4, 1), (1, 4)]),
]

# Variants of the PyTorch suite that Keras must refuse, and a word its reason contains.
# Variants Keras cannot express, found by a parameter value (not by position in VARIANTS, which
# grows), with the words the refusal must use.
REFUSED = [
    ("Conv2d", "padding_mode", "reflect", "padding_mode 'reflect'"),
    ("Conv1d", "padding_mode", "circular", "padding_mode 'circular'"),
    ("MaxPool2d", "ceil_mode", True, "ceil_mode"),
    ("MaxPool1d", "dilation", 2, "dilation"),
    ("AvgPool2d", "count_include_pad", False, "count_include_pad"),
    ("BatchNorm2d", "track_running_stats", False, "track_running_stats"),
    ("InstanceNorm2d", "track_running_stats", True, "track_running_stats"),
    ("MaxPool3d", "dilation", (1, 2, 1), "dilation"),
    ("LPPool2d", "ceil_mode", True, "ceil_mode"),
    ("Resize", "mode", "bicubic", "mode 'bicubic'"),
    ("Resize", "mode", "trilinear", "mode 'trilinear'"),
    ("Resize", "mode", "linear", "mode 'linear'"),
]


def refusal(layer_type: str, params: dict) -> str | None:
    """The words Keras's refusal of this variant must use, or None where Keras expresses it."""
    return next((words for kind, key, value, words in REFUSED if kind == layer_type and params.get(key) == value), None)


def layer_cases() -> list[tuple[str, str, dict[str, Any], list[tuple[int, ...]] | None]]:
    """(id, layer type, parameters, input shapes) of every one-layer graph the Keras tests export:
    each type at its defaults, the shared VARIANTS Keras expresses, and KERAS_VARIANTS."""
    cases: list[tuple[str, str, dict[str, Any], list[tuple[int, ...]] | None]] = [(t, t, {}, None) for t in EXPORTABLE]
    for i, (layer_type, params, shapes) in enumerate(VARIANTS):
        if not isinstance(CATALOGUE[layer_type].targets["keras"], Unsupported) and refusal(layer_type, params) is None:
            cases.append((f"{layer_type}-{i}", layer_type, params, shapes))
    for i, (layer_type, params, shapes) in enumerate(KERAS_VARIANTS):
        cases.append((f"{layer_type}-k{i}", layer_type, params, shapes))
    return cases
