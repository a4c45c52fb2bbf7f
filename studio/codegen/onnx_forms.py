"""The plainest ONNX form of a node: what converters (onnx2torch, x2paddle) and older runtimes read.

Both writers end here: the graph's own writer (`onnx_writer`) node by node, and torch.onnx's file
(`onnx_export`) as a whole. Meaning never changes, only spelling:
- an attribute written at the value the operator's schema (`onnx.defs`) gives it anyway is left
  out (`group` 1, `alpha` 1 on Gemm, `auto_pad` NOTSET, ...), and so are the per-axis ones whose
  default the schema gives in words only: all-ones `dilations` and `strides`, zero `pads` and
  `output_padding` on convolutions and pools (except KEPT_AT_DEFAULT, which a reader misreads);
- Reshape's `allowzero` 1 is left out where its target shape is a constant with no zero in it,
  as a 0 is then the only entry the two readings tell apart. A computed target (built from
  `Shape` at run time) keeps it.
Reduce* axes as an attribute (opsets below 18) and LayerNormalization's arithmetic (below 17)
are the emitters' forms at those opsets (`catalogue.onnx_records`), and torch.onnx's opset
converter writes them so too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

_WINDOWED = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"})
_SPOKEN_DEFAULTS = {"dilations": 1, "strides": 1, "pads": 0, "output_padding": 0}  # per axis; the schema says so in words only
# Written even at their default, for a reader that gets the default wrong: onnx2torch 1.5 reads a
# CumSum without `reverse` as reverse 1 (tests/codegen/test_onnx_tools.py holds it to that).
KEPT_AT_DEFAULT = frozenset({("CumSum", "reverse")})


def plain_node(node: onnx.NodeProto, opset: int) -> onnx.NodeProto:
    """The node without attributes written at the value its operator's schema gives them anyway."""
    from onnx import defs, helper

    if node.domain not in ("", "ai.onnx"):
        return node
    schema = defs.get_schema(node.op_type, opset, "")
    kept = []
    for attribute in node.attribute:
        default = schema.attributes[attribute.name].default_value if attribute.name in schema.attributes else None
        value = helper.get_attribute_value(attribute)
        if (node.op_type, attribute.name) in KEPT_AT_DEFAULT:
            pass
        elif default is not None and default.name and value == helper.get_attribute_value(default):
            continue
        if node.op_type in _WINDOWED and attribute.name in _SPOKEN_DEFAULTS and all(v == _SPOKEN_DEFAULTS[attribute.name] for v in value):
            continue
        kept.append(attribute)
    if len(kept) < len(node.attribute):
        del node.attribute[:]
        node.attribute.extend(kept)
    return node


def plain_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every node of `model` (subgraphs included) in its plainest form, in place; returns `model`."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    _plain_graph(model.graph, opset, {})
    return model


def _plain_graph(graph: onnx.GraphProto, opset: int, outer: dict[str, tuple[int, ...]]) -> None:
    """Plain nodes in `graph`; `outer` holds the constant 1-D integer tensors of enclosing graphs."""
    from onnx import AttributeProto, helper, numpy_helper

    constants = dict(outer)
    for tensor in graph.initializer:
        if tensor.data_type == 7 and len(tensor.dims) == 1:  # INT64: a shape
            constants[tensor.name] = tuple(int(v) for v in numpy_helper.to_array(tensor))
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            (value,) = node.attribute
            if value.name == "value_ints":
                constants[node.output[0]] = tuple(value.ints)
            elif value.name == "value" and value.t.data_type == 7 and len(value.t.dims) == 1:
                constants[node.output[0]] = tuple(int(v) for v in numpy_helper.to_array(value.t))
        if node.op_type == "Reshape" and node.domain in ("", "ai.onnx"):
            target = constants.get(node.input[1]) if len(node.input) > 1 else None
            if target is not None and 0 not in target:
                kept = [a for a in node.attribute if not (a.name == "allowzero" and helper.get_attribute_value(a) == 1)]
                del node.attribute[:]
                node.attribute.extend(kept)
        plain_node(node, opset)
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                _plain_graph(attribute.g, opset, constants)
            elif attribute.type == AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    _plain_graph(sub, opset, constants)
