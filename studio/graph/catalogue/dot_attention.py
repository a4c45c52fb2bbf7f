"""Scaled dot-product attention of given queries, keys and values: softmax(q kᵀ · scale + mask) v.

The layer holds no weights (MultiheadAttention and the transformer layers in `attention.py`
hold the projections). Queries (N, …, L, E), keys (N, …, S, E) and values (N, …, S, Ev) give
(N, …, L, Ev); leading sizes broadcast where one of them is 1, and a mask is added to the scores
(0 where a query may look, a large negative number or -inf where it may not), so a padding mask,
an ALiBi bias or any other additive bias fits. `causal` hides every key after the query's
position, as PyTorch's `is_causal` does (top-left aligned).
"""

from __future__ import annotations

import math

from studio.graph.catalogue import keras_records, pytorch_records
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Port,
    Shape,
    ShapeError,
    Unsupported,
    show,
    targets,
)
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    causal_mask,
)
from studio.graph.catalogue.pytorch_records import kw
from studio.graph.params import Bool, Float

_PORTS = ("query", "key", "value", "mask")


def _broadcast(shapes: list[tuple[str, Shape]], what: str) -> list[int | None]:
    """The leading sizes (batch left out) several inputs broadcast to, or ShapeError naming the pair."""
    out = list(shapes[0][1])
    for name, shape in shapes[1:]:
        for dim, size in enumerate(shape):
            if size == out[dim] or size == 1:
                continue
            if out[dim] != 1:
                raise ShapeError(
                    f"cannot broadcast the {what} of {shapes[0][0]} {show((None, *shapes[0][1]))} and {name} {show((None, *shape))}",
                    "sizes broadcast only where they are equal or one of them is 1",
                )
            out[dim] = size
    return out


def _attention(p: Params, ins: list[Shape | None]) -> list[Shape]:
    q, k, v, mask = ins
    assert q is not None and k is not None and v is not None
    for name, x in zip(_PORTS, (q, k, v)):
        if len(x) < 3:
            raise ShapeError(f"needs a sequence (N, …, length, features) as {name} but gets {show(x)}", "connect a sequence, e.g. (N, T, D)")
        if len(x) != len(q):
            raise ShapeError(
                f"needs query, key and value of one rank but gets query {show(q)} and {name} {show(x)}",
                "split or join heads with a Reshape so all three have the same number of dimensions",
            )
    if k[-1] != q[-1]:
        raise ShapeError(f"needs keys as wide as queries but gets query {show(q)} and key {show(k)}", f"project the keys to {q[-1]} features with a Linear")
    if v[-2] != k[-2]:
        raise ShapeError(f"needs one value per key but gets key {show(k)} and value {show(v)}", "give key and value the same length (dimension -2)")
    leading = _broadcast([(n, x[1:-2]) for n, x in zip(_PORTS, (q, k, v))], "leading sizes")
    scores = (*leading, q[-2], k[-2])
    if mask is not None:
        if len(mask) != len(q):
            raise ShapeError(
                f"needs a mask of the queries' rank, broadcasting to the scores {show((None, *scores))}, but gets {show(mask)}",
                "reshape the mask with sizes of 1 where it is the same for every head or query, e.g. (1, 1, S)",
            )
        if any(m not in (1, n) for m, n in zip(mask[1:], scores)):
            raise ShapeError(
                f"needs a mask that broadcasts to the scores {show((None, *scores))} but gets {show(mask)}",
                "give each mask dimension the scores' size there, or 1",
            )
        if p["causal"]:
            raise ShapeError("has both a mask and causal set", "fold the causal pattern into the mask, or leave the mask out")
    return [(None, *leading, q[-2], v[-1])]


def _macs(p: Params, ins: list[Shape | None], outs: list[Shape]) -> int:
    q, k, v = ins[0], ins[1], ins[2]
    assert q is not None and k is not None and v is not None
    per_query = (k[-2] or 0) * ((q[-1] or 0) + (v[-1] or 0))
    return math.prod(d or 0 for d in outs[0][1:-1]) * per_query


