"""ONNX operators that become one catalogue layer each: convolutions, dense, normalization, activations.

Each mapper gets the context and the node, emits layers (or aliases its output) and raises
`Unmappable` with a short kind ("MaxPool (asymmetric padding)") when the node has no
faithful mapping. Pooling lives in `onnx_pooling`, tensor plumbing (reshapes, merges,
padding) in `onnx_tensors`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from studio.graph.catalogue.onnx_records import clean
from studio.interop.common import Unmappable
from studio.interop.onnx_graph import ImportContext

if TYPE_CHECKING:
    import numpy as np
    import onnx

Mapper = Callable[[ImportContext, "onnx.NodeProto"], None]
SELU_ALPHA = 1.6732632423543772
SELU_GAMMA = 1.0507009873554805


# ----- shared helpers -----
def data_input(ctx: ImportContext, node: onnx.NodeProto, index: int = 0) -> str:
    """The live tensor at input `index`, resolved; Unmappable when it is a constant or missing."""
    names = list(node.input)
    if index >= len(names) or not names[index]:
        raise Unmappable(f"{node.op_type} (input {index + 1} is missing)")
    name = names[index]
    if ctx.is_constant(name):
        raise Unmappable(f"{node.op_type} (on a constant tensor)")
    return ctx.resolve(name)


def known_shape(
    ctx: ImportContext, node: onnx.NodeProto, tensor: str
) -> tuple[Any, ...]:
    """The shape of a live tensor; Unmappable when it is not known."""
    shape = ctx.shape(tensor)
    if shape is None or any(d is None for d in shape[1:]):
        raise Unmappable(f"{node.op_type} (an input whose size is not known)")
    return shape


def constant(
    ctx: ImportContext,
    node: onnx.NodeProto,
    index: int,
    what: str,
    optional: bool = False,
) -> np.ndarray | None:
    """The constant at input `index`; None for an absent optional one, Unmappable for a computed one."""
    names = list(node.input)
    if index >= len(names) or not names[index]:
        if optional:
            return None
        raise Unmappable(f"{node.op_type} (no {what})")
    value = ctx.const(names[index])
    if value is None:
        raise Unmappable(f"{node.op_type} (its {what} is computed, not a constant)")
    return value


def floats(value: np.ndarray) -> np.ndarray:
    """A weight as float32, C-contiguous."""
    import numpy as np

    return np.ascontiguousarray(value, dtype=np.float32)


def looks_learned(name: str) -> bool:
    """True for a tensor named like a learned parameter (conv1.weight, bn/gamma:0), not like running statistics or a made-up constant."""
    last = (
        name.replace("/", ".")
        .replace(":", ".")
        .rstrip(".0123456789")
        .rsplit(".", 1)[-1]
        .lower()
    )
    return any(
        word in last for word in ("weight", "bias", "gamma", "beta", "scale", "alpha")
    )


def is_identity_affine(
    ctx: ImportContext, scale_name: str, bias_name: str | None
) -> bool:
    """An exporter's stand-in scale of ones and shift of zeros for a norm layer that learns none."""
    import numpy as np

    scale = ctx.const(scale_name)
    bias = ctx.const(bias_name) if bias_name else None
    if (
        scale is None
        or not np.all(scale == 1)
        or (bias is not None and np.any(bias != 0))
    ):
        return False
    return not looks_learned(scale_name) and (
        bias_name is None or not looks_learned(bias_name)
    )


def no_made_up_zeros(
    ctx: ImportContext, node: onnx.NodeProto, index: int, bias: np.ndarray | None
) -> np.ndarray | None:
    """None for a bias of zeros an exporter made up for a layer that has none (it changes nothing but the parameter count)."""
    import numpy as np

    if bias is None or np.any(bias) or looks_learned(node.input[index]):
        return bias
    return None


def per_axis(
    values: list[int] | tuple[int, ...], rank: int, default: int, least: int = 1
) -> tuple[int, ...]:
    """An attribute given per spatial axis (or absent), each value `least` or more."""
    found = tuple(int(v) for v in values) if values else (default,) * rank
    if len(found) != rank:
        raise Unmappable(f"attribute of length {len(found)} for {rank} spatial axes")
    if any(v < least for v in found):
        raise Unmappable(f"attribute values {found}: each must be {least} or more")
    return found


