"""Resizing layers: Upsample by whole-number factors, and Resize to any size or scale with every interpolation ONNX shares with PyTorch."""

from __future__ import annotations

import math
import struct

from studio.graph.catalogue import keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    Unsupported,
    need_rank,
    numel,
    show,
    targets,
)
from studio.graph.catalogue.conv import AXES, LAYOUTS, reshape_hint, tup
from studio.graph.catalogue.keras_records import CF, function, gathers, layer, per_axis
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    shape_records,
)
from studio.graph.catalogue.pytorch_records import kw, module
from studio.graph.params import Bool, Choice, Floats, Ints

NO_CAFFE = Unsupported("BVLC Caffe has no upsampling layer (only a fixed-weight Deconvolution can imitate one)")
MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")
NEAREST = ("nearest", "nearest-exact")
# The spatial axes each interpolating mode takes, and the output values each output value blends.
_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_TAPS = {"linear": 2, "bilinear": 4, "bicubic": 16, "trilinear": 8}
_LAYOUTS = "a 3-D (N, C, L), 4-D (N, C, H, W) or 5-D (N, C, D, H, W) input"


def _spatial(x: Shape) -> list[int]:
    return [int(d or 0) for d in x[2:]]


def _per_axis(name: str, values: tuple, x: Shape) -> tuple:
    """One value per spatial axis, from one value for all or one each; ShapeError for another count."""
    rank = len(x) - 2
    if len(values) == 1:
        return values * rank
    axes = ", ".join(AXES[rank])
    if not values:
        raise ShapeError(f"has no {name}", f"give a single value for every axis, or {rank} values (one for each of {axes})")
    if len(values) != rank:
        raise ShapeError(
            f"has {name} {tup(values)} with {len(values)} values but its input {show(x)} has {rank} spatial "
            f"{'axis' if rank == 1 else 'axes'} ({axes})",
            "give a single value" if rank == 1 else f"give a single value for every axis, or {rank} values (one for each of {axes})",
        )
    return values


