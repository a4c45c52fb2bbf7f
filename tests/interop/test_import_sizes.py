"""Imports whose size once cost quadratic time or unbounded memory (issue 19, item 10): small cases, checked for correctness only.

The speed and memory of the large cases are measured in `benchmarks/hostile_scale.py`, never here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from studio.graph.shapes import analyse
from studio.interop.common import ModelImportError, UnsupportedLayersError
from studio.interop.onnx_import import import_onnx
from studio.interop.onnx_sparse import MAX_DENSE_BYTES
from studio.interop.prototxt import parse
from tests.interop import onnx_models as om


@pytest.mark.parametrize(("op", "layer"), [("Sum", "Add"), ("Max", "Maximum"), ("Min", "Minimum")])
def test_a_variadic_merge_of_fifty_inputs_becomes_a_shallow_tree_of_merges(op: str, layer: str, tmp_path: Path) -> None:
    nodes = [om.node("Relu" if i % 2 else "Sigmoid", ["x"], [f"a{i}"]) for i in range(50)]
    nodes.append(om.node(op, [f"a{i}" for i in range(50)], ["y"], "total"))
    path = om.save(om.model(nodes, [("x", [3])], ["y"]), tmp_path / "many.onnx")
    imported = import_onnx(path)
    graph = imported.project.graph
    assert analyse(graph).is_valid
    merges = [n for n in graph.nodes.values() if n.type == layer]
    assert sum(n.params["num_inputs"] for n in merges) == 50 + len(merges) - 1  # every input once, each partial once more
    assert all(n.params["num_inputs"] <= 16 for n in merges) and len(merges) == math.ceil(50 / 16) + 1
    feeding = {e.src for n in merges for e in graph.in_edges(n.id)}
    assert sum(1 for n in merges if n.id in feeding) == len(merges) - 1  # two levels: every partial feeds the last merge
    om.assert_matches_onnxruntime(path, imported)


def test_a_mean_of_forty_inputs_is_their_sum_scaled(tmp_path: Path) -> None:
    nodes = [om.node("Relu" if i % 2 else "Sigmoid", ["x"], [f"a{i}"]) for i in range(40)]
    nodes.append(om.node("Mean", [f"a{i}" for i in range(40)], ["y"], "average"))
    path = om.save(om.model(nodes, [("x", [3])], ["y"]), tmp_path / "mean.onnx")
    imported = import_onnx(path)
    scales = [n for n in imported.project.graph.nodes.values() if n.type == "Scale"]
    assert len(scales) == 1 and scales[0].params["factor"] == pytest.approx(1 / 40)
    om.assert_matches_onnxruntime(path, imported)


def test_a_concat_of_forty_inputs_keeps_their_order(tmp_path: Path) -> None:
    nodes = [om.node("Mul", ["x", f"k{i}"], [f"a{i}"]) for i in range(40)]
    nodes.append(om.node("Concat", [f"a{i}" for i in range(40)], ["y"], "joined", axis=1))
    inits = [om.tensor(f"k{i}", np.array([float(i + 1)], np.float32)) for i in range(40)]
    path = om.save(om.model(nodes, [("x", [2])], ["y"], inits), tmp_path / "concat.onnx")
    om.assert_matches_onnxruntime(path, import_onnx(path))


def _sparse_model(dims: list[int], values: np.ndarray, indices: np.ndarray, constant: bool = False) -> onnx.ModelProto:
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(values, "w"), numpy_helper.from_array(indices, "w_index"), dims)
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    if constant:
        nodes.insert(0, helper.make_node("Constant", [], ["w"], sparse_value=sparse))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *dims[1:]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "sparse", [x], [y], sparse_initializer=[] if constant else [sparse])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("constant", [False, True], ids=["initializer", "constant"])
def test_a_small_sparse_tensor_imports_dense(constant: bool, tmp_path: Path) -> None:
    values = np.array([1.5, -2.0, 3.0], np.float32)
    flat = _sparse_model([1, 6], values, np.array([0, 2, 5], np.int64), constant)
    coordinates = _sparse_model([1, 6], values, np.array([[0, 0], [0, 2], [0, 5]], np.int64), constant)
    for name, proto in (("flat", flat), ("coordinates", coordinates)):
        imported = import_onnx(om.save(proto, tmp_path / f"{name}.onnx"))
        held = [v.reshape(-1).tolist() for v in imported.state.values()]
        assert [1.5, 0, -2.0, 0, 0, 3.0] in held, held


@pytest.mark.parametrize("constant", [False, True], ids=["initializer", "constant"])
def test_a_sparse_tensor_declaring_a_huge_dense_size_is_refused_in_one_line(constant: bool, tmp_path: Path) -> None:
    proto = _sparse_model([10**6, 10**6], np.ones(2, np.float32), np.array([0, 7], np.int64), constant)
    with pytest.raises(ModelImportError) as err:
        import_onnx(om.save(proto, tmp_path / "huge.onnx"))
    text = str(err.value)
    assert not isinstance(err.value, UnsupportedLayersError)
    assert "'w'" in text and "1,000,000,000,000 elements" in text and f"{MAX_DENSE_BYTES / 2**30:g} GiB" in text and "\n" not in text


def test_a_sparse_index_outside_its_dims_is_refused(tmp_path: Path) -> None:
    proto = _sparse_model([1, 6], np.ones(2, np.float32), np.array([0, 6], np.int64))
    with pytest.raises(ModelImportError, match="index outside"):
        import_onnx(om.save(proto, tmp_path / "outside.onnx"))


def test_sparse_values_in_external_data_are_checked_against_the_file(tmp_path: Path) -> None:
    proto = _sparse_model([1, 6], np.ones(3, np.float32), np.array([0, 1, 2], np.int64))
    values = proto.graph.sparse_initializer[0].values
    values.ClearField("raw_data")
    values.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("length", "12")):
        entry = values.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "w.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ModelImportError, match="'w'.*holds 8"):
        import_onnx(om.save(proto, tmp_path / "external.onnx"))


@pytest.mark.parametrize("escaped", [False, True])
def test_a_long_string_in_a_prototxt_parses_whole(escaped: bool) -> None:
    body = ("ab\\ncd\\\"" if escaped else "abcd\u00e9") * 20_000
    net = parse(f'name: "{body}"\nlayer {{ name: "x" }}\n'.encode())
    expected = ('ab\ncd"' if escaped else "abcd\u00e9") * 20_000
    assert net.text("name") == expected and net.children("layer")[0].text("name") == "x"


def test_adjacent_strings_join_their_bytes_across_escapes() -> None:
    assert parse('name: "caf" "\\303\\251" \'!\'').text("name") == "caf\u00e9!"
