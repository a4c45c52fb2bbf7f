"""Pooling layers: max, average, power-average (LP), adaptive and global pools over 1 to 3 spatial axes."""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    Inexpressible,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    Unsupported,
    numel,
    targets,
)
from studio.graph.catalogue.caffe_records import Fields, Layer, Word
from studio.graph.catalogue.conv import (
    LAYOUTS,
    PER_AXIS,
    at_most,
    axis_list,
    caffe_spatial,
    keras_pad_step,
    need_spatial,
    onnx_window,
    tup,
    window_too_big,
)
from studio.graph.catalogue.keras_records import (
    CF,
    Apply,
    chain,
    layer,
    named,
    per_axis,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxEmitter,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    reduce_records,
)
from studio.graph.catalogue.pytorch_records import Call, kw, module, options
from studio.graph.params import Bool, Float, Ints, Param

CAFFE_4D = Unsupported("Caffe's Pooling layer takes only 4-D (N, C, H, W) blobs")
# ONNX has no adaptive pooling op, but the input sizes are static: a pool to 1 is a global pool,
# to sizes that divide the input a fixed AveragePool / MaxPool (`_adaptive_onnx`); averages to
# other sizes are a MatMul per axis by the windows' averaging matrix, and max pooling to them is refused.
ADAPTIVE_ONNX = {
    "avg": "GlobalAveragePool / AveragePool, or MatMul by the windows' averages (static sizes)",
    "max": "GlobalMaxPool / MaxPool (output_size must divide the input size)",
}
NO_ADAPTIVE_CAFFE = Unsupported("Caffe has no adaptive pooling layer (to pool to 1x1, use GlobalAvgPool2d or GlobalMaxPool2d)")


def _sizes(x: Shape) -> list[int]:
    return [int(d or 0) for d in x[2:]]


