"""ONNX tensor plumbing as catalogue layers: reshapes, transposes, merges, reductions, lookups (padding and resizing: `onnx_spatial`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from studio.graph.catalogue import CATALOGUE
from studio.graph.catalogue.base import Folded
from studio.interop.common import Unmappable
from studio.interop.onnx_graph import BATCHES, INT_TYPES, ImportContext
from studio.interop.onnx_held import (
    held_tensor,
    is_learned,
    picked,
    shared_value,
    table_value,
)
from studio.interop.onnx_ops import (
    Mapper,
    clean,
    constant,
    data_input,
    floats,
    known_shape,
)
from studio.interop.onnx_slices import SLICE_MAPPERS
from studio.interop.onnx_strided import picked_apart, read_strided, strided_pick

if TYPE_CHECKING:
    import numpy as np
    import onnx

MAX_MERGE = 16  # the catalogue's most input ports on a merge layer
FLOAT_TYPES = frozenset({1, 10, 11, 16})  # float, float16, double, bfloat16
AFFINE_OPS = frozenset({"Mul", "Add", "Sub", "Div"})


def _axes(ctx: ImportContext, node: onnx.NodeProto, index: int = 1) -> list[int] | None:
    """A node's axes: the attribute in older opsets, else a constant input (None when absent)."""
    attrs = ctx.attrs(node)
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if len(node.input) > index and node.input[index]:
        value = constant(ctx, node, index, "axes")
        return [int(a) for a in value.ravel()]
    return None


def _reshaped(
    ctx: ImportContext, node: onnx.NodeProto, x: str, shape: tuple[int, ...]
) -> None:
    """Emit the layer that gives `x` the per-sample `shape`: a Flatten when that is what it is, else a Reshape."""
    source = known_shape(ctx, node, x)
    if len(shape) == 1 and len(source) > 2:
        ctx.emit(node, "Flatten", {}, [x], node.output[0])
    else:
        ctx.emit(node, "Reshape", {"shape": shape}, [x], node.output[0])


# ----- shape plumbing -----
def _identity(ctx: ImportContext, node: onnx.NodeProto) -> None:
    ctx.emit(node, "Identity", {}, [data_input(ctx, node)], node.output[0])


