"""ONNX values of more than 64 dimensions are refused, naming the node, before shape inference or folding builds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from studio.interop.common import ModelImportError
from studio.interop.onnx_fold import MAX_TENSOR_RANK, scan_steps, value_scan
from studio.interop.onnx_import import import_onnx
from tests.hostile.inputs import constant, float_input, onnx_model


def gathers(indices_rank: int, count: int) -> list:
    """`count` Gathers in a chain, each by indices of `indices_rank` dimensions (adding `indices_rank - 1`)."""
    return [helper.make_node("Gather", ["x" if i == 0 else f"g{i - 1}", "idx"], [f"g{i}"], name=f"gather{i}") for i in range(count)]


def test_the_scan_refuses_the_first_node_past_64_dimensions_and_not_one_at_64() -> None:
    ranks = {"x": 4, "idx": 6}  # each Gather adds five dimensions: 9, 14, ..., 64 after twelve
    assert value_scan(scan_steps(gathers(6, 12)), {}, ranks).rank_refusal() is None
    refusal = value_scan(scan_steps(gathers(6, 13)), {}, ranks).rank_refusal()
    assert refusal == f"node 'gather12' (Gather) makes a value of up to 69 dimensions: a tensor has at most {MAX_TENSOR_RANK}"


def test_a_chain_of_gathers_doubling_the_rank_is_refused_before_inference_builds_it(tmp_path: Path) -> None:
    nodes, last = [], "x"
    for i in range(40):  # 2**40 dimensions at the end; 22 took shape inference 21 s and 1.7 GB
        nodes += [helper.make_node("Cast", [last], [f"i{i}"], to=TensorProto.INT64), helper.make_node("Gather", [last, f"i{i}"], [f"g{i}"], axis=1, name=f"g{i}")]
        last = f"g{i}"
    path = onnx_model(tmp_path, [*nodes, helper.make_node("Relu", [last], ["y"])], [float_input("x", ["N", 1])])
    with pytest.raises(ModelImportError, match=r"node 'g5' \(Gather\) makes a value of up to 65 dimensions: a tensor has at most 64"):
        import_onnx(path)


def test_a_value_the_scan_cannot_follow_is_refused_once_inferred(tmp_path: Path) -> None:
    deep = helper.make_node("RandomNormal", [], ["r"], shape=[1] * 70, name="noise")  # its rank is an attribute's length
    path = onnx_model(tmp_path, [deep, helper.make_node("Add", ["x", "r"], ["y"])], [float_input("x", ["N", 4])])
    with pytest.raises(ModelImportError, match=r"'r', made by node 'noise' \(RandomNormal\), has 70 dimensions: a tensor has at most 64"):
        import_onnx(path)


def test_folding_never_hands_numpy_a_gather_past_64_dimensions(tmp_path: Path) -> None:
    deep = helper.make_tensor("deep", TensorProto.INT64, [1] * 40, [0])
    nodes = [helper.make_node("Gather", ["c", "deep"], ["g0"]), helper.make_node("Gather", ["g0", "deep"], ["g1"], name="second"), helper.make_node("Add", ["x", "g1"], ["y"])]
    path = onnx_model(tmp_path, nodes, [float_input("x", ["N", 4])], [constant("c", np.zeros((4,), "f4")), deep])
    with pytest.raises(ModelImportError, match=r"node 'second' \(Gather\) makes a value of up to 79 dimensions"):
        import_onnx(path)


def test_a_chain_adding_one_dimension_a_node_is_refused_before_inference(tmp_path: Path) -> None:
    nodes = []
    for i in range(100):  # no operator here computes values: the scan must still follow the ranks
        last = i == 99
        nodes.append(helper.make_node("OneHot", ["x" if i == 0 else f"h{i}", "depth", "floats" if last else "values"], ["y" if last else f"h{i + 1}"], name=f"hot{i}"))
    initializers = [
        helper.make_tensor("depth", TensorProto.INT64, [], [1]),
        helper.make_tensor("values", TensorProto.INT64, [2], [0, 1]),
        helper.make_tensor("floats", TensorProto.FLOAT, [2], [0, 1]),
    ]
    path = onnx_model(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 4])], initializers)
    with pytest.raises(ModelImportError, match=r"node 'hot62' \(OneHot\) makes a value of up to 65 dimensions"):
        import_onnx(path)
