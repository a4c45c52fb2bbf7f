"""Recurrent layers (LSTM, GRU, simple RNN) over batch-first sequences, and token embeddings."""

# NOTE: sequences are batch-first, (N, T, features), as PyTorch's batch_first=True and Keras.
# With return_sequences false a recurrent layer returns the top layer's final hidden state with
# the directions concatenated (forward, then backward): in PyTorch
# `torch.cat(tuple(h_n[-dirs:]), dim=-1)`, as Keras `Bidirectional(LSTM(return_sequences=False))`.
# It is not `output[:, -1]`, whose backward half has seen only the last step. Codegen emits this.

from __future__ import annotations

from collections.abc import Callable
from math import isqrt
from typing import Any

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    State,
    StateTensor,
    Unsupported,
    numel,
    show,
    targets,
)
from studio.graph.catalogue.keras_records import Apply, Convert, Step, Torch, named
from studio.graph.catalogue.onnx_records import (
    OnnxConstant,
    OnnxEmitter,
    OnnxNode,
    OnnxRecord,
    OnnxSite,
    OnnxWeight,
)
from studio.graph.catalogue.pytorch_records import Call, kw, module, options
from studio.graph.params import Bool, Choice, Float, Int, Param

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_ONNX_GATES = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}  # ONNX's i,o,f,c and z,r,h from PyTorch's i,f,g,o and r,z,n


def need_sequence(x: Shape, what: str = "a sequence (N, T, features)", where: str = "before it", wide: bool = False) -> None:
    """Raise ShapeError unless `x` is a batch-first sequence (N, T, features).

    `where` says where the suggested Reshape goes; `wide` suggests several features per step
    for a flat vector (attention needs its heads to divide the features) instead of one.
    """
    if len(x) == 3:
        return
    n = int(x[1] or 1)
    if len(x) == 2 and wide:
        features = max(d for d in range(1, isqrt(n) + 1) if n % d == 0)
        hint = (
            f"insert a Reshape {where} that makes each sample (T, features), e.g. shape ({n // features}, {features}); "
            "for token ids, start from an Embedding"
        )
    elif len(x) == 2:
        hint = f"insert a Reshape with shape ({n}, 1) {where} to read the {n} values as time steps of one feature each"
    elif len(x) == 4:
        _, c, h, w = x
        reshape = f"a Reshape with shape ({h}, {(c or 1) * (w or 1)})"
        steps = f"to read the image's {h} rows as time steps of {(c or 1) * (w or 1)} features"
        if c == 1:
            hint = f"insert {reshape} {where} {steps}"
        else:
            hint = f"insert a Permute with dims (2, 1, 3) and then {reshape} {where} {steps}"
    else:
        hint = f"insert a Reshape {where} that makes each sample (T, features), e.g. shape ({n}, {numel(x) // n})"
    raise ShapeError(f"needs {what} but gets {show(x)}", hint)


def _recurrent_infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    need_sequence(x)
    width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
    return [(None, x[1], width) if p["return_sequences"] else (None, width)]


def _layer_inputs(p: Params, features: int) -> list[int]:
    """Input width of each stacked layer: the features, then the previous layer's output."""
    dirs = 2 if p["bidirectional"] else 1
    return [features] + [p["hidden_size"] * dirs] * (p["num_layers"] - 1)


def _recurrent_state(layer_type: str):
    gates = _GATES[layer_type]

    def state(p: Params, ins: list[Shape]) -> State:
        h = p["hidden_size"]
        found: State = {}
        for layer, width in enumerate(_layer_inputs(p, ins[0][-1] or 0)):
            for suffix in ("", "_reverse") if p["bidirectional"] else ("",):
                found[f"weight_ih_l{layer}{suffix}"] = StateTensor((gates * h, width))
                found[f"weight_hh_l{layer}{suffix}"] = StateTensor((gates * h, h))
                if p["bias"]:  # PyTorch keeps two bias vectors per gate (b_ih and b_hh), unlike Keras (one)
                    found[f"bias_ih_l{layer}{suffix}"] = StateTensor((gates * h,))
                    found[f"bias_hh_l{layer}{suffix}"] = StateTensor((gates * h,))
        return found

    return state