def pads_for(
    ctx: ImportContext,
    node: onnx.NodeProto,
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (begin, end) padding per spatial axis, from `pads` or `auto_pad`."""
    attrs = ctx.attrs(node)
    rank = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            begin.append(small if auto == "SAME_UPPER" else total - small)
            end.append(total - small if auto == "SAME_UPPER" else small)
        return tuple(begin), tuple(end)
    if auto == "VALID":
        return (0,) * rank, (0,) * rank
    pads = [int(p) for p in attrs.get("pads", [0] * (2 * rank))]
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise Unmappable(f"{node.op_type} (pads {pads})")
    return tuple(pads[:rank]), tuple(pads[rank:])


def pad_the_excess(
    ctx: ImportContext, node: onnx.NodeProto, x: str, begin: tuple[int, ...], end: tuple[int, ...]
) -> tuple[str, tuple[int, ...]]:
    """Uneven padding as a ZeroPad of the excess before the layer; return its output and the even part left."""
    even = tuple(min(a, b) for a, b in zip(begin, end))
    excess_begin = tuple(a - e for a, e in zip(begin, even))
    excess_end = tuple(b - e for b, e in zip(end, even))
    return zero_pad(ctx, node, x, excess_begin, excess_end), even


def zero_pad(
    ctx: ImportContext,
    node: onnx.NodeProto,
    x: str,
    begin: tuple[int, ...],
    end: tuple[int, ...],
) -> str:
    """Emit a ZeroPad2d for uneven padding of a 4-D tensor; return the padded tensor."""
    if len(begin) != 2:
        raise Unmappable(
            f"{node.op_type} (uneven padding of a {len(begin)}-D window)"
        )
    padded = f"{node.output[0]}::padded"
    pad_node = renamed(node, f"{node.name or node.op_type.lower()}_pad")
    ctx.emit(
        pad_node,
        "ZeroPad2d",
        {"padding": (begin[1], end[1], begin[0], end[0])},
        [x],
        padded,
    )
    return padded


def renamed(node: onnx.NodeProto, name: str) -> onnx.NodeProto:
    """A stand-in for `node` carrying another name, for a layer that no single node names."""
    import onnx

    copy = onnx.NodeProto()
    copy.op_type, copy.name, copy.domain = node.op_type, name, node.domain
    return copy


# ----- convolution -----
def conv_layer(
    ctx: ImportContext,
    node: onnx.NodeProto,
    x: str,
    extra: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
    mode: str = "zeros",
) -> None:
    """Emit a Conv node's layer; `extra` is (begin, end) padding of a Pad folded into it, filled by `mode`."""
    shape = known_shape(ctx, node, x)
    rank = len(shape) - 2
    if rank not in (1, 2, 3):
        raise Unmappable(f"Conv ({rank}-D)")
    weight = constant(ctx, node, 1, "weight")
    bias = no_made_up_zeros(ctx, node, 2, constant(ctx, node, 2, "bias", optional=True))
    attrs = ctx.attrs(node)
    kernel = tuple(int(k) for k in weight.shape[2:])
    strides = per_axis(attrs.get("strides"), rank, 1)
    dilations = per_axis(attrs.get("dilations"), rank, 1)
    groups = int(attrs.get("group", 1))
    if weight.ndim != rank + 2 or weight.shape[1] * groups != shape[1]:
        raise Unmappable("Conv (its weight does not fit its input)")
    begin, end = pads_for(ctx, node, tuple(shape[2:]), kernel, strides, dilations)
    if extra is not None:
        begin = tuple(a + b for a, b in zip(begin, extra[0]))
        end = tuple(a + b for a, b in zip(end, extra[1]))
    if begin != end:
        if mode != "zeros":
            raise Unmappable(f"Conv (uneven {mode} padding)")
        x, begin = pad_the_excess(ctx, node, x, begin, end)
    params = {
        "out_channels": int(weight.shape[0]),
        "kernel_size": kernel,
        "stride": strides,
        "padding": begin,
        "dilation": dilations,
        "groups": groups,
        "bias": bias is not None,
        "padding_mode": mode,
    }
    weights = {"weight": floats(weight)}
    if bias is not None:
        weights["bias"] = floats(bias).reshape(-1)
    ctx.emit(node, f"Conv{rank}d", params, [x], node.output[0], weights)


def _conv(ctx: ImportContext, node: onnx.NodeProto) -> None:
    conv_layer(ctx, node, data_input(ctx, node))


def _conv_transpose(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    rank = len(shape) - 2
    if rank not in (1, 2, 3):
        raise Unmappable(f"ConvTranspose ({rank}-D)")
    weight = constant(ctx, node, 1, "weight")
    bias = constant(ctx, node, 2, "bias", optional=True)
    attrs = ctx.attrs(node)
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unmappable("ConvTranspose (auto_pad SAME)")
    kernel = tuple(int(k) for k in weight.shape[2:])
    strides = per_axis(attrs.get("strides"), rank, 1)
    dilations = per_axis(attrs.get("dilations"), rank, 1)
    groups = int(attrs.get("group", 1))
    begin, end = pads_for(ctx, node, tuple(shape[2:]), kernel, strides, dilations)
    if begin != end:
        raise Unmappable("ConvTranspose (uneven padding)")
    extra = per_axis(attrs.get("output_padding"), rank, 0, least=0)
    if attrs.get("output_shape"):
        wanted = list(attrs["output_shape"])[-rank:]
        full = [
            (n - 1) * s - 2 * p + d * (k - 1) + 1
            for n, s, p, d, k in zip(shape[2:], strides, begin, dilations, kernel)
        ]
        extra = tuple(int(w - f) for w, f in zip(wanted, full))
    if weight.shape[0] != shape[1]:
        raise Unmappable("ConvTranspose (its weight does not fit its input)")
    params = {
        "out_channels": int(weight.shape[1]) * groups,
        "kernel_size": kernel,
        "stride": strides,
        "padding": begin,
        "output_padding": extra,
        "dilation": dilations,
        "groups": groups,
        "bias": bias is not None,
    }
    weights = {"weight": floats(weight)}
    if bias is not None:
        weights["bias"] = floats(bias).reshape(-1)
    ctx.emit(node, f"ConvTranspose{rank}d", params, [x], node.output[0], weights)


# ----- dense -----
def linear_layer(
    ctx: ImportContext,
    node: onnx.NodeProto,
    x: str,
    weight: np.ndarray,
    bias: np.ndarray | None,
    output: str,
) -> None:
    """Emit a Linear with `weight` laid out as PyTorch's (out_features, in_features)."""
    import numpy as np

    shape = known_shape(ctx, node, x)
    if weight.ndim != 2 or weight.shape[1] != shape[-1]:
        raise Unmappable(f"{node.op_type} (its weight does not fit its input)")
    weights = {"weight": floats(weight)}
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float32).reshape(-1)
        if bias.size == 1:
            bias = np.full(weight.shape[0], bias[0], dtype=np.float32)
        elif bias.size != weight.shape[0]:
            raise Unmappable(f"{node.op_type} (a bias that is not one per output)")
        weights["bias"] = bias
    params = {"out_features": int(weight.shape[0]), "bias": bias is not None}
    if len(shape) <= 3:
        ctx.emit(node, "Linear", params, [x], output, weights)
        return
    # A dense layer on the last dimension of a map, as ConvNeXt's channels-last MLP: the leading dimensions are joined
    # into one sequence around the Linear and split again (a Linear takes (N, T, F), so that a 4-D map fed to it by
    # mistake keeps its message: insert a Flatten).
    lead = tuple(int(d) for d in shape[1:-1])
    ctx.emit(node, "Flatten", {"start_dim": 1, "end_dim": -2}, [x], f"{output}::rows")
    ctx.emit(node, "Linear", params, [f"{output}::rows"], f"{output}::dense", weights)
    ctx.emit(node, "Reshape", {"shape": (*lead, int(weight.shape[0]))}, [f"{output}::dense"], output)


def _gemm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    attrs = ctx.attrs(node)
    if attrs.get("transA", 0):
        raise Unmappable("Gemm (transA)")
    weight = constant(ctx, node, 1, "weight")
    bias = constant(ctx, node, 2, "bias", optional=True)
    weight = weight if attrs.get("transB", 0) else weight.T
    if float(attrs.get("alpha", 1.0)) != 1.0:
        weight = weight * float(attrs["alpha"])
    if bias is not None and float(attrs.get("beta", 1.0)) != 1.0:
        bias = bias * float(attrs["beta"])
    if bias is not None and bias.size not in (1, weight.shape[0]):
        raise Unmappable("Gemm (a bias that is not one per output)")
    linear_layer(ctx, node, x, weight, bias, node.output[0])


def _matmul(ctx: ImportContext, node: onnx.NodeProto) -> None:
    if not any(ctx.is_constant(n) for n in node.input):  # a product of two activations (attention's scores)
        ctx.emit(node, "MatMul", {}, [ctx.resolve(n) for n in node.input], node.output[0])
        return
    x = data_input(ctx, node)
    weight = constant(ctx, node, 1, "weight")
    if weight.ndim != 2:
        raise Unmappable("MatMul (a weight that is not a matrix)")
    linear_layer(ctx, node, x, weight.T, None, node.output[0])


# ----- normalization -----
def _batch_norm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    rank = len(known_shape(ctx, node, x))
    attrs = ctx.attrs(node)
    if attrs.get("training_mode", 0) or any(
        o and ctx.consumers.get(o) for o in node.output[1:]
    ):
        raise Unmappable("BatchNormalization (training mode)")
    scale, bias, mean, var = (
        constant(ctx, node, i, what)
        for i, what in enumerate(("scale", "bias", "mean", "variance"), 1)
    )
    if rank not in (2, 3, 4, 5):
        raise Unmappable(f"BatchNormalization ({rank}-D input)")
    momentum = clean(1.0 - clean(attrs.get("momentum", 0.9)))
    affine = not is_identity_affine(ctx, node.input[1], node.input[2])
    params = {
        "eps": clean(attrs.get("epsilon", 1e-5)),
        "momentum": momentum if 0 <= momentum <= 1 else 0.1,
        "affine": affine,
    }
    weights = {
        "running_mean": floats(mean).reshape(-1),
        "running_var": floats(var).reshape(-1),
        "num_batches_tracked": _zero_count(),
    }
    if affine:
        weights.update(weight=floats(scale).reshape(-1), bias=floats(bias).reshape(-1))
    layer = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}[
        rank
    ]
    ctx.emit(node, layer, params, [x], node.output[0], weights)


