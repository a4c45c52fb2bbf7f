"""Math and activation layers from other files: one ONNX operator each (constants read by the rules), and Caffe's math layers.

Every ONNX import is checked against ONNX Runtime on the original file; every Caffe net
Layer Studio writes for these layers is imported back and must compute what the PyTorch
model it was written from computes (no Caffe is installed, so this proves the composed forms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from studio.codegen.caffe import generate_caffe
from studio.interop.caffe_import import import_caffe
from studio.interop.common import UnsupportedLayersError
from studio.interop.onnx_import import import_onnx, supported_operators
from tests.codegen.cases import layer_project, random_inputs, seeded_model
from tests.interop import onnx_models as om

SAMPLE = [3, 4, 4]


def one_operator(
    op: str, attrs: dict[str, Any], constants: list[float | None], tmp_path: Path, opset: int = 18
) -> Path:
    """x -> op(x, *constants) -> y as a file; a None constant is an optional input left out."""
    names = [f"c{i}" if value is not None else "" for i, value in enumerate(constants)]
    inits = [om.tensor(name, value) for name, value in zip(names, constants) if value is not None]
    proto = om.model([om.node(op, ["x", *names], ["y"], "layer", **attrs)], [("x", SAMPLE)], ["y"], inits, opset=opset)
    return om.save(proto, tmp_path / f"{op}.onnx")


def the_layer(imported: Any) -> Any:
    (layer,) = [n for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")]
    return layer


ONE_OPERATOR = [  # operator, attributes, constant inputs, layer type, parameters it must have
    ("Exp", {}, [], "Exp", {}),
    ("Log", {}, [], "Log", {}),
    ("Abs", {}, [], "Abs", {}),
    ("Neg", {}, [], "Neg", {}),
    ("Reciprocal", {}, [], "Reciprocal", {}),
    ("Sqrt", {}, [], "Sqrt", {}),
    ("Erf", {}, [], "Erf", {}),
    ("Sin", {}, [], "Sin", {}),
    ("Cos", {}, [], "Cos", {}),
    ("Softsign", {}, [], "Softsign", {}),
    ("Pow", {}, [2.0], "Square", {}),
    ("Pow", {}, [-0.5], "Rsqrt", {}),
    ("Pow", {}, [1.5], "Pow", {"exponent": 1.5}),
    ("Clip", {}, [-1.0, 0.5], "Clip", {"min": (-1.0,), "max": (0.5,)}),
    ("Clip", {}, [None, 0.5], "Clip", {"min": (), "max": (0.5,)}),
    ("Clip", {}, [0.0, 6.0], "ReLU6", {}),  # the importer's own mapping comes first
    ("Celu", {"alpha": 0.5}, [], "CELU", {"alpha": 0.5}),
    ("Shrink", {"lambd": 0.7, "bias": 0.7}, [], "Softshrink", {"lambd": 0.7}),
    ("Shrink", {"lambd": 0.7}, [], "Hardshrink", {"lambd": 0.7}),
    ("HardSigmoid", {}, [], "Hardsigmoid", {"alpha": 0.2, "beta": 0.5}),
    ("HardSigmoid", {"alpha": 1 / 6}, [], "Hardsigmoid", {"alpha": 1 / 6, "beta": 0.5}),  # PyTorch's, exactly
    ("ThresholdedRelu", {"alpha": 0.3}, [], "Threshold", {"threshold": 0.3, "value": 0.0}),
]


@pytest.mark.parametrize(("op", "attrs", "constants", "layer_type", "params"), ONE_OPERATOR,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(ONE_OPERATOR)])  # fmt: skip
def test_one_operator_becomes_one_layer(
    op: str, attrs: dict, constants: list, layer_type: str, params: dict, tmp_path: Path
) -> None:
    path = one_operator(op, attrs, constants, tmp_path)
    imported = import_onnx(path)
    layer = the_layer(imported)
    assert layer.type == layer_type and {k: layer.params[k] for k in params} == params
    assert layer.name == "layer"
    om.assert_matches_onnxruntime(path, imported)


def test_clip_of_opset_7_reads_its_bounds_from_attributes(tmp_path: Path) -> None:
    path = one_operator("Clip", {"min": -2.0, "max": 3.0}, [], tmp_path, opset=7)
    imported = import_onnx(path)
    layer = the_layer(imported)
    assert layer.type == "Clip" and (layer.params["min"], layer.params["max"]) == ((-2.0,), (3.0,))
    om.assert_matches_onnxruntime(path, imported)


@pytest.mark.parametrize(
    ("op", "attrs", "constants", "kind"),
    [
        ("Pow", {}, [[1.0, 2.0, 3.0, 4.0]], "Pow (an exponent that is one constant number)"),
        ("Shrink", {"lambd": 0.5, "bias": 0.2}, [], "Shrink (a bias of 0 or equal to lambd)"),
        ("Clip", {}, [1.0, -1.0], "Clip (bounds that are single constant numbers, min at most max)"),
        ("Celu", {"alpha": 20.0}, [], "Celu ('alpha' must be a number from 0.01 to 10"),
    ],
)
def test_values_no_layer_takes_are_reported(op: str, attrs: dict, constants: list, kind: str, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedLayersError) as err:
        import_onnx(one_operator(op, attrs, constants, tmp_path))
    assert any(found.startswith(kind) for found in err.value.found), err.value.found


def test_a_computed_exponent_is_reported(tmp_path: Path) -> None:
    nodes = [om.node("Relu", ["x"], ["r"], "relu"), om.node("Pow", ["x", "r"], ["y"], "power")]
    with pytest.raises(UnsupportedLayersError) as err:
        import_onnx(om.save(om.model(nodes, [("x", SAMPLE)], ["y"], opset=18), tmp_path / "computed.onnx"))
    assert "Pow (its exponent is computed, not a constant)" in err.value.found


def test_the_new_operators_are_listed_as_supported() -> None:
    assert {"Exp", "Log", "Pow", "Shrink", "Celu", "ThresholdedRelu", "Softsign", "Sin", "Clip"} <= set(supported_operators())


@pytest.mark.parametrize(
    ("nodes", "constants", "factor", "offset"),
    [
        ([("Mul", ["x", "c0"]), ("Add", ["m", "c1"])], [2.0, -1.0], 2.0, -1.0),
        ([("Div", ["x", "c0"])], [4.0], 0.25, 0.0),
        ([("Sub", ["c0", "x"])], [1.0], -1.0, 1.0),
    ],
    ids=["mul-add", "div", "sub-from"],
)
def test_arithmetic_with_single_constants_becomes_one_scale(
    nodes: list, constants: list, factor: float, offset: float, tmp_path: Path
) -> None:
    made = [om.node(op, inputs, ["m" if i < len(nodes) - 1 else "y"], f"step{i}") for i, (op, inputs) in enumerate(nodes)]
    inits = [om.tensor(f"c{i}", value) for i, value in enumerate(constants)]
    path = om.save(om.model(made, [("x", SAMPLE)], ["y"], inits, opset=18), tmp_path / "scale.onnx")
    imported = import_onnx(path)
    layer = the_layer(imported)
    assert layer.type == "Scale" and (layer.params["factor"], layer.params["offset"]) == (factor, offset)
    om.assert_matches_onnxruntime(path, imported)


# ----- Caffe: what the exporter writes comes back computing the same -----
CAFFE_FORMS = [
    ("Abs", {}, None), ("Exp", {}, None), ("Log", {}, None), ("Neg", {}, None), ("Reciprocal", {}, None),
    ("Sqrt", {}, None), ("Rsqrt", {}, None), ("Square", {}, None), ("Pow", {"exponent": 0.5}, None),
    ("Clip", {"min": (-0.5,), "max": (0.25,)}, None), ("Scale", {"factor": -2.0, "offset": 0.5}, None),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}, None), ("LogSigmoid", {}, None), ("CELU", {"alpha": 0.5}, None),
    ("Softshrink", {"lambd": 0.3}, None), ("Tanhshrink", {}, None), ("Softmin", {"dim": 1}, None),
    ("GLU", {"dim": 1}, [(4, 8, 8)]), ("SwiGLU", {}, [(6, 8)]), ("Hardsigmoid", {"alpha": 0.2, "beta": 0.4}, None),
]  # fmt: skip


@pytest.mark.parametrize(("layer_type", "params", "shapes"), CAFFE_FORMS, ids=[c[0] for c in CAFFE_FORMS])
def test_the_caffe_form_imports_back_computing_the_same(
    layer_type: str, params: dict, shapes: list | None, tmp_path: Path
) -> None:
    project = layer_project(layer_type, params, shapes)
    path = tmp_path / "net.prototxt"
    path.write_text(generate_caffe(project), encoding="utf-8")
    back = import_caffe(path)
    xs = random_inputs(project.graph, 3)
    with torch.no_grad():
        expected = seeded_model(project)(*xs)
        got = om.generated_model(back)(*xs)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
