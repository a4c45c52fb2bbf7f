"""Constant folding's bound: every folded result's size is known before it is computed, and one budget per model refuses the rest."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from studio.interop.common import ModelImportError, UnsupportedLayersError
from studio.interop.onnx_fold import (
    BUDGET_VARIABLE,
    FOLD_BUDGET,
    MAX_PROPAGATED,
    check_steps,
    propagated_values,
    result_elements,
    scan_steps,
)
from studio.interop.onnx_import import import_onnx

ROOT = Path(__file__).resolve().parents[2]
HUGE = 32768  # (HUGE, 1) and (1, HUGE) hold 128 KiB each; their broadcast 4 GiB of float32


def ints(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def floats(*shape: int) -> np.ndarray:
    return np.arange(math.prod(shape), dtype=np.float32).reshape(shape) % 7 + 1


# op, inputs by name ("" for an input left out), attributes, opset, whether the bound is exact
CASES: list[tuple[str, dict[str, np.ndarray | None], dict[str, Any], int, bool]] = [
    ("Add", {"a": floats(3, 1), "b": floats(1, 4)}, {}, 17, True),
    ("Where", {"c": np.ones((3, 1), bool), "a": floats(1, 4), "b": floats()}, {}, 17, True),
    ("Clip", {"x": floats(2, 3), "lo": np.float32(0), "hi": np.float32(3)}, {}, 17, True),
    ("Sum", {"a": floats(2, 1, 3), "b": floats(4, 1), "c": floats(3)}, {}, 17, True),
    ("MatMul", {"a": floats(2, 3, 4), "b": floats(4, 5)}, {}, 17, True),
    ("MatMul", {"a": floats(4), "b": floats(3, 4, 5)}, {}, 17, True),
    ("Gemm", {"a": floats(3, 4), "b": floats(5, 4), "c": floats(5)}, {"transB": 1}, 17, True),
    ("Expand", {"x": floats(3, 1), "shape": ints(2, 1, 4)}, {}, 17, True),
    ("Tile", {"x": floats(2, 3), "repeats": ints(2, 2)}, {}, 17, True),
    ("ConstantOfShape", {"shape": ints(3, 4)}, {}, 17, True),
    ("Range", {"start": np.int64(0), "limit": np.int64(10), "delta": np.int64(3)}, {}, 17, True),
    ("Range", {"start": np.float32(0.5), "limit": np.float32(2.0), "delta": np.float32(0.5)}, {}, 17, True),
    ("Concat", {"a": floats(2, 3), "b": floats(4, 3)}, {"axis": 0}, 17, True),
    ("Gather", {"data": floats(2, 5, 3), "index": ints(0, 4, 1, 2, 3, 3, 0, 1).reshape(4, 2)}, {"axis": 1}, 17, True),
    ("GatherElements", {"data": floats(3, 4), "index": ints(0, 1, 2, 0, 2, 2, 1, 0).reshape(2, 4)}, {"axis": 0}, 17, True),
    ("GatherND", {"data": floats(2, 3, 4), "index": ints(1, 0).reshape(2, 1)}, {}, 17, True),
    ("GatherND", {"data": floats(2, 3, 4), "index": ints(1, 2).reshape(2, 1)}, {"batch_dims": 1}, 17, True),
    ("OneHot", {"index": ints(0, 2, 4), "depth": np.int64(5), "values": np.array([0.0, 1.0], np.float32)}, {}, 17, True),
    ("Pad", {"x": floats(2, 3), "pads": ints(1, 0, 1, 2)}, {}, 17, True),
    ("Pad", {"x": floats(2, 3), "pads": ints(1, 2), "value": None, "axes": ints(1)}, {}, 18, True),
    ("Resize", {"x": floats(1, 1, 2, 2), "roi": None, "scales": np.array([1, 1, 2, 3], np.float32)}, {}, 13, True),
    ("Resize", {"x": floats(1, 1, 2, 2), "roi": None, "scales": None, "sizes": ints(1, 1, 3, 5)}, {}, 13, True),
    ("Resize", {"x": floats(1, 1, 2, 2), "roi": None, "scales": None, "sizes": ints(3, 5)},
     {"axes": [2, 3], "keep_aspect_ratio_policy": "not_smaller"}, 18, False),
    ("Upsample", {"x": floats(1, 1, 2, 2), "scales": np.array([1, 1, 2, 2], np.float32)}, {}, 9, True),
    ("DequantizeLinear", {"x": np.ones((4, 3), np.int8), "scale": np.full(3, 0.5, np.float32)}, {"axis": 1}, 19, True),
    ("DequantizeLinear", {"x": np.ones((4, 6), np.int8), "scale": np.full((4, 3), 0.5, np.float32)}, {"axis": 1, "block_size": 2}, 21, False),
    ("QuantizeLinear", {"x": floats(4, 3), "scale": np.full(4, 0.5, np.float32)}, {"axis": 0}, 19, True),
    ("LayerNormalization", {"x": floats(2, 3), "scale": floats(3), "bias": floats(3)}, {}, 17, True),
    ("BatchNormalization", {"x": floats(2, 3, 4), "s": floats(3), "b": floats(3), "m": floats(3), "v": floats(3)}, {}, 15, True),
    ("NonZero", {"x": np.eye(3, dtype=np.float32)}, {}, 17, False),
    ("Split", {"x": floats(6)}, {"num_outputs": 3}, 18, True),
    ("TopK", {"x": floats(2, 5), "k": ints(2)}, {}, 17, False),
    ("Reshape", {"x": floats(2, 6), "shape": ints(3, 4)}, {}, 17, True),
    ("ReduceSum", {"x": floats(2, 6), "axes": ints(1)}, {}, 17, False),
    ("Shape", {"x": floats(2, 6, 3)}, {}, 17, True),
    ("Einsum", {"a": floats(2, 3), "b": floats(3, 4)}, {"equation": "ij,jk->ik"}, 17, True),
    ("Conv", {"x": floats(1, 1, 4, 4), "w": floats(1, 1, 3, 3)}, {"pads": [1, 1, 1, 1]}, 17, True),
]


def single_node(op: str, inputs: dict[str, np.ndarray | None], attrs: dict[str, Any], opset: int, outputs: int) -> tuple[onnx.NodeProto, onnx.ModelProto]:
    names = [name if value is not None else "" for name, value in inputs.items()]
    node = helper.make_node(op, names, [f"out{i}" for i in range(outputs)], **attrs)
    feeds = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v)) for k, v in inputs.items() if v is not None]
    outs = [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in node.output]
    return node, helper.make_model(helper.make_graph([node], "one", feeds, outs), opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize(("op", "inputs", "attrs", "opset", "exact"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_operators_bound_holds_what_evaluating_it_makes(op: str, inputs: dict[str, np.ndarray | None], attrs: dict[str, Any], opset: int, exact: bool) -> None:
    outputs = {"Split": 3, "TopK": 2}.get(op, 1)
    node, model = single_node(op, inputs, attrs, opset, outputs)
    values = [None if v is None else np.asarray(v) for v in inputs.values()]
    bound = result_elements(node, values, attrs, opset)
    made = ReferenceEvaluator(model).run(None, {k: np.asarray(v) for k, v in inputs.items() if v is not None})
    total = sum(np.asarray(r).size for r in made)
    assert total <= bound
    if exact:
        assert bound == total


SHAPES = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_growing_operators_bounds_are_exact_for_any_shapes(data: st.DataObject) -> None:
    """Broadcasts, products, Expand, Tile, Concat and Gather of random shapes: the bound is exactly what the evaluator makes, or the evaluator refuses the inputs."""
    op = data.draw(st.sampled_from(["Add", "Where", "MatMul", "Expand", "Tile", "Concat", "Gather"]))
    a, b = data.draw(SHAPES), data.draw(SHAPES)
    if op == "Add":
        inputs = {"a": np.ones(a, np.float32), "b": np.ones(b, np.float32)}
    elif op == "Where":
        inputs = {"c": np.ones(a, bool), "a": np.ones(b, np.float32), "b": np.ones(data.draw(SHAPES), np.float32)}
    elif op == "MatMul":
        batch = st.lists(st.integers(1, 2), max_size=2).map(tuple)
        inner, rows, cols = (data.draw(st.integers(1, 3)) for _ in range(3))
        left = (*data.draw(batch), rows, inner) if data.draw(st.booleans()) else (inner,)
        right = (*data.draw(batch), inner, cols) if data.draw(st.booleans()) else (inner,)
        inputs = {"a": np.ones(left, np.float32), "b": np.ones(right, np.float32)}
    elif op == "Expand":
        inputs = {"x": np.ones(a, np.float32), "shape": np.array(b, np.int64)}
    elif op == "Tile":
        inputs = {"x": np.ones(a, np.float32), "repeats": np.array(data.draw(st.lists(st.integers(0, 3), min_size=len(a), max_size=len(a))), np.int64)}
    elif op == "Concat":
        inputs = {"a": np.ones((*a, 2), np.float32), "b": np.ones((*a, 3), np.float32)}
    else:
        inputs = {"data": np.ones((*a, 3), np.float32), "index": np.zeros(b, np.int64)}
    attrs = {"axis": -1} if op == "Concat" else {"axis": data.draw(st.integers(0, len(a)))} if op == "Gather" else {}
    node, model = single_node(op, inputs, attrs, 17, 1)
    bound = result_elements(node, list(inputs.values()), attrs, 17)
    try:
        made = ReferenceEvaluator(model).run(None, inputs)
    except Exception:  # noqa: BLE001 - shapes the operator refuses; the folder reports them as the evaluator's error
        return
    assert bound == np.asarray(made[0]).size


def test_a_constant_node_is_bounded_by_what_it_declares() -> None:
    node = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(floats(3, 4)))
    assert result_elements(node, [], {}, 17) == 12
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(floats(1)), numpy_helper.from_array(ints(0)), [HUGE, HUGE])
    assert result_elements(helper.make_node("Constant", [], ["c"], sparse_value=sparse), [], {}, 17) == HUGE * HUGE


def test_an_operator_whose_result_size_cannot_be_known_beforehand_is_not_folded() -> None:
    from studio.interop.common import Unmappable

    node = helper.make_node("Compress", ["x", "keep"], ["y"])  # a rule: at most its input
    assert result_elements(node, [floats(6), np.ones(6, bool)], {}, 17) == 6
    unknown = helper.make_node("StringSplit", ["x"], ["y", "n"])
    with pytest.raises(Unmappable, match="cannot be known before computing it"):
        result_elements(unknown, [np.array(["a b"], object)], {}, 20)


def test_a_fold_that_would_run_for_hours_is_not_folded(tmp_path: Path) -> None:
    """ONNX's reference Conv and pools loop in Python: a convolution of two ConstantOfShapes fits the budget but not the folder's patience."""
    image, kernel = np.broadcast_to(np.float32(1), (1, 1, 1024, 1024)), np.broadcast_to(np.float32(1), (1, 1, 65, 65))
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[32] * 4)
    from studio.interop.common import Unmappable

    count = result_elements(conv, [image, kernel], {"pads": [32] * 4}, 17)
    with pytest.raises(Unmappable, match=r"Conv \(folding it would take some 4,430,233,600 steps"):
        check_steps(conv, [image, kernel], {"pads": [32] * 4}, count)
    small = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 4)
    assert result_elements(small, [image[..., :16, :16], kernel[..., :3, :3]], {"pads": [1] * 4}, 17) == 256
    check_steps(small, [image[..., :16, :16], kernel[..., :3, :3]], {"pads": [1] * 4}, 256)
    nodes = [
        helper.make_node("ConstantOfShape", ["s"], ["i"], value=numpy_helper.from_array(np.ones(1, np.float32))),
        helper.make_node("ConstantOfShape", ["k"], ["w"], value=numpy_helper.from_array(np.ones(1, np.float32))),
        helper.make_node("Conv", ["i", "w"], ["c"], name="slow", pads=[32] * 4),
    ]
    path = tmp_path / "slow.onnx"
    onnx.save(hostile(nodes, {"s": ints(1, 1, 1024, 1024), "k": ints(1, 1, 65, 65)}), str(path))
    with pytest.raises(UnsupportedLayersError, match="Conv \\(folding it would take some"):
        import_onnx(path)


# ----- hostile models: tiny files that ask the folder for gigabytes -----
def hostile(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], opset: int = 17) -> onnx.ModelProto:
    """A model whose input is added to a constant computed from `inits` by `nodes` (the last one makes 'c')."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    tail = [helper.make_node("ReduceMax", ["c"], ["m"], keepdims=0), helper.make_node("Add", ["x", "m"], ["y"])]
    tensors = [numpy_helper.from_array(v, k) for k, v in inits.items()]
    graph = helper.make_graph([*nodes, *tail], "hostile", [x], [y], tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def concat_doublings(steps: int, dtype: type = np.float32) -> onnx.ModelProto:
    nodes = [helper.make_node("Concat", [f"c{i}", f"c{i}"], [f"c{i + 1}" if i + 1 < steps else "c"], axis=0) for i in range(steps)]
    return hostile(nodes, {"c0": np.ones(16, dtype)})


COLUMN, ROW = np.ones((HUGE, 1), np.float32), np.ones((1, HUGE), np.float32)
HOSTILE = {
    "add": hostile([helper.make_node("Add", ["a", "b"], ["c"])], {"a": COLUMN, "b": ROW}),
    "matmul": hostile([helper.make_node("MatMul", ["a", "b"], ["c"])], {"a": COLUMN, "b": ROW}),
    "where": hostile([helper.make_node("Where", ["k", "a", "b"], ["c"])], {"k": np.ones((HUGE, 1), bool), "a": ROW, "b": ROW}),
    "clip": hostile([helper.make_node("Clip", ["a", "b"], ["c"])], {"a": COLUMN, "b": ROW}),
    "expand": hostile([helper.make_node("Expand", ["a", "s"], ["c"])], {"a": COLUMN, "s": ints(1, HUGE)}),
    "tile": hostile([helper.make_node("Tile", ["a", "r"], ["c"])], {"a": COLUMN, "r": ints(1, HUGE)}),
    "constant_of_shape": hostile([helper.make_node("ConstantOfShape", ["s"], ["c"])], {"s": ints(10**6, 10**6)}),
    "range": hostile([helper.make_node("Range", ["s", "l", "d"], ["c"])], {"s": np.int64(0), "l": np.int64(10**12), "d": np.int64(1)}),
    "pad": hostile([helper.make_node("Pad", ["a", "p"], ["c"])], {"a": ROW, "p": ints(0, 0, HUGE, 0)}),
    "resize": hostile([helper.make_node("Resize", ["a", "", "s"], ["c"])], {"a": ROW, "s": np.array([HUGE, 1], np.float32)}),
    "one_hot": hostile([helper.make_node("OneHot", ["i", "d", "v"], ["c"])], {"i": np.zeros(HUGE, np.int64), "d": ints(HUGE), "v": np.array([0, 1], np.float32)}),
    "gather_elements": hostile([helper.make_node("GatherElements", ["a", "i"], ["c"])], {"a": ROW, "i": np.zeros((HUGE, 1), np.int64)}),
    "layer_norm": hostile([helper.make_node("LayerNormalization", ["a", "b"], ["c"])], {"a": COLUMN, "b": ROW}),
    "dequantize": hostile([helper.make_node("DequantizeLinear", ["q", "s"], ["c"], axis=1)], {"q": np.ones((HUGE, 1), np.int8), "s": np.ones(HUGE, np.float32)}),
    "dequantize_blocks": hostile(
        [helper.make_node("DequantizeLinear", ["q", "s"], ["c"], axis=1, block_size=2**40)], {"q": np.ones((1, 4), np.int8), "s": np.ones((1, 2), np.float32)}, opset=21
    ),
    "concat_doublings": concat_doublings(30),
    "concat_doublings_int": concat_doublings(30, np.int64),  # shape inference would compute these by value too
}


def test_hostile_folds_are_refused_before_anything_is_allocated(tmp_path: Path) -> None:
    """Each would build 4 GiB or more; under a 3 GiB address-space limit every one is refused by the budget, naming it and how to raise it."""
    for name, model in HOSTILE.items():
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
    script = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))\n"
        "from studio.interop.common import ModelImportError, UnsupportedLayersError\n"
        "from studio.interop.onnx_import import import_onnx\n"
        "for path in sorted(Path(sys.argv[1]).glob('*.onnx')):\n"
        "    try:\n"
        "        import_onnx(path); found = ('imported', '')\n"
        "    except ModelImportError as err:\n"
        "        found = (type(err).__name__, str(err))\n"
        "    print(json.dumps([path.stem, *found]), flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env.pop(BUDGET_VARIABLE, None)
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=240, env=env, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    results = {name: (kind, text) for name, kind, text in map(json.loads, run.stdout.splitlines())}
    assert results.keys() == HOSTILE.keys()
    for name, (kind, text) in results.items():
        assert kind == "ModelImportError", (name, kind, text)
        assert "folding budget" in text and BUDGET_VARIABLE in text and "\n" not in text, (name, text)
    assert "(Add)" in results["add"][1] and "(Concat)" in results["concat_doublings"][1]


