"""ONNX files for the import tests: classic architectures exported from torch.nn, and hand-built graphs.

The classic networks are written here in torch.nn (torchvision is not a dependency) and
exported with torch's TorchScript exporter at several opsets (the exporter most model-zoo
files come from: Constant nodes, Shape/Gather/Concat reshape targets, Flatten, Pad) or its
dynamo exporter; BatchNorm is kept, not fused into the convolutions. The hand-built graphs
use onnx.helper for operator forms torch never writes, and for hostile files.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from tests.graph.reference import made_positive, needs_positive_inputs

# ----- classic architectures -----


class AlexNet(nn.Module):
    """AlexNet as in the paper's Caffe model: LRN after the first two convolutions, torchvision's widths."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def vgg11(classes: int = 1000) -> nn.Module:
    """VGG-11 (configuration A), flattened with x.view(x.size(0), -1) as older code does."""
    layers: list[nn.Module] = []
    channels = 3
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            channels = int(v)
    head = nn.Sequential(
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, classes),
    )
    return _ViewFlatten(nn.Sequential(*layers), head)


class _ViewFlatten(nn.Module):
    def __init__(self, body: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.body, self.head = body, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        return self.head(x.view(x.size(0), -1))


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck, module for module: 1x1, 3x3 (strided), 1x1 with BatchNorm, one shared ReLU, and a projected shortcut `downsample` where the shape changes."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet50(nn.Module):
    """ResNet-50 with torchvision's module names: conv1, bn1, relu, maxpool, layer1..layer4 of 3, 4, 6 and 3 bottlenecks, avgpool, fc."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for index, (planes, count, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 1):
            blocks = []
            for i in range(count):
                blocks.append(Bottleneck(inplanes, planes, stride if i == 0 else 1))
                inplanes = planes * 4
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Inception(nn.Module):
    """GoogLeNet's inception module (3a): four branches joined along the channels."""

    def __init__(self, cin: int = 192) -> None:
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(cin, 64, 1), nn.ReLU())
        self.b2 = nn.Sequential(
            nn.Conv2d(cin, 96, 1),
            nn.ReLU(),
            nn.Conv2d(96, 128, 3, padding=1),
            nn.ReLU(),
        )
        self.b3 = nn.Sequential(
            nn.Conv2d(cin, 16, 1), nn.ReLU(), nn.Conv2d(16, 32, 5, padding=2), nn.ReLU()
        )
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(cin, 32, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class InceptionNet(nn.Module):
    """A stem, one inception module, global pooling and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 192, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
        )
        self.inception = Inception(192)
        self.fc = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.inception(self.stem(x)).mean((2, 3)))


class Fire(nn.Module):
    """SqueezeNet's fire module: a 1x1 squeeze, then 1x1 and 3x3 expands joined."""

    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU(inplace=True))
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, e1, 1), nn.ReLU(inplace=True))
        self.e3 = nn.Sequential(
            nn.Conv2d(squeeze, e3, 3, padding=1), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


def squeezenet11(classes: int = 1000) -> nn.Module:
    """SqueezeNet 1.1."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )  # fmt: skip


class DenseNet(nn.Module):
    """A DenseNet block of 18 layers: every layer reads the concatenation of all before it (up to 19 inputs)."""

    def __init__(self, layers: int = 18, growth: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.layers = nn.ModuleList()
        channels = 16
        for _ in range(layers):
            self.layers.append(
                nn.Sequential(
                    nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, 4 * growth, 1, bias=False),
                    nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
                )
            )  # fmt: skip
            channels += growth
        self.transition = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels // 2, 1, bias=False),
            nn.AvgPool2d(2),
        )
        self.fc = nn.Linear(channels // 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.stem(x)]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        x = self.transition(torch.cat(features, 1))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's shuffle: reshape to (N, g, C/g, H, W), swap the two channel axes, flatten them back."""
    n, c, h, w = x.size()
    return (
        x.view(n, groups, c // groups, h, w)
        .transpose(1, 2)
        .contiguous()
        .view(n, c, h, w)
    )


class ShuffleUnit(nn.Module):
    """A ShuffleNet (v1) unit: grouped 1x1, channel shuffle, depthwise 3x3, grouped 1x1, residual."""

    def __init__(self, channels: int, groups: int = 3) -> None:
        super().__init__()
        mid = channels // 4
        self.groups = groups
        self.compress = nn.Sequential(
            nn.Conv2d(channels, mid, 1, groups=groups, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(),
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(mid, mid, 3, padding=1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
        )
        self.expand = nn.Sequential(
            nn.Conv2d(mid, channels, 1, groups=groups, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.depthwise(channel_shuffle(self.compress(x), self.groups)))
        return torch.relu(x + y)


def shufflenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 240, 3, 2, 1, bias=False), nn.BatchNorm2d(240), nn.ReLU(), ShuffleUnit(240), ShuffleUnit(240),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(240, 10),
    )  # fmt: skip


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """The model in eval mode with random BatchNorm statistics and affine values, as a trained one has."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(1 + 0.2 * torch.randn(c, generator=generator))
                module.bias.copy_(0.2 * torch.randn(c, generator=generator))
                module.running_mean.copy_(0.2 * torch.randn(c, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(c, generator=generator))
    return model.eval()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporters' logging, warnings and prints."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_torch(
    model: nn.Module, sample: torch.Tensor, path: Path, opset: int, dynamo: bool = False, optimize: bool = True
) -> Path:
    """Export `model` with a dynamic batch: TorchScript exporter by default, keeping BatchNorm as it is (dynamo folds it into the convolutions unless not `optimize`)."""
    with quiet():
        if dynamo:
            program = torch.onnx.export(
                model, (sample,), dynamo=True, opset_version=opset, input_names=["image"], output_names=["scores"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), external_data=False, optimize=optimize,
            )  # fmt: skip
            program.save(str(path))
        else:
            torch.onnx.export(
                model, (sample,), str(path), dynamo=False, opset_version=opset, input_names=["image"], output_names=["scores"],
                dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}}, training=torch.onnx.TrainingMode.PRESERVE,
                do_constant_folding=False,
            )  # fmt: skip
    return path


# ----- hand-built graphs -----
def tensor(name: str, value: np.ndarray | list | float) -> onnx.TensorProto:
    """An initializer of `value` (float32 unless it is already an integer array)."""
    array = np.asarray(value)
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
    return numpy_helper.from_array(array, name)


def model(
    nodes: list[onnx.NodeProto],
    inputs: list[tuple[str, list]],
    outputs: list[str | tuple[str, list]],
    initializers: list[onnx.TensorProto] = (),  # type: ignore[assignment]
    opset: int = 13,
    int_inputs: tuple[str, ...] = (),
    int_outputs: tuple[str, ...] = (),
) -> onnx.ModelProto:
    """A checked model; inputs and outputs are float32 (int64 for `int_inputs`, `int_outputs`) with "N" as the batch; outputs may give their shapes."""
    values = [
        helper.make_tensor_value_info(
            name,
            TensorProto.INT64 if name in int_inputs else TensorProto.FLOAT,
            ["N", *dims],
        )
        for name, dims in inputs
    ]
    def kind(name: str) -> int:
        return TensorProto.INT64 if name in int_outputs else TensorProto.FLOAT

    outs = [
        helper.make_tensor_value_info(out, kind(out), None) if isinstance(out, str)
        else helper.make_tensor_value_info(out[0], kind(out[0]), ["N", *out[1]])
        for out in outputs
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "test", values, outs, initializer=list(initializers)
    )
    built = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tests"
    )
    built.ir_version = min(built.ir_version, 8)
    built = onnx.shape_inference.infer_shapes(built, strict_mode=True, data_prop=True)
    onnx.checker.check_model(built)
    return built


def save(proto: onnx.ModelProto, path: Path) -> Path:
    onnx.save(proto, str(path))
    return path


def rand(*shape: int, seed: int = 0, scale: float = 0.3) -> np.ndarray:
    return (
        np.random.default_rng(seed + sum(shape)).standard_normal(shape) * scale
    ).astype(np.float32)


def node(
    op: str, inputs: list[str], outputs: list[str], name: str = "", **attrs: object
) -> onnx.NodeProto:
    return helper.make_node(op, inputs, outputs, name=name or outputs[0], **attrs)


def conv_weights(out: int, cin: int, k: int, seed: int = 0) -> list[onnx.TensorProto]:
    return [
        tensor(f"w{seed}", rand(out, cin, k, k, seed=seed)),
        tensor(f"b{seed}", rand(out, seed=seed + 1)),
    ]


def gemm_without_trans_b() -> onnx.ModelProto:
    """Gemm with a (in, out) weight (transB 0), alpha and beta, at opset 7."""
    nodes = [node("Gemm", ["x", "w", "b"], ["y"], "fc", alpha=0.5, beta=2.0)]
    return model(
        nodes,
        [("x", [6])],
        ["y"],
        [tensor("w", rand(6, 4)), tensor("b", rand(4))],
        opset=7,
    )


def matmul_add_sequence() -> onnx.ModelProto:
    """MatMul by a constant and Add of a bias on a sequence (N, T, F): one Linear."""
    nodes = [
        node("MatMul", ["x", "w"], ["h"], "proj"),
        node("Add", ["b", "h"], ["y"], "proj_bias"),
    ]
    return model(
        nodes, [("x", [5, 6])], ["y"], [tensor("w", rand(6, 3)), tensor("b", rand(3))]
    )


def scale_shift() -> onnx.ModelProto:
    """Image normalization (x - mean) / std, then a per-channel Mul and Add: one BatchNorm-like layer."""
    mean, std = (
        np.array([0.4, 0.5, 0.6]).reshape(1, 3, 1, 1),
        np.array([0.2, 0.25, 0.3]).reshape(3, 1, 1),
    )
    nodes = [
        node("Sub", ["x", "mean"], ["centred"]), node("Div", ["centred", "std"], ["scaled"]),
        node("Mul", ["scaled", "gamma"], ["g"]), node("Add", ["g", "beta"], ["y"], "affine"),
    ]  # fmt: skip
    inits = [
        tensor("mean", mean),
        tensor("std", std),
        tensor("gamma", rand(3, 1, 1) + 1),
        tensor("beta", rand(3, 1, 1, seed=1)),
    ]
    return model(nodes, [("x", [3, 5, 5])], ["y"], inits, opset=11)


def sum_of_three() -> onnx.ModelProto:
    """Sum of three inputs, two outputs (one read twice)."""
    nodes = [
        node("Sum", ["a", "b", "c"], ["s"], "total"),
        node("Relu", ["s"], ["y"]),
        node("Sigmoid", ["s"], ["z"]),
    ]
    return model(nodes, [("a", [4, 3]), ("b", [4, 3]), ("c", [4, 3])], ["y", "z"])


def padded_convolutions() -> onnx.ModelProto:
    """Pad (reflect) before a Conv, an uneven zero Pad before a Conv, and SAME_UPPER with stride 2."""
    nodes = [
        node("Pad", ["x", "p1"], ["xp"], "mirror", mode="reflect"), node("Conv", ["xp", "w0", "b0"], ["c0"], "conv_reflect"),
        node("Pad", ["c0", "p2"], ["cp"], "uneven"), node("Conv", ["cp", "w2", "b2"], ["c1"], "conv_uneven"),
        node("Conv", ["c1", "w4", "b4"], ["y"], "conv_same", auto_pad="SAME_UPPER", strides=[2, 2]),
    ]  # fmt: skip
    pads = [
        tensor("p1", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
        tensor("p2", np.array([0, 0, 0, 1, 0, 0, 2, 1], np.int64)),
    ]
    inits = [
        *conv_weights(4, 3, 3, 0),
        *conv_weights(5, 4, 3, 2),
        *conv_weights(6, 5, 2, 4),
        *pads,
    ]
    return model(nodes, [("x", [3, 9, 9])], ["y"], inits, opset=13)


def padded_pooling() -> onnx.ModelProto:
    """A zero Pad folded into AveragePool (count_include_pad), MaxPool with ceil_mode, GlobalAveragePool and Flatten."""
    nodes = [
        node("Pad", ["x", "p"], ["xp"], "pad"), node("AveragePool", ["xp"], ["a"], "avg", kernel_shape=[3, 3], strides=[1, 1]),
        node("MaxPool", ["a"], ["m"], "max", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        node("GlobalAveragePool", ["m"], ["g"], "gap"), node("Flatten", ["g"], ["y"], "flat"),
    ]  # fmt: skip
    return model(
        nodes,
        [("x", [3, 8, 8])],
        ["y"],
        [tensor("p", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))],
        opset=11,
    )


def caffe_style_pooling() -> onnx.ModelProto:
    """Pools as Caffe-to-ONNX converters write Caffe's ceil rounding: uneven pads on a max pool, on an average counting them, and more end padding than ceil_mode adds."""
    nodes = [
        node("Conv", ["x", "w0", "b0"], ["c"], "conv"),
        node("MaxPool", ["c"], ["m"], "pool1", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]),
        node("AveragePool", ["m"], ["a"], "pool2", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 2, 2], count_include_pad=1),
        node("MaxPool", ["a"], ["y"], "pool3", kernel_shape=[2, 3], strides=[1, 1], pads=[0, 0, 1, 1]),
    ]  # fmt: skip
    return model(nodes, [("x", [3, 12, 12])], ["y"], conv_weights(4, 3, 3), opset=13)


def shape_chain_reshape() -> onnx.ModelProto:
    """A flatten written as Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])), opset 11, with ConstantOfShape."""
    nodes = [
        node("Shape", ["x"], ["shape"]), node("Gather", ["shape", "zero"], ["batch"], axis=0),
        node("Unsqueeze", ["batch"], ["batch1"], axes=[0]), node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        node("ConstantOfShape", ["gain_shape"], ["gain"], value=numpy_helper.from_array(np.array([2.0], np.float32))),
        node("Mul", ["x", "gain"], ["doubled"], "double"),
        node("Reshape", ["doubled", "target"], ["flat"], "flatten"), node("Gemm", ["flat", "w"], ["y"], "fc", transB=1),
    ]  # fmt: skip
    inits = [
        tensor("zero", np.array(0, np.int64)), tensor("minus_one", np.array([-1], np.int64)),
        tensor("gain_shape", np.array([2, 1, 1], np.int64)), tensor("w", rand(3, 32)),
    ]  # fmt: skip
    return model(nodes, [("x", [2, 4, 4])], [("y", [3])], inits, opset=11)


def channel_shuffle_graph() -> onnx.ModelProto:
    """ShuffleNet's channel shuffle with constant targets: Reshape, Transpose, Reshape."""
    nodes = [
        node("Reshape", ["x", "grouped"], ["g"], "group"), node("Transpose", ["g"], ["t"], "swap", perm=[0, 2, 1, 3, 4]),
        node("Reshape", ["t", "back"], ["y"], "ungroup"),
    ]  # fmt: skip
    inits = [
        tensor("grouped", np.array([0, 3, 2, 5, 5], np.int64)),
        tensor("back", np.array([-1, 6, 5, 5], np.int64)),
    ]
    return model(nodes, [("x", [6, 5, 5])], ["y"], inits)


def activations() -> onnx.ModelProto:
    """Activation operators in the forms other exporters write, chained, opset 11 (Clip with inputs)."""
    nodes = [
        node("LeakyRelu", ["x"], ["a1"], alpha=0.2), node("Elu", ["a1"], ["a2"], alpha=0.5), node("Selu", ["a2"], ["a3"]),
        node("HardSigmoid", ["a3"], ["a4"], alpha=1 / 6, beta=0.5), node("Softplus", ["a4"], ["a5"]),
        node("Clip", ["a5", "zero", "six"], ["a6"], "relu6"), node("Sigmoid", ["a6"], ["s"]), node("Mul", ["a6", "s"], ["a7"], "swish"),
        node("PRelu", ["a7", "slope"], ["a8"]), node("Tanh", ["a8"], ["a9"]), node("Flatten", ["a9"], ["f"]),
        node("Softmax", ["f"], ["y"], axis=1),
    ]  # fmt: skip
    inits = [tensor("zero", 0.0), tensor("six", 6.0), tensor("slope", rand(4, 1, 1))]
    return model(nodes, [("x", [4, 3, 3])], ["y"], inits, opset=11)


def legacy_opset_7() -> onnx.ModelProto:
    """Opset 7 forms: BatchNormalization, Dropout with a ratio, Clip with attributes, Upsample with scales, LRN."""
    nodes = [
        node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], "bn", epsilon=1e-3),
        node("Dropout", ["bn"], ["d"], "drop", ratio=0.25), node("Clip", ["d"], ["c"], "relu", min=0.0),
        node("LRN", ["c"], ["l"], "lrn", size=3, alpha=2e-4, beta=0.75, bias=1.5),
        node("Upsample", ["l"], ["y"], "up", scales=[1.0, 1.0, 2.0, 2.0], mode="nearest"),
    ]  # fmt: skip
    inits = [
        tensor("s", rand(3) + 1),
        tensor("b", rand(3, seed=2)),
        tensor("m", rand(3, seed=3)),
        tensor("v", np.abs(rand(3, seed=4)) + 0.5),
    ]
    return model(nodes, [("x", [3, 4, 4])], ["y"], inits, opset=7)


