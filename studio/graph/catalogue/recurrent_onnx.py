"""The recurrent layers' ONNX form: one LSTM, GRU or RNN operator per stacked layer, time-major between them.

ONNX Runtime runs these operators time-major only (layout 0), so the batch-first sequence is
transposed on the way in, and each output a port reads on the way out: every step (Y) to
(N, T, D·H), the top layer's final states (Y_h, Y_c) to (N, D·H), forward then backward.
A reversed layer is `direction="reverse"` on every stacked operator: each reads the sequence
before it from its last step to its first, which is PyTorch's flip, stack and flip back.
"""

from __future__ import annotations

from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxEmitter,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
)
from studio.graph.catalogue.recurrent_forms import (
    PORTS,
    directions,
    layer_inputs,
    produced,
)

_VALUES = {"sequence": "steps", "hidden": "final", "cell": "final_cell"}  # what each operator output holds
GATES = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}  # ONNX's i,o,f,c and z,r,h from PyTorch's i,f,g,o and r,z,n


def recurrent_onnx(kind: str) -> OnnxEmitter:
    """The emitter of an LSTM, GRU or RNN layer."""
    gates = GATES[kind]

    def emit(site: OnnxSite) -> list[OnnxRecord]:
        p = site.params
        h, dirs = p["hidden_size"], directions(p)
        direction = "bidirectional" if dirs == 2 else "reverse" if p["reverse"] else None
        attrs = {"hidden_size": h, "direction": direction}
        if kind == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch applies the reset gate after the hidden projection
        if kind == "RNN" and p["nonlinearity"] == "relu":
            attrs["activations"] = ["Relu"] * dirs
        wanted = produced(site.reads)
        values = dict(zip(PORTS[kind], site.outputs or (site.output,)))
        sequence = site.fresh("time_major")
        records: list[OnnxRecord] = [OnnxNode("Transpose", (site.x,), (sequence,), {"perm": [1, 0, 2]})]
        last = p["num_layers"] - 1
        for layer, width in enumerate(layer_inputs(p, site.shape[-1] or 0)):
            w = _stacked(site, "W", ("weight_ih",), layer, dirs, gates, (len(gates) * h, width))
            r = _stacked(site, "R", ("weight_hh",), layer, dirs, gates, (len(gates) * h, h))
            records += [w, r]
            inputs = [sequence, w.name, r.name]
            if p["bias"]:  # ONNX's B is PyTorch's b_ih and b_hh end to end, per direction
                b = _stacked(site, "B", ("bias_ih", "bias_hh"), layer, dirs, gates, (2 * len(gates) * h,))
                records.append(b)
                inputs.append(b.name)
            top = layer == last
            used = [port for port in PORTS[kind] if port in wanted or (port == "sequence" and not top)]
            made = {port: site.fresh(f"{_VALUES[port]}_l{layer}") for port in used}
            outputs = _trimmed(tuple(made.get(port, "") for port in PORTS[kind]))
            records.append(OnnxNode(kind, tuple(inputs), outputs, attrs))
            if not top:  # (T, dirs, N, H) -> (T, N, dirs * H) for the next layer
                sequence = site.fresh(f"sequence_l{layer}")
                records += _joined(site, made["sequence"], (0, 2, 1, 3), dirs, sequence)
                continue
            for port in wanted:  # every step (T, dirs, N, H) -> (N, T, dirs * H); a final state (dirs, N, H) -> (N, dirs * H)
                perm = (2, 0, 1, 3) if port == "sequence" else (1, 0, 2)
                records += _joined(site, made[port], perm, dirs, values[port])
        return records

    return emit


def _trimmed(outputs: tuple[str, ...]) -> tuple[str, ...]:
    """An operator's outputs without the unused ones at the end (an unused one between stays empty)."""
    kept = list(outputs)
    while kept and not kept[-1]:
        kept.pop()
    return tuple(kept)


def _stacked(
    site: OnnxSite, label: str, states: tuple[str, ...], layer: int, dirs: int, gates: tuple[int, ...], shape: tuple[int, ...]
) -> OnnxWeight:
    """One layer's `states` in ONNX's gate order, end to end, forward then backward: (directions, *shape)."""
    parts = [f"{state}_l{layer}{suffix}" for suffix in ("", "_reverse")[:dirs] for state in states]
    return OnnxWeight(site.fresh(f"{label}_l{layer}"), parts[0], (dirs, *shape), gates=gates, also=tuple(parts[1:]))


def _joined(site: OnnxSite, x: str, perm: tuple[int, ...], dirs: int, out: str) -> list[OnnxRecord]:
    """`x` transposed by `perm` with its directions axis merged into the hidden one (one direction: squeezed)."""
    if dirs == 1:
        axis = len(perm) - 3  # the axis ONNX gives the directions: 1 in every step's output, 0 in a final state
        axes = OnnxConstant(site.fresh("axes"), (axis,))
        kept = [d - (d > axis) for d in perm if d != axis]
        if kept == sorted(kept):
            return [axes, OnnxNode("Squeeze", (x, axes.name), (out,))]
        squeezed = site.fresh("squeezed")
        return [axes, OnnxNode("Squeeze", (x, axes.name), (squeezed,)), OnnxNode("Transpose", (squeezed,), (out,), {"perm": kept})]
    moved = site.fresh("transposed")
    shape = OnnxConstant(site.fresh("shape"), (0,) * (len(perm) - 2) + (-1,))
    return [
        OnnxNode("Transpose", (x,), (moved,), {"perm": list(perm)}),
        shape,
        OnnxNode("Reshape", (moved, shape.name), (out,)),
    ]
