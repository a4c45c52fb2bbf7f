"""ONNX operators imported by the layer families' own rules (`LayerSpec.onnx_import`): one node, one layer.

A rule reads the node as `OnnxValues`: its attributes and the constant inputs the rule names, as
plain Python values, with the shapes of its data input. The first rule for the operator that
takes the node's values wins; one that cannot returns None (or raises `Inexpressible` saying
why) and the next is tried.
Where the importer's own tables (`onnx_ops`, `onnx_tensors`, ...) map the operator too, the
table goes first and the family rules are the fallback for what the table refuses (`fallback`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.graph.catalogue import CATALOGUE, LayerSpec
from studio.graph.catalogue.base import Inexpressible
from studio.graph.catalogue.onnx_records import OnnxImport, OnnxValues
from studio.interop.common import Unmappable
from studio.interop.onnx_graph import ImportContext
from studio.interop.onnx_ops import Mapper, data_input

if TYPE_CHECKING:
    import numpy as np
    import onnx


def rules_for(op_type: str) -> list[tuple[LayerSpec, OnnxImport]]:
    """Every family rule for `op_type`, in catalogue order."""
    return [(spec, rule) for spec in CATALOGUE.values() for rule in spec.onnx_import if rule.op == op_type]


def family_mapper(op_type: str) -> Mapper | None:
    """The mapper that tries the families' rules for `op_type` in turn, or None when no family has one."""
    rules = rules_for(op_type)
    if not rules:
        return None
    return lambda ctx, node: import_by_rules(ctx, node, rules)


class Declined(Unmappable):
    """No family rule gave a reason of its own: none took the node, or its layer refused the shapes.

    Behind an importer's table (`fallback`) the table's own reason is the one reported.
    """


def import_by_rules(ctx: ImportContext, node: onnx.NodeProto, rules: list[tuple[LayerSpec, OnnxImport]]) -> None:
    """Emit the layer of the first rule that takes `node`; Unmappable with the first reason (or what they need) when none does."""
    x = data_input(ctx, node)
    reasons = []
    for spec, rule in rules:
        constants, ranks = _constants(ctx, node, rule.constants)
        values = OnnxValues({**ctx.attrs(node), **constants}, (ctx.shape(x),), len(node.output), ranks)
        try:
            params = rule.params(values)
        except Inexpressible as err:
            reasons.append(str(err))
            continue
        if params is None:
            continue
        outputs: str | list[str] = list(node.output) if spec.pieces is not None else node.output[0]
        try:
            ctx.emit(node, spec.type, params, [x], outputs)
        except Unmappable as err:
            raise Declined(err.kind) from None
        if spec.output_dtype == "int" or (spec.output_dtype == "same" and x in ctx.int_tensors):
            ctx.int_tensors.update(o for o in node.output if o)
        return
    needs = next((rule.needs for _, rule in reversed(rules) if rule.needs), None)
    if not reasons and needs is None:
        raise Declined(f"{node.op_type} (other values)")
    raise Unmappable(f"{node.op_type} ({reasons[0] if reasons else needs})")


def fallback(first: Mapper, then: Mapper) -> Mapper:
    """`first`, and where it finds no mapping and emitted nothing, `then`.

    When neither maps the node, the reason reported is the family rules' own where they give one
    (an `Inexpressible`, or what they need), else `first`'s.

    The importer's tables map some forms of an operator onto special layers (Clip to ReLU6, a
    spatial ReduceMean to a global pool); a family's general layer takes the other forms.
    """

    def mapper(ctx: ImportContext, node: onnx.NodeProto) -> None:
        made = len(ctx.layers)
        try:
            first(ctx, node)
        except Unmappable as refused:
            if len(ctx.layers) != made:
                raise
            try:
                then(ctx, node)
            except Declined:
                raise refused from None

    return mapper


def _constants(ctx: ImportContext, node: onnx.NodeProto, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, int]]:
    """The node's inputs after the first that a rule names, each present one as a flat tuple of floats; and their ranks."""
    found, ranks = {}, {}
    for index, name in enumerate(names, start=1):
        tensor = node.input[index] if index < len(node.input) else ""
        if not name or not tensor:
            continue
        if tensor in ctx.batch_consts:
            value = _batch_free(*ctx.batch_consts[tensor])
        else:
            value = ctx.const(tensor)
            if value is None:
                raise Unmappable(f"{node.op_type} (its {name} is computed, not a constant)")
        found[name] = tuple(float(v) for v in value.reshape(-1))
        ranks[name] = value.ndim
    return found, ranks


def _batch_free(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A constant computed from the batch size: -1 where its values at the two batch sizes differ."""
    import numpy as np

    if first.shape != second.shape:
        raise Unmappable("a constant whose shape depends on the batch size")
    return np.where(first == second, first, -1)