def resizing_and_transposed() -> onnx.ModelProto:
    """ConvTranspose with output_shape, Resize by sizes (nearest) and by scales (linear, half_pixel)."""
    nodes = [
        node("ConvTranspose", ["x", "w", "b"], ["t"], "deconv", strides=[2, 2], output_shape=[8, 8], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Resize", ["t", "", "", "sizes"], ["r"], "nearest", mode="nearest", axes=[2, 3], nearest_mode="floor",
             coordinate_transformation_mode="asymmetric"),
        node("Resize", ["r", "", "scales"], ["y"], "bilinear", mode="linear", coordinate_transformation_mode="half_pixel"),
    ]  # fmt: skip
    inits = [
        tensor("w", rand(3, 2, 3, 3)), tensor("b", rand(2, seed=1)),
        tensor("sizes", np.array([16, 16], np.int64)), tensor("scales", np.array([1, 1, 2, 2], np.float32)),
    ]  # fmt: skip
    return model(nodes, [("x", [3, 4, 4])], ["y"], inits, opset=18)


def reductions_and_squeezes() -> onnx.ModelProto:
    """ReduceMean and ReduceMax with axes attributes (opset 13), Unsqueeze and Squeeze with axes inputs."""
    nodes = [
        node("ReduceMean", ["x"], ["m"], "mean", axes=[2, 3], keepdims=1), node("GlobalMaxPool", ["x"], ["g"], "gmax"),
        node("Add", ["m", "g"], ["s"], "both"), node("Squeeze", ["s", "axes23"], ["flat"], "squeeze"),
        node("Unsqueeze", ["flat", "axis2"], ["u"], "unsqueeze"), node("ReduceMax", ["u"], ["y"], "pool", axes=[2], keepdims=0),
    ]  # fmt: skip
    inits = [
        tensor("axes23", np.array([2, 3], np.int64)),
        tensor("axis2", np.array([2], np.int64)),
    ]
    return model(nodes, [("x", [5, 4, 4])], ["y"], inits, opset=13)


