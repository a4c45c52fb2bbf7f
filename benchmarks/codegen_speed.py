"""How fast PyTorch source is generated for 100, 1,000 and 10,000-node graphs.

Baseline in the same run: a full shape analysis of the same graph, which generation needs
anyway. Goal of issue 3: 1,000 nodes in under 100 ms of PyTorch source generation.
Run: .venv/bin/python benchmarks/codegen_speed.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_scale import best, build, full_analysis, machine

from studio.codegen.pytorch import generate_pytorch
from studio.graph.project import Project

SIZES = (100, 1_000, 10_000)
GOAL_MS = 100.0


def main() -> int:
    print(f"Machine: {machine()}\n")
    print(f"{'nodes':>7}  {'analysis (ms)':>14}  {'PyTorch source (ms)':>20}  {'ratio':>6}  {'lines':>7}")
    at_goal = None
    for size in SIZES:
        network = build(size)
        project = Project(name=f"scale_{size}", graph=network.graph)
        repeats = 5 if size <= 1_000 else 2
        analysis_ms = best(repeats, lambda graph=network.graph: full_analysis(graph))
        source_ms = best(repeats, lambda project=project: generate_pytorch(project))
        lines = generate_pytorch(project).count("\n")
        print(f"{size:>7,}  {analysis_ms:>14.1f}  {source_ms:>20.1f}  {source_ms / analysis_ms:>6.2f}  {lines:>7,}")
        if size == 1_000:
            at_goal = source_ms
    verdict = "met" if at_goal is not None and at_goal < GOAL_MS else "missed"
    print(f"\nGoal: PyTorch source for 1,000 nodes in < {GOAL_MS:.0f} ms: {verdict} ({at_goal:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