def pool_out(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """Output length of a pooling window, exactly as PyTorch's pooling_output_shape computes it.

    With ceil_mode a window may hang over the end, even when it is longer than the input.
    """
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1  # the last window would start in the padding
    return out


def _stride(p: Params) -> tuple[int, ...]:
    return p["kernel_size"] if p["stride"] == "kernel" else p["stride"]


def _pool(rank: int, siblings: dict[int, str], can_pad: bool = True, fits_unpadded: bool = False):
    """The shape rule of a pooling window; `fits_unpadded`: the window must fit the input without its padding (AvgPool3d)."""

    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        need_spatial(x, rank, siblings)
        kernel, pad, stride = p["kernel_size"], p.get("padding", (0,) * rank), _stride(p)
        dilation = p.get("dilation", (1,) * rank)
        wide = [i for i in range(rank) if pad[i] > kernel[i] // 2]
        if wide:
            raise ShapeError(
                f"has padding {tup(pad)}, more than half its kernel_size {tup(kernel)} in {axis_list(rank, wide)}, "
                "which PyTorch refuses",
                at_most("padding", {i: kernel[i] // 2 for i in wide}, rank) + ", or use a larger kernel_size",
            )
        sizes = _sizes(x)
        short = [i for i in range(rank) if sizes[i] < kernel[i]]
        if fits_unpadded and short:
            raise ShapeError(
                window_too_big(kernel, (1,) * rank, x, sizes, short, rank) + ", which PyTorch's 3-D average pooling refuses "
                "whatever the padding",
                at_most("kernel_size", {i: sizes[i] for i in short}, rank) + ", or use a larger input",
            )
        out = [pool_out(n, k, s, q, d, p["ceil_mode"]) for n, k, s, q, d in zip(sizes, kernel, stride, pad, dilation)]
        small = [i for i in range(rank) if out[i] < 1]
        if small:
            padded = [n + 2 * q for n, q in zip(sizes, pad)]
            fixes = [at_most("kernel_size", {i: max(1, (padded[i] - 1) // dilation[i] + 1) for i in small}, rank)]
            if any(dilation[i] > 1 for i in small):
                fixes.append("lower the dilation")
            spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
            if can_pad and all(sizes[i] + 2 * (kernel[i] // 2) >= spans[i] for i in small):
                fixes.append("add padding (up to half the kernel_size)")
            ceiled = [pool_out(n, k, s, q, d, True) for n, k, s, q, d in zip(sizes, kernel, stride, pad, dilation)]
            if not p["ceil_mode"] and min(ceiled) >= 1:
                fixes.append("turn on ceil_mode to keep the partial window")
            raise ShapeError(
                window_too_big(kernel, dilation, x, padded, small, rank),
                ", ".join(fixes) + ", or use a larger input",
            )
        return [(None, x[1], *out)]

    return infer


def _avg_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0]) * prod(p["kernel_size"])


def _adaptive(rank: int, siblings: dict[int, str]):
    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        need_spatial(x, rank, siblings)
        return [(None, x[1], *p["output_size"])]

    return infer


def _window_total(size: int, out: int) -> int:
    """Sum of the adaptive windows' lengths along one axis (start floor, end ceil, as PyTorch)."""
    return sum(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))


def _adaptive_avg_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    x = ins[0]
    return int(x[1] or 0) * prod(_window_total(n, o) for n, o in zip(_sizes(x), p["output_size"]))


def _global(rank: int, siblings: dict[int, str]):
    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        need_spatial(x, rank, siblings)
        return [(None, x[1])]

    return infer


def _global_avg_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(ins[0])


def _compares_only(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return 0  # max pooling compares; it does not multiply-accumulate


# ----- ONNX -----
def _ceil_window(
    p: Params, shape: Shape, padding: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[bool, list[tuple[int, int]]]:
    """ONNX's ceil_mode and pads giving PyTorch's windows.

    ONNX's ceil_mode also keeps a last window that would start in the end padding, which
    PyTorch drops; where it would, less end padding (the part no window reaches) drops it.
    """
    pads = [(q, q) for q in padding]
    if not p["ceil_mode"]:
        return False, pads
    sizes = [int(n or 0) for n in shape[2:]]
    rows = list(zip(sizes, p["kernel_size"], stride, padding, dilation))
    if all(pool_out(n, k, s, q, d, True) == pool_out(n, k, s, q, d, False) for n, k, s, q, d in rows):
        return False, pads  # no partial window
    for i, (n, k, s, q, d) in enumerate(rows):
        room = n + 2 * q - (d * (k - 1) + 1)  # the last start a whole window has, padding included
        if pool_out(n, k, s, q, d, True) < -(-room // s) + 1:  # ONNX's count, one more
            if room % s > q:
                raise Inexpressible("a ceil_mode window ONNX keeps and PyTorch drops")
            pads[i] = (q, q - room % s)
    return True, pads


def _pool_onnx(op: str) -> OnnxEmitter:
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        p = site.params
        pad, stride = p["padding"], _stride(p)
        dilation = p.get("dilation", (1,) * len(pad))
        ceil, pads = _ceil_window(p, site.shape, pad, stride, dilation)
        attrs = {**onnx_window(p["kernel_size"], stride, dilation, pads), "ceil_mode": 1 if ceil else None}
        if op == "AveragePool":  # PyTorch counts the padding by default, ONNX does not
            attrs["count_include_pad"] = 1 if p["count_include_pad"] and any(pad) else None
        return [OnnxNode(op, (site.x,), (site.output,), attrs)]

    return emit


def _adaptive_onnx(kind: str) -> OnnxEmitter:
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        out, sizes = site.params["output_size"], site.shape[2:]
        if all(o == 1 for o in out):
            return [OnnxNode("GlobalAveragePool" if kind == "avg" else "GlobalMaxPool", (site.x,), (site.output,))]
        if any(n is None for n in sizes):
            raise Inexpressible("an input size is unknown")
        if any(int(n or 0) % o for n, o in zip(sizes, out)):
            known = tuple(int(n or 0) for n in sizes)
            return (_window_averages if kind == "avg" else _window_maxima)(site, known, tuple(out))
        kernel = tuple(int(n or 0) // o for n, o in zip(sizes, out))
        attrs = onnx_window(kernel, kernel, (1,) * len(kernel), [(0, 0)] * len(kernel))
        return [OnnxNode("AveragePool" if kind == "avg" else "MaxPool", (site.x,), (site.output,), attrs)]

    return emit


def _window_maxima(site: OnnxSite, sizes: tuple[int, ...], out: tuple[int, ...]) -> list[OnnxRecord]:
    """Adaptive max pooling with windows of different sizes: per axis, each window sliced, its maximum kept, joined.

    A maximum over a box is the maximum over one axis after another, so the axes go in turn.
    """
    records: list[OnnxRecord] = []
    x = site.x
    axes = [(d + 2, n, o) for d, (n, o) in enumerate(zip(sizes, out)) if n != o]
    for index, (axis, n, o) in enumerate(axes):
        where = OnnxConstant(site.fresh(f"axis{axis}"), (axis,))
        records.append(where)
        pieces = []
        for i in range(o):
            start, stop = (i * n) // o, -(-((i + 1) * n) // o)
            bounds = [OnnxConstant(site.fresh(f"start{axis}_{i}"), (start,)), OnnxConstant(site.fresh(f"stop{axis}_{i}"), (stop,))]
            window, top = site.fresh(f"window{axis}_{i}"), site.fresh(f"max{axis}_{i}")
            records += [*bounds, OnnxNode("Slice", (x, bounds[0].name, bounds[1].name, where.name), (window,))]
            records += reduce_records(site, "ReduceMax", window, (axis,), top)
            pieces.append(top)
        y = site.output if index == len(axes) - 1 else site.fresh(f"maxima{axis}")
        records.append(OnnxNode("Concat", tuple(pieces), (y,), {"axis": axis}))
        x = y
    return records


def _window_averages(site: OnnxSite, sizes: tuple[int, ...], out: tuple[int, ...]) -> list[OnnxRecord]:
    """Adaptive average pooling with windows of different sizes: per axis, a MatMul by the matrix averaging each window.

    PyTorch's window i of n entries pooled to o spans floor(i n / o) to ceil((i + 1) n / o). The
    last axis is x @ (n, o); the one before (2-D pools) is (o, n) @ x, broadcast over N and C.
    """
    records: list[OnnxRecord] = []
    x, rank = site.x, len(sizes)
    axes = [(d, n, o) for d, (n, o) in enumerate(zip(sizes, out)) if n != o]
    for index, (d, n, o) in enumerate(axes):
        spans = [((i * n) // o, -(-((i + 1) * n) // o)) for i in range(o)]
        rows = [[1.0 / (stop - start) if start <= j < stop else 0.0 for start, stop in spans] for j in range(n)]  # (n, o)
        y = site.output if index == len(axes) - 1 else site.fresh(f"averaged{d}")
        if d == rank - 1:
            matrix = OnnxConstant(site.fresh(f"windows{d}"), tuple(v for row in rows for v in row), "float32", (n, o))
            records += [matrix, OnnxNode("MatMul", (x, matrix.name), (y,))]
        else:
            matrix = OnnxConstant(site.fresh(f"windows{d}"), tuple(row[i] for i in range(o) for row in rows), "float32", (o, n))
            records += [matrix, OnnxNode("MatMul", (matrix.name, x), (y,))]
        x = y
    return records


def _global_onnx(kind: str, rank: int) -> OnnxEmitter:
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        op = "ReduceMean" if kind == "avg" else "ReduceMax"
        return reduce_records(site, op, site.x, tuple(range(2, rank + 2)), site.output, keepdims=False)

    return emit


# ----- PyTorch, Keras, Caffe -----
def _stride_args(p: Params) -> list[str]:
    return [] if p["stride"] == "kernel" else [kw("stride", pytorch_records.size(p["stride"]))]


def _max_pool_pytorch(rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        rest = options(p, {"padding": 0, "dilation": 1, "ceil_mode": False}, PER_AXIS)
        return module(s, f"nn.MaxPool{rank}d", kw("kernel_size", pytorch_records.size(p["kernel_size"])), *_stride_args(p), *rest)

    return emit


def _avg_pool_pytorch(rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        rest = options(p, {"padding": 0, "ceil_mode": False, "count_include_pad": True}, PER_AXIS)
        return module(s, f"nn.AvgPool{rank}d", kw("kernel_size", pytorch_records.size(p["kernel_size"])), *_stride_args(p), *rest)

    return emit


def _adaptive_pytorch(cls: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    return lambda s: module(s, f"nn.{cls}", literal(pytorch_records.size(s.params["output_size"])))


def _global_pytorch(method: str, rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    dims = "2" if rank == 1 else literal(tuple(range(2, rank + 2)))
    return lambda s: pytorch_records.Emitted(None, Call(f"{s.x}.{method}", (f"dim={dims}",)))


def _ceil_matters(s: keras_records.Site, rank: int) -> bool:
    """Whether the output is larger than flooring would make it (ceil_mode changed the size)."""
    p = s.params
    stride = p["kernel_size"] if p["stride"] == "kernel" else p["stride"]
    dilation = p.get("dilation", (1,) * rank)
    padding = p.get("padding", (0,) * rank)
    for n, k, st, pad, d, out in zip(s.shape[2:], p["kernel_size"], stride, padding, dilation, s.output[2:]):
        if (int(n or 0) + 2 * pad - d * (k - 1) - 1) // st + 1 != out:
            return True
    return False


def _pool_args(s: keras_records.Site) -> list[str]:
    p = s.params
    args = [literal(per_axis(p["kernel_size"]))]
    if p["stride"] != "kernel" and tuple(p["stride"]) != tuple(p["kernel_size"]):
        args.append(kw("strides", per_axis(p["stride"])))
    return args


def _same_is_exact(s: keras_records.Site) -> bool:
    """Whether Keras 'same' pooling pads exactly PyTorch's `padding` on both sides of every axis."""
    p = s.params
    stride = p["kernel_size"] if p["stride"] == "kernel" else p["stride"]
    for n, k, st, pad, out in zip(s.shape[2:], p["kernel_size"], stride, p["padding"], s.output[2:]):
        steps = -(-int(n or 0) // st)
        if steps != out or max((steps - 1) * st + k - int(n or 0), 0) != 2 * pad:
            return False
    return True


def _max_pool_keras(rank: int) -> Callable[[keras_records.Site], keras_records.Emitted]:
    def emit(s: keras_records.Site) -> keras_records.Emitted:
        p = s.params
        if any(d != 1 for d in p["dilation"]):
            raise Inexpressible("dilation: Keras pooling has no dilation")
        same = any(p["padding"]) and _same_is_exact(s)
        if p["ceil_mode"] and not same and _ceil_matters(s, rank):
            raise Inexpressible("ceil_mode: Keras pooling has no ceil mode, and here it changes the output size")
        if not any(p["padding"]) or same:
            return layer(s, f"MaxPooling{rank}D", *_pool_args(s), *(['padding="same"'] if same else []), CF)
        # Keras pools pad only as 'same': pad with -inf first (a padded entry never wins a max), then pool
        widths = ((0, 0), (0, 0), *((int(q), int(q)) for q in p["padding"]))
        padded, local = s.claim(f"{s.var}_pad"), s.claim("widths")  # a short local keeps the Lambda on one line
        body = f'ops.pad(t, {local}, constant_values=float("-inf"))'
        listed = keras_records.Step(local, Call("", tuple(literal(w) for w in widths)))
        step = keras_records.Step(padded, Apply(Call("layers.Lambda", (f"lambda t: {body}", named(padded))), (s.x,)))
        emitted = layer(s, f"MaxPooling{rank}D", *_pool_args(s), CF, x=padded)
        return keras_records.Emitted([listed, step, *emitted.steps])

    return emit


def _avg_pool_keras(rank: int) -> Callable[[keras_records.Site], keras_records.Emitted]:
    def emit(s: keras_records.Site) -> keras_records.Emitted:
        p = s.params
        if any(p["padding"]) and not p["count_include_pad"]:
            raise Inexpressible("count_include_pad False with padding: Keras averages would count the padded zeros")
        if p["ceil_mode"] and _ceil_matters(s, rank):
            raise Inexpressible("ceil_mode: Keras pooling has no ceil mode, and here it changes the output size")
        steps, x = keras_pad_step(s, rank, p["padding"])
        emitted = layer(s, f"AveragePooling{rank}D", *_pool_args(s), CF, x=x)
        return keras_records.Emitted(steps + emitted.steps)

    return emit


def _adaptive_keras(cls: str, fixed: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    """Keras' adaptive pooling; where every window is the same size, the plain pooling `fixed` with that window.

    NOTE: Keras' TensorFlow backend pools an adaptive layer with windows of two sizes, the larger
    one past the input when the output size is 1, and dies there (a floating point exception that
    ends the process); even windows never need it.
    """

    def emit(s: keras_records.Site) -> keras_records.Emitted:
        out, sizes = s.params["output_size"], [int(n or 0) for n in s.shape[2:]]
        if all(n % o == 0 for n, o in zip(sizes, out)):
            return layer(s, fixed, literal(per_axis(tuple(n // o for n, o in zip(sizes, out)))), CF)
        return layer(s, cls, literal(per_axis(out)), CF)

    return emit


def _global_keras(cls: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    return lambda s: layer(s, cls, CF)


def caffe_pool_out(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """Output length of Caffe's Pooling, as PoolingLayer::Reshape computes it (the export and the import use it)."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil else span // stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_caffe(method: str) -> Callable[[caffe_records.Site], list[Layer]]:
    def emit(site: caffe_records.Site) -> list[Layer]:
        p = site.params
        if any(d != 1 for d in p.get("dilation", (1, 1))):
            raise Inexpressible(f"dilation {p['dilation']}: Caffe's Pooling has no dilation")
        kernel = p["kernel_size"]
        stride = kernel if p["stride"] == "kernel" else p["stride"]
        pads = tuple(p["padding"])
        if method == "AVE" and not p["count_include_pad"] and any(pads):
            raise Inexpressible("count_include_pad False with padding: Caffe's average pooling always counts the padding")
        sizes, wanted = site.inputs[0][2:], site.output[2:]
        fields: Fields = [("pool", Word(method))]
        caffe_spatial(fields, "kernel", tuple(kernel), 0, True)
        caffe_spatial(fields, "stride", tuple(stride), 1, True)
        caffe_spatial(fields, "pad", pads, 0, True)
        ceiled = tuple(caffe_pool_out(int(n or 0), k, s, q, True) for n, k, s, q in zip(sizes, kernel, stride, pads))
        floored = tuple(caffe_pool_out(int(n or 0), k, s, q, False) for n, k, s, q in zip(sizes, kernel, stride, pads))
        if ceiled == tuple(wanted):
            return [Layer(site.name, "Pooling", site.bottoms, [site.name], [("pooling_param", fields)])]
        if floored != tuple(wanted):
            raise Inexpressible(f"gives {tuple(wanted)} here, which Caffe's Pooling cannot produce with either rounding")
        # NOTE: rounding down is Caffe's rounding up with the trailing windows cut off (Slice, then
        # Silence), not `round_mode: FLOOR`: that field is in BVLC's master only, and OpenCV's Caffe
        # reader knows its own `ceil_mode` instead (it skips the rest of a message at an unknown field).
        pooled = site.blob("rounded_up")
        layers = [Layer(pooled, "Pooling", site.bottoms, [pooled], [("pooling_param", fields)])]
        cut = [(axis, size) for axis, (size, up) in enumerate(zip(wanted, ceiled), start=2) if size != up]
        extra = []
        for i, (axis, size) in enumerate(cut):
            top = site.name if i == len(cut) - 1 else site.blob(f"rows_{axis}")
            extra.append(site.blob(f"cut_{axis}"))
            layers.append(Layer(top, "Slice", [pooled], [top, extra[-1]], [("slice_param", [("axis", axis), ("slice_point", int(size or 0))])]))
            pooled = top
        return [*layers, Layer(site.blob("silence"), "Silence", extra, [])]

    return emit


def _global_pool_caffe(method: str) -> Callable[[caffe_records.Site], list[Layer]]:
    def emit(site: caffe_records.Site) -> list[Layer]:
        blob = site.blob("pooled")
        fields: Fields = [("pool", Word(method)), ("global_pooling", True)]
        return [
            Layer(blob, "Pooling", site.bottoms, [blob], [("pooling_param", fields)]),
            Layer(site.name, "Flatten", [blob], [site.name]),
        ]

    return emit


def _kernel(rank: int) -> Param:
    return Ints("kernel_size", (2,) * rank, "Size of the pooling window per spatial axis.", length=rank, min=1, max=1024)


def _window(rank: int) -> tuple[Param, ...]:
    return (
        _kernel(rank),
        Ints(
            "stride",
            "kernel",
            "Step between windows per spatial axis; 'kernel' (the default) steps by the kernel size, as PyTorch does.",
            length=rank,
            min=1,
            max=1024,
            words=("kernel",),
        ),
        Ints("padding", (0,) * rank, "Implicit padding on both sides of each spatial axis; at most half the kernel.", length=rank, min=0, max=512),
    )


_CEIL = Bool("ceil_mode", False, "Round the output size up instead of down, so a partial window at the end counts.")


def _max_pool(rank: int, siblings: dict[int, str]) -> LayerSpec:
    return LayerSpec(
        type=f"MaxPool{rank}d",
        category="Pooling",
        doc=f"{rank}-D max pooling over {LAYOUTS[rank]} input: the largest value in each window.",
        params=(
            *_window(rank),
            Ints("dilation", (1,) * rank, "Spacing between window elements per spatial axis.", length=rank, min=1, max=1024),
            _CEIL,
        ),
        infer=_pool(rank, siblings),
        onnx=_pool_onnx("MaxPool"),
        pytorch=_max_pool_pytorch(rank),
        keras=_max_pool_keras(rank),
        caffe=_pool_caffe("MAX") if rank == 2 else None,
        targets=targets(f"nn.MaxPool{rank}d", f"layers.MaxPooling{rank}D", "MaxPool", "Pooling" if rank == 2 else CAFFE_4D),
    )


def _avg_pool(rank: int, siblings: dict[int, str]) -> LayerSpec:
    return LayerSpec(
        type=f"AvgPool{rank}d",
        category="Pooling",
        doc=f"{rank}-D average pooling over {LAYOUTS[rank]} input: the mean of each window.",
        params=(
            *_window(rank),
            _CEIL,
            Bool("count_include_pad", True, "Count the zero padding in the divisor of the mean."),
        ),
        infer=_pool(rank, siblings, fits_unpadded=rank == 3),
        count_macs=_avg_macs,
        onnx=_pool_onnx("AveragePool"),
        pytorch=_avg_pool_pytorch(rank),
        keras=_avg_pool_keras(rank),
        caffe=_pool_caffe("AVE") if rank == 2 else None,
        targets=targets(f"nn.AvgPool{rank}d", f"layers.AveragePooling{rank}D", "AveragePool", "Pooling" if rank == 2 else CAFFE_4D),
    )


def _adaptive_pool(kind: str, rank: int, siblings: dict[int, str]) -> LayerSpec:
    word = "Avg" if kind == "avg" else "Max"
    keras = "Average" if kind == "avg" else "Max"
    return LayerSpec(
        type=f"Adaptive{word}Pool{rank}d",
        category="Pooling",
        doc=f"Adaptive {rank}-D {'average' if kind == 'avg' else 'max'} pooling: windows sized to give exactly output_size, whatever the input size.",
        params=(Ints("output_size", (1,) * rank, "Spatial size of the output per axis.", length=rank, min=1, max=4096),),
        infer=_adaptive(rank, siblings),
        count_macs=_adaptive_avg_macs if kind == "avg" else _compares_only,
        onnx=_adaptive_onnx(kind),
        pytorch=_adaptive_pytorch(f"Adaptive{word}Pool{rank}d"),
        keras=_adaptive_keras(f"Adaptive{keras}Pooling{rank}D", f"{keras}Pooling{rank}D"),
        targets=targets(f"nn.Adaptive{word}Pool{rank}d", f"layers.Adaptive{keras}Pooling{rank}D", ADAPTIVE_ONNX[kind], NO_ADAPTIVE_CAFFE),
        onnx_patterns=("adaptive_pool_1d",) if (kind, rank) == ("avg", 1) else (),
    )


def _global_pool(kind: str, rank: int, siblings: dict[int, str]) -> LayerSpec:
    word = "Avg" if kind == "avg" else "Max"
    keras = "Average" if kind == "avg" else "Max"
    onnx = "ReduceMean" if kind == "avg" else "ReduceMax"
    return LayerSpec(
        type=f"Global{word}Pool{rank}d",
        category="Pooling",
        doc=f"Global {'average' if kind == 'avg' else 'max'} pooling over every spatial position of {LAYOUTS[rank]} input, giving (N, C).",
        params=(),
        infer=_global(rank, siblings),
        count_macs=_global_avg_macs if kind == "avg" else _compares_only,
        onnx=_global_onnx(kind, rank),
        pytorch=_global_pytorch("mean" if kind == "avg" else "amax", rank),
        keras=_global_keras(f"Global{keras}Pooling{rank}D"),
        caffe=_global_pool_caffe("AVE" if kind == "avg" else "MAX") if rank == 2 else None,
        targets=targets(
            f"nn.Adaptive{word}Pool{rank}d(1) + nn.Flatten",
            f"layers.Global{keras}Pooling{rank}D",
            f"{onnx} (keepdims 0)",
            "Pooling" if rank == 2 else CAFFE_4D,
        ),
    )


# ----- LP pooling -----
# PyTorch's LPPool is (avg_pool(x ** p) * window size) ** (1 / p): x ** p, not |x| ** p, and a
# partial ceil_mode window is scaled up as if it were whole. ONNX's LpPool sums |x| ** p, the
# same for an even p over whole windows; other cases are written as PyTorch computes them.
def _lp_partial(p: Params, shape: Shape) -> bool:
    """Whether ceil_mode keeps a partial window here (PyTorch scales it up; ONNX's LpPool does not)."""
    rows = zip(_sizes(shape), p["kernel_size"], _stride(p))
    return p["ceil_mode"] and any(pool_out(n, k, s, 0, 1, True) != pool_out(n, k, s, 0, 1, False) for n, k, s in rows)


def _lp_onnx(site: OnnxSite) -> list[OnnxRecord]:
    p = site.params
    rank, norm = len(p["kernel_size"]), float(p["norm_type"])
    stride = _stride(p)
    window = onnx_window(p["kernel_size"], stride, (1,) * rank, [(0, 0)] * rank)
    if norm.is_integer() and int(norm) % 2 == 0 and not _lp_partial(p, site.shape):
        return [OnnxNode("LpPool", (site.x,), (site.output,), {**window, "p": int(norm) if norm != 2 else None})]
    ceil, pads = _ceil_window(p, site.shape, (0,) * rank, stride, (1,) * rank)
    window = onnx_window(p["kernel_size"], stride, (1,) * rank, pads)
    power, size, root = (
        OnnxConstant(site.fresh(name), (value,), "float32", ())
        for name, value in (("norm", norm), ("window", float(prod(p["kernel_size"]))), ("root", 1.0 / norm))
    )
    raised, mean, summed = site.fresh("raised"), site.fresh("mean"), site.fresh("summed")
    return [
        power, size, root,
        OnnxNode("Pow", (site.x, power.name), (raised,)),
        OnnxNode("AveragePool", (raised,), (mean,), {**window, "ceil_mode": 1 if ceil else None}),
        OnnxNode("Mul", (mean, size.name), (summed,)),
        OnnxNode("Pow", (summed, root.name), (site.output,)),
    ]  # fmt: skip


def _lp_pytorch(rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        args = [literal(float(p["norm_type"])), kw("kernel_size", pytorch_records.size(p["kernel_size"])), *_stride_args(p)]
        return module(s, f"nn.LPPool{rank}d", *args, *options(p, {"ceil_mode": False}))

    return emit


def _lp_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    if p["ceil_mode"] and _ceil_matters(s, len(p["kernel_size"])):
        raise Inexpressible("ceil_mode: Keras pooling has no ceil mode, and here it changes the output size")
    norm, rank = float(p["norm_type"]), len(p["kernel_size"])
    mean = Apply(Call(f"layers.AveragePooling{rank}D", tuple(_pool_args(s)) + (CF,)), ())
    return keras_records.Emitted(chain(s, [f"ops.power(t, {literal(norm)})", mean, f"ops.power(t * {prod(p['kernel_size'])}, {literal(1.0 / norm)})"]))


def _lp_pool(rank: int, siblings: dict[int, str]) -> LayerSpec:
    kernel, stride, _ = _window(rank)
    return LayerSpec(
        type=f"LPPool{rank}d",
        category="Pooling",
        doc=f"{rank}-D power-average pooling over {LAYOUTS[rank]} input: (sum of x ** p over each window) ** (1 / p).",
        params=(
            Float("norm_type", 2.0, "The power p: 2 gives each window's Euclidean norm; a large p nears max pooling.", min=0.1, max=64.0),
            kernel,
            stride,
            _CEIL,
        ),
        infer=_pool(rank, siblings, can_pad=False),
        count_macs=_avg_macs,
        onnx=_lp_onnx,
        pytorch=_lp_pytorch(rank),
        keras=_lp_keras,
        targets=targets(
            f"nn.LPPool{rank}d",
            "ops.average_pool of powers (Lambda)",
            "LpPool (an even norm_type), else Pow and AveragePool",
            Unsupported("BVLC Caffe has no power-average (LP) pooling"),
        ),
    )



SPECS = (
    _max_pool(1, {2: "MaxPool2d", 3: "MaxPool3d"}),
    _max_pool(2, {1: "MaxPool1d", 3: "MaxPool3d"}),
    _max_pool(3, {1: "MaxPool1d", 2: "MaxPool2d"}),
    _avg_pool(1, {2: "AvgPool2d", 3: "AvgPool3d"}),
    _avg_pool(2, {1: "AvgPool1d", 3: "AvgPool3d"}),
    _avg_pool(3, {1: "AvgPool1d", 2: "AvgPool2d"}),
    _lp_pool(1, {2: "LPPool2d"}),
    _lp_pool(2, {1: "LPPool1d"}),
    _adaptive_pool("avg", 1, {2: "AdaptiveAvgPool2d", 3: "AdaptiveAvgPool3d"}),
    _adaptive_pool("avg", 2, {1: "AdaptiveAvgPool1d", 3: "AdaptiveAvgPool3d"}),
    _adaptive_pool("avg", 3, {1: "AdaptiveAvgPool1d", 2: "AdaptiveAvgPool2d"}),
    _adaptive_pool("max", 1, {2: "AdaptiveMaxPool2d", 3: "AdaptiveMaxPool3d"}),
    _adaptive_pool("max", 2, {1: "AdaptiveMaxPool1d", 3: "AdaptiveMaxPool3d"}),
    _adaptive_pool("max", 3, {1: "AdaptiveMaxPool1d", 2: "AdaptiveMaxPool2d"}),
    _global_pool("avg", 1, {2: "GlobalAvgPool2d", 3: "GlobalAvgPool3d"}),
    _global_pool("avg", 2, {1: "GlobalAvgPool1d", 3: "GlobalAvgPool3d"}),
    _global_pool("avg", 3, {1: "GlobalAvgPool1d", 2: "GlobalAvgPool2d"}),
    _global_pool("max", 1, {2: "GlobalMaxPool2d", 3: "GlobalMaxPool3d"}),
    _global_pool("max", 2, {1: "GlobalMaxPool1d", 3: "GlobalMaxPool3d"}),
    _global_pool("max", 3, {1: "GlobalMaxPool1d", 2: "GlobalMaxPool2d"}),
)
