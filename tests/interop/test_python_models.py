"""The proof set of "Open PyTorch code as a graph": real model code imported, exported, and loaded back into the original.

Each model is a user's `model.py` (tests/interop/code_models/): modules written here (an MLP, a
CNN of residual blocks, a squeeze-and-excitation network, a stacked bidirectional LSTM
classifier, a GPT-style causal transformer, a U-Net), torchvision architectures at small sizes
(ResNet, MobileNetV3, EfficientNet; tests/interop/real_models, as torchvision's wheel does not
load here) and Hugging Face BERT, GPT-2 and ViT from small configs. Each is built with random
weights (BatchNorm statistics from a batch), imported through `import_python` (the child
process, torch.export through torch.onnx's dynamo exporter), and checked for:

- exactly the module's learned parameters and its state-dict buffers (BatchNorm's statistics
  and step count) in the imported project;
- attention recognised as attention layers where the model has it;
- the project exported to PyTorch and ONNX (`export_project`, as `layer-studio export` does)
  computing what the original module computes, within 1e-5 of the output's scale;
- the way back: `original.load_state_dict(torch.load(exported weights))`, strict, restoring
  every tensor of the original exactly.

Where the way back renames, `BACK` documents it and the test applies exactly that conversion
(nothing else is accepted): attention whose q, k, v and output projections are separate
modules becomes one MultiheadAttention holding them packed (`in_proj_weight`, BERT and ViT); a
table the module holds as a bare tensor or reads at constant rows (a position table, a class
token, BERT's token-type table) becomes a Parameter or PositionalEncoding layer with its own
key; GPT-2's Conv1D stores its weight as (in, out), a Linear as (out, in). Tied weights (GPT-2's
`lm_head.weight` is `transformer.wte.weight`) become two tensors in the project, both loaded with
the same values, so the project counts the table twice and training it unties them.
BatchNorm's `num_batches_tracked` comes back as 0: a step count the captured graph does not
hold (it only matters to BatchNorm with `momentum=None`, a cumulative average).
"""

from __future__ import annotations

import re
import runpy
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.codegen.export import build_torch_model, export_project
from studio.graph.flatten import flatten
from studio.graph.shapes import analyse
from studio.interop.common import ImportedModel, weights_path, write_imported
from studio.interop.python_code import import_python
from tests.interop.real_models import checks

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

MODELS = Path(__file__).parent / "code_models"
TOLERANCE = 1e-5
State = dict[str, torch.Tensor]


def attention_unpacked(query: str, key: str, value: str, out: str, layer: str = "") -> Callable[[str], dict[str, str] | None]:
    """A MultiheadAttention's packed keys (`<module>.<layer>.in_proj_weight`) -> the q, k, v and output projections they came from."""
    inner = f"\\.{layer}" if layer else ""

    def rule(exported: str) -> dict[str, str] | None:
        found = re.fullmatch(rf"(.*){inner}\.(in_proj_|out_proj\.)(weight|bias)", exported)
        if found is None:
            return None
        base, part, kind = found.groups()
        if part == "out_proj.":
            return {f"{base}.{out}.{kind}": ""}
        return {f"{base}.{name}.{kind}": str(i) for i, name in enumerate((query, key, value))}

    return rule


@dataclass(frozen=True)
class Back:
    """How the exported state dict maps onto the original's, where it is not key for key (documented above)."""

    renamed: dict[str, str] = field(default_factory=dict)  # exported key -> original key (reshaped to the original's shape)
    packed: Callable[[str], dict[str, str] | None] | None = None  # attention: an exported key -> the original keys of its pieces
    transposed: str = ""  # original keys (a pattern) whose weight the original stores as (in, out)

    def original(self, exported: State, shapes: dict[str, torch.Size]) -> State:
        """`exported` converted to the original's keys and layouts."""
        found: State = {}
        for key, value in exported.items():
            pieces = self.packed(key) if self.packed is not None else None
            if pieces is not None:
                for name, index in pieces.items():
                    found[name] = value.chunk(3)[int(index)] if index else value
                continue
            name = self.renamed.get(key, key)
            if self.transposed and re.fullmatch(self.transposed, name):
                value = value.t()
            found[name] = value.reshape(shapes[name]) if name in shapes else value
        return found


