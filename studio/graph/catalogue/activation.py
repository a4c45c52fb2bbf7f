"""Activation layers: elementwise nonlinearities and the softmax family."""

from __future__ import annotations

from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Shape,
    State,
    StateTensor,
    Target,
    Unsupported,
    numel,
    resolve_dim,
    targets,
)
from studio.graph.params import Bool, Choice, Float, Int, Param


def _same(p: Params, ins: list[Shape | None]) -> list[Shape]:
    return [ins[0]]  # type: ignore[list-item]


def _per_element(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0])


def _prelu_state(p: Params, ins: list[Shape]) -> State:
    return {"weight": StateTensor(((ins[0][1] or 0) if p["per_channel"] else 1,))}


def _softmax(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    resolve_dim(p["dim"], x, "normalize")
    return [x]


def _softmax_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return 3 * numel(outs[0])


def _dim() -> Param:
    return Int("dim", -1, "Dimension whose values sum to one, counted with the batch as 0 (-1: the last).", min=-16, max=16)


def _activation(
    layer_type: str,
    doc: str,
    keras: Target,
    onnx: Target,
    caffe: Target,
    params: tuple[Param, ...] = (),
) -> LayerSpec:
    return LayerSpec(
        type=layer_type,
        category="Activation",
        doc=doc,
        params=params,
        infer=_same,
        count_macs=_per_element,
        targets=targets(f"nn.{layer_type}", keras, onnx, caffe),
    )


def _no_caffe(what: str) -> Unsupported:
    return Unsupported(f"BVLC Caffe has no {what} layer")


SPECS = (
    _activation("ReLU", "Rectified linear unit: max(0, x).", "layers.ReLU", "Relu", "ReLU"),
    # ReLU6 is ReLU(max_value=6) in Keras, Clip(0, 6) in ONNX and Caffe.
    _activation("ReLU6", "ReLU capped at 6: min(max(0, x), 6), as in MobileNet.", "layers.ReLU(max_value=6)", "Clip", "Clip"),
    _activation(
        "LeakyReLU",
        "ReLU that lets a small slope through for negative inputs.",
        "layers.LeakyReLU",
        "LeakyRelu",
        "ReLU",  # Caffe's ReLU takes a negative_slope
        params=(Float("negative_slope", 0.01, "Slope for negative inputs.", min=0.0, max=1.0),),
    ),
    LayerSpec(
        type="PReLU",
        category="Activation",
        doc="Leaky ReLU whose negative slope is learned: one slope, or one per channel.",
        params=(
            Bool("per_channel", False, "Learn one slope per channel (dimension 1) instead of one shared slope."),
            Float("init", 0.25, "Initial value of the slope.", min=0.0, max=1.0),
        ),
        infer=_same,
        state=_prelu_state,
        count_macs=_per_element,
        targets=targets("nn.PReLU", "layers.PReLU", "PRelu", "PReLU"),
    ),
    _activation(
        "ELU",
        "Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.",
        "layers.ELU",
        "Elu",
        "ELU",
        params=(Float("alpha", 1.0, "Value the output approaches for very negative inputs (as -alpha).", min=0.0, max=10.0),),
    ),
    _activation(
        "SELU",
        "Scaled ELU with fixed constants that keep activations normalized (self-normalizing networks).",
        'layers.Activation("selu")',
        "Selu",
        _no_caffe("SELU"),
    ),
    _activation(
        "GELU",
        "Gaussian error linear unit: x * Phi(x), as in BERT and GPT.",
        'layers.Activation("gelu")',
        "Gelu",  # opset 20, with its approximate attribute
        _no_caffe("GELU"),
        params=(Choice("approximate", "none", ("none", "tanh"), "Exact GELU, or its faster tanh approximation."),),
    ),
    _activation(
        "SiLU",
        "Sigmoid linear unit (Swish): x * sigmoid(x).",
        'layers.Activation("silu")',
        "Swish",  # opset 24; older opsets spell it Sigmoid then Mul
        "Swish",
    ),
    _activation(
        "Mish",
        "Mish: x * tanh(softplus(x)), a smooth ReLU-like curve.",
        'layers.Activation("mish")',
        "Mish",  # opset 18
        _no_caffe("Mish"),
    ),
    _activation("Sigmoid", "Logistic sigmoid: 1 / (1 + exp(-x)), squashing to (0, 1).", 'layers.Activation("sigmoid")', "Sigmoid", "Sigmoid"),
    _activation("Tanh", "Hyperbolic tangent, squashing to (-1, 1).", 'layers.Activation("tanh")', "Tanh", "TanH"),
    _activation(
        "Hardswish",
        "Piecewise-linear Swish: x * relu6(x + 3) / 6, as in MobileNetV3.",
        'layers.Activation("hard_swish")',
        "HardSwish",
        _no_caffe("HardSwish"),
    ),
    _activation(
        "Hardsigmoid",
        "Piecewise-linear sigmoid: relu6(x + 3) / 6.",
        'layers.Activation("hard_sigmoid")',
        "HardSigmoid",  # with alpha 1/6, beta 0.5 to match PyTorch
        _no_caffe("HardSigmoid"),
    ),
    _activation(
        "Softplus",
        "Smooth ReLU: log(1 + exp(beta * x)) / beta, linear above the threshold.",
        'layers.Activation("softplus")',
        "Softplus",  # beta other than 1 needs a Mul before and a Div after
        "BNLL",  # log(1 + exp(x)): beta 1 only
        params=(
            Float("beta", 1.0, "Sharpness of the curve; larger is closer to ReLU.", min=0.01, max=100.0),
            Float("threshold", 20.0, "Above beta * x = threshold the output is x itself, for stability.", min=0.0, max=100.0),
        ),
    ),
    LayerSpec(
        type="Softmax",
        category="Activation",
        doc="Turns scores into probabilities that sum to one along a dimension.",
        params=(_dim(),),
        infer=_softmax,
        count_macs=_softmax_macs,
        targets=targets("nn.Softmax", "layers.Softmax", "Softmax", "Softmax"),
    ),
    LayerSpec(
        type="LogSoftmax",
        category="Activation",
        doc="The logarithm of a softmax, computed stably; pairs with a negative log-likelihood loss.",
        params=(_dim(),),
        infer=_softmax,
        count_macs=_softmax_macs,
        targets=targets("nn.LogSoftmax", 'layers.Activation("log_softmax")', "LogSoftmax", _no_caffe("LogSoftmax")),
    ),
)
