"""Normalization layers: batch, layer, group, instance and local response normalization."""

from __future__ import annotations

import math
from collections.abc import Callable
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
    Unsupported,
    need_rank,
    numel,
    show,
    targets,
    weight_and_bias,
)
from studio.graph.catalogue.keras_records import Apply, Convert, Step, named
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxImport,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
    clean,
    layer_norm_records,
    pad_records,
    reduce_records,
)
from studio.graph.catalogue.pytorch_records import Call, channels, kw, module, options
from studio.graph.params import Bool, Float, Int

_BATCH_LAYOUTS = {
    "BatchNorm1d": ((2, 3), "a 2-D input (N, features) or a sequence (N, C, L)"),
    "BatchNorm2d": ((4,), "a 4-D input (N, C, H, W)"),
    "BatchNorm3d": ((5,), "a 5-D input (N, C, D, H, W)"),
}
_INSTANCE_LAYOUTS = {
    "InstanceNorm1d": ((3,), "a 3-D input (N, C, L)"),
    "InstanceNorm2d": ((4,), "a 4-D input (N, C, H, W)"),
    "InstanceNorm3d": ((5,), "a 5-D input (N, C, D, H, W)"),
}
_BY_RANK = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}
_INSTANCE_BY_RANK = {3: "InstanceNorm1d", 4: "InstanceNorm2d", 5: "InstanceNorm3d"}
_TAKES = {1: "(N, features) or (N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
_SAMPLE = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}


def _instead(layer_type: str) -> str:
    """Suggest the sibling layer for another rank: 'use BatchNorm2d instead, which takes (N, C, H, W)'."""
    takes = _TAKES[int(layer_type[-2])]
    if layer_type.startswith("Instance"):
        takes = takes.replace("(N, features) or ", "")
    return f"use {layer_type} instead, which takes {takes}"


def _fewer_dims(layer_type: str) -> str:
    """Hint for an input with more dimensions than any sibling layer takes."""
    return f"insert a Reshape before it that makes each sample {_SAMPLE[int(layer_type[-2])]}"


def _channels(ins: list[Shape]) -> int:
    return ins[0][1] or 0


def _batch_norm(layer_type: str):
    ranks, what = _BATCH_LAYOUTS[layer_type]

    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        other = _BY_RANK.get(len(x))
        need_rank(x, ranks, what, _instead(other) if other else _fewer_dims(layer_type))
        return [x]

    return infer


def _instance_norm(layer_type: str):
    ranks, what = _INSTANCE_LAYOUTS[layer_type]

    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        other = _INSTANCE_BY_RANK.get(len(x))
        hint = _instead(other) if other else _fewer_dims(layer_type)
        if len(x) == 2:
            hint = "instance norm needs positions to normalize over, so for (N, features) use LayerNorm or BatchNorm1d"
        need_rank(x, ranks, what, hint)
        if numel(x) == x[1]:
            raise ShapeError(
                f"normalizes each channel over its positions, but its input {show(x)} has only one position per channel",
                f"use {_BY_RANK[len(x)]} here, or move it before the layers that shrink the feature map to one position",
            )
        return [x]

    return infer


def _affine_state(p: Params, ins: list[Shape]) -> State:
    return weight_and_bias((_channels(ins),), True) if p["affine"] else {}


def _statistics_state(p: Params, ins: list[Shape]) -> State:
    """The affine scale and shift, then the running statistics a BatchNorm or InstanceNorm keeps."""
    state = _affine_state(p, ins)
    if p["track_running_stats"]:
        channels = (_channels(ins),)
        state |= {
            "running_mean": StateTensor(channels, learned=False),
            "running_var": StateTensor(channels, learned=False),
            "num_batches_tracked": StateTensor((), learned=False),
        }
    return state


def _scale_shift_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return 2 * numel(outs[0])