def _scale(p: Params, q: Shape) -> float:
    return p["scale"] or 1 / math.sqrt(q[-1] or 1)


def _pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    q, k, v, mask = s.args
    args = [str(q), str(k), str(v)]
    if mask is not None:
        args.append(f"attn_mask={mask}")
    if s.params["dropout"]:
        args.append(f"dropout_p={s.params['dropout']!r} if self.training else 0.0")
    if s.params["causal"]:
        args.append(kw("is_causal", True))
    if s.params["scale"]:
        args.append(kw("scale", s.params["scale"]))
    return pytorch_records.Emitted(None, pytorch_records.Call("nn.functional.scaled_dot_product_attention", tuple(args)))


def _keras(s: keras_records.Site) -> keras_records.Emitted:
    inputs = ", ".join(str(a) for a in s.args if a is not None)
    options = [kw("scale", _scale(s.params, s.inputs[0])), *([kw("causal", True)] if s.params["causal"] else [])]  # type: ignore[arg-type]
    body = f"dot_product_attention(*t, {', '.join(options)})"
    return keras_records.Emitted([keras_records.function(s, body, x=f"[{inputs}]")], helpers=("dot_product_attention",))


def _onnx(site: OnnxSite) -> list[OnnxRecord]:
    q, k, v, mask = site.names
    assert q is not None and k is not None and v is not None
    rank = len(site.shape)
    length, keys = site.inputs[0][-2], site.inputs[1][-2]  # type: ignore[index]
    keys_t, raw, scaled, weights = (site.fresh(n) for n in ("keys_t", "raw", "scaled", "weights"))
    scale = OnnxConstant(site.fresh("scale"), (_scale(site.params, site.shape),), "float32", ())
    perm = [*range(rank - 2), rank - 1, rank - 2]
    records: list[OnnxRecord] = [
        scale,
        OnnxNode("Transpose", (k,), (keys_t,), {"perm": perm}),
        OnnxNode("MatMul", (q, keys_t), (raw,)),
        OnnxNode("Mul", (raw, scale.name), (scaled,)),
    ]
    bias = mask
    if site.params["causal"]:
        causal = causal_mask(site, length or 0, keys or 0)
        records.append(causal)
        bias = causal.name
    if bias is not None:
        masked = site.fresh("masked")
        records.append(OnnxNode("Add", (scaled, bias), (masked,)))
        scaled = masked
    records += [
        OnnxNode("Softmax", (scaled,), (weights,), {"axis": -1}),
        OnnxNode("MatMul", (weights, v), (site.output,)),
    ]
    return records


SPECS = (
    LayerSpec(
        type="ScaledDotProductAttention",
        category="Attention",
        doc="softmax(q kᵀ · scale + mask) v for given queries, keys and values; the mask is added to the scores.",
        params=(
            Bool("causal", False, "Hide every key after the query's position (a decoder's causal mask)."),
            Float("scale", 0.0, "Factor on the scores (0: 1 / sqrt(features), the usual one).", min=0.0, max=1e6),
            Float("dropout", 0.0, "Dropout on the attention weights while training.", min=0.0, max=0.99),
        ),
        infer=_attention,
        inputs=(Port("query"), Port("key"), Port("value"), Port("mask", optional=True)),
        count_macs=_macs,
        shares=True,
        targets=targets(
            "F.scaled_dot_product_attention",
            "ops.matmul, ops.softmax",
            "MatMul, Softmax",
            Unsupported("BVLC Caffe has no product of two blobs to compute attention scores with"),
        ),
        pytorch=_pytorch,
        keras=_keras,
        onnx=_onnx,
        onnx_patterns=("dot_attention", "nan_guard"),  # the guard dynamo exports put after attention's softmax
    ),
)
