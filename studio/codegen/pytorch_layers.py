"""How each catalogue layer type becomes PyTorch: a constructor, a forward expression, helpers.

One small function per layer kind, gathered in `EMITTERS` by layer type. Each gets a `Site`
(the node's parameters, its input shapes, its attribute and the local names of its inputs)
and returns an `Emitted`. Values are emitted with `literal` (a repr); names arrive sanitized.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.graph.catalogue.literals import slice_subscript
from studio.graph.catalogue.pytorch_records import (
    Call,
    Emitted,
    Raw,
    Site,
    kw,
    module,
    options,
)


# ----- core -----
def _identity(s: Site) -> Emitted:
    return module(s, "nn.Identity")


def _linear(s: Site) -> Emitted:
    return module(s, "nn.Linear", str(s.shape[-1]), str(s.params["out_features"]), *options(s.params, {"bias": True}))


def _flatten(s: Site) -> Emitted:
    return module(s, "nn.Flatten")


def _reshape(s: Site) -> Emitted:
    dims = ", ".join(str(d) for d in s.params["shape"])
    return Emitted(None, Call(f"{s.x}.reshape", (f"{s.x}.size(0)", dims)))


def _permute(s: Site) -> Emitted:
    return Emitted(None, Call(f"{s.x}.permute", ("0", *(str(d) for d in s.params["dims"]))))


def _slice(s: Site) -> Emitted:
    p = s.params
    return Emitted(None, Raw(s.x + slice_subscript(p["dim"], len(s.shape), p["start"], p["length"])))


def _dropout(s: Site) -> Emitted:
    return module(s, "nn.Dropout", kw("p", s.params["p"]))


# ----- activations -----
def _activation(cls: str, defaults: dict[str, Any] | None = None) -> Callable[[Site], Emitted]:
    return lambda s: module(s, f"nn.{cls}", *options(s.params, defaults or {}))


def _prelu(s: Site) -> Emitted:
    p = s.params
    count = [kw("num_parameters", int(s.shape[1] or 0))] if p["per_channel"] else []
    return module(s, "nn.PReLU", *count, *options(p, {"init": 0.25}))


def _softmax(cls: str) -> Callable[[Site], Emitted]:
    return lambda s: module(s, f"nn.{cls}", kw("dim", s.params["dim"]))


EMITTERS: dict[str, Callable[[Site], Emitted]] = {
    "Identity": _identity,
    "Linear": _linear,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Slice": _slice,
    "Permute": _permute,
    "Dropout": _dropout,
    "ReLU": _activation("ReLU"),
    "ReLU6": _activation("ReLU6"),
    "LeakyReLU": _activation("LeakyReLU", {"negative_slope": 0.01}),
    "PReLU": _prelu,
    "ELU": _activation("ELU", {"alpha": 1.0}),
    "SELU": _activation("SELU"),
    "GELU": _activation("GELU", {"approximate": "none"}),
    "SiLU": _activation("SiLU"),
    "Mish": _activation("Mish"),
    "Sigmoid": _activation("Sigmoid"),
    "Tanh": _activation("Tanh"),
    "Hardswish": _activation("Hardswish"),
    "Hardsigmoid": _activation("Hardsigmoid"),
    "Softplus": _activation("Softplus", {"beta": 1.0, "threshold": 20.0}),
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
}
