"""ONNX written straight from the graph for the reductions and the tensor rearrangements: ONNX Runtime against PyTorch, and back.

Every layer of the Reduce family and of the tensor families (defaults, and each variant of
tests/codegen/cases.py) is exported without torch.onnx, must pass onnx.checker and must run in
ONNX Runtime at a batch other than the exported one to the PyTorch model's numbers, int64
indices and layers of several outputs included. The file then imports back: as the same layer
type where one ONNX operator (or the importer's pattern of a Normalize) is the layer, as an
equivalent chain where the importer's own tables map it (a Squeeze as a Reshape), and always to
ONNX Runtime's numbers; a p-norm other than 1 and 2 is not read back.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from studio.codegen import onnx_export
from studio.graph.catalogue import CATALOGUE, pieces, reduce, tensor_ops
from studio.interop.onnx_import import import_onnx
from tests.codegen.cases import VARIANTS, layer_project
from tests.codegen.onnx_checks import direct_export, randomized
from tests.interop.onnx_models import assert_matches_onnxruntime

TYPES = [spec.type for family in (reduce, tensor_ops, pieces) for spec in family.SPECS] + ["Flatten"]
CASES = [pytest.param(t, {}, None, id=t) for t in TYPES] + [
    pytest.param(t, p, s, id=f"{t}-{i}") for i, (t, p, s) in enumerate(VARIANTS) if t in TYPES
]
# What a layer becomes when it is imported back, where the importer's tables map its operators.
IMPORTED_AS = {
    "Squeeze": {"Reshape", "Flatten"},
    "Unsqueeze": {"Reshape"},
    "Unflatten": {"Reshape"},
    "Transpose": {"Permute"},
    "Roll": {"Slice", "Concat"},
    "Stack": {"Reshape", "Concat"},
}


def imported_as(layer_type: str, params: dict) -> set[str]:
    """The layer types an exported layer imports back as."""
    if layer_type == "Flatten" and params:
        return {"Reshape"}  # ONNX's Flatten makes 2-D tensors only: the others are written as a Reshape
    if layer_type == "ReduceMean" and params.get("dims") == (2, 3):
        return {"AdaptiveAvgPool2d"}  # the importer's own form of a spatial mean
    if layer_type == "Roll" and params.get("shifts") == (8,):
        return {"Identity"}  # a whole turn
    return IMPORTED_AS.get(layer_type, {layer_type})


@pytest.fixture(autouse=True)
def no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def traced(*args: object) -> None:
        raise AssertionError("torch.onnx was used")

    monkeypatch.setattr(onnx_export, "_traced", traced)


def ops(data: bytes) -> list[str]:
    return [node.op_type for node in onnx.load_from_string(data).graph.node]


@pytest.mark.parametrize(("layer_type", "params", "shapes"), CASES)
def test_layer_matches_torch_and_imports_back(layer_type: str, params: dict, shapes: list | None, tmp_path: Path) -> None:
    project = layer_project(layer_type, params, shapes)
    data = direct_export(project, randomized(project))
    if layer_type in ("Norm", "Normalize") and params.get("p", 2.0) not in (1.0, 2.0):
        return  # written as Abs, Pow, ReduceSum and Pow: the importer reads no general p-norm back
    path = tmp_path / "layer.onnx"
    path.write_bytes(data)
    imported = import_onnx(path)
    types = {n.type for n in imported.project.graph.nodes.values()} - {"Input", "Output"}
    assert types and types <= imported_as(layer_type, params), types
    assert_matches_onnxruntime(path, imported)


def test_the_plainest_operators_are_written() -> None:
    def written(layer_type: str, params: dict, shapes: list | None = None) -> list[str]:
        project = layer_project(layer_type, params, shapes)
        return ops(direct_export(project, randomized(project)))

    assert written("ReduceMean", {"dims": (1, 2)}) == ["ReduceMean"]
    assert written("Norm", {"p": 1.0}) == ["ReduceL1"]
    assert written("Norm", {"p": 3.0}) == ["Abs", "Pow", "ReduceSum", "Pow"]
    assert written("Flatten", {}) == ["Flatten"]
    assert written("Flatten", {"start_dim": 2}) == ["Reshape"]
    assert written("Flip", {"dims": (1, 2)}) == ["Slice"]
    assert written("Chunk", {"chunks": 3, "dim": 2}) == ["Split"]
    assert written("Roll", {"shifts": (8,), "dims": (2,)}) == ["Identity"]
    assert written("Stack", {}) == ["Unsqueeze", "Unsqueeze", "Concat"]
    kept = layer_project("ReduceSum", {"keepdim": True})
    model = onnx.load_from_string(direct_export(kept, randomized(kept)))
    assert not model.graph.node[0].attribute  # keepdims=1 is ONNX's default: left out


def test_a_newer_opset_also_matches() -> None:
    for layer_type, params in (("ReduceProd", {"dims": (2, 3)}), ("Chunk", {"chunks": 3, "dim": 2}), ("ArgMin", {"dim": 2})):
        project = layer_project(layer_type, params)
        direct_export(project, randomized(project), opset=23)


def test_every_layer_here_has_an_onnx_emitter() -> None:
    assert all(CATALOGUE[t].onnx is not None for t in TYPES)
