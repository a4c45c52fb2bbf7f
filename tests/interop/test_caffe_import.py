"""Caffe prototxt import: the real nets with their exact counts, inputs, phases, data and loss layers, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.codegen.caffe import generate_caffe
from studio.codegen.names import CodegenError
from studio.graph import analyse
from studio.graph.project import Project, load_project
from studio.interop.caffe_import import import_caffe
from studio.interop.common import (
    ModelImportError,
    UnsupportedLayersError,
    import_model,
)
from studio.interop.prototxt import MAX_CHARS, parse
from tests.codegen.cases import CAFFE_VARIANTS, EXAMPLES, single_layer, supported
from tests.interop.caffe_nets import (
    HEADER,
    MODELS,
    conv,
    feeder,
    layer,
    load,
    node,
    out_shape,
    unsupported,
)

# ----- the real nets -----
REAL = [
    ("lenet", 431_080, (None, 10)),
    ("cifar10_quick", 145_578, (None, 10)),
    ("bvlc_alexnet_deploy", 60_965_224, (None, 1000)),
    ("bvlc_googlenet_deploy", 6_998_552, (None, 1000)),
    ("squeezenet_v1.1_deploy", 1_235_496, (None, 1000)),
    # torchvision's mobilenet_v2 has 3,504,872; this Caffe port adds a 1x1 expansion (32 -> 32 channels,
    # 1,024 weights) with its BatchNorm + Scale (64) to the first bottleneck: 3,504,872 + 1,088.
    ("mobilenet_v2_deploy", 3_505_960, (None, 1000, 1, 1)),
]


@pytest.mark.parametrize(("stem", "params", "output"), REAL, ids=[r[0] for r in REAL])
def test_real_nets_import_clean_with_their_exact_parameter_counts(
    stem: str, params: int, output: tuple
) -> None:
    model = import_caffe(MODELS / f"{stem}.prototxt")
    analysis = analyse(model.project.graph)
    assert analysis.is_valid, [d.text for d in analysis.diagnostics()]
    assert analysis.summary().trainable_params == params
    outputs = [n for n in model.project.graph.nodes.values() if n.type == "Output"]
    assert len(outputs) == 1
    assert analysis.result(outputs[0].id).inputs[0] == output
    assert model.state == {}


def test_mobilenet_v2_count_follows_from_the_prototxt_itself() -> None:
    """An independent count: convolutions (channels tracked blob by blob) plus 2 per channel of each Scale."""
    net = parse((MODELS / "mobilenet_v2_deploy.prototxt").read_text())
    channels, total = {"data": 3}, 0
    for msg in net.children("layer"):
        bottom, top = msg.texts("bottom"), msg.texts("top")[0]
        kind = msg.text("type")
        if kind == "Convolution":
            p = msg.child("convolution_param")
            assert p is not None
            c_in, c_out, k = (
                channels[bottom[0]],
                p.integer("num_output"),
                p.integer("kernel_size"),
            )
            total += c_out * c_in // (p.integer("group", 1) or 1) * k * k + (
                c_out if p.flag("bias_term", True) else 0
            )
            channels[top] = c_out
        else:
            channels[top] = channels[bottom[0]]
            total += 2 * channels[top] if kind == "Scale" else 0
    model = import_caffe(MODELS / "mobilenet_v2_deploy.prototxt")
    assert analyse(model.project.graph).summary().trainable_params == total == 3_505_960


def caffe_pool(size: int, kernel: int, stride: int, pad: int) -> int:
    """Caffe's PoolingLayer::Reshape, written out independently of the importer."""
    out = int(-(-(size + 2 * pad - kernel) // stride)) + 1
    return out - 1 if pad and (out - 1) * stride >= size + pad else out


def test_googlenet_pool_outputs_follow_caffes_ceil_rounding() -> None:
    model = import_caffe(MODELS / "bvlc_googlenet_deploy.prototxt")
    analysis = analyse(model.project.graph)
    net = parse((MODELS / "bvlc_googlenet_deploy.prototxt").read_text())
    checked = 0
    for msg in net.children("layer"):
        if msg.text("type") != "Pooling":
            continue
        p = msg.child("pooling_param")
        assert p is not None
        pool = node(model, msg.text("name") or "")
        x = analysis.result(pool.id).inputs[0]
        assert x is not None
        k, s, q = p.integer("kernel_size"), p.integer("stride", 1), p.integer("pad", 0)
        expected = tuple(caffe_pool(int(n or 0), k or 0, s or 1, q or 0) for n in x[2:])
        assert out_shape(model, pool.name)[2:] == expected, pool.name
        checked += 1
    assert checked == 14
    assert out_shape(model, "pool1/3x3_s2") == (
        None,
        64,
        56,
        56,
    )  # floor rounding would give 55
    assert out_shape(model, "pool5/7x7_s1") == (None, 1024, 1, 1)


def test_alexnet_keeps_its_grouped_convolutions_and_lrn() -> None:
    model = import_caffe(MODELS / "bvlc_alexnet_deploy.prototxt")
    assert [node(model, f"conv{i}").params["groups"] for i in range(1, 6)] == [
        1,
        2,
        1,
        2,
        2,
    ]
    norm = node(model, "norm1")
    assert norm.type == "LocalResponseNorm"
    assert (norm.params["size"], norm.params["alpha"], norm.params["beta"]) == (
        5,
        1e-4,
        0.75,
    )
    assert out_shape(model, "pool1") == (None, 96, 27, 27)
    assert (
        node(model, "fc6/flatten").type == "Flatten"
        and feeder(model, "fc6") == "fc6/flatten"
    )
    assert node(model, "drop6").params["p"] == 0.5


def test_mobilenet_v2_folds_each_scale_into_its_batch_norm() -> None:
    model = import_caffe(MODELS / "mobilenet_v2_deploy.prototxt")
    types = [n.type for n in model.project.graph.nodes.values()]
    assert types.count("BatchNorm2d") == 53 and "Scale" not in types
    bn = node(model, "conv1/bn")
    assert (
        bn.params["affine"]
        and bn.params["track_running_stats"]
        and bn.params["eps"] == 1e-5
    )
    depthwise = node(model, "conv2_1/dwise")
    assert depthwise.params["groups"] == 32 and depthwise.params["out_channels"] == 32
    assert node(model, "pool6").type == "GlobalAvgPool2d"
    assert (
        feeder(model, "fc7") == "pool6/unsqueeze"
    )  # Caffe's (N, 1280, 1, 1) for the 1x1 convolution
    assert out_shape(model, "pool6/unsqueeze") == (None, 1280, 1, 1)


def test_the_train_test_lenet_becomes_the_test_view_with_its_training_settings() -> (
    None
):
    model = import_caffe(MODELS / "lenet_train_test.prototxt")
    graph = model.project.graph
    types = sorted(n.type for n in graph.nodes.values())
    assert types.count("Input") == 1 and types.count("Output") == 1
    assert "Accuracy" not in types and "SoftmaxWithLoss" not in types
    data = node(model, "mnist")
    assert data.type == "Input" and data.params["shape"] == (1, 28, 28)
    assert feeder(model, "ip2_output") == "ip2"  # the Output sits at the logits
    assert model.project.training.loss == "cross_entropy"
    assert model.project.training.batch_size == 64  # from the TRAIN data layer
    assert any(
        "Data layer 'mnist'" in w and "placeholder" in w and "set its shape" in w
        for w in model.warnings
    )
    assert any("TRAIN-only" in w for w in model.warnings)
    assert "set its shape" in model.project.description
    assert analyse(graph).summary().trainable_params == 431_080


# ----- input declarations -----
INPUT_FORMS = {
    "input_shape": 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n',
    "input_dim": 'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n',
    "Input layer": 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n',
}


@pytest.mark.parametrize("form", INPUT_FORMS)
def test_all_three_input_declarations_give_the_same_input(
    tmp_path: Path, form: str
) -> None:
    model = load(tmp_path, INPUT_FORMS[form] + layer("relu", "ReLU", "data"))
    data = node(model, "data")
    assert data.type == "Input" and data.params["shape"] == (3, 8, 8)
    assert feeder(model, "relu") == "data"


def test_several_inputs_by_input_dim(tmp_path: Path) -> None:
    text = 'input: "a" input: "b"\n' + "".join(
        f"input_dim: {d}\n" for d in (1, 3, 4, 4, 1, 3, 4, 4)
    )
    model = load(tmp_path, text + layer("sum", "Eltwise", ["a", "b"]))
    assert [feeder(model, "sum", p) for p in ("in1", "in2")] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('input: "data"\ninput_dim: 1\ninput_dim: 3\n', "input_dim values"),
        ('input: "data"\n', "input shapes"),
        ('input: "data"\ninput_shape { dim: 1 dim: 0 }\n', "all positive"),
        (
            HEADER
            + layer(
                "c",
                "Convolution",
                "nothing",
                body="convolution_param { num_output: 2 kernel_size: 1 }",
            ),
            "'nothing' is not written",
        ),
        (
            HEADER
            + layer(
                "c", "Convolution", "data", body="convolution_param { kernel_size: 1 }"
            ),
            "needs num_output",
        ),
        (
            HEADER
            + layer(
                "c", "Convolution", "data", body="convolution_param { num_output: 2 }"
            ),
            "needs kernel_size",
        ),
        (
            HEADER
            + layer(
                "c",
                "Convolution",
                "data",
                body='convolution_param { num_output: "2" kernel_size: 1 }',
            ),
            "must be an integer",
        ),
        (
            HEADER
            + layer(
                "c",
                "Convolution",
                "data",
                body="convolution_param { num_output: 2 kernel_h: 3 }",
            ),
            "given together",
        ),
        (
            HEADER
            + layer(
                "c",
                "Convolution",
                "data",
                body="convolution_param { num_output: 2 kernel_size: 9 }",
            ),
            "'c'",
        ),
        (
            HEADER
            + layer(
                "p", "Pooling", "data", body="pooling_param { kernel_size: 2 pad: 2 }"
            ),
            "smaller than the kernel",
        ),
        (
            HEADER + layer("n", "LRN", "data", body="lrn_param { local_size: 4 }"),
            "must be odd",
        ),
        (HEADER + 'layer { name: "x" bottom: "data" top: "x" }', "no type"),
        ("layer { name: 'a' type: 'ReLU' ", "never closed"),
        ('net: "train_val.prototxt"\nbase_lr: 0.01\n', "holds no layers"),
    ],
)
def test_broken_nets_are_refused_with_the_layer_and_the_reason(
    tmp_path: Path, text: str, words: str
) -> None:
    with pytest.raises(ModelImportError) as caught:
        load(tmp_path, text)
    assert not isinstance(caught.value, UnsupportedLayersError)
    assert words in str(caught.value) and "net.prototxt" in str(caught.value)


