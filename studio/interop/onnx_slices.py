"""ONNX Slice and Split as catalogue layers: Slice windows along one non-batch dimension, or a Split.

A Slice whose end is "to the end" (INT64_MAX) keeps that meaning as the layer's length 0. A
Split whose every part is read becomes one Split (or Chunk) layer by the family's rule; one with
parts nothing reads becomes a Slice per part that is, the others left out like any dead branch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.interop.common import Unmappable
from studio.interop.onnx_family import family_mapper
from studio.interop.onnx_graph import ImportContext
from studio.interop.onnx_ops import Mapper, constant, data_input, known_shape, renamed

if TYPE_CHECKING:
    import onnx

# An end at least this large reaches the end of any dimension (exporters write INT64_MAX).
TO_THE_END = (1 << 31) - 1


def _ints(value: Any) -> list[int]:
    import numpy as np

    return [int(v) for v in np.asarray(value).ravel()]


def _window(start: int, end: int, size: int) -> tuple[int, int]:
    """ONNX's clamping of a step-1 slice: negative indices count from the end, both stay within [0, size]."""
    start, end = (i + size if i < 0 else i for i in (start, end))
    return min(max(start, 0), size), min(max(end, 0), size)


def _slice_spec(
    ctx: ImportContext, node: onnx.NodeProto, rank: int
) -> list[tuple[int, int, int, int]]:
    """(axis, start, end, step) per sliced axis: attributes before opset 10, constant inputs after."""
    attrs = ctx.attrs(node)
    if "starts" in attrs:
        starts, ends = _ints(attrs["starts"]), _ints(attrs.get("ends", []))
        axes = _ints(attrs["axes"]) if "axes" in attrs else list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts = _ints(constant(ctx, node, 1, "starts"))
        ends = _ints(constant(ctx, node, 2, "ends"))
        axes_value = constant(ctx, node, 3, "axes", optional=True)
        steps_value = constant(ctx, node, 4, "steps", optional=True)
        axes = _ints(axes_value) if axes_value is not None else list(range(len(starts)))
        steps = _ints(steps_value) if steps_value is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise Unmappable("Slice (starts, ends, axes and steps of different lengths)")
    if any(not -rank <= a < rank for a in axes):
        raise Unmappable(f"Slice (axes {axes} of a {rank}-D tensor)")
    return [(a % rank, *rest) for a, *rest in zip(axes, starts, ends, steps)]


