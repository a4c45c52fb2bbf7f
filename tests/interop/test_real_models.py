"""Real models import: torchvision's classification and segmentation families, and stacked or bidirectional RNNs.

The torchvision models are written in torch.nn from their published definitions
(`tests/interop/real_models/`, torchvision's own wheel does not load beside the CPU build of
torch); at full size each has torchvision's documented parameter count. Here each runs at a
small configuration: exported by torch.onnx's TorchScript exporter (opset 17, BatchNorm kept)
and, for one model of each form it writes differently, its dynamo exporter (opset 18, which
folds BatchNorm into the convolutions), imported, and
checked for exact parameters (against PyTorch where the file keeps every tensor, else against
what the file holds) and for parity within 1e-4 of the output's scale with ONNX Runtime on the
original file, of both the generated PyTorch code and the imported project's own ONNX export.
`benchmarks/real_models.py` does the same at full size and prints the table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.graph.shapes import analyse
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om
from tests.interop import recurrent_models as rm
from tests.interop.real_models import MODELS, checks

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOLERANCE = 1e-4
# The dynamo exporter takes seconds a model: one model of each kind it writes differently, so the suite stays quick
# (BatchNorm folded into dilated convolutions and a segmentation head, as_strided for a permuted map's flatten,
# attention, BatchNorm after a concatenation). Swin's dynamo export alone takes 15 s: the benchmark runs it.
DYNAMO = ("fcn_resnet50", "convnext_tiny", "vit_b_16", "densenet121")
CASES = [(name, "torchscript") for name in MODELS] + [(name, "dynamo") for name in DYNAMO]


def exported(name: str, exporter: str, folder: Path) -> tuple[Path, torch.nn.Module]:
    entry = MODELS[name]
    torch.manual_seed(0)
    x = checks.sample(entry.small_shape)
    model = checks.randomized(entry.reduced(), x)
    return checks.export(model, x, folder / f"{name}.onnx", exporter), model


@pytest.mark.parametrize("name", MODELS)
def test_full_configurations_have_torchvisions_parameter_counts(name: str) -> None:
    with torch.device("meta"):
        model = MODELS[name].full()
    assert sum(p.numel() for p in model.parameters()) == MODELS[name].published


@pytest.mark.parametrize(("name", "exporter"), CASES, ids=lambda v: v)
def test_a_torchvision_model_imports_with_its_weights_and_outputs(tmp_path: Path, name: str, exporter: str) -> None:
    path, model = exported(name, exporter, tmp_path)
    imported = import_onnx(path)
    summary = analyse(imported.project.graph).summary()
    if exporter == "torchscript":  # every tensor kept: exactly PyTorch's parameters and buffers (and Swin's fixed masks, folded)
        learned, total = checks.torch_counts(model)
        assert (summary.trainable_params, summary.total_params) == (learned, total + checks.fixed_values(imported))
    assert checks.imported_floats(imported) == checks.file_floats(path) + checks.fixed_values(imported)  # what the file holds
    generated, again = checks.parity(path, imported)
    assert generated <= TOLERANCE and again <= TOLERANCE, (generated, again)


@pytest.mark.parametrize(
    ("name", "exporter"),
    [("last_step_of_a_bidirectional_gru", "torchscript"), ("both_directions", "torchscript"), ("both_directions", "dynamo")],
    ids=lambda v: v,
)
def test_stacked_and_bidirectional_recurrent_models_import_exactly(tmp_path: Path, name: str, exporter: str) -> None:
    build, _ = rm.TORCH_MODELS[name]
    torch.manual_seed(0)
    model = checks.randomized(build(), rm.sample())
    path = checks.export(model, rm.sample(), tmp_path / f"{name}.onnx", exporter)
    imported = import_onnx(path)
    summary = analyse(imported.project.graph).summary()
    assert (summary.trainable_params, summary.total_params) == checks.torch_counts(model)
    generated, again = checks.parity(path, imported)
    assert generated <= TOLERANCE and again <= TOLERANCE, (generated, again)


# ----- the importer's gaps these models showed, each on its own -----
def test_a_dense_layer_on_a_channels_last_map_imports_around_one_linear(tmp_path: Path) -> None:
    """ConvNeXt's MLP: MatMul and Add over the last dimension of (N, H, W, C), which a Linear takes as one sequence."""
    weight, bias = om.rand(6, 5), om.rand(5, seed=1)
    nodes = [om.node("MatMul", ["x", "w"], ["h"], "fc"), om.node("Add", ["h", "b"], ["y"], "fc_bias")]
    path = om.save(om.model(nodes, [("x", [3, 4, 6])], ["y"], [om.tensor("w", weight), om.tensor("b", bias)]), tmp_path / "dense.onnx")
    imported = import_onnx(path)
    assert [n.type for n in imported.project.graph.nodes.values()] == ["Input", "Flatten", "Linear", "Reshape", "Output"]
    assert analyse(imported.project.graph).summary().total_params == 6 * 5 + 5
    om.assert_matches_onnxruntime(path, imported)


