"""How quickly the Layer Output panel answers a click: `node_output` on every example, cold and warm.

For each example it prints, in one run:
- cold: the first layer's output for sample 0 with nothing cached (the data read, the model built
  and weighted, one forward pass), against the generated model built and run once by hand;
- warm: every other layer of the same sample (module layers come from the pass already made;
  functional ones build a probe model), as the median per layer, against that one forward pass;
- next sample: the first layer again for sample 1 (one new pass), against the same pass.
Goal (issue 16): clicking through the layers of one sample answers in well under 0.1 s.

Run: .venv/bin/python benchmarks/layer_output_speed.py [--examples digits_cnn resnet_small]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch
from studio.graph.project import load_project
from studio.train.node_output import NodeOutputError, clear_cache, node_output

EXAMPLES = ROOT / "assets" / "examples"


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(name: str) -> str:
    """One example's row of the table."""
    path = EXAMPLES / f"{name}.lstudio"
    project = load_project(path)
    node = next(n for n in project.graph.nodes.values() if n.type == "Input")
    x = torch.zeros((1, *node.params["shape"]), dtype=torch.int64 if node.params["dtype"] == "int64" else torch.float32)
    start = time.perf_counter()
    model = build_torch_model(generate_pytorch(project), 0)
    with torch.no_grad():
        model(x)
        baseline = time.perf_counter() - start
        one_pass = min(_timed(lambda: model(x)) for _ in range(3))
    clear_cache()
    ids = list(project.graph.nodes)
    cold = _timed(lambda: node_output(project, path, ids[1], 0))
    warm = []
    for node_id in ids[2:]:
        try:
            warm.append(_timed(lambda node_id=node_id: node_output(project, path, node_id, 0)))
        except NodeOutputError:
            pass
    following = _timed(lambda: node_output(project, path, ids[1], 1))
    median = statistics.median(warm) if warm else 0.0
    return (
        f"{name:24} {cold:8.2f} {cold / baseline:13.1f} {median * 1e3:8.1f} {median / one_pass:7.1f} "
        f"{following * 1e3:8.1f} {following / one_pass:7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="*", default=[p.stem for p in sorted(EXAMPLES.glob("*.lstudio")) if p.stem != "resnet18_blocks"])
    args = parser.parse_args()
    print(f"{'example':24} {'cold s':>8} {'x build+pass':>13} {'warm ms':>8} {'x pass':>7} {'next ms':>8} {'x pass':>7}")
    for name in args.examples:
        print(measure(name), flush=True)


if __name__ == "__main__":
    main()