def _cast(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    target = int(ctx.attrs(node).get("to", 1))
    is_int = x in ctx.int_tensors
    if (target in FLOAT_TYPES and not is_int) or (target in INT_TYPES and is_int):
        ctx.alias(node.output[0], x)
        if is_int:
            ctx.int_tensors.add(node.output[0])
        return
    raise Unmappable("Cast (between integers and floats)")


def _flatten(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    rank = len(known_shape(ctx, node, x))
    if int(ctx.attrs(node).get("axis", 1)) % max(rank, 1) != 1 and rank > 1:
        raise Unmappable("Flatten (with an axis other than 1)")
    ctx.emit(node, "Flatten", {}, [x], node.output[0])


def reshape_target(
    ctx: ImportContext, node: onnx.NodeProto, source: tuple[Any, ...], name: str
) -> tuple[int, ...]:
    """The per-sample target of a Reshape: its batch dimension read from the batch pair, 0s and -1 resolved."""
    allow_zero = bool(ctx.attrs(node).get("allowzero", 0))
    if name in ctx.batch_consts:
        first, second = (list(map(int, v.ravel())) for v in ctx.batch_consts[name])
        varying = [i for i, (a, b) in enumerate(zip(first, second)) if a != b]
        rows = folded_factor(source)  # a target over a folded batch reads it as N*k
        if varying != [0] or (first[0], second[0]) != (BATCHES[0] * rows, BATCHES[1] * rows):
            raise Unmappable(
                "Reshape (a target that mixes the batch with other dimensions)"
            )
        rest = first[1:]
    else:
        value = ctx.const(name)
        if value is None:
            raise Unmappable("Reshape (a target computed from the data)")
        target = [int(v) for v in value.ravel()]
        if not target:
            raise Unmappable("Reshape (to a scalar)")
        head, rest = target[0], target[1:]
        if not (
            head == -1 or (head == 0 and not allow_zero) or head == ctx.fixed_batch
        ):
            raise Unmappable(
                "Reshape (a target that does not keep the batch dimension)"
            )
    if not allow_zero:
        rest = [
            source[i + 1] if d == 0 and i + 1 < len(source) else d
            for i, d in enumerate(rest)
        ]
    total = math.prod(source[1:])
    known = math.prod(d for d in rest if d != -1)
    if rest.count(-1) > 1 or any(d < -1 or d == 0 for d in rest) or known == 0:
        raise Unmappable(f"Reshape (target {rest})")
    if -1 in rest:
        if total % known:
            raise Unmappable(f"Reshape (target {rest} does not fit {total} values)")
        rest[rest.index(-1)] = total // known
    if math.prod(rest) != total:
        raise Unmappable(f"Reshape (target {rest} does not fit {total} values)")
    return tuple(rest)


def _reshape(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    source = known_shape(ctx, node, x)
    name = node.input[1] if len(node.input) > 1 else f"{node.output[0]}::shape"
    if len(node.input) < 2:
        target = [int(v) for v in ctx.attrs(node).get("shape", [])]  # opset 1-4 form
        ctx.consts[name] = _int_array(target)
    if read_strided(ctx, node, name):
        return  # each reader picks from the whole flattened data itself (_strided_pick)
    moved = _batch_move(ctx, source, name)
    if moved is not None:
        mode, rest, around = moved
        if around is None:
            ctx.emit(node, "Reshape", {"shape": rest, "batch": mode}, [x], node.output[0])
        elif mode == "fold":  # several dimensions into the batch (Swin's windows): joined into one first, then folded
            ctx.emit(node, "Reshape", {"shape": around}, [x], f"{node.output[0]}::joined")
            ctx.emit(node, "Reshape", {"shape": rest, "batch": mode}, [f"{node.output[0]}::joined"], node.output[0])
        else:  # the batch split into several dimensions: unfolded into one, then split
            ctx.emit(node, "Reshape", {"shape": rest, "batch": mode}, [x], f"{node.output[0]}::unfolded")
            ctx.emit(node, "Reshape", {"shape": around}, [f"{node.output[0]}::unfolded"], node.output[0])
        return
    target = reshape_target(ctx, node, source, name)
    if target == tuple(source[1:]):  # a view that changes nothing (x.view(-1, T) of a (N, T) tensor)
        ctx.alias(node.output[0], x)
        return
    _reshaped(ctx, node, x, target)


def _batch_move(ctx: ImportContext, source: tuple[Any, ...], name: str) -> tuple[str, tuple[int, ...], tuple[int, ...] | None] | None:
    """How a target (-1, ...) moves dimensions into or out of the batch, else None: ("fold", shape, None) for one that merges
    the batch with the first dimension after it, (N, H, ...) -> (N*H, ...); ("fold", shape, joined) for one that merges it
    with the first several, joined first to `joined`; ("unfold", shape, None) for one that splits a folded batch again,
    and ("unfold", shape, split) for one that splits it into several dimensions, reshaped to `split` after."""
    if name in ctx.batch_consts:  # a target built from Shape(x): its first entry is N*k at both batch sizes
        first, second = (list(map(int, v.ravel())) for v in ctx.batch_consts[name])
        if [i for i, (a, b) in enumerate(zip(first, second)) if a != b] != [0] or first[0] % BATCHES[0]:
            return None
        factor = first[0] // BATCHES[0]
        if second[0] != BATCHES[1] * factor or factor == folded_factor(source):
            return None
        target = [-1, *first[1:]]
    else:
        value = ctx.const(name)
        if value is None or value.size < 2 or int(value.ravel()[0]) != -1:
            return None
        target = [int(v) for v in value.ravel()]
    rest = target[1:]
    if any(d <= 0 for d in rest):
        return None
    per_row = math.prod(int(d) for d in source[1:])
    if isinstance(source[0], Folded):
        split = next((k for k in range(1, len(rest)) if math.prod(rest[:k]) == int(source[0])), None)
        if split is None or math.prod(rest[split:]) != per_row:
            return None
        return "unfold", tuple(rest[split:]), None if split == 1 else tuple(rest)
    joined = next((k for k in range(1, len(source) - 1) if math.prod(int(d) for d in source[1 : k + 1]) > 1), None)
    for k in range(joined or len(source), len(source) - 1):
        factor = math.prod(int(d) for d in source[1 : k + 1])
        if math.prod(rest) * factor == per_row:
            return "fold", tuple(rest), None if k == 1 else (factor, *(int(d) for d in source[k + 1 :]))
    return None


def folded_factor(shape: tuple[Any, ...]) -> int:
    """How many rows each sample has in the batch dimension: k for a batch folded N*k, else 1."""
    return int(shape[0]) if isinstance(shape[0], Folded) else 1


def _int_array(values: list[int]) -> np.ndarray:
    import numpy as np

    return np.array(values, dtype=np.int64)


def _squeeze(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    axes = _axes(ctx, node)
    rank = len(shape)
    drop = (
        {a % rank for a in axes}
        if axes is not None
        else {i for i in range(1, rank) if shape[i] == 1}
    )
    if 0 in drop or any(shape[i] != 1 for i in drop):
        raise Unmappable(
            "Squeeze (of the batch dimension or a dimension larger than 1)"
        )
    _reshaped(
        ctx, node, x, tuple(d for i, d in enumerate(shape) if i not in drop and i > 0)
    )


def _unsqueeze(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = list(known_shape(ctx, node, x))
    axes = _axes(ctx, node) or []
    rank = len(shape) + len(axes)
    for axis in sorted(a % rank for a in axes):
        if axis == 0:
            raise Unmappable("Unsqueeze (in front of the batch dimension)")
        shape.insert(axis, 1)
    ctx.emit(node, "Reshape", {"shape": tuple(shape[1:])}, [x], node.output[0])


def _transpose(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    rank = len(known_shape(ctx, node, x))
    perm = [int(p) for p in ctx.attrs(node).get("perm", list(range(rank))[::-1])]
    if perm[0] != 0:
        if not picked_apart(ctx, node, x, perm):
            raise Unmappable("Transpose (moving the batch dimension)")
        return
    if perm == list(range(rank)):
        ctx.alias(node.output[0], x)
        return
    ctx.emit(node, "Permute", {"dims": tuple(perm[1:])}, [x], node.output[0])


# ----- merges -----
def merge(
    ctx: ImportContext,
    node: onnx.NodeProto,
    layer_type: str,
    inputs: list[str],
    output: str,
) -> None:
    """Emit a merge layer over any number of inputs: more than 16 become a balanced tree of merges of at most 16, in order.

    NOTE: a merge layer holds at most MAX_MERGE inputs (the catalogue's `num_inputs`), so a
    Sum of N tensors becomes about N / 15 layers, log16(N) deep: linear in N to build, and a
    short path for the layout and the generated code.
    """
    params: dict[str, Any] = (
        {"dim": int(ctx.attrs(node).get("axis", 1))} if layer_type == "Concat" else {}
    )
    level = 0
    while len(inputs) > MAX_MERGE:
        level += 1
        merged = []
        for start in range(0, len(inputs), MAX_MERGE):
            group = inputs[start : start + MAX_MERGE]
            if len(group) == 1:
                merged.append(group[0])
                continue
            partial = f"{output}::part{level}.{start // MAX_MERGE}"
            ctx.emit(node, layer_type, {**params, "num_inputs": len(group)}, group, partial)
            merged.append(partial)
        inputs = merged
    if CATALOGUE[layer_type].variadic:
        params["num_inputs"] = len(inputs)
    ctx.emit(node, layer_type, params, inputs, output)


def _concat(ctx: ImportContext, node: onnx.NodeProto) -> None:
    names = [n for n in node.input if n]
    live = [n for n in names if not ctx.is_constant(n)]
    if not live:
        raise Unmappable("Concat (of constants only)")
    if len(names) == 1:
        ctx.alias(node.output[0], names[0])
        return
    rank = len(known_shape(ctx, node, ctx.resolve(live[0])))
    inputs = [ctx.resolve(n) if not ctx.is_constant(n) else held_tensor(ctx, n, rank) for n in names]  # a class token
    merge(ctx, node, "Concat", inputs, node.output[0])


def _elementwise(ctx: ImportContext, node: onnx.NodeProto) -> None:
    names = [n for n in node.input if n]
    if any(ctx.is_constant(n) for n in names):
        if node.op_type in AFFINE_OPS and len(names) == 2:
            affine(ctx, node)
            return
        live = next((n for n in names if not ctx.is_constant(n)), None)
        if live is None or len(names) != 2:
            raise Unmappable(f"{node.op_type} (several inputs, one of them a constant)")
        with_held_tensor(ctx, node, ctx.resolve(live), known_shape(ctx, node, ctx.resolve(live)))
        return
    layer = {"Sum": "Add", **HELD_MERGES}.get(node.op_type)
    if layer is None:
        raise Unmappable(f"{node.op_type} (of two computed tensors)")
    if len(names) == 1:
        ctx.alias(node.output[0], names[0])
        return
    merge(ctx, node, layer, [ctx.resolve(n) for n in names], node.output[0])


def _mean(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """Mean of computed tensors: their sum (a tree of Add layers past 16) scaled by 1 / N."""
    names = [n for n in node.input if n]
    if any(ctx.is_constant(n) for n in names):
        raise Unmappable("Mean (with a constant input)")
    if len(names) == 1:
        ctx.alias(node.output[0], names[0])
        return
    total = f"{node.output[0]}::sum"
    merge(ctx, node, "Add", [ctx.resolve(n) for n in names], total)
    ctx.emit(node, "Scale", {"factor": 1.0 / len(names), "offset": 0.0}, [total], node.output[0])


def _per_channel(value: np.ndarray, shape: tuple[Any, ...]) -> np.ndarray | None:
    """A constant that broadcasts as one value per channel (dimension 1) of `shape`, as a (C,) array; else None."""
    import numpy as np

    if value.ndim > len(shape):
        return None
    aligned = (1,) * (len(shape) - value.ndim) + tuple(value.shape)
    if (
        aligned[0] != 1
        or any(d != 1 for d in aligned[2:])
        or aligned[1] not in (1, shape[1])
    ):
        return None
    return np.broadcast_to(value.reshape(-1).astype(np.float64), (shape[1],)).copy()


def _step(
    ctx: ImportContext,
    node: onnx.NodeProto,
    x: str,
    shape: tuple[Any, ...],
    scale: np.ndarray,
    shift: np.ndarray,
    singles: list[bool],
) -> bool:
    """Compose one Mul/Add/Sub/Div by a per-channel constant into (scale, shift); False when it is not one.

    `singles` gets whether the constant was one value for every element.
    """
    names = list(node.input)
    if len(names) != 2 or ctx.resolve(names[0]) == ctx.resolve(names[1]):
        return False
    live_first = not ctx.is_constant(names[0])
    other = ctx.const(names[1] if live_first else names[0])
    if other is None or ctx.resolve(names[0] if live_first else names[1]) != x:
        return False
    c = _per_channel(other, shape)
    if c is None:
        return False
    if node.op_type == "Mul":
        scale *= c
        shift *= c
    elif node.op_type == "Add":
        shift += c
    elif node.op_type == "Sub" and live_first:
        shift -= c
    elif node.op_type == "Sub":
        scale *= -1
        shift[:] = c - shift
    elif node.op_type == "Div" and live_first and not (c == 0).any():
        scale /= c
        shift /= c
    else:
        return False
    singles.append(other.size == 1)
    return True


def _standardizes_an_input(
    ctx: ImportContext, node: onnx.NodeProto, x: str, shape: tuple[Any, ...], scale: np.ndarray
) -> bool:
    """True for a scale-and-shift that is the only reader of a float graph input: the Input's own mean and std.

    Only the form `(x - mean) / std` (Sub, then Div) is taken for one: other arithmetic on an
    input stays a layer of its own.
    """
    graph_inputs = {i.name for i in ctx.graph.input} - ctx.initializers
    return (
        x in graph_inputs
        and x not in ctx.int_tensors
        and x not in ctx.standardized
        and len(shape) != 3  # a sequence's statistics run along its features, not dimension 1
        and bool((scale > 0).all())
        and ctx.consumers.get(x, []) == [node]
    )


def _statistic(values: np.ndarray) -> tuple[float, ...]:
    """An Input's mean or std as the catalogue holds it: one value when every channel shares it."""
    found = tuple(clean(v) for v in values.reshape(-1))
    return found[:1] if len(set(found)) == 1 else found


def _sequence_standardization(ctx: ImportContext, node: onnx.NodeProto, x: str, shape: tuple[Any, ...]) -> bool:
    """Sub then Div by per-feature constants, the only readers of a float sequence input: its mean and std."""
    import numpy as np

    div = ctx.only_consumer(node.output[0])
    if node.op_type != "Sub" or div is None or div.op_type != "Div" or ctx.is_claimed(div):
        return False
    if list(node.input[:1]) != [x] or list(div.input[:1]) != [node.output[0]]:
        return False
    mean, std = ctx.const(node.input[1]), ctx.const(div.input[1])
    features = shape[-1]
    if mean is None or std is None or not _standardizes_an_input(ctx, node, x, shape[:2], np.ones(1)):
        return False
    if any(v.ndim > 3 or v.size not in (1, features) or (v.ndim and v.shape[-1] != v.size) for v in (mean, std)):
        return False
    if (std <= 0).any():
        return False
    ctx.claim(div)
    ctx.standardized[x] = _statistic(mean), _statistic(std)
    ctx.alias(div.output[0], x)
    return True


def affine(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """Mul/Add/Sub/Div by constants (a chain of them): a Scale when each is one value, else one BatchNorm of identity statistics.

    A BatchNorm whose running mean is 0 and running variance 1 - eps computes exactly
    x * weight + bias; a learned per-channel factor alone becomes a Parameter and a Multiply,
    which hold exactly its values. An Add of a (T, D) table
    to a sequence becomes a PositionalEncoding; Sub then Div on an input, that Input's
    standardization.
    """
    import numpy as np

    x = data_input(ctx, node, 0 if not ctx.is_constant(node.input[0]) else 1)
    shape = known_shape(ctx, node, x)
    scale, shift = (
        np.ones(shape[1] if len(shape) > 1 else 1),
        np.zeros(shape[1] if len(shape) > 1 else 1),
    )
    if len(shape) == 3 and _sequence_standardization(ctx, node, x, shape):
        return
    other = next(n for n in node.input if ctx.is_constant(n))
    value = ctx.const(other)
    if value is not None and value.size > 1 and not is_learned(ctx, other):
        with_held_tensor(ctx, node, x, shape)  # a fixed value (a Constant node), not a weight to learn
        return
    singles: list[bool] = []
    if len(shape) < 2 or not _step(ctx, node, x, shape, scale, shift, singles):
        if node.op_type == "Add" and len(shape) == 3 and _position_table(ctx, node, x, shape):
            positional(ctx, node, x, shape)
            return
        with_held_tensor(ctx, node, x, shape)
        return
    last = node
    while True:
        following = ctx.only_consumer(last.output[0])
        if (
            following is None
            or following.op_type not in AFFINE_OPS
            or ctx.is_claimed(following)
        ):
            break
        if not _step(ctx, following, last.output[0], shape, scale, shift, singles):
            break
        ctx.claim(following)
        last = following
    if node.op_type == "Sub" and last.op_type == "Div" and _standardizes_an_input(ctx, node, x, shape, scale):
        ctx.standardized[x] = (_statistic(-shift / scale), _statistic(1 / scale))
        ctx.alias(last.output[0], x)
        return
    if all(singles):
        params = {"factor": clean(scale[0]), "offset": clean(shift[0])}
        ctx.emit(last, "Scale", params, [x], last.output[0])
        return
    if last is node and node.op_type == "Mul" and is_learned(ctx, other):
        with_held_tensor(ctx, node, x, shape)  # a learned per-channel scale alone (ConvNeXt's layer scale): exactly its weights
        return
    if len(shape) > 5:
        raise Unmappable(f"{node.op_type} (by a per-channel constant on a {len(shape)}-D tensor)")
    eps = 1e-5
    weights = {
        "weight": floats(scale),
        "bias": floats(shift),
        "running_mean": floats(np.zeros(shape[1])),
        "running_var": floats(np.full(shape[1], 1.0 - eps)),
        "num_batches_tracked": np.array(0, dtype=np.int64),
    }
    layer = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}[
        len(shape)
    ]
    ctx.emit(last, layer, {"eps": eps}, [x], last.output[0], weights)


def _position_table(ctx: ImportContext, node: onnx.NodeProto, x: str, shape: tuple[Any, ...]) -> bool:
    """Whether an Add's constant is a position table: the sinusoidal table, or the first T rows of a learned table."""
    name = node.input[1] if ctx.resolve(node.input[0]) == x else node.input[0]
    return _sinusoidal(ctx, name, shape[1], shape[2]) or _learned_positions(ctx, name, shape[1], shape[2]) is not None


def _sinusoidal(ctx: ImportContext, name: str, steps: int, width: int) -> bool:
    import numpy as np

    table = ctx.const(name)
    if table is None or table.size != steps * width or table.shape[-2:] != (steps, width):
        return False
    return bool(np.allclose(table.reshape(steps, width), sinusoidal_table(steps, width), atol=1e-5))


def _learned_positions(ctx: ImportContext, name: str, steps: int, width: int) -> np.ndarray | None:
    """The whole (R, D) learned table whose first `steps` rows, in order, the constant `name` is; None for any other constant."""
    if not is_learned(ctx, name):
        return None
    try:
        value = shared_value(ctx, name)
    except Unmappable:
        return None
    if value.size != steps * width or value.shape[-2:] != (steps, width):
        return None
    pick = picked(ctx, name, (1, steps, width))
    if pick is None:  # the table itself, every row in order
        return value.reshape(steps, width)
    table = table_value(ctx, pick.table)
    if pick.axis is None and pick.rows == tuple(range(steps)) and table.ndim == 2:
        return table
    return None


HELD_MERGES = {"Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Div": "Divide", "Max": "Maximum", "Min": "Minimum"}


def with_held_tensor(ctx: ImportContext, node: onnx.NodeProto, x: str, shape: tuple[Any, ...]) -> None:
    """A merge of a live tensor with a constant that broadcasts: the constant becomes a Parameter or a Constant layer."""
    layer = HELD_MERGES.get(node.op_type)
    if layer is None or len(node.input) != 2 or len(shape) < 2:
        raise Unmappable(f"{node.op_type} (by a constant that is not one value per channel)")
    inputs = [x if not ctx.is_constant(n) else held_tensor(ctx, n, len(shape)) for n in node.input]
    merge(ctx, node, layer, inputs, node.output[0])


def sinusoidal_table(length: int, width: int) -> np.ndarray:
    """The fixed position table of the catalogue's sinusoidal PositionalEncoding."""
    import numpy as np

    position = np.arange(length, dtype=np.float64)[:, None]
    rate = np.exp(
        np.arange(0, width, 2, dtype=np.float64) * (-math.log(10000.0) / width)
    )
    table = np.zeros((length, width))
    table[:, 0::2] = np.sin(position * rate)
    table[:, 1::2] = np.cos(position * rate[: width // 2])
    return table


def positional(
    ctx: ImportContext, node: onnx.NodeProto, x: str, shape: tuple[Any, ...]
) -> None:
    """An Add of a (T, D) table to a sequence: a sinusoidal PositionalEncoding when it is that table, else a learned
    one holding the whole table the rows come from."""
    name = node.input[1] if ctx.resolve(node.input[0]) == x else node.input[0]
    steps, width = shape[1], shape[2]
    table = None if _sinusoidal(ctx, name, steps, width) else _learned_positions(ctx, name, steps, width)
    if table is None:
        ctx.emit(node, "PositionalEncoding", {"kind": "sinusoidal", "max_len": max(steps, 512)}, [x], node.output[0])
        return
    params = {"kind": "learned", "max_len": table.shape[0]}
    ctx.emit(node, "PositionalEncoding", params, [x], node.output[0], {"table": floats(table)})


# ----- reductions, lookups -----
def _gather(ctx: ImportContext, node: onnx.NodeProto) -> None:
    axis = int(ctx.attrs(node).get("axis", 0))
    table = ctx.const(node.input[0])
    if table is not None:
        ids = data_input(ctx, node, 1)
        if axis != 0 or table.ndim != 2:
            raise Unmappable(
                "Gather (from a constant that is not an embedding table)"
            )
        params = {
            "num_embeddings": int(table.shape[0]),
            "embedding_dim": int(table.shape[1]),
        }
        ctx.emit(
            node, "Embedding", params, [ids], node.output[0], {"weight": floats(table)}
        )
        return
    if axis == 0 and node.input[1] in ctx.batch_consts and strided_pick(ctx, node):
        return
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    index = ctx.const(node.input[1])
    if index is None or index.ndim != 0 or len(shape) != 3 or axis % 3 != 1:
        raise Unmappable("Gather (of computed values)")
    step = int(index) % shape[1]
    if step not in (0, shape[1] - 1):
        raise Unmappable("Gather (of a middle time step)")
    ctx.emit(
        node,
        "SequencePool",
        {"mode": "first" if step == 0 else "last"},
        [x],
        node.output[0],
    )


def _reduce(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    rank = len(shape)
    attrs = ctx.attrs(node)
    axes = _axes(ctx, node)
    if axes is None:
        raise Unmappable(f"{node.op_type} (over every dimension)")
    axes = sorted({a % rank for a in axes})
    keep = bool(attrs.get("keepdims", 1))
    mean = node.op_type == "ReduceMean"
    spatial = list(range(2, rank))
    kind = "Avg" if mean else "Max"
    if axes == spatial and rank in (3, 4, 5) and not keep:
        ctx.emit(node, f"Global{kind}Pool{rank - 2}d", {}, [x], node.output[0])
    elif axes == spatial and rank in (3, 4, 5):
        ctx.emit(node, f"Adaptive{kind}Pool{rank - 2}d", {"output_size": (1,) * (rank - 2)}, [x], node.output[0])
    elif axes == [1] and rank == 3 and not keep:
        ctx.emit(
            node,
            "SequencePool",
            {"mode": "mean" if mean else "max"},
            [x],
            node.output[0],
        )
    else:
        raise Unmappable(f"{node.op_type} (over axes {axes} of a {rank}-D tensor)")


TENSOR_MAPPERS: dict[str, Mapper] = {
    "Identity": _identity,
    "Cast": _cast,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Transpose": _transpose,
    "Concat": _concat,
    "Add": _elementwise,
    "Sum": _elementwise,
    "Mul": _elementwise,
    "Sub": _elementwise,
    "Div": _elementwise,
    "Max": _elementwise,
    "Min": _elementwise,
    "Mean": _mean,
    "Gather": _gather,
    "ReduceMean": _reduce,
    "ReduceMax": _reduce,
    **SLICE_MAPPERS,
}