def wide_concat() -> onnx.ModelProto:
    """A Concat of 18 branches (more than one Concat layer takes)."""
    nodes, names = [], []
    for i in range(18):
        nodes.append(node("Relu" if i % 2 else "Sigmoid", ["x"], [f"b{i}"]))
        names.append(f"b{i}")
    nodes.append(node("Concat", names, ["y"], "join", axis=1))
    return model(nodes, [("x", [2, 3])], ["y"])


def tokens() -> onnx.ModelProto:
    """Embedding lookup (Gather from a table by int64 ids), LayerNormalization, then the last time step."""
    nodes = [
        node("Gather", ["table", "ids"], ["e"], "embed", axis=0),
        node("LayerNormalization", ["e", "scale", "shift"], ["n"], "norm", axis=-1, epsilon=1e-5),
        node("Gather", ["n", "last"], ["y"], "last_step", axis=1),
    ]  # fmt: skip
    inits = [
        tensor("table", rand(20, 8)),
        tensor("scale", rand(8) + 1),
        tensor("shift", rand(8, seed=2)),
        tensor("last", np.array(-1, np.int64)),
    ]
    return model(nodes, [("ids", [6])], ["y"], inits, opset=17, int_inputs=("ids",))


def recurrent_ops() -> onnx.ModelProto:
    """ONNX LSTM, GRU and RNN nodes (opset 7) on a batch-first input, as non-PyTorch exporters write them."""
    hidden, feats = 4, 3
    nodes = [
        node("Transpose", ["x"], ["xt"], "time_major", perm=[1, 0, 2]),
        node("LSTM", ["xt", "lw", "lr", "lb"], ["ly"], "lstm", hidden_size=hidden, direction="bidirectional"),
        node("Transpose", ["ly"], ["lt"], perm=[0, 2, 1, 3]), node("Reshape", ["lt", "seq"], ["ls"]),
        node("GRU", ["ls", "gw", "gr", "gb"], ["gy", "gh"], "gru", hidden_size=hidden, linear_before_reset=1),
        node("RNN", ["ls", "rw", "rr"], ["ry", "rh"], "rnn", hidden_size=hidden, activations=["Relu"]),
        node("Squeeze", ["gh", "axis0"], ["gru_last"]), node("Squeeze", ["rh", "axis0"], ["rnn_last"]),
        node("Add", ["gru_last", "rnn_last"], ["y"], "sum"),
    ]  # fmt: skip
    inits = [
        tensor("lw", rand(2, 4 * hidden, feats)), tensor("lr", rand(2, 4 * hidden, hidden, seed=1)), tensor("lb", rand(2, 8 * hidden, seed=2)),
        tensor("seq", np.array([0, 0, 2 * hidden], np.int64)), tensor("axis0", np.array([0], np.int64)),
        tensor("gw", rand(1, 3 * hidden, 2 * hidden, seed=3)), tensor("gr", rand(1, 3 * hidden, hidden, seed=4)), tensor("gb", rand(1, 6 * hidden, seed=5)),
        tensor("rw", rand(1, hidden, 2 * hidden, seed=6)), tensor("rr", rand(1, hidden, hidden, seed=7)),
    ]  # fmt: skip
    return model(nodes, [("x", [5, feats])], ["y"], inits, opset=13)


