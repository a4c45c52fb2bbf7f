"""Fresh weights for layers a .caffemodel leaves out, drawn as the prototxt's Caffe fillers would draw them.

Caffe starts every learned blob from its layer's filler (`weight_filler`, `bias_filler`, PReLU's
`filler`, Scale's `filler`); a filler left out is Caffe's default, a constant (0, or PReLU's
0.25 and Scale's 1). Blob layouts equal PyTorch's here (Convolution, Deconvolution and
InnerProduct weights are (out, in, ...), (in, out, ...) and (out, in)), so fan-in and fan-out
are read from the layer's declared shapes as Caffe reads them from its blobs. BatchNorm has no
filler: its statistics start as a fresh PyTorch BatchNorm's (mean 0, variance 1), not Caffe's
all-zero blobs, which would divide by sqrt(eps) until the statistics are learned.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from studio.interop.caffe_builder import Sink
from studio.interop.common import ModelImportError
from studio.interop.prototxt import Message

if TYPE_CHECKING:
    import numpy as np

_DEFAULTS = {"prelu": ("filler", 0.25), "scale": ("filler", 1.0)}
_NORMS = {"FAN_IN": "FAN_IN", "FAN_OUT": "FAN_OUT", "AVERAGE": "AVERAGE", "0": "FAN_IN", "1": "FAN_OUT", "2": "AVERAGE"}


def fresh_state(sink: Sink, shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The tensors one Caffe layer's blobs would fill (`shapes`: its node's declared state), freshly drawn."""
    import numpy as np

    if sink.kind == "batch_norm":
        return {
            name: (np.ones if name == "running_var" else np.zeros)(shape, dtype=np.float32)
            for name, shape in shapes.items()
            if name in ("running_mean", "running_var")
        }
    weight_filler, weight_default = _DEFAULTS.get(sink.kind, ("weight_filler", 0.0))
    drawn = {}
    if "weight" in shapes:
        drawn["weight"] = _draw(_child(sink.settings, weight_filler), weight_default, shapes["weight"], rng)
    if "bias" in shapes and sink.kind != "prelu":
        drawn["bias"] = _draw(_child(sink.settings, "bias_filler"), 0.0, shapes["bias"], rng)
    return drawn


def _child(settings: Message | None, name: str) -> Message | None:
    return settings.child(name) if settings is not None else None


def _draw(filler: Message | None, default: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """One blob drawn from a FillerParameter (None: the constant `default`)."""
    import numpy as np

    kind = filler.text("type", "constant") if filler is not None else "constant"
    count = math.prod(shape)
    fan_in = count // shape[0] if shape and shape[0] else count
    fan_out = count // shape[1] if len(shape) > 1 and shape[1] else count
    if filler is None or kind == "constant":
        value = filler.number("value", 0.0) if filler is not None else default
        return np.full(shape, value, dtype=np.float32)
    if kind == "uniform":
        low, high = filler.number("min", 0.0), filler.number("max", 1.0)
        return rng.uniform(low, high, shape).astype(np.float32)
    if kind == "gaussian":
        return rng.normal(filler.number("mean", 0.0), filler.number("std", 1.0), shape).astype(np.float32)
    if kind in ("xavier", "msra"):
        norm = _NORMS.get(filler.enum("variance_norm", "FAN_IN") or "", "FAN_IN")
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "AVERAGE": (fan_in + fan_out) / 2}[norm]
        if kind == "xavier":
            scale = math.sqrt(3.0 / n)
            return rng.uniform(-scale, scale, shape).astype(np.float32)
        return rng.normal(0.0, math.sqrt(2.0 / n), shape).astype(np.float32)
    if kind == "positive_unitball":
        drawn = rng.uniform(0.0, 1.0, (shape[0], fan_in))
        return (drawn / drawn.sum(axis=1, keepdims=True)).reshape(shape).astype(np.float32)
    if kind == "bilinear" and len(shape) == 4 and shape[2] == shape[3]:
        return np.broadcast_to(_bilinear(shape[3]), shape).astype(np.float32)
    raise ModelImportError(
        f"its {kind!r} filler cannot start the weights the .caffemodel leaves out; Layer Studio draws constant, "
        "uniform, gaussian, xavier, msra, positive_unitball and square bilinear fillers"
    )


def _bilinear(size: int) -> np.ndarray:
    """Caffe's bilinear upsampling kernel of `size` x `size` (its BilinearFiller)."""
    import numpy as np

    factor = math.ceil(size / 2)
    centre = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    taps = 1 - np.abs(np.arange(size) / factor - centre)
    return np.outer(taps, taps)
