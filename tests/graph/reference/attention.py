"""PyTorch references for the attention layers, positional encodings and sequence pooling."""

import math

import torch
from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, Lambda, small

HEADS = st.sampled_from([1, 2, 3, 4, 5])


def _sequence(width: st.SearchStrategy[int] = small(1, 12)) -> st.SearchStrategy[tuple[int, ...]]:  # noqa: B008 - strategies are immutable
    # Mostly (T, D); sometimes a vector or an image, which the catalogue must refuse.
    sequence = st.tuples(small(1, 6), width)
    other = st.one_of(st.tuples(small(1, 12)), st.tuples(small(1, 3), small(1, 4), small(1, 4)))
    return st.one_of(sequence, sequence, sequence, other)


def _attention_inputs(p):
    # The query, then optionally a key, then optionally a value (an unconnected port is left out).
    memory = st.tuples(small(1, 6), small(1, 6))
    mismatched = st.tuples(small(1, 6), small(1, 6))
    return st.one_of(
        _sequence().map(lambda q: [q]),
        st.tuples(_sequence(), memory).map(list),
        st.tuples(_sequence(), memory, small(1, 6)).map(lambda t: [t[0], t[1], (t[1][0], t[2])]),
        st.tuples(_sequence(), memory, mismatched).map(list),
    )


def _attention(p, s):
    query, rest = s[0], s[1:]
    key = rest[0] if rest else query
    value = rest[-1] if rest else query
    mha = nn.MultiheadAttention(
        query[-1],
        p["num_heads"],
        dropout=p["dropout"],
        bias=p["bias"],
        batch_first=True,
        kdim=key[-1],
        vdim=value[-1],
    )

    def forward(m, q, k=None, v=None):
        # An unconnected key or value takes the other; with neither, it is self-attention.
        k = k if k is not None else (v if v is not None else q)
        v = v if v is not None else k
        return m.mha(q, k, v, need_weights=False)[0]

    return Lambda(forward, mha=mha)


def _transformer(cls):
    """A builder of nn.TransformerEncoderLayer or nn.TransformerDecoderLayer with the case's parameters."""
    return lambda p, s: cls(
        s[0][-1],
        p["nhead"],
        dim_feedforward=p["dim_feedforward"],
        dropout=p["dropout"],
        activation=p["activation"],
        layer_norm_eps=p["layer_norm_eps"],
        batch_first=True,
        norm_first=p["norm_first"],
        bias=p["bias"],
    )


def _maybe_causal(build, mask: str, hint: str):
    """The layer, called with PyTorch's causal mask over its input's positions when `causal` is set."""

    def call(m, x, *memory):
        causal = nn.Transformer.generate_square_subsequent_mask(x.size(1), device=x.device)
        return m.layer(x, *memory, **{mask: causal, hint: True})

    return lambda p, s: Lambda(call, layer=build(p, s)) if p["causal"] else build(p, s)


@st.composite
def _target_and_memory(draw) -> list[tuple[int, ...]]:
    """A target sequence (T, E) and a memory (S, E'), E' mostly E."""
    target = draw(_sequence())
    width = target[-1] if len(target) == 2 and draw(st.integers(0, 4)) else draw(small(1, 8))
    return [target, (draw(small(1, 6)), width)]


class SinusoidalEncoding(nn.Module):
    """Adds a fixed sin/cos table, held as a non-persistent buffer (not saved with the weights)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        rate = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: d_model // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.size(1)]


class LearnedEncoding(nn.Module):
    """Adds a learned (max_len, d_model) table of position vectors."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.empty(max_len, d_model))
        nn.init.normal_(self.table, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.size(1)]


def _positional(p, s):
    cls = SinusoidalEncoding if p["kind"] == "sinusoidal" else LearnedEncoding
    return cls(p["max_len"], s[0][-1])


_POOL = {
    "mean": lambda x: x.mean(dim=1),
    "max": lambda x: x.amax(dim=1),
    "first": lambda x: x[:, 0],
    "last": lambda x: x[:, -1],
}

# PyTorch reads a 2-D tensor as one unbatched sequence (and pools or adds over any rank); the
# catalogue always has a batch dimension, so it asks for (N, T, D) and refuses the rest.
_NOT_A_SEQUENCE = lambda p, s: len(s[0]) != 2

CASES = {
    "MultiheadAttention": Case(
        inputs=_attention_inputs,
        params={"num_heads": HEADS, "dropout": st.sampled_from([0.0, 0.1])},
        stricter=lambda p, s: any(len(shape) != 2 for shape in s),
        build=_attention,
    ),
    "TransformerEncoderLayer": Case(
        inputs=lambda p: _sequence().map(lambda x: [x]),
        params={"nhead": HEADS, "dim_feedforward": small(1, 16), "dropout": st.sampled_from([0.0, 0.1])},
        stricter=_NOT_A_SEQUENCE,
        build=_maybe_causal(_transformer(nn.TransformerEncoderLayer), "src_mask", "is_causal"),
    ),
    "TransformerDecoderLayer": Case(
        inputs=lambda p: _target_and_memory(),
        params={"nhead": HEADS, "dim_feedforward": small(1, 16), "dropout": st.sampled_from([0.0, 0.1])},
        stricter=_NOT_A_SEQUENCE,
        build=_maybe_causal(_transformer(nn.TransformerDecoderLayer), "tgt_mask", "tgt_is_causal"),
    ),
    "PositionalEncoding": Case(
        inputs=lambda p: _sequence(small(1, 8)).map(lambda x: [x]),
        params={"max_len": small(1, 8)},
        # A one-row table broadcasts over any length in PyTorch; the catalogue refuses T > max_len
        # because positions past max_len have no encoding of their own.
        stricter=lambda p, s: _NOT_A_SEQUENCE(p, s) or (p["max_len"] == 1 and s[0][0] > 1),
        build=_positional,
    ),
    "SequencePool": Case(
        inputs=lambda p: _sequence().map(lambda x: [x]),
        stricter=_NOT_A_SEQUENCE,
        build=lambda p, s: Lambda(lambda m, x: _POOL[p["mode"]](x)),
    ),
}
