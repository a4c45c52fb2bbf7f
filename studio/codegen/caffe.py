"""Graph to a Caffe deploy prototxt: one Input layer per Input node, then one or more layers per node.

Every node's output is the blob named after the node; a node that takes several Caffe layers
(BatchNorm + Scale, a global pool + Flatten, ...) names its intermediate blobs after itself.
Every string goes through `prototxt_string`, which quotes and escapes it, so no name can break
out of its field. Caffe's own rules are honoured: pooling rounds up unless told to round down,
padding must be the same on both sides, Eltwise needs equal shapes. What Caffe cannot express
is one CodegenError listing every such node. The net's weights, as a .caffemodel, are
`studio.codegen.caffe_weights`: each layer here remembers the node it computes (`owners`).
"""

from __future__ import annotations

from typing import Any

from studio.codegen.checks import feeding_outputs, problem_line, refuse_errors
from studio.codegen.names import CodegenError, comment_text, unique_name
from studio.graph.catalogue.base import Inexpressible, Unsupported
from studio.graph.catalogue.caffe_records import Fields, Layer, Site, Value, Word
from studio.graph.flatten import flat_project
from studio.graph.model import Node
from studio.graph.project import Project
from studio.graph.shapes import ShapeAnalysis, snapshot_analysis

TAB = "  "


def prototxt_string(text: str) -> str:
    """`text` as a quoted protobuf text-format string: printable ASCII kept, everything else escaped."""
    out = []
    for byte in text.encode("utf-8", errors="replace"):
        char = chr(byte)
        if char in "\"\\":
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _value(value: Value) -> str:
    if isinstance(value, Word):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return prototxt_string(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _render(fields: Fields, depth: int) -> list[str]:
    lines = []
    for key, value in fields:
        if isinstance(value, list):
            lines += [f"{TAB * depth}{key} {{", *_render(value, depth + 1), f"{TAB * depth}}}"]
        else:
            lines.append(f"{TAB * depth}{key}: {_value(value)}")
    return lines


class CaffeNet:
    """The Caffe layers of one project, and the node each computes; one instance per generation."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.graph = project.graph
        self.analysis: ShapeAnalysis = snapshot_analysis(self.graph)
        refuse_errors(self.project, self.analysis, "Caffe")
        self._used = {node.name for node in self.graph.nodes.values()}
        self._pieces: dict[tuple[str, str], str] = {}  # (node id, port) -> blob, for layers of several outputs
        self.layers: list[Layer] = []
        self.owners: list[str] = []  # the id of the node each layer computes, in step with `layers`
        problems = [
            problem_line(node, node.spec.targets["caffe"].reason)  # type: ignore[union-attr]
            for node in self.graph.nodes.values()
            if isinstance(node.spec.targets["caffe"], Unsupported)
        ]
        live = feeding_outputs(self.graph)
        for node_id in self.analysis.ordered_ids():
            node = self.graph.nodes[node_id]
            if node.type == "Output" or isinstance(node.spec.targets["caffe"], Unsupported):
                continue
            if node.type != "Input" and node_id not in live:
                continue
            try:
                emitted = self._emit(node_id)
            except Inexpressible as err:
                problems.append(problem_line(node, str(err)))
                continue
            self.layers += emitted
            self.owners += [node_id] * len(emitted)
        if problems:
            raise CodegenError(
                f"cannot export {self.project.name!r} to Caffe: these layers cannot be expressed there\n" + "\n".join(problems)
            )

    def _claim(self, base: str) -> str:
        return unique_name(base, self._used)

    def _blob(self, node_id: str, port: str) -> str:
        """The blob an output port writes: the node's name, or its own blob for one piece of several."""
        return self._pieces.get((node_id, port), self.graph.nodes[node_id].name)

    def _emit(self, node_id: str) -> list[Layer]:
        node = self.graph.nodes[node_id]
        result = self.analysis.result(node_id)
        assert result.outputs is not None
        output = next(iter(result.outputs.values()))
        if node.type == "Input":
            dims: Fields = [("dim", 1), *(("dim", int(d)) for d in node.params["shape"])]
            return [Layer(node.name, "Input", [], [node.name], [("input_param", [("shape", dims)])]), *self._standardize(node)]
        bottoms = []
        for port in node.spec.input_ports(node.params):
            edge = self.graph.source_of(node_id, port.name)
            if edge is not None:
                bottoms.append(self._blob(edge.src, edge.src_port))
        inputs = tuple(s for s in result.inputs if s is not None)
        if len(node.spec.output_ports(node.params)) > 1:
            for port in node.spec.output_ports(node.params):
                self._pieces[(node_id, port.name)] = self._claim(f"{node.name}/{port.name}")
        tops = [self._blob(node_id, port.name) for port in node.spec.output_ports(node.params)]
        site = Site(node.name, dict(node.params), inputs, output, bottoms, lambda suffix: self._claim(f"{node.name}/{suffix}"), tops)
        if node.spec.caffe is None:
            raise Inexpressible("its layer type has no Caffe form")
        return node.spec.caffe(site)

    def _standardize(self, node: Node) -> list[Layer]:
        """An in-place Power layer for an Input's mean and std when one value serves every channel.

        A prototxt holds no per-channel constants: different values per channel are left to the
        caller's preprocessing (Caffe's own convention), and the file's header says which.
        """
        mean, std = node.params["mean"], node.params["std"]
        if not mean or not _single_valued(node.params):
            return []
        power = [("power", 1.0), ("scale", 1.0 / std[0]), ("shift", -mean[0] / std[0])]
        return [Layer(self._claim(f"{node.name}/standardize"), "Power", [node.name], [node.name], [("power_param", power)])]

    def output_layers(self) -> list[tuple[str, int]]:
        """Where each Output node's blob comes from, in the graph's order of Output nodes: (layer name, its top's index)."""
        pins = []
        for node_id, node in self.graph.nodes.items():
            edge = self.graph.source_of(node_id, "in") if node.type == "Output" else None
            if edge is not None:
                blob = self._blob(edge.src, edge.src_port)
                layer = next(layer for layer in reversed(self.layers) if blob in layer.tops)
                pins.append((layer.name, layer.tops.index(blob)))
        return pins

    def text(self) -> str:
        lines = [
            f"# {comment_text(self.project.name)}: Caffe deploy net generated by Layer Studio (batch size 1).",
            *(
                f"# Standardize {comment_text(node.name)} before feeding it: subtract mean {list(node.params['mean'])}"
                f" and divide by std {list(node.params['std'])}, per channel."
                for node in self.graph.nodes.values()
                if node.type == "Input" and node.params["mean"] and not _single_valued(node.params)
            ),
            f"name: {prototxt_string(self.project.name)}",
        ]
        for layer in self.layers:
            fields: Fields = [("name", layer.name), ("type", layer.type)]
            fields += [("bottom", b) for b in layer.bottoms] + [("top", t) for t in layer.tops]
            lines += ["layer {", *_render(fields + layer.params, 1), "}"]
        return "\n".join(lines) + "\n"


def _single_valued(params: dict[str, Any]) -> bool:
    """True when an Input's mean and std are one value each for every channel (a Power layer can apply them)."""
    return len(set(params["mean"])) <= 1 and len(set(params["std"])) <= 1


def plan_caffe(project: Project) -> CaffeNet:
    """The Caffe layers of `project`, its blocks flattened; CodegenError naming every node Caffe cannot express."""
    return CaffeNet(flat_project(project))


def generate_caffe(project: Project) -> str:
    """Return the deploy prototxt of `project`; CodegenError naming every node Caffe cannot express."""
    return plan_caffe(project).text()
