"""Depthwise convolutions: a 2-D convolution per channel, alone or followed by a pointwise one (separable)."""

from __future__ import annotations

from math import prod
from typing import Any

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Shape,
    State,
    StateTensor,
    numel,
    targets,
    weight_and_bias,
)
from studio.graph.catalogue.caffe_records import Layer
from studio.graph.catalogue.conv import (
    PER_AXIS,
    caffe_convolution,
    caffe_pads,
    conv_records,
    conv_spatial,
    keras_window,
    need_spatial,
    out_channels_param,
    window_params,
)
from studio.graph.catalogue.keras_records import Convert, Torch, biased, per_axis
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.onnx_records import OnnxNode, OnnxRecord, OnnxSite
from studio.graph.catalogue.pytorch_records import Call, kw, module, options, size
from studio.graph.params import Bool, Int


def _depthwise(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_spatial(x, 2)
    return [(None, int(x[1] or 0) * p["depth_multiplier"], *conv_spatial(p, x, 2))]


def _depthwise_state(p: Params, ins: list[Shape]) -> State:
    channels = int(ins[0][1] or 0) * p["depth_multiplier"]
    return weight_and_bias((channels, 1, *p["kernel_size"]), p["bias"])


def _depthwise_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    return numel(outs[0]) * prod(p["kernel_size"])


def _separable(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_spatial(x, 2)
    return [(None, p["out_channels"], *conv_spatial(p, x, 2))]


def _separable_state(p: Params, ins: list[Shape]) -> State:
    middle = int(ins[0][1] or 0) * p["depth_multiplier"]
    pointwise = weight_and_bias((p["out_channels"], middle, 1, 1), p["bias"])
    return {"depthwise.weight": StateTensor((middle, 1, *p["kernel_size"])), **{f"pointwise.{k}": t for k, t in pointwise.items()}}


def _separable_macs(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
    middle = int(ins[0][1] or 0) * p["depth_multiplier"]
    positions = numel(outs[0]) // p["out_channels"]
    return positions * middle * (prod(p["kernel_size"]) + p["out_channels"])


# ----- ONNX -----
def _depthwise_onnx(site: OnnxSite) -> list[OnnxRecord]:
    weights = site.weights
    return conv_records(site, site.x, weights["weight"], weights.get("bias"), site.output, int(site.shape[1] or 0))


def _separable_onnx(site: OnnxSite) -> list[OnnxRecord]:
    weights, middle = site.weights, site.fresh("depthwise")
    depthwise = conv_records(site, site.x, weights["depthwise.weight"], None, middle, int(site.shape[1] or 0))
    inputs = (middle, weights["pointwise.weight"], *([weights["pointwise.bias"]] if "pointwise.bias" in weights else []))
    return [*depthwise, OnnxNode("Conv", inputs, (site.output,), {"kernel_shape": [1, 1]})]


# ----- PyTorch, Keras, Caffe -----
def _depthwise_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p, c = s.params, int(s.shape[1] or 0)
    window = options(p, {"stride": 1, "padding": 0, "dilation": 1}, PER_AXIS)
    args = [str(c), str(c * p["depth_multiplier"]), kw("kernel_size", size(p["kernel_size"])), *window, f"groups={c}"]
    return module(s, "nn.Conv2d", *args, *options(p, {"bias": True}))


def _separable_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    p = s.params
    window = options(p, {"stride": 1, "padding": 0, "dilation": 1, "depth_multiplier": 1, "bias": True}, PER_AXIS)
    args = [pytorch_records.channels(s), str(p["out_channels"]), kw("kernel_size", size(p["kernel_size"])), *window]
    # The SeparableConv2d helper class is the driver's (`studio.codegen.pytorch.HELPERS`).
    return pytorch_records.Emitted(Call("SeparableConv2d", tuple(args)), Call(s.attr, (s.x,)), ("SeparableConv2d",))


def _depthwise_kernel(a: Any, channels: int) -> Any:
    """(C*m, 1, kh, kw), output channel c*m + j -> Keras (kh, kw, C, m)."""
    return a.reshape(channels, -1, *a.shape[2:]).transpose(2, 3, 0, 1)


def _depthwise_keras(s: keras_records.Site) -> keras_records.Emitted:
    p, c = s.params, int(s.shape[1] or 0)
    steps, x, window = keras_window(s, 2, p["padding"])
    args = [literal(per_axis(p["kernel_size"])), *window]
    if p["depth_multiplier"] != 1:
        args.append(kw("depth_multiplier", p["depth_multiplier"]))
    kernel: Convert = lambda t: [_depthwise_kernel(t("weight"), c)]
    emitted = biased(s, "DepthwiseConv2D", *args, kernel=kernel, bias="bias" if p["bias"] else None, x=x)
    return keras_records.Emitted(steps + emitted.steps, emitted.weights, emitted.helpers)


def _separable_keras(s: keras_records.Site) -> keras_records.Emitted:
    p, c = s.params, int(s.shape[1] or 0)
    steps, x, window = keras_window(s, 2, p["padding"])
    args = [str(p["out_channels"]), literal(per_axis(p["kernel_size"])), *window]
    if p["depth_multiplier"] != 1:
        args.append(kw("depth_multiplier", p["depth_multiplier"]))

    def kernels(t: Torch) -> list[Any]:
        return [_depthwise_kernel(t("depthwise.weight"), c), t("pointwise.weight").transpose(2, 3, 1, 0)]

    emitted = biased(s, "SeparableConv2D", *args, kernel=kernels, bias="pointwise.bias" if p["bias"] else None, x=x)
    return keras_records.Emitted(steps + emitted.steps, emitted.weights, emitted.helpers)


def _depthwise_caffe(site: caffe_records.Site) -> list[Layer]:
    p = site.params
    channels = int(site.inputs[0][1] or 0)
    middle = channels * p["depth_multiplier"]
    pads = caffe_pads(site, 2)
    depthwise = caffe_convolution(middle, p["kernel_size"], p["stride"], pads, p["dilation"], channels, False)
    if site.params.get("out_channels") is None:  # DepthwiseConv2d
        depthwise = caffe_convolution(middle, p["kernel_size"], p["stride"], pads, p["dilation"], channels, p["bias"])
        return [Layer(site.name, "Convolution", site.bottoms, [site.name], [("convolution_param", depthwise)], caffe_records.with_bias(p["bias"]))]
    blob = site.blob("depthwise")
    pointwise = caffe_convolution(p["out_channels"], (1, 1), (1, 1), (0, 0), (1, 1), 1, p["bias"])
    return [
        Layer(blob, "Convolution", site.bottoms, [blob], [("convolution_param", depthwise)], caffe_records.with_bias(False, "depthwise.weight")),
        Layer(site.name, "Convolution", [blob], [site.name], [("convolution_param", pointwise)],
              caffe_records.with_bias(p["bias"], "pointwise.weight", "pointwise.bias")),
    ]


_MULTIPLIER = Int("depth_multiplier", 1, "Output channels per input channel of the depthwise step.", min=1, max=1024)

SPECS = (
    LayerSpec(
        type="DepthwiseConv2d",
        category="Convolution",
        doc="Depthwise 2-D convolution: each input channel gets its own depth_multiplier filters (groups = in_channels).",
        params=(*window_params(2), _MULTIPLIER, Bool("bias", True, "Learn an additive bias per output channel.")),
        infer=_depthwise,
        state=_depthwise_state,
        count_macs=_depthwise_macs,
        onnx=_depthwise_onnx,
        targets=targets("nn.Conv2d", "layers.DepthwiseConv2D", "Conv", "Convolution"),
        pytorch=_depthwise_pytorch,
        keras=_depthwise_keras,
        caffe=_depthwise_caffe,
    ),
    LayerSpec(
        type="SeparableConv2d",
        category="Convolution",
        # NOTE: one bias, after the pointwise step, as in Keras SeparableConv2D, so weights move one
        # to one; a depthwise bias would be redundant (the pointwise step is linear and absorbs it).
        doc="Depthwise-separable 2-D convolution: a per-channel (depthwise) conv, then a 1x1 conv to out_channels.",
        params=(out_channels_param(), *window_params(2), _MULTIPLIER, Bool("bias", True, "Learn an additive bias per output channel (on the pointwise step).")),
        infer=_separable,
        state=_separable_state,
        count_macs=_separable_macs,
        onnx=_separable_onnx,
        targets=targets("nn.Conv2d + nn.Conv2d", "layers.SeparableConv2D", "Conv + Conv", "Convolution + Convolution"),
        pytorch=_separable_pytorch,
        keras=_separable_keras,
        caffe=_depthwise_caffe,
    ),
)
