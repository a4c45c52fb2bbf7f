"""Exporter patterns: groups of ONNX nodes that together are one catalogue layer (GELU, SiLU, Linear, shuffles, ...).

Each matcher looks at one anchor node before any node is mapped and returns a `Match`: the
nodes it takes and how to emit the layer once the mapping pass reaches the last of them (by
then every input's shape is known), or the node it names as `anchor` (a layer whose outputs
are read between the nodes it takes). A matcher only takes nodes whose intermediate results
nobody else reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio.interop.onnx_graph import ImportContext
from studio.interop.onnx_ops import clean, conv_layer
from studio.interop.onnx_pooling import pool_layer
from studio.interop.onnx_spatial import PAD_MODES, pad_spec

if TYPE_CHECKING:
    import onnx


@dataclass
class Match:
    """Nodes that are one layer, and how to emit it."""

    nodes: list[onnx.NodeProto]
    emit: Callable[[ImportContext], None]
    anchor: onnx.NodeProto | None = None  # where the layer is emitted (None: at the last of `nodes`)


Matcher = Callable[[ImportContext, "onnx.NodeProto"], "Match | None"]


# ----- small readers -----
def follower(ctx: ImportContext, tensor: str, *op_types: str) -> onnx.NodeProto | None:
    """The only reader of `tensor` when it is one of `op_types` and still free."""
    node = ctx.only_consumer(tensor)
    if node is None or node.op_type not in op_types or ctx.is_claimed(node):
        return None
    return node


def feeder(
    ctx: ImportContext,
    tensor: str,
    *op_types: str,
    reader: onnx.NodeProto | None = None,
) -> onnx.NodeProto | None:
    """The free node of one of `op_types` producing `tensor`, when `reader` (if given) is its only reader."""
    node = ctx.producer.get(tensor)
    if node is None or node.op_type not in op_types or ctx.is_claimed(node):
        return None
    if reader is not None and ctx.only_consumer(tensor) is not reader:
        return None
    return node


def scalar(ctx: ImportContext, name: str) -> float | None:
    """The value of a one-element constant, else None."""
    value = ctx.const(name)
    if value is None or value.size != 1:
        return None
    return float(value.ravel()[0])


def split(ctx: ImportContext, node: onnx.NodeProto) -> tuple[str, float] | None:
    """A two-input node's live operand and its scalar constant operand, in either order."""
    if len(node.input) != 2:
        return None
    a, b = node.input
    for live, const in ((a, b), (b, a)):
        value = scalar(ctx, const)
        if value is not None and not ctx.is_constant(live):
            return live, value
    return None


def near(value: float | None, wanted: float) -> bool:
    return value is not None and math.isclose(value, wanted, rel_tol=1e-5, abs_tol=1e-7)


# ----- activations -----
def _half_x_times(
    ctx: ImportContext, tensor: str, x: str
) -> list[onnx.NodeProto] | None:
    """The tail 0.5 * x * (1 + tensor) of GELU, in any exporter's order of products; its nodes."""
    add = follower(ctx, tensor, "Add")
    if add is None or not near(split(ctx, add)[1] if split(ctx, add) else None, 1.0):
        return None
    nodes, current, needed = [add], add.output[0], {"x", "half"}
    for _ in range(2):
        mul = follower(ctx, current, "Mul")
        if mul is None:
            return None
        other = mul.input[1] if mul.input[0] == current else mul.input[0]
        half = feeder(ctx, other, "Mul", reader=mul)
        if other == x and "x" in needed:
            needed.discard("x")
        elif near(scalar(ctx, other), 0.5) and "half" in needed:
            needed.discard("half")
        elif (
            half is not None
            and needed == {"x", "half"}
            and split(ctx, half)
            and split(ctx, half)[0] == x
            and near(split(ctx, half)[1], 0.5)
        ):  # type: ignore[index]
            nodes.append(half)
            needed.clear()
        else:
            return None
        nodes.append(mul)
        current = mul.output[0]
        if not needed:
            return nodes
    return None


def _gelu(nodes: list[onnx.NodeProto], x: str, approximate: str) -> Match:
    last = nodes[-1]
    return Match(
        nodes,
        lambda ctx: ctx.emit(
            last, "GELU", {"approximate": approximate}, [x], last.output[0]
        ),
    )


