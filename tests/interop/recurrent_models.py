"""Recurrent networks for the import tests: PyTorch models as people write them, and ONNX graphs written by hand.

The PyTorch models read their recurrent layers' outputs the usual ways (every step, one step,
`h_n[-1]`, both directions of the top layer, a direction's half, a time-major layer between
transposes, a flipped sequence); the hand-written graphs hold what no torch exporter writes
(direction "reverse", `layout` 1).
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from torch import nn

from tests.interop import onnx_models as om

FEATURES, STEPS, HIDDEN = 6, 7, 5


class LastHiddenClassifier(nn.Module):
    """A two-layer LSTM classifying by the top layer's final hidden state, `h_n[-1]`."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, HIDDEN, num_layers=2, batch_first=True)
        self.head = nn.Linear(HIDDEN, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])


class TimeMajorGRU(nn.Module):
    """A time-major GRU (PyTorch's default batch_first=False) between transposes; every step and the final state."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(FEATURES, HIDDEN)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps, h_n = self.gru(x.transpose(0, 1))
        return steps.transpose(0, 1), h_n[-1]


class FlippedLSTM(nn.Module):
    """An LSTM read from the last step to the first by flipping the sequence around it; its final cell state too."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, HIDDEN, batch_first=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps, (_, c_n) = self.lstm(torch.flip(x, [1]))
        return torch.flip(steps, [1]), c_n[0]


class LastStepGRU(nn.Module):
    """A bidirectional two-layer GRU whose last step feeds a Linear (`y[:, -1]`)."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * HIDDEN, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[0][:, -1])


class BothDirections(nn.Module):
    """A bidirectional two-layer LSTM: both directions' final states joined, every step, and `c_n[-1]` (the backward half)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * HIDDEN, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        steps, (h_n, c_n) = self.lstm(x)
        return self.head(torch.cat((h_n[-2], h_n[-1]), dim=1)), steps, c_n[-1]


class LSTMIntoGRU(nn.Module):
    """A bidirectional LSTM's steps read by a GRU (the exporters hand them over time-major)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, HIDDEN, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(2 * HIDDEN, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(self.lstm(x)[0])[1][0]


# name: (model, the layers its import holds: (type, parameters that must be so))
TORCH_MODELS = {
    "lstm_classifier_on_h_n": (LastHiddenClassifier, [("LSTM", {"num_layers": 2}), ("Linear", {})]),
    "time_major_gru": (TimeMajorGRU, [("GRU", {"num_layers": 1})]),
    "flipped_lstm": (FlippedLSTM, [("Flip", {"dims": (1,)}), ("LSTM", {"reverse": False}), ("Flip", {"dims": (1,)})]),
    "last_step_of_a_bidirectional_gru": (
        LastStepGRU,
        [("GRU", {"num_layers": 2, "bidirectional": True}), ("SequencePool", {"mode": "last"}), ("Linear", {})],
    ),
    "both_directions": (
        BothDirections,
        [("LSTM", {"num_layers": 2, "bidirectional": True}), ("Linear", {}), ("Slice", {"start": HIDDEN, "length": HIDDEN})],
    ),
    "lstm_into_gru": (LSTMIntoGRU, [("LSTM", {"bidirectional": True}), ("GRU", {"hidden_size": 4})]),
}


def sample(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, STEPS, FEATURES, generator=torch.Generator().manual_seed(5))


# ----- written by hand -----
def _weights(prefix: str, gates: int, width: int, directions: int, seed: int) -> list[onnx.TensorProto]:
    return [
        om.tensor(f"{prefix}_w", om.rand(directions, gates * HIDDEN, width, seed=seed)),
        om.tensor(f"{prefix}_r", om.rand(directions, gates * HIDDEN, HIDDEN, seed=seed + 1)),
        om.tensor(f"{prefix}_b", om.rand(directions, 2 * gates * HIDDEN, seed=seed + 2)),
    ]


def reversed_stack() -> onnx.ModelProto:
    """Two LSTM operators of direction "reverse", stacked time-major, their top's steps and final hidden state read."""
    nodes = [
        om.node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        om.node("LSTM", ["xt", "l0_w", "l0_r", "l0_b"], ["y0"], "lstm0", hidden_size=HIDDEN, direction="reverse"),
        om.node("Squeeze", ["y0", "one"], ["s0"]),
        om.node("LSTM", ["s0", "l1_w", "l1_r", "l1_b"], ["y1", "h1"], "lstm1", hidden_size=HIDDEN, direction="reverse"),
        om.node("Squeeze", ["y1", "one"], ["s1"]),
        om.node("Transpose", ["s1"], ["steps"], perm=[1, 0, 2]),
        om.node("Squeeze", ["h1", "zero"], ["final"]),
    ]
    inits = [
        *_weights("l0", 4, FEATURES, 1, 0), *_weights("l1", 4, HIDDEN, 1, 3),
        om.tensor("one", np.array([1], np.int64)), om.tensor("zero", np.array([0], np.int64)),
    ]  # fmt: skip
    return om.model(nodes, [("x", [STEPS, FEATURES])], ["steps", "final"], inits, opset=13)


