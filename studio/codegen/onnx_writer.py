"""ONNX written straight from the graph: each layer's family emits its operators, named after the project.

Node names are the layers' names, every layer's output value is named after its layer (a layer
of several outputs names them after its ports: `<layer>/out1`, `<layer>/hidden`), weights are initializers named
`<layer>.<weight>`, and the graph inputs and outputs carry the names the generated PyTorch code
gives them (`io_names`). Axis 0 of every input and output is the dynamic `batch`; the other
sizes are those the shape analysis knows, and every node is in its plainest form (`onnx_forms`). The emitters write every opset from 13 to the newest
(`catalogue.onnx_records` holds the forms that changed). A layer whose family has no ONNX
emitter, or whose parameters its emitter cannot write, raises `Inexpressible` naming it; the
export then goes through torch.onnx instead (`onnx_export`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.codegen.checks import read_ports
from studio.codegen.names import unique_name
from studio.codegen.onnx_forms import plain_node
from studio.codegen.pytorch import module_names
from studio.graph.catalogue.base import Inexpressible
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
)
from studio.graph.project import Project
from studio.graph.shapes import ShapeAnalysis

if TYPE_CHECKING:
    import numpy as np
    import onnx

BATCH = "batch"
_ELEMENT = {"float32": 1, "int64": 7}  # onnx.TensorProto.FLOAT, INT64


def writable(project: Project) -> bool:
    """True when every layer of the project has an ONNX emitter (so the export needs no torch.onnx)."""
    return all(node.spec.onnx is not None for node in project.graph.nodes.values() if node.type not in ("Input", "Output"))


class _Names:
    """Unique value and node names, the layers' own claimed first."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def fresh(self, base: str) -> str:
        return unique_name(base, self.taken)


