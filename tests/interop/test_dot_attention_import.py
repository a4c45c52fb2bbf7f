"""Scaled dot-product attention in ONNX files (torch.onnx's, and the export's own) imports as one layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.pytorch import generate_pytorch
from studio.graph.shapes import analyse
from studio.interop.onnx_import import import_onnx
from tests.codegen.batch_graphs import heads_project
from tests.codegen.cases import layer_project, seeded_model
from tests.codegen.helpers import assert_ruff_clean, ruff_executable
from tests.interop import onnx_models as om


class SelfAttention(nn.Module):
    """Projections to heads, then F.scaled_dot_product_attention, as transformer code calls it."""

    def __init__(self, width: int = 8, heads: int = 2, causal: bool = False) -> None:
        super().__init__()
        self.qkv, self.heads, self.causal = nn.Linear(width, 3 * width), heads, causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = (p.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for p in self.qkv(x).chunk(3, dim=-1))
        return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal).transpose(1, 2).reshape(n, t, d)


def attention_layers(imported: object) -> list:
    return [n for n in imported.project.graph.nodes.values() if n.type == "ScaledDotProductAttention"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("causal", [False, True])
def test_torch_onnx_attention_imports_as_one_layer(tmp_path: Path, causal: bool) -> None:
    model = SelfAttention(causal=causal).eval()
    path = om.export_torch(model, torch.randn(2, 5, 8), tmp_path / "attention.onnx", 17)
    imported = import_onnx(path)
    (layer,) = attention_layers(imported)
    assert layer.params["causal"] is causal and layer.params["scale"] == 0.0  # the default 1 / sqrt(4)
    om.assert_matches_onnxruntime(path, imported)


@pytest.mark.parametrize(
    ("params", "shapes"),
    [
        ({"causal": True, "scale": 0.5}, [(2, 6, 8), (2, 6, 8), (2, 6, 3)]),
        ({}, [(2, 6, 8), (1, 5, 8), (2, 5, 4), (1, 6, 5)]),  # an additive mask
    ],
)
def test_the_exports_own_attention_comes_back_with_its_settings(tmp_path: Path, params: dict, shapes: list) -> None:
    project = layer_project("ScaledDotProductAttention", params, shapes)
    path = tmp_path / "sdpa.onnx"
    path.write_bytes(onnx_bytes(project, seeded_model(project)))
    imported = import_onnx(path)
    (layer,) = attention_layers(imported)
    assert {k: layer.params[k] for k in params} == params
    om.assert_matches_onnxruntime(path, imported)


def test_heads_folded_into_the_batch_import_back_as_folds_around_attention(tmp_path: Path) -> None:
    project = heads_project()
    path = tmp_path / "heads.onnx"
    path.write_bytes(onnx_bytes(project, seeded_model(project)))
    imported = import_onnx(path)
    (layer,) = attention_layers(imported)
    assert layer.params["scale"] == 1.0  # the plain product is unscaled
    modes = sorted(n.params["batch"] for n in imported.project.graph.nodes.values() if n.type == "Reshape")
    assert modes.count("fold") == 3 and modes.count("unfold") == 1
    om.assert_matches_onnxruntime(path, imported)


def guarded_attention() -> object:
    """q, k, v inputs -> softmax(q kᵀ / 2) guarded by Where(IsNaN(w), 0, w), as dynamo writes it -> @ v."""
    nodes = [
        om.node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), om.node("MatMul", ["q", "kt"], ["scores"]),
        om.node("Mul", ["scores", "half"], ["scaled"]), om.node("Softmax", ["scaled"], ["w"], axis=-1),
        om.node("IsNaN", ["w"], ["nan"]), om.node("Where", ["nan", "zero", "w"], ["safe"]),
        om.node("MatMul", ["safe", "v"], ["y"], "mix"),
    ]  # fmt: skip
    inits = [om.tensor("half", 0.5), om.tensor("zero", 0.0)]
    return om.model(nodes, [("q", [4, 8]), ("k", [5, 8]), ("v", [5, 3])], ["y"], inits, opset=18)


def test_the_nan_guard_dynamo_writes_after_the_softmax_is_part_of_the_attention(tmp_path: Path) -> None:
    path = om.save(guarded_attention(), tmp_path / "guarded.onnx")
    imported = import_onnx(path)
    (layer,) = attention_layers(imported)
    assert layer.params["scale"] == 0.5
    assert {n.type for n in imported.project.graph.nodes.values()} == {"Input", "ScaledDotProductAttention", "Output"}
    om.assert_matches_onnxruntime(path, imported)


def test_a_nan_guard_elsewhere_passes_its_input_through(tmp_path: Path) -> None:
    nodes = [
        om.node("Relu", ["x"], ["r"]), om.node("IsNaN", ["r"], ["nan"]), om.node("Where", ["nan", "zero", "r"], ["y"]),
    ]  # fmt: skip
    path = om.save(om.model(nodes, [("x", [3, 4])], ["y"], [om.tensor("zero", 0.0)], opset=18), tmp_path / "guard.onnx")
    imported = import_onnx(path)
    assert sorted(n.type for n in imported.project.graph.nodes.values()) == ["Input", "Output", "ReLU"]
    om.assert_matches_onnxruntime(path, imported)


class Projected(nn.Module):
    """Separate query, key and value projections cut into heads, attention, heads joined, an output projection."""

    def __init__(self, width: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(width, width) for _ in range(4))
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = (p(x).reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for p in (self.q, self.k, self.v))
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, d))


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_heads_cut_from_projections_and_joined_into_one_import_as_multihead_attention(tmp_path: Path, dynamo: bool) -> None:
    model = Projected().eval()
    path = om.export_torch(model, torch.randn(2, 5, 8), tmp_path / "projected.onnx", 18 if dynamo else 17, dynamo)
    imported = import_onnx(path)
    types = sorted(n.type for n in imported.project.graph.nodes.values())
    assert types == ["Input", "MultiheadAttention", "Output"]
    assert analyse(imported.project.graph).summary().trainable_params == sum(p.numel() for p in model.parameters())
    om.assert_matches_onnxruntime(path, imported)


@pytest.mark.parametrize("causal", [False, True])
def test_dynamo_attention_imports_as_one_layer(tmp_path: Path, causal: bool) -> None:
    """dynamo writes the keys' transpose as Reshape to (N * H, T, d), Transpose, Reshape back, and scales q and k."""
    model = SelfAttention(causal=causal).eval()
    path = om.export_torch(model, torch.randn(2, 5, 8), tmp_path / "attention.onnx", 18, dynamo=True)
    imported = import_onnx(path)
    (layer,) = attention_layers(imported)
    assert layer.params["causal"] is causal and layer.params["scale"] == 0.0
    assert not {"Constant", "MatMul", "Softmax"} & {n.type for n in imported.project.graph.nodes.values()}
    om.assert_matches_onnxruntime(path, imported)


