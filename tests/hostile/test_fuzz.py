"""Hypothesis fuzzing of the project reader and the ONNX and Caffe importers: a damaged file is refused with their own error, never anything else.

Each importer may answer a file only in two ways: a model, or its typed error (`ProjectFileError`,
`ModelImportError` but not `InternalImportError`, which marks a bug). Every example runs under a
lowered address-space limit, so an unbounded allocation shows as a failure here, not as the
test process killed.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from studio.graph.project import ProjectFileError, dumps_project, loads_project
from studio.graph.shapes import analyse
from studio.interop.caffe_import import import_caffe
from studio.interop.common import InternalImportError, ModelImportError
from studio.interop.onnx_import import import_onnx
from tests.hostile.inputs import small_project

DATA = Path(__file__).resolve().parents[1] / "data" / "caffe"
HEADROOM = 2 * 2**30  # bytes of address space each example may add


@contextmanager
def bounded_memory() -> Iterator[None]:
    """Lower this process's soft RLIMIT_AS to what it maps now plus HEADROOM, and put it back after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    limit = mapped + HEADROOM if hard == resource.RLIM_INFINITY else min(hard, mapped + HEADROOM)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)

# ----- the project reader -----
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _places(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*path, index))


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(item, rest, new) if i == head else item for i, item in enumerate(value)]


def _project_document(tmp: Path) -> dict[str, Any]:
    from studio.graph.project import load_project

    return json.loads(dumps_project(load_project(small_project(tmp))))


@FUZZ
@given(data=st.data())
def test_a_damaged_project_file_is_a_project_or_a_project_file_error(tmp_path: Path, data: st.DataObject) -> None:
    document = _project_document(tmp_path)
    places = list(_places(document))
    for _ in range(data.draw(st.integers(1, 3))):
        document = _replaced(document, data.draw(st.sampled_from(places)), data.draw(JSON_VALUES))
        places = list(_places(document))
    with bounded_memory():
        try:
            project = loads_project(json.dumps(document))
        except ProjectFileError as err:
            assert str(err).strip() and "\n" not in str(err).strip()
            return
        analyse(project.graph)


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_is_a_project_or_a_project_file_error(text: str) -> None:
    try:
        loads_project(text)
    except ProjectFileError:
        pass


# ----- the Caffe importer -----
LENET = (DATA / "lenet.prototxt").read_text()
TOKENS = ["{", "}", ":", '"', "layer", "bottom", "top", "num_output", "kernel_size", "-1", "0", "99999999999", "1e999", "nan", "dim", "#", "\\", "'", "input_shape"]


@FUZZ
@given(data=st.data())
def test_a_damaged_prototxt_is_a_model_or_a_model_import_error(tmp_path: Path, data: st.DataObject) -> None:
    text = LENET
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 12))
        insert = data.draw(st.sampled_from(TOKENS) | st.text(max_size=6))
        text = text[:at] + insert + text[at + cut :]
    path = tmp_path / "net.prototxt"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with bounded_memory():
        try:
            import_caffe(path)
        except InternalImportError:
            raise
        except ModelImportError:
            pass


# ----- the ONNX importer -----
def _base_model() -> onnx.ModelProto:
    """Conv -> Relu -> MaxPool -> Flatten -> Gemm -> Softmax on a (N, 1, 8, 8) input."""
    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> TensorProto:
        return helper.make_tensor(name, TensorProto.FLOAT, shape, rng.standard_normal(shape).astype("f4").tobytes(), raw=True)

    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "base",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [weight("w", 4, 1, 3, 3), weight("b", 4), weight("fw", 3, 64), weight("fb", 3)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


OPS = ["Relu", "Add", "Mul", "MatMul", "Reshape", "Transpose", "Concat", "Split", "Slice", "Gather", "Expand", "Tile", "Unsqueeze", "Squeeze", "ReduceMean", "Conv", "Gemm", "Softmax", "LayerNormalization", "Sum", "Cast", "Shape", "ConstantOfShape", "Range", "Pad", "Resize", "If", "Loop", "Identity", "NoSuchOp"]
NAMES = ["x", "w", "b", "c", "r", "p", "f", "fw", "fb", "g", "y", "", "missing"]
SIZES = st.integers(-3, 70) | st.sampled_from([0, 2**31, 2**62, -(2**63)])


def _mutate(model: onnx.ModelProto, data: st.DataObject) -> bytes:
    graph = model.graph
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["op", "input", "attribute", "dims", "drop", "shape", "bytes"]))
        node = graph.node[data.draw(st.integers(0, len(graph.node) - 1))] if graph.node else None
        if kind == "op" and node is not None:
            node.op_type = data.draw(st.sampled_from(OPS))
        elif kind == "input" and node is not None and node.input:
            node.input[data.draw(st.integers(0, len(node.input) - 1))] = data.draw(st.sampled_from(NAMES))
        elif kind == "attribute" and node is not None and node.attribute:
            attribute = node.attribute[data.draw(st.integers(0, len(node.attribute) - 1))]
            if attribute.ints:
                attribute.ints[data.draw(st.integers(0, len(attribute.ints) - 1))] = data.draw(SIZES)
            else:
                attribute.i = data.draw(SIZES)
        elif kind == "dims":
            tensor = graph.initializer[data.draw(st.integers(0, len(graph.initializer) - 1))]
            tensor.dims[data.draw(st.integers(0, len(tensor.dims) - 1))] = data.draw(SIZES)
        elif kind == "drop" and node is not None:
            graph.node.remove(node)
        elif kind == "shape":
            dims = graph.input[0].type.tensor_type.shape.dim
            dims[data.draw(st.integers(0, len(dims) - 1))].dim_value = data.draw(SIZES)
    raw = bytearray(model.SerializeToString())
    if data.draw(st.booleans()):
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    return bytes(raw)


@FUZZ
@given(data=st.data())
def test_a_damaged_onnx_model_is_a_model_or_a_model_import_error(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(_mutate(_base_model(), data))
    with bounded_memory():
        try:
            import_onnx(path)
        except InternalImportError:
            raise
        except ModelImportError:
            pass
