"""The Keras backend matrix in full, with the time each case takes: every example and one-layer case on torch, JAX and TensorFlow against PyTorch.

`tests/codegen/test_keras_backends.py` runs a share of this matrix (its docstring says which and
why); this script runs every case on every installed backend, reports any case outside the
tolerance, and says where the time goes: per backend, the examples' and the one-layer cases'
seconds and their share of the backend's total, and the slowest cases. Every job is queued up front,
so the gap between two answers of a child is the child's time for the second job. Run it after
upgrading Keras, TensorFlow or JAX.
Run: .venv/bin/python benchmarks/keras_matrix.py [examples|layers|NAME ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph_scale import machine

from studio.codegen.keras_backend import load_keras
from studio.codegen.keras_run import KerasRunner, call_model, load_model
from tests.codegen.keras_matrix import (
    BACKENDS,
    LIMIT,
    all_cases,
    case_project,
    child_env,
    installed,
    prepare,
    read_outputs,
    relative_difference,
)

START = "start-up"  # a one-layer job sent first: its answer marks the child's start (Keras and the backend imported)
GRAPH = " (predict)"  # the examples once more on TensorFlow through predict, as the test runs them


class Arrivals(dict):
    """A runner's results that note when each arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[str, float] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.at[key] = time.perf_counter()
        super().__setitem__(key, value)


def chosen(which: list[str]) -> dict[str, Any]:
    """The cases named on the command line (all of them without arguments)."""
    cases = all_cases()
    if not which:
        return cases
    keep = {n for n in cases if ("examples" in which and n.startswith("example-")) or ("layers" in which and not n.startswith("example-")) or n in which or n.removeprefix("example-") in which}
    return {n: s for n, s in cases.items() if n in keep}


def check(name: str, outputs: list[Any], expected: list[Any]) -> str:
    """'' where every run is within LIMIT of PyTorch, else what differs."""
    for run, got in enumerate(outputs):
        rows = [e[:1] for e in expected] if run == 1 else expected
        try:
            difference = relative_difference(got, rows)
        except AssertionError as err:
            return str(err)
        if difference > LIMIT:
            return f"differs from PyTorch by {difference:.1e} relative"
    return ""


def main() -> int:
    print(f"Machine: {machine()}\n")
    here = load_keras().backend.backend()
    children = [b for b in BACKENDS if b != here and installed(b)]
    cases = chosen(sys.argv[1:])
    folder = Path(tempfile.mkdtemp(prefix="keras-matrix-"))
    seconds: dict[str, dict[str, float]] = {b: {} for b in ("export", here, *children, *(["tf predict"] if "tensorflow" in children else []))}
    failures: list[str] = []
    runners = {b: KerasRunner(b, folder, child_env(b)) for b in children}
    for runner in runners.values():
        runner.results = Arrivals()
    try:
        warm = prepare(START, case_project(("ReLU", {}, None)), folder)
        prepared = {}
        for name, spec in cases.items():
            start = time.perf_counter()
            prepared[name] = prepare(name, case_project(spec), folder)
            seconds["export"][name] = time.perf_counter() - start
        queued = time.perf_counter()
        for backend, runner in runners.items():
            runner.submit(warm.job(backend))
            for name, case in prepared.items():
                if not case.error:
                    runner.submit(case.job(backend))
                if not case.error and backend == "tensorflow" and name.startswith("example-"):
                    runner.submit({**case.job(backend), "name": f"{name}{GRAPH}", "inputs": case.inputs[:1], "compiled": True})
        for name, case in prepared.items():
            if case.error:
                failures.append(f"{name}: {case.error}")
                continue
            start = time.perf_counter()
            try:
                model = load_model(case.source, case.weights, here)
                outputs = [call_model(model, _inputs(path)) for path in case.job(here)["inputs"]]
                problem = check(name, outputs, case.expected)
            except Exception as err:  # noqa: BLE001 - a sweep reports every failure and goes on
                problem = f"{type(err).__name__}: {err}"
            seconds[here][name] = time.perf_counter() - start
            if problem:
                failures.append(f"{name} on {here}: {problem}")
        for backend, runner in runners.items():
            results = runner.finish()
            arrivals = results.at if isinstance(results, Arrivals) else {}
            previous = arrivals.get(START, queued)
            print(f"{backend} child: started and ran its first job in {previous - queued:.1f} s")
            for name in sorted((n for n in results if n != START), key=lambda n: arrivals.get(n, 0.0)):
                key, case = ("tf predict", name.removesuffix(GRAPH)) if name.endswith(GRAPH) else (backend, name)
                seconds[key][case] = arrivals.get(name, previous) - previous
                previous = arrivals.get(name, previous)
                result = results[name]
                problem = result["error"] if "error" in result else check(case, [read_outputs(p) for p in result["outputs"]], prepared[case].expected)
                if problem:
                    failures.append(f"{case} on {key}: {problem}")
    finally:
        for runner in runners.values():
            runner.__exit__()
    report(seconds)
    print(f"\n{len(cases)} cases on {', '.join((here, *children))}: " + (f"{len(failures)} outside {LIMIT:.0e}:" if failures else f"every one within {LIMIT:.0e} of PyTorch"))
    for line in failures:
        print(f"  {line}")
    return 1 if failures else 0


def _inputs(path: str) -> list[Any]:
    import numpy as np

    with np.load(path) as stored:
        return [stored[f"in{i}"] for i in range(len(stored.files))]


def report(seconds: dict[str, dict[str, float]]) -> None:
    """Per backend (and the export in this process), the examples' and the one-layer cases' seconds, and the slowest cases."""
    print(f"\n{'where':<12} {'total s':>8} {'examples s':>11} {'share':>6} {'layer cases s':>14} {'per layer case ms':>18}")
    for where, times in seconds.items():
        total = sum(times.values())
        examples = sum(t for n, t in times.items() if n.startswith("example-"))
        layers = [t for n, t in times.items() if not n.startswith("example-")]
        share = examples / total if total else 0.0
        print(f"{where:<12} {total:8.1f} {examples:11.1f} {share:6.0%} {sum(layers):14.1f} {1e3 * sum(layers) / max(len(layers), 1):18.0f}")
    names = sorted({n for times in seconds.values() for n in times}, key=lambda n: -sum(t.get(n, 0.0) for t in seconds.values()))
    print(f"\nslowest cases (s): {'case':<40} " + " ".join(f"{w:>10}" for w in seconds))
    for name in names[:25]:
        print(f"{'':<19}{name:<40} " + " ".join(f"{seconds[w].get(name, 0.0):10.2f}" for w in seconds))


if __name__ == "__main__":
    raise SystemExit(main())
