"""ONNX import of the spatial operators: Pad and Resize in every form PyTorch shares, depth and space, LpPool, 3-D pools.

Each file is one operator (or an exporter's three-node shuffle) built with onnx.helper; the
import must give the expected layers and settings, and its generated PyTorch code ONNX
Runtime's outputs (1e-4). Forms PyTorch computes otherwise are refused by name; the forms
that imported before these layers existed still import as they did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from studio.graph.shapes import analyse
from studio.interop.common import UnsupportedLayersError
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om


def ints(name: str, values: list[int]) -> onnx.TensorProto:
    return om.tensor(name, np.array(values, np.int64))


def floats(name: str, values: list[float]) -> onnx.TensorProto:
    return om.tensor(name, np.array(values, np.float32))


def one_node(
    op: str, sample: list[int], inits: list[onnx.TensorProto] = (), opset: int = 18, inputs: tuple[str, ...] = (), **attrs: Any
) -> onnx.ModelProto:  # type: ignore[assignment]
    """x -> op(x, *inputs) -> y, with the given initializers and attributes."""
    return om.model([om.node(op, ["x", *inputs], ["y"], "layer", **attrs)], [("x", sample)], ["y"], list(inits), opset)


def imported(proto: onnx.ModelProto, tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Import the file; check it against ONNX Runtime; return its layers and their settings."""
    path = om.save(proto, tmp_path / "model.onnx")
    model = import_onnx(path)
    assert analyse(model.project.graph).is_valid
    om.assert_matches_onnxruntime(path, model)
    return [(n.type, dict(n.params)) for n in model.project.graph.nodes.values() if n.type not in ("Input", "Output")]


def refused(proto: onnx.ModelProto, tmp_path: Path) -> str:
    """The one kind of node the import refuses."""
    with pytest.raises(UnsupportedLayersError) as caught:
        import_onnx(om.save(proto, tmp_path / "model.onnx"))
    (kind,) = caught.value.found
    return kind


PADS = [  # (sample shape, pads, mode, value, opset) -> the layer and its settings
    ([3, 5, 5], [0, 0, 1, 2, 0, 0, 3, 0], "constant", 0.0, 18, ("ZeroPad2d", {"padding": (2, 0, 1, 3)})),
    ([3, 5, 5], [0, 0, 1, 2, 0, 0, 3, 0], "constant", 1.5, 18, ("Pad", {"padding": (2, 0, 1, 3), "mode": "constant", "value": 1.5})),
    ([3, 5, 5], [0, 1, 0, 0, 0, 2, 0, 1], "constant", 0.0, 18, ("Pad", {"padding": (0, 1, 0, 0, 1, 2), "mode": "constant"})),
    ([3, 6], [0, 0, 2, 0, 0, 1], "constant", -1.0, 18, ("Pad", {"padding": (2, 1), "value": -1.0})),
    ([3, 5, 5], [0, 0, 1, 2, 0, 0, 3, 0], "reflect", 0.0, 18, ("Pad", {"padding": (2, 0, 1, 3), "mode": "reflect"})),
    ([2, 3, 4, 5], [0, 0, 1, 0, 2, 0, 0, 0, 3, 1], "edge", 0.0, 18, ("Pad", {"padding": (2, 1, 0, 3, 1, 0), "mode": "replicate"})),
    ([2, 6], [0, 0, 3, 0, 0, 2], "wrap", 0.0, 19, ("Pad", {"padding": (3, 2), "mode": "circular"})),
]


@pytest.mark.parametrize(("sample", "pads", "mode", "value", "opset", "expected"), PADS, ids=[f"{p[2]}-{i}" for i, p in enumerate(PADS)])
def test_pad_becomes_a_pad_layer(
    sample: list[int], pads: list[int], mode: str, value: float, opset: int, expected: tuple, tmp_path: Path
) -> None:
    inits = [ints("pads", pads), floats("value", [value])]
    ((kind, params),) = imported(one_node("Pad", sample, inits, opset, ("pads", "value"), mode=mode), tmp_path)
    assert kind == expected[0] and {k: params[k] for k in expected[1]} == expected[1]