def gelu_erf(ctx: ImportContext, erf: onnx.NodeProto) -> Match | None:
    """x * 0.5 * (1 + erf(x / sqrt(2))) -> GELU."""
    pre = feeder(ctx, erf.input[0], "Div", "Mul", reader=erf)
    operands = split(ctx, pre) if pre is not None else None
    if pre is None or operands is None:
        return None
    x, value = operands
    if not (
        near(value, math.sqrt(2)) and pre.op_type == "Div" and pre.input[0] == x
    ) and not (near(value, math.sqrt(0.5)) and pre.op_type == "Mul"):
        return None
    tail = _half_x_times(ctx, erf.output[0], x)
    return _gelu([pre, erf, *tail], x, "none") if tail else None


def gelu_tanh(ctx: ImportContext, tanh: onnx.NodeProto) -> Match | None:
    """x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) -> GELU (tanh approximation)."""
    outer = feeder(ctx, tanh.input[0], "Mul", reader=tanh)
    if (
        outer is None
        or not split(ctx, outer)
        or not near(split(ctx, outer)[1], math.sqrt(2 / math.pi))
    ):  # type: ignore[index]
        return None
    inner = feeder(ctx, split(ctx, outer)[0], "Add", reader=outer)  # type: ignore[index]
    if inner is None:
        return None
    for x, cubic_term in (
        (inner.input[0], inner.input[1]),
        (inner.input[1], inner.input[0]),
    ):
        scaled = feeder(ctx, cubic_term, "Mul", reader=inner)
        operands = split(ctx, scaled) if scaled is not None else None
        if scaled is None or operands is None or not near(operands[1], 0.044715):
            continue
        cube = feeder(ctx, operands[0], "Pow", reader=scaled)
        if (
            cube is None
            or cube.input[0] != x
            or not near(scalar(ctx, cube.input[1]), 3.0)
        ):
            continue
        tail = _half_x_times(ctx, tanh.output[0], x)
        return (
            _gelu([cube, scaled, inner, outer, tanh, *tail], x, "tanh")
            if tail
            else None
        )
    return None


def silu(ctx: ImportContext, sigmoid: onnx.NodeProto) -> Match | None:
    """x * sigmoid(x) -> SiLU."""
    x = sigmoid.input[0]
    mul = follower(ctx, sigmoid.output[0], "Mul")
    if mul is None or x not in mul.input or ctx.is_constant(x):
        return None
    return Match([sigmoid, mul], lambda c: c.emit(mul, "SiLU", {}, [x], mul.output[0]))


def softplus(ctx: ImportContext, node: onnx.NodeProto) -> Match | None:
    """softplus(beta * x) / beta, replaced by x where beta * x > threshold -> Softplus(beta, threshold)."""
    scaled_input = node.input[0]
    nodes, x, beta = [node], scaled_input, 1.0
    pre = ctx.producer.get(scaled_input)
    if (
        pre is not None
        and pre.op_type == "Mul"
        and split(ctx, pre)
        and not ctx.is_claimed(pre)
    ):
        x, beta = split(ctx, pre)  # type: ignore[misc]
        nodes.insert(0, pre)
    result = node.output[0]
    if beta != 1.0:
        div = follower(ctx, result, "Div")
        if (
            div is None
            or div.input[0] != result
            or not near(scalar(ctx, div.input[1]), beta)
        ):
            return None
        nodes.append(div)
        result = div.output[0]
    where = follower(ctx, result, "Where")
    greater = (
        feeder(ctx, where.input[0], "Greater", reader=where)
        if where is not None
        else None
    )
    if (
        where is None
        or greater is None
        or greater.input[0] != scaled_input
        or list(where.input[1:]) != [x, result]
    ):
        return None
    threshold = scalar(ctx, greater.input[1])
    readers = ctx.consumers.get(scaled_input, [])
    if threshold is None or (len(nodes) > 1 and len(readers) != 2):
        return None
    nodes += [greater, where]
    params = {"beta": clean(beta), "threshold": clean(threshold)}
    return Match(
        nodes, lambda c: c.emit(where, "Softplus", params, [x], where.output[0])
    )


