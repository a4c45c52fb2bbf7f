"""The LiteRT export over every example, catalogue layer and export variant: converts, refused, or fails.

Per case: the outcome, the largest difference of the LiteRT interpreter's output from PyTorch's on
the same weights and inputs (relative to PyTorch's largest magnitude), the conversion time, and the
ratio of LiteRT's latency per run to PyTorch eager's (both on one batch of 1, best of a few, same
process). The tests convert a small share of this; run it after upgrading litert-torch.
Run: .venv/bin/python benchmarks/litert_sweep.py [examples|layers|variants|NAME ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from graph_scale import machine

from studio.codegen.litert import litert_bytes, load_litert, run_litert
from studio.codegen.names import CodegenError
from studio.graph.project import Project
from tests.codegen.cases import (
    EXAMPLES,
    LAYER_TYPES,
    VARIANTS,
    example,
    layer_project,
    random_inputs,
    seeded_model,
)


def best_ms(run, repeats: int = 5) -> float:
    """The fastest of `repeats` calls, in milliseconds (after one warm-up)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def sweep(name: str, project: Project) -> str:
    """One line of the table for `project`."""
    model = seeded_model(project)
    start = time.perf_counter()
    try:
        data = litert_bytes(project, model)
    except CodegenError as err:
        return f"{name:<44} refused   {str(err).splitlines()[-1].strip()[:150]}"
    seconds = time.perf_counter() - start
    xs = random_inputs(project.graph, 1)
    arrays = [x.numpy() for x in xs]
    got = run_litert(data, arrays)
    with torch.no_grad():
        out = model(*xs)
    expected = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
    diff = max(float(np.abs(g.astype(np.float64) - e).max() / max(np.abs(e).max(), 1e-12)) for g, e in zip(got, expected, strict=True))
    with torch.no_grad():
        eager = best_ms(lambda: model(*xs))
    runner = load_litert(data)
    lite = best_ms(lambda: runner(arrays))
    return f"{name:<44} converts  rel {diff:.1e}  {seconds:5.1f} s  {len(data) / 1e6:7.2f} MB  LiteRT/eager {lite / eager:5.2f}"


def cases(which: list[str]) -> list[tuple[str, Project]]:
    """The (name, project) pairs chosen on the command line."""
    everything = not which
    found = []
    if everything or "examples" in which:
        found += [(path.stem, example(path)) for path in EXAMPLES]
    if everything or "layers" in which:
        found += [(t, layer_project(t)) for t in LAYER_TYPES]
    if everything or "variants" in which:
        found += [(f"{t} {params}", layer_project(t, params, shapes)) for t, params, shapes in VARIANTS]
    named = [w for w in which if w not in ("examples", "layers", "variants")]
    found += [(path.stem, example(path)) for path in EXAMPLES if path.stem in named]
    found += [(t, layer_project(t)) for t in LAYER_TYPES if t in named]
    return found


def main() -> int:
    print(f"Machine: {machine()}\n")
    for name, project in cases(sys.argv[1:]):
        try:
            print(sweep(name, project), flush=True)
        except Exception as err:  # noqa: BLE001 - a sweep reports every failure and goes on
            print(f"{name:<44} FAILS     {type(err).__name__}: {str(err).splitlines()[0][:150]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
