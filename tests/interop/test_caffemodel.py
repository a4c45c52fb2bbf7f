"""Caffe weights (.caffemodel) beside a prototxt: read with the wire-format reader, computed as Caffe does.

No Caffe is installed, so the tests write .caffemodel files with a small protobuf encoder and
compute the reference forward pass straight from the blobs with torch.nn.functional and a
NumPy transcription of Caffe's pooling loops (ceil rounding, its average-pooling divisor).
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from studio.codegen.export import build_torch_model, load_weights
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.weights import by_attribute
from studio.interop.caffe_import import import_caffe
from studio.interop.caffemodel import CaffeModelError, read_caffemodel
from studio.interop.common import ModelImportError, write_imported
from tests.interop.caffe_nets import MODELS
from tests.interop.caffemodels import BN_NET, field, layer, rand, varint


# ----- Caffe's pooling, transcribed from pooling_layer.cpp -----
def caffe_pool(
    x: np.ndarray, kernel: int, stride: int, pad: int, method: str
) -> np.ndarray:
    n, c, h, w = x.shape
    out_h, out_w = (-(-(s + 2 * pad - kernel) // stride) + 1 for s in (h, w))
    if pad and (out_h - 1) * stride >= h + pad:
        out_h -= 1
    if pad and (out_w - 1) * stride >= w + pad:
        out_w -= 1
    y = np.zeros((n, c, out_h, out_w), np.float64)
    for i in range(out_h):
        for j in range(out_w):
            h0, w0 = i * stride - pad, j * stride - pad
            h1, w1 = min(h0 + kernel, h + pad), min(w0 + kernel, w + pad)
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            window = x[:, :, h0:h1, w0:w1]
            y[:, :, i, j] = (
                window.max(axis=(2, 3))
                if method == "MAX"
                else window.sum(axis=(2, 3)) / size
            )
    return y


def forward(path: Path, state: dict, x: np.ndarray) -> np.ndarray:
    model = import_caffe(path)
    torch_model = build_torch_model(generate_pytorch(model.project), 0)
    torch_model.load_state_dict(
        {k: torch.from_numpy(np.asarray(v)) for k, v in by_attribute(state, model.project).items()}
    )
    with torch.no_grad():
        return torch_model(torch.from_numpy(x)).numpy()


def test_lenet_with_weights_computes_what_caffe_computes(tmp_path: Path) -> None:
    prototxt = tmp_path / "lenet.prototxt"
    prototxt.write_text((MODELS / "lenet.prototxt").read_text())
    blobs = {
        "conv1": [rand(20, 1, 5, 5), rand(20)],
        "conv2": [rand(50, 20, 5, 5) * 0.1, rand(50)],
        "ip1": [rand(500, 800) * 0.05, rand(500)],
        "ip2": [rand(10, 500) * 0.05, rand(10)],
    }
    (tmp_path / "lenet.caffemodel").write_bytes(
        b"".join(layer(n, arrays) for n, arrays in blobs.items())
    )
    model = import_caffe(prototxt)
    torch_model = build_torch_model(generate_pytorch(model.project), 0)
    expected = {k: tuple(v.shape) for k, v in torch_model.state_dict().items()}
    assert {k: v.shape for k, v in by_attribute(model.state, model.project).items()} == expected

    x = rand(2, 1, 28, 28, seed=7)
    t = torch.from_numpy
    h = F.conv2d(t(x), t(blobs["conv1"][0]), t(blobs["conv1"][1])).numpy()
    h = caffe_pool(h, 2, 2, 0, "MAX")
    h = F.conv2d(
        t(h.astype(np.float32)), t(blobs["conv2"][0]), t(blobs["conv2"][1])
    ).numpy()
    h = caffe_pool(h, 2, 2, 0, "MAX").reshape(2, -1).astype(np.float32)
    h = np.maximum(h @ blobs["ip1"][0].T + blobs["ip1"][1], 0)
    logits = h @ blobs["ip2"][0].T + blobs["ip2"][1]
    reference = np.exp(logits - logits.max(1, keepdims=True))
    reference /= reference.sum(1, keepdims=True)
    np.testing.assert_allclose(
        forward(prototxt, model.state, x), reference, rtol=1e-4, atol=1e-5
    )


def test_cifar10_quick_average_pooling_rounds_up_with_caffes_divisor(
    tmp_path: Path,
) -> None:
    prototxt = tmp_path / "cifar10_quick.prototxt"
    text = (MODELS / "cifar10_quick.prototxt").read_text()
    prototxt.write_text(text)
    shapes = {
        "conv1": (32, 3, 5, 5),
        "conv2": (32, 32, 5, 5),
        "conv3": (64, 32, 5, 5),
        "ip1": (64, 1024),
        "ip2": (10, 64),
    }
    blobs = {n: [rand(*s) * 0.1, rand(s[0])] for n, s in shapes.items()}
    (tmp_path / "cifar10_quick.caffemodel").write_bytes(
        b"".join(layer(n, a) for n, a in blobs.items())
    )
    model = import_caffe(prototxt)
    assert model.project.graph.node_by_name("pool2").params["ceil_mode"] is True  # type: ignore[union-attr]

    t = torch.from_numpy
    x = rand(2, 3, 32, 32, seed=3)

    def conv(h: np.ndarray, name: str) -> np.ndarray:
        return F.conv2d(
            t(h.astype(np.float32)), t(blobs[name][0]), t(blobs[name][1]), padding=2
        ).numpy()

    h = np.maximum(caffe_pool(conv(x, "conv1"), 3, 2, 0, "MAX"), 0)
    h = caffe_pool(np.maximum(conv(h, "conv2"), 0), 3, 2, 0, "AVE")
    h = caffe_pool(np.maximum(conv(h, "conv3"), 0), 3, 2, 0, "AVE")
    assert h.shape == (
        2,
        64,
        4,
        4,
    )  # 32 -> 16 -> 8 -> 4 with Caffe's ceil; floor would give 3
    h = h.reshape(2, -1).astype(np.float32) @ blobs["ip1"][0].T + blobs["ip1"][1]
    logits = h @ blobs["ip2"][0].T + blobs["ip2"][1]
    probs = forward(prototxt, model.state, x)
    np.testing.assert_allclose(
        np.log(probs) - np.log(probs).mean(1, keepdims=True),
        logits - logits.mean(1, keepdims=True),
        rtol=1e-3,
        atol=1e-3,
    )


def test_padded_pooling_windows_match_caffes_divisor(tmp_path: Path) -> None:
    text = 'input: "x" input_shape { dim: 1 dim: 2 dim: 7 dim: 7 }\n'
    text += 'layer { name: "p" type: "Pooling" bottom: "x" top: "p" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }\n'
    text += 'layer { name: "m" type: "Pooling" bottom: "x" top: "m" pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 } }\n'
    (tmp_path / "pool.prototxt").write_text(text)
    model = import_caffe(tmp_path / "pool.prototxt")
    torch_model = build_torch_model(generate_pytorch(model.project), 0)
    x = rand(1, 2, 7, 7, seed=5)
    with torch.no_grad():
        outputs = torch_model(torch.from_numpy(x))
    by_name = dict(zip(("p", "m"), outputs))
    np.testing.assert_allclose(
        by_name["p"].numpy(), caffe_pool(x, 3, 2, 1, "AVE"), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        by_name["m"].numpy(), caffe_pool(x, 2, 2, 1, "MAX"), rtol=1e-5, atol=1e-6
    )




def test_batch_norm_statistics_scale_prelu_and_transposed_inner_product(
    tmp_path: Path,
) -> None:
    (tmp_path / "bn.prototxt").write_text(BN_NET)
    weight = rand(4, 3, 1, 1)
    mean, var, factor = (
        rand(4),
        np.abs(rand(4, seed=1)) + 0.5,
        np.array([4.0], np.float32),
    )
    gamma, beta, slope = rand(4, seed=2), rand(4, seed=3), np.abs(rand(4, seed=4)) * 0.2
    fc, fc_bias = rand(64, 3), rand(3, seed=5)  # transposed: (inputs, outputs)
    data = layer("conv", [weight]) + layer(
        "bn", [mean * 4, var * 4, factor], legacy=True
    )
    data += (
        layer("scale", [gamma, beta], double=True)
        + layer("prelu", [slope])
        + layer("fc", [fc, fc_bias])
    )
    (tmp_path / "bn.caffemodel").write_bytes(data)
    model = import_caffe(tmp_path / "bn.prototxt")
    bn = model.project.graph.node_by_name("bn")
    assert bn is not None and bn.params["affine"]
    x = rand(2, 3, 4, 4, seed=9)
    t = torch.from_numpy
    h = F.conv2d(t(x), t(weight)).numpy()
    h = (h - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 0.001)
    h = h * gamma[None, :, None, None] + beta[None, :, None, None]
    h = np.where(h > 0, h, h * slope[None, :, None, None])
    reference = h.reshape(2, -1) @ fc + fc_bias
    np.testing.assert_allclose(
        forward(tmp_path / "bn.prototxt", model.state, x),
        reference,
        rtol=1e-4,
        atol=1e-4,
    )
    assert (
        model.state[
            next(k for k in model.state if k.endswith("num_batches_tracked"))
        ].dtype
        == np.int64
    )


def test_a_caffemodel_without_some_layers_keeps_fresh_weights_for_them(
    tmp_path: Path,
) -> None:
    prototxt = tmp_path / "deploy.prototxt"
    prototxt.write_text((MODELS / "lenet.prototxt").read_text())
    conv1 = [rand(20, 1, 5, 5), rand(20)]
    (tmp_path / "trained.caffemodel").write_bytes(
        layer("conv1", conv1) + layer("unrelated", [rand(3)])
    )
    model = import_caffe(prototxt)
    assert any(
        "the only .caffemodel beside deploy.prototxt" in w for w in model.warnings
    )
    assert any(
        "no weights for 3 layer(s)" in w and "'conv2'" in w for w in model.warnings
    )
    key = next(
        k
        for k in model.state
        if k.endswith("weight") and model.state[k].shape == (20, 1, 5, 5)
    )
    np.testing.assert_array_equal(model.state[key], conv1[0])
    torch_model = build_torch_model(generate_pytorch(model.project), 0)
    assert set(by_attribute(model.state, model.project)) == set(torch_model.state_dict())


def test_weights_are_written_beside_the_project_and_load_into_the_export(
    tmp_path: Path,
) -> None:
    prototxt = tmp_path / "lenet.prototxt"
    prototxt.write_text((MODELS / "lenet.prototxt").read_text())
    shapes = {
        "conv1": (20, 1, 5, 5),
        "conv2": (50, 20, 5, 5),
        "ip1": (500, 800),
        "ip2": (10, 500),
    }
    (tmp_path / "lenet.caffemodel").write_bytes(
        b"".join(layer(n, [rand(*s), rand(s[0])]) for n, s in shapes.items())
    )
    model = import_caffe(prototxt)
    (tmp_path / "out").mkdir()
    written = write_imported(model, tmp_path / "out" / "lenet.lstudio")
    assert [p.name for p in written] == ["lenet.lstudio", "lenet.weights.npz"]
    torch_model = build_torch_model(generate_pytorch(model.project), 1)
    load_weights(torch_model, written[1], model.project)
    for key, value in by_attribute(model.state, model.project).items():
        np.testing.assert_array_equal(torch_model.state_dict()[key].numpy(), value)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (layer("conv1", [rand(20, 1, 5, 5)])[:-7], "cut short"),
        (b"\x0f\x01", "wire type 7"),
        (
            field(100, field(7, field(7, field(1, varint(3))) + field(5, b"\0" * 8))),
            "shape (3,) but holds 2 values",
        ),
        (field(100, field(7, field(5, b"\0" * 7))), "whole number of values"),
        (b"\xff" * 12, "longer than 10 bytes"),
        (layer("conv1", [rand(20, 1, 3, 3), rand(20)]), "conv1"),
    ],
)
def test_broken_or_mismatched_weights_are_refused_by_name(
    tmp_path: Path, data: bytes, words: str
) -> None:
    (tmp_path / "lenet.prototxt").write_text((MODELS / "lenet.prototxt").read_text())
    (tmp_path / "lenet.caffemodel").write_bytes(data)
    with pytest.raises(ModelImportError) as caught:
        import_caffe(tmp_path / "lenet.prototxt")
    assert words in str(caught.value) and "lenet.caffemodel" in str(caught.value)


def test_weights_of_another_net_are_refused(tmp_path: Path) -> None:
    (tmp_path / "lenet.prototxt").write_text((MODELS / "lenet.prototxt").read_text())
    (tmp_path / "lenet.caffemodel").write_bytes(layer("other", [rand(2)]))
    with pytest.raises(ModelImportError, match="another net"):
        import_caffe(tmp_path / "lenet.prototxt")


def test_the_reader_skips_fields_it_does_not_need(tmp_path: Path) -> None:
    skipped = (
        varint(1 << 3)
        + varint(5)
        + varint(5 << 3 | 1)
        + struct.pack("<d", 1.0)
        + varint(6 << 3 | 5)
        + b"\0" * 4
    )
    path = tmp_path / "w.caffemodel"
    path.write_bytes(
        field(1, b"name")
        + skipped
        + layer("a", [np.arange(6, dtype=np.float32).reshape(2, 3)])
    )
    blobs = read_caffemodel(path)
    assert (
        list(blobs) == ["a"]
        and blobs["a"][0].shape == (2, 3)
        and blobs["a"][0][1, 2] == 5.0
    )
    with pytest.raises(CaffeModelError, match="cannot be read"):
        read_caffemodel(tmp_path / "missing.caffemodel")


def test_layers_the_caffemodel_leaves_out_start_from_the_prototxts_fillers(tmp_path: Path) -> None:
    prototxt = tmp_path / "lenet.prototxt"
    prototxt.write_text((MODELS / "lenet.prototxt").read_text())
    (tmp_path / "lenet.caffemodel").write_bytes(layer("conv1", [rand(20, 1, 5, 5), rand(20)]))
    model = import_caffe(prototxt)
    state = by_attribute(model.state, model.project)
    conv2 = next(v for k, v in state.items() if k.endswith("weight") and v.shape == (50, 20, 5, 5))
    bound = np.sqrt(3.0 / (20 * 5 * 5))  # lenet's xavier filler: uniform within sqrt(3 / fan_in)
    assert np.abs(conv2).max() <= bound and np.abs(conv2).max() > 0.9 * bound
    assert all(np.all(v == 0) for k, v in state.items() if k.endswith("bias") and v.shape != (20,))
    again = import_caffe(prototxt)
    assert all(np.array_equal(again.state[k], v) for k, v in model.state.items())  # seeded: the same each time


def test_a_caffe_import_with_weights_does_not_load_torch(tmp_path: Path) -> None:
    prototxt = tmp_path / "lenet.prototxt"
    prototxt.write_text((MODELS / "lenet.prototxt").read_text())
    (tmp_path / "lenet.caffemodel").write_bytes(layer("conv1", [rand(20, 1, 5, 5), rand(20)]))
    script = (
        "import sys\n"
        "from studio.interop.common import import_model, write_imported\n"
        f"model = import_model({str(prototxt)!r})\n"
        f"write_imported(model, {str(tmp_path / 'net.lstudio')!r})\n"
        "print(sorted(m for m in ('torch', 'onnx', 'keras', 'studio.codegen') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "net.weights.npz").is_file()


HUGE_NET = """name: "huge"
layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 1 dim: 16 } } }
layer { name: "small" type: "InnerProduct" bottom: "data" top: "small" inner_product_param { num_output: 1000000 } }
layer { name: "huge" type: "InnerProduct" bottom: "small" top: "huge" inner_product_param { num_output: 1000000 } }
"""


def test_a_partial_caffemodel_of_an_enormous_net_is_refused_with_its_size_before_drawing_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prototxt = tmp_path / "huge.prototxt"
    prototxt.write_text(HUGE_NET)
    dims = field(7, field(1, varint(1000000) + varint(16)))  # the blob declares 16e6 values and holds none
    (tmp_path / "huge.caffemodel").write_bytes(field(100, field(1, b"small") + field(7, dims)))
    with pytest.raises(ModelImportError, match=r"huge.caffemodel: the network needs 3.6 TiB of weights \(1e12 parameters\); the limit is 16 GiB"):
        import_caffe(prototxt)
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "huge.prototxt").write_text(HUGE_NET)
    assert not import_caffe(tmp_path / "alone" / "huge.prototxt").state  # without weights nothing is allocated: the net imports
    monkeypatch.setenv("LAYER_STUDIO_MAX_WEIGHTS_GIB", "1e9")
    with pytest.raises(CaffeModelError, match=r"shape \(1000000, 16\) but holds 0 values"):  # past the limit, the blob itself is refused before it is shaped
        import_caffe(prototxt)
