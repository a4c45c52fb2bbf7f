"""ONNX written straight from the graph for the recurrent and attention layers: ONNX Runtime against PyTorch, and back.

Every float weight is randomized first (fresh LayerNorms hold ones and zeros, which would hide a
swapped operand). The export must not trace, must pass onnx.checker, and must run in ONNX
Runtime at a batch other than the traced one to the PyTorch model's numbers; the file imports
back with the same outputs, as the same layers or their parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.codegen import onnx_export
from studio.codegen.pytorch import HELPERS
from studio.graph.catalogue import CATALOGUE, attention, recurrent, sequence
from studio.graph.project import Project
from studio.interop.onnx_import import import_onnx
from tests.codegen.cases import layer_project, single_layer
from tests.codegen.helpers import run_source
from tests.codegen.onnx_checks import direct_export, randomized
from tests.interop.onnx_models import assert_matches_onnxruntime

FAMILY_TYPES = sorted(spec.type for spec in (*recurrent.SPECS, *attention.SPECS, *sequence.SPECS))
ENCODER_PARTS = {"MultiheadAttention", "LayerNorm", "Linear", "ReLU", "GELU", "Add"}
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def traced(*args: object) -> None:
        raise AssertionError("torch.onnx was used")

    monkeypatch.setattr(onnx_export, "_traced", traced)


def check_direct(project: Project, tmp_path: Path, opset: int = 18) -> set[str]:
    """Export with random weights straight from the graph, compare with PyTorch, import back; the imported layer types."""
    data = direct_export(project, randomized(project), opset)
    path = tmp_path / "layer.onnx"
    path.write_bytes(data)
    imported = import_onnx(path)
    assert_matches_onnxruntime(path, imported)
    return {n.type for n in imported.project.graph.nodes.values()} - {"Input", "Output"}


def test_every_layer_of_the_families_has_an_emitter() -> None:
    missing = {t for t in FAMILY_TYPES if CATALOGUE[t].onnx is None}
    assert missing == set()


@given(
    layer_type=st.sampled_from(["LSTM", "GRU", "RNN"]),
    hidden=st.integers(1, 5),
    layers=st.integers(1, 3),
    direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
    outputs=st.sets(st.sampled_from(["sequence", "hidden", "cell"]), min_size=1),
    bias=st.booleans(),
    relu=st.booleans(),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 4)),
)
@SETTINGS
def test_recurrent_layers(
    tmp_path: Path,
    layer_type: str,
    hidden: int,
    layers: int,
    direction: str,
    outputs: set[str],
    bias: bool,
    relu: bool,
    shape: tuple[int, int],
) -> None:
    params: dict[str, Any] = {
        "hidden_size": hidden,
        "num_layers": layers,
        "bidirectional": direction == "bidirectional",
        "reverse": direction == "reverse",
        "bias": bias,
    }
    if layer_type == "RNN":
        params["nonlinearity"] = "relu" if relu else "tanh"
    wired = tuple(outputs if layer_type == "LSTM" else outputs - {"cell"} or {"hidden"})
    assert check_direct(single_layer(layer_type, params, [shape], wired), tmp_path) == {layer_type}


@given(
    heads=st.sampled_from([1, 2, 4]),
    bias=st.booleans(),
    lengths=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    memory=st.sampled_from(["self", "key", "key and value", "packed key and value"]),
)
@SETTINGS
def test_multihead_attention(tmp_path: Path, heads: int, bias: bool, lengths: tuple[int, int], memory: str) -> None:
    query, steps = (lengths[0], 8), lengths[1]
    shapes = {
        "self": [query],
        "key": [query, (steps, 3)],
        "key and value": [query, (steps, 5), (steps, 3)],
        "packed key and value": [query, (steps, 8), (steps, 8)],
    }[memory]
    project = layer_project("MultiheadAttention", {"num_heads": heads, "bias": bias}, shapes)
    assert check_direct(project, tmp_path) == {"MultiheadAttention"}


@given(
    nhead=st.sampled_from([1, 2, 4]),
    norm_first=st.booleans(),
    activation=st.sampled_from(["relu", "gelu"]),
    bias=st.booleans(),
    eps=st.sampled_from([1e-5, 1e-3]),
    opset=st.sampled_from([18, 20]),
)
@SETTINGS
def test_transformer_encoder_layer(
    tmp_path: Path, nhead: int, norm_first: bool, activation: str, bias: bool, eps: float, opset: int
) -> None:
    params = {"nhead": nhead, "norm_first": norm_first, "activation": activation, "bias": bias, "layer_norm_eps": eps, "dim_feedforward": 16}
    types = check_direct(layer_project("TransformerEncoderLayer", params, [(5, 8)]), tmp_path, opset)
    assert "MultiheadAttention" in types and types <= ENCODER_PARTS


@pytest.mark.parametrize("kind", ["sinusoidal", "learned"])
@pytest.mark.parametrize("max_len", [6, 40])
def test_positional_encoding_keeps_its_table(tmp_path: Path, kind: str, max_len: int) -> None:
    assert check_direct(layer_project("PositionalEncoding", {"kind": kind, "max_len": max_len}, [(6, 7)]), tmp_path) == {"PositionalEncoding"}


@pytest.mark.parametrize(("steps", "width"), [(1, 1), (6, 7), (64, 16), (512, 8)])
def test_the_sinusoidal_table_is_the_generated_helpers(steps: int, width: int) -> None:
    scope = run_source("import math\nimport torch\nfrom torch import nn\n" + HELPERS["SinusoidalEncoding"])
    table = scope["SinusoidalEncoding"](steps, width).table.numpy()
    rows = np.asarray(sequence.sinusoidal_rows(steps, width), np.float32).reshape(steps, width)
    np.testing.assert_allclose(rows, table, rtol=0, atol=1e-6)  # torch's float32 exp may round one ulp apart


@pytest.mark.parametrize("mode", ["mean", "max", "first", "last"])
def test_sequence_pool(tmp_path: Path, mode: str) -> None:
    assert check_direct(layer_project("SequencePool", {"mode": mode}, [(5, 3)]), tmp_path) == {"SequencePool"}


def test_embedding(tmp_path: Path) -> None:
    project = layer_project("Embedding", {"num_embeddings": 12, "embedding_dim": 3})  # the import check draws ids below 10
    assert check_direct(project, tmp_path) == {"Embedding"}