def test_every_broken_layer_is_listed_at_once(tmp_path: Path) -> None:
    text = HEADER + "".join(
        layer(
            f"c{i}", "Convolution", "data", body="convolution_param { kernel_size: 1 }"
        )
        for i in range(3)
    )
    with pytest.raises(ModelImportError) as caught:
        load(tmp_path, text)
    assert all(f"'c{i}'" in str(caught.value) for i in range(3))


def test_unreadable_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelImportError, match="cannot be read"):
        import_caffe(tmp_path / "missing.prototxt")
    (tmp_path / "bad.prototxt").write_bytes(b"layer { name: \xff }")
    with pytest.raises(ModelImportError, match="UTF-8"):
        import_caffe(tmp_path / "bad.prototxt")


# ----- phases, data and loss layers -----
def test_include_and_exclude_rules_pick_the_test_phase(tmp_path: Path) -> None:
    text = HEADER + layer("train_only", "ReLU", "data", body="include { phase: TRAIN }")
    text += layer("test_only", "ReLU", "data", body="include { phase: TEST }")
    text += layer("not_test", "Sigmoid", "data", body="exclude { phase: TEST }")
    text += layer("not_train", "TanH", "data", body="exclude { phase: TRAIN }")
    text += layer(
        "staged", "ReLU", "data", body='include { phase: TEST stage: "deploy" }'
    )
    text += layer(
        "either", "ELU", "data", body="include { phase: TRAIN } include { phase: TEST }"
    )
    names = {
        n.name
        for n in load(tmp_path, text).project.graph.nodes.values()
        if n.type not in ("Input", "Output")
    }
    assert names == {"test_only", "not_train", "either"}


