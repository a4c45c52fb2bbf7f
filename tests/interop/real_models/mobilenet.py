"""MobileNetV3 (Howard et al. 2019), large and small, with torchvision's module names and channel rounding."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from tests.interop.real_models.layers import (
    ConvNormActivation,
    SqueezeExcitation,
    divisible,
)

Norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


@dataclass(frozen=True)
class Stage:
    """One inverted-residual block: input, kernel, expanded and output widths, SE gate, hard-swish, stride, dilation."""

    cin: int
    kernel: int
    expanded: int
    cout: int
    se: bool
    hardswish: bool
    stride: int
    dilation: int = 1

    def scaled(self, width: float) -> Stage:
        return Stage(divisible(self.cin * width), self.kernel, divisible(self.expanded * width), divisible(self.cout * width),
                     self.se, self.hardswish, self.stride, self.dilation)  # fmt: skip


def large_stages(dilated: bool = False) -> tuple[list[Stage], int]:
    d = 2 if dilated else 1
    rows = [
        (16, 3, 16, 16, False, False, 1), (16, 3, 64, 24, False, False, 2), (24, 3, 72, 24, False, False, 1),
        (24, 5, 72, 40, True, False, 2), (40, 5, 120, 40, True, False, 1), (40, 5, 120, 40, True, False, 1),
        (40, 3, 240, 80, False, True, 2), (80, 3, 200, 80, False, True, 1), (80, 3, 184, 80, False, True, 1),
        (80, 3, 184, 80, False, True, 1), (80, 3, 480, 112, True, True, 1), (112, 3, 672, 112, True, True, 1),
        (112, 5, 672, 160, True, True, 2, d), (160, 5, 960, 160, True, True, 1, d), (160, 5, 960, 160, True, True, 1, d),
    ]  # fmt: skip
    return [Stage(*row) for row in rows], 1280


def small_stages(dilated: bool = False) -> tuple[list[Stage], int]:
    d = 2 if dilated else 1
    rows = [
        (16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2), (24, 3, 88, 24, False, False, 1),
        (24, 5, 96, 40, True, True, 2), (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
        (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1), (48, 5, 288, 96, True, True, 2, d),
        (96, 5, 576, 96, True, True, 1, d), (96, 5, 576, 96, True, True, 1, d),
    ]  # fmt: skip
    return [Stage(*row) for row in rows], 1024


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (kxk), an optional hard-sigmoid SE gate, project (1x1); a shortcut at stride 1 and equal widths."""

    def __init__(self, s: Stage) -> None:
        super().__init__()
        act = nn.Hardswish if s.hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if s.expanded != s.cin:
            layers.append(ConvNormActivation(s.cin, s.expanded, 1, norm=Norm, activation=act))
        stride = 1 if s.dilation > 1 else s.stride
        layers.append(ConvNormActivation(s.expanded, s.expanded, s.kernel, stride, s.expanded, act, s.dilation, Norm))
        if s.se:
            layers.append(SqueezeExcitation(s.expanded, divisible(s.expanded // 4), nn.ReLU, nn.Hardsigmoid))
        layers.append(ConvNormActivation(s.expanded, s.cout, 1, norm=Norm, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = s.cout
        self.shortcut = s.stride == 1 and s.cin == s.cout
        self.is_strided = s.stride > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.shortcut else y


class MobileNetV3(nn.Module):
    """A hard-swish stem, the inverted-residual blocks, a 1x1 to six times the last width, and a two-layer classifier."""

    def __init__(self, stages: list[Stage], last: int, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvNormActivation(3, stages[0].cin, 3, 2, norm=Norm, activation=nn.Hardswish)]
        layers += [InvertedResidual(s) for s in stages]
        layers.append(ConvNormActivation(stages[-1].cout, 6 * stages[-1].cout, 1, norm=Norm, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(6 * stages[-1].cout, last), nn.Hardswish(inplace=True), nn.Dropout(0.2, inplace=True), nn.Linear(last, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def configured(table: tuple[list[Stage], int], width: float, blocks: int | None) -> tuple[list[Stage], int]:
    """The stage table scaled by `width` and cut to its first `blocks` blocks (the suite's small configurations)."""
    stages, last = table
    return [s.scaled(width) for s in stages[:blocks]], divisible(last * width)


def mobilenet_v3_large(width: float = 1.0, blocks: int | None = None, classes: int = 1000, dilated: bool = False) -> MobileNetV3:
    return MobileNetV3(*configured(large_stages(dilated), width, blocks), classes)


def mobilenet_v3_small(width: float = 1.0, blocks: int | None = None, classes: int = 1000, dilated: bool = False) -> MobileNetV3:
    return MobileNetV3(*configured(small_stages(dilated), width, blocks), classes)
