"""ONNX written straight from the graph: the project's names, no torch.onnx, and a fallback for the rest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import onnx
import pytest

from studio.codegen import onnx_export
from studio.codegen.export import export_project
from studio.codegen.onnx_writer import writable
from studio.graph.catalogue import CATALOGUE
from studio.graph.project import load_project
from studio.interop.common import import_model
from tests.codegen.cases import ROOT

MLP = ROOT / "assets" / "examples" / "mlp.lstudio"


def test_layers_keep_their_names_and_no_trace_is_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_trace(*args: object) -> None:
        raise AssertionError("torch.onnx was used")

    monkeypatch.setattr(onnx_export, "_traced", no_trace)
    project = load_project(MLP)
    assert writable(project)
    export_project(project, "onnx", tmp_path / "mlp.onnx", seed=1)
    model = onnx.load(tmp_path / "mlp.onnx")
    layers = [n.name for n in project.graph.nodes.values() if n.type not in ("Input", "Output")]
    assert [node.name for node in model.graph.node] == layers
    assert [node.op_type for node in model.graph.node] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    assert {t.name for t in model.graph.initializer} == {f"{n}.{w}" for n in ("hidden1", "hidden2", "logits") for w in ("weight", "bias")}
    assert [i.name for i in model.graph.input] == ["point"] and [o.name for o in model.graph.output] == ["label"]
    assert not any(a.name == "dilations" for node in model.graph.node for a in node.attribute)
    imported = import_model(tmp_path / "mlp.onnx").project
    assert {n.name for n in imported.graph.nodes.values() if n.type not in ("Input", "Output")} == set(layers)


def test_a_layer_without_an_emitter_sends_the_project_through_torch_onnx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced: list[str] = []
    real = onnx_export._traced

    def tracing(project, *args):  # type: ignore[no-untyped-def]
        traced.append(project.name)
        return real(project, *args)

    monkeypatch.setattr(onnx_export, "_traced", tracing)
    monkeypatch.setitem(CATALOGUE, "ReLU", replace(CATALOGUE["ReLU"], onnx=None))
    project = load_project(MLP)
    assert not writable(project)
    export_project(project, "onnx", tmp_path / "mlp.onnx", seed=1)
    assert traced == ["mlp"]
    onnx.checker.check_model(onnx.load(tmp_path / "mlp.onnx"), full_check=True)