@pytest.mark.parametrize(
    ("caffe", "body", "shape", "stated"),
    [
        (
            "Data",
            'data_param { source: "db" batch_size: 8 } transform_param { crop_size: 12 }',
            (3, 12, 12),
            False,
        ),
        (
            "ImageData",
            'image_data_param { source: "list.txt" new_height: 10 new_width: 12 is_color: false }',
            (1, 10, 12),
            True,
        ),
        (
            "MemoryData",
            "memory_data_param { batch_size: 4 channels: 2 height: 5 width: 6 }",
            (2, 5, 6),
            True,
        ),
        (
            "DummyData",
            "dummy_data_param { shape { dim: 4 dim: 3 dim: 7 dim: 7 } }",
            (3, 7, 7),
            True,
        ),
        (
            "HDF5Data",
            'hdf5_data_param { source: "files.txt" batch_size: 8 }',
            (1, 28, 28),
            False,
        ),
    ],
)
def test_data_layers_become_inputs_with_a_warning_naming_them(
    tmp_path: Path, caffe: str, body: str, shape: tuple, stated: bool
) -> None:
    text = (
        f'layer {{ name: "source" type: "{caffe}" top: "data" top: "label" {body} }}\n'
        + layer("relu", "ReLU", "data")
    )
    text += layer("loss", "EuclideanLoss", ["relu", "label"])
    model = load(tmp_path, text)
    assert node(model, "source").params["shape"] == shape
    warning = next(w for w in model.warnings if f"{caffe} layer 'source'" in w)
    assert ("placeholder" in warning) is not stated
    assert model.project.training.loss == "mse"
    assert feeder(model, "relu_output") == "relu"


