"""Spatial rearrangements: padding (zeros, a constant, a mirror, the edge, a wrap-around) and pixel and channel shuffles."""

from __future__ import annotations

from math import isqrt

from studio.graph.catalogue import keras_records, pytorch_records
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    Unsupported,
    need_rank,
    show,
    targets,
)
from studio.graph.catalogue.conv import ONNX_PAD_MODES, need_spatial, reshape_hint, tup
from studio.graph.catalogue.keras_records import (
    CF,
    LAMBDA_BODY,
    Apply,
    Step,
    along,
    chain,
    function,
    layer,
    named,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    pad_records,
)
from studio.graph.catalogue.pytorch_records import Call, Emitted, kw, module
from studio.graph.params import Choice, Float, Int, Ints

NO_CAFFE_PAD = Unsupported("BVLC Caffe has no padding layer; only Convolution and Pooling pad their own input")
PAD_MODES = ("constant", "reflect", "replicate", "circular")
_PYTORCH_PADS = {"constant": "ConstantPad", "reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad"}


def _listed(values: list[int]) -> str:
    return ", ".join(map(str, values))


# ----- padding -----
def _zero_pad(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_spatial(x, 2)
    left, right, top, bottom = p["padding"]
    h, w = (int(d or 0) for d in x[2:])
    return [(None, x[1], h + top + bottom, w + left + right)]


def _zero_pad_onnx(site: OnnxSite) -> list[OnnxRecord]:
    left, right, top, bottom = site.params["padding"]
    pads = OnnxConstant(site.fresh("pads"), (0, 0, top, left, 0, 0, bottom, right))
    return [pads, OnnxNode("Pad", (site.x, pads.name), (site.output,))]


def _zero_pad_keras(s: keras_records.Site) -> keras_records.Emitted:
    left, right, top, bottom = s.params["padding"]
    return layer(s, "ZeroPadding2D", literal(((top, bottom), (left, right))), CF)


def pad_widths(padding: tuple[int, ...], rank: int) -> list[tuple[int, int]]:
    """(before, after) for every dimension of a rank-`rank` tensor, from pairs given last dimension first (F.pad's order)."""
    widths = [(0, 0)] * rank
    for j in range(len(padding) // 2):
        widths[rank - 1 - j] = (padding[2 * j], padding[2 * j + 1])
    return widths


def _pad(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    padding, mode, rank = p["padding"], p["mode"], len(x)
    if len(padding) % 2:
        raise ShapeError(
            f"has padding {tup(padding)}, an odd number of values",
            "give two values per padded axis, before and after, starting from the last axis: (left, right, top, bottom, ...)",
        )
    axes = len(padding) // 2
    if mode == "constant" and axes > rank - 1:
        raise ShapeError(
            f"pads {axes} axes, but its input {show(x)} has only {rank - 1} besides the batch",
            f"give at most {2 * (rank - 1)} values, two for each axis from the last",
        )
    if mode != "constant" and axes != rank - 2:
        spatial = rank - 2
        hint = (
            f"give {2 * spatial} values, two for each spatial axis of {show(x)}, or use mode 'constant'"
            if spatial in (1, 2, 3)
            else "use mode 'constant', or give it a 3-D to 5-D input (N, C, ...)"
        )
        raise ShapeError(
            f"uses mode {mode!r}, which pads every spatial axis of an (N, C, ...) input, and pads {axes} "
            f"{'axis' if axes == 1 else 'axes'} of its input {show(x)}, which has {spatial} spatial",
            hint,
        )
    out = list(x)
    for dim, (before, after) in enumerate(pad_widths(padding, rank)):
        if not before and not after:
            continue
        size, most = int(x[dim] or 0), max(before, after)
        if mode == "reflect" and most >= size:
            raise ShapeError(
                f"pads dimension {dim} by {most} with mode 'reflect', but its input {show(x)} is only {size} long there",
                f"a reflection must be shorter than the input: pad it by at most {size - 1}, or use mode 'replicate'",
            )
        if mode == "circular" and most > size:
            raise ShapeError(
                f"pads dimension {dim} by {most} with mode 'circular', but its input {show(x)} is only {size} long there",
                f"circular padding wraps around at most once: pad it by at most {size}, or use mode 'replicate'",
            )
        out[dim] = size + before + after
    return [tuple(out)]


def _pad_onnx(site: OnnxSite) -> list[OnnxRecord]:
    p = site.params
    widths = pad_widths(p["padding"], len(site.shape))
    if p["mode"] != "constant":  # below opset 19, wrapping around is written as slices
        return pad_records(site, site.x, list(widths), site.output, ONNX_PAD_MODES[p["mode"]])
    pads = OnnxConstant(site.fresh("pads"), (*(b for b, _ in widths), *(a for _, a in widths)))
    records: list[OnnxRecord] = [pads]
    inputs = (site.x, pads.name)
    if p["mode"] == "constant" and p["value"]:
        value = OnnxConstant(site.fresh("value"), (float(p["value"]),), "float32", ())
        records.append(value)
        inputs += (value.name,)
    return [*records, OnnxNode("Pad", inputs, (site.output,))]


def _pad_pytorch(s: pytorch_records.Site) -> Emitted:
    p = s.params
    axes, padding = len(p["padding"]) // 2, pytorch_records.size(p["padding"])
    if p["mode"] != "constant":
        return module(s, f"nn.{_PYTORCH_PADS[p['mode']]}{axes}d", literal(padding))
    if axes <= 3:
        return module(s, f"nn.ConstantPad{axes}d", literal(padding), literal(float(p["value"])))
    return Emitted(None, Call("nn.functional.pad", (s.x, literal(p["padding"]), kw("value", float(p["value"])))))


def _pad_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    widths = pad_widths(p["padding"], len(s.shape))
    if p["mode"] in ("constant", "reflect"):  # the modes of ops.pad every backend has; the others are concatenations below
        fill = ', mode="reflect"' if p["mode"] == "reflect" else ""
        if p["mode"] == "constant" and p["value"]:
            fill = f", constant_values={literal(float(p['value']))}"
        inline = f"ops.pad(t, {literal(tuple(widths))}{fill})"
        if len(inline) <= LAMBDA_BODY:
            return keras_records.Emitted([function(s, inline)])
        local = s.claim(f"{s.var}_widths")
        return keras_records.Emitted([Step(local, Call("", tuple(literal(w) for w in widths))), function(s, f"ops.pad(t, {local}{fill})")])
    steps, x = [], s.x
    for dim, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        if p["mode"] == "replicate":  # the edge, repeated
            pieces = {"before": f"ops.repeat(t{along(dim, ':1')}, {before}, axis={dim})", "after": f"ops.repeat(t{along(dim, '-1:')}, {after}, axis={dim})"}
        else:  # the other end, wrapped around
            pieces = {"before": f"t{along(dim, f'-{before}:')}", "after": f"t{along(dim, f':{after}')}"}
        parts = []
        for side, amount in (("before", before), ("after", after)):
            if amount:
                part = s.claim(f"{s.var}_{side}{dim}")
                steps.append(Step(part, Apply(Call("layers.Lambda", (f"lambda t: {pieces[side]}", named(part))), (x,))))
                parts.append(part)
        joined = [parts[0], x, *parts[1:]] if before else [x, *parts]
        name = s.var if all(not any(w) for w in widths[dim + 1 :]) else s.claim(f"{s.var}_dim{dim}")
        steps.append(Step(s.var, Apply(Call("layers.Concatenate", (f"axis={dim}", named(name))), (f"[{', '.join(joined)}]",))))
        x = s.var
    return keras_records.Emitted(steps) if steps else layer(s, "Identity")


# ----- pixel and channel shuffles -----
def _pixel_shuffle(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_spatial(x, 2, {})
    r, channels = p["upscale_factor"], int(x[1] or 0)
    if channels % (r * r):
        valid = [f for f in range(1, isqrt(channels) + 1) if channels % (f * f) == 0]
        raise ShapeError(
            f"has upscale_factor {r}, whose square {r * r} does not divide the {channels} channels of its input {show(x)}",
            f"choose an upscale_factor among {_listed(valid)}, or give the layer before it a multiple of {r * r} channels",
        )
    h, w = (int(d or 0) for d in x[2:])
    return [(None, channels // (r * r), h * r, w * r)]


def _pixel_unshuffle(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_spatial(x, 2, {})
    r = p["downscale_factor"]
    h, w = (int(d or 0) for d in x[2:])
    if h % r or w % r:
        valid = [f for f in range(1, min(h, w) + 1) if h % f == 0 and w % f == 0]
        raise ShapeError(
            f"has downscale_factor {r}, which does not divide the height {h} and width {w} of its input {show(x)}",
            f"choose a downscale_factor among {_listed(valid)}, or give it an input whose height and width are multiples of {r}",
        )
    return [(None, int(x[1] or 0) * r * r, h // r, w // r)]


def _channel_shuffle(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_rank(x, tuple(range(3, 17)), "an input (N, C, ...) with at least one axis after the channels", reshape_hint(x, 1))
    groups, channels = p["groups"], int(x[1] or 0)
    if channels % groups:
        valid = [g for g in range(1, channels + 1) if channels % g == 0]
        raise ShapeError(
            f"has groups {groups}, which does not divide the {channels} channels of its input {show(x)}",
            f"choose groups among {_listed(valid)}, or give the layer before it a multiple of {groups} channels",
        )
    return [x]


def _regroup(site: OnnxSite, x: str, shape: tuple[int, ...], perm: tuple[int, ...], out: tuple[int, ...]) -> list[OnnxRecord]:
    """Reshape `x` (0 keeps the batch), transpose it by `perm` and reshape the result to `out` into the site's output."""
    split, back = OnnxConstant(site.fresh("split"), (0, *shape)), OnnxConstant(site.fresh("merged"), (0, *out))
    grouped, moved = site.fresh("grouped"), site.fresh("moved")
    return [
        split,
        back,
        OnnxNode("Reshape", (x, split.name), (grouped,)),
        OnnxNode("Transpose", (grouped,), (moved,), {"perm": list(perm)}),
        OnnxNode("Reshape", (moved, back.name), (site.output,)),
    ]


def _pixel_unshuffle_onnx(site: OnnxSite) -> list[OnnxRecord]:
    # ONNX's SpaceToDepth orders the blocks before the channels, PyTorch after them
    r, (channels, h, w) = site.params["downscale_factor"], (int(d or 0) for d in site.shape[1:])
    return _regroup(site, site.x, (channels, h // r, r, w // r, r), (0, 1, 3, 5, 2, 4), (channels * r * r, h // r, w // r))


def _channel_shuffle_onnx(site: OnnxSite) -> list[OnnxRecord]:
    groups, (channels, *spatial) = site.params["groups"], (int(d or 0) for d in site.shape[1:])
    axes = tuple(range(3, len(spatial) + 3))
    return _regroup(site, site.x, (groups, channels // groups, *spatial), (0, 2, 1, *axes), (channels, *spatial))


def _regrouped_keras(s: keras_records.Site, split: tuple[int, ...], perm: tuple[int, ...], out: tuple[int, ...]) -> keras_records.Emitted:
    """Reshape each sample to `split`, move its axes by `perm` (the batch first), reshape it to `out`."""
    bodies = [f"ops.reshape(t, {literal((-1, *split))})", f"ops.transpose(t, {literal(perm)})", f"ops.reshape(t, {literal((-1, *out))})"]
    return keras_records.Emitted(chain(s, bodies))


def _pixel_shuffle_keras(s: keras_records.Site) -> keras_records.Emitted:
    r, (channels, h, w) = s.params["upscale_factor"], (int(d or 0) for d in s.shape[1:])
    c = channels // (r * r)
    return _regrouped_keras(s, (c, r, r, h, w), (0, 1, 4, 2, 5, 3), (c, h * r, w * r))


def _pixel_unshuffle_keras(s: keras_records.Site) -> keras_records.Emitted:
    r, (channels, h, w) = s.params["downscale_factor"], (int(d or 0) for d in s.shape[1:])
    return _regrouped_keras(s, (channels, h // r, r, w // r, r), (0, 1, 3, 5, 2, 4), (channels * r * r, h // r, w // r))


def _channel_shuffle_keras(s: keras_records.Site) -> keras_records.Emitted:
    groups, (channels, *spatial) = s.params["groups"], (int(d or 0) for d in s.shape[1:])
    axes = tuple(range(3, len(spatial) + 3))
    return _regrouped_keras(s, (groups, channels // groups, *spatial), (0, 2, 1, *axes), (channels, *spatial))


SPECS = (
    LayerSpec(
        type="ZeroPad2d",
        category="Resize",
        doc="Adds rows and columns of zeros around each (N, C, H, W) feature map.",
        params=(Ints("padding", (1, 1, 1, 1), "Zeros added on the left, right, top and bottom.", length=4, min=0, max=1024),),
        infer=_zero_pad,
        onnx=_zero_pad_onnx,
        pytorch=lambda s: module(s, "nn.ZeroPad2d", literal(pytorch_records.size(s.params["padding"]))),
        keras=_zero_pad_keras,
        targets=targets("nn.ZeroPad2d", "layers.ZeroPadding2D", "Pad", NO_CAFFE_PAD),
    ),
    LayerSpec(
        type="Pad",
        category="Resize",
        doc="Pads the last axes: with a constant, a mirror image (reflect), the edge value (replicate) or a wrap-around (circular).",
        params=(
            Ints(
                "padding",
                (1, 1, 1, 1),
                "Amounts before and after each padded axis, the last axis first, as F.pad takes them: (left, right, top, bottom, ...).",
                min=0,
                max=1024,
                min_length=2,
            ),
            Choice(
                "mode",
                "constant",
                PAD_MODES,
                "constant fills with value (any axis but the batch); reflect, replicate and circular pad every spatial axis of (N, C, ...).",
            ),
            Float("value", 0.0, "The fill of mode 'constant'.", min=-1e9, max=1e9),
        ),
        infer=_pad,
        onnx=_pad_onnx,
        pytorch=_pad_pytorch,
        keras=_pad_keras,
        targets=targets("nn.ConstantPad / ReflectionPad / ReplicationPad / CircularPad", "ops.pad (Lambda)", "Pad", NO_CAFFE_PAD),
    ),
    LayerSpec(
        type="PixelShuffle",
        category="Resize",
        doc="Moves channels into space: (N, C·r², H, W) becomes (N, C, H·r, W·r), as sub-pixel convolution upsamples.",
        params=(Int("upscale_factor", 2, "The factor r by which height and width grow; the channels shrink by r².", min=1, max=64),),
        infer=_pixel_shuffle,
        input_dtype="any",
        output_dtype="same",
        onnx=lambda site: [OnnxNode("DepthToSpace", (site.x,), (site.output,), {"blocksize": site.params["upscale_factor"], "mode": "CRD"})],
        pytorch=lambda s: module(s, "nn.PixelShuffle", str(s.params["upscale_factor"])),
        keras=_pixel_shuffle_keras,
        onnx_patterns=("shuffle",),  # exporters' Reshape, Transpose, Reshape
        targets=targets("nn.PixelShuffle", "ops.reshape / ops.transpose (Lambda)", "DepthToSpace (CRD)", Unsupported("BVLC Caffe has no pixel shuffle")),
    ),
    LayerSpec(
        type="PixelUnshuffle",
        category="Resize",
        doc="Moves space into channels: (N, C, H·r, W·r) becomes (N, C·r², H, W), the inverse of PixelShuffle.",
        params=(Int("downscale_factor", 2, "The factor r by which height and width shrink; the channels grow by r².", min=1, max=64),),
        infer=_pixel_unshuffle,
        input_dtype="any",
        output_dtype="same",
        onnx=_pixel_unshuffle_onnx,
        pytorch=lambda s: module(s, "nn.PixelUnshuffle", str(s.params["downscale_factor"])),
        keras=_pixel_unshuffle_keras,
        targets=targets(
            "nn.PixelUnshuffle", "ops.reshape / ops.transpose (Lambda)", "Reshape, Transpose, Reshape", Unsupported("BVLC Caffe has no pixel unshuffle")
        ),
    ),
    LayerSpec(
        type="ChannelShuffle",
        category="Resize",
        doc="Interleaves the channels of groups (ShuffleNet): channel g·(C/groups) + i moves to i·groups + g.",
        params=(Int("groups", 2, "Number of channel groups to interleave; it must divide the channels.", min=1, max=65536),),
        infer=_channel_shuffle,
        input_dtype="any",
        output_dtype="same",
        onnx=_channel_shuffle_onnx,
        pytorch=lambda s: module(s, "nn.ChannelShuffle", str(s.params["groups"])),
        keras=_channel_shuffle_keras,
        onnx_patterns=("shuffle",),  # exporters' Reshape, Transpose, Reshape
        targets=targets(
            "nn.ChannelShuffle", "ops.reshape / ops.swapaxes (Lambda)", "Reshape, Transpose, Reshape", Unsupported("BVLC Caffe has no channel shuffle")
        ),
    ),
)
