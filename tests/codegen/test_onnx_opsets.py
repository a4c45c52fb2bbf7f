"""The ONNX export at the opsets it offers: the oldest (13), 17 (the default, the last with Reduce* axes attributes), the newest.

Every catalogue layer ONNX supports (defaults and `cases.VARIANTS`) is written straight from the
graph (never through torch.onnx) at each of OPSETS: checked with `full_check`, stamped with that
opset, free of attributes at their default value, and run in ONNX Runtime at a batch other than
the one PyTorch is asked for, against the PyTorch model with random weights, within 1e-4. Every
example is checked so at the oldest opset (the default one is `test_onnx.py`'s). The operator
forms that changed between opsets (`catalogue.onnx_records`) are checked one by one against NumPy.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import defs, helper, numpy_helper

from studio.codegen import onnx_export
from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, onnx_bytes
from studio.graph.catalogue.base import Inexpressible
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    layer_norm_records,
    pad_records,
    reduce_records,
    split_records,
)
from studio.graph.project import Project
from tests.codegen.cases import (
    EXAMPLES,
    VARIANTS,
    example,
    layer_project,
    random_inputs,
    supported,
)
from tests.codegen.helpers import _torchlib_registry_built_once  # noqa: F401 - the module fixture
from tests.codegen.onnx_checks import default_valued, randomized

OPSETS = (MIN_OPSET, 17, MAX_OPSET)
LAYERS = [(t, {}, None) for t in supported("onnx")] + VARIANTS
RUN_BATCH = 3


@pytest.fixture
def no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("torch.onnx was used")

    monkeypatch.setattr(onnx_export, "_traced", refuse)


def assert_every_opset_matches(project: Project, opsets: tuple[int, ...]) -> None:
    """Export at each opset; the file is plain, dynamic in its batch, and ONNX Runtime gives PyTorch's outputs."""
    model = randomized(project)
    xs = random_inputs(project.graph, RUN_BATCH)
    with torch.no_grad():
        expected = model(*xs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for opset in opsets:
        data = onnx_bytes(project, model, opset=opset)  # checked with full_check
        proto = onnx.load_from_string(data)
        assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [opset]
        assert default_valued(proto, opset) == [], opset
        assert all(v.type.tensor_type.shape.dim[0].dim_param == "batch" for v in [*proto.graph.input, *proto.graph.output])
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs)})
        for g, e in zip(got, expected, strict=True):
            # random weights in [-1, 1) through RNN's 128 units gather some 4e-5 of float32 rounding, and through
            # ResNet-18's 20 layers grow the outputs to ~1e12: the rounding is relative to the largest output
            scale = max(1.0, float(e.abs().max()))
            torch.testing.assert_close(torch.from_numpy(g), e, rtol=1e-4, atol=1e-4 * scale, msg=lambda m, o=opset: f"opset {o}: {m}")


@pytest.mark.parametrize(("layer_type", "params", "shapes"), LAYERS, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(LAYERS)])
def test_layer_matches_torch_at_the_oldest_and_newest_opsets(layer_type: str, params: dict, shapes: list | None, no_trace: None) -> None:
    assert_every_opset_matches(layer_project(layer_type, params, shapes), OPSETS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_torch_at_the_oldest_opset(path: Path, no_trace: None) -> None:
    assert_every_opset_matches(example(path), (MIN_OPSET,))


def test_the_newest_opset_is_onnx_s_and_the_default_is_among_those_tested() -> None:
    assert MAX_OPSET == defs.onnx_opset_version()  # what test_layer_matches_torch_... proves ONNX Runtime runs
    assert DEFAULT_OPSET in OPSETS and DEFAULT_OPSET == 17  # the newest onnx2torch reads (test_onnx_tools.py)


def test_a_layer_left_to_torch_onnx_below_its_reach_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_direct_form(*args: object) -> None:
        raise Inexpressible("layer: AdaptiveAvgPool2d: no direct form, for this test")

    monkeypatch.setattr(onnx_export, "onnx_model", no_direct_form)
    project = layer_project("AdaptiveAvgPool2d", {"output_size": (3, 5)})  # torch.onnx writes CastLike (opset 15)
    with pytest.raises(CodegenError) as err:
        onnx_bytes(project, randomized(project), opset=MIN_OPSET)
    assert str(err.value) == (
        f"cannot export 'AdaptiveAvgPool2d test' to ONNX opset {MIN_OPSET}: a layer has no direct ONNX form, and "
        f"torch.onnx, which writes the model instead, cannot convert it to opset {MIN_OPSET} (choose opset 18 or newer, "
        "or change the layer's parameters)\n  - layer: AdaptiveAvgPool2d: no direct form, for this test"
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no converter traceback on the way


# ----- the forms that changed, one by one, against NumPy -----
def site(opset: int) -> OnnxSite:
    counter = itertools.count()
    return OnnxSite({}, (), ("x",), "y", {}, opset, lambda suffix: f"{suffix}_{next(counter)}")


def assert_computes(records: list[OnnxRecord], x: np.ndarray, expected: dict[str, np.ndarray], opset: int) -> None:
    """`records` as a model of `opset` pass full_check, and ONNX Runtime computes the `expected` outputs from `x`."""
    nodes, constants = [], []
    for record in records:
        if isinstance(record, OnnxConstant):
            array = np.asarray(record.values, dtype=record.dtype)
            constants.append(numpy_helper.from_array(array.reshape(record.shape) if record.shape is not None else array, record.name))
        else:
            assert isinstance(record, OnnxNode)
            attrs = {k: v for k, v in record.attrs.items() if v is not None}
            nodes.append(helper.make_node(record.op, list(record.inputs), list(record.outputs), **attrs))
    graph = helper.make_graph(
        nodes,
        "forms",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(value.shape)) for name, value in expected.items()],
        constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7  # every runtime that reads opset 13
    onnx.checker.check_model(model, full_check=True)
    assert default_valued(model, opset) == []
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for got, wanted in zip(session.run(list(expected), {"x": x}), expected.values(), strict=True):
        np.testing.assert_allclose(got, wanted, rtol=1e-5, atol=1e-5)


X = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, 18, MAX_OPSET])
@pytest.mark.parametrize(("op", "reference"), [("ReduceMean", np.mean), ("ReduceMax", np.max), ("ReduceSum", np.sum)])
@pytest.mark.parametrize("keepdims", [True, False])
def test_reduce(opset: int, op: str, reference: Any, keepdims: bool) -> None:
    records = reduce_records(site(opset), op, "x", (1, 3), "y", keepdims)
    (node,) = [r for r in records if isinstance(r, OnnxNode)]
    assert ("axes" in node.attrs) == (opset < (13 if op == "ReduceSum" else 18))  # an input from then on
    assert_computes(records, X, {"y": reference(X, axis=(1, 3), keepdims=keepdims)}, opset)