def _recurrent_macs(layer_type: str):
    gates = _GATES[layer_type]

    def count(p: Params, ins: list[Shape], outs: list[Shape]) -> int:
        h = p["hidden_size"]
        dirs = 2 if p["bidirectional"] else 1
        steps = ins[0][1] or 0
        return steps * dirs * sum(gates * h * (width + h) for width in _layer_inputs(p, ins[0][-1] or 0))

    return count


def _recurrent_params_spec(extra: tuple[Param, ...] = ()) -> tuple[Param, ...]:
    return (
        Int("hidden_size", 128, "Number of features in the hidden state (per direction).", min=1, max=100_000),
        Int("num_layers", 1, "Number of stacked recurrent layers.", min=1, max=64),
        Bool("bidirectional", False, "Also run the sequence backwards and concatenate both directions."),
        Bool("return_sequences", False, "Return every step (N, T, H) instead of the final state (N, H), as in Keras."),
        Float("dropout", 0.0, "Dropout between stacked layers while training; no effect with one layer.", min=0.0, max=0.99),
        Bool("bias", True, "Learn bias vectors (PyTorch keeps two per gate)."),
        *extra,
    )


def _embedding(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    return [(*x, p["embedding_dim"])]


def _embedding_state(p: Params, ins: list[Shape]) -> State:
    return {"weight": StateTensor((p["num_embeddings"], p["embedding_dim"]))}


# ----- ONNX -----
def _recurrent_onnx(layer_type: str) -> OnnxEmitter:
    """One ONNX LSTM/GRU/RNN per stacked layer, time-major between them, batch-first outside."""
    gates = _ONNX_GATES[layer_type]

    def emit(site: OnnxSite) -> list[OnnxRecord]:
        p = site.params
        h, dirs = p["hidden_size"], 2 if p["bidirectional"] else 1
        attrs = {"hidden_size": h, "direction": "bidirectional" if dirs == 2 else None}
        if layer_type == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch applies the reset gate after the hidden projection
        if layer_type == "RNN" and p["nonlinearity"] == "relu":
            attrs["activations"] = ["Relu"] * dirs
        sequence = site.fresh("time_major")
        records: list[OnnxRecord] = [OnnxNode("Transpose", (site.x,), (sequence,), {"perm": [1, 0, 2]})]
        last = p["num_layers"] - 1
        for layer, width in enumerate(_layer_inputs(p, site.shape[-1] or 0)):
            w = _stacked(site, "W", ("weight_ih",), layer, dirs, gates, (len(gates) * h, width))
            r = _stacked(site, "R", ("weight_hh",), layer, dirs, gates, (len(gates) * h, h))
            records += [w, r]
            inputs = [sequence, w.name, r.name]
            if p["bias"]:  # ONNX's B is PyTorch's b_ih and b_hh end to end, per direction
                b = _stacked(site, "B", ("bias_ih", "bias_hh"), layer, dirs, gates, (2 * len(gates) * h,))
                records.append(b)
                inputs.append(b.name)
            steps, final = site.fresh(f"steps_l{layer}"), site.fresh(f"final_l{layer}")
            outputs = (steps,) if layer < last or p["return_sequences"] else ("", final)
            records.append(OnnxNode(layer_type, tuple(inputs), outputs, attrs))
            if layer < last:  # (T, dirs, N, H) -> (T, N, dirs * H) for the next layer
                sequence = site.fresh(f"sequence_l{layer}")
                records += _joined(site, steps, (0, 2, 1, 3), dirs, sequence)
            elif p["return_sequences"]:  # (T, dirs, N, H) -> (N, T, dirs * H)
                records += _joined(site, steps, (2, 0, 1, 3), dirs, site.output)
            else:  # (dirs, N, H) -> (N, dirs * H): forward, then backward
                records += _joined(site, final, (1, 0, 2), dirs, site.output)
        return records

    return emit


def _stacked(
    site: OnnxSite, label: str, states: tuple[str, ...], layer: int, dirs: int, gates: tuple[int, ...], shape: tuple[int, ...]
) -> OnnxWeight:
    """One layer's `states` in ONNX's gate order, end to end, forward then backward: (directions, *shape)."""
    parts = [f"{state}_l{layer}{suffix}" for suffix in ("", "_reverse")[:dirs] for state in states]
    return OnnxWeight(site.fresh(f"{label}_l{layer}"), parts[0], (dirs, *shape), gates=gates, also=tuple(parts[1:]))


def _joined(site: OnnxSite, x: str, perm: tuple[int, ...], dirs: int, out: str) -> list[OnnxRecord]:
    """`x` transposed by `perm` with its directions axis merged into the hidden one (one direction: squeezed)."""
    if dirs == 1:
        directions = len(perm) - 3  # the axis ONNX gives the directions: 1 in every step's output, 0 in the final state
        axes = OnnxConstant(site.fresh("axes"), (directions,))
        kept = [d - (d > directions) for d in perm if d != directions]
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


def _embedding_onnx(site: OnnxSite) -> list[OnnxRecord]:
    return [OnnxNode("Gather", (site.weights["weight"], site.x), (site.output,))]


# ----- PyTorch, Keras, Caffe -----
def _recurrent_pytorch(cls: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        args = [str(s.shape[-1]), str(p["hidden_size"])]
        args += options(p, {"num_layers": 1, "nonlinearity": "tanh"} if cls == "RNN" else {"num_layers": 1})
        args += options(p, {"bias": True})
        args.append("batch_first=True")
        args += options(p, {"dropout": 0.0, "bidirectional": False})
        if p["return_sequences"]:
            return pytorch_records.Emitted(Call(f"nn.{cls}", tuple(args)), Call(s.attr, (s.x,)), unpack=True)
        helper = f"LastState{cls}"  # a helper class the driver writes (studio.codegen.pytorch HELPERS)
        return pytorch_records.Emitted(Call(helper, tuple(args)), Call(s.attr, (s.x,)), (helper,))

    return emit


def _embedding_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return module(s, "nn.Embedding", str(s.params["num_embeddings"]), str(s.params["embedding_dim"]))


_KERAS_RNN = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}


def _cell_weights(kind: str, bias: bool, suffix: str) -> Convert:
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


def _recurrent_keras(kind: str) -> Callable[[keras_records.Site], keras_records.Emitted]:
    def emit(s: keras_records.Site) -> keras_records.Emitted:
        p = s.params
        n, two = p["num_layers"], p["bidirectional"]
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
            if not last or p["return_sequences"]:
                args.append("return_sequences=True")
            cell = Call(f"layers.{_KERAS_RNN[kind]}", tuple(args) if two else (*args, named(name)))
            applied = Apply(Call("layers.Bidirectional", (cell.text(), named(name))), (x,)) if two else Apply(cell, (x,))
            steps.append(Step(s.var, applied))
            forward = _cell_weights(kind, p["bias"], f"_l{k}")
            if two:
                backward = _cell_weights(kind, p["bias"], f"_l{k}_reverse")
                weights[name] = lambda t, f=forward, b=backward: [*f(t), *b(t)]
            else:
                weights[name] = forward
            x = s.var
            if not last and p["dropout"] > 0:
                steps.append(Step(s.var, Apply(Call("layers.Dropout", (str(p["dropout"]), named(s.claim(f"{s.var}_drop")))), (x,))))
        return keras_records.Emitted(steps, weights)

    return emit


def _embedding_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    return keras_records.layer(s, "Embedding", str(p["num_embeddings"]), str(p["embedding_dim"]), convert=lambda t: [t("weight")])


def _embed(p: Params) -> caffe_records.Fields:
    return [("num_output", p["embedding_dim"]), ("input_dim", p["num_embeddings"]), ("bias_term", False)]


_CAFFE_TIME_MAJOR = (
    "BVLC Caffe's recurrent layers read time-major (T, N, F) blobs with a sequence-continuation input, "
    "and Caffe has no Permute layer to turn batch-first sequences around"
)

SPECS = (
    LayerSpec(
        type="LSTM",
        category="Recurrent",
        doc="Long short-term memory over a sequence (N, T, F): every step (N, T, H) or the final state (N, H).",
        params=_recurrent_params_spec(),
        infer=_recurrent_infer,
        state=_recurrent_state("LSTM"),
        count_macs=_recurrent_macs("LSTM"),
        onnx=_recurrent_onnx("LSTM"),
        pytorch=_recurrent_pytorch("LSTM"),
        keras=_recurrent_keras("LSTM"),
        onnx_patterns=("recurrent",),
        targets=targets("nn.LSTM", "layers.LSTM", "LSTM", Unsupported(_CAFFE_TIME_MAJOR)),
    ),
    LayerSpec(
        type="GRU",
        category="Recurrent",
        doc="Gated recurrent unit over a sequence (N, T, F): every step (N, T, H) or the final state (N, H).",
        params=_recurrent_params_spec(),
        infer=_recurrent_infer,
        state=_recurrent_state("GRU"),
        count_macs=_recurrent_macs("GRU"),
        onnx=_recurrent_onnx("GRU"),
        pytorch=_recurrent_pytorch("GRU"),
        keras=_recurrent_keras("GRU"),
        onnx_patterns=("recurrent",),
        targets=targets("nn.GRU", "layers.GRU", "GRU", Unsupported("BVLC Caffe has no GRU layer")),
    ),
    LayerSpec(
        type="RNN",
        category="Recurrent",
        doc="Simple (Elman) recurrent layer over a sequence (N, T, F): every step (N, T, H) or the final state (N, H).",
        params=_recurrent_params_spec(
            (Choice("nonlinearity", "tanh", ("tanh", "relu"), "Activation of the hidden state."),),
        ),
        infer=_recurrent_infer,
        state=_recurrent_state("RNN"),
        count_macs=_recurrent_macs("RNN"),
        onnx=_recurrent_onnx("RNN"),
        pytorch=_recurrent_pytorch("RNN"),
        keras=_recurrent_keras("RNN"),
        onnx_patterns=("recurrent",),
        targets=targets(
            "nn.RNN",
            "layers.SimpleRNN",
            "RNN",
            Unsupported(
                "BVLC Caffe's RNN layer adds an output projection tanh(W_ho h_t + b_o), so it is not this layer, "
                "and it reads time-major (T, N, F) blobs that Caffe cannot permute to"
            ),
        ),
    ),
    LayerSpec(
        type="Embedding",
        category="Embedding",
        doc="Looks up a learned vector for each token id: (N, T) int64 ids become (N, T, D) features.",
        params=(
            Int("num_embeddings", 10_000, "Vocabulary size: token ids run from 0 to num_embeddings - 1.", min=1, max=10_000_000),
            Int("embedding_dim", 128, "Length of each token's vector.", min=1, max=100_000),
        ),
        infer=_embedding,
        state=_embedding_state,
        input_dtype="int",
        output_dtype="float",
        targets=targets("nn.Embedding", "layers.Embedding", "Gather", "Embed"),
        onnx=_embedding_onnx,
        pytorch=_embedding_pytorch,
        keras=_embedding_keras,
        caffe=caffe_records.simple("Embed", "embed_param", lambda s: _embed(s.params)),
    ),
)
