"""ONNX import refusals: every unmappable node is listed, and an importer bug is reported as one, not as a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from onnx import TensorProto, helper

from studio.interop.common import UnsupportedLayersError
from studio.interop.onnx_import import import_onnx
from tests.interop import modern_models as mm
from tests.interop import onnx_models as om


def refusal(path: Path) -> UnsupportedLayersError:
    with pytest.raises(UnsupportedLayersError) as caught:
        import_onnx(path)
    return caught.value


# ----- every unmappable node is listed -----
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_every_squeeze_excite_multiply_of_a_mobilenet_v3_is_listed(tmp_path: Path, dynamo: bool) -> None:
    model = mm.randomized(mm.mobilenet_v3(gates=3))
    path = om.export_torch(model, torch.randn(2, 3, 16, 16), tmp_path / "mobilenet.onnx", 18 if dynamo else 13, dynamo)
    found = refusal(path).found
    assert [kind for kind in found if kind.startswith("Mul")] == list(found)
    assert sum(count for count, _ in found.values()) == 3


def test_nodes_after_an_output_of_unknown_shape_are_reported_only_when_their_type_has_no_mapping(
    tmp_path: Path,
) -> None:
    nodes = [
        helper.make_node("Fancy", ["x"], ["f"], name="custom", domain="com.example"),
        om.node("Relu", ["f"], ["r"], "mapped_after"), om.node("Cos", ["r"], ["c"], "unmapped_after"),
        om.node("GlobalAveragePool", ["x"], ["g"], "gate"), om.node("Mul", ["x", "g"], ["m1"], "first_gate"),
        om.node("Relu", ["m1"], ["m2"], "between"), om.node("Mul", ["m2", "g"], ["y"], "second_gate"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "partly_known", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("c", "y")],
    )  # fmt: skip
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)]
    )
    found = refusal(om.save(proto, tmp_path / "partly_known.onnx")).found
    multiplies = [kind for kind in found if kind.startswith("Mul")]
    assert set(found) == {"com.example.Fancy", "Cos", *multiplies}
    assert found["com.example.Fancy"] == (1, "custom") and found["Cos"] == (1, "unmapped_after")
    assert len(multiplies) == 1 and found[multiplies[0]] == (2, "first_gate")
