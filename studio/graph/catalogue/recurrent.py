"""Recurrent layers (LSTM, GRU, simple RNN) over batch-first sequences, and token embeddings."""

# NOTE: a recurrent layer has an output port per result: `sequence`, every step (N, T, D·H) with
# the directions concatenated (forward, then backward); `hidden`, the top layer's final hidden
# state (N, D·H), forward then backward, as Keras `Bidirectional` concatenates it and as a Linear
# reads it; and for an LSTM `cell`, its final cell state alike. In PyTorch the final state is
# `torch.cat(tuple(h_n[-D:]), dim=-1)`: not `output[:, -1]`, whose backward half has seen only
# the last step, and not `h_n` itself, which holds the batch at dimension 1 (the catalogue keeps
# it at 0: a layer never mixes samples). Projects saved when `return_sequences` chose the one
# output `out` are upgraded on loading (`out` becomes `sequence` or `hidden`).
#
# NOTE: there is no time-major form. The catalogue holds every tensor with its batch at
# dimension 0: the analysis joins batches there, every shape rule and `resolve_dim` count from
# it, an Output, the trainer and every export's dynamic batch axis take it there. A (T, N, F)
# input would need a second batch position in all of them; a layer that only wrote PyTorch's
# `batch_first=False` between two transposes would compute nothing different. So sequences are
# batch first in the graph; the ONNX export transposes around the time-major operators ONNX
# Runtime runs, and the ONNX import takes time-major and batch-major (`layout`) operators,
# their transposes, and time-major hand-overs between recurrent operators.

from __future__ import annotations

from collections.abc import Callable
from math import isqrt
from typing import Any

from studio.graph.catalogue import caffe_records, keras_records, pytorch_records
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Port,
    Shape,
    ShapeError,
    State,
    StateTensor,
    Unsupported,
    numel,
    show,
    targets,
)
from studio.graph.catalogue.onnx_records import OnnxNode, OnnxRecord, OnnxSite
from studio.graph.catalogue.pytorch_records import Call, Raw, module, options
from studio.graph.catalogue.recurrent_forms import (
    PORTS,
    directions,
    layer_inputs,
    produced,
)
from studio.graph.catalogue.recurrent_keras import recurrent_keras
from studio.graph.catalogue.recurrent_onnx import recurrent_onnx
from studio.graph.params import Bool, Choice, Float, Int, Param, ParamValueError

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}

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


def _recurrent_infer(kind: str) -> Callable[[Params, list[Shape | None]], list[Shape]]:
    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        need_sequence(x)
        if p["reverse"] and p["bidirectional"]:
            raise ShapeError(
                "reads each sequence both ways already (bidirectional), so reverse would only swap its two halves",
                "turn reverse off: the second half of every step and of each final state is the backward direction",
            )
        width = p["hidden_size"] * directions(p)
        return [(None, x[1], width)] + [(None, width)] * (len(PORTS[kind]) - 1)

    return infer


def _recurrent_state(kind: str) -> Callable[[Params, list[Shape | None]], State]:
    gates = _GATES[kind]

    def state(p: Params, ins: list[Shape | None]) -> State:
        x = ins[0]
        assert x is not None
        h = p["hidden_size"]
        found: State = {}
        for layer, width in enumerate(layer_inputs(p, x[-1] or 0)):
            for suffix in ("", "_reverse")[: directions(p)]:
                found[f"weight_ih_l{layer}{suffix}"] = StateTensor((gates * h, width))
                found[f"weight_hh_l{layer}{suffix}"] = StateTensor((gates * h, h))
                if p["bias"]:  # PyTorch keeps two bias vectors per gate (b_ih and b_hh), unlike Keras (one)
                    found[f"bias_ih_l{layer}{suffix}"] = StateTensor((gates * h,))
                    found[f"bias_hh_l{layer}{suffix}"] = StateTensor((gates * h,))
        return found

    return state


def _recurrent_macs(kind: str) -> Callable[[Params, list[Shape | None], list[Shape]], int]:
    gates = _GATES[kind]

    def count(p: Params, ins: list[Shape | None], outs: list[Shape]) -> int:
        x = ins[0]
        assert x is not None
        h = p["hidden_size"]
        steps = x[1] or 0
        return steps * directions(p) * sum(gates * h * (width + h) for width in layer_inputs(p, x[-1] or 0))

    return count


def _recurrent_params_spec(extra: tuple[Param, ...] = ()) -> tuple[Param, ...]:
    return (
        Int("hidden_size", 128, "Number of features in the hidden state (per direction).", min=1, max=100_000),
        Int("num_layers", 1, "Number of stacked recurrent layers.", min=1, max=64),
        Bool("bidirectional", False, "Also run the sequence backwards and concatenate both directions."),
        Bool(
            "reverse",
            False,
            "Read each sequence from its last step to its first (ONNX's direction \"reverse\"); every step keeps its place.",
        ),
        Float("dropout", 0.0, "Dropout between stacked layers while training; no effect with one layer.", min=0.0, max=0.99),
        Bool("bias", True, "Learn bias vectors (PyTorch keeps two per gate)."),
        *extra,
    )