def norms() -> onnx.ModelProto:
    """InstanceNormalization with a learned scale, and GroupNormalization (opset 21)."""
    nodes = [
        node("InstanceNormalization", ["x", "is", "ib"], ["i"], "instance", epsilon=1e-5),
        node("GroupNormalization", ["i", "gs", "gb"], ["y"], "group", num_groups=2, epsilon=1e-5),
    ]  # fmt: skip
    inits = [
        tensor("is", rand(4) + 1),
        tensor("ib", rand(4, seed=1)),
        tensor("gs", rand(4, seed=2) + 1),
        tensor("gb", rand(4, seed=3)),
    ]
    return model(nodes, [("x", [4, 3, 3])], [("y", [4, 3, 3])], inits, opset=21)


OPERATOR_CASES = {  # builder: layer types the import must contain
    "gemm_without_trans_b": (gemm_without_trans_b, {"Linear"}),
    "matmul_add_sequence": (matmul_add_sequence, {"Linear"}),
    "scale_shift": (scale_shift, {"BatchNorm2d"}),
    "sum_of_three": (sum_of_three, {"Add", "ReLU", "Sigmoid"}),
    "padded_convolutions": (padded_convolutions, {"Conv2d", "ZeroPad2d"}),
    "padded_pooling": (
        padded_pooling,
        {"AvgPool2d", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten"},
    ),
    "caffe_style_pooling": (caffe_style_pooling, {"MaxPool2d", "AvgPool2d", "ZeroPad2d", "Slice"}),
    "shape_chain_reshape": (shape_chain_reshape, {"Constant", "Multiply", "Flatten", "Linear"}),  # a computed gain stays a fixed value
    "channel_shuffle": (channel_shuffle_graph, {"ChannelShuffle"}),
    "activations": (
        activations,
        {
            "LeakyReLU",
            "ELU",
            "SELU",
            "Hardsigmoid",
            "Softplus",
            "ReLU6",
            "SiLU",
            "PReLU",
            "Tanh",
            "Softmax",
        },
    ),
    "legacy_opset_7": (
        legacy_opset_7,
        {"BatchNorm2d", "Dropout", "ReLU", "LocalResponseNorm", "Upsample"},
    ),
    "resizing_and_transposed": (
        resizing_and_transposed,
        {"ConvTranspose2d", "Upsample"},
    ),
    "reductions_and_squeezes": (
        reductions_and_squeezes,
        {"AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Add", "Reshape", "GlobalMaxPool1d"},
    ),
    "wide_concat": (wide_concat, {"Concat"}),
    "tokens": (tokens, {"Embedding", "LayerNorm", "SequencePool"}),
    "recurrent_ops": (recurrent_ops, {"LSTM", "GRU", "RNN", "Add"}),
    "norms": (norms, {"InstanceNorm2d", "GroupNorm"}),
}


# ----- checking an import -----
def generated_model(imported: object) -> torch.nn.Module:
    """The imported project's generated PyTorch model, holding the imported weights."""
    from studio.codegen.export import build_torch_model
    from studio.codegen.pytorch import generate_pytorch
    from studio.codegen.weights import by_attribute

    model_ = build_torch_model(generate_pytorch(imported.project), 0)  # type: ignore[attr-defined]
    state = {
        key: torch.from_numpy(np.array(value))
        for key, value in by_attribute(imported.state, imported.project).items()  # type: ignore[attr-defined]
    }
    model_.load_state_dict(state)
    return model_


def sample_inputs(session: object, batch: int, seed: int = 1, positive: bool = False) -> list[torch.Tensor]:
    """Random inputs for an ONNX Runtime session's inputs at `batch` (token ids below 10; values above 0 if `positive`)."""
    generator = torch.Generator().manual_seed(seed)
    xs = []
    for value in session.get_inputs():  # type: ignore[attr-defined]
        shape = [batch, *value.shape[1:]]
        if "int" in value.type:
            xs.append(torch.randint(0, 10, shape, generator=generator))
        else:
            x = torch.randn(shape, generator=generator)
            xs.append(made_positive(x) if positive else x)
    return xs


def assert_matches_onnxruntime(
    source: Path | bytes, imported: object, batch: int = 3
) -> None:
    """The generated PyTorch code with the imported weights gives ONNX Runtime's outputs of `source` (1e-4)."""
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(source) if isinstance(source, Path) else source,
        providers=["CPUExecutionProvider"],
    )
    xs = sample_inputs(session, batch, positive=needs_positive_inputs(imported.project.graph))  # type: ignore[attr-defined]
    expected = session.run(
        None, {v.name: x.numpy() for v, x in zip(session.get_inputs(), xs)}
    )
    with torch.no_grad():
        got = generated_model(imported)(*xs)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, torch.from_numpy(e), rtol=1e-4, atol=1e-5)
