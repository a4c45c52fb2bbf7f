"""Tensors a network holds rather than computes: a learned Parameter and a fixed Constant.

Both take no input and give one tensor that every sample shares (batch dimension 1, shown as 1):
a class token, a learned position table, an attention mask. Merges, Concat and MatMul broadcast
it over the batch; the tensor itself is saved with the weights (a Parameter is learned, a
Constant is a buffer), so an import keeps its values.
"""

from __future__ import annotations

from studio.graph.catalogue import keras_records, pytorch_records
from studio.graph.catalogue.base import (
    SHARED,
    LayerSpec,
    Params,
    Shape,
    State,
    StateTensor,
    Unsupported,
    targets,
)
from studio.graph.catalogue.keras_records import Apply, Emitted, Step
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import OnnxRecord, OnnxSite, OnnxWeight
from studio.graph.catalogue.pytorch_records import Call, kw
from studio.graph.params import Float, Ints

_NO_CAFFE = Unsupported("BVLC Caffe's layers do not broadcast a tensor shared by every sample over the batch")


def _shape() -> Ints:
    return Ints("shape", (1, 64), "Shape of the tensor, the batch left out (a class token: (1, D)).", min=1, max=65536)


def _held(p: Params, ins: list[Shape | None]) -> list[Shape]:
    return [(SHARED, *p["shape"])]


def _state(name: str, learned: bool):
    def state(p: Params, ins: list[Shape | None]) -> State:
        return {name: StateTensor((1, *p["shape"]), learned)}

    return state


def _pytorch(helper: str, option: str, default: float):
    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        args = [literal(tuple(s.params["shape"]))]
        if s.params[option] != default:
            args.append(kw(option, s.params[option]))
        return pytorch_records.Emitted(Call(helper, tuple(args)), Call(s.attr, ()), helpers=(helper,))

    return emit


def _keras(helper: str, option: str, default: float, name: str):
    def emit(s: keras_records.Site) -> keras_records.Emitted:
        args = [literal(tuple(s.params["shape"]))]
        if s.params[option] != default:
            args.append(kw(option, s.params[option]))
        layer = Call(helper, (*args, keras_records.named(s.var)))
        step = Step(s.var, Apply(layer, (s.anchor,)))
        return Emitted([step], {s.var: lambda t: [t(name)]}, helpers=(helper,))

    return emit


def _onnx(name: str, fixed: bool):
    def emit(site: OnnxSite) -> list[OnnxRecord]:
        return [OnnxWeight(site.output, name, fixed=fixed)]

    return emit


SPECS = (
    LayerSpec(
        type="Parameter",
        category="Tensor",
        doc="A learned tensor every sample shares (batch 1): a class token, a learned position table.",
        params=(_shape(), Float("std", 0.02, "Spread of the random start values (0: start at zero).", min=0.0, max=10.0)),
        infer=_held,
        inputs=(),
        state=_state("weight", True),
        batch="own",
        targets=targets("nn.Parameter", "Layer.add_weight", "initializer", _NO_CAFFE),
        pytorch=_pytorch("LearnedTensor", "std", 0.02),
        keras=_keras("LearnedTensor", "std", 0.02, "weight"),
        onnx=_onnx("weight", fixed=False),  # an initializer: a weight
    ),
    LayerSpec(
        type="Constant",
        category="Tensor",
        doc="A fixed tensor every sample shares (batch 1), saved with the weights: a mask, a table.",
        params=(_shape(), Float("fill", 0.0, "Value every element starts with (an import keeps the file's values).", min=-1e9, max=1e9)),
        infer=_held,
        inputs=(),
        state=_state("value", False),
        batch="own",
        targets=targets("register_buffer", "Layer.add_weight(trainable=False)", "initializer", _NO_CAFFE),
        pytorch=_pytorch("FixedTensor", "fill", 0.0),
        keras=_keras("FixedTensor", "fill", 0.0, "value"),
        onnx=_onnx("value", fixed=True),  # a Constant node: a value, which an import keeps fixed
    ),
)
