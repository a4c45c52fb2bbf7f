"""ONNX padding, resizing and depth/space rearrangements as catalogue layers.

The older, narrower layers come first where they fit (ZeroPad2d for zeros around an image,
Upsample for whole-number factors), so files that imported before import as they did; the
general Pad and Resize take every other form PyTorch can compute.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from studio.interop.common import Unmappable
from studio.interop.onnx_graph import ImportContext
from studio.interop.onnx_ops import (
    Mapper,
    clean,
    constant,
    data_input,
    known_shape,
    renamed,
)

if TYPE_CHECKING:
    import onnx

PAD_MODES = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}
FILL_LIMIT = 1e9  # the largest constant fill a Pad layer takes


# ----- padding -----
def pad_spec(
    ctx: ImportContext, node: onnx.NodeProto, rank: int
) -> tuple[str, list[int], float]:
    """A Pad's mode, its pads (begins then ends, one per dimension) and its fill value."""
    import numpy as np

    attrs = ctx.attrs(node)
    mode = attrs.get("mode", "constant")
    if ctx.opset < 11:
        pads, value = (
            [int(p) for p in attrs.get("pads", [])],
            float(attrs.get("value", 0.0)),
        )
    else:
        pads = [int(p) for p in constant(ctx, node, 1, "pads").ravel()]
        fill = constant(ctx, node, 2, "value", optional=True)
        value = (
            float(np.asarray(fill).ravel()[0])
            if fill is not None and np.asarray(fill).size
            else 0.0
        )
        axes = (
            constant(ctx, node, 3, "axes", optional=True)
            if len(node.input) > 3
            else None
        )
        if axes is not None:
            full = [0] * (2 * rank)
            for i, axis in enumerate(int(a) % rank for a in axes.ravel()):
                full[axis], full[axis + rank] = pads[i], pads[i + len(axes.ravel())]
            pads = full
    if len(pads) != 2 * rank:
        raise Unmappable(f"Pad (pads {pads})")
    return mode, pads, value


