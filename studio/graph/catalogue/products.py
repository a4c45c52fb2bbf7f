"""Matrix products of two activations: MatMul, as attention's scores (q @ kᵀ) and mixing (weights @ v) are."""

from __future__ import annotations

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
from studio.graph.catalogue.onnx_records import OnnxNode, OnnxRecord, OnnxSite


def _matmul(p: Params, ins: list[Shape | None]) -> list[Shape]:
    a, b = ins
    assert a is not None and b is not None
    for port, x in (("a", a), ("b", b)):
        if len(x) < 3:
            raise ShapeError(
                f"needs each sample of {port} to be a matrix (N, ..., rows, columns) but gets {show(x)}",
                "a product of vectors would mix samples: use a Linear for a learned product, or Reshape to (1, n) first",
            )
    if len(a) != len(b):
        raise ShapeError(
            f"needs a and b with the same number of dimensions but gets a {show(a)} and b {show(b)}",
            "insert a Reshape (with sizes of 1 to broadcast) before the smaller one",
        )
    if a[-1] != b[-2]:
        raise ShapeError(
            f"cannot multiply a {show(a)} by b {show(b)}: a's columns ({a[-1]}) must equal b's rows ({b[-2]})",
            "transpose b's last two dimensions (a Permute) if it holds one vector per row, as keys do",
        )
    middle = []
    for dim, (m, n) in enumerate(zip(a[1:-2], b[1:-2]), start=1):
        if m != n and 1 not in (m, n):
            raise ShapeError(
                f"cannot broadcast a {show(a)} with b {show(b)}: dim {dim} is {m} against {n}",
                "sizes broadcast only where they are equal or one of them is 1",
            )
        middle.append(n if m == 1 else m)
    return [(None, *middle, a[-2], b[-1])]


def _matmul_macs(p: Params, ins: list[Shape | None], outs: list[Shape]) -> int:
    total = ins[0][-1] or 0  # type: ignore[index]
    for d in outs[0][1:]:
        total *= d or 0
    return total


def _pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    a, b = s.args
    return pytorch_records.Emitted(None, pytorch_records.Call("torch.matmul", (str(a), str(b))))


def _keras(s: keras_records.Site) -> keras_records.Emitted:
    a, b = s.args
    return keras_records.Emitted([keras_records.function(s, "ops.matmul(t[0], t[1])", x=f"[{a}, {b}]")])


def _onnx(site: OnnxSite) -> list[OnnxRecord]:
    a, b = site.names
    assert a is not None and b is not None
    return [OnnxNode("MatMul", (a, b), (site.output,))]


SPECS = (
    LayerSpec(
        type="MatMul",
        category="Math",
        doc="Matrix product of two inputs, per sample: (…, n, k) @ (…, k, m) → (…, n, m), broadcasting leading sizes of 1.",
        params=(),
        infer=_matmul,
        inputs=(Port("a"), Port("b")),
        count_macs=_matmul_macs,
        shares=True,
        targets=targets(
            "torch.matmul",
            "ops.matmul",
            "MatMul",
            Unsupported("BVLC Caffe has no product of two blobs (its InnerProduct multiplies by learned weights)"),
        ),
        pytorch=_pytorch,
        keras=_keras,
        onnx=_onnx,
    ),
)
