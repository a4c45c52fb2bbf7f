"""Multi-head attention as exporters write it: projections, heads, softmax(q kᵀ) v, the output projection.

An attention block is checked by running the nodes it takes, not only by their shape: on random
inputs, against the catalogue's MultiheadAttention computed from the weights read. (The
recurrent operators' patterns are in `onnx_recurrent`.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from studio.interop.onnx_graph import BATCHES, ImportContext, run_nodes
from studio.interop.onnx_ops import floats, renamed
from studio.interop.onnx_patterns import Match, feeder, follower

if TYPE_CHECKING:
    import numpy as np
    import onnx

# ----- attention -----
PASS_THROUGH = frozenset(
    {
        "Transpose",
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Gather",
        "Slice",
        "Identity",
        "Mul",
        "Div",
        "Add",
    }
)


def attention(ctx: ImportContext, softmax: onnx.NodeProto) -> Match | None:
    """softmax(Q K^T) V between input and output projections -> MultiheadAttention, checked numerically."""
    scores = _single_live_chain(ctx, softmax.input[0], "MatMul")
    mix = follower(ctx, softmax.output[0], "MatMul")
    if scores is None or mix is None or mix.input[0] != softmax.output[0]:
        return None
    found = [
        _projection(ctx, scores.input[0]),
        _projection(ctx, scores.input[1]),
        _projection(ctx, mix.input[1]),
    ]
    after = _out_projection(ctx, mix.output[0])
    if any(p is None for p in found) or after is None:
        return None
    block = _unpacked(found)  # type: ignore[arg-type]
    if block is None:
        return None
    out_weight, out_bias, ends, weight_name = after
    name = _module_name(weight_name, softmax)
    sources = [p[0] for p in block]
    for end in ends:
        region = _region_between(ctx, sources, end)
        heads = (
            _heads(ctx, softmax, region, block, out_weight, out_bias, end)
            if region
            else None
        )
        if heads is not None:
            return Match(
                region,
                lambda c, e=end, r=region, h=heads: _emit_attention(
                    c, r, block, out_weight, out_bias, e, h, name
                ),
            )  # type: ignore[misc]
    return None


def _unpacked(
    found: list[tuple[str, Any, Any, int]],
) -> list[tuple[str, Any, Any]] | None:
    """Per query, key and value: (source, weight (E, in), bias (E,)); a projection shared by several is split in order."""
    import numpy as np

    block = []
    for i, (source, weight, bias, key) in enumerate(found):
        sharing = [j for j, f in enumerate(found) if f[3] == key]
        parts, part = len(sharing), sharing.index(i)
        if weight.shape[0] % parts:
            return None
        rows = weight.shape[0] // parts
        piece = np.asarray(weight[part * rows : (part + 1) * rows], np.float32)
        cut = (
            None
            if bias is None
            else np.asarray(bias, np.float32).reshape(-1)[
                part * rows : (part + 1) * rows
            ]
        )
        block.append((source, piece, cut))
    return block


def _single_live_chain(
    ctx: ImportContext, tensor: str, op_type: str
) -> onnx.NodeProto | None:
    """Walk back from `tensor` through scalings by constants to the node of `op_type` that makes it."""
    for _ in range(4):
        node = ctx.producer.get(tensor)
        if node is None or ctx.is_claimed(node):
            return None
        if node.op_type == op_type:
            return node
        live = [n for n in node.input if n and not ctx.is_constant(n)]
        if node.op_type not in ("Mul", "Div", "Add") or len(live) != 1:
            return None
        tensor = live[0]
    return None


def _projection(ctx: ImportContext, tensor: str) -> tuple[str, Any, Any, int] | None:
    """Walk back from a query/key/value to its input projection: (source, weight (out, in), bias or None, node index)."""
    for _ in range(24):
        node = ctx.producer.get(tensor)
        if node is None or ctx.is_claimed(node):
            return None
        live = [n for n in node.input if n and not ctx.is_constant(n)]
        if len(live) != 1:
            return None
        if (
            node.op_type == "Add"
            and (matmul := feeder(ctx, live[0], "MatMul", "Gemm")) is not None
        ):
            bias = ctx.const(next(n for n in node.input if n != live[0]))
            found = _projection_weight(ctx, matmul)
            return (found[0], found[1], bias, ctx.index[id(matmul)]) if found else None
        if node.op_type in ("MatMul", "Gemm"):
            found = _projection_weight(ctx, node)
            return (found[0], found[1], None, ctx.index[id(node)]) if found else None
        if node.op_type not in PASS_THROUGH:
            return None
        tensor = live[0]
    return None


def _projection_weight(
    ctx: ImportContext, node: onnx.NodeProto
) -> tuple[str, Any] | None:
    weight = ctx.const(node.input[1])
    if weight is None or weight.ndim != 2 or ctx.is_constant(node.input[0]):
        return None
    if node.op_type == "Gemm":
        if ctx.attrs(node).get("transA", 0) or (len(node.input) > 2 and node.input[2]):
            return None
        weight = weight if ctx.attrs(node).get("transB", 0) else weight.T
    else:
        weight = weight.T
    source = node.input[0]
    flip = feeder(ctx, source, "Transpose")
    if flip is not None and list(ctx.attrs(flip).get("perm", [])) == [1, 0, 2]:
        source = flip.input[0]
    return source, weight


def _out_projection(
    ctx: ImportContext, tensor: str
) -> tuple[Any, Any, list[str], str] | None:
    """From the attention output to the output projection: weight, bias, possible ends (farthest first), weight's name."""
    for _ in range(8):
        node = follower(ctx, tensor, "Transpose", "Reshape", "Gemm", "MatMul")
        if node is None:
            return None
        tensor = node.output[0]
        if node.op_type in ("Gemm", "MatMul"):
            weight = ctx.const(node.input[1])
            if weight is None or weight.ndim != 2:
                return None
            attrs = ctx.attrs(node)
            weight = (
                weight
                if node.op_type == "Gemm" and attrs.get("transB", 0)
                else weight.T
            )
            bias = (
                ctx.const(node.input[2])
                if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]
                else None
            )
            add = follower(ctx, tensor, "Add")
            if bias is None and add is not None:
                other = add.input[1] if add.input[0] == tensor else add.input[0]
                bias = ctx.const(other)
                if bias is not None:
                    tensor = add.output[0]
            ends = [tensor]
            for _ in range(4):
                step = follower(ctx, tensor, "Transpose", "Reshape")
                if step is None:
                    break
                tensor = step.output[0]
                ends.append(tensor)
            return weight, bias, ends[::-1], node.input[1]
    return None


