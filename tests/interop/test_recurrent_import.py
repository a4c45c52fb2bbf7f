"""ONNX recurrent operators import as the layers they are, with every output the graph reads.

PyTorch models exported by both torch.onnx exporters (TorchScript and dynamo) import to one
layer per stack and give ONNX Runtime's outputs; hand-written graphs cover what torch never
writes (direction "reverse", `layout` 1, checked against ONNX's reference evaluator where ONNX
Runtime runs only layout 0); forms no layer computes are refused naming the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from studio.graph.flatten import flatten
from studio.interop.common import UnsupportedLayersError
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om
from tests.interop import recurrent_models as rm


def layers(imported: object) -> list[tuple[str, dict]]:
    graph = flatten(imported.project.graph)  # type: ignore[attr-defined]
    return [(n.type, dict(n.params)) for n in graph.nodes.values() if n.type not in ("Input", "Output")]


def assert_holds(found: list[tuple[str, dict]], wanted: list[tuple[str, dict]]) -> None:
    """The layers found are the wanted ones, each with the wanted parameters (others as they come)."""
    assert sorted(t for t, _ in found) == sorted(t for t, _ in wanted)
    for layer_type, params in wanted:
        assert any(t == layer_type and all(p[k] == v for k, v in params.items()) for t, p in found), (layer_type, found)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", rm.TORCH_MODELS)
def test_torch_models_import_as_their_layers(tmp_path: Path, name: str, dynamo: bool) -> None:
    build, wanted = rm.TORCH_MODELS[name]
    torch.manual_seed(0)
    model = build().eval()
    path = om.export_torch(model, rm.sample(), tmp_path / f"{name}.onnx", 18 if dynamo else 17, dynamo)
    imported = import_onnx(path)
    assert_holds(layers(imported), wanted)
    om.assert_matches_onnxruntime(path, imported)


def test_reversed_operators_stack_into_one_reversed_layer(tmp_path: Path) -> None:
    path = om.save(rm.reversed_stack(), tmp_path / "reversed.onnx")
    imported = import_onnx(path)
    assert layers(imported) == [
        ("LSTM", {"hidden_size": rm.HIDDEN, "num_layers": 2, "bidirectional": False, "reverse": True, "dropout": 0.0, "bias": True})
    ]
    ports = {e.src_port for e in imported.project.graph.edges if imported.project.graph.nodes[e.src].type == "LSTM"}
    assert ports == {"sequence", "hidden"}
    om.assert_matches_onnxruntime(path, imported)


def test_operators_beside_each_other_share_the_input_they_read(tmp_path: Path) -> None:
    path = om.save(rm.two_readings(), tmp_path / "two_readings.onnx")
    imported = import_onnx(path)
    assert sorted((t, p.get("reverse")) for t, p in layers(imported)) == [("Add", None), ("GRU", False), ("GRU", True)]
    om.assert_matches_onnxruntime(path, imported)


def test_batch_major_operators_import_and_match_onnx_itself(tmp_path: Path) -> None:
    proto = rm.batch_major()
    imported = import_onnx(om.save(proto, tmp_path / "batch_major.onnx"))
    found = dict(layers(imported))
    assert found["GRU"]["bidirectional"] and not found["RNN"]["bidirectional"] and not found["RNN"]["bias"]
    x = rm.sample(3)
    expected = ReferenceEvaluator(proto).run(None, {"x": x.numpy()})  # ONNX Runtime runs layout 0 only
    with torch.no_grad():
        got = om.generated_model(imported)(x)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (rm.time_major_input, "LSTM (reads a time-major (T, N, F) input"),
        (rm.raw_final_state, "GRU (an output read in a layout no port gives"),
        (rm.initial_state, "RNN (an initial state other than zeros)"),
    ],
    ids=["time_major_input", "raw_final_state", "initial_state"],
)
def test_forms_no_layer_computes_are_refused_with_the_reason(tmp_path: Path, build: object, words: str) -> None:
    with pytest.raises(UnsupportedLayersError) as caught:
        import_onnx(om.save(build(), tmp_path / "refused.onnx"))  # type: ignore[operator]
    assert [kind for kind in caught.value.found if kind.startswith(words)], caught.value.found