# ----- normalization -----
def group_norm(ctx: ImportContext, norm: onnx.NodeProto) -> Match | None:
    """Reshape to (N, G, -1), InstanceNormalization, Reshape back, then a per-channel Mul and Add -> GroupNorm."""
    import numpy as np

    grouped = feeder(ctx, norm.input[0], "Reshape", reader=norm)
    scale, bias = ctx.const(norm.input[1]), ctx.const(norm.input[2])
    if (
        grouped is None
        or scale is None
        or bias is None
        or not np.all(scale == 1)
        or np.any(bias != 0)
    ):
        return None
    x = grouped.input[0]
    shape = ctx.inferred.get(x)
    groups = scale.size
    if (
        shape is None
        or len(shape) < 3
        or any(d is None for d in shape[1:])
        or shape[1] % groups
    ):
        return None
    back = follower(ctx, norm.output[0], "Reshape")
    if back is None or ctx.inferred.get(back.output[0]) != shape:
        return None
    nodes, last, weights = [grouped, norm, back], back, {}
    mul = follower(ctx, back.output[0], "Mul")
    add = follower(ctx, mul.output[0], "Add") if mul is not None else None
    if mul is not None and add is not None:
        gamma = _channel_const(ctx, mul, back.output[0], shape)
        beta = _channel_const(ctx, add, mul.output[0], shape)
        if gamma is not None and beta is not None:
            nodes += [mul, add]
            last, weights = add, {"weight": gamma, "bias": beta}
    params = {
        "num_groups": groups,
        "eps": clean(ctx.attrs(norm).get("epsilon", 1e-5)),
        "affine": bool(weights),
    }
    return Match(
        nodes, lambda c: c.emit(last, "GroupNorm", params, [x], last.output[0], weights)
    )


def _channel_const(
    ctx: ImportContext, node: onnx.NodeProto, live: str, shape: tuple
) -> object | None:
    """The (C,) float32 values of a per-channel constant operand of `node` (whose other operand is `live`)."""
    import numpy as np

    other = node.input[1] if node.input[0] == live else node.input[0]
    value = ctx.const(other)
    if value is None or value.size != shape[1] or value.ndim > len(shape):
        return None
    aligned = (1,) * (len(shape) - value.ndim) + tuple(value.shape)
    if aligned[1] != shape[1]:
        return None
    return np.ascontiguousarray(value.reshape(-1), dtype=np.float32)


def normalize(ctx: ImportContext, norm: onnx.NodeProto) -> Match | None:
    """x / max(||x||_p, eps) along one axis, p 1 or 2 (Max or Clip, an Expand between allowed) -> Normalize."""
    x = norm.input[0]
    attrs = ctx.attrs(norm)
    given = attrs.get("axes") if "axes" in attrs else (ctx.const(norm.input[1]) if len(norm.input) > 1 and norm.input[1] else None)
    axes = [] if given is None else [int(a) for a in (given.ravel().tolist() if hasattr(given, "ravel") else given)]
    if ctx.is_constant(x) or len(axes) != 1 or not attrs.get("keepdims", 1):
        return None
    floor = follower(ctx, norm.output[0], "Max", "Clip")
    if floor is None:
        return None
    if floor.op_type == "Max":
        eps = scalar(ctx, floor.input[1]) if floor.input[0] == norm.output[0] else None
    else:
        eps = scalar(ctx, floor.input[1]) if len(floor.input) > 1 and floor.input[1] else None
        if len(floor.input) > 2 and floor.input[2]:
            return None  # a ceiling too: not a normalization
    nodes = [norm, floor]
    divisor = floor.output[0]
    grown = follower(ctx, divisor, "Expand")
    if grown is not None:
        nodes.append(grown)
        divisor = grown.output[0]
    div = follower(ctx, divisor, "Div")
    if eps is None or eps < 0 or div is None or list(div.input) != [x, divisor]:
        return None
    params = {"dim": axes[0], "p": 1.0 if norm.op_type == "ReduceL1" else 2.0, "eps": clean(eps)}
    return Match([*nodes, div], lambda c: c.emit(div, "Normalize", params, [c.resolve(x)], div.output[0]))