def _slice(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    windows: dict[int, tuple[int, int] | tuple[int, ...]] = {}
    picks: dict[int, tuple[int, ...]] = {}
    spec = _slice_spec(ctx, node, len(shape))
    if spec and all(step == -1 and (start >= int(shape[axis] or 0) - 1 or start == -1) and end <= -int(shape[axis] or 0) - 1 for axis, start, end, step in spec):
        raise Unmappable("Slice (reversing whole axes)")  # the Flip layer's rule takes it
    for axis, start, end, step in spec:
        if step == 0:
            raise Unmappable("Slice (with step 0)")
        if axis == 0:
            if start != 0 or end < TO_THE_END or step != 1:
                raise Unmappable("Slice (over the batch dimension)")
            continue
        if step != 1:  # every k-th entry (Swin's patch merging x[..., 0::2, 1::2, :]): the entries picked by index
            picks[axis] = tuple(range(*slice(start, end, step).indices(int(shape[axis]))))
            if not picks[axis]:
                raise Unmappable("Slice (an empty window)")
            windows[axis] = picks[axis]
            continue
        low, high = _window(start, end, shape[axis])
        if high <= low:
            raise Unmappable("Slice (an empty window)")
        if high - low < shape[axis]:
            windows[axis] = (low, 0 if end >= TO_THE_END else high - low)
    if not windows:
        ctx.alias(node.output[0], x)
        return
    # A window on several axes (a U-Net crop) becomes one Slice layer per axis, in a chain.
    last = max(windows)
    for axis, window in sorted(windows.items()):
        output = node.output[0] if axis == last else f"{node.output[0]}/dim{axis}"
        part = node if len(windows) == 1 else renamed(node, f"{node.name or 'slice'}_dim{axis}")
        if axis in picks:
            ctx.emit(part, "IndexSelect", {"dim": axis, "indices": picks[axis], "keepdim": True}, [x], output)
            if x in ctx.int_tensors:
                ctx.int_tensors.add(output)
        else:
            _emit_window(ctx, part, x, axis, *window, output)  # type: ignore[misc]
        x = output


def _emit_window(
    ctx: ImportContext,
    node: onnx.NodeProto,
    x: str,
    axis: int,
    start: int,
    length: int,
    output: str,
) -> None:
    params = {"dim": axis, "start": start, "length": length}
    ctx.emit(node, "Slice", params, [x], output)
    if x in ctx.int_tensors:
        ctx.int_tensors.add(output)


def _split_sizes(ctx: ImportContext, node: onnx.NodeProto, size: int) -> list[int]:
    """The length of each part: given (attribute or constant input), else equal parts (the last smaller with num_outputs)."""
    attrs = ctx.attrs(node)
    given = (
        attrs.get("split")
        if "split" in attrs
        else constant(ctx, node, 1, "split", optional=True)
    )
    parts = len(node.output)
    if given is not None and len(_ints(given)):
        sizes = _ints(given)
    elif "num_outputs" in attrs:
        step = -(-size // parts)
        sizes = [min(step, max(size - i * step, 0)) for i in range(parts)]
    elif size % parts:
        raise Unmappable(f"Split ({size} entries into {parts} equal parts)")
    else:
        sizes = [size // parts] * parts
    if len(sizes) != parts or sum(sizes) != size or min(sizes) < 0:
        raise Unmappable(f"Split (parts {sizes} of {size} entries)")
    return sizes


def _split(ctx: ImportContext, node: onnx.NodeProto) -> None:
    x = data_input(ctx, node)
    shape = known_shape(ctx, node, x)
    axis = int(ctx.attrs(node).get("axis", 0)) % len(shape)
    if axis == 0:
        raise Unmappable("Split (over the batch dimension)")
    sizes = _split_sizes(ctx, node, shape[axis])
    read = [bool(output) and _reaches_an_output(ctx, output) for output in node.output]
    whole = family_mapper("Split")
    if len(sizes) > 1 and min(sizes) > 0 and all(read) and whole is not None:
        whole(ctx, node)
        return
    name = node.name or "split"
    start = 0
    for i, (output, length) in enumerate(zip(node.output, sizes)):
        used = output and _reaches_an_output(ctx, output)
        if used and length == shape[axis]:
            ctx.alias(output, x)
        elif used and length == 0:
            raise Unmappable("Split (an empty part that is read)")
        elif used:
            part = renamed(node, f"{name}_{i}")
            _emit_window(ctx, part, x, axis, start, length, output)
        start += length


def _reaches_an_output(ctx: ImportContext, tensor: str) -> bool:
    """True when a graph output depends on `tensor`: a part nothing needs is left out, like any dead branch."""
    seen, frontier = {tensor}, [tensor]
    while frontier:
        name = frontier.pop()
        if name in ctx.outputs:
            return True
        for reader in ctx.consumers.get(name, []):
            fresh = [o for o in reader.output if o and o not in seen]
            seen.update(fresh)
            frontier.extend(fresh)
    return False


SLICE_MAPPERS: dict[str, Mapper] = {"Slice": _slice, "Split": _split}


def sequences_as_slices(graph: onnx.GraphProto) -> None:
    """Rewrite dynamo's unoptimized `torch.split` in place: SplitToSequence by a constant size, read by SequenceAt at constant indices, as one Slice per piece read.

    The piece count needs the split dimension's size, which is not known before shapes are
    inferred; a piece's window is not: piece i of size s is entries [i*s, (i+1)*s).
    """
    import numpy as np
    from onnx import helper, numpy_helper

    values = {t.name: t for t in graph.initializer}
    values.update({n.output[0]: n.attribute[0].t for n in graph.node if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value"})

    def scalar(name: str) -> int | None:
        found = values.get(name)
        array = numpy_helper.to_array(found) if found is not None else None
        return int(array) if array is not None and array.size == 1 and array.ndim <= 1 and np.issubdtype(array.dtype, np.integer) else None

    splits = {}
    for node in graph.node:
        if node.op_type == "SplitToSequence" and len(node.input) == 2 and (size := scalar(node.input[1])) is not None and size > 0:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("keepdims", 1) == 1:
                splits[node.output[0]] = (node.input[0], size, int(attrs.get("axis", 0)))
    readers = [n for n in graph.node if any(i in splits for i in n.input)]
    if not splits or any(n.op_type != "SequenceAt" or scalar(n.input[1]) is None or scalar(n.input[1]) < 0 for n in readers):
        return
    rewritten = []
    for node in graph.node:
        if node.input and node.input[0] in splits and node.op_type == "SequenceAt":
            source, size, axis = splits[node.input[0]]
            index = scalar(node.input[1])
            bounds = []
            for role, value in (("starts", index * size), ("ends", (index + 1) * size), ("axes", axis)):
                name = f"{node.output[0]}_{role}"
                graph.initializer.append(numpy_helper.from_array(np.array([value], dtype=np.int64), name))
                bounds.append(name)
            sliced = helper.make_node("Slice", [source, *bounds], list(node.output), name=node.name)
            sliced.metadata_props.extend(node.metadata_props)
            rewritten.append(sliced)
        elif not (node.op_type == "SplitToSequence" and node.output[0] in splits):
            rewritten.append(node)
    del graph.node[:]
    graph.node.extend(rewritten)
