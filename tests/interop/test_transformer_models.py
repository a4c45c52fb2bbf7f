"""Real transformer models import: Hugging Face BERT, DistilBERT, GPT-2 and ViT from small configs.

Each is built with random weights (no download), exported by both torch.onnx exporters, and
imported; attention comes back as attention layers, the imported network learns exactly the
parameters the model's forward uses (position and token-type tables whole, not the rows one
input size reads), and the generated PyTorch code, holding the imported weights, computes what
ONNX Runtime computes on the file, as does the imported project's own ONNX export.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from studio.codegen.onnx_export import onnx_bytes
from studio.graph.flatten import flatten
from studio.graph.shapes import analyse
from studio.interop.common import ImportedModel
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om

transformers = pytest.importorskip("transformers")  # a dev dependency; the check names it if it is missing

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),  # transformers' and torch.onnx's notes on tracing
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


# Position tables larger than the dynamo exporter's constant folding takes (8,192 elements), as in every real model:
# a smaller one it folds into the rows one input size reads, and the file no longer holds the rest of it.
POSITIONS = 512
LAYERS = 2
# Reshape and Permute layers left: ViT's patches flattened to tokens; GPT-2's heads cut and joined around its causal
# attention (MultiheadAttention takes no causal mask), 4 per layer. Before issue 13's import: 12 and 10 in BERT's.
VIEWS = {"bert": 0, "distilbert": 0, "gpt2": 8 * LAYERS, "vit": 2}


class LastHidden(torch.nn.Module):
    """A Hugging Face model returning its last hidden state as one tensor."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).last_hidden_state


def bert() -> torch.nn.Module:
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=2, intermediate_size=64, max_position_embeddings=POSITIONS
    )
    return transformers.BertModel(config)


def distilbert() -> torch.nn.Module:
    config = transformers.DistilBertConfig(vocab_size=100, dim=32, n_layers=LAYERS, n_heads=2, hidden_dim=64, max_position_embeddings=POSITIONS)
    return transformers.DistilBertModel(config)


def gpt2() -> torch.nn.Module:
    config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=LAYERS, n_head=2, n_positions=POSITIONS, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2Model(config)


def vit() -> torch.nn.Module:
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=2, intermediate_size=64, image_size=16, patch_size=4, num_channels=3
    )
    return transformers.ViTModel(config)


MODELS = {"bert": (bert, "tokens"), "distilbert": (distilbert, "tokens"), "gpt2": (gpt2, "tokens"), "vit": (vit, "image")}


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    """The model with every parameter drawn at random, as a trained one has them: the dynamo exporter shares equal
    initializers between layers and drops zero biases, which a freshly built model is full of."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def used_state(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """The parameters the forward uses (those a gradient reaches; an unused pooler is left out) and the float buffers."""
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    used = sum(p.numel() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return used, sum(b.numel() for b in model.buffers() if b.is_floating_point())


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
    model = LastHidden(randomized(build()))
    x = sample(kind)
    learned, buffers = used_state(model, x)
    path = export(model, x, tmp_path / f"{name}.onnx", dynamo)
    imported = import_onnx(path)
    types = Counter(n.type for n in flatten(imported.project.graph).nodes.values())
    assert types["MultiheadAttention"] + types["ScaledDotProductAttention"] == LAYERS, types
    assert types["Reshape"] + types["Permute"] <= VIEWS[name], types
    summary = analyse(imported.project.graph).summary()
    assert (summary.trainable_params, summary.total_params) == (learned, learned + buffers)
    om.assert_matches_onnxruntime(path, imported)
    assert_reexport_matches(imported, tmp_path / "again.onnx")


def assert_reexport_matches(imported: ImportedModel, path: Path) -> None:
    """The imported project's own ONNX export, run by ONNX Runtime, computes what its generated PyTorch code computes."""
    import onnxruntime as ort

    reference = om.generated_model(imported)
    path.write_bytes(onnx_bytes(imported.project, reference))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = om.sample_inputs(session, 3)
    (got,) = session.run(None, {v.name: x.numpy() for v, x in zip(session.get_inputs(), xs)})
    with torch.no_grad():
        expected = reference(*xs)
    torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-4, atol=1e-5)
