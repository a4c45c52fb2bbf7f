"""What bounding constant folding costs an import: a fold-heavy model imported with the bounds and, as the baseline in the same run, without them.

The model is swin_t (from its published definition in `tests/interop/real_models/`) exported by
torch's TorchScript exporter without constant folding, so its window masks, relative-position
indices and reshape targets are thousands of constant nodes the importer folds. With the bounds,
every folded node first gets its result's size (`onnx_fold.result_elements`) and every round of
shape inference a scan of what it would compute by value (`propagated_values`); the baseline
replaces both by nothing. Best of N runs each, alternating which goes first, collected garbage before each.

Run: .venv/bin/python benchmarks/fold_bounds.py [--image 224] [--repeats 3] [--small]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import onnx
import torch
from graph_scale import best, machine

from studio.interop import onnx_graph, onnx_import
from studio.interop.onnx_import import import_onnx
from tests.interop import onnx_models as om
from tests.interop.real_models import MODELS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="the test suite's small swin_t")
    args = parser.parse_args()
    entry = MODELS["swin_t"]
    model = (entry.build(**entry.small) if args.small else entry.full()).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = om.export_torch(model, torch.randn(1, 3, args.image, args.image), Path(folder) / "swin_t.onnx", 17)
        nodes = len(onnx.load(str(path), load_external_data=False).graph.node)
        counted = []
        real = onnx_graph.result_elements

        def counting(*given: object) -> int:
            counted.append(1)
            return real(*given)  # type: ignore[arg-type]

        with mock.patch.object(onnx_graph, "result_elements", counting):
            import_onnx(path)
        bounded: list[float] = []
        unbounded: list[float] = []
        for repeat in range(args.repeats):
            for with_bounds in (True, False) if repeat % 2 else (False, True):  # alternating which goes first
                gc.collect()
                if with_bounds:
                    bounded.append(best(1, lambda: import_onnx(path)))
                    continue
                with mock.patch.object(onnx_graph, "result_elements", lambda *a: 0), mock.patch.object(onnx_import, "propagated_values", lambda *a: 0):
                    unbounded.append(best(1, lambda: import_onnx(path)))
    print(f"Machine: {machine()}")
    print(f"swin_t{' (small)' if args.small else ''} at {args.image}x{args.image}, TorchScript export: {nodes:,} nodes, {len(counted):,} folded nodes bounded")
    print("| measure | time | ratio |")
    print("|---|---|---|")
    print(f"| `import_onnx` without the bounds (baseline) | {min(unbounded):,.0f} ms | 1 |")
    print(f"| `import_onnx` with the bounds | {min(bounded):,.0f} ms | {min(bounded) / min(unbounded):.2f} |")


if __name__ == "__main__":
    main()
