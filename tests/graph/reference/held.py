"""PyTorch references for the tensors a network holds: a learned Parameter, a fixed Constant."""

import torch
from hypothesis import strategies as st

from tests.graph.reference import Case, small


class _Held(torch.nn.Module):
    """What PyTorch code holding a class token or a mask does: a (1, *shape) parameter or buffer, returned."""

    def __init__(self, shape: tuple[int, ...], learned: bool) -> None:
        super().__init__()
        tensor = torch.zeros(1, *shape)
        if learned:
            self.weight = torch.nn.Parameter(tensor)
        else:
            self.register_buffer("value", tensor)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        held = self.weight if hasattr(self, "weight") else self.value
        return held if not xs else xs[0] + held  # with an input: as tests/codegen's graph adds it


def _case(learned: bool) -> Case:
    return Case(
        inputs=lambda p: st.just([]),
        params={"shape": st.lists(small(1, 5), min_size=1, max_size=3).map(tuple)},
        build=lambda p, s: _Held(tuple(p["shape"]), learned),
    )


CASES = {"Parameter": _case(True), "Constant": _case(False)}
