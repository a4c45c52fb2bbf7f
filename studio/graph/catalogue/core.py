"""Core layers: graph inputs and outputs, fully connected layers, and tensor plumbing."""

from __future__ import annotations

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    SHARED,
    Folded,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    State,
    Unsupported,
    need_rank,
    numel,
    resolve_dim,
    show,
    targets,
    weight_and_bias,
)
from studio.graph.catalogue.literals import literal, slice_subscript
from studio.graph.catalogue.onnx_records import (
    INT64_MAX,
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
    axis,
    single,
    slice_records,
)
from studio.graph.catalogue.pytorch_records import module, options
from studio.graph.params import Bool, Choice, Floats, Int, Ints


def standardized_axis(sample: tuple[int, ...]) -> int:
    """The axis of one sample that an Input's mean and std run along: channels for images, else features."""
    return 0 if len(sample) != 2 else 1


def _input(p: Params, ins: list[Shape | None]) -> list[Shape]:
    mean, std, sample = p["mean"], p["std"], p["shape"]
    if mean or std:
        if p["dtype"] != "float32":
            raise ShapeError("token ids (int64) are not standardized", "clear mean and std")
        size = sample[standardized_axis(sample)]
        what = "channel" if len(sample) > 2 else "feature"
        for name, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, size):
                raise ShapeError(
                    f"{name} has {len(values)} values but the input has {size} {what}s",
                    f"give one value, or one per {what} ({size}); mean and std are both needed",
                )
    return [(None, *sample)]


def _output(p: Params, ins: list[Shape | None]) -> list[Shape]:
    return []


def _same(p: Params, ins: list[Shape | None]) -> list[Shape]:
    return [ins[0]]  # type: ignore[list-item]


def _linear(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    hint = "insert a Flatten before it" if len(x) > 3 else ""
    need_rank(x, (2, 3), "a 2-D input (N, features) or a sequence (N, T, features)", hint)
    return [(*x[:-1], p["out_features"])]


def _linear_state(p: Params, ins: list[Shape]) -> State:
    return weight_and_bias((p["out_features"], ins[0][-1]), p["bias"])


def _linear_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0]) * (ins[0][-1] or 0)


