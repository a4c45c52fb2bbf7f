"""Real models through the ONNX import at full size: torchvision's families, Hugging Face transformers, stacked RNNs.

Each model is built with random weights (torchvision's from their published definitions in
`tests/interop/real_models/`, at torchvision's parameter counts; Hugging Face's from base-sized
configs, no download), exported by both torch.onnx exporters (TorchScript at opset 17 with
BatchNorm kept; dynamo at opset 18, which folds BatchNorm into the convolutions), imported, and
compared with ONNX Runtime on the original file at another batch size: the generated PyTorch code
holding the imported weights, and ONNX Runtime on the imported project's own ONNX export. Errors
are the largest difference relative to the output's largest magnitude; "PyTorch itself" is the
original model against ONNX Runtime, the floor a faithful import can reach. A model that fails
reports why in its row. Prints a markdown table.

Run: nice .venv/bin/python benchmarks/real_models.py [--models resnet18,bert_base] [--exporters dynamo] [--image 224]
(on a shared machine with OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1: threaded matrix products spin under load)
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from graph_scale import machine

from studio.graph.shapes import analyse
from studio.interop.common import UnsupportedLayersError
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om
from tests.interop import recurrent_models as rm
from tests.interop.real_models import MODELS, checks

TOKENS = 64


@dataclass(frozen=True)
class Case:
    """A model to build at full size, the sample its export traces, and how its file is written."""

    build: Callable[[], torch.nn.Module]
    sample: Callable[[int], torch.Tensor]
    family: str  # "torchvision", "hugging face" or "recurrent"


def hugging_face() -> dict[str, Case]:
    """BERT-base, DistilBERT-base, GPT-2 (124M) and ViT-B/16 from their default configs, returning the last hidden state."""
    try:
        import transformers
    except ImportError:
        return {}
    from tests.interop.test_transformer_models import LastHidden

    def tokens(batch: int) -> torch.Tensor:
        return torch.randint(0, 100, (batch, TOKENS), generator=torch.Generator().manual_seed(0))

    def image(batch: int) -> torch.Tensor:
        return checks.sample((3, 224, 224), batch)

    return {
        "bert_base": Case(lambda: LastHidden(transformers.BertModel(transformers.BertConfig())), tokens, "hugging face"),
        "distilbert_base": Case(lambda: LastHidden(transformers.DistilBertModel(transformers.DistilBertConfig())), tokens, "hugging face"),
        "gpt2": Case(lambda: LastHidden(transformers.GPT2Model(transformers.GPT2Config())), tokens, "hugging face"),
        "hf_vit_base": Case(lambda: LastHidden(transformers.ViTModel(transformers.ViTConfig(), add_pooling_layer=False)), image, "hugging face"),
    }


def cases(image: int) -> dict[str, Case]:
    found = {
        name: Case(entry.full, lambda batch, entry=entry: checks.sample((3, image, image), batch), "torchvision") for name, entry in MODELS.items()
    }
    found.update(hugging_face())
    for name in ("last_step_of_a_bidirectional_gru", "both_directions", "lstm_into_gru"):
        found[name] = Case(rm.TORCH_MODELS[name][0], rm.sample, "recurrent")
    return found


def used_counts(model: torch.nn.Module, x: torch.Tensor, family: str) -> tuple[int, int]:
    """PyTorch's (learnable, learnable + held buffers); for a Hugging Face model only the parameters its forward uses (no pooler)."""
    if family != "hugging face":
        return checks.torch_counts(model)
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    used = sum(p.numel() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return used, used + sum(b.numel() for b in model.buffers() if b.is_floating_point())


def export(model: torch.nn.Module, x: torch.Tensor, path: Path, exporter: str, family: str) -> Path:
    if family != "hugging face":
        return checks.export(model, x, path, exporter)
    from tests.interop.test_transformer_models import export as hf_export

    return hf_export(model, x, path, exporter == "dynamo")


def torch_floor(model: torch.nn.Module, path: Path) -> float:
    """The original PyTorch model against ONNX Runtime on its own file, on the inputs the parity uses."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = om.sample_inputs(session, 3)
    with torch.no_grad():
        got = checks.as_tuple(model(*xs))
    return checks.relative_error(got, checks.run(path, xs))


def measure(name: str, case: Case, exporter: str, folder: Path) -> list[str]:
    """One row: imports, params (ours / PyTorch), the two parities and the floor, import seconds, a note."""
    torch.manual_seed(0)
    x = case.sample(2)
    model = checks.randomized(case.build(), x)
    learned, total = used_counts(model, x, case.family)
    path = export(model, x, folder / f"{name}_{exporter}.onnx", exporter, case.family)
    del x
    start = time.perf_counter()
    try:
        imported = import_onnx(path)
    except UnsupportedLayersError as err:
        return ["no", f"- / {total:,}", "", "", "", f"{time.perf_counter() - start:.1f}", "; ".join(err.found)]
    seconds = time.perf_counter() - start
    summary = analyse(imported.project.graph).summary()
    ours = (summary.trainable_params, summary.total_params)
    fixed = checks.fixed_values(imported)
    held, kept = checks.file_floats(path), checks.imported_floats(imported) - fixed
    notes = []
    if fixed:
        notes.append(f"{fixed:,} fixed values the file computes (masks) held by Constant layers, counted as buffers")
        ours = (ours[0], ours[1] - fixed)
    if ours != (learned, total):
        why = ""
        if exporter == "dynamo":
            why = " (BatchNorm folded by the exporter)" if ours[0] < learned else " (small tables folded into the rows they read by the exporter)"
        notes.append(f"learnable {ours[0]:,} vs {learned:,}{why}")
    whole = held in (kept, kept + fixed)  # the masks are computed in the file, or written into it by dynamo's folding
    notes.append("every weight the file holds" if whole else f"holds {kept:,} of the file's {held:,} weights")
    generated, again = checks.parity(path, imported)
    floor = torch_floor(model, path)
    layers = len(imported.project.graph.nodes)
    notes.append(f"{layers:,} layers")
    mark = "=" if ours == (learned, total) else "≠"
    return ["yes", f"{ours[1]:,} {mark} {total:,}", f"{generated:.1e}", f"{again:.1e}", f"{floor:.1e}", f"{seconds:.1f}", "; ".join(notes)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated names (default: all)")
    parser.add_argument("--exporters", default="torchscript,dynamo")
    parser.add_argument("--image", type=int, default=224, help="image size for torchvision's models (segmentation included)")
    args = parser.parse_args()
    found = cases(args.image)
    names = [n for n in args.models.split(",") if n] or list(found)
    print(f"Machine: {machine()}; torch {torch.__version__}\n")
    print("| model | exporter | imports | params: ours vs PyTorch | parity: generated PyTorch | parity: re-exported ONNX | PyTorch itself | import s | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            for exporter in args.exporters.split(","):
                try:
                    row = measure(name, found[name], exporter, Path(folder))
                except Exception as err:  # noqa: BLE001 -- a model that cannot be built, exported or compared still gets its row
                    row = ["error", "", "", "", "", "", f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"]
                print(f"| {name} | {exporter} | " + " | ".join(cell.replace("|", "/") for cell in row) + " |", flush=True)
                for leftover in Path(folder).iterdir():
                    leftover.unlink()
                gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
