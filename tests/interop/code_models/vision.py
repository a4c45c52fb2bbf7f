"""torchvision architectures at small sizes, built as a user builds them (`resnet18(weights=None, num_classes=10)`).

torchvision's wheel does not load beside the CPU build of torch this project pins, so the same
architectures come from tests/interop/real_models, written with torchvision's module names.
"""

from tests.interop.real_models.convnext import convnext_tiny
from tests.interop.real_models.mobilenet import mobilenet_v3_small
from tests.interop.real_models.resnet import resnet18


def small_resnet18():
    return resnet18(depths=(2, 1, 1, 1), width=8, classes=10)


def small_mobilenet_v3():
    return mobilenet_v3_small(width=0.5, blocks=5, classes=10)


def small_convnext():
    return convnext_tiny(widths=(8, 16), depths=(2, 1), classes=10)


def small_vit():
    from tests.interop.real_models.transformers import vit_b_16
    return vit_b_16(image=32, layers=2, heads=2, dim=32, hidden=64, classes=10)


def small_efficientnet():
    from tests.interop.real_models.efficientnet import efficientnet_b0
    return efficientnet_b0(width=0.5, stages=3, classes=10)
