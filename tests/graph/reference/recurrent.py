"""PyTorch references for the recurrent layers and the embedding."""

import torch
from hypothesis import strategies as st
from torch import nn

from tests.graph.reference import Case, Lambda, small


def _sequences(p):
    # Mostly sequences (T, F); sometimes a vector or an image, which the catalogue must refuse.
    sequence = st.tuples(small(1, 6), small(1, 6))
    other = st.one_of(st.tuples(small()), st.tuples(small(1, 3), small(1, 4), small(1, 4)))
    return st.one_of(sequence, sequence, sequence, other).map(lambda t: [t])


def _recurrent(cls):
    def build(p, s):
        extra = {"nonlinearity": p["nonlinearity"]} if cls is nn.RNN else {}
        rnn = cls(
            s[0][-1],
            p["hidden_size"],
            num_layers=p["num_layers"],
            bias=p["bias"],
            batch_first=True,
            dropout=p["dropout"],
            bidirectional=p["bidirectional"],
            **extra,
        )
        dirs = 2 if p["bidirectional"] else 1

        def forward(m, x):
            # A reversed layer reads the sequence from its last step (ONNX's direction "reverse"):
            # PyTorch has no flag, so the steps are flipped before and after.
            output, state = m.rnn(x.flip(1) if p["reverse"] else x)
            output = output.flip(1) if p["reverse"] else output
            # The final states of the top layer, forward then backward (Keras Bidirectional),
            # not output[:, -1], whose backward half has seen only the last step.
            finals = state if isinstance(state, tuple) else (state,)
            return (output, *(torch.cat(tuple(h[-dirs:]), dim=-1) for h in finals))

        return Lambda(forward, rnn=rnn)

    return build


def _recurrent_case(cls) -> Case:
    return Case(
        inputs=_sequences,
        params={"hidden_size": small(1, 8), "num_layers": small(1, 3), "dropout": st.sampled_from([0.0, 0.3])},
        # PyTorch reads a 2-D tensor as one unbatched sequence (T, F); the catalogue always has a
        # batch dimension, so (N, F) is refused and the user is asked to add a time axis. A
        # bidirectional layer that is also reversed only swaps its halves: refused as a mistake.
        stricter=lambda p, s: len(s[0]) == 1 or (p["reverse"] and p["bidirectional"]),
        build=_recurrent(cls),
    )


def _token_ids(p):
    return st.integers(1, 3).flatmap(lambda r: st.tuples(*[small()] * r)).map(lambda t: [t])


CASES = {
    "LSTM": _recurrent_case(nn.LSTM),
    "GRU": _recurrent_case(nn.GRU),
    "RNN": _recurrent_case(nn.RNN),
    "Embedding": Case(
        inputs=_token_ids,
        params={"num_embeddings": small(1, 50), "embedding_dim": small(1, 16)},
        dtype=torch.int64,
        build=lambda p, s: nn.Embedding(p["num_embeddings"], p["embedding_dim"]),
    ),
}