@dataclass(frozen=True)
class Case:
    """A model file, the name it builds, its inputs' per-sample shapes, its attention layers, and how the way back goes."""

    file: str
    name: str
    inputs: tuple[str, ...]
    attention: int = 0
    back: Back | None = None  # None: key for key


CASES = {
    "mlp": Case("mlp.py", "MLP", ("20",)),
    "residual_cnn": Case("residual_cnn.py", "ResidualCNN", ("3x16x16",)),
    "squeeze_excite": Case("squeeze_excite.py", "SENet", ("3x16x16",)),
    "bilstm": Case("bilstm.py", "BiLSTMClassifier", ("12:int64",)),
    "causal_transformer": Case("causal_transformer.py", "CausalTransformer", ("16:int64",), 2, Back({"add.table": "pos.weight"})),
    "unet": Case("unet.py", "UNet", ("3x32x32",)),
    "resnet18": Case("vision.py", "small_resnet18", ("3x32x32",)),
    "mobilenet_v3": Case("vision.py", "small_mobilenet_v3", ("3x32x32",)),
    "efficientnet": Case("vision.py", "small_efficientnet", ("3x32x32",)),
    "bert": Case(
        "hugging_face.py",
        "bert",
        ("8:int64",),
        2,
        Back(
            {
                "bert.embeddings.add_2.table": "bert.embeddings.position_embeddings.weight",
                "bert.embeddings.token_type_embeddings_weight.weight": "bert.embeddings.token_type_embeddings.weight",
            },
            attention_unpacked("self.query", "self.key", "self.value", "output.dense", "multihead_attention"),
        ),
    ),
    "gpt2": Case(
        "hugging_face.py", "gpt2", ("8:int64",), 2, Back({"transformer.add.table": "transformer.wpe.weight"}, transposed=r".*\.(c_attn|c_fc|c_proj)\.weight")
    ),
    "vit": Case(
        "hugging_face.py",
        "vit",
        ("3x16x16",),
        2,
        Back(
            {"vit.embeddings.expand.weight": "vit.embeddings.cls_token", "vit.embeddings.add.table": "vit.embeddings.position_embeddings"},
            attention_unpacked("q_proj", "k_proj", "v_proj", "o_proj"),
        ),
    ),
}


@dataclass
class Proof:
    """One model taken through the import and both exports."""

    original: torch.nn.Module
    imported: ImportedModel
    generated: torch.nn.Module  # the exported PyTorch code, holding the exported weights
    weights: Path  # the exported PyTorch weights
    onnx: Path


def inputs(case: Case, batch: int, seed: int) -> list[torch.Tensor]:
    """Random inputs of the case's shapes: floats, or token ids below the smallest vocabulary of the set (50)."""
    generator = torch.Generator().manual_seed(seed)
    made = []
    for text in case.inputs:
        shape, _, dtype = text.partition(":")
        size = (batch, *(int(d) for d in shape.split("x")))
        made.append(torch.randint(0, 50, size, generator=generator) if dtype else torch.randn(size, generator=generator))
    return made


@pytest.fixture(scope="module")
def proofs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Proof]]:
    """Each model imported and exported once, on first use, and shared by this module's tests.

    The capture child of the next model runs while this one is checked (two at a time): the
    child processes are most of the time, and one model's import never waits for another's.
    """
    order = list(CASES)
    started: dict[str, Future[tuple[torch.nn.Module, ImportedModel]]] = {}
    made: dict[str, Proof] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:

        def proof(key: str) -> Proof:
            for ahead in order[order.index(key) : order.index(key) + 2]:
                if ahead not in started:
                    started[ahead] = pool.submit(_imported, CASES[ahead], tmp_path_factory.mktemp(ahead))
            if key not in made:
                original, imported = started[key].result()
                made[key] = _exported(original, imported, tmp_path_factory.mktemp(f"{key}_export"))
            return made[key]

        yield proof


