"""ONNX pooling with uneven padding (what Caffe-to-ONNX converters write for Caffe's ceil rounding), checked against ONNX Runtime."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from studio.interop.common import UnsupportedLayersError
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om

REFUSALS = (  # the only refusals allowed: padding PyTorch's pooling cannot take
    "uneven padding that no PyTorch padding reproduces",
    "more than half its kernel_size",
    "uneven padding of a 1-D window",  # an average counting its padding needs a pad layer: the catalogue's is 2-D
)


def pool_model(
    op: str,
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    ceil: int = 0,
    include: int = 0,
    dilations: tuple[int, ...] | None = None,
) -> onnx.ModelProto:
    """One pooling node on an (N, 2, *size) input."""
    attrs: dict[str, object] = {"kernel_shape": list(kernel), "strides": list(strides), "pads": list(pads), "ceil_mode": ceil}
    if op == "AveragePool":
        attrs["count_include_pad"] = include
    if dilations is not None:
        attrs["dilations"] = list(dilations)
    node = helper.make_node(op, ["x"], ["y"], name="pool", **attrs)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, *size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "pool", [x], [y]), opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model


def runtime_output(path: Path, x: np.ndarray) -> np.ndarray | None:
    """ONNX Runtime's result, or None where it refuses the model (pads not smaller than the kernel)."""
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - ONNX Runtime raises its own exception types
        return None
    return session.run(None, {"x": x})[0]


def assert_imports_like_runtime(path: Path, size: tuple[int, ...]) -> object:
    """The imported project's generated PyTorch code computes what ONNX Runtime computes for the file."""
    x = np.random.default_rng(len(size)).standard_normal((2, 2, *size)).astype(np.float32)
    expected = runtime_output(path, x)
    assert expected is not None
    imported = import_onnx(path)
    with torch.no_grad():
        got = om.generated_model(imported)(torch.from_numpy(x)).numpy()
    assert got.shape == expected.shape
    # A max window over padding alone has no value: ONNX Runtime starts from float32's lowest, PyTorch from -inf.
    expected = np.where(expected == np.finfo(np.float32).min, -np.inf, expected)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    return imported


def layers(imported: object) -> list[tuple[str, dict]]:
    return [(n.type, n.params) for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")]  # type: ignore[attr-defined]


# ----- Caffe's ceil rounding, as converters write it -----
def caffe_end_pad(size: int, kernel: int, stride: int, pad: int) -> int:
    """The end padding that makes ONNX's floor count Caffe's ceil count (Caffe: no window starts in the padding)."""
    out = math.ceil((size + 2 * pad - kernel) / stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return max(pad, (out - 1) * stride + kernel - size - pad)


CAFFE_POOLS = [  # op, size, kernel, stride, pad: GoogLeNet's, AlexNet's and Inception's pools, and odd sizes
    (op, size, kernel, stride, pad)
    for op in ("MaxPool", "AveragePool")
    for size, kernel, stride, pad in (
        (112, 3, 2, 0), (56, 3, 2, 0), (28, 3, 2, 0), (55, 3, 2, 0), (27, 3, 2, 0), (14, 3, 2, 0),
        (7, 3, 2, 0), (13, 3, 2, 1), (8, 2, 2, 0), (9, 2, 2, 0), (10, 3, 3, 1), (11, 5, 3, 2),
    )
]  # fmt: skip


@pytest.mark.parametrize(("op", "size", "kernel", "stride", "pad"), CAFFE_POOLS)
def test_caffe_ceil_rounding_converted_to_uneven_pads_imports_exactly(
    tmp_path: Path, op: str, size: int, kernel: int, stride: int, pad: int
) -> None:
    end = caffe_end_pad(size, kernel, stride, pad)
    include = 1 if op == "AveragePool" else 0  # Caffe's average counts the padding it adds
    proto = pool_model(op, (size, size), (kernel,) * 2, (stride,) * 2, (pad, pad, end, end), include=include)
    imported = assert_imports_like_runtime(om.save(proto, tmp_path / "pool.onnx"), (size, size))
    if op == "MaxPool":
        assert [t for t, _ in layers(imported)] == ["MaxPool2d"]
        assert layers(imported)[0][1]["padding"] == (pad, pad)


def test_uneven_max_pooling_becomes_ceil_mode_not_a_zero_pad(tmp_path: Path) -> None:
    proto = pool_model("MaxPool", (112, 112), (3, 3), (2, 2), (0, 0, 1, 1))
    imported = assert_imports_like_runtime(om.save(proto, tmp_path / "pool.onnx"), (112, 112))
    ((kind, params),) = layers(imported)
    assert kind == "MaxPool2d" and params["ceil_mode"] and params["padding"] == (0, 0)


def test_padding_in_front_of_a_max_pool_is_cropped_away_not_zero_filled(tmp_path: Path) -> None:
    proto = pool_model("MaxPool", (3, 6), (2, 3), (1, 1), (0, 0, 1, 1))
    imported = assert_imports_like_runtime(om.save(proto, tmp_path / "pool.onnx"), (3, 6))
    kinds = [t for t, _ in layers(imported)]
    assert "ZeroPad2d" not in kinds and "Slice" in kinds


# ----- any window: generated cases against ONNX Runtime -----
@st.composite
def pools(draw: st.DrawFn) -> tuple:
    op = draw(st.sampled_from(["MaxPool", "AveragePool"]))
    rank = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    begin = tuple(draw(st.integers(0, k - 1)) for k in kernel)
    end = tuple(draw(st.integers(0, k - 1)) for k in kernel)
    dilations = tuple(draw(st.integers(1, 2)) for _ in range(rank)) if op == "MaxPool" else None
    spans = [(d - 1) * (k - 1) + k for k, d in zip(kernel, dilations or (1,) * rank)]
    size = tuple(draw(st.integers(max(1, s - b - e), 9)) for s, b, e in zip(spans, begin, end))
    ceil = draw(st.sampled_from([0, 1]))
    include = draw(st.sampled_from([0, 1])) if op == "AveragePool" else 0
    return op, size, kernel, strides, begin + end, ceil, include, dilations


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=pools())
def test_any_pooling_window_imports_as_onnx_runtime_computes_it_or_is_refused_by_name(tmp_path: Path, case: tuple) -> None:
    size = case[1]
    path = om.save(pool_model(*case), tmp_path / "pool.onnx")
    assume(runtime_output(path, np.zeros((1, 2, *size), np.float32)) is not None)
    try:
        assert_imports_like_runtime(path, size)
    except UnsupportedLayersError as err:
        assert all(any(words in kind for words in REFUSALS) for kind in err.found), err.found
        event("refused")
    else:
        event("imported")