def _pad(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    rank = len(known_shape(ctx, node, x))
    mode, pads, value = pad_spec(ctx, node, rank)
    if min(pads) < 0:
        raise Unmappable("Pad (negative pads: a crop)")
    if pads[0] or pads[rank]:
        raise Unmappable("Pad (of the batch axis)")
    if mode == "constant" and value == 0 and rank == 4 and not pads[1] and not pads[5]:
        ctx.emit(
            node,
            "ZeroPad2d",
            {"padding": (pads[3], pads[7], pads[2], pads[6])},
            [x],
            node.output[0],
        )
        return
    if mode == "constant":
        if not math.isfinite(value) or abs(value) > FILL_LIMIT:
            raise Unmappable(f"Pad (a fill of {value})")
        first = next((d for d in range(1, rank) if pads[d] or pads[d + rank]), rank - 1)
    elif mode in PAD_MODES:
        if pads[1] or pads[rank + 1] or not 3 <= rank <= 5:
            raise Unmappable(
                f"Pad ({mode} padding of the channels or of a {rank}-D tensor)"
            )
        first = 2
    else:
        raise Unmappable(f"Pad (mode {mode})")
    padding = [
        amount
        for d in range(rank - 1, first - 1, -1)
        for amount in (pads[d], pads[d + rank])
    ]
    params = {
        "padding": tuple(padding),
        "mode": PAD_MODES.get(mode, "constant"),
        "value": clean(value),
    }
    ctx.emit(node, "Pad", params, [x], node.output[0])


# ----- resizing -----
def _sizes(ctx: ImportContext, node: onnx.NodeProto) -> list[int]:
    """A Resize's target sizes (a batch constant's first value when they are read from the input's shape)."""
    name = node.input[3]
    value = ctx.batch_consts[name][0] if name in ctx.batch_consts else ctx.const(name)
    if value is None:
        raise Unmappable("Resize (sizes computed from the data)")
    return [int(v) for v in value.ravel()]


def _targets(
    ctx: ImportContext, node: onnx.NodeProto, shape: tuple[int, ...]
) -> tuple[list[float], list[int] | None, str]:
    """A Resize's scale per dimension, its sizes per dimension when it gives sizes, and its coordinate transform."""
    import numpy as np

    attrs = ctx.attrs(node)
    if node.op_type == "Upsample" or ctx.opset < 11:
        scales = (
            attrs.get("scales")
            if len(node.input) < 2
            else constant(ctx, node, 1, "scales")
        )
        factors = [
            float(s)
            for s in np.asarray(
                scales if scales is not None else [], dtype=np.float64
            ).ravel()
        ]
        if any(f < 1 for f in factors):  # the old Upsample rounds up when it shrinks
            raise Unmappable(
                f"{node.op_type} (a downscale, rounded as only the old Upsample does)"
            )
        return factors, None, "asymmetric"
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    scales = constant(ctx, node, 2, "scales", optional=True)
    sizes = _sizes(ctx, node) if len(node.input) > 3 and node.input[3] else None
    axes = [int(a) % len(shape) for a in attrs.get("axes", range(len(shape)))]
    if (scales is None or not np.asarray(scales).size) and sizes is not None:
        if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise Unmappable(
                f"Resize (keep_aspect_ratio_policy {attrs['keep_aspect_ratio_policy']})"
            )
        full_sizes = list(shape)
        for axis, size in zip(axes, sizes):
            full_sizes[axis] = size
        return (
            [1.0 if a == 0 else n / shape[a] for a, n in enumerate(full_sizes)],
            full_sizes,
            transform,
        )
    full = [1.0] * len(shape)
    for axis, factor in zip(
        axes, np.asarray(scales if scales is not None else [], dtype=np.float64).ravel()
    ):
        full[axis] = float(factor)
    return full, None, transform


def _resize(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    attrs = ctx.attrs(node)
    if attrs.get("antialias", 0):
        raise Unmappable(f"{node.op_type} (antialias)")
    factors, sizes, transform = _targets(ctx, node, shape)
    if (
        len(factors) != len(shape)
        or factors[:2] != [1.0, 1.0]
        or not 3 <= len(shape) <= 5
    ):
        raise Unmappable(
            f"{node.op_type} (scales {factors}: only the spatial axes of a 3-D to 5-D tensor)"
        )
    mode = attrs.get("mode", "nearest")
    nearest = attrs.get(
        "nearest_mode",
        "floor"
        if node.op_type == "Upsample" or ctx.opset < 11
        else "round_prefer_floor",
    )
    whole = all(f == round(f) and f >= 1 for f in factors[2:])
    # rounding to the nearest source (ties down) picks what flooring does for factors up to 2
    floors = nearest == "floor" or (
        nearest == "round_prefer_floor" and max(factors) <= 2
    )
    if whole and mode == "nearest" and transform == "asymmetric" and floors:
        upsample = "nearest"
    elif (
        whole
        and mode in ("linear", "bilinear")
        and transform in ("half_pixel", "pytorch_half_pixel")
        and len(shape) == 4
    ):
        upsample = "bilinear"
    else:
        _resize_layer(ctx, node, x, shape, factors, sizes, transform, mode, nearest)
        return
    ctx.emit(
        node,
        "Upsample",
        {"scale_factor": tuple(int(f) for f in factors[2:]), "mode": upsample},
        [x],
        node.output[0],
    )


def _resize_mode(
    node: onnx.NodeProto,
    attrs: dict,
    rank: int,
    transform: str,
    mode: str,
    nearest: str,
    out: list[int],
) -> tuple[str, bool]:
    """The Resize layer's mode and align_corners for an ONNX Resize's mode and coordinates; Unmappable if PyTorch has none."""
    if mode == "nearest":
        if transform == "asymmetric" and nearest == "floor":
            return "nearest", False
        if (transform, nearest) in (
            ("half_pixel", "round_prefer_ceil"),
            ("tf_half_pixel_for_nn", "floor"),
        ):
            return "nearest-exact", False
        raise Unmappable(
            f"{node.op_type} (nearest with {transform} coordinates rounded {nearest})"
        )
    half = transform == "half_pixel" or (
        transform == "pytorch_half_pixel" and min(out) > 1
    )
    if transform != "align_corners" and not half:
        raise Unmappable(f"{node.op_type} ({mode} with {transform} coordinates)")
    if mode in ("linear", "bilinear"):
        return {1: "linear", 2: "bilinear", 3: "trilinear"}[
            rank
        ], transform == "align_corners"
    if mode == "cubic" and rank == 2:
        if float(attrs.get("cubic_coeff_a", -0.75)) != -0.75 or attrs.get(
            "exclude_outside", 0
        ):
            raise Unmappable(
                f"{node.op_type} (a cubic kernel other than PyTorch's, a = -0.75)"
            )
        return "bicubic", transform == "align_corners"
    raise Unmappable(f"{node.op_type} ({mode} over {rank} spatial axes)")


def _resize_layer(
    ctx: ImportContext,
    node: onnx.NodeProto,
    x: str,
    shape: tuple[int, ...],
    factors: list[float],
    sizes: list[int] | None,
    transform: str,
    mode: str,
    nearest: str,
) -> None:
    """A Resize layer (the general one) for what Upsample cannot take."""
    rank = len(shape) - 2
    scales = tuple(clean(f) for f in factors[2:])
    out = sizes[2:] if sizes else [math.floor(n * f) for n, f in zip(shape[2:], scales)]
    chosen, corners = _resize_mode(
        node, ctx.attrs(node), rank, transform, mode, nearest, out
    )
    params = {"mode": chosen, "align_corners": corners}
    if sizes is not None:
        params["size"] = _one_or_each(tuple(sizes[2:]))
    else:
        params.update(size="scale", scale_factor=_one_or_each(scales))
    inferred = ctx.inferred.get(node.output[0])
    if inferred is not None and list(inferred[2:]) != out:
        raise Unmappable(
            f"{node.op_type} (scales whose output size PyTorch rounds otherwise)"
        )
    ctx.emit(node, "Resize", params, [x], node.output[0])


def _one_or_each(values: tuple) -> tuple:
    """Per-axis values as the layer takes them: one value when every axis has it."""
    return values[:1] if len(set(values)) == 1 else values


# ----- depth and space -----
def _depth_to_space(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """DepthToSpace: CRD is PixelShuffle; DCR takes the blocks first, so a ChannelShuffle puts them after the channels."""
    x = data_input(ctx, node)
    if len(known_shape(ctx, node, x)) != 4:
        raise Unmappable("DepthToSpace (of a tensor that is not 4-D)")
    attrs = ctx.attrs(node)
    r = int(attrs.get("blocksize", 1))
    if attrs.get("mode", "DCR") == "DCR" and r > 1:
        ordered = f"{node.output[0]}::ordered"
        ctx.emit(
            renamed(node, f"{node.name or 'depth_to_space'}_order"),
            "ChannelShuffle",
            {"groups": r * r},
            [x],
            ordered,
        )
        x = ordered
    ctx.emit(node, "PixelShuffle", {"upscale_factor": r}, [x], node.output[0])


def _space_to_depth(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """SpaceToDepth: PixelUnshuffle in CRD mode; in DCR (the default) the blocks go before the channels, so a ChannelShuffle follows."""
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    if len(shape) != 4:
        raise Unmappable("SpaceToDepth (of a tensor that is not 4-D)")
    r = int(ctx.attrs(node).get("blocksize", 1))
    crd = ctx.attrs(node).get("mode", "DCR") == "CRD"  # the mode attribute (opset 25): CRD is PyTorch's order
    if shape[1] == 1 or r == 1 or crd:
        ctx.emit(node, "PixelUnshuffle", {"downscale_factor": r}, [x], node.output[0])
        return
    blocks = f"{node.output[0]}::blocks"
    ctx.emit(
        renamed(node, f"{node.name or 'space_to_depth'}_blocks"),
        "PixelUnshuffle",
        {"downscale_factor": r},
        [x],
        blocks,
    )
    ctx.emit(node, "ChannelShuffle", {"groups": shape[1]}, [blocks], node.output[0])


SPATIAL_MAPPERS: dict[str, Mapper] = {
    "Pad": _pad,
    "Resize": _resize,
    "Upsample": _resize,
    "DepthToSpace": _depth_to_space,
    "SpaceToDepth": _space_to_depth,
}
