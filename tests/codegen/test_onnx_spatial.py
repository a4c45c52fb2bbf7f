"""ONNX written straight from the graph for the spatial layers: Resize, Pad, shuffles, LP and 3-D pools, channel dropout.

As for the convolutions: no trace where a direct form exists, checker-clean, default attributes
left out, ONNX Runtime at another batch gives PyTorch's numbers, and the file imports back as
the same layer with the same settings. Random settings of Resize, Pad and LPPool are checked
against PyTorch too; the ones whose float32 rounding ONNX Runtime would do otherwise must go
through torch.onnx instead.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from studio.graph.catalogue.resize import copies_kept_sizes, nearest_indices
from studio.graph.shapes import analyse
from tests.codegen.cases import layer_project
from tests.codegen.onnx_checks import (
    check_direct,
    direct,
    imported_layers,
    nodes,
)

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ASYMMETRIC = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}

CASES = [  # (type, params, per-sample shapes or None, opset, operators with their attributes)
    ("Resize", {"scale_factor": (1.5, 0.75)}, None, 18, [("Resize", ASYMMETRIC)]),
    ("Resize", {"scale_factor": (2.5,), "mode": "nearest-exact"}, [(3, 5)], 18, [("Resize", {"nearest_mode": "round_prefer_ceil"})]),
    ("Resize", {"size": (5, 11), "mode": "bilinear"}, None, 18, [("Resize", {"mode": "linear", "axes": [2, 3]})]),
    (
        "Resize",
        {"scale_factor": (1.5,), "mode": "bicubic", "align_corners": True},
        None,
        18,
        [("Resize", {"mode": "cubic", "coordinate_transformation_mode": "align_corners"})],
    ),
    ("Resize", {"size": (3, 4, 5), "mode": "trilinear"}, [(2, 4, 4, 4)], 18, [("Resize", {"mode": "linear", "axes": [2, 3, 4]})]),
    ("Resize", {"scale_factor": (0.5,), "mode": "linear", "align_corners": True}, [(3, 9)], 18,
     [("Resize", {"mode": "linear", "coordinate_transformation_mode": "align_corners"})]),
    ("Pad", {}, None, 18, [("Pad", {})]),
    ("Pad", {"padding": (1, 0, 2, 2, 1, 1), "value": -0.5}, None, 18, [("Pad", {})]),
    ("Pad", {"padding": (1, 2, 0, 3), "mode": "reflect"}, None, 18, [("Pad", {"mode": "reflect"})]),
    ("Pad", {"padding": (2, 1, 1, 0, 0, 1), "mode": "replicate"}, [(3, 4, 4, 4)], 18, [("Pad", {"mode": "edge"})]),
    ("Pad", {"padding": (1, 2), "mode": "circular"}, [(6, 8)], 19, [("Pad", {"mode": "wrap"})]),
    ("Pad", {"padding": (1, 0, 0, 2, 1, 1, 2, 0), "value": 0.25}, [(2, 3, 4, 4)], 18, [("Pad", {})]),
    ("PixelShuffle", {"upscale_factor": 3}, [(18, 2, 3)], 18, [("DepthToSpace", {"blocksize": 3, "mode": "CRD"})]),
    ("PixelUnshuffle", {"downscale_factor": 2}, None, 18, [("Reshape", {}), ("Transpose", {"perm": [0, 1, 3, 5, 2, 4]}), ("Reshape", {})]),
    ("ChannelShuffle", {"groups": 3}, [(6, 5)], 18, [("Reshape", {}), ("Transpose", {"perm": [0, 2, 1, 3]}), ("Reshape", {})]),
    ("LPPool2d", {"norm_type": 4.0, "kernel_size": 3, "stride": 2}, None, 18, [("LpPool", {"kernel_shape": [3, 3], "strides": [2, 2], "p": 4})]),
    ("LPPool1d", {}, None, 18, [("LpPool", {"kernel_shape": [2], "strides": [2]})]),
    (  # a partial ceil_mode window, which PyTorch scales up as if it were whole: PyTorch's own formula
        "LPPool1d",
        {"kernel_size": 3, "stride": 2, "ceil_mode": True},
        None,
        18,
        [("Pow", {}), ("AveragePool", {"kernel_shape": [3], "strides": [2], "ceil_mode": 1}), ("Mul", {}), ("Pow", {})],
    ),
    ("LPPool2d", {"norm_type": 1.0}, None, 18, [("Pow", {}), ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}), ("Mul", {}), ("Pow", {})]),
    ("MaxPool3d", {"kernel_size": 2, "stride": 1, "padding": 1, "dilation": (1, 2, 1)}, None, 18,
     [("MaxPool", {"kernel_shape": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1], "dilations": [1, 2, 1]})]),
    ("AvgPool3d", {"kernel_size": (2, 3, 2), "stride": 1, "padding": (1, 1, 0)}, None, 18,
     [("AveragePool", {"kernel_shape": [2, 3, 2], "pads": [1, 1, 0, 1, 1, 0], "count_include_pad": 1})]),
    ("AdaptiveAvgPool3d", {"output_size": (2, 1, 4)}, None, 18, [("AveragePool", {"kernel_shape": [2, 4, 1], "strides": [2, 4, 1]})]),
    ("AdaptiveMaxPool1d", {}, None, 18, [("GlobalMaxPool", {})]),
    ("GlobalAvgPool3d", {}, None, 18, [("ReduceMean", {"keepdims": 0})]),
    ("ConvTranspose3d", {"out_channels": 4, "stride": 2, "padding": 1}, None, 18,
     [("ConvTranspose", {"kernel_shape": [3, 3, 3], "strides": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1]})]),
    ("Dropout2d", {"p": 0.3}, None, 18, [("Identity", {})]),
]


@pytest.mark.parametrize(("layer_type", "params", "shapes", "opset", "written"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_is_written_plainly_and_matches_torch(
    layer_type: str, params: dict, shapes: list | None, opset: int, written: list, traced: list[str]
) -> None:
    assert nodes(check_direct(layer_project(layer_type, params, shapes), opset)) == written
    assert traced == []


# The cases an import maps back one to one (not the Pow chain, not an Identity, and no zeros around an image)
BACK = [
    c[:4] for c in CASES
    if not any(op in ("Pow", "Identity") for op, _ in c[4]) and c[0] != "AdaptiveAvgPool3d" and (c[0], c[1]) != ("Pad", {})
]  # fmt: skip


@pytest.mark.parametrize(("layer_type", "params", "shapes", "opset"), BACK, ids=[f"{c[0]}-{i}" for i, c in enumerate(BACK)])
def test_settings_come_back(layer_type: str, params: dict, shapes: list | None, opset: int, tmp_path: Path) -> None:
    project = layer_project(layer_type, params, shapes)
    ((kind, values),) = imported_layers(check_direct(project, opset), tmp_path)
    (layer,) = [n for n in project.graph.nodes.values() if n.name == "layer"]
    assert kind == layer_type
    assert {key: values[key] for key in params} == {key: layer.params[key] for key in params}


def test_circular_padding_is_written_directly_at_every_opset() -> None:
    project = layer_project("Pad", {"padding": (1, 2), "mode": "circular"}, [(6, 8)])
    assert all(direct(project, opset) for opset in (13, 18, 19))  # slices before 19, wrap from it
    ops = {op for op, _ in nodes(check_direct(project, 13))}
    assert "Pad" not in ops and "Concat" in ops


@SETTINGS
@given(
    rank=st.integers(1, 3),
    mode=st.sampled_from(["nearest", "nearest-exact", "interpolating"]),
    corners=st.booleans(),
    by_size=st.booleans(),
    scale=st.sampled_from([0.3, 0.5, 0.7, 0.75, 1.1, 1.25, 1.5, 1.7, 2.0, 2.5, 3.0]),
    size=st.integers(1, 13),
    data=st.data(),
)
def test_resize_matches_torch(rank: int, mode: str, corners: bool, by_size: bool, scale: float, size: int, data: Any) -> None:
    if mode == "interpolating":
        mode = data.draw(st.sampled_from({1: ["linear"], 2: ["bilinear", "bicubic"], 3: ["trilinear"]}[rank]))
    else:
        corners = False
    sample = (2, *data.draw(st.lists(st.integers(1, 9), min_size=rank, max_size=rank)))
    params: dict[str, Any] = {"mode": mode, "align_corners": corners}
    params.update({"size": (size,)} if by_size else {"scale_factor": (scale,)})
    project = layer_project("Resize", params, [sample])
    assume(analyse(project.graph).is_valid and direct(project))
    check_direct(project)


@SETTINGS
@given(
    mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
    rank=st.integers(1, 3),
    pads=st.lists(st.integers(0, 3), min_size=6, max_size=6),
    value=st.sampled_from([0.0, 2.5]),
    size=st.integers(2, 5),
)
def test_pad_matches_torch(mode: str, rank: int, pads: list[int], value: float, size: int) -> None:
    params = {"padding": tuple(pads[: 2 * rank]), "mode": mode, "value": value}
    project = layer_project("Pad", params, [(2, *(size, size + 1, size - 1)[:rank])])
    assume(analyse(project.graph).is_valid)
    check_direct(project, 19)


@SETTINGS
@given(
    rank=st.integers(1, 2),
    norm=st.sampled_from([2.0, 4.0, 1.0]),
    kernel=st.integers(1, 3),
    stride=st.sampled_from(["kernel", 1, 2]),
    ceil=st.booleans(),
    size=st.integers(3, 8),
)
def test_lp_pool_matches_torch(rank: int, norm: float, kernel: int, stride: Any, ceil: bool, size: int) -> None:
    params = {"norm_type": norm, "kernel_size": (kernel,) * rank, "stride": stride if stride == "kernel" else (stride,) * rank, "ceil_mode": ceil}
    project = layer_project(f"LPPool{rank}d", params, [(2, *(size, size + 1)[:rank])])
    assume(analyse(project.graph).is_valid)
    check_direct(project)


@settings(max_examples=60, deadline=None)
@given(
    rank=st.integers(1, 3),
    exact=st.booleans(),
    size=st.integers(1, 12),
    scale=st.sampled_from([None, 0.3, 0.5, 0.7, 1.1, 1.3, 1.5, 2.0, 2.5, 3.0]),
    out=st.integers(1, 14),
)
def test_nearest_indices_are_pytorchs(rank: int, exact: bool, size: int, scale: float | None, out: int) -> None:
    import torch

    if scale is not None:
        out = math.floor(size * scale)
        assume(out >= 1)
    shape = (size, *[2] * (rank - 1))
    x = torch.arange(size, dtype=torch.float32).reshape(1, 1, size, *[1] * (rank - 1)).expand(1, 1, *shape)
    mode = "nearest-exact" if exact else "nearest"
    given_ = {"scale_factor": (scale, *[1.0] * (rank - 1))} if scale else {"size": (out, *[2] * (rank - 1))}
    y = torch.nn.functional.interpolate(x, **given_, mode=mode)
    picked = y[0, 0].reshape(out, -1)[:, 0].long().tolist()
    assert picked == nearest_indices(size, out, scale, exact, copies_kept_sizes(mode, rank))
