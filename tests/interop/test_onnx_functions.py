"""ONNX model-local functions: inlined on import (nested, with attributes, exported by torch), their expansion bounded before it happens."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from studio.interop.common import ModelImportError, UnsupportedLayersError
from studio.interop.onnx_files import MAX_NODES
from studio.interop.onnx_functions import MAX_FUNCTION_DEPTH, MAX_INLINED_BYTES
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om

LOCAL = "local"


def function(name: str, nodes: list[onnx.NodeProto], opset: int = 17, attributes: list[str] = ()) -> onnx.FunctionProto:  # type: ignore[assignment]
    """A function of one input `a` and one output `b` in the local domain."""
    return helper.make_function(LOCAL, name, ["a"], ["b"], nodes, [helper.make_opsetid("", opset), helper.make_opsetid(LOCAL, 1)], list(attributes))


def call(name: str, source: str = "a", target: str = "b", node_name: str = "", **attrs: object) -> onnx.NodeProto:
    return helper.make_node(name, [source], [target], name=node_name, domain=LOCAL, **attrs)


def with_functions(functions: list[onnx.FunctionProto], nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto] = ()) -> onnx.ModelProto:  # type: ignore[assignment]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph(nodes, "functions", [x], [y], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(LOCAL, 1)], functions=functions)


def nested() -> onnx.ModelProto:
    """Block(x) = Scaled(sigmoid(Scaled(x))), Scaled(a) = leaky_relu(a * 2, alpha) with alpha an attribute of the call; Block used twice, the second time with its own alpha."""
    alpha = helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT)
    leaky = helper.make_node("LeakyRelu", ["m"], ["b"])
    leaky.attribute.append(alpha)
    scaled = function("Scaled", [
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array(2.0, np.float32))),
        helper.make_node("Mul", ["a", "two"], ["m"]),
        leaky,
    ], attributes=["alpha"])  # fmt: skip
    inner = helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT)
    first, second = call("Scaled", "a", "s"), call("Scaled", "t", "b")
    first.attribute.append(inner)
    second.attribute.append(inner)
    block = function("Block", [first, helper.make_node("Sigmoid", ["s"], ["t"]), second], attributes=["alpha"])
    nodes = [call("Block", "x", "h", "/block1/Block", alpha=0.1), call("Block", "h", "y", "/block2/Block", alpha=0.3)]
    return with_functions([scaled, block], nodes)


def test_nested_functions_with_attributes_import_as_their_nodes_and_compute_the_same(tmp_path: Path) -> None:
    path = om.save(nested(), tmp_path / "nested.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    flat = import_onnx(path, blocks=False)
    layers = [n for n in flat.project.graph.nodes.values() if n.type not in ("Input", "Output")]
    assert [n.type for n in layers] == ["Scale", "LeakyReLU", "Sigmoid", "Scale", "LeakyReLU"] * 2
    assert [n.params["negative_slope"] for n in layers if n.type == "LeakyReLU"] == pytest.approx([0.1, 0.1, 0.3, 0.3])
    assert all(n.name.startswith(("/block1/", "/block2/")) for n in layers)  # each inlined node keeps its call's module scope
    om.assert_matches_onnxruntime(path, flat)


def test_functions_resolve_by_overload(tmp_path: Path) -> None:
    plain = function("F", [helper.make_node("Relu", ["a"], ["b"])])
    other = function("F", [helper.make_node("Sigmoid", ["a"], ["b"])])
    other.overload = "smooth"
    chosen = call("F", "x", "y")
    chosen.overload = "smooth"
    model = with_functions([plain, other], [chosen])
    model.ir_version = 10
    imported = import_onnx(om.save(model, tmp_path / "overload.onnx"), blocks=False)
    assert [n.type for n in imported.project.graph.nodes.values()] == ["Input", "Sigmoid", "Output"]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x)) + x


class TwoResiduals(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b1, self.b2, self.out = Residual(), Residual(), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.b2(self.b1(x)))


def test_a_model_torch_exported_with_modules_as_functions_imports_with_those_modules_as_blocks(tmp_path: Path) -> None:
    path = tmp_path / "functions.onnx"
    with om.quiet():
        torch.onnx.export(
            om.randomized(TwoResiduals()).eval(), (torch.randn(2, 8),), str(path), dynamo=False, opset_version=17,
            export_modules_as_functions={Residual}, input_names=["x"], dynamic_axes={"x": {0: "batch"}},
        )  # fmt: skip
    assert [f.name for f in onnx.load(str(path)).functions] == ["Residual"]
    imported = import_onnx(path)
    top = [(n.type, n.name) for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")]
    assert len(top) == 3 and top[0][0] == top[1][0] and [name for _, name in top[:2]] == ["b1", "b2"]
    block = next(n for n in imported.project.graph.nodes.values() if n.name == "b1").block
    assert sorted(n.type for n in block.graph.nodes.values()) == ["Add", "Input", "Linear", "Output", "ReLU"]
    om.assert_matches_onnxruntime(path, imported)


def doubling(levels: int) -> onnx.ModelProto:
    """F0 is one Relu, each F(k) calls F(k-1) twice: 2**levels nodes once inlined, from a file of a few kilobytes."""
    functions = [function("F0", [helper.make_node("Relu", ["a"], ["b"])])]
    functions += [function(f"F{k}", [call(f"F{k - 1}", "a", "m"), call(f"F{k - 1}", "m", "b")]) for k in range(1, levels + 1)]
    return with_functions(functions, [call(f"F{levels}", "x", "y")])


def copying_constants(calls: int, size: int) -> onnx.ModelProto:
    """A function holding a Constant of `size` floats, called `calls` times in a chain."""
    value = numpy_helper.from_array(np.ones(size, np.float32))
    holder = function("C", [helper.make_node("Constant", [], ["c"], value=value), helper.make_node("Identity", ["a"], ["b"])])
    names = ["x", *(f"h{i}" for i in range(1, calls)), "y"]
    return with_functions([holder], [call("C", names[i], names[i + 1]) for i in range(calls)])


REFUSED = {
    "calls itself": (with_functions([function("F", [call("F")])], [call("F", "x", "y")]), ("local.F -> local.F", "cannot recurse")),
    "a cycle of calls": (
        with_functions([function("F", [call("G")]), function("G", [call("F")])], [call("F", "x", "y")]),
        ("local.F -> local.G -> local.F", "cannot recurse"),
    ),
    "nested too deep": (
        with_functions(
            [function(f"F{k}", [call(f"F{k + 1}")]) for k in range(MAX_FUNCTION_DEPTH + 1)]
            + [function(f"F{MAX_FUNCTION_DEPTH + 1}", [helper.make_node("Relu", ["a"], ["b"])])],
            [call("F0", "x", "y")],
        ),
        (f"more than {MAX_FUNCTION_DEPTH} deep",),
    ),
    "too many nodes once inlined": (doubling(40), (f"more than {MAX_NODES:,} nodes once its local functions are inlined",)),
    "too many bytes copied": (copying_constants(300, 250_000), (f"more than {MAX_INLINED_BYTES:,} bytes of nodes",)),
    "another opset": (
        with_functions([function("F", [helper.make_node("Relu", ["a"], ["b"])], opset=13)], [call("F", "x", "y")]),
        ("local.F", "ai.onnx 13 (the model: 17)", "model's own opsets"),
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_functions_that_cannot_be_inlined_safely_are_refused_before_the_inliner_runs(tmp_path: Path, case: str) -> None:
    model, words = REFUSED[case]
    path = om.save(model, tmp_path / "refused.onnx")
    assert path.stat().st_size < 2**20
    started = time.perf_counter()
    with pytest.raises(ModelImportError) as err:
        import_onnx(path)
    assert time.perf_counter() - started < 30  # counted from the call graph, not expanded (2**40 nodes would never finish)
    assert not isinstance(err.value, UnsupportedLayersError)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and all(w in text for w in words), text


def test_calls_under_the_limits_inline_however_often_a_function_is_used(tmp_path: Path) -> None:
    imported = import_onnx(om.save(doubling(6), tmp_path / "doubling.onnx"), blocks=False)
    assert sum(n.type == "ReLU" for n in imported.project.graph.nodes.values()) == 2**6
