"""Fresh weights for layers a .caffemodel leaves out, drawn from the prototxt's fillers as Caffe draws them."""

from __future__ import annotations

import numpy as np
import pytest

from studio.interop.caffe_builder import Sink
from studio.interop.caffe_fillers import fresh_state
from studio.interop.common import ModelImportError
from studio.interop.prototxt import parse


def settings(text: str) -> Sink:
    """A convolution sink whose parameters are `text` (a convolution_param body)."""
    return Sink("conv", "n1", settings=parse(text.encode()))


def draw(sink: Sink, shapes: dict) -> dict[str, np.ndarray]:
    return fresh_state(sink, shapes, np.random.default_rng(0))


def test_left_out_fillers_are_caffes_constant_defaults() -> None:
    drawn = draw(Sink("conv", "n1"), {"weight": (4, 3, 3, 3), "bias": (4,)})
    assert not drawn["weight"].any() and not drawn["bias"].any()
    assert np.all(draw(Sink("prelu", "n1"), {"weight": (4,)})["weight"] == 0.25)
    scale = draw(Sink("scale", "n1"), {"weight": (4,), "bias": (4,)})
    assert np.all(scale["weight"] == 1) and np.all(scale["bias"] == 0)


def test_batch_norm_starts_as_a_fresh_pytorch_batch_norm() -> None:
    drawn = draw(Sink("batch_norm", "n1"), {"running_mean": (5,), "running_var": (5,), "num_batches_tracked": ()})
    assert set(drawn) == {"running_mean", "running_var"}
    assert np.all(drawn["running_mean"] == 0) and np.all(drawn["running_var"] == 1)


@pytest.mark.parametrize(
    ("filler", "std"),
    [
        ('type: "gaussian" std: 0.05', 0.05),
        ('type: "msra"', np.sqrt(2 / (16 * 9))),
        ('type: "msra" variance_norm: FAN_OUT', np.sqrt(2 / (64 * 9))),
        ('type: "xavier" variance_norm: AVERAGE', np.sqrt(3 / ((16 * 9 + 64 * 9) / 2)) / np.sqrt(3)),
    ],
)
def test_random_fillers_have_caffes_spread(filler: str, std: float) -> None:
    weight = draw(settings(f"weight_filler {{ {filler} }}"), {"weight": (64, 16, 3, 3)})["weight"]
    assert weight.dtype == np.float32
    assert abs(weight.std() / std - 1) < 0.05


def test_constant_uniform_and_bilinear_fillers() -> None:
    drawn = draw(
        settings('weight_filler { type: "bilinear" } bias_filler { type: "constant" value: 0.5 }'),
        {"weight": (2, 1, 4, 4), "bias": (2,)},
    )
    taps = np.array([0.25, 0.75, 0.75, 0.25])  # Caffe's 2x upsampling kernel
    np.testing.assert_allclose(drawn["weight"][1, 0], np.outer(taps, taps))
    assert np.all(drawn["bias"] == 0.5)
    uniform = draw(settings('weight_filler { type: "uniform" min: -2 max: -1 }'), {"weight": (50, 50)})["weight"]
    assert uniform.min() >= -2 and uniform.max() <= -1


def test_a_filler_that_cannot_be_drawn_is_named() -> None:
    with pytest.raises(ModelImportError, match="'unitball_of_doom' filler"):
        draw(settings('weight_filler { type: "unitball_of_doom" }'), {"weight": (2, 2)})
