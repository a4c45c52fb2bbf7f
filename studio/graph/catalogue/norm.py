"""Normalization layers: batch, layer, group, instance and local response normalization."""

from __future__ import annotations

from studio.graph.catalogue.base import (
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
    ),
)
