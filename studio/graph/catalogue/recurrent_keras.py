"""The recurrent layers' Keras 3 form: one Keras layer per stacked layer, its weights from PyTorch's.

Keras reads sequences batch first, as the graph holds them. The top layer gives every step
(`return_sequences`), its last output (the final hidden state), or, where the cell state or
more than one output is read, every step and its final states (`return_state`): the forward
direction's, then the backward one's, concatenated as the layer's ports hold them. A reversed
layer reads its input backwards (`go_backwards` on the first stacked layer: those above read
its steps in that order, as PyTorch's flip, stack and flip back do) and its steps are flipped
back into place at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.graph.catalogue import keras_records
from studio.graph.catalogue.keras_records import Apply, Convert, Step, Torch, named
from studio.graph.catalogue.pytorch_records import Call, Raw, kw
from studio.graph.catalogue.recurrent_forms import PORTS, produced

KERAS_RNN = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}


def cell_weights(kind: str, bias: bool, suffix: str) -> Convert:
    """One direction of one torch layer (`_l0`, `_l0_reverse`) in Keras kernel/recurrent/bias order."""

    def convert(t: Torch) -> list[Any]:
        import numpy as np

        w_ih, w_hh = t(f"weight_ih{suffix}"), t(f"weight_hh{suffix}")
        if kind == "GRU":  # torch gates r, z, n; Keras z, r, h (reset_after: two bias rows)
            hidden = w_hh.shape[1]

            def order(a: Any) -> Any:
                r, z, n = (a[i * hidden : (i + 1) * hidden] for i in range(3))
                return np.concatenate([z, r, n])

            out = [order(w_ih).T, order(w_hh).T]
            if bias:
                out.append(np.stack([order(t(f"bias_ih{suffix}")), order(t(f"bias_hh{suffix}"))]))
            return out
        out = [w_ih.T, w_hh.T]  # LSTM gates i, f, g, o in both
        if bias:
            out.append(t(f"bias_ih{suffix}") + t(f"bias_hh{suffix}"))
        return out

    return convert


def recurrent_keras(kind: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    """The emitter of an LSTM, GRU or RNN layer."""

    def emit(s: keras_records.Site) -> keras_records.Emitted:
        p = s.params
        n, two = p["num_layers"], p["bidirectional"]
        wanted = produced(s.reads)
        with_states = wanted not in (("sequence",), ("hidden",))
        steps: list[Step] = []
        weights: dict[str, Convert] = {}
        x = s.x
        for k in range(n):
            last = k == n - 1
            name = s.var if n == 1 else s.claim(f"{s.var}_{k + 1}")
            args = [str(p["hidden_size"])]
            if kind == "RNN" and p["nonlinearity"] != "tanh":
                args.append(kw("activation", p["nonlinearity"]))
            if not p["bias"]:
                args.append("use_bias=False")
            if not last or "sequence" in wanted or with_states:
                args.append("return_sequences=True")
            if last and with_states:
                args.append("return_state=True")
            if k == 0 and p["reverse"]:
                args.append("go_backwards=True")
            cell = Call(f"layers.{KERAS_RNN[kind]}", tuple(args) if two else (*args, named(name)))
            applied = Apply(Call("layers.Bidirectional", (cell.text(), named(name))), (x,)) if two else Apply(cell, (x,))
            target = s.claim(f"{s.var}_outputs") if last and with_states else s.var
            steps.append(Step(target, applied))
            forward = cell_weights(kind, p["bias"], f"_l{k}")
            if two:
                backward = cell_weights(kind, p["bias"], f"_l{k}_reverse")
                weights[name] = lambda t, f=forward, b=backward: [*f(t), *b(t)]
            else:
                weights[name] = forward
            x = target
            if not last and p["dropout"] > 0:
                steps.append(Step(s.var, Apply(Call("layers.Dropout", (str(p["dropout"]), named(s.claim(f"{s.var}_drop")))), (x,))))
                x = s.var
        if with_states:
            steps += _ports(s, kind, x, wanted)
        elif p["reverse"] and wanted == ("sequence",):
            steps.append(_flipped(s, s.var, s.var))
        return keras_records.Emitted(steps, weights)

    return emit


def _ports(s: keras_records.Site, kind: str, outputs: str, wanted: tuple[str, ...]) -> list[Step]:
    """Steps turning the top layer's list of outputs into the node's: one port's tensor, or every port's in order."""
    per = 2 if kind == "LSTM" else 1  # final states per direction
    ports = PORTS[kind]
    single = len(wanted) == 1
    steps: list[Step] = []
    parts = []
    for index, port in enumerate(ports):
        if single and port not in wanted:
            continue
        name = s.claim(f"{s.var}_{port}")  # a layer's name: the recurrent layer holds the node's own
        target = s.var if single else name
        if port == "sequence" and s.params["reverse"]:
            steps.append(_flipped(s, f"{outputs}[0]", target))
        elif port != "sequence" and s.params["bidirectional"]:
            halves = f"[{outputs}[{index}], {outputs}[{index + per}]]"
            steps.append(Step(target, Apply(Call("layers.Concatenate", (named(name),)), (halves,))))
        elif single:
            steps.append(Step(target, Raw(f"{outputs}[{index}]")))
        else:
            target = f"{outputs}[{index}]"
        parts.append(target)
    if not single:
        steps.append(Step(s.var, Raw(f"[{', '.join(parts)}]")))
    return steps


def _flipped(s: keras_records.Site, x: str, target: str) -> Step:
    """Every step of `x` put back in its place after a layer that read the sequence backwards."""
    name = s.claim(f"{s.var}_steps")
    return Step(target, Apply(Call("layers.Lambda", ("lambda t: ops.flip(t, axis=1)", named(name))), (x,)))
