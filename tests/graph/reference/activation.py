"""PyTorch references for the activation layers."""

import torch
from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, Lambda, small


def _any_rank(p) -> st.SearchStrategy:
    return st.integers(1, 4).flatmap(lambda r: st.tuples(*[small(1, 5)] * r).map(lambda t: [tuple(t)]))


def _plain(build) -> Case:
    return Case(inputs=_any_rank, build=build)


def _over_batch(p, s) -> bool:
    # Softmax across the batch mixes samples: PyTorch runs it, the catalogue refuses it on
    # purpose (the batch is symbolic in the editor and such a model depends on batch size).
    rank = len(s[0]) + 1
    return -rank <= p["dim"] < rank and p["dim"] % rank == 0


def _hardsigmoid(p, s) -> nn.Module:
    if (p["alpha"], p["beta"]) == (1 / 6, 0.5):
        return nn.Hardsigmoid()
    return Lambda(lambda m, x: torch.clamp(x * p["alpha"] + p["beta"], 0.0, 1.0))


def _swiglu(x: torch.Tensor) -> torch.Tensor:
    first, second = torch.split(x, x.shape[-1] // 2, dim=-1)  # more (or no) pieces for an odd size: refused
    return nn.functional.silu(first) * second


def _softmax(cls) -> Case:
    return Case(
        inputs=_any_rank,
        params={"dim": st.integers(-6, 6)},
        stricter=_over_batch,
        build=lambda p, s: cls(dim=p["dim"]),
        device="cpu",  # on the meta device softmax accepts dim == rank, which CPU and CUDA refuse
    )


CASES = {
    "ReLU": _plain(lambda p, s: nn.ReLU()),
    "ReLU6": _plain(lambda p, s: nn.ReLU6()),
    "LeakyReLU": _plain(lambda p, s: nn.LeakyReLU(p["negative_slope"])),
    "PReLU": _plain(lambda p, s: nn.PReLU(s[0][1] if p["per_channel"] else 1, init=p["init"])),
    "ELU": _plain(lambda p, s: nn.ELU(p["alpha"])),
    "SELU": _plain(lambda p, s: nn.SELU()),
    "GELU": _plain(lambda p, s: nn.GELU(approximate=p["approximate"])),
    "SiLU": _plain(lambda p, s: nn.SiLU()),
    "Mish": _plain(lambda p, s: nn.Mish()),
    "Sigmoid": _plain(lambda p, s: nn.Sigmoid()),
    "Tanh": _plain(lambda p, s: nn.Tanh()),
    "Hardswish": _plain(lambda p, s: nn.Hardswish()),
    "Hardsigmoid": _plain(_hardsigmoid),
    "Softplus": _plain(lambda p, s: nn.Softplus(p["beta"], p["threshold"])),
    "Softmax": _softmax(nn.Softmax),
    "LogSoftmax": _softmax(nn.LogSoftmax),
    "Softmin": _softmax(nn.Softmin),
    "Softsign": _plain(lambda p, s: nn.Softsign()),
    "Hardtanh": _plain(lambda p, s: nn.Hardtanh(p["min_val"], p["max_val"])),
    "LogSigmoid": _plain(lambda p, s: nn.LogSigmoid()),
    "Threshold": _plain(lambda p, s: nn.Threshold(p["threshold"], p["value"])),
    "CELU": _plain(lambda p, s: nn.CELU(p["alpha"])),
    "Softshrink": _plain(lambda p, s: nn.Softshrink(p["lambd"])),
    "Hardshrink": _plain(lambda p, s: nn.Hardshrink(p["lambd"])),
    "Tanhshrink": _plain(lambda p, s: nn.Tanhshrink()),
    "GLU": Case(
        inputs=_any_rank,
        params={"dim": st.integers(-5, 5)},
        stricter=_over_batch,  # GLU halves the batch in PyTorch; the catalogue never splits it
        build=lambda p, s: nn.GLU(p["dim"]),
    ),
    "SwiGLU": _plain(lambda p, s: Lambda(lambda m, x: _swiglu(x))),
}
