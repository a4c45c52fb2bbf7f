"""Real transformer models import: Hugging Face BERT, DistilBERT, GPT-2 and ViT from small configs.

Each is built with random weights (no download), exported by both torch.onnx exporters, and
imported; attention comes back as attention layers, and the generated PyTorch code, holding the
imported weights, computes what ONNX Runtime computes on the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om

transformers = pytest.importorskip("transformers")  # a dev dependency; the check names it if it is missing

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),  # transformers' and torch.onnx's notes on tracing
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


class LastHidden(torch.nn.Module):
    """A Hugging Face model returning its last hidden state as one tensor."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).last_hidden_state


def bert() -> torch.nn.Module:
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=16
    )
    return transformers.BertModel(config)


def distilbert() -> torch.nn.Module:
    config = transformers.DistilBertConfig(vocab_size=100, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=16)
    return transformers.DistilBertModel(config)


def gpt2() -> torch.nn.Module:
    return transformers.GPT2Model(transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=16))


def vit() -> torch.nn.Module:
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4, num_channels=3
    )
    return transformers.ViTModel(config)


MODELS = {"bert": (bert, "tokens"), "distilbert": (distilbert, "tokens"), "gpt2": (gpt2, "tokens"), "vit": (vit, "image")}


def sample(kind: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    if kind == "tokens":
        return torch.randint(0, 100, (2, 8), generator=generator)
    return torch.randn(2, 3, 16, 16, generator=generator)


def export(model: torch.nn.Module, x: torch.Tensor, path: Path, dynamo: bool) -> Path:
    with om.quiet():
        if dynamo:
            batch = torch.export.Dim("batch", min=1)
            torch.onnx.export(model, (x,), dynamo=True, opset_version=18, dynamic_shapes=({0: batch},)).save(str(path))
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    return path


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_hugging_face_transformer_imports_with_its_weights_and_outputs(tmp_path: Path, name: str, dynamo: bool) -> None:
    build, kind = MODELS[name]
    torch.manual_seed(0)
    model = LastHidden(build().eval())
    path = export(model, sample(kind), tmp_path / f"{name}.onnx", dynamo)
    imported = import_onnx(path)
    types = {n.type for n in imported.project.graph.nodes.values()}
    assert types & {"MultiheadAttention", "ScaledDotProductAttention", "MatMul"}, types
    om.assert_matches_onnxruntime(path, imported)
