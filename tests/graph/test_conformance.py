"""The catalogue's proof: every layer's shapes and counts agree with PyTorch itself.

For each layer type, hypothesis draws parameter sets and input shapes; the layer is placed in
a small graph (Inputs -> layer -> Output) and analysed. Where the analysis accepts the layer,
PyTorch (on the meta device) must produce the same output shape and the same number of
parameters and of saved buffers (running statistics), and for matrix-product layers the same
FLOPs; where it reports an error, PyTorch must fail too, unless the case
documents that the catalogue is stricter on purpose.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, note
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from studio.graph import CATALOGUE, Graph, analyse
from studio.graph.catalogue.base import Folded
from studio.graph.params import Param
from tests.graph.reference import CASES, Case, Lambda

BOUNDARIES = {"Input", "Output"}  # graph ends, not layers: covered by tests/graph/test_shapes.py
# Layers whose work is all matrix products and convolutions, which PyTorch's FlopCounterMode
# counts (2 FLOPs per multiply-accumulate): their MAC estimates are checked against it too.
FLOP_COUNTED = {
    "Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "DepthwiseConv2d",
    "SeparableConv2d", "LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer", "MatMul",
    "TransformerDecoderLayer",
}
BATCH = 2


def test_every_layer_has_a_reference() -> None:
    missing = sorted(set(CATALOGUE) - BOUNDARIES - set(CASES))
    assert not missing, f"layers with no PyTorch reference case: {missing}"
    unknown = sorted(set(CASES) - set(CATALOGUE))
    assert not unknown, f"reference cases for unknown layers: {unknown}"


def default_strategy(param: Param) -> st.SearchStrategy:
    """Values a parameter may take, kept small so tests stay fast."""
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    low = param.min if param.min is not None else 0
    if param.kind == "float":
        high = param.max if param.max is not None else low + 10
        return st.floats(low, high, allow_nan=False)
    high = int(min(param.max if param.max is not None else low + 8, low + 8))
    ints = st.integers(int(low), high)
    if param.kind == "int":
        return ints
    size = param.length or 1
    tuples = st.lists(ints, min_size=size, max_size=size if param.length else 3).map(tuple)
    return st.one_of(tuples, st.sampled_from(param.words)) if param.words else tuples


def _rows(batch: int | None) -> int:
    """The batch dimension at BATCH samples: N, N×k folded, or 1 shared by every sample."""
    return BATCH if batch is None else BATCH * int(batch) if isinstance(batch, Folded) else int(batch)


def sample_shapes_of(result) -> list:
    """The input shapes the analysis saw, one per port (None for an unconnected optional one)."""
    return list(result.inputs)


def analyse_layer(layer_type: str, params: dict, sample_shapes: list, dtype: str):
    """Build Inputs -> layer -> Output and return the layer's analysis result."""
    graph = Graph()
    layer = graph.add_node(layer_type, name="layer", params=params)
    ports = layer.spec.input_ports(layer.params)
    for port, shape in zip(ports, sample_shapes):
        source = graph.add_node("Input", name=f"x_{port.name}", params={"shape": shape, "dtype": dtype})
        graph.connect(source.id, "out", layer.id, port.name)
    for port in layer.spec.output_ports(layer.params):
        sink = graph.add_node("Output", name=f"y_{port.name}")
        graph.connect(layer.id, port.name, sink.id, "in")
    return analyse(graph).result(layer.id), layer.params


def run_torch(case: Case, params: dict, sample_shapes: list):
    """Build and run the PyTorch reference; return (output shapes, state dict shapes, FLOPs) or the error."""
    full = [(BATCH, *s) for s in sample_shapes]
    try:
        with torch.device(case.device):
            module = case.build(params, full)
            if case.dtype == torch.int64:
                xs = [torch.zeros(s, dtype=torch.int64) for s in full]
            else:
                xs = [torch.empty(s, dtype=case.dtype) for s in full]
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                out = module(*xs)
    except Exception as err:  # noqa: BLE001 - any failure means PyTorch rejects the layer
        return err
    outs = out if isinstance(out, (tuple, list)) else (out,)
    learnable = {name for name, _ in module.named_parameters()}
    saved = module.state_dict()  # persistent buffers only: the state that travels with the weights
    wrapped = isinstance(module, Lambda) and len(module._modules) == 1  # one layer inside a function
    prefix = f"{next(iter(module._modules))}." if wrapped else ""
    state = {k.removeprefix(prefix): (tuple(t.shape), k in learnable) for k, t in saved.items()}
    return [tuple(o.shape) for o in outs], state, counter.get_total_flops()


@pytest.mark.parametrize("layer_type", sorted(set(CASES)))
def test_layer_matches_pytorch(layer_type: str) -> None:
    spec = CATALOGUE[layer_type]
    case = CASES[layer_type]
    strategies = {p.name: case.params.get(p.name, default_strategy(p)) for p in spec.params}
    dtype = "int64" if case.dtype == torch.int64 else "float32"

    @given(st.data())
    def check(data: st.DataObject) -> None:
        params = {name: data.draw(strategy, label=name) for name, strategy in strategies.items()}
        sample_shapes = data.draw(case.inputs(params), label="input shapes")
        result, canonical = analyse_layer(layer_type, params, sample_shapes, dtype)
        torch_result = run_torch(case, canonical, sample_shapes)
        note(f"ours: {result}")
        note(f"torch: {torch_result!r}")
        if result.outputs is None:
            rejected = isinstance(torch_result, Exception) or any(0 in s for s in torch_result[0])
            assert rejected or case.stricter(canonical, sample_shapes), (
                f"the catalogue rejects what PyTorch runs: {[d.text for d in result.diagnostics]}"
            )
            return
        assert not isinstance(torch_result, Exception), f"PyTorch rejects what the catalogue accepts: {torch_result!r}"
        torch_shapes, torch_state, flops = torch_result
        ours = [(_rows(s[0]), *s[1:]) for s in result.outputs.values()]
        assert ours == torch_shapes
        shapes = [(BATCH, *s[1:]) if s is not None else None for s in sample_shapes_of(result)]
        declared = spec.state(canonical, shapes)
        assert {k: (t.shape, t.learned) for k, t in declared.items()} == torch_state, "state() disagrees with PyTorch"
        assert result.params == sum(math.prod(s) for s, learned in torch_state.values() if learned)
        assert result.buffers == sum(math.prod(s) for s, learned in torch_state.values() if not learned)
        if layer_type in FLOP_COUNTED:
            assert 2 * result.macs * BATCH == flops, "MACs disagree with torch.utils.flop_counter"

    check()
