"""How fast a transformer-sized ONNX model (about 6,000 nodes, as swin_t) is imported.

The model is a stack of pre-norm transformer encoder layers (d_model 64, 4 heads) written by
Layer Studio's own ONNX export, so each layer is the operators exporters write for attention:
MatMul, Add, Reshape, Transpose, Softmax, LayerNormalization. Measured, best of N runs, against
the baseline measured in the same run, `onnx.load` of the same file: `import_onnx` (read and
vet the file, infer shapes, fold constants, match the attention patterns, map every operator,
build and lay out the graph).
Goal (issue 13): a swin_t-sized import (6,000 nodes) in under 5 s.

Run: .venv/bin/python benchmarks/import_transformer.py [--layers 207] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import onnx
from graph_scale import best, machine

from studio.codegen.export import build_torch_model
from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.pytorch import generate_pytorch
from studio.graph import Graph
from studio.graph.project import Project
from studio.interop.onnx_import import import_onnx

GOAL_MS = 5000.0
WIDTH, TOKENS = 64, 16


def encoder_stack(layers: int) -> Project:
    """Input (16, 64) -> `layers` pre-norm encoder layers -> Output."""
    graph = Graph()
    source = graph.add_node("Input", "tokens", {"shape": (TOKENS, WIDTH)})
    for i in range(layers):
        params = {"nhead": 4, "dim_feedforward": 2 * WIDTH, "dropout": 0.0, "norm_first": True}
        layer = graph.add_node("TransformerEncoderLayer", f"block{i}", params)
        graph.connect(source.id, "out", layer.id, "in")
        source = layer
    graph.connect(source.id, "out", graph.add_node("Output", "encoded").id, "in")
    return Project("encoder stack", graph)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=207, help="encoder layers (29 ONNX nodes each at opset 28)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    project = encoder_stack(args.layers)
    model = build_torch_model(generate_pytorch(project), 0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "encoders.onnx"
        path.write_bytes(onnx_bytes(project, model))
        nodes = len(onnx.load(path).graph.node)
        print(f"Model: {args.layers} encoder layers, {nodes:,} ONNX nodes, {path.stat().st_size / 2**20:.1f} MiB\n")
        baseline = best(args.repeats, lambda: onnx.load(path))
        imported = best(args.repeats, lambda: import_onnx(path))
        layers = len(import_onnx(path).project.graph.nodes)
    print(f"{'measure':<44}{'time':>10}{'ratio':>9}")
    print(f"{'onnx.load (baseline)':<44}{baseline:>8.1f} ms{1:>9}")
    print(f"{'import_onnx: read, map, fold, lay out':<44}{imported:>8.0f} ms{imported / baseline:>9.0f}")
    print(f"\n{layers:,} layers in the imported graph; goal {GOAL_MS / 1000:.0f} s: {'met' if imported < GOAL_MS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