def log_sum_exp(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return torch.logsumexp(torch.from_numpy(x), dim=axis, keepdim=keepdims).numpy()


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, 18, MAX_OPSET])
@pytest.mark.parametrize(
    ("op", "reference"), [("ReduceL1", lambda x, axis, keepdims: np.abs(x).sum(axis=axis, keepdims=keepdims)), ("ReduceLogSumExp", log_sum_exp)]
)
@pytest.mark.parametrize("keepdims", [True, False])
def test_reductions_openvino_misreads_are_their_arithmetic_below_18(opset: int, op: str, reference: Any, keepdims: bool) -> None:
    records = reduce_records(site(opset), op, "x", (1, 3), "y", keepdims)
    assert (op in {r.op for r in records if isinstance(r, OnnxNode)}) == (opset >= 18)
    big = X * 100  # exp(x) overflows float32 from 89: the largest entry is taken out first
    assert_computes(records, big, {"y": reference(big, (1, 3), keepdims)}, opset)


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, 18, MAX_OPSET])
@pytest.mark.parametrize(("dim", "sizes"), [(2, (1, 1, 1, 1, 1)), (3, (2, 2)), (1, (2, 1)), (2, (1, 3, 1))])
def test_split(opset: int, dim: int, sizes: tuple[int, ...]) -> None:
    outs = tuple(f"part{i}" for i in range(len(sizes)))
    records = split_records(site(opset), "x", dim, sizes, outs)
    split = records[-1]
    assert isinstance(split, OnnxNode)
    assert ("num_outputs" in {k for k, v in split.attrs.items() if v is not None}) == (opset >= 18 and len(set(sizes)) == 1)
    assert_computes(records, X, dict(zip(outs, np.split(X, np.cumsum(sizes)[:-1], axis=dim), strict=True)), opset)


@pytest.mark.parametrize("opset", [MIN_OPSET, 18, 19, MAX_OPSET])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [[(0, 0), (0, 0), (2, 1), (0, 3)], [(0, 0), (1, 0), (0, 0), (3, 3)], [(0, 0), (0, 2), (4, 0), (0, 0)]])
def test_pad(opset: int, mode: str, pads: list[tuple[int, int]]) -> None:
    records = pad_records(site(opset), "x", pads, "y", mode)
    ops = {r.op for r in records if isinstance(r, OnnxNode)}
    assert ops == ({"Slice", "Concat"} if mode == "wrap" and opset < 19 else {"Pad"})
    assert_computes(records, X, {"y": np.pad(X, pads, mode=mode)}, opset)


@pytest.mark.parametrize("opset", [MIN_OPSET, 16, 17, MAX_OPSET])
@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize(("scaled", "shifted"), [(False, False), (True, False), (True, True), (False, True)])
def test_layer_norm(opset: int, count: int, scaled: bool, shifted: bool) -> None:
    sizes = X.shape[-count:]
    rng = np.random.default_rng(1)
    scale, bias = rng.standard_normal(sizes).astype(np.float32), rng.standard_normal(sizes).astype(np.float32)
    weights = [OnnxConstant("scale", tuple(scale.ravel().tolist()), "float32", sizes)] if scaled else []
    weights += [OnnxConstant("bias", tuple(bias.ravel().tolist()), "float32", sizes)] if shifted else []
    records = layer_norm_records(site(opset), "x", "y", count, 1e-3, "scale" if scaled else None, "bias" if shifted else None, sizes)
    ops = {r.op for r in records if isinstance(r, OnnxNode)}
    assert ("LayerNormalization" in ops) == (opset >= 17)
    expected = torch.nn.functional.layer_norm(
        torch.from_numpy(X), sizes, torch.from_numpy(scale) if scaled else None, torch.from_numpy(bias) if shifted else None, 1e-3
    )
    assert_computes(weights + records, X, {"y": expected.numpy()}, opset)