def _region_between(
    ctx: ImportContext, sources: list[str], end: str
) -> list[onnx.NodeProto] | None:
    """Every node on a path from `sources` to `end`, when none of their results is read outside."""
    region: list[onnx.NodeProto] = []
    seen: set[str] = set()
    stack = [end]
    while stack:
        tensor = stack.pop()
        if tensor in seen or tensor in sources or ctx.is_constant(tensor):
            continue
        seen.add(tensor)
        node = ctx.producer.get(tensor)
        if node is None or ctx.is_claimed(node) or len(region) > 200:
            return None
        if node not in region:
            region.append(node)
            stack.extend(n for n in node.input if n)
    produced = {o for n in region for o in n.output if o}
    for tensor in produced - {end}:
        if tensor in ctx.outputs or any(
            r not in region for r in ctx.consumers.get(tensor, [])
        ):
            return None
    region.sort(key=lambda n: ctx.index[id(n)])
    return region


def _attention_weights(
    block: list[tuple[str, Any, Any]], out_weight: Any, out_bias: Any
) -> tuple[list[Any], list[Any], Any, Any, bool]:
    """Input weights, input biases, output weight and bias as float32 (zeros for absent biases), and whether any bias exists."""
    import numpy as np

    embed = out_weight.shape[0]
    has_bias = any(b is not None for b in (*(p[2] for p in block), out_bias))
    biases = [
        np.zeros(embed, np.float32)
        if p[2] is None
        else np.asarray(p[2], np.float32).reshape(-1)
        for p in block
    ]
    out_b = (
        np.zeros(embed, np.float32)
        if out_bias is None
        else np.asarray(out_bias, np.float32).reshape(-1)
    )
    return (
        [np.asarray(p[1], np.float32) for p in block],
        biases,
        np.asarray(out_weight, np.float32),
        out_b,
        has_bias,
    )


