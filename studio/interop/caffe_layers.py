"""Caffe layers onto catalogue layers: one small mapping function per Caffe layer type.

A mapping reads the layer's `*_param` message (fields and defaults as in BVLC caffe.proto) and
adds one or more graph nodes through the `Builder`; `MAPPINGS` lists them by Caffe type. The
one-to-one types (activations, Dropout) are the layer families' `CaffeImport` rules instead,
which `mapping` falls back to.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from math import prod

from studio.graph.catalogue import CATALOGUE
from studio.graph.catalogue.base import Inexpressible
from studio.graph.catalogue.pooling import caffe_pool_out, pool_out
from studio.interop import caffe_math, caffe_tensors
from studio.interop.caffe_builder import (
    Blob,
    BrokenLayer,
    Builder,
    Layer,
    Sink,
    Unknown,
    axis_index,
    check_axis_one,
    rank_of,
    required,
    required_default,
    single,
    spatial,
    unknown,
)
from studio.interop.common import Unmappable
from studio.interop.prototxt import Message


# ----- mappings -----
def convolution(b: Builder, layer: Layer) -> list[Blob]:
    """Convolution -> Conv1d/2d/3d (groups, dilation, bias_term and every pad/stride/kernel form)."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("convolution_param")
    check_axis_one(p, layer.type)
    rank = rank_of(x) - 2
    if rank not in (1, 2, 3):
        raise Unmappable(f"Convolution over {rank} spatial axes")
    params = _conv_params(p, rank)
    blob = b.add(f"Conv{rank}d", layer.name, params, [x], layer.type)
    b.sinks[layer.name] = Sink("conv", blob.node or "", settings=p)
    return [blob]