def _upgrade(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A node saved when the layer had one output `out`: `return_sequences` (false by default) chose what it gave."""
    kept = dict(params)
    sequences = kept.pop("return_sequences", False)
    if not isinstance(sequences, bool):
        raise ParamValueError(f"'return_sequences' must be true or false, not {sequences!r}")
    return kept, {"out": "sequence" if sequences else "hidden"}


def _embedding(p: Params, ins: list[Shape | None]) -> list[Shape]:
    x = ins[0]
    assert x is not None
    return [(*x, p["embedding_dim"])]


def _embedding_state(p: Params, ins: list[Shape | None]) -> State:
    return {"weight": StateTensor((p["num_embeddings"], p["embedding_dim"]))}


def _embedding_onnx(site: OnnxSite) -> list[OnnxRecord]:
    return [OnnxNode("Gather", (site.weights["weight"], site.x), (site.output,))]


# ----- PyTorch, Keras, Caffe -----
OUTPUTS_HELPER = "recurrent_outputs"  # a helper function the driver writes (studio.codegen.pytorch HELPERS)


def _recurrent_pytorch(kind: str) -> Callable[[pytorch_records.Site], pytorch_records.Emitted]:
    """PyTorch's own module, batch first; the final states through the helper that picks the top layer's."""

    def emit(s: pytorch_records.Site) -> pytorch_records.Emitted:
        p = s.params
        args = [str(s.shape[-1]), str(p["hidden_size"])]
        args += options(p, {"num_layers": 1, "nonlinearity": "tanh"} if kind == "RNN" else {"num_layers": 1})
        args += options(p, {"bias": True})
        args.append("batch_first=True")
        args += options(p, {"dropout": 0.0, "bidirectional": False})
        layer = Call(f"nn.{kind}", tuple(args))
        wanted = produced(s.reads)
        if wanted == ("sequence",) and not p["reverse"]:
            return pytorch_records.Emitted(layer, Call(s.attr, (s.x,)), unpack=True)
        if wanted == ("sequence",):
            return pytorch_records.Emitted(layer, Raw(f"{s.attr}({s.x}.flip(1))[0].flip(1)"))
        outputs = Call(OUTPUTS_HELPER, (s.attr, s.x, *(["reverse=True"] if p["reverse"] else [])))
        if len(wanted) > 1:
            return pytorch_records.Emitted(layer, outputs, (OUTPUTS_HELPER,))
        index = PORTS[kind].index(wanted[0])
        return pytorch_records.Emitted(layer, Raw(f"{outputs.text()}[{index}]"), (OUTPUTS_HELPER,))

    return emit


def _embedding_pytorch(s: pytorch_records.Site) -> pytorch_records.Emitted:
    return module(s, "nn.Embedding", str(s.params["num_embeddings"]), str(s.params["embedding_dim"]))


def _embedding_keras(s: keras_records.Site) -> keras_records.Emitted:
    p = s.params
    return keras_records.layer(s, "Embedding", str(p["num_embeddings"]), str(p["embedding_dim"]), convert=lambda t: [t("weight")])


def _embed_caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """Embed without a bias: its blob is PyTorch's (num_embeddings, embedding_dim) table."""
    p = site.params
    fields: caffe_records.Fields = [("num_output", p["embedding_dim"]), ("input_dim", p["num_embeddings"]), ("bias_term", False)]
    return [caffe_records.Layer(site.name, "Embed", site.bottoms, [site.name], [("embed_param", fields)], caffe_records.with_bias(False))]


_CAFFE_TIME_MAJOR = (
    "BVLC Caffe's recurrent layers read time-major (T, N, F) blobs with a sequence-continuation input, "
    "and Caffe has no Permute layer to turn batch-first sequences around"
)
_DOC = "over a sequence (N, T, F): every step (N, T, D·H) and the top layer's final hidden state (N, D·H)"


def _recurrent(kind: str, doc: str, caffe: Unsupported, extra: tuple[Param, ...] = ()) -> LayerSpec:
    keras_name = {"LSTM": "layers.LSTM", "GRU": "layers.GRU", "RNN": "layers.SimpleRNN"}[kind]
    return LayerSpec(
        type=kind,
        category="Recurrent",
        doc=doc,
        params=_recurrent_params_spec(extra),
        infer=_recurrent_infer(kind),
        outputs=tuple(Port(name) for name in PORTS[kind]),
        state=_recurrent_state(kind),
        count_macs=_recurrent_macs(kind),
        onnx=recurrent_onnx(kind),
        pytorch=_recurrent_pytorch(kind),
        keras=recurrent_keras(kind),
        onnx_patterns=("recurrent",),
        upgrade=_upgrade,
        targets=targets(f"nn.{kind}", keras_name, kind, caffe),
    )


SPECS = (
    _recurrent(
        "LSTM",
        "Long short-term memory over a sequence (N, T, F): every step (N, T, D·H) and the top layer's final "
        "hidden and cell states (N, D·H).",
        Unsupported(_CAFFE_TIME_MAJOR),
    ),
    _recurrent("GRU", f"Gated recurrent unit {_DOC}.", Unsupported("BVLC Caffe has no GRU layer")),
    _recurrent(
        "RNN",
        f"Simple (Elman) recurrent layer {_DOC}.",
        Unsupported(
            "BVLC Caffe's RNN layer adds an output projection tanh(W_ho h_t + b_o), so it is not this layer, "
            "and it reads time-major (T, N, F) blobs that Caffe cannot permute to"
        ),
        (Choice("nonlinearity", "tanh", ("tanh", "relu"), "Activation of the hidden state."),),
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
        caffe=_embed_caffe,
    ),
)
