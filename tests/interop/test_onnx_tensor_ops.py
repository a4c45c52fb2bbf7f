"""ONNX import by the families' rules for reductions and tensor rearrangements: one operator, one layer.

Each rule is proven on a tiny model written with onnx.helper: the imported layer and its
parameters, and the generated PyTorch code giving ONNX Runtime's outputs. Operators the
importer's own tables map (ReduceMean, Gather, Slice, Split) keep their table forms and fall
back on the family rule for what the tables refuse. Forms no layer takes are listed by name.
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
from studio.interop.onnx_import import import_onnx, supported_operators
from tests.interop import onnx_models as om

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def ints(name: str, values: list[int] | int) -> onnx.TensorProto:
    return om.tensor(name, np.array(values, np.int64))


def layers(imported: Any) -> list[tuple[str, dict[str, Any]]]:
    """(type, parameters) of each imported layer, in graph order."""
    return [(n.type, dict(n.params)) for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")]


def imported(proto: onnx.ModelProto, tmp_path: Path) -> Any:
    """Import `proto` and require ONNX Runtime's outputs from the generated PyTorch code."""
    path = om.save(proto, tmp_path / "model.onnx")
    result = import_onnx(path)
    assert analyse(result.project.graph).is_valid
    om.assert_matches_onnxruntime(path, result)
    return result


# (builder, the layers it imports as)
def reduce_sum_input() -> onnx.ModelProto:
    """Opset 13 ReduceSum: axes an input, keepdims default."""
    nodes = [om.node("ReduceSum", ["x", "axes"], ["y"], "total")]
    return om.model(nodes, [("x", [3, 4, 5])], ["y"], [ints("axes", [1, -1])])


def reduce_min_opset_18() -> onnx.ModelProto:
    nodes = [om.node("ReduceMin", ["x", "axes"], ["y"], "least", keepdims=0)]
    return om.model(nodes, [("x", [3, 4, 5])], ["y"], [ints("axes", [2])], opset=18)


def reduce_prod_attribute() -> onnx.ModelProto:
    """Opset 13 ReduceProd: axes still an attribute."""
    nodes = [om.node("ReduceProd", ["x"], ["y"], "product", axes=[2, 3], keepdims=0)]
    return om.model(nodes, [("x", [2, 3, 2])], ["y"])


def log_sum_exp() -> onnx.ModelProto:
    nodes = [om.node("ReduceLogSumExp", ["x", "axes"], ["y"], "smooth_max", keepdims=0)]
    return om.model(nodes, [("x", [4, 6])], ["y"], [ints("axes", [-1])], opset=18)


def channel_mean_and_max() -> onnx.ModelProto:
    """ReduceMean and ReduceMax over channels: no pooling form, so the general layers."""
    nodes = [
        om.node("ReduceMean", ["x"], ["m"], "channel_mean", axes=[1], keepdims=1),
        om.node("ReduceMax", ["x"], ["n"], "channel_max", axes=[1], keepdims=1),
        om.node("Concat", ["m", "n"], ["y"], "both", axis=1),
    ]
    return om.model(nodes, [("x", [4, 5, 5])], ["y"])


def norms() -> onnx.ModelProto:
    nodes = [
        om.node("ReduceL1", ["x", "axes"], ["a"], "l1", keepdims=0),
        om.node("ReduceL2", ["x", "axes"], ["b"], "l2", keepdims=0),
        om.node("Add", ["a", "b"], ["y"], "sum"),
    ]
    return om.model(nodes, [("x", [3, 4, 4])], ["y"], [ints("axes", [2, 3])], opset=18)


def arg_max_and_min() -> onnx.ModelProto:
    nodes = [
        om.node("ArgMax", ["x"], ["best"], "best", axis=1, keepdims=0),
        om.node("ArgMin", ["x"], ["worst"], "worst", axis=-1),
    ]
    return om.model(nodes, [("x", [5, 3])], ["best", "worst"], int_outputs=("best", "worst"))


def running_sums() -> onnx.ModelProto:
    nodes = [om.node("CumSum", ["x", "axis"], ["y"], "running", exclusive=1, reverse=1)]
    return om.model(nodes, [("x", [3, 6])], ["y"], [ints("axis", 2)])


def tiled() -> onnx.ModelProto:
    nodes = [om.node("Tile", ["x", "repeats"], ["y"], "tiles")]
    return om.model(nodes, [("x", [2, 3])], ["y"], [ints("repeats", [1, 3, 2])])