def onnx_model(
    project: Project,
    analysis: ShapeAnalysis,
    state: dict[str, np.ndarray],
    io: tuple[list[str], list[str]],
    opset: int,
    graph_name: str,
    attributes: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """The ONNX model of `project` with the generated model's `state` dict (keyed by module path) as weights.

    `attributes` maps each layer to its module path (`module_names`), given where `project` is
    the flattened form of the network the model was generated from.

    Raises:
        Inexpressible: '<layer>: <Type>: <why>' for the first layer with no direct ONNX form at this opset.
    """
    from onnx import helper

    graph = project.graph
    inputs, outputs = io
    names = _Names({*inputs, *outputs, *(node.name for node in graph.nodes.values())})  # values
    labels = _Names({node.name for node in graph.nodes.values()})  # nodes: a layer's own name is its node's
    attributes = attributes if attributes is not None else module_names(project)
    value: dict[tuple[str, str], str] = {}  # (node id, output port) -> the ONNX value it is
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    graph_inputs, graph_outputs = [], []
    input_ids = [n for n, node in graph.nodes.items() if node.type == "Input"]
    output_ids = [n for n, node in graph.nodes.items() if node.type == "Output"]
    for node_id, name in zip(input_ids, inputs):
        node = graph.nodes[node_id]
        shape = [BATCH, *node.params["shape"]]
        graph_inputs.append(helper.make_tensor_value_info(name, _ELEMENT[node.params["dtype"]], shape))
        value[(node_id, "out")] = name
        if node.params["mean"]:
            records = _standardize(node.params, name, names.fresh(f"{node.name}/standardized"), names.fresh)
            value[(node_id, "out")] = records[-1].outputs[0]  # type: ignore[union-attr]
            _add(records, labels.fresh(f"{node.name}/standardize"), {}, {}, nodes, initializers, labels, opset)
    returned: dict[tuple[str, str], str] = {}  # a layer's output returned as it is: its value takes the output's name
    for node_id, name in zip(output_ids, outputs):
        edge = graph.source_of(node_id, "in")
        assert edge is not None
        if graph.nodes[edge.src].type != "Input" and (edge.src, edge.src_port) not in returned:
            returned[(edge.src, edge.src_port)] = name
    for node_id in analysis.ordered_ids():
        node = graph.nodes[node_id]
        if node.type in ("Input", "Output"):
            continue
        result = analysis.result(node_id)
        ports = node.spec.input_ports(node.params)
        sources = [graph.source_of(node_id, port.name) for port in ports]
        attribute = attributes.get(node_id)
        declared = node.spec.state(node.params, list(result.inputs))
        weights = {key: names.fresh(f"{node.name}.{key}") for key in declared}
        arrays = {weights[key]: state[f"{attribute}.{key}"] for key in declared}
        ports = [port.name for port in node.spec.output_ports(node.params)]
        for port in ports:
            own = node.name if len(ports) == 1 else names.fresh(f"{node.name}/{port}")
            value[(node_id, port)] = returned.get((node_id, port), own)
        site = OnnxSite(
            dict(node.params),
            tuple(result.inputs),
            tuple(value[(e.src, e.src_port)] if e is not None else None for e in sources),
            value[(node_id, ports[0])],
            weights,
            opset,
            lambda suffix, layer=node.name: names.fresh(f"{layer}/{suffix}"),
            tuple(value[(node_id, port)] for port in ports),
            read_ports(graph, node_id),
        )
        if node.spec.onnx is None:
            raise Inexpressible(f"{node.name}: {node.type}: its family has no ONNX emitter")
        try:
            records = node.spec.onnx(site)
        except Inexpressible as err:
            raise Inexpressible(f"{node.name}: {node.type}: {err}") from err
        _add(records, node.name, weights, arrays, nodes, initializers, labels, opset)
    for node_id, name in zip(output_ids, outputs):
        node = graph.nodes[node_id]
        edge = graph.source_of(node_id, "in")
        assert edge is not None
        if value[(edge.src, edge.src_port)] != name:  # an Input returned, or a layer returned twice
            nodes.append(helper.make_node("Identity", [value[(edge.src, edge.src_port)]], [name], name=node.name))
        result = analysis.result(node_id)
        shape = [BATCH, *result.inputs[0][1:]]  # type: ignore[index]
        dtype = analysis.result(edge.src).dtype or "float32"  # what feeds it: int64 indices stay int64
        graph_outputs.append(helper.make_tensor_value_info(name, _ELEMENT[dtype], shape))
    body = helper.make_graph(nodes, graph_name, graph_inputs, graph_outputs, initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", opset)], producer_name="Layer Studio")
    model.ir_version = min(model.ir_version, _ir_version(opset))
    return model


def _standardize(params: dict[str, Any], x: str, out: str, fresh: Any) -> list[OnnxRecord]:
    """Sub and Div by an Input's mean and std, shaped to broadcast per channel (images) or feature."""
    from studio.graph.catalogue.core import standardized_axis

    sample = params["shape"]
    size = sample[standardized_axis(sample)]
    trailing = len(sample) - 1 - standardized_axis(sample)
    shape = (size, *([1] * trailing))
    mean, std = (tuple(v * size if len(v) == 1 else v) for v in (params["mean"], params["std"]))
    mean_name, std_name, centred = fresh("mean"), fresh("std"), fresh("centred")
    return [
        OnnxConstant(mean_name, mean, "float32", shape),
        OnnxConstant(std_name, std, "float32", shape),
        OnnxNode("Sub", (x, mean_name), (centred,)),
        OnnxNode("Div", (centred, std_name), (out,)),
    ]


def _add(
    records: list[OnnxRecord],
    layer: str,
    weights: dict[str, str],
    arrays: dict[str, np.ndarray],
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto],
    labels: _Names,
    opset: int,
) -> None:
    """Turn one layer's records into protobuf: the last operator is named after the layer."""
    import numpy as np
    from onnx import helper, numpy_helper

    operators = [r for r in records if isinstance(r, OnnxNode)]
    for record in records:
        if isinstance(record, OnnxConstant):
            array = np.asarray(record.values, dtype=record.dtype)
            if record.shape is not None:
                array = array.reshape(record.shape)
            initializers.append(numpy_helper.from_array(array, record.name))
        elif isinstance(record, OnnxWeight) and record.fixed:
            value = numpy_helper.from_array(_weight(record, weights, arrays), record.name)
            nodes.append(helper.make_node("Constant", [], [record.name], name=layer, value=value))
        elif isinstance(record, OnnxWeight):
            initializers.append(numpy_helper.from_array(_weight(record, weights, arrays), record.name))
        else:
            label = layer if record is operators[-1] else labels.fresh(f"{layer}/{record.op}")
            attrs = {k: v for k, v in record.attrs.items() if v is not None}
            node = helper.make_node(record.op, list(record.inputs), list(record.outputs), name=label, **attrs)
            nodes.append(plain_node(node, opset))
    used = {name for r in operators for name in r.inputs}
    for name in weights.values():
        if name in used:  # a weight an operator reads as it is stored
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(arrays[name], dtype=_dtype(arrays[name])), name))


def _weight(record: OnnxWeight, weights: dict[str, str], arrays: dict[str, np.ndarray]) -> np.ndarray:
    """A weight as an `OnnxWeight` asks: rows, gate order, others appended, transposed, reshaped."""
    import numpy as np

    pieces = [np.asarray(arrays[weights[state]], dtype=np.float32) for state in (record.state, *record.also)]
    if record.rows is not None:
        pieces = [p[record.rows[0] : record.rows[1]] for p in pieces]
    if record.gates:
        pieces = [np.concatenate([np.split(p, len(record.gates))[g] for g in record.gates]) for p in pieces]
    array = np.concatenate(pieces) if record.also else pieces[0]
    if record.transpose:
        array = array.T
    if record.shape is not None:
        array = array.reshape(record.shape)
    return np.ascontiguousarray(array)


def _dtype(array: np.ndarray) -> str:
    return "int64" if array.dtype.kind in "iu" else "float32"


def _ir_version(opset: int) -> int:
    """The IR version of the first onnx release with this opset, so runtimes of that time read the file."""
    from onnx import helper

    versions = [row[1] for row in helper.VERSION_TABLE if row[2] >= opset]
    return min(versions) if versions else helper.VERSION_TABLE[-1][1]
