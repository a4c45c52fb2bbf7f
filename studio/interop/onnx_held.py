"""Constants beside the activations: learned tables (whole, or picked by index) and fixed values.

A folded constant that comes from a float initializer only by moving or picking its entries
(Gather by constant indices, Slice, Reshape, Transpose, Expand, ...) is that weight seen
through an index map: BERT's position rows, a token-type row repeated, Swin's relative
position bias `table[index]`. It imports as a Parameter holding the whole table, then an
IndexSelect of the rows used (and a Reshape and Permute where the rows are laid out in
another shape), so the imported network learns the table as the original did. Every other
constant is a fixed Constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio.interop.common import Unmappable
from studio.interop.onnx_graph import BATCHES, ImportContext, run_nodes
from studio.interop.onnx_ops import floats

if TYPE_CHECKING:
    import numpy as np

# operators that move, copy or pick entries of their first input and compute nothing new
MOVES = frozenset(
    {"Expand", "Identity", "Tile", "Slice", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Flatten", "Gather", "GatherElements", "Cast"}
)
MAX_CHAIN = 32


@dataclass(frozen=True)
class Picked:
    """A constant as entries of a learned table: `table[rows]`, laid out as `shape` (batch 1 first).

    `axis` is the dimension of `shape` that holds the table's columns when it is not the last.
    """

    table: str
    rows: tuple[int, ...]
    shape: tuple[int, ...]
    axis: int | None = None


def shared_value(ctx: ImportContext, name: str) -> np.ndarray:
    """A constant's value with batch 1: a batch constant that only repeats one row over the batch (a class
    token expanded to N rows) counts as that row.

    Raises:
        Unmappable: a batch constant whose rows differ.
    """
    import numpy as np

    if name not in ctx.batch_consts:
        return np.asarray(ctx.const(name))
    first, second = (np.asarray(v) for v in ctx.batch_consts[name])
    if not _one_row_repeated(first, BATCHES[0]) or second.shape[:1] != (BATCHES[1],):
        raise Unmappable("a constant computed from the batch size that is not one row repeated")
    return first[:1]


def _one_row_repeated(value: np.ndarray, batch: int) -> bool:
    return value.ndim > 0 and value.shape[0] == batch and bool((value == value[:1]).all())


def source_table(ctx: ImportContext, name: str) -> tuple[str, np.ndarray] | None:
    """The float initializer a constant is made of by moving or picking entries, and the index into its
    flattened values of each entry of the constant (batch 1); None for a value computed otherwise."""
    key = f"source_table:{name}"
    if key not in ctx.memo:
        ctx.memo[key] = _source_table(ctx, name)
    return ctx.memo[key]


def _source_table(ctx: ImportContext, name: str) -> tuple[str, np.ndarray] | None:
    import numpy as np

    chain, tensor = [], name
    while tensor not in ctx.initializers:
        node = ctx.producer.get(tensor)
        if node is None or node.op_type not in MOVES or not node.input or len(chain) >= MAX_CHAIN:
            return None
        chain.append(node)
        tensor = node.input[0]
    table = ctx.const(tensor)
    if table is None or table.dtype.kind != "f" or not table.size or not np.isfinite(table).all():
        return None
    if not chain:
        return tensor, np.arange(table.size).reshape(table.shape)
    numbers = np.arange(table.size, dtype=np.int64).reshape(table.shape)
    try:
        index = run_nodes(ctx, chain[::-1], {tensor: numbers}, [name])[0]
    except Exception:  # noqa: BLE001 - a chain the reference evaluator cannot run on numbers is no index map
        return None
    if name in ctx.batch_consts:
        if not _one_row_repeated(index, BATCHES[0]):
            return None
        index = index[:1]
    index = np.rint(index).astype(np.int64)
    if index.size and (index.min() < 0 or index.max() >= table.size):
        return None
    try:
        value = shared_value(ctx, name)
    except Unmappable:
        return None
    if value.dtype.kind != "f" or not np.array_equal(table.ravel()[index], value.astype(table.dtype)):
        return None
    return tensor, index


def picked(ctx: ImportContext, name: str, shape: tuple[int, ...]) -> Picked | None:
    """How the constant `name`, laid out as `shape`, picks rows of a learned table; None when it is no such pick
    (a fixed value, or the table's own entries in order)."""
    found = source_table(ctx, name)
    if found is None:
        return None
    table, index = found
    value = table_value(ctx, table)
    if index.size == value.size and (index.ravel() == range(value.size)).all():
        return None
    width = value.size // value.shape[0]
    index = index.reshape(shape)
    rows = _rows(index, width)
    if rows is not None:
        return Picked(table, rows, shape)
    for axis in range(1, len(shape)) if value.ndim == 2 else ():
        if shape[axis] == width:
            import numpy as np

            rows = _rows(np.moveaxis(index, axis, -1), width)
            if rows is not None:
                return Picked(table, rows, shape, axis)
    return None


def _rows(index: np.ndarray, width: int) -> tuple[int, ...] | None:
    """The table rows an index array reads, when it reads whole rows of `width` entries in order."""
    import numpy as np

    if index.size % width:
        return None
    blocks = index.reshape(-1, width)
    if (blocks % width != np.arange(width)).any() or (blocks // width != blocks[:, :1] // width).any():
        return None
    return tuple(int(r) for r in blocks[:, 0] // width)


def table_value(ctx: ImportContext, table: str) -> np.ndarray:
    """An initializer as a table of rows: without the leading 1s a Parameter's batch puts in front, (1, R, D) as (R, D)."""
    value = ctx.const(table)
    assert value is not None
    while value.ndim > 2 and value.shape[0] == 1:
        value = value[0]
    return value


def is_learned(ctx: ImportContext, name: str) -> bool:
    """Whether a constant is a float initializer's entries (moved or picked): a weight to learn."""
    return source_table(ctx, name) is not None


def held_tensor(ctx: ImportContext, name: str, rank: int) -> str:
    """The live tensor standing for the constant `name` beside a tensor of `rank`, with a batch dimension of 1:
    a Parameter (an initializer: a weight, picked by index when only some of its rows are used) or a
    Constant (a fixed value); emitted once per constant."""
    import numpy as np
    from onnx import helper

    held = f"{name}::held"
    if held in ctx.live:
        return held
    value = shared_value(ctx, name)
    if value.ndim > rank or (value.ndim == rank and value.shape[0] != 1):
        raise Unmappable("a constant that does not broadcast over the batch (its first dimension is not 1)")
    aligned = value.reshape((1,) * (rank - value.ndim) + value.shape)
    pick = picked(ctx, name, aligned.shape) if rank > 1 else None
    if pick is not None:
        return emit_picked(ctx, pick, held)
    learned = is_learned(ctx, name)
    layer_type, state = ("Parameter", "weight") if learned else ("Constant", "value")
    params = {"shape": tuple(int(d) for d in aligned.shape[1:])} if rank > 1 else {}
    source = helper.make_node("Constant", [], [held], name=name)
    ctx.emit(source, layer_type, {**params, **({"std": 0.0} if learned else {})}, [], held, {state: floats(np.asarray(aligned))})
    return held


def learned_table(ctx: ImportContext, table: str) -> str:
    """The Parameter holding the whole initializer `table` (batch 1 in front), emitted once."""
    from onnx import helper

    held = f"{table}::table"
    if held not in ctx.live:
        value = table_value(ctx, table)
        source = helper.make_node("Constant", [], [held], name=table)
        params = {"shape": tuple(int(d) for d in value.shape), "std": 0.0}
        ctx.emit(source, "Parameter", params, [], held, {"weight": floats(value[None])})
    return held


def emit_picked(ctx: ImportContext, pick: Picked, output: str) -> str:
    """Emit the table's Parameter and the layers that pick and lay out its rows as `pick.shape`; `output` is the result."""
    from onnx import helper

    value = table_value(ctx, pick.table)
    shape = pick.shape
    laid = shape if pick.axis is None else (*shape[: pick.axis], *shape[pick.axis + 1 :], shape[pick.axis])
    steps: list[tuple[str, dict]] = []
    if pick.rows != tuple(range(value.shape[0])):
        steps.append(("IndexSelect", {"dim": 1, "indices": pick.rows, "keepdim": True}))
    if (1, len(pick.rows), *value.shape[1:]) != laid:
        steps.append(("Reshape", {"shape": laid[1:]}))
    if pick.axis is not None:
        last = len(shape) - 1
        steps.append(("Permute", {"dims": (*range(1, pick.axis), last, *range(pick.axis, last))}))
    tensor = learned_table(ctx, pick.table)
    node = helper.make_node("Gather", [], [output], name=f"{pick.table}.picked")
    if not steps:
        ctx.alias(output, tensor)
        return output
    for i, (layer_type, params) in enumerate(steps):
        out = output if i == len(steps) - 1 else f"{output}::{layer_type.lower()}"
        ctx.emit(node, layer_type, params, [tensor], out)
        tensor = out
    return output