def expanded_from_the_shape() -> onnx.ModelProto:
    """Expand to (N, 4, 5) with the batch read from Shape(x): a constant that depends on the batch."""
    nodes = [
        om.node("Shape", ["x"], ["shape"]), om.node("Slice", ["shape", "zero", "one", "zero"], ["batch"]),
        om.node("Concat", ["batch", "rest"], ["target"], axis=0), om.node("Expand", ["x", "target"], ["y"], "grow"),
    ]  # fmt: skip
    return om.model(nodes, [("x", [1, 5])], ["y"], [ints("zero", [0]), ints("one", [1]), ints("rest", [4, 5])])


def expanded_by_broadcasting() -> onnx.ModelProto:
    """Expand by a shorter shape, ONNX's broadcasting: (N, 3, 1) to (N, 3, 4)."""
    nodes = [om.node("Expand", ["x", "shape"], ["y"], "grow")]
    return om.model(nodes, [("x", [3, 1])], ["y"], [ints("shape", [1, 4])])


def picked_entries() -> onnx.ModelProto:
    """Gather of channels (2, 0), of the last column (-1), and of a middle time step."""
    nodes = [
        om.node("Gather", ["x", "channels"], ["c"], "channels", axis=1),
        om.node("Gather", ["c", "last"], ["y"], "last_column", axis=3),
        om.node("Gather", ["s", "middle"], ["z"], "middle_step", axis=1),
    ]
    inits = [ints("channels", [2, 0]), ints("last", -1), ints("middle", 2)]
    return om.model(nodes, [("x", [3, 4, 5]), ("s", [6, 8])], ["y", "z"], inits)


