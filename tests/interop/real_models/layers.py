"""Pieces torchvision's models share, written in torch.nn with torchvision's module names."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def divisible(value: float, divisor: int = 8, least: int | None = None) -> int:
    """`value` rounded to a multiple of `divisor`, never more than 10% below it (MobileNet's channel rule)."""
    least = divisor if least is None else least
    rounded = max(least, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvNormActivation(nn.Sequential):
    """A convolution, a normalization (`0`, `1`) and an optional activation (`2`), padded to keep the size at stride 1."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation: Callable[[], nn.Module] | None = nn.ReLU,
        dilation: int = 1,
        norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        padding: int | None = None,
        bias: bool | None = None,
    ) -> None:
        padding = (kernel - 1) // 2 * dilation if padding is None else padding
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, groups=groups, bias=norm is None if bias is None else bias)
        ]
        if norm is not None:
            layers.append(norm(cout))
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)
        self.out_channels = cout


class SqueezeExcitation(nn.Module):
    """Channel gates: global average, a 1x1 squeeze (`fc1`), an activation, a 1x1 expand (`fc2`), a gate curve, a product."""

    def __init__(
        self, channels: int, squeezed: int, activation: Callable[[], nn.Module] = nn.ReLU, gate: Callable[[], nn.Module] = nn.Sigmoid
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.activation = activation()
        self.scale_activation = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class Permute(nn.Module):
    """Dimensions reordered, as torchvision's ConvNeXt and Swin move channels last and back."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class Head(nn.Module):
    """A segmentation model's wrapper: the backbone's maps, the classifier (and the auxiliary one), scaled back to the image."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module, aux_classifier: nn.Module | None) -> None:
        super().__init__()
        self.backbone, self.classifier, self.aux_classifier = backbone, classifier, aux_classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        size = x.shape[-2:]
        maps = self.backbone(x)
        out = upsampled(self.classifier(maps["out"]), size)
        if self.aux_classifier is None:
            return out
        return out, upsampled(self.aux_classifier(maps["aux"]), size)


def upsampled(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Taps(nn.Module):
    """A sequential backbone run to its last tapped layer, returning the tapped maps by name (IntermediateLayerGetter)."""

    def __init__(self, layers: nn.Module, taps: dict[str, str]) -> None:
        super().__init__()
        self.taps = dict(taps)
        names = [name for name, _ in layers.named_children()]
        last = max(names.index(name) for name in taps)
        for name, module in list(layers.named_children())[: last + 1]:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        found = {}
        for name, module in self.named_children():
            x = module(x)
            if name in self.taps:
                found[self.taps[name]] = x
        return found