def test_a_learned_per_channel_scale_alone_holds_exactly_its_values(tmp_path: Path) -> None:
    """ConvNeXt's layer scale, a (C, 1, 1) weight multiplied in: a Parameter and a Multiply, not a BatchNorm of 4C + 1 values."""
    nodes = [om.node("Conv", ["x", "w0", "b0"], ["c"], "conv"), om.node("Mul", ["gamma", "c"], ["y"], "layer_scale")]
    inits = [*om.conv_weights(4, 3, 3), om.tensor("gamma", om.rand(4, 1, 1, seed=2))]
    path = om.save(om.model(nodes, [("x", [3, 6, 6])], ["y"], inits), tmp_path / "scale.onnx")
    imported = import_onnx(path)
    assert {"Parameter", "Multiply"} <= {n.type for n in imported.project.graph.nodes.values()}
    summary = analyse(imported.project.graph).summary()
    assert (summary.trainable_params, summary.total_params) == (4 * 3 * 9 + 4 + 4, 4 * 3 * 9 + 4 + 4)
    om.assert_matches_onnxruntime(path, imported)


class WindowAttention(torch.nn.Module):
    """Swin's pieces at their smallest: every other row and column (a strided slice), 2x2 windows folded into the batch,
    q, k and v picked from one permuted projection, attention, the windows unfolded back."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.qkv, self.proj = torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, 0::2, 1::2, :]  # (N, 4, 4, C)
        n, c = x.shape[0], x.shape[-1]
        x = x.view(n, 2, 2, 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(n * 4, 4, c)
        qkv = self.qkv(x).reshape(x.size(0), 4, 3, 1, c).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        x = (q @ k.transpose(-2, -1)).softmax(-1).matmul(v).transpose(1, 2).reshape(x.size(0), 4, c)
        return self.proj(x).view(n, 2, 2, 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(n, 4, 4, c)


def test_windows_folded_into_the_batch_and_picked_projections_import(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, 8, 4)
    model = checks.randomized(WindowAttention(), x)
    path = checks.export(model, x, tmp_path / "windows.onnx", "torchscript")
    imported = import_onnx(path)
    graph = imported.project.graph
    assert {"IndexSelect", "Squeeze"} <= {n.type for n in graph.nodes.values()}  # the strided slice; the picks
    assert {n.params["batch"] for n in graph.nodes.values() if n.type == "Reshape"} >= {"fold", "unfold"}
    generated, again = checks.parity(path, imported)
    assert generated <= TOLERANCE and again <= TOLERANCE, (generated, again)


def test_stepped_slices_pick_their_entries(tmp_path: Path) -> None:
    """Every other row (step 2) and the columns backwards in steps of 2 (step -2): one IndexSelect per axis."""
    ints = {name: np.array(v, np.int64) for name, v in {"s": [0, -1], "e": [5, -6], "a": [2, 3], "st": [2, -2]}.items()}
    nodes = [om.node("Slice", ["x", "s", "e", "a", "st"], ["y"], "stepped")]
    path = om.save(om.model(nodes, [("x", [3, 5, 5])], ["y"], [om.tensor(k, v) for k, v in ints.items()]), tmp_path / "stepped.onnx")
    imported = import_onnx(path)
    picks = [n.params["indices"] for n in imported.project.graph.nodes.values() if n.type == "IndexSelect"]
    assert picks == [(0, 2, 4), (4, 2, 0)]
    om.assert_matches_onnxruntime(path, imported)