def deconvolution(b: Builder, layer: Layer) -> list[Blob]:
    """Deconvolution -> ConvTranspose1d/2d/3d (Caffe's output size has no output_padding, as here)."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("convolution_param")
    check_axis_one(p, layer.type)
    rank = rank_of(x) - 2
    if rank not in (1, 2, 3):
        raise Unmappable(f"Deconvolution over {rank} spatial axes")
    blob = b.add(
        f"ConvTranspose{rank}d", layer.name, _conv_params(p, rank), [x], layer.type
    )
    b.sinks[layer.name] = Sink("deconv", blob.node or "", settings=p)
    return [blob]


def _conv_params(p: Message, rank: int) -> dict:
    return {
        "out_channels": required(p, "num_output", "the number of filters"),
        "kernel_size": spatial(p, "kernel_size", rank, None),
        "stride": spatial(p, "stride", rank, 1),
        "padding": spatial(p, "pad", rank, 0, pair_optional=True),
        "dilation": spatial(p, "dilation", rank, 1),
        "groups": required_default(p, "group", 1),
        "bias": p.flag("bias_term", True),
    }


# NOTE: Caffe's pooling rounds up (ceil) unless round_mode is FLOOR, and with padding it drops a
# last window that would start in the right padding; PyTorch's ceil_mode does both, so
# ceil_mode = (round_mode == CEIL). Where they still differ (no padding and a stride larger than
# the kernel: Caffe keeps a window starting past the input), or where PyTorch refuses the padding
# (more than half the kernel), the layer is reported. AVE divides by the window clipped to the
# padded input, as count_include_pad=True does; both are checked against Caffe's loops in tests.
def pooling(b: Builder, layer: Layer) -> list[Blob]:
    """Pooling -> MaxPool2d / AvgPool2d (ceil_mode for Caffe's rounding), or a global pool."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("pooling_param")
    method = p.enum("pool", "MAX")
    kinds = {"MAX": "Max", "AVE": "Avg", "0": "Max", "1": "Avg"}
    if method not in kinds:
        raise Unmappable(
            "Pooling STOCHASTIC (no catalogue layer samples its windows)"
            if method in ("STOCHASTIC", "2")
            else f"Pooling {method}"
        )
    word = kinds[method]
    if rank_of(x) != 4:
        raise BrokenLayer("Caffe's Pooling takes 4-D (N, C, H, W) blobs only")
    if p.flag("global_pooling", False):
        if p.has("kernel_size") or p.has("kernel_h") or p.has("kernel_w"):
            raise BrokenLayer("global pooling takes no kernel size")
        if any(spatial(p, "pad", 2, 0, repeated=False, pair_optional=True)) or spatial(
            p, "stride", 2, 1, repeated=False
        ) != (1, 1):
            raise BrokenLayer("global pooling takes no padding and stride 1 only")
        blob = b.add(f"Global{word}Pool2d", layer.name, {}, [x], layer.type)
        blob.squeezed = True
        return [blob]
    kernel = spatial(p, "kernel_size", 2, None, repeated=False)
    stride = spatial(p, "stride", 2, 1, repeated=False)
    pad = spatial(p, "pad", 2, 0, repeated=False, pair_optional=True)
    if any(k < 1 for k in kernel) or any(s < 1 for s in stride):
        raise BrokenLayer("kernel_size and stride must be at least 1")
    if any(q >= k for q, k in zip(pad, kernel)):
        raise BrokenLayer("pad must be smaller than the kernel")
    ceil = p.enum("round_mode", "CEIL") in ("CEIL", "0")
    if any(2 * q > k for q, k in zip(pad, kernel)):
        raise Unmappable("Pooling (pad more than half the kernel, which PyTorch refuses)")
    params = {
        "kernel_size": kernel,
        "stride": stride,
        "padding": pad,
        "ceil_mode": ceil,
    }
    if x.shape is not None:
        sizes = [int(d or 0) for d in x.shape[2:]]
        caffe = [
            caffe_pool_out(n, k, s, q, ceil)
            for n, k, s, q in zip(sizes, kernel, stride, pad)
        ]
        ours = [
            pool_out(n, k, s, q, 1, ceil)
            for n, k, s, q in zip(sizes, kernel, stride, pad)
        ]
        if caffe != ours:
            raise Unmappable(
                "Pooling (stride larger than the kernel, no padding: Caffe keeps an empty last window)"
            )
    blob = b.add(f"{word}Pool2d", layer.name, params, [x], layer.type)
    return [blob]


def inner_product(b: Builder, layer: Layer) -> list[Blob]:
    """InnerProduct -> Linear, with a Flatten (or Reshape) first for the axes Caffe flattens implicitly."""
    x = single(layer)
    p = layer.param("inner_product_param")
    axis = axis_index(p, "axis", rank_of(x))
    if not (x.squeezed and axis == 1):
        x = b.plain(x, layer.name)
    rank = len(x.shape) if x.shape is not None else 4
    params = {
        "out_features": required(p, "num_output", "the number of outputs"),
        "bias": p.flag("bias_term", True),
    }
    if axis == rank - 1 and rank in (2, 3) or x.squeezed:
        pass
    elif axis == 1:
        x = b.add("Flatten", f"{layer.name}/flatten", {}, [x], layer.type)
    elif axis == 2 and rank > 3 and x.shape is not None:
        x = b.add(
            "Reshape",
            f"{layer.name}/flatten",
            {"shape": (x.shape[1], prod(int(d or 1) for d in x.shape[2:]))},
            [x],
            layer.type,
        )
    else:
        raise Unmappable("InnerProduct (axis leaves more than one leading axis)")
    blob = b.add("Linear", layer.name, params, [x], layer.type)
    b.sinks[layer.name] = Sink("linear", blob.node or "", transpose=bool(p.flag("transpose", False)), settings=p)
    return [blob]


def _elementwise(
    layer_type: str, params: Callable[[Layer], dict] | None = None, sink: str = ""
) -> Callable:
    def mapping(b: Builder, layer: Layer) -> list[Blob]:
        x = single(layer)
        blob = b.add(
            layer_type, layer.name, params(layer) if params else {}, [x], layer.type
        )
        blob.squeezed = x.squeezed
        if sink:
            b.sinks[layer.name] = Sink(sink, blob.node or "", settings=layer.param(f"{sink}_param"))
        return [blob]

    return mapping


def _prelu_params(layer: Layer) -> dict:
    p = layer.param("prelu_param")
    params: dict = {"per_channel": not p.flag("channel_shared", False)}
    filler = p.child("filler")
    if filler is not None and filler.text("type", "constant") == "constant":
        value = filler.number("value", 0.0)
        if value is not None and 0.0 <= value <= 1.0:
            params["init"] = value
    return params


def lrn(b: Builder, layer: Layer) -> list[Blob]:
    """LRN across channels -> LocalResponseNorm (Caffe and PyTorch both divide alpha by local_size)."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("lrn_param")
    if p.enum("norm_region", "ACROSS_CHANNELS") not in ("ACROSS_CHANNELS", "0"):
        raise Unmappable(
            "LRN WITHIN_CHANNEL (no catalogue layer normalizes over a spatial neighbourhood)"
        )
    size = required_default(p, "local_size", 5)
    if size % 2 == 0:
        raise BrokenLayer(f"local_size must be odd, not {size} (as Caffe requires)")
    params = {
        "size": size,
        "alpha": p.number("alpha", 1.0),
        "beta": p.number("beta", 0.75),
        "k": p.number("k", 1.0),
    }
    return [b.add("LocalResponseNorm", layer.name, params, [x], layer.type)]


def _norm_type(base: str, x: Blob, ranks: dict[int, str]) -> str:
    rank = len(x.shape) if x.shape is not None else 4
    if rank not in ranks:
        raise Unmappable(f"{base} over a {rank}-D blob")
    return ranks[rank]


def batch_norm(b: Builder, layer: Layer) -> list[Blob]:
    """BatchNorm -> BatchNorm1d/2d/3d without affine part; a Scale right after it adds the affine part."""
    x = single(layer)
    p = layer.param("batch_norm_param")
    layer_type = _norm_type(
        "BatchNorm",
        x,
        {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"},
    )
    fraction = p.number("moving_average_fraction", 0.999)
    assert fraction is not None
    params = {
        "eps": p.number("eps", 1e-5),
        "momentum": min(max(1.0 - fraction, 0.0), 1.0),
        "affine": False,
        "track_running_stats": p.flag("use_global_stats", True),
    }
    blob = b.add(layer_type, layer.name, params, [x], layer.type)
    blob.squeezed = x.squeezed
    b.sinks[layer.name] = Sink("batch_norm", blob.node or "")
    return [blob]


def mvn(b: Builder, layer: Layer) -> list[Blob]:
    """MVN per channel with variance -> InstanceNorm1d/2d/3d (Caffe adds eps to the deviation, not the variance)."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("mvn_param")
    if not p.flag("normalize_variance", True) or p.flag("across_channels", False):
        raise Unmappable("MVN (mean only, or across channels)")
    layer_type = _norm_type(
        "MVN", x, {3: "InstanceNorm1d", 4: "InstanceNorm2d", 5: "InstanceNorm3d"}
    )
    params = {
        "eps": max(p.number("eps", 1e-9) or 0.0, 1e-12),
        "affine": False,
        "track_running_stats": False,
    }
    return [b.add(layer_type, layer.name, params, [x], layer.type)]


def scale(b: Builder, layer: Layer) -> list[Blob]:
    """Scale right after a BatchNorm (or MVN) -> that node's affine part; anywhere else it has no mapping."""
    p = layer.param("scale_param")
    if (
        len(layer.bottoms) != 1
        or p.integer("axis", 1) != 1
        or p.integer("num_axes", 1) != 1
    ):
        raise Unmappable("Scale (by a second bottom, or over other axes)")
    x = single(layer)
    if x.failed:
        raise Unknown()
    node = b.graph.node(x.node) if x.node is not None else None
    fusable = node is not None and "affine" in node.params and not node.params["affine"]
    if (
        node is None
        or not fusable
        or node.type.startswith(("LayerNorm", "GroupNorm"))
        or b.graph.out_edges(node.id)
    ):
        raise Unmappable("Scale (not right after a BatchNorm)")
    if not p.flag("bias_term", False):
        b.warnings.append(
            f"Scale layer {layer.name!r} learns no shift, but the affine part of {node.name!r} does: "
            f"its shift starts at zero and adds {x.shape[1] if x.shape else 'C'} learnable parameters"
        )
    b.set_param(x, "affine", True)
    b.sinks[layer.name] = Sink("scale", node.id, settings=p)
    return [x]


def eltwise(b: Builder, layer: Layer) -> list[Blob]:
    """Eltwise SUM -> Add (Subtract for coefficients 1, -1), PROD -> Multiply, MAX -> Maximum."""
    p = layer.param("eltwise_param")
    operation = p.enum("operation", "SUM")
    coefficients = p.numbers("coeff")
    count = len(layer.bottoms)
    if len(layer.tops) != 1 or count < 2:
        raise BrokenLayer("Eltwise needs at least 2 bottoms and 1 top")
    if coefficients and len(coefficients) != count:
        raise BrokenLayer(
            f"Eltwise has {len(coefficients)} coefficients for {count} bottoms"
        )
    if operation in ("SUM", "1"):
        if not coefficients or all(c == 1.0 for c in coefficients):
            layer_type = "Add"
        elif coefficients == [1.0, -1.0]:
            layer_type = "Subtract"
        else:
            raise Unmappable("Eltwise SUM with coefficients other than all 1 or (1, -1)")
    elif coefficients:
        raise BrokenLayer("Eltwise takes coefficients for SUM only")
    elif operation in ("PROD", "0"):
        layer_type = "Multiply"
    elif operation in ("MAX", "2"):
        layer_type = "Maximum"
    else:
        raise Unmappable(f"Eltwise {operation}")
    inputs = _merge_inputs(b, layer)
    params = {} if layer_type == "Subtract" else {"num_inputs": count}
    blob = b.add(layer_type, layer.name, params, inputs, layer.type)
    blob.squeezed = inputs[0].squeezed
    return [blob]


def _merge_inputs(b: Builder, layer: Layer, axis: int = 1) -> list[Blob]:
    if axis == 1 and all(x.squeezed for x in layer.bottoms):
        return layer.bottoms
    return [b.plain(x, layer.name) for x in layer.bottoms]


def concat(b: Builder, layer: Layer) -> list[Blob]:
    """Concat -> Concat along the same axis (a single bottom is just that blob again)."""
    if len(layer.tops) != 1:
        raise BrokenLayer("Concat needs 1 top")
    if len(layer.bottoms) == 1:
        return [layer.bottoms[0]]
    p = layer.param("concat_param")
    rank = rank_of(layer.bottoms[0])
    axis = axis_index(
        p, "concat_dim" if p.has("concat_dim") and not p.has("axis") else "axis", rank
    )
    if axis == 0:
        raise Unmappable("Concat along the batch axis")
    inputs = _merge_inputs(b, layer, axis)
    blob = b.add(
        "Concat",
        layer.name,
        {"num_inputs": len(inputs), "dim": axis},
        inputs,
        layer.type,
    )
    blob.squeezed = inputs[0].squeezed
    return [blob]


def split(b: Builder, layer: Layer) -> list[Blob]:
    """Split -> nothing: every top is the bottom again (the graph lets a node feed many)."""
    if len(layer.bottoms) != 1:
        raise BrokenLayer("Split needs 1 bottom")
    return [layer.bottoms[0]] * len(layer.tops)


def slice_(b: Builder, layer: Layer) -> list[Blob]:
    """Slice -> one Slice node per top, each keeping its piece between two slice points."""
    if len(layer.bottoms) != 1:
        raise Unmappable(f"Slice with {len(layer.bottoms)} bottoms")
    p = layer.param("slice_param")
    x = layer.bottoms[0]
    axis = axis_index(p, "slice_dim" if p.has("slice_dim") and not p.has("axis") else "axis", rank_of(x))
    if axis == 0:
        raise Unmappable("Slice along the batch axis")
    if len(layer.tops) == 1:
        return [x]
    if not (x.squeezed and axis == 1):
        x = b.plain(x, layer.name)
    if x.shape is None:
        raise unknown(x, "Slice of a blob whose shape is unknown")
    points, count = p.integers("slice_point"), len(layer.tops)
    # A guessed size is not the real one: the last piece then keeps whatever follows its start.
    size = None if x.guessed else int(x.shape[axis] or 0)
    if not points:
        if size is None:
            raise Unmappable("Slice into equal parts of an input whose shape the file does not state")
        if size % count:
            raise BrokenLayer(f"its {size} entries along axis {axis} do not split into {count} equal tops")
        points = [size // count * i for i in range(1, count)]
    if len(points) != count - 1:
        raise BrokenLayer(f"it has {len(points)} slice_point values for {count} tops (it needs {count - 1})")
    bounds = [0, *points, size]
    if any(high is not None and low >= high for low, high in pairwise(bounds)):
        end = "the axis size" if size is None else size
        raise BrokenLayer(f"slice_point values {points} must rise strictly between 0 and {end} (axis {axis})")
    pieces = []
    for top, low, high in zip(layer.tops, bounds, bounds[1:]):
        params = {"dim": axis, "start": low, "length": 0 if high is None else high - low}
        piece = b.add("Slice", top, params, [x], layer.type)
        piece.squeezed = x.squeezed
        pieces.append(piece)
    return pieces


def flatten(b: Builder, layer: Layer) -> list[Blob]:
    """Flatten from axis 1 -> Flatten; other axes -> Reshape."""
    x = single(layer)
    p = layer.param("flatten_param")
    rank = rank_of(x)
    first, last = axis_index(p, "axis", rank), axis_index(p, "end_axis", rank, -1)
    if first == 1 and last == rank - 1:
        return [b.add("Flatten", layer.name, {}, [x], layer.type)]
    if first == 0 or last < first:
        raise Unmappable("Flatten including the batch axis")
    x = b.plain(x, layer.name)
    if x.shape is None:
        raise unknown(x, "Flatten of part of a blob whose shape is unknown")
    dims = [int(d or 0) for d in x.shape]
    target = (*dims[1:first], prod(dims[first : last + 1]), *dims[last + 1 :])
    return [b.add("Reshape", layer.name, {"shape": target}, [x], layer.type)]


def reshape(b: Builder, layer: Layer) -> list[Blob]:
    """Reshape -> Reshape, with Caffe's 0 (copy this axis) and -1 (infer) resolved; the batch must stay."""
    x = b.plain(single(layer), layer.name)
    p = layer.param("reshape_param")
    shape = p.child("shape")
    dims = shape.integers("dim") if shape is not None else []
    if x.shape is None:
        raise unknown(x, "Reshape of a blob whose shape is unknown")
    rank = len(x.shape)
    axis = p.integer("axis", 0) or 0
    axis = axis + rank + 1 if axis < 0 else axis
    count = p.integer("num_axes", -1)
    end = rank if count == -1 else axis + (count or 0)
    if not 0 <= axis <= end <= rank:
        raise BrokenLayer(f"axis and num_axes do not fit its {rank}-D bottom")
    middle: list[int | None] = []
    for i, d in enumerate(dims):
        if d == 0:
            if axis + i >= rank:
                raise BrokenLayer(f"dim {i} copies an axis its bottom does not have")
            middle.append(x.shape[axis + i])
        elif d < -1:
            raise BrokenLayer(f"dim {d} is not a size (use 0 to copy, -1 to infer)")
        else:
            middle.append(d)
    target = [*x.shape[:axis], *middle, *x.shape[end:]]
    if not target or target[0] is not None:
        per_sample = prod(int(d or 1) for d in x.shape[1:])
        rest = target[1:]
        if (
            target
            and target[0] == -1
            and -1 not in rest
            and prod(int(d or 1) for d in rest) == per_sample
        ):
            target[0] = None
        else:
            raise Unmappable("Reshape that changes the batch axis")
    return [
        b.add(
            "Reshape",
            layer.name,
            {"shape": tuple(int(d) for d in target[1:])},
            [x],
            layer.type,
        )
    ]


def softmax(b: Builder, layer: Layer) -> list[Blob]:
    """Softmax -> Softmax over the same axis."""
    x = single(layer)
    axis = axis_index(layer.param("softmax_param"), "axis", rank_of(x))
    if not (x.squeezed and axis == 1):
        x = b.plain(x, layer.name)
    blob = b.add("Softmax", layer.name, {"dim": axis}, [x], layer.type)
    blob.squeezed = x.squeezed
    return [blob]


def power(b: Builder, layer: Layer) -> list[Blob]:
    """Power (power 1) straight after an Input -> that Input's mean and std (the standardization Layer Studio writes);
    any other Power -> Math layers (`caffe_math.power`)."""
    x = single(layer)
    p = layer.param("power_param")
    exponent, scale, shift = p.number("power", 1.0), p.number("scale", 1.0), p.number("shift", 0.0)
    node = b.graph.nodes.get(x.node or "")
    fresh_input = node is not None and node.type == "Input" and not node.params["mean"] and not b.graph.out_edges(node.id)
    if exponent != 1.0 or not scale or scale < 0 or not fresh_input:
        return caffe_math.power(b, layer)
    b.graph.set_param(node.id, "mean", (-shift / scale,))
    b.graph.set_param(node.id, "std", (1.0 / scale,))
    return [x]


MAPPINGS: dict[str, Callable[[Builder, Layer], list[Blob]]] = {  # the rest: the families' CaffeImport rules
    "Convolution": convolution,
    "Deconvolution": deconvolution,
    "Pooling": pooling,
    "InnerProduct": inner_product,
    "PReLU": _elementwise("PReLU", _prelu_params, sink="prelu"),
    "LRN": lrn,
    "BatchNorm": batch_norm,
    "MVN": mvn,
    "Scale": scale,
    "Eltwise": eltwise,
    "Concat": concat,
    "Split": split,
    "Slice": slice_,
    "Flatten": flatten,
    "Reshape": reshape,
    "Softmax": softmax,
    "Power": power,
    "AbsVal": caffe_math.absval,
    "Exp": caffe_math.exp,
    "Log": caffe_math.log,
    **caffe_tensors.MAPPINGS,
}

Mapping = Callable[[Builder, Layer], list[Blob]]


def mapping(kind: str) -> Mapping | None:
    """How a Caffe layer of type `kind` is mapped: the importer's own function, else the families' rules."""
    if kind in MAPPINGS:
        return MAPPINGS[kind]
    rules = [(spec.type, rule) for spec in CATALOGUE.values() for rule in spec.caffe_import if rule.type == kind]
    return _by_rules(rules) if rules else None


def _by_rules(rules: list) -> Mapping:
    def by_rules(b: Builder, layer: Layer) -> list[Blob]:
        x = single(layer)
        for layer_type, rule in rules:
            fields = layer.param(rule.section) if rule.section else Message()
            try:
                params = rule.params(fields)
            except Inexpressible as err:
                raise Unmappable(f"{layer.type} ({err})") from None
            if params is not None:
                blob = b.add(layer_type, layer.name, params, [x], layer.type)
                blob.squeezed = x.squeezed
                return [blob]
        raise Unmappable(f"{layer.type} (with these settings)")

    return by_rules
