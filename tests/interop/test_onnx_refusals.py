"""ONNX import refusals: every unmappable node is listed, and an importer bug is reported as one, not as a bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from studio.cli import EXIT_INTERNAL, main
from studio.graph.flatten import flatten
from studio.interop import caffe_import
from studio.interop.common import (
    InternalImportError,
    UnsupportedLayersError,
    import_model,
)
from studio.interop.onnx_import import import_onnx
from studio.interop.onnx_ops import MAPPERS
from tests.interop import modern_models as mm
from tests.interop import onnx_models as om


def refusal(path: Path) -> UnsupportedLayersError:
    with pytest.raises(UnsupportedLayersError) as caught:
        import_onnx(path)
    return caught.value


# ----- every unmappable node is listed -----
def test_nodes_after_an_output_of_unknown_shape_are_reported_only_when_their_type_has_no_mapping(
    tmp_path: Path,
) -> None:
    nodes = [
        helper.make_node("Fancy", ["x"], ["f"], name="custom", domain="com.example"),
        om.node("Relu", ["f"], ["r"], "mapped_after"), om.node("Acosh", ["r"], ["c"], "unmapped_after"),
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
    assert set(found) == {"com.example.Fancy", "Acosh"}  # the gates broadcast, so they map
    assert found["com.example.Fancy"] == (1, "custom") and found["Acosh"] == (1, "unmapped_after")


# ----- sequence models and importer bugs -----
RECURRENT = {  # name: kind, layers, bidirectional
    "lstm": ("LSTM", 1, False),
    "stacked_bidirectional_lstm": ("LSTM", 2, True),
    "gru": ("GRU", 1, False),
    "stacked_bidirectional_gru": ("GRU", 2, True),
}


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_models_exported_for_a_fixed_batch_by_dynamo_import_faithfully(
    tmp_path: Path, name: str, batch: int
) -> None:
    torch.manual_seed(0)
    model = mm.SequenceTagger(*RECURRENT[name]).eval()
    path = mm.export_fixed_batch(model, torch.randn(batch, 7, 6), tmp_path / f"{name}.onnx", 18, dynamo=True)
    imported = import_onnx(path)
    assert {"LSTM", "GRU"} & {n.type for n in flatten(imported.project.graph).nodes.values()}
    om.assert_matches_onnxruntime(path, imported, batch=batch)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_a_transformer_encoder_imports_or_is_refused_by_its_operators(tmp_path: Path, dynamo: bool) -> None:
    torch.manual_seed(0)
    model = mm.Encoder().eval()
    dynamic = om.export_torch(model, torch.randn(2, 16, 16), tmp_path / "dynamic.onnx", 18 if dynamo else 17, dynamo)
    om.assert_matches_onnxruntime(dynamic, import_onnx(dynamic))
    fixed = mm.export_fixed_batch(model, torch.randn(1, 16, 16), tmp_path / "fixed.onnx", 18 if dynamo else 17, dynamo)
    try:
        imported = import_onnx(fixed)
    except UnsupportedLayersError as err:
        assert err.found
    else:
        om.assert_matches_onnxruntime(fixed, imported, batch=1)


def broken_relu(ctx: object, node: object) -> None:
    np.zeros(7168).reshape(16, 1, 64)  # the numpy error a real mapping bug raised


def test_an_exception_inside_a_mapping_is_an_internal_error_naming_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(MAPPERS, "Relu", broken_relu)
    path = om.save(om.sum_of_three(), tmp_path / "three.onnx")
    with pytest.raises(InternalImportError) as caught:
        import_onnx(path)
    text = str(caught.value)
    assert "internal error of Layer Studio" in text and "node 'y' (Relu)" in text
    assert "ValueError: cannot reshape array of size 7168" in text and "not a fault of the file" in text
    code = main(["import", str(path), "-o", str(tmp_path / "three.lstudio")])
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL == 3
    assert "node 'y' (Relu)" in err and "Traceback" not in err
    assert not (tmp_path / "three.lstudio").exists()


def test_an_unforeseen_exception_in_any_importer_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(path: Path) -> None:
        raise KeyError("bottom")

    monkeypatch.setattr(caffe_import, "import_caffe", failing)
    (tmp_path / "net.prototxt").write_text('input: "data"\n')
    with pytest.raises(InternalImportError, match="internal error of Layer Studio .*KeyError"):
        import_model(tmp_path / "net.prototxt")