@pytest.mark.parametrize(
    ("sample", "pads", "mode", "kind"),
    [
        ([3, 5, 5], [0, 0, -1, 0, 0, 0, 0, 0], "constant", "Pad (negative pads: a crop)"),
        ([3, 5, 5], [0, 1, 1, 0, 0, 0, 1, 0], "reflect", "Pad (reflect padding of the channels or of a 4-D tensor)"),
        ([3, 5, 5], [1, 0, 0, 0, 0, 0, 0, 0], "constant", "Pad (of the batch axis)"),
    ],
)
def test_pads_pytorch_has_no_layer_for_are_refused(sample: list[int], pads: list[int], mode: str, kind: str, tmp_path: Path) -> None:
    assert refused(one_node("Pad", sample, [ints("pads", pads)], 18, ("pads",), mode=mode), tmp_path) == kind


SCALES = [  # (sample shape, scales or sizes, attributes) -> the layer and its settings
    ([2, 6, 4], {"scales": [1, 1, 1.5, 0.75]}, {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
     ("Resize", {"mode": "nearest", "size": "scale", "scale_factor": (1.5, 0.75)})),
    ([2, 5], {"sizes": [9]}, {"nearest_mode": "round_prefer_ceil", "axes": [2]}, ("Resize", {"mode": "nearest-exact", "size": (9,)})),
    ([2, 5, 5], {"scales": [1, 1, 0.5, 0.5]}, {"coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": "floor"},
     ("Resize", {"mode": "nearest-exact", "scale_factor": (0.5,)})),
    ([2, 4, 5], {"sizes": [7, 3]}, {"mode": "linear", "coordinate_transformation_mode": "align_corners", "axes": [2, 3]},
     ("Resize", {"mode": "bilinear", "size": (7, 3), "align_corners": True})),
    ([2, 6], {"scales": [1, 1, 2.5]}, {"mode": "linear"}, ("Resize", {"mode": "linear", "scale_factor": (2.5,)})),
    ([2, 3, 4, 4], {"scales": [1, 1, 2, 1, 0.5]}, {"mode": "linear"}, ("Resize", {"mode": "trilinear", "scale_factor": (2.0, 1.0, 0.5)})),
    ([2, 4, 4], {"scales": [1, 1, 1.5, 1.5]}, {"mode": "cubic"}, ("Resize", {"mode": "bicubic", "scale_factor": (1.5,)})),
    ([2, 4, 4], {"scales": [1, 1, 2, 2]}, {"mode": "cubic", "coordinate_transformation_mode": "align_corners"},
     ("Resize", {"mode": "bicubic", "scale_factor": (2.0,), "align_corners": True})),
    # what imported before Resize existed imports as it did
    ([2, 3, 3], {"scales": [1, 1, 2, 3]}, {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
     ("Upsample", {"scale_factor": (2, 3), "mode": "nearest"})),
    ([2, 3, 3], {"scales": [1, 1, 2, 2]}, {"coordinate_transformation_mode": "asymmetric"}, ("Upsample", {"scale_factor": (2, 2)})),
    ([2, 3, 3], {"scales": [1, 1, 2, 2]}, {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
     ("Upsample", {"mode": "bilinear"})),
]  # fmt: skip


def resize(sample: list[int], given: dict[str, list], attrs: dict[str, Any]) -> onnx.ModelProto:
    if "sizes" in given:
        return one_node("Resize", sample, [ints("sizes", given["sizes"])], 18, ("", "", "sizes"), **attrs)
    return one_node("Resize", sample, [floats("scales", given["scales"])], 18, ("", "scales"), **attrs)


@pytest.mark.parametrize(("sample", "given", "attrs", "expected"), SCALES, ids=[f"{s[3][0]}-{i}" for i, s in enumerate(SCALES)])
def test_resize_becomes_resize_or_upsample(sample: list[int], given: dict, attrs: dict, expected: tuple, tmp_path: Path) -> None:
    ((kind, params),) = imported(resize(sample, given, attrs), tmp_path)
    assert kind == expected[0] and {k: params[k] for k in expected[1]} == expected[1]


@pytest.mark.parametrize(
    ("sample", "given", "attrs", "kind"),
    [
        ([2, 4, 4], {"scales": [1, 1, 3, 3]}, {"coordinate_transformation_mode": "asymmetric"},  # rounds, PyTorch floors
         "Resize (nearest with asymmetric coordinates rounded round_prefer_floor)"),
        ([2, 4, 4], {"scales": [1, 1, 2, 2]}, {"mode": "cubic", "cubic_coeff_a": -0.5}, "Resize (a cubic kernel other than PyTorch's, a = -0.75)"),
        ([2, 4, 4], {"scales": [1, 1, 1.5, 1.5]}, {"mode": "linear", "coordinate_transformation_mode": "asymmetric"},
         "Resize (linear with asymmetric coordinates)"),
        ([2, 4], {"scales": [1, 1, 2]}, {"mode": "cubic"}, "Resize (cubic over 1 spatial axes)"),
        ([2, 4, 4], {"scales": [1, 2, 2, 2]}, {}, "Resize (scales [1.0, 2.0, 2.0, 2.0]: only the spatial axes of a 3-D to 5-D tensor)"),
    ],
)  # fmt: skip
def test_resizes_pytorch_computes_otherwise_are_refused(sample: list[int], given: dict, attrs: dict, kind: str, tmp_path: Path) -> None:
    assert refused(resize(sample, given, attrs), tmp_path) == kind


@pytest.mark.parametrize(
    ("op", "sample", "attrs", "expected"),
    [
        ("DepthToSpace", [8, 3, 2], {"blocksize": 2, "mode": "CRD"}, [("PixelShuffle", {"upscale_factor": 2})]),
        ("DepthToSpace", [18, 2, 3], {"blocksize": 3}, [("ChannelShuffle", {"groups": 9}), ("PixelShuffle", {"upscale_factor": 3})]),
        ("SpaceToDepth", [3, 4, 6], {"blocksize": 2}, [("PixelUnshuffle", {"downscale_factor": 2}), ("ChannelShuffle", {"groups": 3})]),
        ("SpaceToDepth", [1, 4, 6], {"blocksize": 2}, [("PixelUnshuffle", {"downscale_factor": 2})]),
        ("LpPool", [3, 7], {"kernel_shape": [3], "strides": [2]}, [("LPPool1d", {"norm_type": 2.0, "kernel_size": (3,), "stride": (2,)})]),
        ("LpPool", [3, 6, 6], {"kernel_shape": [2, 2], "p": 4}, [("LPPool2d", {"norm_type": 4.0, "stride": (1, 1)})]),
        ("MaxPool", [2, 5, 6, 4], {"kernel_shape": [2, 3, 2], "strides": [2, 1, 2], "pads": [1, 0, 0, 1, 0, 0]},
         [("MaxPool3d", {"kernel_size": (2, 3, 2), "stride": (2, 1, 2), "padding": (1, 0, 0)})]),
        ("AveragePool", [2, 4, 4, 4], {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2]}, [("AvgPool3d", {"kernel_size": (2, 2, 2)})]),
        ("GlobalMaxPool", [3, 5], {}, [("AdaptiveMaxPool1d", {"output_size": (1,)})]),
        ("GlobalAveragePool", [2, 3, 4, 5], {}, [("AdaptiveAvgPool3d", {"output_size": (1, 1, 1)})]),
        ("ReduceMax", [2, 3, 4, 5], {"keepdims": 0}, [("GlobalMaxPool3d", {})]),
    ],
)  # fmt: skip
def test_one_operator_becomes_its_layers(op: str, sample: list[int], attrs: dict, expected: list, tmp_path: Path) -> None:
    inputs, inits = ((), [])
    if op == "ReduceMax":
        inputs, inits = ("axes",), [ints("axes", [2, 3, 4])]
    layers = imported(one_node(op, sample, inits, 18, inputs, **attrs), tmp_path)
    assert [kind for kind, _ in layers] == [kind for kind, _ in expected]
    for (_, params), (_, wanted) in zip(layers, expected):
        assert {k: params[k] for k in wanted} == wanted


def test_a_3d_transposed_convolution_keeps_its_weights(tmp_path: Path) -> None:
    weight, bias = om.rand(3, 2, 2, 3, 2), om.rand(2, seed=1)
    attrs = {"strides": [2, 1, 2], "pads": [1, 0, 0, 1, 0, 0]}
    proto = one_node("ConvTranspose", [3, 3, 4, 3], [om.tensor("w", weight), om.tensor("b", bias)], 18, ("w", "b"), **attrs)
    ((kind, params),) = imported(proto, tmp_path)
    assert kind == "ConvTranspose3d" and params["kernel_size"] == (2, 3, 2) and params["stride"] == (2, 1, 2)


@pytest.mark.parametrize(
    ("op", "attrs", "kind"),
    [
        ("LpPool", {"kernel_shape": [2, 2], "p": 1}, "LpPool (2-D, p 1: PyTorch's LPPool agrees for an even p over 1 or 2 spatial axes)"),
        ("LpPool", {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1]}, "LpPool (padding or dilations, which PyTorch's LPPool lacks)"),
        ("LpPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, "LpPool (a partial ceil_mode window, which PyTorch's LPPool scales up)"),
    ],
)
def test_lp_pools_pytorch_computes_otherwise_are_refused(op: str, attrs: dict, kind: str, tmp_path: Path) -> None:
    assert refused(one_node(op, [3, 5, 5], [], 18, **attrs), tmp_path) == kind


SHUFFLES = [  # (sample, first shape, perm, second shape) -> the layer
    ([6, 3, 2], [0, 2, 3, 3, 2], [0, 2, 1, 3, 4], [0, 6, 3, 2], ("ChannelShuffle", {"groups": 2})),
    ([2, 4, 6], [0, 2, 2, 2, 3, 2], [0, 1, 3, 5, 2, 4], [0, 8, 2, 3], ("PixelUnshuffle", {"downscale_factor": 2})),
    ([18, 2, 3], [0, 2, 3, 3, 2, 3], [0, 1, 4, 2, 5, 3], [-1, 2, 6, 9], ("PixelShuffle", {"upscale_factor": 3})),
]


@pytest.mark.parametrize(("sample", "first", "perm", "second", "expected"), SHUFFLES, ids=[s[4][0] for s in SHUFFLES])
def test_reshape_transpose_reshape_is_a_shuffle(
    sample: list[int], first: list[int], perm: list[int], second: list[int], expected: tuple, tmp_path: Path
) -> None:
    nodes = [
        om.node("Reshape", ["x", "first"], ["split"], "split"), om.node("Transpose", ["split"], ["moved"], "move", perm=perm),
        om.node("Reshape", ["moved", "second"], ["y"], "layer"),
    ]  # fmt: skip
    proto = om.model(nodes, [("x", sample)], ["y"], [ints("first", first), ints("second", second)])
    assert imported(proto, tmp_path) == [expected]


@pytest.mark.parametrize(
    ("module", "opset", "dynamo"),
    [
        *[(shuffle, 13, False) for shuffle in (torch.nn.PixelShuffle(2), torch.nn.PixelUnshuffle(2))],  # TorchScript has no channel_shuffle
        *[(shuffle, 18, True) for shuffle in (torch.nn.PixelShuffle(2), torch.nn.PixelUnshuffle(2), torch.nn.ChannelShuffle(4))],
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, torch.nn.Module) else str(v),
)
def test_torch_exports_of_the_shuffles_come_back_as_them(module: torch.nn.Module, opset: int, dynamo: bool, tmp_path: Path) -> None:
    path = om.export_torch(module, torch.randn(2, 8, 4, 6), tmp_path / "shuffle.onnx", opset, dynamo)
    model = import_onnx(path)
    om.assert_matches_onnxruntime(path, model)
    assert {n.type for n in model.project.graph.nodes.values()} - {"Input", "Output"} == {type(module).__name__}