def _heads(
    ctx: ImportContext,
    softmax: onnx.NodeProto,
    region: list[onnx.NodeProto],
    block: list[tuple[str, Any, Any]],
    out_weight: Any,
    out_bias: Any,
    end: str,
) -> int | None:
    """The number of heads for which the catalogue's attention reproduces the nodes' result (None: none does)."""
    import numpy as np

    weights, biases, out_w, out_b, _ = _attention_weights(block, out_weight, out_bias)
    embed = out_w.shape[0]
    if (
        any(w.shape[0] != embed for w in weights)
        or any(b.size != embed for b in biases)
        or out_b.size != embed
    ):
        return None
    rng = np.random.default_rng(0)
    feeds: dict[str, np.ndarray] = {}
    for source, weight, _ in block:
        shape = ctx.inferred.get(source)
        if (
            shape is None
            or len(shape) != 3
            or None in shape[1:]
            or shape[2] != weight.shape[1]
        ):
            return None
        feeds.setdefault(
            source, rng.standard_normal((BATCHES[0], *shape[1:])).astype(np.float32)
        )  # type: ignore[misc]
    try:
        got = run_nodes(ctx, region, feeds, [end])[0]
    except Exception:  # noqa: BLE001 - a region the reference evaluator cannot run is not attention
        return None
    inputs = [feeds[p[0]] for p in block]
    shape = ctx.inferred.get(softmax.input[0])
    guesses = [shape[1]] if shape is not None and len(shape) == 4 and shape[1] else []
    guesses += [h for h in range(1, embed + 1) if embed % h == 0 and h not in guesses]
    if got.shape != (*inputs[0].shape[:2], embed):
        return None
    projected = projections(inputs, weights, biases, rows=CHECKED_ROWS)  # the first queries suffice to tell
    for heads in guesses[:16]:
        if _close(reference_attention(projected, out_w, out_b, heads), got[:, :CHECKED_ROWS]):
            return heads
    return None


def _emit_attention(
    ctx: ImportContext,
    region: list[onnx.NodeProto],
    block: list[tuple[str, Any, Any]],
    out_weight: Any,
    out_bias: Any,
    end: str,
    heads: int,
    name: str,
) -> None:
    import numpy as np

    sources = [ctx.resolve(p[0]) for p in block]
    weights_in, biases, out_w, out_b, has_bias = _attention_weights(
        block, out_weight, out_bias
    )
    ports = [sources[0], "", ""]
    if sources[1] != sources[0] or sources[2] != sources[0]:
        ports[1] = sources[1]
        if sources[2] != sources[1]:
            ports[2] = sources[2]
    embed = out_w.shape[0]
    weights = {"out_proj.weight": floats(out_w)}
    if all(w.shape[1] == embed for w in weights_in):
        weights["in_proj_weight"] = floats(np.concatenate(weights_in, axis=0))
    else:
        weights.update(
            q_proj_weight=floats(weights_in[0]),
            k_proj_weight=floats(weights_in[1]),
            v_proj_weight=floats(weights_in[2]),
        )
    if has_bias:
        weights["in_proj_bias"] = floats(np.concatenate(biases))
        weights["out_proj.bias"] = floats(out_b)
    ctx.emit(
        renamed(region[-1], name),
        "MultiheadAttention",
        {"num_heads": heads, "bias": has_bias},
        ports,
        end,
        weights,
    )


def _module_name(weight_name: str, softmax: onnx.NodeProto) -> str:
    """An attention block's name: its output projection's module (a.attn.out_proj.weight -> a.attn), else the softmax's."""
    parts = weight_name.split(".")
    if len(parts) >= 3 and parts[-2] == "out_proj":
        return ".".join(parts[:-2])
    return softmax.name or "attention"


CHECKED_ROWS = 16


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    import numpy as np

    return bool(np.allclose(a, b, rtol=1e-3, atol=1e-4))


def projections(inputs: list[Any], weights: list[Any], biases: list[Any], rows: int | None = None) -> tuple[Any, ...]:
    """Query, key and value as attention's input projections make them (float64); with `rows`, the first queries only."""
    import numpy as np

    return tuple(
        x.astype(np.float64) @ w.T.astype(np.float64) + b
        for x, w, b in zip((inputs[0][:, :rows], *inputs[1:]), weights, biases)
    )


def reference_attention(projected: tuple[Any, ...], out_weight: Any, out_bias: Any, heads: int) -> np.ndarray:
    """PyTorch's multi-head attention (batch first, no mask) in NumPy, from the projected query, key and value."""
    import numpy as np

    q, k, v = projected
    n, lq, e = q.shape
    width = e // heads

    def split_heads(t: np.ndarray) -> np.ndarray:
        return t.reshape(n, t.shape[1], heads, width).transpose(0, 2, 1, 3)

    q, k, v = split_heads(q), split_heads(k), split_heads(v)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(width)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    mixed = (scores @ v).transpose(0, 2, 1, 3).reshape(n, lq, e)
    return mixed @ np.asarray(out_weight, np.float64).T + out_bias
