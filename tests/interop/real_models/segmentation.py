"""Segmentation models: FCN on a dilated ResNet-50, DeepLabV3 and LR-ASPP on a dilated MobileNetV3-large (torchvision's names)."""

from __future__ import annotations

import torch
from torch import nn

from tests.interop.real_models.layers import Head, Taps, upsampled
from tests.interop.real_models.mobilenet import mobilenet_v3_large
from tests.interop.real_models.resnet import Bottleneck, ResNet


class FCNHead(nn.Sequential):
    """A 3x3 to a quarter of the width, BatchNorm, ReLU, dropout, and a 1x1 to the classes."""

    def __init__(self, cin: int, classes: int) -> None:
        inner = cin // 4
        super().__init__(
            nn.Conv2d(cin, inner, 3, padding=1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(), nn.Dropout(0.1), nn.Conv2d(inner, classes, 1)
        )


class ASPPPooling(nn.Sequential):
    """The image-level branch: global average, 1x1, BatchNorm, ReLU, spread back over the map."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return upsampled(x, size)


def branch(cin: int, cout: int, rate: int) -> nn.Sequential:
    """A 1x1 branch (rate 0) or a 3x3 atrous one, each with BatchNorm and ReLU."""
    kernel, padding = (1, 0) if rate == 0 else (3, rate)
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=padding, dilation=max(rate, 1), bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: a 1x1, three atrous 3x3s and the pooled branch, joined and projected."""

    def __init__(self, cin: int, rates: tuple[int, int, int] = (12, 24, 36), cout: int = 256) -> None:
        super().__init__()
        self.convs = nn.ModuleList([branch(cin, cout, 0), *(branch(cin, cout, r) for r in rates), ASPPPooling(cin, cout)])
        self.project = nn.Sequential(nn.Conv2d(5 * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], 1))


class DeepLabHead(nn.Sequential):
    def __init__(self, cin: int, classes: int, width: int = 256) -> None:
        super().__init__(
            ASPP(cin, cout=width), nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, classes, 1)
        )


class LRASPPHead(nn.Module):
    """Lite R-ASPP: the deep map gated by its pooled sigmoid, upsampled to the shallow map, both classified and added."""

    def __init__(self, low: int, high: int, classes: int, inner: int = 128) -> None:
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high, inner, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high, inner, 1, bias=False), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low, classes, 1)
        self.high_classifier = nn.Conv2d(inner, classes, 1)

    def forward(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        low, high = maps["low"], maps["high"]
        x = upsampled(self.cbr(high) * self.scale(high), low.shape[-2:])
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPP(nn.Module):
    def __init__(self, backbone: nn.Module, head: LRASPPHead) -> None:
        super().__init__()
        self.backbone, self.classifier = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsampled(self.classifier(self.backbone(x)), x.shape[-2:])


def fcn_resnet50(depths: tuple[int, ...] = (3, 4, 6, 3), width: int = 64, classes: int = 21, aux: bool = True) -> nn.Module:
    """FCN-ResNet50: ResNet-50 with its last two stages dilated instead of strided (output stride 8), FCN heads on layer4 and layer3."""
    net = ResNet(Bottleneck, depths, 1000, width, (False, True, True))
    taps = {"layer4": "out", **({"layer3": "aux"} if aux else {})}
    return Head(Taps(net, taps), FCNHead(width * 32, classes), FCNHead(width * 16, classes) if aux else None)


def mobilenet_taps(width: float, blocks: int | None) -> tuple[nn.Module, int, int, str, str]:
    """A dilated MobileNetV3-large's features cut after the last layer; its deep tap (the last layer) and shallow one (the fourth stride from the end)."""
    features = mobilenet_v3_large(width, blocks, dilated=True).features
    strided = [0] + [i for i, m in enumerate(features) if getattr(m, "is_strided", False)] + [len(features) - 1]
    deep, shallow = strided[-1], strided[-4]
    return features, features[deep].out_channels, features[shallow].out_channels, str(deep), str(shallow)


def deeplabv3_mobilenet_v3_large(width: float = 1.0, blocks: int | None = None, classes: int = 21, aux: bool = True, head: int = 256) -> nn.Module:
    """DeepLabV3: ASPP on a dilated MobileNetV3-large (output stride 16), an FCN head on the shallow tap."""
    features, deep_width, shallow_width, deep, shallow = mobilenet_taps(width, blocks)
    taps = {deep: "out", **({shallow: "aux"} if aux else {})}
    return Head(Taps(features, taps), DeepLabHead(deep_width, classes, head), FCNHead(shallow_width, classes) if aux else None)


def lraspp_mobilenet_v3_large(width: float = 1.0, blocks: int | None = None, classes: int = 21, head: int = 128) -> nn.Module:
    features, deep_width, shallow_width, deep, shallow = mobilenet_taps(width, blocks)
    return LRASPP(Taps(features, {deep: "high", shallow: "low"}), LRASPPHead(shallow_width, deep_width, classes, head))