# ----- Upsample -----
def _upsample(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_rank(x, (3, 4, 5), _LAYOUTS, reshape_hint(x, 2 if len(x) == 2 else 3))
    rank = len(x) - 2
    if p["mode"] == "bilinear" and rank != 2:
        raise ShapeError(f"uses mode 'bilinear', which needs a 4-D input (N, C, H, W), but gets {show(x)}", "use mode 'nearest'")
    scales = _per_axis("scale_factor", p["scale_factor"], x)
    return [(None, x[1], *(n * s for n, s in zip(_spatial(x), scales)))]


def _upsample_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    # Bilinear: each output value blends 4 inputs; nearest only copies.
    return 4 * numel(outs[0]) if p["mode"] == "bilinear" else 0


def _upsample_onnx(site: OnnxSite) -> list[OnnxRecord]:
    rank, scale = len(site.shape) - 2, site.params["scale_factor"]
    scales = OnnxConstant(site.fresh("scales"), (1.0, 1.0, *(scale * rank if len(scale) == 1 else scale)), "float32")
    if site.params["mode"] == "nearest":
        attrs = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:  # PyTorch's align_corners=False is ONNX's default half_pixel
        attrs = {"mode": "linear"}
    return [scales, OnnxNode("Resize", (site.x, "", scales.name), (site.output,), attrs)]


def _upsample_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    scale = tuple(float(f) for f in s.params["scale_factor"])
    return module(s, "nn.Upsample", kw("scale_factor", pytorch_records.size(scale)), kw("mode", s.params["mode"]))


def _upsample_keras(s: keras_records.Site) -> keras_records.Emitted:
    rank = len(s.shape) - 2
    factors = tuple(s.params["scale_factor"]) * (rank if len(s.params["scale_factor"]) == 1 else 1)
    if rank == 1:  # layers.UpSampling1D is channels-last only; nearest is a repeat along L
        return keras_records.Emitted([function(s, f"ops.repeat(t, {factors[0]}, axis=2)")])
    mode = [kw("interpolation", s.params["mode"])] if s.params["mode"] != "nearest" else []
    return layer(s, f"UpSampling{rank}D", literal(per_axis(factors)), CF, *mode)


# ----- Resize -----
def _out_sizes(p: Params, x: Shape) -> list[int]:
    """The output's spatial sizes: the given size, or each input size times its scale, rounded down as PyTorch does."""
    if p["size"] != "scale":
        return list(_per_axis("size", p["size"], x))
    return [math.floor(n * s) for n, s in zip(_spatial(x), _per_axis("scale_factor", p["scale_factor"], x))]


def _resize(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_rank(x, (3, 4, 5), _LAYOUTS, reshape_hint(x, 2 if len(x) == 2 else 3))
    rank, mode = len(x) - 2, p["mode"]
    if mode in _RANK and _RANK[mode] != rank:
        fits = next(m for m, r in _RANK.items() if r == rank)
        raise ShapeError(
            f"uses mode {mode!r}, which needs a {_RANK[mode] + 2}-D input {LAYOUTS[_RANK[mode]]}, but gets {show(x)}",
            f"use mode {fits!r} for {LAYOUTS[rank]} input, or 'nearest'",
        )
    if p["align_corners"] and mode in NEAREST:
        raise ShapeError(
            f"has align_corners on with mode {mode!r}, which only copies values",
            "turn align_corners off, or use an interpolating mode (linear, bilinear, bicubic or trilinear)",
        )
    out = _out_sizes(p, x)
    empty = [i for i, o in enumerate(out) if o < 1]
    if empty:
        i, n = empty[0], _spatial(x)[empty[0]]
        raise ShapeError(
            f"has scale_factor {tup(p['scale_factor'])}, which shrinks {AXES[rank][i]} ({n} long in {show(x)}) to nothing",
            f"use a scale_factor of at least {1 / n:.3g} there, or give a size instead",
        )
    return [(None, x[1], *out)]


def _resize_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return _TAPS.get(p["mode"], 0) * numel(outs[0])


def _f32(value: float) -> float:
    """`value` rounded to float32, as the C++ of PyTorch and ONNX Runtime computes indices."""
    return struct.unpack("f", struct.pack("f", value))[0]


def _f32_up(value: float) -> float:
    """The smallest float32 at least `value` (a positive number)."""
    rounded = _f32(value)
    if rounded >= value:
        return rounded
    return struct.unpack("f", struct.pack("I", struct.unpack("I", struct.pack("f", rounded))[0] + 1))[0]


def copies_kept_sizes(mode: str, rank: int) -> bool:
    """Whether PyTorch copies an axis whose size a scale_factor keeps (1.1 of 7 is 7): its linear kernels do, nearest only in 2-D."""
    return mode in ("linear", "bilinear", "trilinear") or (mode == "nearest" and rank == 2)


def nearest_indices(size: int, out: int, scale: float | None, exact: bool, copies: bool = False) -> list[int]:
    """The input index PyTorch's CPU kernel copies to each output index (float32 arithmetic, as it computes them)."""
    if copies and out == size:
        return list(range(size))
    step = _f32(1.0 / scale) if scale else _f32(_f32(size) / out)
    if exact:
        return [min(math.floor(_f32((i + 0.5) * step)), size - 1) for i in range(out)]
    return [min(math.floor(_f32(i * step)), size - 1) for i in range(out)]


def _onnx_nearest_indices(size: int, out: int, scale: float, exact: bool) -> list[int]:
    """The input index ONNX Runtime's Resize copies: asymmetric and floor, or half_pixel and round_prefer_ceil."""
    found: list[int] = []
    for i in range(out):
        if exact:
            x = _f32(_f32(_f32(i + 0.5) / scale) - 0.5)
            index = math.floor(x + 0.5)
        else:
            index = math.floor(_f32(i / scale))
        found.append(min(max(index, 0), size - 1))
    return found


def _scales(p: Params, x: Shape) -> list[float] | None:
    return None if p["size"] != "scale" else [float(s) for s in _per_axis("scale_factor", p["scale_factor"], x)]


def _resize_onnx(site: OnnxSite) -> list[OnnxRecord]:
    p, sizes = site.params, _spatial(site.shape)
    out, scales = [int(d or 0) for d in _out_sizes(p, site.shape)], _scales(p, site.shape)
    copies = copies_kept_sizes(p["mode"], len(sizes))
    # float32 scales rounded up, so that ONNX's shape inference (in double) and ONNX Runtime (in float) floor to PyTorch's
    # sizes; 1 where PyTorch copies the axis
    written = [1.0 if copies and n == o else _f32_up(s) for n, o, s in zip(sizes, out, scales)] if scales else None
    if written and any(math.floor(n * f) != o or int(_f32(n * f)) != o for n, f, o in zip(sizes, written, out)):
        raise Inexpressible("a scale_factor whose float32 form ONNX rounds to another size")
    if p["mode"] in NEAREST:
        exact = p["mode"] == "nearest-exact"
        onnx_scales = written or [_f32(_f32(o) / n) for n, o in zip(sizes, out)]
        for n, o, f, given in zip(sizes, out, onnx_scales, scales or [None] * len(sizes)):
            # ONNX Runtime copies a resize to the same sizes whatever its scales
            onnx = list(range(n)) if sizes == out else _onnx_nearest_indices(n, o, f, exact)
            if nearest_indices(n, o, given, exact, copies) != onnx:
                raise Inexpressible("nearest indices that ONNX Runtime's float arithmetic rounds differently")
        attrs = {"nearest_mode": "round_prefer_ceil"} if exact else {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif sizes == out and p["mode"] == "bicubic" and any(f != 1 for f in written or ()):
        raise Inexpressible("bicubic resampling to the same sizes, which ONNX Runtime copies instead")
    else:
        attrs = {"mode": "cubic" if p["mode"] == "bicubic" else "linear"}
        if p["align_corners"]:
            attrs["coordinate_transformation_mode"] = "align_corners"
    if scales is None:  # the spatial sizes with `axes` (opset 18), else every axis's size
        if site.opset >= 18:
            given = OnnxConstant(site.fresh("sizes"), tuple(out))
            attrs["axes"] = list(range(2, len(sizes) + 2))
        else:  # N and C from the input's shape, then the spatial sizes
            full = site.fresh("sizes")
            resize = OnnxNode("Resize", (site.x, "", "", full), (site.output,), attrs)
            return [*shape_records(site, site.x, 2, tuple(out), full), resize]
        return [given, OnnxNode("Resize", (site.x, "", "", given.name), (site.output,), attrs)]
    factors = OnnxConstant(site.fresh("scales"), (1.0, 1.0, *(written or ())), "float32")
    return [factors, OnnxNode("Resize", (site.x, "", factors.name), (site.output,), attrs)]


def _resize_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    if p["size"] != "scale":
        args = [kw("size", pytorch_records.size(p["size"]))]
    else:
        args = [kw("scale_factor", pytorch_records.size(tuple(float(f) for f in p["scale_factor"])))]
    args.append(kw("mode", p["mode"]))
    if p["align_corners"]:
        args.append("align_corners=True")
    return module(s, "nn.Upsample", *args)


def _resize_keras(s: keras_records.Site) -> keras_records.Emitted:
    p, sizes, out = s.params, _spatial(s.shape), _spatial(s.output)
    scales = _scales(p, s.shape)
    if p["mode"] in NEAREST:  # a gather of PyTorch's own indices: exact on every backend
        exact, copies = p["mode"] == "nearest-exact", copies_kept_sizes(p["mode"], len(sizes))
        picks = [
            (i + 2, n, indices) for i, (n, o) in enumerate(zip(sizes, out))
            if (indices := nearest_indices(n, o, scales[i] if scales else None, exact, copies)) != list(range(n))
        ]  # fmt: skip
        return keras_records.Emitted(gathers(s, picks)) if picks else layer(s, "Identity")
    if p["mode"] != "bilinear":
        raise Inexpressible(f"mode {p['mode']!r}: Keras resizes images (2-D) only, and its bicubic kernel differs by backend")
    if p["align_corners"]:
        raise Inexpressible("align_corners: Keras's Resizing has no align_corners")
    if scales is not None and any(n * f != o != n for n, f, o in zip(sizes, scales, out)):
        raise Inexpressible("a scale_factor that gives no whole size: Keras resizes to sizes, which samples other positions")
    return layer(s, "Resizing", str(out[0]), str(out[1]), 'interpolation="bilinear"', CF)


SPECS = (
    LayerSpec(
        type="Upsample",
        category="Resize",
        doc="Enlarges the spatial axes by whole-number factors: nearest neighbour, or bilinear for (N, C, H, W).",
        params=(
            Ints("scale_factor", (2,), "Enlargement per spatial axis; one value applies to every axis.", min=1, max=64),
            Choice("mode", "nearest", ("nearest", "bilinear"), "Interpolation: copy the nearest value, or blend the 4 nearest (4-D input only)."),
        ),
        infer=_upsample,
        count_macs=_upsample_macs,
        onnx=_upsample_onnx,
        pytorch=_upsample_pytorch,
        keras=_upsample_keras,
        targets=targets("nn.Upsample", "layers.UpSampling1D / UpSampling2D / UpSampling3D", "Resize", NO_CAFFE),
    ),
    LayerSpec(
        type="Resize",
        category="Resize",
        doc="Resizes the spatial axes to a size or by any scale: nearest, or linear, bilinear, bicubic or trilinear interpolation.",
        params=(
            Ints(
                "size",
                "scale",
                "Output size per spatial axis (one value for all); 'scale' (the default) multiplies the input's by scale_factor.",
                min=1,
                max=65536,
                words=("scale",),
            ),
            Floats("scale_factor", "Factor per spatial axis (one value for all) when size is 'scale'; sizes round down.", min=0.01, max=64.0, default=(2.0,)),
            Choice(
                "mode",
                "nearest",
                MODES,
                "nearest copies (as PyTorch's 'nearest' and 'nearest-exact' pick); linear (3-D), bilinear or bicubic (4-D) "
                "and trilinear (5-D) blend neighbours.",
            ),
            Bool("align_corners", False, "Interpolating modes: map the corner values onto each other instead of the pixel edges."),
        ),
        infer=_resize,
        count_macs=_resize_macs,
        onnx=_resize_onnx,
        pytorch=_resize_pytorch,
        keras=_resize_keras,
        targets=targets("nn.Upsample", "ops.take (nearest) / layers.Resizing (bilinear)", "Resize", NO_CAFFE),
    ),
)
