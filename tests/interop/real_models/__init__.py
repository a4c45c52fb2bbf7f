"""torchvision's classification and segmentation models, written in torch.nn from their published definitions.

torchvision itself cannot be installed beside the CPU build of torch this project pins (its
wheel's operators fail to load), so each family is built here with torchvision's module
names; at the default (published) configuration every model has torchvision's documented
parameter count (`PUBLISHED`, checked by `tests/interop/test_real_models.py` on the meta
device). Each builder takes size knobs; `SMALL` holds the configuration the test suite uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from tests.interop.real_models import (
    compact,
    convnext,
    densenet,
    efficientnet,
    mobilenet,
    resnet,
    segmentation,
    transformers,
)


@dataclass(frozen=True)
class RealModel:
    """A builder, the (C, H, W) image it classifies at full size, torchvision's parameter count, and the suite's small configuration."""

    build: Callable[..., nn.Module]
    shape: tuple[int, int, int]
    published: int
    small: dict = field(default_factory=dict)
    small_shape: tuple[int, int, int] = (3, 32, 32)

    def full(self) -> nn.Module:
        return self.build()

    def reduced(self) -> nn.Module:
        return self.build(**self.small)


IMAGE = (3, 224, 224)
SEGMENTATION = (3, 520, 520)  # the size torchvision's segmentation weights are evaluated at

MODELS: dict[str, RealModel] = {
    "resnet18": RealModel(resnet.resnet18, IMAGE, 11_689_512, {"depths": (1, 1, 1, 1), "width": 8, "classes": 10}),
    "resnet50": RealModel(resnet.resnet50, IMAGE, 25_557_032, {"depths": (1, 1, 1, 1), "width": 8, "classes": 10}),
    "mobilenet_v3_small": RealModel(mobilenet.mobilenet_v3_small, IMAGE, 2_542_856, {"width": 0.5, "blocks": 5, "classes": 10}),
    "mobilenet_v3_large": RealModel(mobilenet.mobilenet_v3_large, IMAGE, 5_483_032, {"width": 0.5, "blocks": 6, "classes": 10}),
    "efficientnet_b0": RealModel(efficientnet.efficientnet_b0, IMAGE, 5_288_548, {"width": 0.5, "stages": 3, "classes": 10}),
    "regnet_y_400mf": RealModel(efficientnet.regnet_y_400mf, IMAGE, 4_344_144, {"widths": (16, 24), "depths": (1, 2), "classes": 10}),
    "convnext_tiny": RealModel(convnext.convnext_tiny, IMAGE, 28_589_128, {"widths": (8, 16), "depths": (1, 1), "classes": 10}),
    "swin_t": RealModel(transformers.swin_t, IMAGE, 28_288_354, {"dim": 16, "depths": (2, 2), "heads": (1, 2), "window": 4, "classes": 10}),
    "vit_b_16": RealModel(transformers.vit_b_16, IMAGE, 86_567_656, {"image": 32, "layers": 2, "heads": 2, "dim": 32, "hidden": 64, "classes": 10}),
    "shufflenet_v2_x1_0": RealModel(compact.shufflenet_v2_x1_0, IMAGE, 2_278_604, {"repeats": (2, 1, 1), "widths": (8, 16, 32, 64, 128), "classes": 10}),
    "squeezenet1_1": RealModel(compact.squeezenet1_1, IMAGE, 1_235_496, {"width": 0.25, "classes": 10}, (3, 64, 64)),
    "densenet121": RealModel(densenet.densenet121, IMAGE, 7_978_856, {"growth": 8, "blocks": (2, 2), "stem": 16, "classes": 10}),
    "fcn_resnet50": RealModel(segmentation.fcn_resnet50, SEGMENTATION, 35_322_218, {"depths": (1, 1, 1, 1), "width": 8, "classes": 5}),
    "deeplabv3_mobilenet_v3_large": RealModel(
        segmentation.deeplabv3_mobilenet_v3_large, SEGMENTATION, 11_029_328, {"width": 0.25, "classes": 5, "head": 16}
    ),
    "lraspp_mobilenet_v3_large": RealModel(segmentation.lraspp_mobilenet_v3_large, SEGMENTATION, 3_221_538, {"width": 0.25, "classes": 5, "head": 16}),
}