def test_a_placeholder_that_does_not_fit_leaves_the_problem_on_the_graph(
    tmp_path: Path,
) -> None:
    text = 'layer { name: "source" type: "Data" top: "data" top: "label" }\n' + conv(
        "conv", "data", "num_output: 2 kernel_size: 64"
    )
    model = load(tmp_path, text)
    analysis = analyse(model.project.graph)
    assert not analysis.is_valid
    assert [d.node_id for d in analysis.diagnostics()] == [node(model, "conv").id]


def test_sigmoid_cross_entropy_and_several_losses(tmp_path: Path) -> None:
    text = (
        HEADER
        + 'input: "label" input_shape { dim: 1 dim: 1 }\n'
        + layer(
            "a", "InnerProduct", "data", body="inner_product_param { num_output: 1 }"
        )
    )
    text += layer(
        "aux", "InnerProduct", "data", body="inner_product_param { num_output: 1 }"
    )
    text += layer("aux_loss", "EuclideanLoss", ["aux", "label"]) + layer(
        "loss", "SigmoidCrossEntropyLoss", ["a", "label"]
    )
    text += layer("acc", "Accuracy", ["a", "label"]) + layer(
        "hinge", "HingeLoss", ["a", "label"]
    )
    model = load(tmp_path, text)
    assert model.project.training.loss == "bce_with_logits"
    assert {feeder(model, "a_output"), feeder(model, "aux_output")} == {"a", "aux"}
    assert any("HingeLoss layer 'hinge'" in w for w in model.warnings)
    assert any("3 loss layers" in w for w in model.warnings)


def test_a_layer_computing_on_labels_is_reported(tmp_path: Path) -> None:
    text = 'layer { name: "source" type: "Data" top: "data" top: "label" }\n' + layer(
        "r", "ReLU", "label"
    )
    assert "ReLU reading a data layer's labels" in unsupported(tmp_path, text).found


def test_silence_drops_a_blob_without_an_output(tmp_path: Path) -> None:
    text = (
        HEADER
        + layer("a", "ReLU", "data")
        + layer("b", "Sigmoid", "data")
        + 'layer { name: "s" type: "Silence" bottom: "b" }\n'
    )
    model = load(tmp_path, text)
    outputs = [n for n in model.project.graph.nodes.values() if n.type == "Output"]
    assert [feeder(model, o.name) for o in outputs] == ["a"]


def test_old_v1_layers_are_read(tmp_path: Path) -> None:
    text = (
        HEADER
        + 'layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv" blobs_lr: 1 convolution_param { num_output: 2 kernel_size: 3 } }\n'
    )
    text += 'layers { name: "relu" type: RELU bottom: "conv" top: "conv" }\n'
    model = load(tmp_path, text)
    assert node(model, "conv").type == "Conv2d" and feeder(model, "relu") == "conv"