def _zero_count() -> np.ndarray:
    import numpy as np

    return np.array(0, dtype=np.int64)


def _instance_norm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    rank = len(known_shape(ctx, node, x))
    scale, bias = constant(ctx, node, 1, "scale"), constant(ctx, node, 2, "bias")
    if rank not in (3, 4, 5):
        raise Unmappable(f"InstanceNormalization ({rank}-D input)")
    affine = not is_identity_affine(ctx, node.input[1], node.input[2])
    params = {"eps": clean(ctx.attrs(node).get("epsilon", 1e-5)), "affine": affine}
    weights = (
        {"weight": floats(scale).reshape(-1), "bias": floats(bias).reshape(-1)}
        if affine
        else {}
    )
    ctx.emit(node, f"InstanceNorm{rank - 2}d", params, [x], node.output[0], weights)


def _layer_norm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    attrs = ctx.attrs(node)
    axis = int(attrs.get("axis", -1)) % len(shape)
    if axis == 0:
        raise Unmappable("LayerNormalization (over the batch dimension)")
    scale = constant(ctx, node, 1, "scale")
    bias = constant(ctx, node, 2, "bias", optional=True)
    normalized = tuple(shape[axis:])
    bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    affine = not is_identity_affine(ctx, node.input[1], bias_name)
    params = {
        "num_dims": len(shape) - axis,
        "eps": clean(attrs.get("epsilon", 1e-5)),
        "elementwise_affine": affine,
        "bias": bias is not None,
    }
    weights = {}
    if affine:
        import numpy as np

        for name, value in (("scale", scale), ("bias", bias)):
            if value is not None and not _broadcasts_to(value.shape, normalized):
                raise Unmappable(f"LayerNormalization (a {name} of shape {value.shape} for normalized shape {normalized})")
        weights["weight"] = floats(np.broadcast_to(scale, normalized))
        if bias is not None:
            weights["bias"] = floats(np.broadcast_to(bias, normalized))
    ctx.emit(node, "LayerNorm", params, [x], node.output[0], weights)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    import numpy as np

    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _rms_norm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    """RMSNormalization (opset 23) over the trailing axes -> RMSNorm with its scale."""
    import numpy as np

    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    attrs = ctx.attrs(node)
    axis = int(attrs.get("axis", -1)) % len(shape)
    if axis == 0:
        raise Unmappable("RMSNormalization (over the batch dimension)")
    if int(attrs.get("stash_type", 1)) != 1:
        raise Unmappable("RMSNormalization (computed in another precision than float32)")
    scale = constant(ctx, node, 1, "scale")  # a weight, even where it is all ones (a fresh layer's)
    params = {"num_dims": len(shape) - axis, "eps": clean(attrs.get("epsilon", 1e-5))}
    weights = {"weight": floats(np.broadcast_to(scale, tuple(shape[axis:])))}
    ctx.emit(node, "RMSNorm", params, [x], node.output[0], weights)