def test_shape_inference_computes_values_only_while_the_vectors_stay_short() -> None:
    chain = concat_doublings(30, np.int64).graph
    assert propagated_values(scan_steps(chain.node), {"c0": 16}, {"x": 2}) == 16 << 30 > MAX_PROPAGATED
    reshape = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"]),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    assert propagated_values(scan_steps(reshape), {"zero": 1, "axes": 1, "rest": 2}, {"x": 4, "zero": 0, "axes": 1, "rest": 1}) == 4  # Shape's four dimensions
    doubling_ranks = [helper.make_node("Shape", ["x"], ["s0"])]
    for i in range(30):  # each Reshape takes the last two shapes joined, so each rank doubles
        doubling_ranks += [
            helper.make_node("Concat", [f"s{i}", f"s{i}"], [f"t{i}"], axis=0),
            helper.make_node("Reshape", ["x" if i == 0 else f"r{i - 1}", f"t{i}"], [f"r{i}"]),
            helper.make_node("Shape", [f"r{i}"], [f"s{i + 1}"]),
        ]
    assert propagated_values(scan_steps(doubling_ranks), {}, {"x": 2}) > MAX_PROPAGATED


def test_the_cli_refuses_a_hostile_fold_in_one_line_with_exit_status_2(tmp_path: Path) -> None:
    onnx.save(HOSTILE["add"], str(tmp_path / "add.onnx"))
    env = {k: v for k, v in os.environ.items() if k != BUDGET_VARIABLE}
    run = subprocess.run(
        [sys.executable, "-m", "studio", "import", str(tmp_path / "add.onnx"), "-o", str(tmp_path / "add.lstudio")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert f"{FOLD_BUDGET:,}" in run.stderr and BUDGET_VARIABLE in run.stderr
    assert not (tmp_path / "add.lstudio").exists()


def test_the_budget_is_one_for_all_folding_in_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty Concat doublings stay under the budget one by one, but not together; the variable raises it."""
    path = tmp_path / "chain.onnx"
    onnx.save(concat_doublings(20), str(path))  # 16 elements doubled 20 times: 16 Mi at the end, 32 Mi folded in all
    monkeypatch.setenv(BUDGET_VARIABLE, str(2**24))
    with pytest.raises(ModelImportError) as err:
        import_onnx(path)
    assert not isinstance(err.value, UnsupportedLayersError)
    assert f"folding budget of {2**24 + 2 * 16:,} elements" in str(err.value)
    monkeypatch.setenv(BUDGET_VARIABLE, str(2**26))
    assert import_onnx(path).project.graph.nodes


def test_a_budget_variable_that_is_not_a_number_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chain.onnx"
    onnx.save(concat_doublings(2), str(path))
    monkeypatch.setenv(BUDGET_VARIABLE, "lots")
    with pytest.raises(ModelImportError, match=f"{BUDGET_VARIABLE}='lots' is not a whole number of elements"):
        import_onnx(path)