def test_names_are_kept_and_the_layout_is_done(tmp_path: Path) -> None:
    model = import_caffe(MODELS / "bvlc_googlenet_deploy.prototxt")
    graph = model.project.graph
    assert node(model, "inception_3a/1x1").type == "Conv2d"
    positions = [n.position for n in graph.nodes.values()]
    assert len(set(positions)) == len(positions)
    for edge in graph.edges:
        a, b = graph.node(edge.src).position, graph.node(edge.dst).position
        assert a != b
    assert model.project.name == "bvlc_googlenet_deploy"
    assert model.project.description.startswith(
        "Imported from the Caffe net bvlc_googlenet_deploy.prototxt (GoogleNet)"
    )


def test_import_model_dispatches_prototxt_files() -> None:
    model = import_model(MODELS / "lenet.prototxt")
    assert analyse(model.project.graph).summary().trainable_params == 431_080


# ----- round trip through the Caffe exporter -----
NOT_IMPORTED = {"Embedding": "Embed", "PositionalEncoding": "Bias", "Threshold": "Threshold", "Hardshrink": "Threshold"}
# A 2-norm is written as a Reduction of squares (SUMSQ), which no layer reads back.
NOT_IMPORTED_FORMS = {"Norm": lambda p: p["p"] == 2}


def not_imported(project: Project) -> bool:
    """True when the project holds a layer whose Caffe form does not import back."""
    return any(
        n.type in NOT_IMPORTED or NOT_IMPORTED_FORMS.get(n.type, lambda p: False)(n.params)
        for n in project.graph.nodes.values()
    )


def roundtrip(project: Project, tmp_path: Path) -> None:
    try:
        text = generate_caffe(project)
    except CodegenError:
        return  # not expressible in Caffe: the exporter's own tests cover the refusal
    before = analyse(project.graph)
    path = tmp_path / "exported.prototxt"
    path.write_text(text)
    if not_imported(project):
        with pytest.raises(UnsupportedLayersError):
            import_caffe(path)
        return
    after = analyse(import_caffe(path).project.graph)
    assert after.is_valid, [d.text for d in after.diagnostics()]
    assert after.summary().trainable_params == before.summary().trainable_params

    def outputs(analysis, graph) -> list:
        return sorted(
            str(analysis.result(n.id).inputs[0])
            for n in graph.nodes.values()
            if n.type == "Output"
        )

    imported = import_caffe(path).project.graph
    assert outputs(analyse(imported), imported) == outputs(before, project.graph)


@pytest.mark.parametrize(
    ("layer_type", "params", "shapes"),
    [pytest.param(t, {}, None, id=t) for t in supported("caffe")]
    + [pytest.param(*v, id=f"{v[0]}-{i}") for i, v in enumerate(CAFFE_VARIANTS)],
)
def test_every_caffe_layer_exports_and_imports_back(
    tmp_path: Path, layer_type: str, params: dict, shapes: list | None
) -> None:
    roundtrip(single_layer(layer_type, params, shapes), tmp_path)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_export_to_caffe_and_import_back(tmp_path: Path, path: Path) -> None:
    roundtrip(load_project(path), tmp_path)


LENET = (MODELS / "lenet_train_test.prototxt").read_text()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(0, len(LENET) - 1),
    st.integers(0, 40),
    st.sampled_from(["", "}", "{", '"', "0", "-1", "x", "layer {"]),
)
def test_damaged_nets_import_or_fail_with_the_import_error(
    tmp_path: Path, start: int, length: int, insert: str
) -> None:
    text = LENET[:start] + insert + LENET[start + length :]
    try:
        model = load(tmp_path, text)
    except ModelImportError as err:
        assert str(err).startswith(str(tmp_path / "net.prototxt"))
    else:
        analyse(model.project.graph)


def test_hostile_sizes_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.prototxt"
    with huge.open("wb") as f:
        f.truncate(MAX_CHARS + 1)
    with pytest.raises(ModelImportError, match="MiB"):
        import_caffe(huge)
    with pytest.raises(ModelImportError, match="shape") as caught:
        load(
            tmp_path,
            'input: "x" input_shape { dim: 1 dim: 3 dim: 1000000000 dim: 1000000000 }\n',
        )
    assert not isinstance(caught.value, UnsupportedLayersError)
    text = 'layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: 99999999999 } } }\n'
    with pytest.raises(ModelImportError, match="'x'"):
        load(tmp_path, text)
    kernel = HEADER + conv("c", "data", "num_output: 2 kernel_size: 5000")
    assert any(
        k.startswith("Convolution ('kernel_size' must be")
        for k in unsupported(tmp_path, kernel).found
    )
