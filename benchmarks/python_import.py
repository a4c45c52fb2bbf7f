"""How long opening PyTorch code takes: ResNet-50 and a 12-layer BERT-base-sized model, from their code to a project.

Each model is a `model.py` as a user writes it (ResNet-50 from the definition in
`tests/interop/real_models/`, BERT-base from Hugging Face's default config, random weights, no
download). The import runs as `layer-studio import model.py:NAME --input ...` does, and is timed
in its two parts: the child process (start Python and torch, run the file, build the module, run
it once, capture it with torch.export and write ONNX) and the import of that ONNX file into a
project with blocks. The baseline, measured in this run, is `torch.export.export` of the same
module in this process: the capture that torch itself needs, whatever tool comes after it.

Run: nice .venv/bin/python benchmarks/python_import.py [--models resnet50,bert_base] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch
from graph_scale import machine

from studio.graph.shapes import analyse
from studio.interop.onnx_import import import_onnx

CODE = {
    "resnet50": (
        "ResNet-50 (torchvision's definition)",
        "build",
        ["3x224x224"],
        """
        from tests.interop.real_models import MODELS


        def build():
            return MODELS["resnet50"].full()
        """,
    ),
    "bert_base": (
        "BERT-base (12 layers, 768 wide, 128 tokens)",
        "build",
        ["128:int64"],
        """
        import transformers
        from torch import nn


        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.bert = transformers.BertModel(transformers.BertConfig())

            def forward(self, ids):
                return self.bert(ids).last_hidden_state


        def build():
            return Encoder()
        """,
    ),
}


def baseline_export(path: Path, name: str, shapes: list[str]) -> float:
    """Seconds for torch.export.export of the module in this process (batch dynamic)."""
    from studio.torch_capture import parse_input, random_inputs

    module = runpy.run_path(str(path))[name]().eval()
    inputs = random_inputs([parse_input(text) for text in shapes])
    batch = torch.export.Dim("batch", min=1)
    started = time.perf_counter()
    torch.export.export(module, inputs, dynamic_shapes=tuple({0: batch} for _ in inputs))
    return time.perf_counter() - started


def child_capture(path: Path, name: str, shapes: list[str], out: Path) -> float:
    """Seconds for the capture child process, as the import runs it."""
    command = [sys.executable, "-m", "studio.torch_capture", str(path), name, str(out), *(a for s in shapes for a in ("--input", s))]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=path.parent, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{path}: capture failed: {done.stderr.strip().splitlines()[-1]}")
    return time.perf_counter() - started


def measure(key: str, folder: Path, repeats: int) -> dict[str, object]:
    """Best-of-`repeats` times of the baseline, the child and the ONNX import, with the imported layer count."""
    title, name, shapes, code = CODE[key]
    path = folder / f"{key}.py"
    path.write_text(textwrap.dedent(code))
    out = folder / f"{key}.onnx"
    base = min(baseline_export(path, name, shapes) for _ in range(repeats))
    child = min(child_capture(path, name, shapes, out) for _ in range(repeats))
    imports = []
    for _ in range(repeats):
        started = time.perf_counter()
        model = import_onnx(out)
        imports.append(time.perf_counter() - started)
    summary = analyse(model.project.graph).summary()
    return {
        "model": title,
        "params": summary.trainable_params,
        "blocks": len(model.project.blocks),
        "export": base,
        "child": child,
        "import": min(imports),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(CODE))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}, torch {torch.__version__}\n")
    print("| model | parameters | blocks | torch.export alone (baseline) | capture child | ONNX → project | whole import | whole / baseline |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        for key in args.models.split(","):
            row = measure(key, Path(temporary), args.repeats)
            total = row["child"] + row["import"]
            print(
                f"| {row['model']} | {row['params']:,} | {row['blocks']} | {row['export']:.1f} s | {row['child']:.1f} s | "
                f"{row['import']:.1f} s | {total:.1f} s | {total / row['export']:.1f}× |",
                flush=True,
            )


if __name__ == "__main__":
    main()
