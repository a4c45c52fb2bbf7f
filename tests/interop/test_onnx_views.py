"""View chains read on a `Layout` (sizes and strides) put every entry where numpy does, and cost nothing for a huge live tensor."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from studio.interop.onnx_import import import_onnx
from studio.interop.onnx_views import Layout
from tests.hostile.inputs import float_input, int_vector, onnx_model
from tests.hostile.limited import run_limited


def entries(layout: Layout) -> np.ndarray:
    """The numbered entries a layout stands for, built (small layouts only)."""
    total = np.zeros((), np.int64)
    for dim in layout.dims:
        offsets = np.zeros((), np.int64)
        for size, stride in dim:
            offsets = np.add.outer(offsets, np.arange(size) * stride).ravel()
        total = np.add.outer(total, offsets)
    return total.reshape(layout.shape)


def factorizations(n: int) -> list[tuple[int, ...]]:
    """Ways to write `n` as an ordered product of factors above one (and `n` alone)."""
    found = [(n,)]
    for d in range(2, n):
        if n % d == 0:
            found += [(d, *rest) for rest in factorizations(n // d)]
    return found


@st.composite
def chains(draw: st.DrawFn) -> tuple[tuple[int, ...], list[tuple[str, object]]]:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    ops: list[tuple[str, object]] = []
    current = shape
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["reshape", "transpose", "squeeze", "unsqueeze"]))
        if kind == "reshape":
            target = draw(st.sampled_from(factorizations(math.prod(current)) if math.prod(current) > 1 else [(1,)]))
            ops.append((kind, target))
            current = target
        elif kind == "transpose":
            perm = tuple(draw(st.permutations(range(len(current)))))
            ops.append((kind, perm))
            current = tuple(current[p] for p in perm)
        elif kind == "squeeze" and 1 in current and len(current) > 1:
            ops.append((kind, None))
            current = tuple(n for n in current if n != 1) or (1,)
            if current == (1,):
                ops[-1] = ("reshape", (1,))
        else:
            axis = draw(st.integers(0, len(current)))
            ops.append(("unsqueeze", axis))
            current = (*current[:axis], 1, *current[axis:])
    return shape, ops


def apply(value: Any, op: tuple[str, object]) -> Any:  # a numpy array or a Layout: both take these calls
    kind, arg = op
    if kind == "reshape":
        return value.reshape(arg)
    if kind == "transpose":
        return value.transpose(arg)
    if kind == "squeeze":
        return value.squeeze(axis=None)
    return value.reshape((*value.shape[:arg], 1, *value.shape[arg:]))


@settings(max_examples=300, deadline=None)
@given(chains())
def test_a_layout_puts_every_entry_where_numpy_does(chain: tuple[tuple[int, ...], list[tuple[str, object]]]) -> None:
    shape, ops = chain
    numbers, layout = np.arange(math.prod(shape)).reshape(shape), Layout.numbered(shape)
    for op in ops:
        numbers = apply(numbers, op)
        try:
            layout = apply(layout, op)
        except ValueError:  # only a reshape that mixes the entries of factors no stride describes
            assert op[0] == "reshape"
            return
        assert layout.shape == numbers.shape and np.array_equal(entries(layout), numbers)
    for perm in [tuple(range(numbers.ndim)), tuple(range(numbers.ndim))[::-1]]:
        other = Layout.numbered(numbers.shape).transpose(perm)
        assert layout.same(other) == (numbers.shape == entries(other).shape and np.array_equal(numbers, entries(other)))


def test_heads_joined_after_a_transpose_are_one_layout() -> None:
    numbers = Layout.numbered((2, 3, 4, 5))
    joined = numbers.transpose((0, 2, 1, 3)).reshape(2, 4, 15)
    assert np.array_equal(entries(joined), np.arange(120).reshape(2, 3, 4, 5).transpose(0, 2, 1, 3).reshape(2, 4, 15))
    assert not joined.same(numbers.reshape(2, 4, 15))


def dense_on(folder: Path, sample: tuple[int, int, int]) -> Path:
    """A dense layer on (N, *sample) written as Reshape, MatMul, Reshape (as GPT-2's Conv1D is)."""
    a, b, c = sample
    nodes = [
        helper.make_node("Reshape", ["x", "rows"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["dense"]),
        helper.make_node("Reshape", ["dense", "back"], ["y"]),
    ]
    w = helper.make_tensor("w", TensorProto.FLOAT, [c, 3], [0.5] * (3 * c))
    return onnx_model(folder, nodes, [float_input("x", ["N", a, b, c])], [w, int_vector("rows", [-1, c]), int_vector("back", [-1, a, b, 3])])


def test_views_of_a_live_tensor_of_ten_billion_entries_take_no_memory(tmp_path: Path) -> None:
    """2 * 10^9 entries a sample (the most an input may declare): the views are read at batch sizes 7 and 11, on live
    tensors of 1.4 and 2.2 * 10^10 entries, which took 14 GB as the numbered array of bytes it was."""
    (tmp_path / "small").mkdir()
    small = import_onnx(dense_on(tmp_path / "small", (3, 4, 5)))
    dense_on(tmp_path, (1000, 1000, 2000))
    outcome = run_limited(["import", "model.onnx", "-o", "out.lstudio"], tmp_path, timeout=60)
    assert outcome.status == 0, outcome.describe()
    huge = import_onnx(tmp_path / "model.onnx")
    layers = [n.type for n in huge.project.graph.nodes.values()]
    assert "Linear" in layers and layers == [n.type for n in small.project.graph.nodes.values()]