def batch_major() -> onnx.ModelProto:
    """A bidirectional GRU and a bias-free RNN on its steps, both at `layout` 1 (batch first): steps and final states read."""
    nodes = [
        om.node("GRU", ["x", "g_w", "g_r", "g_b"], ["gy", "gh"], "gru", hidden_size=HIDDEN, direction="bidirectional",
                layout=1, linear_before_reset=1),
        om.node("Reshape", ["gy", "joined"], ["steps"]),  # (N, T, 2, H) -> (N, T, 2H)
        om.node("Reshape", ["gh", "flat"], ["gru_final"]),  # (N, 2, H) -> (N, 2H)
        om.node("RNN", ["steps", "r_w", "r_r"], ["", "rh"], "rnn", hidden_size=HIDDEN, layout=1),
        om.node("Reshape", ["rh", "flat"], ["rnn_final"]),
    ]  # fmt: skip
    inits = [
        *_weights("g", 3, FEATURES, 2, 6), *_weights("r", 1, 2 * HIDDEN, 1, 9)[:2],
        om.tensor("joined", np.array([0, 0, -1], np.int64)), om.tensor("flat", np.array([0, -1], np.int64)),
    ]  # fmt: skip
    return om.model(nodes, [("x", [STEPS, FEATURES])], ["steps", "gru_final", "rnn_final"], inits, opset=14)


def time_major_input() -> onnx.ModelProto:
    """An LSTM reading a model input as it comes, time-major (T, N, F), exported for a batch of 3."""
    nodes = [om.node("LSTM", ["x", "l_w", "l_r", "l_b"], ["y"], "lstm", hidden_size=HIDDEN)]
    graph = onnx.helper.make_graph(
        nodes, "time_major", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [STEPS, 3, FEATURES])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], _weights("l", 4, FEATURES, 1, 12),
    )  # fmt: skip
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])


def raw_final_state() -> onnx.ModelProto:
    """A GRU whose final state is returned as ONNX gives it, (directions, N, H): the batch second."""
    nodes = [
        om.node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        om.node("GRU", ["xt", "g_w", "g_r", "g_b"], ["", "h"], "gru", hidden_size=HIDDEN, linear_before_reset=1),
    ]
    return om.model(nodes, [("x", [STEPS, FEATURES])], ["h"], _weights("g", 3, FEATURES, 1, 15), opset=13)


def initial_state() -> onnx.ModelProto:
    """An RNN started from a learned initial state (spread over the batch), which no layer holds."""
    nodes = [
        om.node("Shape", ["x"], ["shape"]),
        om.node("Gather", ["shape", "zero"], ["batch"], axis=0),
        om.node("Concat", ["one", "batch", "width"], ["state_shape"], axis=0),
        om.node("Expand", ["h0", "state_shape"], ["start"]),
        om.node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        om.node("RNN", ["xt", "r_w", "r_r", "r_b", "", "start"], ["", "h"], "rnn", hidden_size=HIDDEN),
        om.node("Squeeze", ["h", "zero"], ["final"]),
    ]
    inits = [
        *_weights("r", 1, FEATURES, 1, 18), om.tensor("h0", om.rand(1, 1, HIDDEN, seed=21)),
        om.tensor("zero", np.array([0], np.int64)), om.tensor("one", np.array([1], np.int64)),
        om.tensor("width", np.array([HIDDEN], np.int64)),
    ]  # fmt: skip
    return om.model(nodes, [("x", [STEPS, FEATURES])], ["final"], inits, opset=13)


def two_readings() -> onnx.ModelProto:
    """A forward and a reversed GRU reading one time-major copy of the input; their final states added."""
    nodes = [
        om.node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        om.node("GRU", ["xt", "f_w", "f_r", "f_b"], ["", "fh"], "forward", hidden_size=HIDDEN, linear_before_reset=1),
        om.node("GRU", ["xt", "b_w", "b_r", "b_b"], ["", "bh"], "backward", hidden_size=HIDDEN, linear_before_reset=1,
                direction="reverse"),
        om.node("Squeeze", ["fh", "zero"], ["forward_final"]),
        om.node("Squeeze", ["bh", "zero"], ["backward_final"]),
        om.node("Add", ["forward_final", "backward_final"], ["final"]),
    ]  # fmt: skip
    inits = [*_weights("f", 3, FEATURES, 1, 24), *_weights("b", 3, FEATURES, 1, 27), om.tensor("zero", np.array([0], np.int64))]
    return om.model(nodes, [("x", [STEPS, FEATURES])], ["final"], inits, opset=13)
