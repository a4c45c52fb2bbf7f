"""ONNX written straight from the graph for the normalization layers: ONNX Runtime against PyTorch, and back.

Each layer's weights and running statistics are randomized first (a freshly built BatchNorm
holds ones, zeros and unit variances, which would hide a swapped operand). The export must not
trace, must pass onnx.checker, and must run in ONNX Runtime at a batch other than the traced
one to the PyTorch model's numbers; the file imports back as the same layer type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.codegen import onnx_export
from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.onnx_writer import writable
from studio.graph.catalogue import CATALOGUE
from studio.graph.project import Project
from studio.interop.onnx_import import import_onnx
from tests.codegen.cases import chain_project, layer_project
from tests.codegen.onnx_checks import assert_matches_torch, direct_export, randomized
from tests.interop.onnx_models import assert_matches_onnxruntime

NORM_TYPES = sorted(t for t, spec in CATALOGUE.items() if spec.category == "Normalization")


@pytest.fixture(autouse=True)
def no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def traced(*args: object) -> None:
        raise AssertionError("torch.onnx was used")

    monkeypatch.setattr(onnx_export, "_traced", traced)


def check_direct(project: Project, opset: int = 18) -> bytes:
    """Export with random weights and statistics straight from the graph; ONNX Runtime gives PyTorch's outputs."""
    return direct_export(project, randomized(project), opset)


