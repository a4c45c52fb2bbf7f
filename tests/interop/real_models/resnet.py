"""ResNet (He et al. 2015, torchvision's v1.5: the stride on the 3x3) with torchvision's module names."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a shortcut (projected when the shape changes)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + shortcut)


class Bottleneck(nn.Module):
    """1x1 down to `width`, a (strided, possibly dilated) 3x3, 1x1 up to four times `width`; a shortcut around them."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + shortcut)


class ResNet(nn.Module):
    """A stem (7x7 stride 2, max pool), four stages of blocks doubling the width, global pooling and `fc`."""

    def __init__(
        self, block: type, depths: tuple[int, ...], classes: int = 1000, width: int = 64, dilate: tuple[bool, bool, bool] = (False, False, False)
    ) -> None:
        super().__init__()
        self.cin, self.dilation = width, 1
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block, width, depths[0], 1, False)
        self.layer2 = self._stage(block, width * 2, depths[1], 2, dilate[0])
        self.layer3 = self._stage(block, width * 4, depths[2], 2, dilate[1])
        self.layer4 = self._stage(block, width * 8, depths[3], 2, dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width * 8 * block.expansion, classes)

    def _stage(self, block: type, width: int, depth: int, stride: int, dilate: bool) -> nn.Sequential:
        """`depth` blocks; the first changes the shape (or, dilated, widens the dilation instead of striding)."""
        previous = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.cin != width * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.cin, width * block.expansion, 1, stride, bias=False), nn.BatchNorm2d(width * block.expansion))
        blocks = [block(self.cin, width, stride, downsample, previous)]
        self.cin = width * block.expansion
        blocks += [block(self.cin, width, dilation=self.dilation) for _ in range(1, depth)]
        return nn.Sequential(*blocks)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def resnet18(depths: tuple[int, ...] = (2, 2, 2, 2), width: int = 64, classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, depths, classes, width)


def resnet50(depths: tuple[int, ...] = (3, 4, 6, 3), width: int = 64, classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, depths, classes, width)
