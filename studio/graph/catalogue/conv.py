"""Convolution layers: 1-D, 2-D and 3-D convolutions and transposed ones, and the window geometry pooling shares."""

from __future__ import annotations

from collections.abc import Callable
from math import gcd, isqrt, prod
from typing import Any

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    State,
    StateTensor,
    need_rank,
    numel,
    show,
    targets,
    weight_and_bias,
)
from studio.graph.catalogue.caffe_records import Fields, Layer
from studio.graph.catalogue.keras_records import (
    CF,
    Apply,
    Convert,
    Step,
    biased,
    function,
    named,
    per_axis,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    pad_records,
)
from studio.graph.catalogue.pytorch_records import Call, kw, module, options
from studio.graph.params import Bool, Choice, Int, Ints, Param

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def _example_image(features: int) -> tuple[int, int, int]:
    """A plausible (C, H, W) for a flat vector: (3, 32, 32) for 3072, (1, 28, 28) for 784."""
    for channels in (1, 3):
        side = isqrt(features // channels)
        if features % channels == 0 and side * side * channels == features:
            return (channels, side, side)
    height = max(d for d in range(1, isqrt(features) + 1) if features % d == 0)
    return (1, height, features // height)


def reshape_hint(x: Shape, rank: int) -> str:
    """Say which Reshape turns `x` into (N, C, *spatial) with `rank` spatial axes."""
    layout = LAYOUTS[rank].replace("N, ", "")
    got = len(x) - 2
    if got == 0 and rank <= 2:
        features = int(x[1] or 1)
        example = (1, features) if rank == 1 else _example_image(features)
        return f"insert a Reshape before it that makes each sample {layout}, e.g. shape {tup(example)}"
    if 0 < got < rank:
        example = (int(x[1] or 1), *([1] * (rank - got)), *(int(d or 1) for d in x[2:]))
        return f"insert a Reshape before it that makes each sample {layout}, e.g. shape {tup(example)}"
    return f"insert a Reshape before it that makes each sample {layout}"


def need_spatial(x: Shape, rank: int, siblings: dict[int, str] | None = None) -> None:
    """Raise ShapeError unless `x` is (N, C, *spatial) with `rank` spatial dimensions."""
    got = len(x) - 2
    if got == rank:
        return
    other = (siblings or {}).get(got)
    hint = f"use {other} instead, which takes {LAYOUTS[got]}" if other else reshape_hint(x, rank)
    need_rank(x, (rank + 2,), f"a {rank + 2}-D input {LAYOUTS[rank]}", hint)


def axis_list(rank: int, dims: list[int]) -> str:
    """Name the spatial axes at the given indices: 'H and W'."""
    names = [AXES[rank][i] for i in dims]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def tup(values: tuple[int, ...] | list[int]) -> str:
    """Format per-axis integers as a user reads them: (3, 3), or just 3 for one value."""
    return str(values[0]) if len(values) == 1 else "(" + ", ".join(str(v) for v in values) + ")"


def at_most(name: str, limits: dict[int, int], rank: int) -> str:
    """Say how to lower a per-axis parameter: 'set padding to at most 1 in H and 0 in W'."""
    by_limit: dict[int, list[int]] = {}
    for axis, limit in limits.items():
        by_limit.setdefault(limit, []).append(axis)
    parts = []
    for limit, axes in by_limit.items():
        where = "" if len(axes) == rank else f" in {axis_list(rank, axes)}"
        parts.append(f"{'at most ' if limit else ''}{limit}{where}")
    return f"set {name} to " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def _check_groups(groups: int, x: Shape, out_channels: int) -> None:
    in_channels = int(x[1] or 0)
    in_bad, out_bad = in_channels % groups != 0, out_channels % groups != 0
    if not (in_bad or out_bad):
        return
    source = f"in_channels {in_channels} (dimension 1 of its input {show(x)})"
    if in_bad and out_bad:
        what = f"divides neither {source} nor out_channels {out_channels}"
    else:
        what = f"does not divide {source if in_bad else f'out_channels {out_channels}'}"
    valid = ", ".join(map(str, _divisors(gcd(in_channels, out_channels))))
    hint = f"choose groups among {valid} (the divisors of both in_channels {in_channels} and out_channels {out_channels})"
    if out_bad and not in_bad:
        hint += f", or set out_channels to a multiple of {groups}"
    raise ShapeError(f"has groups {groups}, which {what}", hint)


def _pads(p: Params, rank: int) -> list[tuple[int, int]]:
    """Padding before and after each spatial axis, resolving 'same' and 'valid' like PyTorch."""
    pad, kernel, stride, dilation = p["padding"], p["kernel_size"], p["stride"], p["dilation"]
    if pad == "valid":
        return [(0, 0)] * rank
    if pad == "same":
        if any(s != 1 for s in stride):
            explicit = tup([d * (k - 1) // 2 for k, d in zip(kernel, dilation)])
            raise ShapeError(
                f"has padding 'same' with stride {tup(stride)}, which PyTorch refuses for strided convolutions",
                f"set stride to 1, or set padding to a number such as {explicit} instead of 'same'",
            )
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in totals]
    return [(q, q) for q in pad]


def _check_pad_mode(mode: str, pads: list[tuple[int, int]], x: Shape, rank: int) -> None:
    sizes = [int(d or 0) for d in x[2:]]
    for i, ((lo, hi), size) in enumerate(zip(pads, sizes)):
        axis = AXES[rank][i]
        if mode == "reflect" and max(lo, hi) >= size:
            raise ShapeError(
                f"pads {axis} by {max(lo, hi)} with padding_mode 'reflect', but its input {show(x)} is only {size} long in {axis}",
                f"reflect padding must be smaller than the input, so {at_most('padding', {i: size - 1}, rank)}, "
                "or use padding_mode 'replicate'",
            )
        if mode == "circular" and max(lo, hi) > size:
            raise ShapeError(
                f"pads {axis} by {max(lo, hi)} with padding_mode 'circular', but its input {show(x)} is only {size} long in {axis}",
                f"circular padding wraps around at most once, so {at_most('padding', {i: size}, rank)}, "
                "or use padding_mode 'replicate'",
            )


def conv_spatial(p: Params, x: Shape, rank: int) -> list[int]:
    """Output spatial sizes of a convolution over `x`, with PyTorch's checks as ShapeErrors."""
    sizes = [int(d or 0) for d in x[2:]]
    kernel, stride, dilation = p["kernel_size"], p["stride"], p["dilation"]
    pads = _pads(p, rank)
    _check_pad_mode(p.get("padding_mode", "zeros"), pads, x, rank)
    padded = [n + lo + hi for n, (lo, hi) in zip(sizes, pads)]
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    too_big = [i for i in range(rank) if span[i] > padded[i]]
    if too_big:
        raise ShapeError(
            window_too_big(kernel, dilation, x, padded, too_big, rank),
            at_most("kernel_size", {i: max(1, (padded[i] - 1) // dilation[i] + 1) for i in too_big}, rank)
            + (", lower the dilation" if any(dilation[i] > 1 for i in too_big) else "")
            + ", add padding, or use a larger input",
        )
    return [(n - s) // st + 1 for n, s, st in zip(padded, span, stride)]


def window_too_big(
    kernel: tuple[int, ...], dilation: tuple[int, ...], x: Shape, padded: list[int], axes: list[int], rank: int
) -> str:
    """Say that a kernel or pooling window does not fit its (padded) input."""
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    dilated = f" (spanning {tup(span)} with dilation {tup(dilation)})" if any(d > 1 for d in dilation) else ""
    sizes = [int(d or 0) for d in x[2:]]
    padding = f" padded to {tup(padded)}" if padded != sizes else ""
    return f"has kernel_size {tup(kernel)}{dilated}, larger than its input {show(x)}{padding} in {axis_list(rank, axes)}"


def _conv(rank: int, siblings: dict[int, str]):
    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        need_spatial(x, rank, siblings)
        _check_groups(p["groups"], x, p["out_channels"])
        return [(None, p["out_channels"], *conv_spatial(p, x, rank))]

    return infer


def _conv_state(p: Params, ins: list[Shape]) -> State:
    in_channels = int(ins[0][1] or 0)
    return weight_and_bias((p["out_channels"], in_channels // p["groups"], *p["kernel_size"]), p["bias"])


def _conv_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0]) * (int(ins[0][1] or 0) // p["groups"]) * prod(p["kernel_size"])


def _transpose(rank: int, siblings: dict[int, str]):
    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        need_spatial(x, rank, siblings)
        _check_groups(p["groups"], x, p["out_channels"])
        kernel, stride, pad, extra, dilation = (
            p["kernel_size"], p["stride"], p["padding"], p["output_padding"], p["dilation"]
        )
        bad = [i for i in range(rank) if extra[i] >= stride[i] and extra[i] >= dilation[i]]
        if bad:
            raise ShapeError(
                f"has output_padding {tup(extra)}, but PyTorch needs it smaller than the stride {tup(stride)} "
                f"or the dilation {tup(dilation)} in {axis_list(rank, bad)}",
                at_most("output_padding", {i: max(stride[i], dilation[i]) - 1 for i in bad}, rank) + ", or raise the stride",
            )
        sizes = [int(d or 0) for d in x[2:]]
        out = [
            (n - 1) * s - 2 * q + d * (k - 1) + e + 1
            for n, k, s, q, e, d in zip(sizes, kernel, stride, pad, extra, dilation)
        ]
        empty = [i for i in range(rank) if out[i] < 1]
        if empty:
            grown = [o + 2 * q for o, q in zip(out, pad)]  # the output size before padding removes any
            raise ShapeError(
                f"has padding {tup(pad)}, which removes more than the transposed convolution adds to its input "
                f"{show(x)} in {axis_list(rank, empty)}, leaving an empty output",
                at_most("padding", {i: (grown[i] - 1) // 2 for i in empty}, rank) + ", or use a larger kernel_size or stride",
            )
        return [(None, p["out_channels"], *out)]

    return infer


def _transpose_state(p: Params, ins: list[Shape]) -> State:
    in_channels = int(ins[0][1] or 0)
    weight = (in_channels, p["out_channels"] // p["groups"], *p["kernel_size"])
    return {"weight": StateTensor(weight), **({"bias": StateTensor((p["out_channels"],))} if p["bias"] else {})}


def _transpose_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    # Every input element is scattered into kernel-many places of out_channels/groups channels.
    return numel(ins[0]) * (p["out_channels"] // p["groups"]) * prod(p["kernel_size"])


# ----- ONNX -----
ONNX_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # PyTorch's padding_mode -> Pad's mode


def onnx_window(
    kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], pads: list[tuple[int, int]]
) -> dict[str, list[int] | None]:
    """A convolution or pooling window's ONNX attributes, leaving out the defaults (None)."""
    return {
        "kernel_shape": list(kernel),
        "strides": list(stride) if any(s != 1 for s in stride) else None,
        "pads": [lo for lo, _ in pads] + [hi for _, hi in pads] if any(lo or hi for lo, hi in pads) else None,
        "dilations": list(dilation) if any(d != 1 for d in dilation) else None,
    }


def conv_records(site: OnnxSite, x: str, weight: str, bias: str | None, out: str, group: int) -> list[OnnxRecord]:
    """A Conv with the site's window, after a Pad where the padding is not zeros."""
    p = site.params
    rank = len(p["kernel_size"])
    pads = _pads(p, rank)
    records: list[OnnxRecord] = []
    mode = p.get("padding_mode", "zeros")
    if mode != "zeros" and any(lo or hi for lo, hi in pads):
        padded = site.fresh("padded")
        records += pad_records(site, x, [(0, 0), (0, 0), *pads], padded, ONNX_PAD_MODES[mode])
        x, pads = padded, [(0, 0)] * rank
    attrs = {**onnx_window(p["kernel_size"], p["stride"], p["dilation"], pads), "group": group if group != 1 else None}
    return [*records, OnnxNode("Conv", (x, weight, *([bias] if bias else [])), (out,), attrs)]


def _conv_onnx(site: OnnxSite) -> list[OnnxRecord]:
    weights = site.weights
    return conv_records(site, site.x, weights["weight"], weights.get("bias"), site.output, site.params["groups"])


def _transpose_onnx(site: OnnxSite) -> list[OnnxRecord]:
    p = site.params
    # ONNX Runtime takes output_padding only below the stride; less end padding gives the same output
    pads, extra = [(q, q) for q in p["padding"]], list(p["output_padding"])
    for i, (e, s, q) in enumerate(zip(extra, p["stride"], p["padding"])):
        if e >= s:
            if e > q:
                raise Inexpressible(f"output_padding {e} not below the stride {s} nor within the padding {q}")
            pads[i], extra[i] = (q, q - e), 0
    attrs = {
        **onnx_window(p["kernel_size"], p["stride"], p["dilation"], pads),
        "output_padding": extra if any(extra) else None,
        "group": p["groups"] if p["groups"] != 1 else None,
    }
    bias = site.weights.get("bias")
    return [OnnxNode("ConvTranspose", (site.x, site.weights["weight"], *([bias] if bias else [])), (site.output,), attrs)]


# ----- PyTorch, Keras, Caffe -----
PER_AXIS = ("kernel_size", "stride", "padding", "dilation", "output_padding")
"""The window parameters PyTorch takes as one number where every axis agrees (`options`' sizes)."""
_CONV = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}


def _conv_pytorch(rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        args = [pytorch_records.channels(s), str(p["out_channels"]), kw("kernel_size", pytorch_records.size(p["kernel_size"]))]
        return module(s, f"nn.Conv{rank}d", *args, *options(p, _CONV, PER_AXIS))

    return emit


def _transpose_pytorch(rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    defaults = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1}

    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        args = [pytorch_records.channels(s), str(p["out_channels"]), kw("kernel_size", pytorch_records.size(p["kernel_size"]))]
        return module(s, f"nn.ConvTranspose{rank}d", *args, *options(p, defaults, PER_AXIS))

    return emit


def keras_pad_step(s: keras_records.Site, rank: int, padding: tuple[int, ...]) -> tuple[list[Step], str]:
    """A ZeroPadding step for explicit symmetric padding (Keras convs pad only 'valid' or 'same')."""
    if not any(padding):
        return [], s.x
    pads = padding[0] if rank == 1 else tuple(padding)
    pad = Call(f"layers.ZeroPadding{rank}D", (literal(pytorch_records.size(pads) if rank > 1 else pads), CF, named(s.claim(f"{s.var}_pad"))))
    return [Step(s.var, Apply(pad, (s.x,)))], s.var


def keras_window(s: keras_records.Site, rank: int, padding: Any) -> tuple[list[Step], str, list[str]]:
    """Steps before a conv, its input, and its strides/padding/dilation arguments."""
    p = s.params
    if padding == "same":
        steps, x, args = [], s.x, ['padding="same"']
    elif padding == "valid":
        steps, x, args = [], s.x, []
    else:
        steps, x = keras_pad_step(s, rank, padding)
        args = []
    if any(v != 1 for v in p["stride"]):
        args.insert(0, kw("strides", per_axis(p["stride"])))
    if any(v != 1 for v in p["dilation"]):
        _stride_or_dilation(p)
        args.append(kw("dilation_rate", per_axis(p["dilation"])))
    return steps, x, args


def _stride_or_dilation(p: dict[str, Any]) -> None:
    if any(v != 1 for v in p["stride"]) and any(v != 1 for v in p["dilation"]):
        raise Inexpressible("stride and dilation: Keras convolutions cannot combine a stride > 1 with a dilation > 1")


def _conv_kernel(rank: int) -> Convert:
    axes = (*range(2, rank + 2), 1, 0)  # (O, I, *k) -> (*k, I, O)
    return lambda t: [t("weight").transpose(*axes)]


def _conv_keras(rank: int) -> Callable[[keras_records.Site], keras_records.Emitted]:
    def emit(s: keras_records.Site) -> keras_records.Emitted:
        p = s.params
        if p["padding_mode"] != "zeros":
            raise Inexpressible(f"padding_mode {p['padding_mode']!r}: Keras convolutions pad only with zeros")
        steps, x, window = keras_window(s, rank, p["padding"])
        args = [str(p["out_channels"]), literal(per_axis(p["kernel_size"])), *window]
        if p["groups"] != 1:
            args.append(kw("groups", p["groups"]))
        emitted = biased(s, f"Conv{rank}D", *args, kernel=_conv_kernel(rank), bias="bias" if p["bias"] else None, x=x)
        return keras_records.Emitted(steps + emitted.steps, emitted.weights, emitted.helpers)

    return emit


def _transpose_keras(rank: int) -> Callable[[keras_records.Site], keras_records.Emitted]:
    def emit(s: keras_records.Site) -> keras_records.Emitted:
        p = s.params
        if p["groups"] != 1:
            raise Inexpressible(f"groups {p['groups']}: Keras transposed convolutions have no groups")
        if any(o >= st for o, st in zip(p["output_padding"], p["stride"])):
            raise Inexpressible("output_padding: Keras needs output_padding smaller than the stride on every axis")
        args = [str(p["out_channels"]), literal(per_axis(p["kernel_size"]))]
        if any(v != 1 for v in p["stride"]):
            args.append(kw("strides", per_axis(p["stride"])))
        args.append(kw("output_padding", per_axis(p["output_padding"])))
        if any(v != 1 for v in p["dilation"]):
            _stride_or_dilation(p)
            args.append(kw("dilation_rate", per_axis(p["dilation"])))
        axes = (*range(2, rank + 2), 1, 0)  # (I, O, *k) -> (*k, O, I)
        kernel: Convert = lambda t: [t("weight").transpose(*axes)]
        emitted = biased(s, f"Conv{rank}DTranspose", *args, kernel=kernel, bias="bias" if p["bias"] else None)
        if any(p["padding"]):  # PyTorch crops `padding` from both ends of the full output
            full = [int(d or 0) + 2 * q for d, q in zip(s.output[2:], p["padding"])]
            crop = ", ".join(f"{q}:{n - q}" if q else ":" for q, n in zip(p["padding"], full))
            emitted.steps.append(function(s, f"t[:, :, {crop}]", s.var, s.claim(f"{s.var}_crop")))
        return emitted

    return emit


def caffe_pads(site: caffe_records.Site, rank: int) -> tuple[int, ...]:
    """A convolution's padding on each side of each axis; Inexpressible where 'same' pads one side more."""
    p = site.params
    pad = p["padding"]
    if pad == "valid":
        return (0,) * rank
    if pad == "same":
        totals = [d * (k - 1) for k, d in zip(p["kernel_size"], p["dilation"])]
        if any(t % 2 for t in totals):
            raise Inexpressible(
                "padding 'same' pads one side more than the other here (an even kernel), and Caffe pads both sides "
                "equally: use an odd kernel_size or explicit padding"
            )
        return tuple(t // 2 for t in totals)
    return tuple(pad)


def caffe_spatial(fields: Fields, key: str, values: tuple[int, ...], default: int, split: bool) -> None:
    """Append kernel/stride/pad fields: key_h/key_w for 2-D, else one repeated value per axis."""
    if all(v == default for v in values) and key != "kernel":
        return
    if split:
        fields += [(f"{key}_h", values[0]), (f"{key}_w", values[1])]
    else:
        name = "kernel_size" if key == "kernel" else key
        fields += [(name, v) for v in values]


def caffe_convolution(
    num_output: int, kernel: tuple[int, ...], stride: tuple[int, ...], pads: tuple[int, ...],
    dilation: tuple[int, ...], group: int, bias: bool,
) -> Fields:  # fmt: skip
    """A Caffe convolution_param."""
    split = len(kernel) == 2
    fields: Fields = [("num_output", num_output)]
    if not bias:
        fields.append(("bias_term", False))
    caffe_spatial(fields, "pad", pads, 0, split)
    caffe_spatial(fields, "kernel", kernel, 0, split)
    caffe_spatial(fields, "stride", stride, 1, split)
    if any(d != 1 for d in dilation):
        fields += [("dilation", d) for d in dilation]
    if group != 1:
        fields.append(("group", group))
    return fields


def _conv_caffe(site: caffe_records.Site) -> list[Layer]:
    p = site.params
    if p.get("padding_mode", "zeros") != "zeros":
        raise Inexpressible(f"padding_mode {p['padding_mode']!r}: Caffe's Convolution pads with zeros only")
    rank = site.rank() - 2
    fields = caffe_convolution(
        p["out_channels"], p["kernel_size"], p["stride"], caffe_pads(site, rank), p["dilation"], p["groups"], p["bias"]
    )
    return [Layer(site.name, "Convolution", site.bottoms, [site.name], [("convolution_param", fields)], caffe_records.with_bias(p["bias"]))]


def _deconv_caffe(site: caffe_records.Site) -> list[Layer]:
    p = site.params
    if any(p["output_padding"]):
        raise Inexpressible(f"output_padding {p['output_padding']}: Caffe's Deconvolution has no output_padding")
    fields = caffe_convolution(
        p["out_channels"], p["kernel_size"], p["stride"], tuple(p["padding"]), p["dilation"], p["groups"], p["bias"]
    )
    # NOTE: Caffe's Deconvolution keeps its weights as PyTorch does: (in_channels, out_channels / groups, *kernel).
    return [Layer(site.name, "Deconvolution", site.bottoms, [site.name], [("convolution_param", fields)], caffe_records.with_bias(p["bias"]))]


def out_channels_param() -> Param:
    return Int("out_channels", 16, "Number of output channels (filters).", min=1, max=65536)


def window_params(rank: int, words: bool = True) -> tuple[Param, ...]:
    pad_help = "Zero padding added to both sides of each spatial axis"
    return (
        Ints("kernel_size", (3,) * rank, "Size of the convolution window per spatial axis.", length=rank, min=1, max=1024),
        Ints("stride", (1,) * rank, "Step between windows per spatial axis.", length=rank, min=1, max=1024),
        Ints(
            "padding",
            (0,) * rank,
            pad_help + ("; 'same' keeps the size (stride 1 only), 'valid' adds none." if words else "."),
            length=rank,
            min=0,
            max=1024,
            words=("same", "valid") if words else (),
        ),
        Ints("dilation", (1,) * rank, "Spacing between kernel elements per spatial axis (1: a dense kernel).", length=rank, min=1, max=1024),
    )


def _conv_spec(rank: int, siblings: dict[int, str]) -> LayerSpec:
    kernel, stride, padding, dilation = window_params(rank)
    return LayerSpec(
        type=f"Conv{rank}d",
        category="Convolution",
        doc=f"{rank}-D convolution over {LAYOUTS[rank]} input; in_channels is read from the input.",
        params=(
            out_channels_param(),
            kernel,
            stride,
            padding,
            dilation,
            Int("groups", 1, "Split the channels into this many independent groups (must divide in and out channels).", min=1, max=65536),
            Bool("bias", True, "Learn an additive bias per output channel."),
            Choice("padding_mode", "zeros", PAD_MODES, "How padding is filled: zeros, a mirror image, the edge value, or a wrap-around."),
        ),
        infer=_conv(rank, siblings),
        state=_conv_state,
        count_macs=_conv_macs,
        onnx=_conv_onnx,
        pytorch=_conv_pytorch(rank),
        keras=_conv_keras(rank),
        caffe=_conv_caffe,
        targets=targets(f"nn.Conv{rank}d", f"layers.Conv{rank}D", "Conv", "Convolution"),
        onnx_patterns=("pad_into",),  # a Pad before the Conv (or a pool) becomes its padding
    )


def _transpose_spec(rank: int, siblings: dict[int, str]) -> LayerSpec:
    kernel, stride, _, dilation = window_params(rank, words=False)
    return LayerSpec(
        type=f"ConvTranspose{rank}d",
        category="Convolution",
        doc=f"{rank}-D transposed convolution (learned upsampling) over {LAYOUTS[rank]} input.",
        params=(
            out_channels_param(),
            kernel,
            stride,
            Ints("padding", (0,) * rank, "Size removed from both sides of the output per spatial axis.", length=rank, min=0, max=1024),
            Ints(
                "output_padding",
                (0,) * rank,
                "Extra size added to one side of the output; must be smaller than the stride or the dilation.",
                length=rank,
                min=0,
                max=1024,
            ),
            dilation,
            Int("groups", 1, "Split the channels into this many independent groups (must divide in and out channels).", min=1, max=65536),
            Bool("bias", True, "Learn an additive bias per output channel."),
        ),
        infer=_transpose(rank, siblings),
        state=_transpose_state,
        count_macs=_transpose_macs,
        onnx=_transpose_onnx,
        pytorch=_transpose_pytorch(rank),
        keras=_transpose_keras(rank),
        caffe=_deconv_caffe,
        targets=targets(f"nn.ConvTranspose{rank}d", f"layers.Conv{rank}DTranspose", "ConvTranspose", "Deconvolution"),
    )


SPECS = (
    _conv_spec(1, {2: "Conv2d", 3: "Conv3d"}),
    _conv_spec(2, {1: "Conv1d", 3: "Conv3d"}),
    _conv_spec(3, {1: "Conv1d", 2: "Conv2d"}),
    _transpose_spec(1, {2: "ConvTranspose2d", 3: "ConvTranspose3d"}),
    _transpose_spec(2, {1: "ConvTranspose1d", 3: "ConvTranspose3d"}),
    _transpose_spec(3, {1: "ConvTranspose1d", 2: "ConvTranspose2d"}),
)
