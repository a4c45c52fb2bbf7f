"""Merge layers: elementwise combinations and concatenation of several tensors."""

from __future__ import annotations

from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Port,
    Shape,
    ShapeError,
    numel,
    resolve_dim,
    show,
    targets,
)
from studio.graph.params import Int


def _num_inputs() -> Int:
    return Int("num_inputs", 2, "Number of input ports (in1, in2, ...).", min=2, max=16)


def _resize_hint(a: Shape, b: Shape) -> str:
    """Suggest the usual fix for two shapes that differ, based on where they differ."""
    if len(a) != len(b):
        return "both inputs need the same number of dimensions: insert a Flatten or Reshape on one side"
    differ = [i for i in range(1, len(a)) if a[i] != b[i]]
    if differ == [1]:
        if len(a) == 2:
            return "use a Linear on one side to change its features"
        if len(a) <= 5:
            return f"use a Conv{len(a) - 2}d with kernel_size 1 on one side to change its channels"
        return "make the channels agree"
    if 1 not in differ and len(a) in (3, 4, 5):
        return "use a strided convolution or pooling on the larger side to match the spatial size"
    return "make every input the same shape"


def _elementwise(verb: str):
    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        first = ins[0]
        assert first is not None
        for index, x in enumerate(ins[1:], start=2):
            assert x is not None
            if x != first:
                raise ShapeError(
                    f"cannot {verb} in1 {show(first)} and in{index} {show(x)}: shapes must match exactly",
                    _resize_hint(first, x),
                )
        return [first]

    return infer


def _elementwise_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return (len(ins) - 1) * numel(outs[0])


def _concat(p: Params, ins: list[Shape | None]) -> list[Shape]:
    first = ins[0]
    assert first is not None
    axis = resolve_dim(p["dim"], first, "concatenate")
    total = 0
    for index, x in enumerate(ins, start=1):
        assert x is not None
        if len(x) != len(first):
            raise ShapeError(
                f"cannot concatenate in1 {show(first)} and in{index} {show(x)}: they differ in rank",
                "both inputs need the same number of dimensions: insert a Flatten or Reshape on one side",
            )
        mismatch = [i for i in range(1, len(x)) if i != axis and x[i] != first[i]]
        if mismatch:
            where = ("dim " if len(mismatch) == 1 else "dims ") + ", ".join(str(i) for i in mismatch)
            raise ShapeError(
                f"cannot concatenate in1 {show(first)} and in{index} {show(x)} along dim {axis}: "
                f"they differ in {where}",
                f"every dimension but {axis} must match; or change dim to the one that differs",
            )
        total += x[axis] or 0
    return [(*first[:axis], total, *first[axis + 1:])]


def _merge(layer_type: str, doc: str, verb: str, pytorch: str, keras: str, onnx: str, caffe: str) -> LayerSpec:
    return LayerSpec(
        type=layer_type,
        category="Merge",
        doc=doc,
        params=(_num_inputs(),),
        infer=_elementwise(verb),
        variadic=True,
        count_macs=_elementwise_macs,
        output_dtype="same",
        targets=targets(pytorch, keras, onnx, caffe),
    )


SPECS = (
    # ONNX Sum and Max take any number of inputs; Mul is binary, so n inputs chain n - 1 nodes.
    # Caffe Eltwise takes its operation as a parameter (SUM, PROD, MAX).
    _merge(
        "Add", "Adds its inputs elementwise, as in a residual connection.", "add",
        "torch.add", "layers.Add", "Sum", "Eltwise",
    ),
    _merge(
        "Multiply", "Multiplies its inputs elementwise, as in gating.", "multiply",
        "torch.mul", "layers.Multiply", "Mul", "Eltwise",
    ),
    _merge(
        "Maximum", "Takes the elementwise maximum of its inputs.", "take the maximum of",
        "torch.maximum", "layers.Maximum", "Max", "Eltwise",
    ),
    LayerSpec(
        type="Subtract",
        category="Merge",
        doc="Subtracts its second input from its first, elementwise.",
        params=(),
        infer=_elementwise("subtract"),
        inputs=(Port("in1"), Port("in2")),
        count_macs=_elementwise_macs,
        output_dtype="same",
        # Caffe: Eltwise SUM with coefficients (1, -1).
        targets=targets("torch.sub", "layers.Subtract", "Sub", "Eltwise"),
    ),
    LayerSpec(
        type="Concat",
        category="Merge",
        doc="Joins its inputs along one dimension (channels by default), as in DenseNet and U-Net.",
        params=(
            _num_inputs(),
            Int("dim", 1, "Dimension to join along, counted with the batch as 0 (1: channels, -1: the last).", min=-16, max=16),
        ),
        infer=_concat,
        variadic=True,
        input_dtype="any",
        output_dtype="same",
        targets=targets("torch.cat", "layers.Concatenate", "Concat", "Concat"),
    ),
)