def reversed_axes() -> onnx.ModelProto:
    """Slice stepping back over two whole axes: a Flip."""
    nodes = [om.node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"], "mirror")]
    inits = [ints("starts", [-1, -1]), ints("ends", [INT64_MIN, INT64_MIN]), ints("axes", [1, 3]), ints("steps", [-1, -1])]
    return om.model(nodes, [("x", [3, 4, 5])], ["y"], inits)


def split_read_whole() -> onnx.ModelProto:
    """Opset 13 Split whose every part is read: one Split layer."""
    nodes = [
        om.node("Split", ["x", "sizes"], ["a", "b", "c"], "parts", axis=-1),
        om.node("Concat", ["c", "a", "b"], ["y"], "reordered", axis=-1),
    ]  # fmt: skip
    return om.model(nodes, [("x", [2, 6])], ["y", "b"], [ints("sizes", [1, 2, 3])])


def chunks() -> onnx.ModelProto:
    """Opset 18 Split into three outputs: 7 entries as 3, 3 and 1, as torch.chunk cuts them."""
    nodes = [om.node("Split", ["x"], ["a", "b", "c"], "thirds", axis=2, num_outputs=3)]
    return om.model(nodes, [("x", [2, 7])], ["c", "a", "b"], opset=18)


RULES = {
    "reduce_sum_input": (reduce_sum_input, [("ReduceSum", {"dims": (1, -1), "keepdim": True})]),
    "reduce_min_opset_18": (reduce_min_opset_18, [("ReduceMin", {"dims": (2,), "keepdim": False})]),
    "reduce_prod_attribute": (reduce_prod_attribute, [("ReduceProd", {"dims": (2, 3), "keepdim": False})]),
    "log_sum_exp": (log_sum_exp, [("LogSumExp", {"dims": (-1,), "keepdim": False})]),
    "channel_mean_and_max": (channel_mean_and_max, [
        ("ReduceMean", {"dims": (1,), "keepdim": True}),
        ("ReduceMax", {"dims": (1,), "keepdim": True}),
        ("Concat", {"num_inputs": 2, "dim": 1}),
    ]),
    "norms": (norms, [
        ("Norm", {"dims": (2, 3), "keepdim": False, "p": 1.0}),
        ("Norm", {"dims": (2, 3), "keepdim": False, "p": 2.0}),
        ("Add", {"num_inputs": 2}),
    ]),
    "arg_max_and_min": (arg_max_and_min, [("ArgMax", {"dim": 1, "keepdim": False}), ("ArgMin", {"dim": -1, "keepdim": True})]),
    "running_sums": (running_sums, [("Cumsum", {"dim": 2, "exclusive": True, "reverse": True})]),
    "tiled": (tiled, [("Repeat", {"repeats": (3, 2)})]),
    "expanded_from_the_shape": (expanded_from_the_shape, [("Expand", {"sizes": (4, -1)})]),
    "expanded_by_broadcasting": (expanded_by_broadcasting, [("Expand", {"sizes": (-1, 4)})]),
    "picked_entries": (picked_entries, [
        ("IndexSelect", {"dim": 1, "indices": (2, 0), "keepdim": True}),
        ("IndexSelect", {"dim": 3, "indices": (4,), "keepdim": False}),
        ("IndexSelect", {"dim": 1, "indices": (2,), "keepdim": False}),
    ]),
    "reversed_axes": (reversed_axes, [("Flip", {"dims": (1, 3)})]),
    "split_read_whole": (split_read_whole, [("Split", {"dim": 2, "sizes": (1, 2, 3)}), ("Concat", {"num_inputs": 3, "dim": -1})]),
    "chunks": (chunks, [("Chunk", {"dim": 2, "chunks": 3})]),
}  # fmt: skip


@pytest.mark.parametrize("case", RULES)
def test_one_operator_becomes_one_layer(case: str, tmp_path: Path) -> None:
    build, expected = RULES[case]
    assert layers(imported(build(), tmp_path)) == expected


def test_a_normalization_written_as_a_norm_and_a_division_becomes_one_layer(tmp_path: Path) -> None:
    nodes = [
        om.node("ReduceL1", ["x", "axes"], ["n"], "norm"), om.node("Max", ["n", "eps"], ["m"], "floor"),
        om.node("Div", ["x", "m"], ["y"], "unit"),
    ]  # fmt: skip
    proto = om.model(nodes, [("x", [3, 4])], ["y"], [ints("axes", [-1]), om.tensor("eps", np.array(1e-3))], opset=18)
    assert layers(imported(proto, tmp_path)) == [("Normalize", {"dim": -1, "p": 1.0, "eps": 1e-3})]


class UnitVectors(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x, dim=1, eps=1e-6)


@pytest.mark.parametrize(("opset", "dynamo"), [(13, False), (18, True)])
def test_torch_normalize_imports_as_one_layer(opset: int, dynamo: bool, tmp_path: Path) -> None:
    path = om.export_torch(UnitVectors(), torch.randn(2, 4, 3), tmp_path / "unit.onnx", opset, dynamo)
    result = import_onnx(path)
    assert layers(result) == [("Normalize", {"dim": 1, "p": 2.0, "eps": 1e-6})]
    om.assert_matches_onnxruntime(path, result)


def test_the_pieces_of_a_split_keep_their_outputs(tmp_path: Path) -> None:
    result = imported(chunks(), tmp_path)
    graph = result.project.graph
    (chunk,) = [n for n in graph.nodes.values() if n.type == "Chunk"]
    sources = [graph.source_of(n.id, "in") for n in graph.nodes.values() if n.type == "Output"]
    assert [(e.src, e.src_port) for e in sources] == [(chunk.id, "out3"), (chunk.id, "out1"), (chunk.id, "out2")]


def test_forms_no_layer_takes_are_listed_by_name(tmp_path: Path) -> None:
    nodes = [
        om.node("ReduceSum", ["x"], ["everything"], "everything", keepdims=0),
        om.node("ArgMax", ["x"], ["last"], "last_best", axis=1, select_last_index=1),
        om.node("Tile", ["x", "twice"], ["batches"], "batches"),
        om.node("CumSum", ["x", "zero"], ["over_batch"], "over_batch"),
    ]
    inits = [ints("twice", [2, 1, 1]), ints("zero", 0)]
    outputs = ["everything", "last", "batches", "over_batch"]  # a stepped Slice imports (IndexSelect): test_real_models.py
    proto = om.model(nodes, [("x", [4, 4])], outputs, inits, int_outputs=("last",))
    with pytest.raises(UnsupportedLayersError) as err:
        import_onnx(om.save(proto, tmp_path / "refused.onnx"))
    found = err.value.found
    assert found["ReduceSum (over every dimension, the batch included)"] == (1, "everything")
    assert found["ArgMax (the last of equal entries (select_last_index))"] == (1, "last_best")
    assert found["Tile (copies along the batch dimension)"] == (1, "batches")
    assert any(k.startswith("CumSum as Cumsum: would sum up along the batch dimension") for k in found)
    assert {"ArgMax", "ArgMin", "CumSum", "Expand", "ReduceL2", "ReduceProd", "Tile"} <= set(supported_operators())
