"""Small torch.nn stand-ins for the networks people bring from torchvision and timm, for the import tests.

Each keeps the structure that matters to the importer at a size that exports in a second:
DenseNet-121 and ConvMixer have BatchNorm layers that no convolution precedes (the exporter
cannot fold them), MobileNetV3 has squeeze-and-excitation gates, and the sequence models
are what the dynamo and TorchScript exporters write for LSTM, GRU and attention.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tests.interop import onnx_models as om


class DenseLayer(nn.Module):
    """DenseNet's pre-activation bottleneck: BN, ReLU, 1x1 conv, BN, ReLU, 3x3 conv, on the concatenated inputs."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, 2 * growth, 1, bias=False),
            nn.BatchNorm2d(2 * growth), nn.ReLU(), nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


class DenseNet121(nn.Module):
    """DenseNet-121's layout (stem, dense blocks, transitions, a final norm5 BN) with two blocks of two layers."""

    def __init__(self, growth: int = 4, classes: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        ]  # fmt: skip
        channels = 8
        for block in range(2):
            for _ in range(2):
                layers.append(DenseLayer(channels, growth))
                channels += growth
            if block == 0:
                layers += [
                    nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels // 2, 1, bias=False),
                    nn.AvgPool2d(2, 2),
                ]  # fmt: skip
                channels //= 2
        layers.append(nn.BatchNorm2d(channels))  # norm5: fed by a concatenation, never folded
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.features(x))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


def conv_mixer(dim: int = 8, depth: int = 2, kernel: int = 3, patch: int = 2) -> nn.Module:
    """ConvMixer: a patch embedding and mixer blocks, each convolution followed by GELU then BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(3, dim, patch, patch), nn.GELU(), nn.BatchNorm2d(dim),
        *[
            nn.Sequential(
                Residual(nn.Sequential(
                    nn.Conv2d(dim, dim, kernel, groups=dim, padding="same"), nn.GELU(), nn.BatchNorm2d(dim),
                )),
                nn.Conv2d(dim, dim, 1), nn.GELU(), nn.BatchNorm2d(dim),
            )
            for _ in range(depth)
        ],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(dim, 4),
    )  # fmt: skip


class SqueezeExcite(nn.Module):
    """MobileNetV3's gate: pooled, squeezed, expanded, hard-sigmoid, then a multiply that broadcasts over H and W."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.squeeze, self.expand = nn.Conv2d(channels, channels // 4, 1), nn.Conv2d(channels // 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(torch.relu(self.squeeze(nn.functional.adaptive_avg_pool2d(x, 1))))
        return x * nn.functional.hardsigmoid(gate)


class InvertedResidual(nn.Module):
    """A MobileNetV3 block: depthwise 3x3, BN, hard-swish, squeeze-and-excitation, 1x1 projection, residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False), nn.BatchNorm2d(channels), nn.Hardswish(),
        )  # fmt: skip
        self.gate = SqueezeExcite(channels)
        self.project = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.gate(self.depthwise(x)))


def mobilenet_v3(gates: int = 3) -> nn.Module:
    """A MobileNetV3 stand-in: a stem and `gates` inverted residual blocks, each with its squeeze-and-excitation multiply."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish(),
        *[InvertedResidual(8) for _ in range(gates)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip


class SequenceTagger(nn.Module):
    """A recurrent layer (LSTM, GRU; stacked, bidirectional) read at every step by a Linear."""

    def __init__(self, kind: str = "LSTM", layers: int = 1, bidirectional: bool = False) -> None:
        super().__init__()
        self.recurrent = getattr(nn, kind)(6, 5, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        self.head = nn.Linear(5 * (2 if bidirectional else 1), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.recurrent(x)[0])


class Encoder(nn.Module):
    """A small BERT-like encoder: nn.TransformerEncoderLayer blocks on (N, T, D), averaged over time, then a Linear."""

    def __init__(self, width: int = 16, heads: int = 2, layers: int = 2) -> None:
        super().__init__()
        block = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(1))


def export_fixed_batch(model: nn.Module, sample: torch.Tensor, path: Path, opset: int, dynamo: bool) -> Path:
    """Export `model` for the batch size of `sample` only, as both exporters do when given no dynamic axes."""
    with om.quiet():
        if dynamo:
            torch.onnx.export(model, (sample,), dynamo=True, opset_version=opset, input_names=["x"], external_data=False).save(
                str(path)
            )
        else:
            torch.onnx.export(model, (sample,), str(path), dynamo=False, opset_version=opset, input_names=["x"])
    return path


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """The model in eval mode with random BatchNorm statistics (of every rank), as a trained one has."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                c = module.num_features
                module.weight.copy_(1 + 0.2 * torch.randn(c, generator=generator))
                module.bias.copy_(0.2 * torch.randn(c, generator=generator))
                module.running_mean.copy_(0.2 * torch.randn(c, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(c, generator=generator))
    return model.eval()


# name: (builder, input shape) for the image models
IMAGE_MODELS = {
    "densenet121": (DenseNet121, (3, 32, 32)),
    "convmixer": (conv_mixer, (3, 16, 16)),
}