def _flatten(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_rank(x, tuple(range(2, 17)), "an input with at least one dimension besides the batch")
    start, end = resolve_dim(p["start_dim"], x, "flatten"), resolve_dim(p["end_dim"], x, "flatten")
    if end < start:
        raise ShapeError(
            f"flattens from dim {p['start_dim']} to dim {p['end_dim']} of its input {show(x)}, but the second comes first",
            "choose end_dim at or after start_dim (-1: the last)",
        )
    return [(*x[:start], numel((None, *x[start : end + 1])), *x[end + 1 :])]


def _flattens_all(p: Params, x: Shape) -> bool:
    """True for the default Flatten: every dimension but the batch into one."""
    return p["start_dim"] % len(x) == 1 and p["end_dim"] % len(x) == len(x) - 1


def _sizes(values: list[int] | tuple[int, ...]) -> str:
    """Format a shape parameter as a user reads it: (5, -1), or (5) for one size."""
    return "(" + ", ".join(str(v) for v in values) + ")"


def _listed(values: list[int]) -> str:
    """Join numbers as a sentence does: 1, 2 and 3."""
    return ", ".join(map(str, values[:-1])) + f" and {values[-1]}" if len(values) > 1 else str(values[0])


def _reshape(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    batch, prefix, sample = _batch_move(p.get("batch", "keep"), x)
    target = list(p["shape"])
    total = numel(sample)
    known = 1
    for d in target:
        known *= d if d != -1 else 1
    if -1 in target:
        if known == 0 or total % known:
            raise ShapeError(
                f"cannot reshape {show(sample)} ({total} values per sample) to {_sizes(target)}: "
                f"{total} is not divisible by {known}",
                "choose sizes whose product divides the input size",
            )
        target[target.index(-1)] = total // known
    elif known != total:
        raise ShapeError(
            f"cannot reshape {show(sample)} ({total} values per sample) to {_sizes(target)} ({known} values)",
            f"choose sizes that multiply to {total}, or use -1 for one of them (it is then inferred)",
        )
    return [(batch, *prefix, *target)]


def _batch_move(mode: str, x: Shape) -> tuple[int | None, tuple[int, ...], Shape]:
    """What a Reshape's `batch` mode does: (the output's batch, sizes put before the target, what the target reshapes)."""
    if mode == "keep":
        return x[0], (), x
    if x[0] == SHARED:
        raise ShapeError(f"cannot {mode} the batch of {show(x)}: every sample shares it", "set batch to keep")
    if mode == "fold":
        if len(x) < 3:
            raise ShapeError(f"has nothing to fold into the batch of {show(x)}: folding takes the first dimension after it and leaves the rest", "set batch to keep")
        factor = (int(x[0]) if isinstance(x[0], Folded) else 1) * int(x[1] or 1)
        return (Folded(factor) if factor > 1 else x[0]), (), (None, *x[2:])
    if not isinstance(x[0], Folded):
        raise ShapeError(f"has no folded batch to unfold: its input is {show(x)}", "fold the batch first (an earlier Reshape with batch fold), or set batch to keep")
    return None, (int(x[0]),), (None, *x[1:])


def _permute(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    dims = p["dims"]
    rank = len(x) - 1
    if sorted(dims) != list(range(1, rank + 1)):
        valid = ", ".join(str(i) for i in range(1, rank + 1))
        if len(dims) != rank:
            plural = "dimension" if rank == 1 else "dimensions"
            message = f"has dims {_sizes(dims)} but its input {show(x)} has {rank} non-batch {plural}"
        else:
            beyond = sorted({d for d in dims if d > rank})
            repeated = sorted({d for d in dims if dims.count(d) > 1})
            missing = [d for d in range(1, rank + 1) if d not in dims]
            problems = [f"there is no dimension{'s' if len(beyond) > 1 else ''} {_listed(beyond)}"] if beyond else []
            problems += [f"{_listed(repeated)} {'is' if len(repeated) == 1 else 'are'} repeated"] if repeated else []
            problems += [f"{_listed(missing)} {'is' if len(missing) == 1 else 'are'} left out"] if missing else []
            message = f"has dims {_sizes(dims)} for its input {show(x)}, but {' and '.join(problems)}"
        if rank == 1:
            raise ShapeError(message, "set dims to 1, since a single dimension has nothing to swap with (or remove the Permute)")
        raise ShapeError(message, f"list each of {valid} once (the batch dimension stays first)")
    return [(None, *(x[d] for d in dims))]


def _slice(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    axis = resolve_dim(p["dim"], x, "slice")
    start, length, size = p["start"], p["length"], x[axis]
    if size is not None and not length and start >= size:
        raise ShapeError(
            f"starts at index {start} along dim {p['dim']}, but its input {show(x)} has only {size} there",
            f"choose start below {size}",
        )
    if size is not None and start + length > size:
        room = f"start at most {size - length}" if length <= size else f"length at most {size}"
        raise ShapeError(
            f"takes {length} entries from index {start} along dim {p['dim']}, "
            f"but its input {show(x)} has only {size} there",
            f"choose start + length up to {size} ({room}), or length 0 to keep the rest",
        )
    kept = length or (None if size is None else size - start)
    return [(*x[:axis], kept, *x[axis + 1 :])]


# ----- ONNX -----
def _linear_onnx(site: OnnxSite) -> list[OnnxRecord]:
    bias = site.weights.get("bias")
    if len(site.shape) == 2:
        inputs = (site.x, site.weights["weight"], *([bias] if bias else []))
        return [OnnxNode("Gemm", inputs, (site.output,), {"transB": 1})]
    matrix = OnnxWeight(site.fresh("weight_t"), "weight", transpose=True)  # a sequence: MatMul over the last dimension
    if bias is None:
        return [matrix, OnnxNode("MatMul", (site.x, matrix.name), (site.output,))]
    product = site.fresh("product")
    return [matrix, OnnxNode("MatMul", (site.x, matrix.name), (product,)), OnnxNode("Add", (product, bias), (site.output,))]


def _flatten_onnx(site: OnnxSite) -> list[OnnxRecord]:
    """ONNX's Flatten makes a 2-D tensor: the default form only; a Reshape to the sizes otherwise."""
    if _flattens_all(site.params, site.shape):
        return [OnnxNode("Flatten", (site.x,), (site.output,))]  # axis 1 is the default
    shape = OnnxConstant(site.fresh("shape"), (0, *(int(d or 0) for d in _flatten(site.params, [site.shape])[0][1:])))
    return [shape, OnnxNode("Reshape", (site.x, shape.name), (site.output,))]


def _reshape_target(params: Params, x: Shape) -> tuple[int, ...]:
    """The full target a Reshape writes: 0 keeps the batch, -1 lets a folded or unfolded batch follow."""
    if params.get("batch", "keep") == "keep":
        return (0, *params["shape"])
    return (-1, *(int(d or 0) for d in _reshape(params, [x])[0][1:]))


def _reshape_onnx(site: OnnxSite) -> list[OnnxRecord]:
    shape = OnnxConstant(site.fresh("shape"), _reshape_target(site.params, site.shape))
    return [shape, OnnxNode("Reshape", (site.x, shape.name), (site.output,))]


def _slice_onnx(site: OnnxSite) -> list[OnnxRecord]:
    start, length = site.params["start"], site.params["length"]
    end = start + length if length else INT64_MAX
    return slice_records(site, site.x, start, end, axis(site.params["dim"], len(site.shape)), site.output)


# ----- PyTorch -----
def _linear_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return module(s, "nn.Linear", str(s.shape[-1]), str(s.params["out_features"]), *options(s.params, {"bias": True}))


def _reshape_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    target = _reshape_target(s.params, s.shape)
    first = f"{s.x}.size(0)" if target[0] == 0 else "-1"
    dims = ", ".join(str(d) for d in target[1:])
    return pytorch_records.Emitted(None, pytorch_records.Call(f"{s.x}.reshape", (first, dims)))


def _reshape_keras(s: keras_records.Site) -> keras_records.Emitted:
    target = _reshape_target(s.params, s.shape)
    if target[0] == 0:
        return keras_records.layer(s, "Reshape", literal(tuple(s.params["shape"])))
    return keras_records.Emitted([keras_records.function(s, f"ops.reshape(t, {literal(target)})", shape=target[1:])])


def _permute_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return pytorch_records.Emitted(None, pytorch_records.Call(f"{s.x}.permute", ("0", *(str(d) for d in s.params["dims"]))))


def _slice_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    return pytorch_records.Emitted(None, pytorch_records.Raw(s.x + slice_subscript(p["dim"], len(s.shape), p["start"], p["length"])))


# ----- Keras -----
def _linear_keras(s: keras_records.Site) -> keras_records.Emitted:
    bias = s.params["bias"]
    args = [str(s.params["out_features"]), *([] if bias else ["use_bias=False"])]
    return keras_records.layer(s, "Dense", *args, convert=keras_records.dense_weights(bias))


def _flatten_keras(s: keras_records.Site) -> keras_records.Emitted:
    # NOTE: layers.Flatten reorders channels-first input when the user's Keras config says
    # channels_first; a reshape keeps PyTorch's (C, H, W) order whatever the config.
    if _flattens_all(s.params, s.shape):
        return keras_records.layer(s, "Reshape", "(-1,)")
    return keras_records.layer(s, "Reshape", literal(tuple(s.output[1:])))


def _flatten_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    rank = site.rank()
    fields: caffe_records.Fields = []
    if site.params["start_dim"] % rank != 1:
        fields.append(("axis", site.params["start_dim"] % rank))
    if site.params["end_dim"] % rank != rank - 1:
        fields.append(("end_axis", site.params["end_dim"] % rank))
    return [caffe_records.Layer(site.name, "Flatten", site.bottoms, [site.name], [("flatten_param", fields)] if fields else [])]


def _slice_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    return keras_records.Emitted([keras_records.function(s, "t" + slice_subscript(p["dim"], len(s.shape), p["start"], p["length"]))])


# ----- Caffe -----
def _inner_product(site: caffe_records.Site) -> list[caffe_records.Layer]:
    fields: caffe_records.Fields = [("num_output", site.params["out_features"])]
    if not site.params["bias"]:
        fields.append(("bias_term", False))
    if site.rank() != 2:
        fields.append(("axis", site.rank() - 1))  # Linear acts on the last axis only
    weights = caffe_records.with_bias(site.params["bias"])  # (out, in): Caffe's layout unless transpose is set
    return [caffe_records.Layer(site.name, "InnerProduct", site.bottoms, [site.name], [("inner_product_param", fields)], weights)]


def _reshape_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    dims: caffe_records.Fields = [("dim", d) for d in _reshape_target(site.params, site.inputs[0])]
    return [caffe_records.Layer(site.name, "Reshape", site.bottoms, [site.name], [("reshape_param", [("shape", dims)])])]


def _slice_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """Caffe's Slice cuts a blob into pieces at slice points; the pieces not kept are silenced."""
    along = caffe_records.axis(site.params["dim"], site.rank())
    size = int(site.inputs[0][along] or 0)
    start, length = site.params["start"], site.params["length"] or size - site.params["start"]
    if start == 0 and length == size:
        return caffe_records.simple("Split")(site)
    points = [p for p in (start, start + length) if 0 < p < size]
    tops = [site.blob(f"piece{i}") for i in range(len(points) + 1)]
    tops[1 if start else 0] = site.name
    cut: caffe_records.Fields = [("axis", along), *(("slice_point", p) for p in points)]
    rest = [t for t in tops if t != site.name]
    return [
        caffe_records.Layer(site.name, "Slice", site.bottoms, tops, [("slice_param", cut)]),
        caffe_records.Layer(site.blob("silence"), "Silence", rest, []),
    ]


SPECS = (
    LayerSpec(
        type="Input",
        category="Input/Output",
        doc="A network input: a tensor of the given shape per sample (the batch dimension is added).",
        params=(
            Ints("shape", (1, 28, 28), "Shape of one sample, channels first, without the batch dimension.", min=1, max=1_000_000),
            Choice("dtype", "float32", ("float32", "int64"), "Element type: float32 for data, int64 for token ids."),
            Floats("mean", "Subtracted from each sample first: one value, or one per channel (images) or feature; training fills it in."),
            Floats("std", "Then divided into each sample: one value, or one per channel or feature (none: no standardization).", min=1e-6),
        ),
        infer=_input,
        inputs=(),
        output_dtype="param:dtype",
        targets=targets("forward() argument", "keras.Input", "graph input", "Input"),
    ),
    LayerSpec(
        type="Output",
        category="Input/Output",
        doc="A network output: marks the tensor the model returns.",
        params=(),
        infer=_output,
        outputs=(),
        input_dtype="any",
        batch="sample",
        targets=targets("forward() return value", "keras.Model outputs", "graph output", "top blob"),
    ),
    LayerSpec(
        type="Identity",
        category="Utility",
        doc="Passes its input through unchanged; useful as a named junction.",
        params=(),
        infer=_same,
        input_dtype="any",
        output_dtype="same",
        targets=targets("nn.Identity", "layers.Identity", "Identity", "Split"),
        onnx=single("Identity"),
        pytorch=lambda s: module(s, "nn.Identity"),
        keras=lambda s: keras_records.layer(s, "Identity"),
        caffe=caffe_records.simple("Split"),
    ),
    LayerSpec(
        type="Linear",
        category="Dense",
        doc="Fully connected layer: each output is a learned weighted sum of the input features (the last dimension).",
        params=(
            Int("out_features", 64, "Number of output features.", min=1, max=1_000_000),
            Bool("bias", True, "Learn an additive bias."),
        ),
        infer=_linear,
        state=_linear_state,
        count_macs=_linear_macs,
        targets=targets("nn.Linear", "layers.Dense", "Gemm", "InnerProduct"),
        onnx=_linear_onnx,
        pytorch=_linear_pytorch,
        keras=_linear_keras,
        caffe=_inner_product,
        onnx_patterns=("folded_linear", "matmul_add"),
    ),
    LayerSpec(
        type="Flatten",
        category="Reshape",
        doc="Flattens dimensions into one: by default every dimension but the batch, into one feature vector.",
        params=(
            Int("start_dim", 1, "First dimension flattened, counted with the batch as 0 (never the batch).", min=-16, max=16),
            Int("end_dim", -1, "Last dimension flattened (-1: the last).", min=-16, max=16),
        ),
        infer=_flatten,
        input_dtype="any",
        output_dtype="same",
        targets=targets("nn.Flatten", "layers.Reshape", "Flatten", "Flatten"),
        onnx=_flatten_onnx,
        pytorch=lambda s: module(s, "nn.Flatten", *options(s.params, {"start_dim": 1, "end_dim": -1})),
        keras=_flatten_keras,
        caffe=_flatten_caffe,
    ),
    LayerSpec(
        type="Reshape",
        category="Reshape",
        doc="Reshapes each sample to the given shape; can fold a dimension into the batch and back, as attention heads are.",
        params=(
            Ints("shape", (-1,), "Target shape without the batch dimension; one size may be -1 (inferred).", min=1, max=1_000_000, allow_minus_one=True),
            Choice(
                "batch",
                "keep",
                ("keep", "fold", "unfold"),
                "keep: reshape each sample. fold: each sample's first dimension joins the batch, (N, H, …) → (N×H, shape). "
                "unfold: the folded factor leaves the batch again, (N×H, …) → (N, H, shape).",
            ),
        ),
        infer=_reshape,
        batch="own",
        input_dtype="any",
        output_dtype="same",
        targets=targets("torch.reshape", "layers.Reshape", "Reshape", "Reshape"),
        onnx=_reshape_onnx,
        pytorch=_reshape_pytorch,
        keras=_reshape_keras,
        caffe=_reshape_caffe,
    ),
    LayerSpec(
        type="Permute",
        category="Reshape",
        doc="Reorders the non-batch dimensions; dims are 1-based, as in Keras.",
        params=(Ints("dims", (2, 1), "New order of the non-batch dimensions, numbered from 1.", min=1, max=16),),
        infer=_permute,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.permute", "layers.Permute", "Transpose", Unsupported("BVLC Caffe has no Permute layer")),
        onnx=lambda site: [OnnxNode("Transpose", (site.x,), (site.output,), {"perm": [0, *site.params["dims"]]})],
        pytorch=_permute_pytorch,
        keras=lambda s: keras_records.layer(s, "Permute", literal(tuple(s.params["dims"]))),
    ),
    LayerSpec(
        type="Slice",
        category="Reshape",
        doc="Keeps a window of consecutive entries along one dimension (from start, length of them): a channel group, a time window.",
        params=(
            Int("dim", 1, "Dimension to slice, counted with the batch as 0 (1: channels, -1: the last).", min=-16, max=16),
            Int("start", 0, "Index of the first entry kept (0 is the first).", min=0, max=1_000_000),
            Int("length", 1, "Number of consecutive entries kept; 0 keeps all from start to the end.", min=0, max=1_000_000, special="to the end"),
        ),
        infer=_slice,
        input_dtype="any",
        output_dtype="same",
        targets=targets("Tensor.narrow", "tensor indexing", "Slice", "Slice"),
        onnx=_slice_onnx,
        pytorch=_slice_pytorch,
        keras=_slice_keras,
        caffe=_slice_caffe,
    ),
)
