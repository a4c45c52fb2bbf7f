"""ONNX pooling: MaxPool and AveragePool (uneven padding included, mapped exactly), LpPool and the global pools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.interop.common import Unmappable
from studio.interop.onnx_graph import ImportContext
from studio.interop.onnx_ops import (
    Mapper,
    data_input,
    known_shape,
    pad_the_excess,
    pads_for,
    per_axis,
    renamed,
)

if TYPE_CHECKING:
    import onnx


def pool_layer(
    ctx: ImportContext,
    node: onnx.NodeProto,
    x: str,
    extra: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
) -> None:
    """Emit a MaxPool/AveragePool layer; `extra` is (begin, end) padding of a Pad folded into it.

    Uneven padding (Caffe's ceil rounding, converted to ONNX) is mapped exactly. Padding no
    window counts (max pooling's -inf, an average's padding left out of its divisor) is
    PyTorch's own padding of the begin side; the windows the larger end adds come from
    ceil_mode, and a Slice drops any window too many. Padding an average counts is a
    ZeroPad of the excess. Every window starts where ONNX starts it.
    """
    shape = known_shape(ctx, node, x)
    rank = len(shape) - 2
    kind = "MaxPool" if node.op_type == "MaxPool" else "AvgPool"
    if rank not in (1, 2, 3):
        raise Unmappable(f"{node.op_type} ({rank}-D)")
    if len(node.output) > 1 and node.output[1] and ctx.consumers.get(node.output[1]):
        raise Unmappable("MaxPool (its indices output is used)")
    attrs = ctx.attrs(node)
    kernel = per_axis(attrs.get("kernel_shape"), rank, 1)
    strides = per_axis(attrs.get("strides"), rank, 1)
    dilations = per_axis(attrs.get("dilations"), rank, 1)
    begin, end = pads_for(ctx, node, tuple(shape[2:]), kernel, strides, dilations)
    include = bool(attrs.get("count_include_pad", 0))
    if extra is not None:
        include = include or not any(begin + end)
        begin = tuple(a + b for a, b in zip(begin, extra[0]))
        end = tuple(a + b for a, b in zip(end, extra[1]))
    ceil = bool(attrs.get("ceil_mode", 0))
    wanted = tuple(
        onnx_pool_out(n, k, s, b, e, d, ceil)
        for n, k, s, b, e, d in zip(shape[2:], kernel, strides, begin, end, dilations)
    )
    counted = kind == "AvgPool" and include
    if begin != end and counted:
        x, begin = pad_the_excess(ctx, node, x, begin, end)
    sizes = tuple(known_shape(ctx, node, x)[2:])
    ceil, pad, skip, got = _windows(
        node, sizes, kernel, strides, begin, dilations, wanted, ceil, not counted
    )
    params: dict[str, Any] = {
        "kernel_size": kernel,
        "stride": "kernel" if strides == kernel else strides,
        "padding": pad,
        "ceil_mode": ceil,
    }
    if kind == "MaxPool":
        params["dilation"] = dilations
    else:
        if any(d != 1 for d in dilations):
            raise Unmappable("AveragePool (dilations)")
        params["count_include_pad"] = include
    cropped = [a for a in range(rank) if skip[a] or got[a] != wanted[a]]
    pooled = f"{node.output[0]}::pooled" if cropped else node.output[0]
    ctx.emit(node, f"{kind}{rank}d", params, [x], pooled)
    for axis in cropped:
        output = node.output[0] if axis == cropped[-1] else f"{node.output[0]}::dim{axis + 2}"
        crop = renamed(node, f"{node.name or node.op_type.lower()}_crop{axis + 2}")
        window = {"dim": axis + 2, "start": skip[axis], "length": wanted[axis]}
        ctx.emit(crop, "Slice", window, [pooled], output)
        pooled = output


def onnx_pool_out(
    size: int, kernel: int, stride: int, begin: int, end: int, dilation: int, ceil: bool
) -> int:
    """An ONNX pooling window count, as ONNX Runtime computes it (with ceil_mode, no window starts in the end padding)."""
    span = dilation * (kernel - 1) + 1
    if not ceil:
        return (size + begin + end - span) // stride + 1
    out = -(-(size + begin + end - span) // stride) + 1
    return out - 1 if (out - 1) * stride >= size + begin else out


def _windows(
    node: onnx.NodeProto,
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    begin: tuple[int, ...],
    dilations: tuple[int, ...],
    wanted: tuple[int, ...],
    ceil: bool,
    widen: bool,
) -> tuple[bool, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """PyTorch's ceil_mode and padding whose windows include the ONNX ones, the windows to skip first and the counts, per axis.

    The ONNX windows start `begin` before the input. PyTorch padding `begin` starts them
    there; where padding counts for nothing (`widen`), a wider padding by whole strides
    (at most half the kernel, PyTorch's limit) adds windows in front, which a Slice skips.
    """
    from studio.graph.catalogue.pooling import pool_out

    def count(axis: int, pad: int, mode: bool) -> int:
        return pool_out(sizes[axis], kernel[axis], strides[axis], pad, dilations[axis], mode)

    axes = range(len(sizes))
    for mode in (ceil, not ceil):
        if all(count(a, begin[a], mode) == wanted[a] for a in axes):
            return mode, begin, (0,) * len(sizes), wanted
    for mode in (True, False):
        found = []
        for a in axes:
            widest = max(begin[a], kernel[a] // 2) if widen else begin[a]
            pads = range(begin[a], widest + 1, strides[a])
            fits = [p for p in pads if count(a, p, mode) - (p - begin[a]) // strides[a] >= wanted[a]]
            if not fits:
                break
            found.append(fits[0])
        else:
            skip = tuple((p - b) // s for p, b, s in zip(found, begin, strides))
            return mode, tuple(found), skip, tuple(count(a, found[a], mode) for a in axes)
    raise Unmappable(f"{node.op_type} (uneven padding that no PyTorch padding reproduces)")


def _pool(ctx: ImportContext, node: onnx.NodeProto) -> None:
    pool_layer(ctx, node, data_input(ctx, node))


def _global_pool(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    rank = len(known_shape(ctx, node, x)) - 2
    if rank not in (1, 2, 3):
        raise Unmappable(f"{node.op_type} ({rank}-D)")
    kind = "Avg" if node.op_type == "GlobalAveragePool" else "Max"
    ctx.emit(node, f"Adaptive{kind}Pool{rank}d", {"output_size": (1,) * rank}, [x], node.output[0])


def _lp_pool(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """LpPool sums |x| ** p, PyTorch's LPPool x ** p: the same for an even p, over windows without padding."""
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    rank = len(shape) - 2
    attrs = ctx.attrs(node)
    p = int(attrs.get("p", 2))
    if rank not in (1, 2) or p <= 0 or p % 2:
        raise Unmappable(f"LpPool ({rank}-D, p {p}: PyTorch's LPPool agrees for an even p over 1 or 2 spatial axes)")
    kernel = per_axis(attrs.get("kernel_shape"), rank, 1)
    strides = per_axis(attrs.get("strides"), rank, 1)
    dilations = per_axis(attrs.get("dilations"), rank, 1)
    begin, end = pads_for(ctx, node, tuple(shape[2:]), kernel, strides, dilations)
    if any(begin + end) or any(d != 1 for d in dilations):
        raise Unmappable("LpPool (padding or dilations, which PyTorch's LPPool lacks)")
    rows = list(zip(shape[2:], kernel, strides))
    if attrs.get("ceil_mode", 0) and any(onnx_pool_out(n, k, s, 0, 0, 1, True) != onnx_pool_out(n, k, s, 0, 0, 1, False) for n, k, s in rows):
        raise Unmappable("LpPool (a partial ceil_mode window, which PyTorch's LPPool scales up)")
    params = {"norm_type": float(p), "kernel_size": kernel, "stride": "kernel" if strides == kernel else strides, "ceil_mode": False}
    ctx.emit(node, f"LPPool{rank}d", params, [x], node.output[0])


POOL_MAPPERS: dict[str, Mapper] = {
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "LpPool": _lp_pool,
}