def _imported(case: Case, folder: Path) -> tuple[torch.nn.Module, ImportedModel]:
    """The case's module with random weights (BatchNorm statistics from a batch), and its import through the capture child."""
    path = MODELS / case.file
    original = checks.randomized(runpy.run_path(str(path))[case.name](), *inputs(case, 4, 0))
    state = folder / "trained.pt"
    torch.save(original.state_dict(), state)
    return original, import_python(f"{path}:{case.name}", list(case.inputs), state)


def _exported(original: torch.nn.Module, imported: ImportedModel, folder: Path) -> Proof:
    """The imported project written as `layer-studio import` writes it, then exported to PyTorch and ONNX from those files."""
    project = folder / "imported.lstudio"
    write_imported(imported, project)
    code = folder / "model.py"
    export_project(imported.project, "pytorch", code, weights=weights_path(project))
    export_project(imported.project, "onnx", folder / "model.onnx", weights=weights_path(project))
    generated = build_torch_model(code.read_text(), 0)
    generated.load_state_dict(torch.load(code.with_suffix(".pt"), weights_only=True))
    return Proof(original, imported, generated.eval(), code.with_suffix(".pt"), folder / "model.onnx")


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    assert got.shape == expected.shape, (tuple(got.shape), tuple(expected.shape))
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("key", CASES)
def test_the_import_holds_exactly_the_modules_parameters_and_buffers(proofs: Callable[[str], Proof], key: str) -> None:
    proof = proofs(key)
    summary = analyse(proof.imported.project.graph).summary()
    learned = sum(p.numel() for p in proof.original.parameters())
    tied = sum(p.numel() for _, p in proof.original.named_parameters(remove_duplicate=False)) - learned  # each name of a tied table is its own tensor
    names = {name for name, _ in proof.original.named_parameters(remove_duplicate=False)}
    buffers = sum(v.numel() for k, v in proof.original.state_dict().items() if k not in names)
    assert (summary.trainable_params, summary.total_params - summary.trainable_params) == (learned + tied, buffers)
    assert (tied > 0) == (key == "gpt2")
    types = Counter(n.type for n in flatten(proof.imported.project.graph).nodes.values())
    assert types["MultiheadAttention"] + types["ScaledDotProductAttention"] == CASES[key].attention, types
    assert not {"MatMul", "Softmax"} & set(types), types


@pytest.mark.parametrize("key", CASES)
def test_the_exported_pytorch_and_onnx_compute_what_the_original_computes(proofs: Callable[[str], Proof], key: str) -> None:
    import onnxruntime as ort

    proof = proofs(key)
    xs = inputs(CASES[key], 3, 1)
    with torch.no_grad():
        expected = proof.original(*xs)
        assert relative_error(proof.generated(*xs), expected) <= TOLERANCE
    session = ort.InferenceSession(str(proof.onnx), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {v.name: x.numpy() for v, x in zip(session.get_inputs(), xs)})
    assert relative_error(torch.from_numpy(np.asarray(got)), expected) <= TOLERANCE


@pytest.mark.parametrize("key", CASES)
def test_the_exported_weights_load_strictly_into_the_original_module(proofs: Callable[[str], Proof], key: str) -> None:
    proof = proofs(key)
    before = {k: v.clone() for k, v in proof.original.state_dict().items()}
    exported = torch.load(proof.weights, weights_only=True)
    back = CASES[key].back
    if back is not None:  # the documented renames, and nothing else, make it load
        assert set(exported) != set(before)
        exported = back.original(exported, {k: v.shape for k, v in before.items()})
    assert set(exported) == set(before)
    proof.original.load_state_dict(exported, strict=True)
    for name, value in proof.original.state_dict().items():
        if name.endswith("num_batches_tracked"):  # a step count the captured graph does not hold: the project starts it at 0
            assert int(value) == 0, name
        else:
            assert torch.equal(value, before[name]), name
