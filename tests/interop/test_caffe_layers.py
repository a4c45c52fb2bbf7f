"""Caffe layer mappings: each layer type and setting onto its catalogue layer, or reported by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.graph import analyse
from studio.interop.common import ModelImportError
from tests.interop.caffe_nets import (
    HEADER,
    conv,
    feeder,
    layer,
    load,
    node,
    out_shape,
    unsupported,
)


@pytest.mark.parametrize(
    ("settings", "expected", "shape"),
    [
        (
            "num_output: 4 kernel_size: 3",
            {"kernel_size": (3, 3), "stride": (1, 1), "padding": (0, 0), "bias": True},
            (None, 4, 6, 6),
        ),
        (
            "num_output: 4 kernel_h: 3 kernel_w: 1 pad_h: 1 stride_h: 2 stride_w: 1",
            {"kernel_size": (3, 1), "padding": (1, 0), "stride": (2, 1)},
            (None, 4, 4, 8),
        ),
        (
            "num_output: 6 kernel_size: 3 kernel_size: 1 pad: 1 pad: 0 group: 3 bias_term: false",
            {"kernel_size": (3, 1), "groups": 3, "bias": False},
            (None, 6, 8, 8),
        ),
        (
            "num_output: 2 kernel_size: 3 dilation: 2 stride: 2",
            {"dilation": (2, 2), "stride": (2, 2)},
            (None, 2, 2, 2),
        ),
    ],
)
def test_convolution_forms(
    tmp_path: Path, settings: str, expected: dict, shape: tuple
) -> None:
    model = load(tmp_path, HEADER + conv("conv", "data", settings))
    found = node(model, "conv")
    assert found.type == "Conv2d"
    assert {k: found.params[k] for k in expected} == expected
    assert out_shape(model, "conv") == shape


def test_convolution_over_one_and_three_spatial_axes(tmp_path: Path) -> None:
    one = load(
        tmp_path,
        'input: "x" input_shape { dim: 1 dim: 2 dim: 9 }\n'
        + conv("c", "x", "num_output: 3 kernel_size: 3"),
    )
    assert node(one, "c").type == "Conv1d" and out_shape(one, "c") == (None, 3, 7)
    three = load(
        tmp_path,
        'input: "x" input_shape { dim: 1 dim: 2 dim: 4 dim: 4 dim: 4 }\n'
        + conv("c", "x", "num_output: 3 kernel_size: 3 pad: 1"),
    )
    assert node(three, "c").type == "Conv3d" and out_shape(three, "c") == (
        None,
        3,
        4,
        4,
        4,
    )


def test_deconvolution(tmp_path: Path) -> None:
    text = HEADER + layer(
        "up",
        "Deconvolution",
        "data",
        body="convolution_param { num_output: 2 kernel_size: 4 stride: 2 pad: 1 bias_term: false }",
    )
    model = load(tmp_path, text)
    up = node(model, "up")
    assert (
        up.type == "ConvTranspose2d"
        and not up.params["bias"]
        and out_shape(model, "up") == (None, 2, 16, 16)
    )


def test_in_place_layers_mean_the_latest_writer(tmp_path: Path) -> None:
    text = (
        HEADER
        + conv("conv", "data", "num_output: 4 kernel_size: 1")
        + layer("relu", "ReLU", "conv", "conv")
    )
    text += layer("drop", "Dropout", "conv", "conv") + conv(
        "next", "conv", "num_output: 2 kernel_size: 1"
    )
    model = load(tmp_path, text)
    assert (
        feeder(model, "relu") == "conv"
        and feeder(model, "drop") == "relu"
        and feeder(model, "next") == "drop"
    )
    assert feeder(model, "next_output") == "next"


@pytest.mark.parametrize(
    ("settings", "kind", "params", "shape"),
    [
        (
            "pool: MAX kernel_size: 3 stride: 2",
            "MaxPool2d",
            {"ceil_mode": True, "stride": (2, 2)},
            (None, 3, 4, 4),
        ),
        (
            "pool: MAX kernel_size: 3 stride: 2 round_mode: FLOOR",
            "MaxPool2d",
            {"ceil_mode": False},
            (None, 3, 3, 3),
        ),
        (
            "pool: AVE kernel_size: 3 stride: 2 pad: 1",
            "AvgPool2d",
            {"count_include_pad": True, "padding": (1, 1)},
            (None, 3, 5, 5),
        ),
        (
            "kernel_h: 2 kernel_w: 1",
            "MaxPool2d",
            {"kernel_size": (2, 1), "stride": (1, 1)},
            (None, 3, 7, 8),
        ),
        ("pool: AVE global_pooling: true", "GlobalAvgPool2d", {}, (None, 3)),
        ("pool: MAX global_pooling: true", "GlobalMaxPool2d", {}, (None, 3)),
    ],
)
def test_pooling(
    tmp_path: Path, settings: str, kind: str, params: dict, shape: tuple
) -> None:
    model = load(
        tmp_path,
        HEADER
        + layer("pool", "Pooling", "data", body=f"pooling_param {{ {settings} }}"),
    )
    pool = node(model, "pool")
    assert pool.type == kind and {k: pool.params[k] for k in params} == params
    assert out_shape(model, "pool") == shape


def test_global_pooling_keeps_caffes_4d_blob_only_where_a_layer_needs_it(
    tmp_path: Path,
) -> None:
    text = HEADER + layer(
        "pool",
        "Pooling",
        "data",
        body="pooling_param { pool: AVE global_pooling: true }",
    )
    text += (
        layer("relu", "ReLU", "pool", "pool")
        + layer("prob", "Softmax", "pool")
        + conv("conv", "pool", "num_output: 5 kernel_size: 1")
    )
    model = load(tmp_path, text)
    assert feeder(model, "prob") == "relu"  # softmax over channels: (N, C) serves
    assert feeder(model, "conv") == "relu/unsqueeze" and out_shape(model, "conv") == (
        None,
        5,
        1,
        1,
    )


@pytest.mark.parametrize(
    ("settings", "kind"),
    [
        ("pool: STOCHASTIC kernel_size: 2", "Pooling STOCHASTIC (no catalogue layer"),
        ("kernel_size: 3 pad: 2", "Pooling (pad more than half the kernel"),
        ("kernel_size: 1 stride: 3", "Pooling (stride larger than the kernel"),
    ],
)
def test_pooling_caffe_computes_differently_is_reported(
    tmp_path: Path, settings: str, kind: str
) -> None:
    text = 'input: "data" input_shape { dim: 1 dim: 3 dim: 6 dim: 6 }\n'
    err = unsupported(
        tmp_path,
        text + layer("pool", "Pooling", "data", body=f"pooling_param {{ {settings} }}"),
    )
    assert any(k.startswith(kind) for k in err.found)


def test_inner_product_flattens_implicitly(tmp_path: Path) -> None:
    text = HEADER + layer(
        "fc",
        "InnerProduct",
        "data",
        body="inner_product_param { num_output: 5 bias_term: false }",
    )
    text += layer(
        "fc2", "InnerProduct", "fc", body="inner_product_param { num_output: 2 }"
    )
    model = load(tmp_path, text)
    assert (
        feeder(model, "fc") == "fc/flatten"
        and node(model, "fc/flatten").type == "Flatten"
    )
    assert not node(model, "fc").params["bias"] and out_shape(model, "fc") == (None, 5)
    assert feeder(model, "fc2") == "fc"  # already 2-D: no Flatten
    assert (
        analyse(model.project.graph).summary().trainable_params == 192 * 5 + 5 * 2 + 2
    )


def test_inner_product_over_the_last_axis(tmp_path: Path) -> None:
    text = 'input: "x" input_shape { dim: 1 dim: 6 dim: 4 }\n' + layer(
        "fc", "InnerProduct", "x", body="inner_product_param { num_output: 3 axis: 2 }"
    )
    model = load(tmp_path, text)
    assert feeder(model, "fc") == "x" and out_shape(model, "fc") == (None, 6, 3)
    text = HEADER + layer(
        "fc",
        "InnerProduct",
        "data",
        body="inner_product_param { num_output: 3 axis: 2 }",
    )
    model = load(tmp_path, text)
    assert node(model, "fc/flatten").params["shape"] == (3, 64) and out_shape(
        model, "fc"
    ) == (None, 3, 3)


@pytest.mark.parametrize(
    ("caffe", "body", "kind", "params"),
    [
        ("ReLU", "", "ReLU", {}),
        (
            "ReLU",
            "relu_param { negative_slope: 0.1 }",
            "LeakyReLU",
            {"negative_slope": 0.1},
        ),
        ("PReLU", "", "PReLU", {"per_channel": True}),
        (
            "PReLU",
            "prelu_param { channel_shared: true filler { value: 0.5 } }",
            "PReLU",
            {"per_channel": False, "init": 0.5},
        ),
        ("Sigmoid", "", "Sigmoid", {}),
        ("TanH", "", "Tanh", {}),
        ("ELU", "elu_param { alpha: 0.5 }", "ELU", {"alpha": 0.5}),
        ("BNLL", "", "Softplus", {"beta": 1.0}),
        ("Clip", "clip_param { min: 0 max: 6 }", "ReLU6", {}),
        ("Swish", "", "SiLU", {}),
        ("Dropout", "dropout_param { dropout_ratio: 0.3 }", "Dropout", {"p": 0.3}),
        ("Softmax", "", "Softmax", {"dim": 1}),
        ("Softmax", "softmax_param { axis: -1 }", "Softmax", {"dim": 3}),
        (
            "LRN",
            "lrn_param { local_size: 3 alpha: 0.001 beta: 0.5 k: 2 }",
            "LocalResponseNorm",
            {"size": 3, "alpha": 0.001, "beta": 0.5, "k": 2.0},
        ),
        ("MVN", "", "InstanceNorm2d", {"affine": False}),
        ("Clip", "clip_param { min: -1 max: 0.5 }", "Clip", {"min": (-1.0,), "max": (0.5,)}),
        ("AbsVal", "", "Abs", {}),
        ("Exp", "", "Exp", {}),
        ("Log", "", "Log", {}),
        ("Power", "power_param { scale: -1 }", "Neg", {}),
        ("Power", "power_param { power: -0.5 }", "Rsqrt", {}),
        ("Power", "power_param { power: 3 }", "Pow", {"exponent": 3.0}),
    ],
)
def test_one_to_one_layers(
    tmp_path: Path, caffe: str, body: str, kind: str, params: dict
) -> None:
    model = load(tmp_path, HEADER + layer("x", caffe, "data", body=body))
    found = node(model, "x")
    assert found.type == kind and {k: found.params[k] for k in params} == params
    assert out_shape(model, "x") == (None, 3, 8, 8)


@pytest.mark.parametrize(
    ("caffe", "body", "kind"),
    [
        ("LRN", "lrn_param { norm_region: WITHIN_CHANNEL }", "LRN WITHIN_CHANNEL"),
        ("Clip", "clip_param { min: -1 }", "Clip (without both min and max"),
        ("ReLU", "relu_param { negative_slope: 2 }", "ReLU ("),
        ("Swish", "swish_param { beta: 2 }", "Swish (beta other than 1)"),
        (
            "Scale",
            "scale_param { bias_term: true }",
            "Scale (not right after a BatchNorm)",
        ),
        ("Tile", "tile_param { axis: 0 tiles: 2 }", "Tile along the batch axis"),
        ("Reduction", "reduction_param { operation: SUMSQ axis: 1 }", "Reduction SUMSQ"),
        ("ArgMax", "argmax_param { top_k: 2 axis: 1 }", "ArgMax with out_max_val or a top_k above 1"),
        ("Slice", "slice_param { axis: 0 slice_point: 1 }", "Slice along the batch axis"),
        ("Threshold", "", "Threshold"),
        ("Log", "log_param { base: -2 }", "Log (base -2"),
    ],
)
def test_layers_and_settings_without_a_mapping_are_reported(
    tmp_path: Path, caffe: str, body: str, kind: str
) -> None:
    err = unsupported(tmp_path, HEADER + layer("x", caffe, "data", body=body))
    assert any(k.startswith(kind) for k in err.found), err.found


def test_every_unmapped_layer_is_reported_at_once_with_count_and_first_name(
    tmp_path: Path,
) -> None:
    text = HEADER + layer("step1", "Threshold", "data") + layer("step2", "Threshold", "step1")
    text += layer("s", "Crop", "data", body="crop_param { axis: 2 }") + layer(
        "relu", "ReLU", "step2"
    )
    text += layer(
        "py", "Python", "relu", body='python_param { module: "m" layer: "L" }'
    )
    err = unsupported(tmp_path, text)
    assert err.found == {"Threshold": (2, "step1"), "Crop": (1, "s"), "Python": (1, "py")}
    assert (
        "Threshold: 2" in str(err) and "'step1'" in str(err) and "net.prototxt" in str(err)
    )


def test_batch_norm_with_scale_is_one_node_with_its_affine_part(tmp_path: Path) -> None:
    text = HEADER + layer(
        "bn",
        "BatchNorm",
        "data",
        body="batch_norm_param { eps: 0.001 moving_average_fraction: 0.9 }",
    )
    text += layer("scale", "Scale", "bn", "bn", "scale_param { bias_term: true }")
    model = load(tmp_path, text)
    bn = node(model, "bn")
    assert (
        bn.type == "BatchNorm2d"
        and bn.params["affine"]
        and bn.params["track_running_stats"]
    )
    assert bn.params["eps"] == 0.001 and bn.params["momentum"] == pytest.approx(0.1)
    assert [n.type for n in model.project.graph.nodes.values()].count(
        "BatchNorm2d"
    ) == 1
    assert analyse(model.project.graph).summary().trainable_params == 6


def test_batch_norm_alone_has_no_affine_part_and_may_use_batch_statistics(
    tmp_path: Path,
) -> None:
    model = load(
        tmp_path,
        HEADER
        + layer(
            "bn",
            "BatchNorm",
            "data",
            body="batch_norm_param { use_global_stats: false }",
        ),
    )
    bn = node(model, "bn")
    assert not bn.params["affine"] and not bn.params["track_running_stats"]
    assert analyse(model.project.graph).summary().trainable_params == 0


def test_a_scale_without_bias_still_joins_its_batch_norm_with_a_warning(
    tmp_path: Path,
) -> None:
    text = (
        HEADER + layer("bn", "BatchNorm", "data") + layer("scale", "Scale", "bn", "bn")
    )
    model = load(tmp_path, text)
    assert node(model, "bn").params["affine"]
    assert any("Scale layer 'scale' learns no shift" in w for w in model.warnings)


def test_a_scale_after_a_batch_norm_someone_else_reads_is_not_folded(
    tmp_path: Path,
) -> None:
    text = (
        HEADER + layer("bn", "BatchNorm", "data") + layer("relu", "ReLU", "bn", "other")
    )
    text += layer("scale", "Scale", "bn", "scaled", "scale_param { bias_term: true }")
    err = unsupported(tmp_path, text)
    assert "Scale (not right after a BatchNorm)" in err.found


def test_batch_norm_after_inner_product_is_one_dimensional(tmp_path: Path) -> None:
    text = (
        HEADER
        + layer(
            "fc", "InnerProduct", "data", body="inner_product_param { num_output: 4 }"
        )
        + layer("bn", "BatchNorm", "fc")
    )
    assert node(load(tmp_path, text), "bn").type == "BatchNorm1d"


@pytest.mark.parametrize(
    ("body", "bottoms", "kind", "params"),
    [
        ("", 3, "Add", {"num_inputs": 3}),
        (
            "eltwise_param { operation: SUM coeff: 1 coeff: 1 }",
            2,
            "Add",
            {"num_inputs": 2},
        ),
        ("eltwise_param { operation: SUM coeff: 1 coeff: -1 }", 2, "Subtract", {}),
        ("eltwise_param { operation: PROD }", 2, "Multiply", {"num_inputs": 2}),
        ("eltwise_param { operation: MAX }", 4, "Maximum", {"num_inputs": 4}),
    ],
)
def test_eltwise(
    tmp_path: Path, body: str, bottoms: int, kind: str, params: dict
) -> None:
    text = HEADER + "".join(layer(f"r{i}", "ReLU", "data") for i in range(bottoms))
    model = load(
        tmp_path,
        text + layer("sum", "Eltwise", [f"r{i}" for i in range(bottoms)], body=body),
    )
    found = node(model, "sum")
    assert found.type == kind and {k: found.params[k] for k in params} == params
    assert [feeder(model, "sum", f"in{i + 1}") for i in range(bottoms)] == [
        f"r{i}" for i in range(bottoms)
    ]


def test_eltwise_sum_with_other_coefficients_is_reported(tmp_path: Path) -> None:
    text = (
        HEADER
        + layer("a", "ReLU", "data")
        + layer(
            "sum",
            "Eltwise",
            ["data", "a"],
            body="eltwise_param { coeff: 0.5 coeff: 0.5 }",
        )
    )
    assert (
        "Eltwise SUM with coefficients other than all 1 or (1, -1)"
        in unsupported(tmp_path, text).found
    )


def _slice(points: str, tops: list[str], bottom: str = "data") -> str:
    wires = f' bottom: "{bottom}"' + "".join(f' top: "{t}"' for t in tops)
    return f'layer {{ name: "cut" type: "Slice"{wires} slice_param {{ {points} }} }}\n'


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ("axis: 1 slice_point: 1 slice_point: 2", [(1, 0, 1), (1, 1, 1), (1, 2, 1)]),
        ("slice_dim: 2 slice_point: 2 slice_point: 6", [(2, 0, 2), (2, 2, 4), (2, 6, 2)]),
        ("axis: -1 slice_point: 3 slice_point: 6", [(3, 0, 3), (3, 3, 3), (3, 6, 3)]),
    ],
)
def test_slice_becomes_one_slice_node_per_top(tmp_path: Path, points: str, expected: list) -> None:
    text = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 9 }\n' + _slice(points, ["a", "b", "c"])
    model = load(tmp_path, text)
    found = [node(model, top) for top in "abc"]
    assert all(n.type == "Slice" and feeder(model, n.name) == "data" for n in found)
    assert [(n.params["dim"], n.params["start"], n.params["length"]) for n in found] == expected
    dim = expected[0][0]
    assert [out_shape(model, top)[dim] for top in "abc"] == [length for _, _, length in expected]


def test_slice_without_points_cuts_equal_parts(tmp_path: Path) -> None:
    model = load(tmp_path, 'input: "data"\ninput_shape { dim: 1 dim: 6 dim: 4 }\n' + _slice("", ["a", "b", "c"]))
    assert [node(model, t).params["start"] for t in "abc"] == [0, 2, 4]
    assert all(out_shape(model, t) == (None, 2, 4) for t in "abc")


@pytest.mark.parametrize(
    ("points", "words"),
    [
        ("", "do not split into 2 equal tops"),
        ("slice_point: 1 slice_point: 2", "2 slice_point values for 2 tops"),
        ("slice_point: 3", "must rise strictly between 0 and 3"),
        ("slice_point: 0", "must rise strictly"),
    ],
)
def test_slices_caffe_would_refuse_are_named(tmp_path: Path, points: str, words: str) -> None:
    with pytest.raises(ModelImportError, match=words):
        load(tmp_path, HEADER + _slice(points, ["a", "b"]))


def test_a_siamese_pair_sliced_from_a_data_layer_keeps_the_rest_in_its_last_piece(tmp_path: Path) -> None:
    text = (
        'layer { name: "pairs" type: "Data" top: "pair_data" top: "sim" data_param { source: "pairs_lmdb" batch_size: 64 } }\n'
        + _slice("slice_dim: 1 slice_point: 1", ["left", "right"], "pair_data")
        + layer("fl", "InnerProduct", "left", body="inner_product_param { num_output: 4 }")
        + layer("fr", "InnerProduct", "right", body="inner_product_param { num_output: 4 }")
    )
    model = load(tmp_path, text)
    assert (node(model, "left").params["start"], node(model, "left").params["length"]) == (0, 1)
    assert (node(model, "right").params["start"], node(model, "right").params["length"]) == (1, 0)  # to the end
    graph = model.project.graph
    graph.set_param(node(model, "pairs").id, "shape", (2, 28, 28))
    assert not [d for d in analyse(graph).diagnostics() if d.severity == "error"]
    assert out_shape(model, "right") == (None, 1, 28, 28)


def test_concat_split_flatten_and_reshape(tmp_path: Path) -> None:
    text = HEADER + layer("split", "Split", "data", body='top: "b"')
    text += layer("cat", "Concat", ["split", "b"], body="concat_param { axis: 1 }")
    text += layer("wide", "Concat", ["cat", "cat"], body="concat_param { axis: 3 }")
    text += layer("flat", "Flatten", "wide")
    text += layer(
        "shape",
        "Reshape",
        "wide",
        body="reshape_param { shape { dim: 0 dim: 2 dim: -1 } }",
    )
    text += layer("part", "Flatten", "wide", body="flatten_param { axis: 2 }")
    model = load(tmp_path, text)
    assert [feeder(model, "cat", p) for p in ("in1", "in2")] == ["data", "data"]
    assert (
        out_shape(model, "cat") == (None, 6, 8, 8)
        and node(model, "wide").params["dim"] == 3
    )
    assert out_shape(model, "wide") == (None, 6, 8, 16)
    assert node(model, "flat").type == "Flatten" and out_shape(model, "flat") == (
        None,
        768,
    )
    assert node(model, "shape").params["shape"] == (2, -1) and out_shape(
        model, "shape"
    ) == (None, 2, 384)
    assert node(model, "part").type == "Reshape" and out_shape(model, "part") == (
        None,
        6,
        128,
    )


def test_reshape_copies_axes_and_keeps_the_batch(tmp_path: Path) -> None:
    text = HEADER + layer(
        "r", "Reshape", "data", body="reshape_param { shape { dim: 0 dim: 0 dim: 64 } }"
    )
    text += layer(
        "r2", "Reshape", "r", body="reshape_param { shape { dim: -1 dim: 192 } }"
    )
    text += layer(
        "r3", "Reshape", "r2", body="reshape_param { axis: 1 shape { dim: 4 dim: 48 } }"
    )
    model = load(tmp_path, text)
    assert out_shape(model, "r") == (None, 3, 64) and out_shape(model, "r2") == (
        None,
        192,
    )
    assert out_shape(model, "r3") == (None, 4, 48)
    bad = HEADER + layer(
        "r", "Reshape", "data", body="reshape_param { shape { dim: 2 dim: -1 } }"
    )
    assert "Reshape that changes the batch axis" in unsupported(tmp_path, bad).found


def test_layers_after_a_failed_one_are_still_checked(tmp_path: Path) -> None:
    text = HEADER + layer(
        "n", "LRN", "data", body="lrn_param { norm_region: WITHIN_CHANNEL }"
    )
    text += layer("bn", "BatchNorm", "n") + layer("scale", "Scale", "bn", "bn")
    text += layer("flat", "Flatten", "bn", body="flatten_param { axis: 2 }")
    text += layer(
        "e", "Eltwise", ["data", "n"], body="eltwise_param { coeff: 0.5 coeff: 2 }"
    )
    err = unsupported(tmp_path, text)
    assert set(err.found) == {
        "LRN WITHIN_CHANNEL (no catalogue layer normalizes over a spatial neighbourhood)",
        "Eltwise SUM with coefficients other than all 1 or (1, -1)",
    }


def test_a_slice_piece_that_is_only_silenced_is_left_out(tmp_path: Path) -> None:
    text = HEADER + _slice("slice_point: 1", ["kept", "dropped"])
    text += 'layer { name: "quiet" type: "Silence" bottom: "dropped" }\n'
    model = load(tmp_path, text)
    graph = model.project.graph
    assert graph.node_by_name("dropped") is None
    assert sorted(n.type for n in graph.nodes.values()) == ["Input", "Output", "Slice"]
    assert out_shape(model, "kept") == (None, 1, 8, 8)
