"""ONNX written straight from the graph for convolution, pooling and resizing layers: ONNX Runtime against PyTorch, and back.

The export must not trace (except where a layer's parameters have no direct ONNX form, named
below), must pass onnx.checker, must leave default attributes out, and must run in ONNX
Runtime at a batch other than the traced one to the PyTorch model's numbers; the file imports
back as the same layers (a depthwise or separable convolution as Conv2d layers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from studio.codegen.onnx_export import MAX_OPSET, MIN_OPSET, onnx_bytes
from studio.codegen.onnx_writer import writable
from studio.graph.catalogue import (
    CATALOGUE,
    conv,
    depthwise_conv,
    pooling,
    resize,
    spatial,
)
from studio.graph.project import Project
from studio.graph.shapes import analyse
from studio.interop.onnx_import import import_onnx
from tests.codegen.cases import chain_project, layer_project, seeded_model
from tests.codegen.onnx_checks import (
    check_direct,
    direct,
    imported_layers,
    nodes,
)
from tests.interop.onnx_models import assert_matches_onnxruntime

FAMILY_TYPES = sorted(spec.type for spec in (*conv.SPECS, *depthwise_conv.SPECS, *pooling.SPECS, *resize.SPECS, *spatial.SPECS))
COMES_BACK_AS = {  # default layers that import back as other, equivalent layers
    "DepthwiseConv2d": "Conv2d",  # a grouped convolution
    "SeparableConv2d": "Conv2d",  # a depthwise then a pointwise convolution
    "Resize": "Upsample",  # whole-number factors: the older layer, as files written before Resize import
    "Pad": "ZeroPad2d",  # zeros around an image, likewise
}
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def test_every_layer_of_the_families_has_an_emitter() -> None:
    assert len(FAMILY_TYPES) == 35
    assert all(CATALOGUE[t].onnx is not None for t in FAMILY_TYPES)


@pytest.mark.parametrize("layer_type", FAMILY_TYPES)
def test_default_layer_needs_no_trace_and_comes_back(layer_type: str, traced: list[str], tmp_path: Path) -> None:
    data = check_direct(layer_project(layer_type))
    assert traced == []
    back = {t for t, _ in imported_layers(data, tmp_path)}
    assert back == {COMES_BACK_AS.get(layer_type, layer_type)}


CASES = [  # (type, params, per-sample shapes or None, opset, operators with their attributes)
    ("Conv2d", {}, None, 18, [("Conv", {"kernel_shape": [3, 3]})]),
    (
        "Conv2d",
        {"out_channels": 6, "kernel_size": (2, 4), "stride": 1, "padding": "same", "dilation": (2, 1), "groups": 3, "bias": False},
        None,
        18,
        [("Conv", {"kernel_shape": [2, 4], "pads": [1, 1, 1, 2], "dilations": [2, 1], "group": 3})],
    ),
    (
        "Conv2d",
        {"out_channels": 4, "padding": (1, 2), "stride": (2, 1), "padding_mode": "reflect"},
        None,
        18,
        [("Pad", {"mode": "reflect"}), ("Conv", {"kernel_shape": [3, 3], "strides": [2, 1]})],
    ),
    ("Conv3d", {"padding": 1, "padding_mode": "replicate"}, None, 18, [("Pad", {"mode": "edge"}), ("Conv", {"kernel_shape": [3, 3, 3]})]),
    ("Conv1d", {"padding": 2, "padding_mode": "circular"}, None, 19, [("Pad", {"mode": "wrap"}), ("Conv", {"kernel_shape": [3]})]),
    (  # before opset 19 wrapping is the input's end, the input and its start, joined
        "Conv1d",
        {"padding": 2, "padding_mode": "circular"},
        None,
        13,
        [("Slice", {}), ("Slice", {}), ("Concat", {"axis": 2}), ("Conv", {"kernel_shape": [3]})],
    ),
    ("Conv1d", {"padding": "valid", "padding_mode": "circular"}, None, 18, [("Conv", {"kernel_shape": [3]})]),
    (
        "ConvTranspose2d",
        {"out_channels": 6, "stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2), "dilation": (1, 2), "groups": 3},
        None,
        18,
        [("ConvTranspose", {"kernel_shape": [3, 3], "strides": [2, 3], "pads": [1, 0, 1, 0], "output_padding": [1, 2], "dilations": [1, 2], "group": 3})],
    ),
    (  # output_padding from the stride up is less end padding
        "ConvTranspose1d",
        {"padding": (2,), "output_padding": (1,), "dilation": (2,)},
        None,
        18,
        [("ConvTranspose", {"kernel_shape": [3], "pads": [2, 1], "dilations": [2]})],
    ),
    ("DepthwiseConv2d", {"depth_multiplier": 2, "padding": "same"}, None, 18, [("Conv", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": 3})]),
    (
        "SeparableConv2d",
        {"out_channels": 5, "depth_multiplier": 2, "stride": (2, 1), "bias": False},
        None,
        18,
        [("Conv", {"kernel_shape": [3, 3], "strides": [2, 1], "group": 3}), ("Conv", {"kernel_shape": [1, 1]})],
    ),
    ("MaxPool2d", {"kernel_size": (3, 3), "stride": (1, 2)}, None, 18, [("MaxPool", {"kernel_shape": [3, 3], "strides": [1, 2]})]),
    (
        "MaxPool1d",
        {"kernel_size": (3,), "padding": (1,), "dilation": (2,), "ceil_mode": True},
        [(4, 10)],
        18,
        [("MaxPool", {"kernel_shape": [3], "strides": [3], "pads": [1, 1], "dilations": [2], "ceil_mode": 1})],
    ),
    (  # H keeps a partial window; in W ONNX would keep one that PyTorch drops, so W loses its end padding
        "MaxPool2d",
        {"kernel_size": (3, 2), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True},
        [(2, 6, 5)],
        18,
        [("MaxPool", {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 1, 1, 0], "ceil_mode": 1})],
    ),
    ("AvgPool2d", {"kernel_size": (3, 3), "stride": (2, 2), "ceil_mode": True}, None, 18, [("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1})]),
    ("AvgPool2d", {"padding": (1, 0)}, None, 18, [("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 0, 1, 0], "count_include_pad": 1})]),
    ("AvgPool1d", {"padding": (1,), "count_include_pad": False}, None, 18, [("AveragePool", {"kernel_shape": [2], "strides": [2], "pads": [1, 1]})]),
    ("AdaptiveAvgPool1d", {"output_size": (1,)}, None, 18, [("GlobalAveragePool", {})]),
    ("AdaptiveAvgPool2d", {"output_size": (2, 8)}, None, 18, [("AveragePool", {"kernel_shape": [4, 1], "strides": [4, 1]})]),
    ("AdaptiveAvgPool2d", {"output_size": (3, 5)}, None, 13, [("MatMul", {}), ("MatMul", {})]),  # windows of different sizes
    ("AdaptiveAvgPool1d", {"output_size": (3,)}, [(6, 7)], 18, [("MatMul", {})]),
    ("AdaptiveMaxPool2d", {"output_size": (1, 1)}, None, 18, [("GlobalMaxPool", {})]),
    ("AdaptiveMaxPool2d", {"output_size": (4, 2)}, None, 18, [("MaxPool", {"kernel_shape": [2, 4], "strides": [2, 4]})]),
    ("GlobalMaxPool1d", {}, None, 18, [("ReduceMax", {"keepdims": 0})]),
    ("GlobalAvgPool2d", {}, None, 18, [("ReduceMean", {"keepdims": 0})]),
    ("GlobalAvgPool2d", {}, None, 17, [("ReduceMean", {"axes": [2, 3], "keepdims": 0})]),  # axes an attribute before 18
    ("Upsample", {"scale_factor": (3,)}, [(2, 5)], 18, [("Resize", {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})]),
    ("Upsample", {"scale_factor": (1, 2, 3)}, [(2, 3, 3, 2)], 18, [("Resize", {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})]),
    ("Upsample", {"scale_factor": (3, 2), "mode": "bilinear"}, None, 18, [("Resize", {"mode": "linear"})]),
    ("ZeroPad2d", {"padding": (0, 2, 3, 1)}, None, 18, [("Pad", {})]),
]


@pytest.mark.parametrize(("layer_type", "params", "shapes", "opset", "written"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_is_written_plainly_and_matches_torch(
    layer_type: str, params: dict, shapes: list | None, opset: int, written: list, traced: list[str]
) -> None:
    assert nodes(check_direct(layer_project(layer_type, params, shapes), opset)) == written
    assert traced == []


@pytest.mark.parametrize(
    ("layer_type", "params", "opset", "back"),
    [
        ("Conv2d", {"out_channels": 4, "padding": (1, 2), "stride": (2, 1), "padding_mode": "reflect"}, 18, "Conv2d"),
        ("Conv3d", {"padding": 1, "padding_mode": "replicate", "bias": False}, 18, "Conv3d"),
        ("Conv1d", {"padding": 2, "padding_mode": "circular"}, 19, "Conv1d"),
        ("ConvTranspose1d", {"stride": (2,), "padding": (1,), "output_padding": (1,), "dilation": (2,)}, 18, "ConvTranspose1d"),
        ("MaxPool2d", {"kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1), "ceil_mode": True}, 18, "MaxPool2d"),
        ("AvgPool2d", {"kernel_size": (3, 3), "padding": (1, 1), "count_include_pad": False}, 18, "AvgPool2d"),
        ("Upsample", {"scale_factor": (3, 2), "mode": "bilinear"}, 18, "Upsample"),
        ("ZeroPad2d", {"padding": (0, 2, 3, 1)}, 18, "ZeroPad2d"),
    ],
)
def test_settings_come_back(layer_type: str, params: dict, opset: int, back: str, tmp_path: Path) -> None:
    project = layer_project(layer_type, params)
    ((kind, values),) = imported_layers(check_direct(project, opset), tmp_path)
    (layer,) = [n for n in project.graph.nodes.values() if n.name == "layer"]
    assert kind == back
    assert {key: values[key] for key in params} == {key: layer.params[key] for key in params}


def test_separable_conv_comes_back_as_its_two_convolutions(tmp_path: Path) -> None:
    params = {"out_channels": 5, "depth_multiplier": 2, "padding": "same", "dilation": (1, 2)}
    layers = imported_layers(check_direct(layer_project("SeparableConv2d", params)), tmp_path)
    assert [(t, p["groups"], p["kernel_size"], p["bias"]) for t, p in layers] == [("Conv2d", 3, (3, 3), False), ("Conv2d", 1, (1, 1), True)]


@pytest.mark.parametrize(
    ("layer_type", "params", "shapes"),
    [
        # ONNX Runtime refuses output_padding from the stride up, and no end padding can stand in
        ("ConvTranspose1d", {"kernel_size": (1,), "output_padding": (1,), "dilation": (2,)}, None),
        # a partial window PyTorch keeps in W, one ONNX would keep and PyTorch drops in H
        ("MaxPool2d", {"kernel_size": (2, 2), "stride": (3, 3), "ceil_mode": True}, [(2, 6, 7)]),
    ],
)
def test_parameters_without_a_direct_form_are_left_to_torch_onnx(layer_type: str, params: dict, shapes: list | None) -> None:
    project = layer_project(layer_type, params, shapes)
    assert writable(project) and analyse(project.graph).is_valid
    assert not any(direct(project, opset) for opset in (MIN_OPSET, 18, MAX_OPSET))


def valid(project: Project, opset: int = 18) -> Project:
    """The project, where its graph is valid and has a direct ONNX form (else the example is skipped)."""
    assume(analyse(project.graph).is_valid and direct(project, opset))
    return project


@SETTINGS
@given(
    rank=st.integers(1, 3),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.sampled_from([0, 1, 2, "same", "valid"]),
    dilation=st.integers(1, 2),
    grouped=st.booleans(),
    bias=st.booleans(),
    mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    opset=st.sampled_from([MIN_OPSET, 18, MAX_OPSET]),  # wrapping is Slice and Concat before 19, Pad from 19
)
def test_conv_matches_torch(
    rank: int, kernel: int, stride: int, padding: Any, dilation: int, grouped: bool, bias: bool, mode: str, opset: int
) -> None:
    assume(not (padding == "same" and stride > 1))
    params = {
        "out_channels": 6, "kernel_size": (kernel,) * rank, "stride": (stride,) * rank, "dilation": (dilation,) * rank,
        "padding": padding if isinstance(padding, str) else (padding,) * rank, "groups": 3 if grouped else 1,
        "bias": bias, "padding_mode": mode,
    }  # fmt: skip
    check_direct(valid(layer_project(f"Conv{rank}d", params, [(3, *(6, 5, 4)[:rank])]), opset), opset)


@SETTINGS
@given(
    rank=st.integers(1, 2),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    extra=st.integers(0, 2),
    dilation=st.integers(1, 2),
    grouped=st.booleans(),
)
def test_transposed_conv_matches_torch(rank: int, kernel: int, stride: int, padding: int, extra: int, dilation: int, grouped: bool) -> None:
    params = {
        "out_channels": 6, "kernel_size": (kernel,) * rank, "stride": (stride,) * rank, "padding": (padding,) * rank,
        "output_padding": (extra,) * rank, "dilation": (dilation,) * rank, "groups": 3 if grouped else 1,
    }  # fmt: skip
    check_direct(valid(layer_project(f"ConvTranspose{rank}d", params, [(3, *(5, 4)[:rank])])))


@SETTINGS
@given(
    kind=st.sampled_from(["Max", "Avg"]),
    rank=st.integers(1, 2),
    kernel=st.integers(1, 4),
    stride=st.sampled_from(["kernel", 1, 2, 3]),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    ceil=st.booleans(),
    include=st.booleans(),
    size=st.integers(3, 9),
)
def test_pool_matches_torch(
    kind: str, rank: int, kernel: int, stride: Any, padding: int, dilation: int, ceil: bool, include: bool, size: int
) -> None:
    params: dict[str, Any] = {
        "kernel_size": (kernel,) * rank, "stride": stride if stride == "kernel" else (stride,) * rank,
        "padding": (padding,) * rank, "ceil_mode": ceil,
    }  # fmt: skip
    params.update({"dilation": (dilation,) * rank} if kind == "Max" else {"count_include_pad": include})
    check_direct(valid(layer_project(f"{kind}Pool{rank}d", params, [(2, *(size, size - 1)[:rank])])))


def test_a_chain_keeps_every_layer_name_and_comes_back(traced: list[str], tmp_path: Path) -> None:
    chain = [
        ("Conv2d", "stem", {"out_channels": 6, "padding": 1, "padding_mode": "reflect"}), ("MaxPool2d", "pool", {}),
        ("DepthwiseConv2d", "dw", {"padding": "same"}), ("Upsample", "up", {"mode": "bilinear"}),
        ("ZeroPad2d", "pad", {"padding": (1, 0, 0, 1)}), ("ConvTranspose2d", "deconv", {"out_channels": 4, "stride": 2}),
        ("AdaptiveAvgPool2d", "squeeze", {"output_size": (1, 1)}), ("GlobalMaxPool2d", "gmp", {}),
    ]  # fmt: skip
    project = chain_project("convs", (3, 8, 8), chain)
    assert writable(project)
    data = onnx_bytes(project, seeded_model(project))
    assert traced == []
    assert {name for _, name, _ in chain} <= {node.name for node in onnx.load_from_string(data).graph.node}
    path = tmp_path / "convs.onnx"
    path.write_bytes(data)
    imported = import_onnx(path)
    layers = {n.name: n.type for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")}
    assert layers == {name: "Conv2d" if t == "DepthwiseConv2d" else t for t, name, _ in chain}
    assert_matches_onnxruntime(path, imported)