def check_round_trip(project: Project, data: bytes, tmp_path: Path) -> dict[str, Any]:
    """Import the file: one layer of the same type, with ONNX Runtime's outputs; return its parameters."""
    path = tmp_path / "norm.onnx"
    path.write_bytes(data)
    imported = import_onnx(path)
    layers = [n for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")]
    (original,) = [n for n in project.graph.nodes.values() if n.name == "layer"]
    assert [n.type for n in layers] == [original.type]
    assert_matches_onnxruntime(path, imported)
    return dict(layers[0].params)


def test_every_normalization_layer_has_an_emitter() -> None:
    assert len(NORM_TYPES) == 10
    assert all(CATALOGUE[t].onnx is not None for t in NORM_TYPES)


def ops(data: bytes) -> list[str]:
    return [node.op_type for node in onnx.load_from_string(data).graph.node]


CASES = [  # (type, params, per-sample shape or None, operators written)
    ("BatchNorm1d", {}, None, ["BatchNormalization"]),
    ("BatchNorm1d", {"affine": False, "eps": 1e-3, "momentum": 0.3}, [(6, 8)], ["BatchNormalization"]),
    ("BatchNorm2d", {}, None, ["BatchNormalization"]),
    ("BatchNorm3d", {"affine": False}, None, ["BatchNormalization"]),
    ("BatchNorm1d", {"track_running_stats": False}, None, None),
    ("BatchNorm1d", {"track_running_stats": False, "affine": False}, [(6, 8)], None),
    ("BatchNorm3d", {"track_running_stats": False, "eps": 1e-2}, None, None),
    ("InstanceNorm1d", {"affine": True, "eps": 1e-3}, None, ["InstanceNormalization"]),
    ("InstanceNorm2d", {}, None, ["InstanceNormalization"]),
    ("InstanceNorm3d", {"affine": True}, None, ["InstanceNormalization"]),
    ("InstanceNorm1d", {"track_running_stats": True}, None, ["BatchNormalization"]),
    ("InstanceNorm3d", {"affine": True, "track_running_stats": True}, None, ["BatchNormalization"]),
    ("LayerNorm", {}, None, ["LayerNormalization"]),
    ("LayerNorm", {"num_dims": 3, "eps": 1e-3}, [(3, 4, 5)], ["LayerNormalization"]),
    ("LayerNorm", {"num_dims": 2, "elementwise_affine": False}, None, ["LayerNormalization"]),
    ("LayerNorm", {"bias": False}, [(7,)], ["LayerNormalization"]),
    ("GroupNorm", {"num_groups": 1}, None, None),
    ("GroupNorm", {"num_groups": 8, "affine": False}, [(8, 5)], None),
    ("GroupNorm", {"num_groups": 2}, [(4, 2, 3, 2)], None),
    ("GroupNorm", {"num_groups": 3}, [(6,)], None),
    ("LocalResponseNorm", {}, None, ["LRN"]),
    ("LocalResponseNorm", {"size": 3, "alpha": 0.5, "beta": 1.5, "k": 2.0}, [(7, 5, 4)], ["LRN"]),
    ("LocalResponseNorm", {"size": 4, "alpha": 0.2}, [(7, 5, 4)], None),
    ("LocalResponseNorm", {"size": 3}, [(7, 5)], None),
    ("LocalResponseNorm", {"size": 2, "alpha": 0.3, "k": 0.5}, [(5, 3, 2, 2)], None),
]


@pytest.mark.parametrize(("layer_type", "params", "shapes", "written"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_torch_without_tracing(layer_type: str, params: dict, shapes: list | None, written: list | None) -> None:
    data = check_direct(layer_project(layer_type, params, shapes))
    if written is not None:
        assert ops(data) == written


def test_defaults_are_left_out_and_settings_written() -> None:
    plain = onnx.load_from_string(check_direct(layer_project("BatchNorm2d")))
    assert not plain.graph.node[0].attribute
    data = check_direct(layer_project("BatchNorm2d", {"eps": 1e-3, "momentum": 0.25}))
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in onnx.load_from_string(data).graph.node[0].attribute}
    assert attrs == pytest.approx({"epsilon": 1e-3, "momentum": 0.75})


@pytest.mark.parametrize("opset", [18, 21])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_per_opset(opset: int, affine: bool, tmp_path: Path) -> None:
    project = layer_project("GroupNorm", {"num_groups": 4, "affine": affine, "eps": 1e-3})
    data = check_direct(project, opset)
    if opset >= 21 and affine:
        assert ops(data) == ["GroupNormalization"]
    else:
        assert ops(data) == ["Reshape", "InstanceNormalization", "Reshape", *(["Mul", "Add"] if affine else [])]
    params = check_round_trip(project, data, tmp_path)
    assert params["num_groups"] == 4 and params["affine"] is affine and params["eps"] == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("layer_type", "params", "shapes"),
    [
        ("BatchNorm1d", {"momentum": 0.3, "eps": 1e-3}, [(6, 8)]),
        ("BatchNorm3d", {"affine": False}, None),
        ("InstanceNorm1d", {"affine": True}, None),
        ("InstanceNorm2d", {}, None),
        ("LayerNorm", {"num_dims": 2, "elementwise_affine": False}, None),
        ("LayerNorm", {"bias": False}, None),
        ("LocalResponseNorm", {"size": 4, "alpha": 0.2, "beta": 0.5, "k": 2.0}, None),
        ("LocalResponseNorm", {"size": 3}, [(7, 5)]),
        ("LocalResponseNorm", {"size": 5}, [(7, 3, 2, 2)]),
    ],
)
def test_round_trip_keeps_the_layer_and_its_settings(
    layer_type: str, params: dict, shapes: list | None, tmp_path: Path
) -> None:
    project = layer_project(layer_type, params, shapes)
    back = check_round_trip(project, check_direct(project), tmp_path)
    for key, value in params.items():
        assert back[key] == pytest.approx(value), key


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(1, 7),
    alpha=st.sampled_from([1e-4, 0.05, 1.0]),
    beta=st.sampled_from([0.75, 0.5, 2.0]),
    k=st.sampled_from([1.0, 0.5, 2.0]),
    rank=st.sampled_from([3, 4, 5]),
)
def test_lrn_matches_torch_for_any_size_and_rank(size: int, alpha: float, beta: float, k: float, rank: int) -> None:
    shape = (6, 4, 3, 2)[: rank - 1]
    check_direct(layer_project("LocalResponseNorm", {"size": size, "alpha": alpha, "beta": beta, "k": k}, [shape]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.sampled_from([1, 2, 3, 6]),
    rank=st.integers(2, 5),
    affine=st.booleans(),
    eps=st.sampled_from([1e-5, 1e-3]),
    opset=st.sampled_from([18, 21]),
)
def test_group_norm_matches_torch_for_any_groups_and_rank(groups: int, rank: int, affine: bool, eps: float, opset: int) -> None:
    shape = (6, 3, 2, 2)[: rank - 1]
    check_direct(layer_project("GroupNorm", {"num_groups": groups, "affine": affine, "eps": eps}, [shape]), opset)


def test_batch_statistics_really_depend_on_the_batch() -> None:
    """Without running statistics an exported BatchNorm normalizes over the batch it is given, as PyTorch's eval does."""
    project = layer_project("BatchNorm2d", {"track_running_stats": False, "affine": False})
    session = ort.InferenceSession(check_direct(project), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(3.0, 2.0, (4, 3, 8, 8)).astype(np.float32)
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)


def test_a_chain_of_norms_keeps_every_layer_name(tmp_path: Path) -> None:
    chain = [
        ("BatchNorm2d", "bn", {}), ("ReLU", "act", {}), ("GroupNorm", "gn", {"num_groups": 3}),
        ("LocalResponseNorm", "lrn", {"size": 4}), ("InstanceNorm2d", "inorm", {"affine": True}),
        ("LayerNorm", "ln", {"num_dims": 3, "elementwise_affine": False}),
    ]  # fmt: skip
    project = chain_project("norms", (6, 5, 5), chain)
    assert writable(project)
    model = randomized(project)
    data = onnx_bytes(project, model)
    assert_matches_torch(data, project, model)
    named = {node.name for node in onnx.load_from_string(data).graph.node}
    assert {name for _, name, _ in chain} <= named
    path = tmp_path / "norms.onnx"
    path.write_bytes(data)
    imported = import_onnx(path)
    layers = {n.name: n.type for n in imported.project.graph.nodes.values() if n.type not in ("Input", "Output")}
    assert layers == {name: layer_type for layer_type, name, _ in chain}
    assert_matches_onnxruntime(path, imported)