def _layer_norm(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    k, rank = p["num_dims"], len(x) - 1
    if k > rank:
        raise ShapeError(
            f"has num_dims {k} but its input {show(x)} has only {rank} dimension{'s' if rank > 1 else ''} besides the batch",
            f"set num_dims to {rank}" if rank == 1 else f"set num_dims to at most {rank}",
        )
    return [x]


def _layer_norm_state(p: Params, ins: list[Shape]) -> State:
    if not p["elementwise_affine"]:
        return {}
    return {name: StateTensor(tuple(ins[0][len(ins[0]) - p["num_dims"]:])) for name in ("weight", "bias")[: 2 if p["bias"] else 1]}


def _divisors_near(n: int, wanted: int, count: int = 8) -> list[int]:
    """The divisors of n closest to `wanted`, in ascending order."""
    divisors = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    divisors += [n // d for d in divisors if d * d != n]
    return sorted(sorted(divisors, key=lambda d: (abs(d - wanted), d))[:count])


def _group_norm(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_rank(x, tuple(range(2, 17)), "an input (N, C, ...) with channels", "")
    channels, groups = x[1] or 0, p["num_groups"]
    if channels % groups:
        choices = _divisors_near(channels, groups)
        listed = ", ".join(map(str, choices))
        if len(choices) < len(_divisors_near(channels, groups, channels)):
            listed += f" (or another divisor of {channels})"
        raise ShapeError(
            f"has num_groups {groups}, which does not divide the {channels} channels (dimension 1) of its input {show(x)}",
            f"choose num_groups among {listed}",
        )
    return [x]


def _group_norm_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return 2 * numel(outs[0])


def _lrn(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_rank(
        x,
        tuple(range(3, 17)),
        "feature maps (N, C, L), (N, C, H, W) or more dimensions",
        "it normalizes across neighbouring channels, so put it after a convolution; for (N, features) use LayerNorm",
    )
    return [x]


def _lrn_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return (p["size"] + 2) * numel(outs[0])


# ----- ONNX -----
_EPS = 1e-5  # the default epsilon of ONNX's normalization operators, as of PyTorch's layers


def _eps_attr(site: OnnxSite) -> float | None:
    eps = site.params["eps"]
    return None if eps == _EPS else eps


def _known(site: OnnxSite) -> tuple[int, ...]:
    """The input's sizes after the batch, all known (else no direct form)."""
    sizes = site.shape[1:]
    if any(d is None for d in sizes):
        raise Inexpressible("an input size is unknown")
    return tuple(sizes)  # type: ignore[arg-type]


def _filled(site: OnnxSite, suffix: str, value: float, shape: tuple[int, ...]) -> OnnxConstant:
    """A float32 constant of one value (named so the importer sees a stand-in, not a learned tensor)."""
    return OnnxConstant(site.fresh(suffix), (value,) * math.prod(shape), "float32", shape)


def _affine_inputs(site: OnnxSite, learned: bool, shape: tuple[int, ...]) -> tuple[list[OnnxRecord], str, str]:
    """The scale and shift operands: the layer's weight and bias, or ones and zeros when it learns none."""
    if learned:
        return [], site.weights["weight"], site.weights["bias"]
    ones, zeros = _filled(site, "ones", 1.0, shape), _filled(site, "zeros", 0.0, shape)
    return [ones, zeros], ones.name, zeros.name


def _running_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """BatchNormalization with the running statistics: what a BatchNorm (or a tracking InstanceNorm) infers with."""
    channels = _known(site)[0]
    records, scale, shift = _affine_inputs(site, site.params["affine"], (channels,))
    momentum = site.params["momentum"]
    attrs = {"epsilon": _eps_attr(site), "momentum": None if momentum == 0.1 else 1.0 - momentum}
    inputs = (site.x, scale, shift, site.weights["running_mean"], site.weights["running_var"])
    return [*records, OnnxNode("BatchNormalization", inputs, (site.output,), attrs)]


def _channel_affine(site: OnnxSite, x: str) -> list[OnnxRecord]:
    """Multiply by the per-channel weight and add the bias, both shaped (C, 1, ...) to broadcast."""
    sizes = _known(site)
    shape = (sizes[0], *([1] * (len(sizes) - 1)))
    weight, bias = OnnxWeight(site.fresh("weight"), "weight", shape), OnnxWeight(site.fresh("bias"), "bias", shape)
    scaled = site.fresh("scaled")
    return [
        weight, bias,
        OnnxNode("Mul", (x, weight.name), (scaled,)),
        OnnxNode("Add", (scaled, bias.name), (site.output,)),
    ]  # fmt: skip


def _batch_statistics_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """Normalize by the mean and biased variance over the batch and positions, as PyTorch's eval does without running statistics."""
    axes = (0, *range(2, len(site.shape)))
    eps = OnnxConstant(site.fresh("eps"), (site.params["eps"],), "float32", ())
    mean, centred, square, var, shifted, std = (site.fresh(n) for n in ("mean", "centred", "square", "var", "shifted", "std"))
    normed = site.fresh("normed") if site.params["affine"] else site.output
    records: list[OnnxRecord] = [
        eps,
        *reduce_records(site, "ReduceMean", site.x, axes, mean),
        OnnxNode("Sub", (site.x, mean), (centred,)),
        OnnxNode("Mul", (centred, centred), (square,)),
        *reduce_records(site, "ReduceMean", square, axes, var),
        OnnxNode("Add", (var, eps.name), (shifted,)),
        OnnxNode("Sqrt", (shifted,), (std,)),
        OnnxNode("Div", (centred, std), (normed,)),
    ]  # fmt: skip
    return records + (_channel_affine(site, normed) if site.params["affine"] else [])


def _batch_norm_onnx(site: OnnxSite) -> list[OnnxRecord]:
    return _running_onnx(site) if site.params["track_running_stats"] else _batch_statistics_onnx(site)


def _instance_norm_onnx(site: OnnxSite) -> list[OnnxRecord]:
    if site.params["track_running_stats"]:  # PyTorch's eval then normalizes with the running statistics
        return _running_onnx(site)
    records, scale, shift = _affine_inputs(site, site.params["affine"], (_known(site)[0],))
    node = OnnxNode("InstanceNormalization", (site.x, scale, shift), (site.output,), {"epsilon": _eps_attr(site)})
    return [*records, node]


def _layer_norm_onnx(site: OnnxSite) -> list[OnnxRecord]:
    p, k = site.params, site.params["num_dims"]
    scale, bias = site.weights.get("weight"), site.weights.get("bias")
    return layer_norm_records(site, site.x, site.output, k, p["eps"], scale, bias, _known(site)[-k:])


def _group_norm_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """GroupNormalization from opset 21 (per-channel scale); otherwise the per-group form the importer knows.

    Opsets 18-20 scale per group, so there it is Reshape to (N, G, -1), InstanceNormalization,
    Reshape back, then a per-channel Mul and Add. Without affine that form is also used from
    opset 21: it needs no stand-in scale, which the importer would take for a learned one.
    """
    sizes, groups, affine = _known(site), site.params["num_groups"], site.params["affine"]
    if site.opset >= 21 and affine:
        inputs = (site.x, site.weights["weight"], site.weights["bias"])
        attrs = {"num_groups": groups, "epsilon": _eps_attr(site)}
        return [OnnxNode("GroupNormalization", inputs, (site.output,), attrs)]
    grouping, back = OnnxConstant(site.fresh("groups"), (0, groups, -1)), OnnxConstant(site.fresh("shape"), (0, *sizes))
    ones, zeros = _filled(site, "ones", 1.0, (groups,)), _filled(site, "zeros", 0.0, (groups,))
    grouped, normed = site.fresh("grouped"), site.fresh("normed")
    restored = site.fresh("restored") if affine else site.output
    records = [
        grouping, back, ones, zeros,
        OnnxNode("Reshape", (site.x, grouping.name), (grouped,)),
        OnnxNode("InstanceNormalization", (grouped, ones.name, zeros.name), (normed,), {"epsilon": _eps_attr(site)}),
        OnnxNode("Reshape", (normed, back.name), (restored,)),
    ]  # fmt: skip
    return records + (_channel_affine(site, restored) if affine else [])


def _lrn_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """LRN where it means PyTorch's window (an odd size) and ONNX Runtime runs it (4-D); elsewhere PyTorch's own arithmetic.

    For an even size, PyTorch's window reaches one channel further back than ONNX's. The
    arithmetic, x / (k + alpha * avg_pool(pad(x^2)))^beta over a (N, 1, C, -1) view, is what
    the importer reads back as LocalResponseNorm.
    """
    p = site.params
    size, rank = p["size"], len(site.shape)
    if size % 2 and rank == 4:
        attrs = {
            "size": size,
            "alpha": None if p["alpha"] == 1e-4 else p["alpha"],
            "beta": None if p["beta"] == 0.75 else p["beta"],
            "bias": None if p["k"] == 1.0 else p["k"],
        }
        return [OnnxNode("LRN", (site.x,), (site.output,), attrs)]
    sizes = _known(site)
    view, back = OnnxConstant(site.fresh("view"), (0, 1, sizes[0], -1)), OnnxConstant(site.fresh("shape"), (0, *sizes))
    alpha, k, beta = (OnnxConstant(site.fresh(n), (p[n],), "float32", ()) for n in ("alpha", "k", "beta"))
    names = ("square", "viewed", "padded", "pooled", "summed", "scaled", "shifted", "divisor")
    square, viewed, padded, pooled, summed, scaled, shifted, divisor = (site.fresh(n) for n in names)
    return [
        view, back, alpha, k, beta,
        OnnxNode("Mul", (site.x, site.x), (square,)),
        OnnxNode("Reshape", (square, view.name), (viewed,)),
        *pad_records(site, viewed, [(0, 0), (0, 0), (size // 2, (size - 1) // 2), (0, 0)], padded),
        OnnxNode("AveragePool", (padded,), (pooled,), {"kernel_shape": [size, 1]}),
        OnnxNode("Reshape", (pooled, back.name), (summed,)),
        OnnxNode("Mul", (summed, alpha.name), (scaled,)),
        OnnxNode("Add", (scaled, k.name), (shifted,)),
        OnnxNode("Pow", (shifted, beta.name), (divisor,)),
        OnnxNode("Div", (site.x, divisor), (site.output,)),
    ]  # fmt: skip


# ----- PyTorch, Keras, Caffe -----
_STATS = {"eps": 1e-5, "momentum": 0.1}


def _batch_norm_pytorch(rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    defaults = {**_STATS, "affine": True, "track_running_stats": True}
    return lambda s: module(s, f"nn.BatchNorm{rank}d", channels(s), *options(s.params, defaults))


def _instance_norm_pytorch(rank: int) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    defaults = {**_STATS, "affine": False, "track_running_stats": False}
    return lambda s: module(s, f"nn.InstanceNorm{rank}d", channels(s), *options(s.params, defaults))


def _layer_norm_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    normalized = tuple(int(d or 0) for d in s.shape[len(s.shape) - p["num_dims"]:])
    shape = str(normalized[0]) if len(normalized) == 1 else literal(normalized)
    return module(s, "nn.LayerNorm", shape, *options(p, {"eps": 1e-5, "elementwise_affine": True, "bias": True}))


def _group_norm_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    return module(s, "nn.GroupNorm", str(p["num_groups"]), channels(s), *options(p, {"eps": 1e-5, "affine": True}))


def _lrn_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return module(s, "nn.LocalResponseNorm", str(s.params["size"]), *options(s.params, {"alpha": 1e-4, "beta": 0.75, "k": 1.0}))


def _momentum(m: float) -> str:
    return kw("momentum", round(1.0 - m, 10))


def _batch_norm_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    if not p["track_running_stats"]:
        raise Inexpressible("track_running_stats False: Keras always keeps running statistics for inference")
    args = ["axis=1", _momentum(p["momentum"]), kw("epsilon", p["eps"])]
    if not p["affine"]:
        args += ["center=False", "scale=False"]
    affine = p["affine"]
    convert: Convert = lambda t: [
        *([t("weight"), t("bias")] if affine else []),
        t("running_mean"),
        t("running_var"),
    ]
    return keras_records.layer(s, "BatchNormalization", *args, convert=convert)


def _group_keras(s: keras_records.Site, groups: int, affine: bool) -> keras_records.Emitted:
    args = [kw("groups", groups), "axis=1", kw("epsilon", s.params["eps"])]
    if not affine:
        args += ["center=False", "scale=False"]
    return keras_records.layer(s, "GroupNormalization", *args, convert=(lambda t: [t("weight"), t("bias")]) if affine else None)


def _instance_norm_keras(s: keras_records.Site) -> keras_records.Emitted:
    if s.params["track_running_stats"]:
        raise Inexpressible("track_running_stats True: Keras group normalization keeps no running statistics")
    return _group_keras(s, int(s.shape[1] or 0), s.params["affine"])


def _group_norm_keras(s: keras_records.Site) -> keras_records.Emitted:
    return _group_keras(s, s.params["num_groups"], s.params["affine"])


def _layer_norm_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    n = p["num_dims"]
    axis = "axis=-1" if n == 1 else kw("axis", tuple(range(-n, 0)))
    args = [axis, kw("epsilon", p["eps"])]
    affine, bias = p["elementwise_affine"], p["elementwise_affine"] and p["bias"]
    if not bias:
        args.append("center=False")
    if not affine:
        args.append("scale=False")
    convert: Convert = lambda t: [t("weight"), *([t("bias")] if bias else [])]
    return keras_records.layer(s, "LayerNormalization", *args, convert=convert if affine else None)


def _lrn_keras(s: keras_records.Site) -> keras_records.Emitted:
    """A LocalResponseNorm helper layer, whose class the driver writes (studio.codegen.keras HELPERS)."""
    p = s.params
    args = (str(p["size"]), kw("alpha", p["alpha"]), kw("beta", p["beta"]), kw("k", p["k"]), named(s.var))
    return keras_records.Emitted([Step(s.var, Apply(Call("LocalResponseNorm", args), (s.x,)))], helpers=("LocalResponseNorm",))


def _with_scale(site: caffe_records.Site, first: caffe_records.Layer, affine: bool) -> list[caffe_records.Layer]:
    if not affine:
        return [first]
    blob = site.blob("normalized")
    first.tops = [blob]
    scale = caffe_records.Layer(
        site.blob("scale"), "Scale", [blob], [site.name], [("scale_param", [("bias_term", True)])], caffe_records.with_bias(True)
    )
    return [first, scale]


def _batch_norm_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    p = site.params
    fields: caffe_records.Fields = [("moving_average_fraction", round(1.0 - p["momentum"], 12)), ("eps", p["eps"])]
    if not p["track_running_stats"]:
        fields.insert(0, ("use_global_stats", False))  # PyTorch then normalizes with the batch's statistics
    first = caffe_records.Layer(site.name, "BatchNorm", site.bottoms, [site.name], [("batch_norm_param", fields)], _statistics(site))
    return _with_scale(site, first, p["affine"])


def _statistics(site: caffe_records.Site) -> caffe_records.Blobs:
    """BatchNorm's blobs: mean, variance and the factor they are divided by (1: they are stored as they are).

    Without running statistics PyTorch keeps none and normalizes with the batch's; Caffe still
    holds the three blobs, so they are written as zeros and ones.
    """
    channels, tracked = int(site.inputs[0][1] or 0), site.params["track_running_stats"]

    def blobs(t: caffe_records.Tensors) -> list[Any]:
        import numpy as np

        if tracked:
            return [t("running_mean"), t("running_var"), np.ones(1, np.float32)]
        return [np.zeros(channels, np.float32), np.ones(channels, np.float32), np.ones(1, np.float32)]

    return blobs


def _instance_norm_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    p = site.params
    if p["track_running_stats"]:
        raise Inexpressible("track_running_stats True: Caffe's MVN keeps no running statistics")
    # NOTE: MVN adds eps to the standard deviation where PyTorch adds it to the variance.
    first = caffe_records.Layer(site.name, "MVN", site.bottoms, [site.name], [("mvn_param", [("eps", p["eps"])])])
    return _with_scale(site, first, p["affine"])


def _lrn_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    p = site.params
    if p["size"] % 2 == 0:
        raise Inexpressible(f"size {p['size']}: Caffe's LRN needs an odd local_size")
    fields: caffe_records.Fields = [("local_size", p["size"]), ("alpha", p["alpha"]), ("beta", p["beta"]), ("k", p["k"])]
    return [caffe_records.Layer(site.name, "LRN", site.bottoms, [site.name], [("lrn_param", fields)])]


def _lrn_import(attrs: dict[str, Any]) -> Params:
    """An ONNX LRN's attributes as LocalResponseNorm parameters (its bias is PyTorch's k)."""
    return {
        "size": int(attrs["size"]),
        "alpha": clean(attrs.get("alpha", 1e-4)),
        "beta": clean(attrs.get("beta", 0.75)),
        "k": clean(attrs.get("bias", 1.0)),
    }


def _eps() -> Float:
    return Float("eps", 1e-5, "Added to the variance so it never divides by zero; must be positive.", min=1e-12, max=1.0)


def _batch_norm_spec(layer_type: str, doc: str, keras: str) -> LayerSpec:
    return LayerSpec(
        type=layer_type,
        category="Normalization",
        doc=doc,
        params=(
            _eps(),
            Float("momentum", 0.1, "Weight of the newest batch in the running mean and variance.", min=0.0, max=1.0),
            Bool("affine", True, "Learn a per-channel scale and shift."),
            Bool("track_running_stats", True, "Keep running mean and variance for inference."),
        ),
        infer=_batch_norm(layer_type),
        state=_statistics_state,
        count_macs=_scale_shift_macs,
        # Caffe splits it: BatchNorm holds the statistics, a Scale layer (bias_term) the affine part.
        targets=targets(f"nn.{layer_type}", keras, "BatchNormalization", "BatchNorm"),
        onnx=_batch_norm_onnx,
        pytorch=_batch_norm_pytorch(int(layer_type[-2])),
        keras=_batch_norm_keras,
        caffe=_batch_norm_caffe,
    )


def _instance_norm_spec(layer_type: str, doc: str) -> LayerSpec:
    return LayerSpec(
        type=layer_type,
        category="Normalization",
        doc=doc,
        params=(
            _eps(),
            Float("momentum", 0.1, "Weight of the newest batch in the running statistics, when tracked.", min=0.0, max=1.0),
            Bool("affine", False, "Learn a per-channel scale and shift."),
            Bool("track_running_stats", False, "Keep running statistics and use them at inference."),
        ),
        infer=_instance_norm(layer_type),
        state=_statistics_state,
        count_macs=_scale_shift_macs,
        # Keras: GroupNormalization(groups=-1) is instance norm; Caffe: MVN per channel (+ Scale).
        targets=targets(f"nn.{layer_type}", "layers.GroupNormalization", "InstanceNormalization", "MVN"),
        onnx=_instance_norm_onnx,
        pytorch=_instance_norm_pytorch(int(layer_type[-2])),
        keras=_instance_norm_keras,
        caffe=_instance_norm_caffe,
    )


SPECS = (
    _batch_norm_spec(
        "BatchNorm1d",
        "Normalizes each feature (or channel of a sequence) over the batch, then scales and shifts it.",
        "layers.BatchNormalization",
    ),
    _batch_norm_spec(
        "BatchNorm2d",
        "Normalizes each channel of an image over the batch and positions, then scales and shifts it.",
        "layers.BatchNormalization",
    ),
    _batch_norm_spec(
        "BatchNorm3d",
        "Normalizes each channel of a volume over the batch and positions, then scales and shifts it.",
        "layers.BatchNormalization",
    ),
    LayerSpec(
        type="LayerNorm",
        category="Normalization",
        doc="Normalizes each sample over its last num_dims dimensions, as in transformers.",
        params=(
            Int("num_dims", 1, "How many trailing dimensions to normalize over (1: the feature dimension).", min=1, max=8),
            _eps(),
            Bool("elementwise_affine", True, "Learn a scale per normalized element."),
            Bool("bias", True, "Learn a shift as well (needs elementwise_affine)."),
        ),
        infer=_layer_norm,
        state=_layer_norm_state,
        count_macs=_scale_shift_macs,
        targets=targets(
            "nn.LayerNorm",
            "layers.LayerNormalization",
            "LayerNormalization",
            Unsupported("BVLC Caffe has no LayerNorm layer (MVN normalizes all of C, H, W and learns no scale)"),
        ),
        onnx=_layer_norm_onnx,
        pytorch=_layer_norm_pytorch,
        keras=_layer_norm_keras,
    ),
    LayerSpec(
        type="GroupNorm",
        category="Normalization",
        doc="Normalizes each sample over groups of channels; independent of the batch size.",
        params=(
            Int("num_groups", 8, "Number of channel groups; the channels must divide evenly (1 = LayerNorm-like).", min=1, max=1024),
            _eps(),
            Bool("affine", True, "Learn a per-channel scale and shift."),
        ),
        infer=_group_norm,
        state=_affine_state,
        count_macs=_group_norm_macs,
        targets=targets(
            "nn.GroupNorm",
            "layers.GroupNormalization",
            "GroupNormalization",
            Unsupported("BVLC Caffe has no GroupNorm layer"),
        ),
        onnx=_group_norm_onnx,
        pytorch=_group_norm_pytorch,
        keras=_group_norm_keras,
        onnx_patterns=("group_norm",),
    ),
    _instance_norm_spec("InstanceNorm1d", "Normalizes each channel of each sequence over its positions."),
    _instance_norm_spec("InstanceNorm2d", "Normalizes each channel of each image over its positions, as in style transfer."),
    _instance_norm_spec("InstanceNorm3d", "Normalizes each channel of each volume over its positions."),
    LayerSpec(
        type="LocalResponseNorm",
        category="Normalization",
        doc="Divides each activation by the energy of its neighbouring channels, as in AlexNet.",
        params=(
            Int("size", 5, "Number of neighbouring channels to sum over.", min=1, max=64),
            Float("alpha", 1e-4, "Scale of the sum of squares.", min=0.0, max=10.0),
            Float("beta", 0.75, "Exponent of the divisor.", min=0.0, max=10.0),
            Float("k", 1.0, "Constant added to the divisor.", min=0.0, max=100.0),
        ),
        infer=_lrn,
        count_macs=_lrn_macs,
        targets=targets(
            "nn.LocalResponseNorm",
            "LocalResponseNorm (a small layer in the file)",
            "LRN",
            "LRN",
        ),
        onnx=_lrn_onnx,
        pytorch=_lrn_pytorch,
        keras=_lrn_keras,
        caffe=_lrn_caffe,
        onnx_import=(OnnxImport("LRN", _lrn_import),),
        onnx_patterns=("lrn",),
    ),
)
