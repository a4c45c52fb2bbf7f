"""What every form of a recurrent layer (LSTM, GRU, RNN) shares: its output ports, the ports an export
computes, its directions and the input width of each stacked layer."""

from __future__ import annotations

from studio.graph.catalogue.base import Params

PORTS = {
    "LSTM": ("sequence", "hidden", "cell"),
    "GRU": ("sequence", "hidden"),
    "RNN": ("sequence", "hidden"),
}
"""Every step (N, T, D·H), then the top layer's final hidden (and, for an LSTM, cell) state (N, D·H)."""


def directions(p: Params) -> int:
    """2 for a bidirectional layer, else 1."""
    return 2 if p["bidirectional"] else 1


def layer_inputs(p: Params, features: int) -> list[int]:
    """Input width of each stacked layer: the features, then the previous layer's output."""
    return [features] + [p["hidden_size"] * directions(p)] * (p["num_layers"] - 1)


def produced(reads: tuple[str, ...]) -> tuple[str, ...]:
    """The ports an export computes: those something reads, or the sequence for a layer nothing reads."""
    return reads or ("sequence",)
