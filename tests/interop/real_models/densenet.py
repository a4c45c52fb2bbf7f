"""DenseNet-121 (Huang et al. 2017) with torchvision's module names: dense blocks of bottleneck layers, transitions halving."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class DenseLayer(nn.Module):
    """BN, ReLU, 1x1 to `bottleneck` x growth, BN, ReLU, 3x3 to `growth`, on every earlier map joined."""

    def __init__(self, cin: int, growth: int, bottleneck: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bottleneck * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bottleneck * growth, growth, 3, padding=1, bias=False)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(self.relu1(self.norm1(torch.cat(maps, 1))))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, layers: int, cin: int, growth: int, bottleneck: int) -> None:
        super().__init__({f"denselayer{i + 1}": DenseLayer(cin + i * growth, growth, bottleneck) for i in range(layers)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [x]
        for layer in self.values():
            maps.append(layer(maps))
        return torch.cat(maps, 1)


class Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(OrderedDict(norm=nn.BatchNorm2d(cin), relu=nn.ReLU(inplace=True), conv=nn.Conv2d(cin, cout, 1, bias=False), pool=nn.AvgPool2d(2, 2)))


class DenseNet(nn.Module):
    def __init__(self, growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16), stem: int = 64, bottleneck: int = 4, classes: int = 1000) -> None:
        super().__init__()
        layers = OrderedDict(
            conv0=nn.Conv2d(3, stem, 7, 2, 3, bias=False), norm0=nn.BatchNorm2d(stem), relu0=nn.ReLU(inplace=True), pool0=nn.MaxPool2d(3, 2, 1)
        )
        channels = stem
        for i, count in enumerate(blocks, start=1):
            layers[f"denseblock{i}"] = DenseBlock(count, channels, growth, bottleneck)
            channels += count * growth
            if i < len(blocks):
                layers[f"transition{i}"] = Transition(channels, channels // 2)
                channels //= 2
        layers["norm5"] = nn.BatchNorm2d(channels)
        self.features = nn.Sequential(layers)
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu(self.features(x))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def densenet121(growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16), stem: int = 64, classes: int = 1000) -> DenseNet:
    return DenseNet(growth, blocks, stem, 4, classes)
