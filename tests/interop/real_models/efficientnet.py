"""EfficientNet-B0 (Tan & Le 2019) and RegNetY-400MF (Radosavovic et al. 2020) with torchvision's module names."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from tests.interop.real_models.layers import (
    ConvNormActivation,
    SqueezeExcitation,
    divisible,
)

# EfficientNet-B0's stages: expansion, kernel, stride, input and output widths, blocks.
B0 = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
      (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))  # fmt: skip


class MBConv(nn.Module):
    """Expand (1x1, SiLU), depthwise (SiLU), a sigmoid SE gate squeezed to a quarter of the input width, project; a shortcut."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        expanded = divisible(cin * expand)
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(ConvNormActivation(cin, expanded, 1, activation=nn.SiLU))
        layers.append(ConvNormActivation(expanded, expanded, kernel, stride, expanded, nn.SiLU))
        layers.append(SqueezeExcitation(expanded, max(1, cin // 4), nn.SiLU))
        layers.append(ConvNormActivation(expanded, cout, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.shortcut else y  # stochastic depth is the identity in eval mode


class EfficientNet(nn.Module):
    def __init__(self, stages: tuple[tuple[int, ...], ...] = B0, width: float = 1.0, classes: int = 1000) -> None:
        super().__init__()
        scaled = [(e, k, s, divisible(cin * width), divisible(cout * width), n) for e, k, s, cin, cout, n in stages]
        layers: list[nn.Module] = [ConvNormActivation(3, scaled[0][3], 3, 2, activation=nn.SiLU)]
        for expand, kernel, stride, cin, cout, count in scaled:
            layers.append(nn.Sequential(*[MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout) for i in range(count)]))
        last = 4 * scaled[-1][4]
        layers.append(ConvNormActivation(scaled[-1][4], last, 1, activation=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(last, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def efficientnet_b0(width: float = 1.0, stages: int = 7, classes: int = 1000) -> EfficientNet:
    """EfficientNet-B0, or its first `stages` stages at `width` times the channels."""
    return EfficientNet(B0[:stages], width, classes)


class BottleneckTransform(nn.Sequential):
    """RegNetY's block body: 1x1 (`a`), grouped 3x3 (`b`), an SE gate squeezed to a quarter of the block's input width, 1x1 (`c`)."""

    def __init__(self, cin: int, cout: int, stride: int, group_width: int, se_ratio: float) -> None:
        layers = OrderedDict(
            a=ConvNormActivation(cin, cout, 1), b=ConvNormActivation(cout, cout, 3, stride, cout // group_width),
            se=SqueezeExcitation(cout, round(se_ratio * cin)), c=ConvNormActivation(cout, cout, 1, activation=None),
        )  # fmt: skip
        super().__init__(layers)


class ResBottleneckBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, group_width: int, se_ratio: float) -> None:
        super().__init__()
        self.proj = ConvNormActivation(cin, cout, 1, stride, activation=None) if cin != cout or stride != 1 else None
        self.f = BottleneckTransform(cin, cout, stride, group_width, se_ratio)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation((x if self.proj is None else self.proj(x)) + self.f(x))


class RegNet(nn.Module):
    """A 3x3 stride-2 stem to 32 channels, stages `block1`... of residual bottlenecks (`block1-0`, ...), global pooling, `fc`."""

    def __init__(self, widths: tuple[int, ...], depths: tuple[int, ...], group_width: int, se_ratio: float = 0.25, classes: int = 1000, stem: int = 32) -> None:
        super().__init__()
        self.stem = ConvNormActivation(3, stem, 3, 2)
        stages, cin = OrderedDict(), stem
        for i, (width, depth) in enumerate(zip(widths, depths), start=1):
            stage = nn.Sequential()
            for j in range(depth):
                stage.add_module(f"block{i}-{j}", ResBottleneckBlock(cin, width, 2 if j == 0 else 1, min(group_width, width), se_ratio))
                cin = width
            stages[f"block{i}"] = stage
        self.trunk_output = nn.Sequential(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.trunk_output(self.stem(x))), 1))


def regnet_y_400mf(widths: tuple[int, ...] = (48, 104, 208, 440), depths: tuple[int, ...] = (1, 3, 6, 6), group_width: int = 8, classes: int = 1000) -> RegNet:
    """RegNetY-400MF: the stage widths and depths its design-space formula gives (w0 48, wa 27.89, wm 2.09, depth 16), group width 8, SE 1/4."""
    return RegNet(widths, depths, group_width, 0.25, classes)