def _group_norm(ctx: ImportContext, node: onnx.NodeProto) -> None:
    import numpy as np

    x = data_input(ctx, node)
    channels = known_shape(ctx, node, x)[1]
    attrs = ctx.attrs(node)
    groups = int(attrs["num_groups"])
    scale, bias = constant(ctx, node, 1, "scale"), constant(ctx, node, 2, "bias")
    if (
        scale.size == groups and groups != channels
    ):  # opset 18 form: one scale per group
        scale, bias = (
            np.repeat(scale.reshape(-1), channels // groups),
            np.repeat(bias.reshape(-1), channels // groups),
        )
    params = {
        "num_groups": groups,
        "eps": clean(attrs.get("epsilon", 1e-5)),
        "affine": True,
    }
    ctx.emit(
        node,
        "GroupNorm",
        params,
        [x],
        node.output[0],
        {"weight": floats(scale).reshape(-1), "bias": floats(bias).reshape(-1)},
    )


# ----- activations -----
def _selu(ctx: ImportContext, node: onnx.NodeProto) -> None:
    attrs = ctx.attrs(node)
    if not (
        math.isclose(attrs.get("alpha", SELU_ALPHA), SELU_ALPHA, rel_tol=1e-6)
        and math.isclose(attrs.get("gamma", SELU_GAMMA), SELU_GAMMA, rel_tol=1e-6)
    ):
        raise Unmappable("Selu (alpha or gamma other than the standard constants)")
    ctx.emit(node, "SELU", {}, [data_input(ctx, node)], node.output[0])


def _prelu(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    slope = constant(ctx, node, 1, "slope")
    squeezed = slope.reshape(-1)
    per_channel = squeezed.size > 1
    aligned = (1,) * (len(shape) - slope.ndim) + tuple(slope.shape)
    if per_channel and (
        len(aligned) != len(shape)
        or aligned[1] != shape[1]
        or math.prod(aligned) != shape[1]
    ):
        raise Unmappable(
            "PRelu (a slope that is neither one value nor one per channel)"
        )
    ctx.emit(
        node,
        "PReLU",
        {"per_channel": per_channel},
        [x],
        node.output[0],
        {"weight": floats(squeezed)},
    )


def _clip(ctx: ImportContext, node: onnx.NodeProto) -> None:
    import numpy as np

    attrs = ctx.attrs(node)
    if ctx.opset < 11:
        low, high = attrs.get("min", -np.inf), attrs.get("max", np.inf)
    else:
        low_value, high_value = (
            constant(ctx, node, 1, "min", True),
            constant(ctx, node, 2, "max", True),
        )
        low = float(low_value) if low_value is not None else -np.inf
        high = float(high_value) if high_value is not None else np.inf
    if low == 0 and high == 6:
        ctx.emit(node, "ReLU6", {}, [data_input(ctx, node)], node.output[0])
    elif low == 0 and np.isinf(high):
        ctx.emit(node, "ReLU", {}, [data_input(ctx, node)], node.output[0])
    else:  # the Math family's Clip rule takes the other ranges
        raise Unmappable(
            f"Clip (to [{low:g}, {high:g}]: only ReLU and ReLU6 ranges)"
        )


def _softmax(layer_type: str) -> Mapper:
    def emit(ctx: ImportContext, node: onnx.NodeProto) -> None:
        x = data_input(ctx, node)
        rank = len(known_shape(ctx, node, x))
        axis = int(ctx.attrs(node).get("axis", 1 if ctx.opset < 13 else -1))
        if (
            ctx.opset < 13 and axis % rank != rank - 1
        ):  # the old form flattens every axis from `axis` on
            raise Unmappable(f"{node.op_type} (opset {ctx.opset} over several axes)")
        ctx.emit(node, layer_type, {"dim": axis}, [x], node.output[0])

    return emit


def _dropout(ctx: ImportContext, node: onnx.NodeProto) -> None:
    import numpy as np

    if len(node.output) > 1 and node.output[1] and ctx.consumers.get(node.output[1]):
        raise Unmappable("Dropout (its mask output is used)")
    if len(node.input) > 2 and node.input[2]:
        training = ctx.const(node.input[2])
        if training is None or bool(np.asarray(training).ravel()[0]):
            raise Unmappable("Dropout (in training mode: it drops values when the model infers)")
    ratio = ctx.attrs(node).get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        value = ctx.const(node.input[1])
        ratio = float(np.asarray(value)) if value is not None else 0.5
    ctx.emit(
        node,
        "Dropout",
        {"p": min(max(clean(ratio), 0.0), 0.99)},
        [data_input(ctx, node)],
        node.output[0],
    )


MAPPERS: dict[str, Mapper] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batch_norm,
    "InstanceNormalization": _instance_norm,
    "LayerNormalization": _layer_norm,
    "RMSNormalization": _rms_norm,
    "GroupNormalization": _group_norm,
    "Selu": _selu,
    "PRelu": _prelu,
    "Clip": _clip,
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
    "Dropout": _dropout,
}