def lrn(ctx: ImportContext, square: onnx.NodeProto) -> Match | None:
    """PyTorch's LocalResponseNorm as exporters write it: x / (k + alpha * avg_pool(pad(x^2)))^beta.

    x^2 is viewed with a unit axis in front of the channels, padded by size // 2 before and
    (size - 1) // 2 after them, and averaged over windows of `size` channels.
    """
    x = square.input[0]
    if len(square.input) != 2 or square.input[1] != x or ctx.is_constant(x):
        return None
    chain, current, pool, pads = [square], square.output[0], None, [0, 0]
    for _ in range(8):
        node = follower(
            ctx, current, "Reshape", "Pad", "Squeeze", "Unsqueeze", "AveragePool"
        )
        if node is None:
            break
        if node.op_type in ("AveragePool", "Pad") and pool is not None:
            return None
        if node.op_type == "AveragePool":
            pool = node
        elif node.op_type == "Pad" and not _channel_pads(ctx, node, pads):
            return None
        chain.append(node)
        current = node.output[0]
    values = []
    for op_type in ("Mul", "Add", "Pow"):
        node = follower(ctx, current, op_type)
        operands = split(ctx, node) if node is not None else None
        if node is None or operands is None or operands[0] != current:
            return None
        chain.append(node)
        values.append(operands[1])
        current = node.output[0]
    div = follower(ctx, current, "Div")
    attrs = ctx.attrs(pool) if pool is not None else {}
    kernel = [int(k) for k in attrs.get("kernel_shape", [])]
    if (
        div is None
        or list(div.input) != [x, current]
        or not kernel
        or any(k != 1 for k in kernel[1:])
    ):
        return None
    size = kernel[0]
    if (
        any(int(s) != 1 for s in attrs.get("strides", []))
        or any(attrs.get("pads", []))
        or pads != [size // 2, (size - 1) // 2]
    ):
        return None
    chain.append(div)
    alpha, k, beta = values
    params = {"size": size, "alpha": clean(alpha), "beta": clean(beta), "k": clean(k)}
    return Match(
        chain, lambda c: c.emit(div, "LocalResponseNorm", params, [x], div.output[0])
    )


def _channel_pads(ctx: ImportContext, pad: onnx.NodeProto, total: list[int]) -> bool:
    """Add a Pad's zero padding of the channel axis (axis 2 of the (N, 1, C, ...) view) to `total`; False for any other padding."""
    attrs = ctx.attrs(pad)
    given = (
        attrs.get("pads")
        if ctx.opset < 11
        else ctx.const(pad.input[1])
        if len(pad.input) > 1
        else None
    )
    rank = len(given) // 2 if given is not None else 0
    try:
        mode, pads, value = pad_spec(ctx, pad, rank)
    except Exception:  # noqa: BLE001 - a Pad this cannot read is not part of the pattern
        return False
    if (
        rank < 4
        or mode != "constant"
        or value != 0
        or any(p for i, p in enumerate(pads) if i % rank != 2)
    ):
        return False
    total[0] += pads[2]
    total[1] += pads[2 + rank]
    return True


# ----- pooling, padding -----
def adaptive_pool_1d(ctx: ImportContext, unsqueeze: onnx.NodeProto) -> Match | None:
    """Unsqueeze(-2), ReduceMean over the last two axes, Squeeze(-2): AdaptiveAvgPool1d to length 1."""
    x = unsqueeze.input[0]
    shape = ctx.inferred.get(x)
    reduce = follower(ctx, unsqueeze.output[0], "ReduceMean")
    squeeze = follower(ctx, reduce.output[0], "Squeeze") if reduce is not None else None
    if (
        shape is None
        or len(shape) != 3
        or reduce is None
        or squeeze is None
        or ctx.is_constant(x)
    ):
        return None
    if ctx.inferred.get(squeeze.output[0]) != (*shape[:2], 1):
        return None
    return Match(
        [unsqueeze, reduce, squeeze],
        lambda c: c.emit(
            squeeze, "AdaptiveAvgPool1d", {"output_size": (1,)}, [x], squeeze.output[0]
        ),
    )


def pad_into(ctx: ImportContext, pad: onnx.NodeProto) -> Match | None:
    """A Pad whose only reader is a Conv or pooling: folded into that layer's own padding (and padding_mode)."""
    x = pad.input[0]
    shape = ctx.inferred.get(x)
    reader = follower(ctx, pad.output[0], "Conv", "AveragePool", "MaxPool")
    if (
        shape is None
        or reader is None
        or reader.input[0] != pad.output[0]
        or ctx.is_constant(x)
    ):
        return None
    rank = len(shape)
    try:
        mode, pads, value = pad_spec(ctx, pad, rank)
    except Exception:  # noqa: BLE001 - a Pad this cannot read is mapped (and reported) on its own
        return None
    begin, end = tuple(pads[2:rank]), tuple(pads[rank + 2 :])
    if any(pads[i] for i in (0, 1, rank, rank + 1)) or min(pads) < 0:
        return None
    own = ctx.attrs(reader)
    bare = not any(own.get("pads", [])) and own.get("auto_pad", "NOTSET") in (
        "NOTSET",
        "VALID",
    )
    if reader.op_type == "Conv":
        if mode == "constant" and value == 0:
            fill = "zeros"
        elif mode in PAD_MODES and begin == end and bare:
            fill = PAD_MODES[mode]
        else:
            return None
        return Match(
            [pad, reader],
            lambda c: conv_layer(c, reader, c.resolve(x), (begin, end), fill),
        )
    if (
        reader.op_type == "AveragePool"
        and mode == "constant"
        and value == 0
        and (bare or own.get("count_include_pad", 0))
    ):
        return Match(
            [pad, reader], lambda c: pool_layer(c, reader, c.resolve(x), (begin, end))
        )
    if reader.op_type == "MaxPool" and mode == "constant" and value == -math.inf:
        return Match(
            [pad, reader], lambda c: pool_layer(c, reader, c.resolve(x), (begin, end))
        )
    return None


# ----- shuffles -----
def shuffle(ctx: ImportContext, reshape: onnx.NodeProto) -> Match | None:
    """Reshape, Transpose, Reshape as exporters write a channel shuffle, a pixel shuffle or its inverse."""
    x = reshape.input[0]
    transpose = follower(ctx, reshape.output[0], "Transpose")
    back = (
        follower(ctx, transpose.output[0], "Reshape") if transpose is not None else None
    )
    if back is None or ctx.is_constant(x):
        return None
    shapes = [ctx.inferred.get(t) for t in (x, reshape.output[0], back.output[0])]
    if any(s is None or None in s[1:] for s in shapes):
        return None
    perm = tuple(int(p) for p in ctx.attrs(transpose).get("perm", ()))
    source, split, out = (tuple(s[1:]) for s in shapes)  # type: ignore[index]
    found = _shuffled(source, split, perm, out)
    if found is None:
        return None
    layer_type, params = found
    return Match(
        [reshape, transpose, back],
        lambda c: c.emit(back, layer_type, params, [c.resolve(x)], back.output[0]),
    )


def _shuffled(
    source: tuple[int, ...],
    split: tuple[int, ...],
    perm: tuple[int, ...],
    out: tuple[int, ...],
) -> tuple[str, dict[str, int]] | None:
    """The shuffle layer that splits (C, *spatial) as `split`, moves the axes by `perm` and gives `out`."""
    channels, *spatial = source
    rest = tuple(range(3, len(source) + 2))
    if (
        len(split) == len(source) + 1
        and split[0] * split[1] == channels
        and split[2:] == tuple(spatial)
        and perm == (0, 2, 1, *rest)
        and out == source
    ):
        return "ChannelShuffle", {"groups": split[0]}
    if len(source) != 3 or len(split) != 5:
        return None
    h, w = spatial
    r = split[2]
    if (
        split == (channels, h // r, r, w // r, r)
        and h % r == w % r == 0
        and perm == (0, 1, 3, 5, 2, 4)
        and out == (channels * r * r, h // r, w // r)
    ):
        return "PixelUnshuffle", {"downscale_factor": r}
    r = split[1]
    if (
        split == (channels // (r * r), r, r, h, w)
        and channels % (r * r) == 0
        and perm == (0, 1, 4, 2, 5, 3)
        and out == (channels // (r * r), h * r, w * r)
    ):
        return "PixelShuffle", {"upscale_factor": r}
    return None