class WindowAttention(nn.Module):
    """Attention over a window of tokens with Swin's learned relative position bias: table[index] for a fixed index."""

    def __init__(self, window: int = 3, width: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.qkv, self.proj, self.heads = nn.Linear(width, 3 * width), nn.Linear(width, width), heads
        self.table = nn.Parameter(0.5 * torch.randn((2 * window - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + window - 1
        self.register_buffer("index", offsets[..., 0] * (2 * window - 1) + offsets[..., 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = (p.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for p in self.qkv(x).chunk(3, dim=-1))
        bias = self.table[self.index.view(-1)].view(t, t, -1).permute(2, 0, 1).unsqueeze(0)
        scores = (q * (d // self.heads) ** -0.5) @ k.transpose(-2, -1) + bias
        return self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d))


def test_a_relative_position_bias_imports_as_its_whole_learned_table_picked_by_index(tmp_path: Path) -> None:
    """TorchScript keeps the table and the index (dynamo folds a table this small into the bias it makes)."""
    model = WindowAttention().eval()
    path = om.export_torch(model, torch.randn(2, 9, 8), tmp_path / "window.onnx", 17)
    imported = import_onnx(path)
    graph = imported.project.graph
    assert len(attention_layers(imported)) == 1
    (table,) = [n for n in graph.nodes.values() if n.type == "Parameter"]
    assert table.params["shape"] == (25, 2)
    (pick,) = [n for n in graph.nodes.values() if n.type == "IndexSelect"]
    assert pick.params["indices"] == tuple(model.index.view(-1).tolist())  # 81 rows: (window size)^4
    summary = analyse(graph).summary()
    assert summary.trainable_params == summary.total_params == sum(p.numel() for p in model.parameters())
    om.assert_matches_onnxruntime(path, imported)
    ruff = ruff_executable()
    if ruff is not None:  # the long index list is written as black writes it
        assert_ruff_clean(ruff, {"window": generate_pytorch(imported.project)}, tmp_path)
