"""What each ONNX tool reads of the export: every example and every catalogue layer, at opsets 13, 17 (the default) and 28.

Each project is exported with random weights (uniform in [-1, 1)) at each opset; OpenVINO (float32)
and onnx2torch then run every file in a child process of their own (`tests/codegen/onnx_tool_runs.py`),
and ONNX Runtime in this one. Printed per tool and opset: how many files it reads, the largest
difference from PyTorch relative to the largest output, and, grouped by the tool's message, what
it refuses. `tests/codegen/test_onnx_tools.py` holds the examples to it; this sweep is the layers'.
Run: .venv/bin/python benchmarks/onnx_tools.py [--opsets 13,17,28] [--examples-only]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.onnx_runtimes import OnnxRunError, run_onnxruntime
from studio.graph.project import Project
from tests.codegen.cases import (
    EXAMPLES,
    VARIANTS,
    example,
    layer_project,
    random_inputs,
    supported,
)
from tests.codegen.onnx_checks import randomized
from tests.codegen.onnx_tool_runs import TOOLS


def projects(examples_only: bool) -> dict[str, Project]:
    """Every example, then every layer type ONNX supports at its defaults and the variants the tests use."""
    found = {f"example-{path.stem}": example(path) for path in EXAMPLES}
    if not examples_only:
        layers = [(t, {}, None) for t in supported("onnx")] + VARIANTS
        for index, (layer_type, params, shapes) in enumerate(layers):
            found[f"{layer_type}-{index}"] = layer_project(layer_type, params, shapes)
    return found


def write(folder: Path, cases: dict[str, Project], opsets: list[int]) -> tuple[dict[str, list[np.ndarray]], dict[str, str]]:
    """Export every case at every opset into `folder`: PyTorch's outputs per file, and the exports refused."""
    expected, refused = {}, {}
    for name, project in cases.items():
        model = randomized(project)
        xs = random_inputs(project.graph, 3)
        with torch.no_grad():
            ys = model(*xs)
        ys = ys if isinstance(ys, tuple) else (ys,)
        for opset in opsets:
            case = f"{name}.{opset}"
            try:
                data = onnx_bytes(project, model, opset=opset)
            except CodegenError as err:
                refused[case] = str(err).splitlines()[0]
                continue
            (folder / f"{case}.onnx").write_bytes(data)
            np.savez(folder / f"{case}.in.npz", **{f"x{i}": x.numpy() for i, x in enumerate(xs)})
            expected[case] = [y.numpy() for y in ys]
    return expected, refused


def difference(got: list[np.ndarray], expected: list[np.ndarray]) -> float:
    return max(float(np.abs(g.astype(np.float64) - e).max()) / max(float(np.abs(e).max()), 1e-12) for g, e in zip(got, expected, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opsets", default="13,17,28")
    parser.add_argument("--examples-only", action="store_true")
    args = parser.parse_args()
    opsets = [int(o) for o in args.opsets.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        expected, refused = write(folder, projects(args.examples_only), opsets)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        children = {
            tool: subprocess.Popen([sys.executable, "-m", "tests.codegen.onnx_tool_runs", tool, tmp], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for tool in TOOLS
        }
        errors: dict[str, dict[str, str | None]] = {"onnxruntime": {}}
        for case in expected:
            stored = np.load(folder / f"{case}.in.npz")
            try:
                outputs = run_onnxruntime(folder / f"{case}.onnx", [stored[f"x{i}"] for i in range(len(stored.files))])
            except OnnxRunError as err:
                errors["onnxruntime"][case] = str(err)
                continue
            np.savez(folder / f"{case}.onnxruntime.npz", **{f"y{i}": y for i, y in enumerate(outputs)})
            errors["onnxruntime"][case] = None
        for tool, child in children.items():
            out, _ = child.communicate()
            errors[tool] = json.loads(out.strip().splitlines()[-1])
        print(f"{len(expected)} files written; {len(refused)} exports refused: " + "; ".join(f"{c}: {r}" for c, r in refused.items()))
        print(f"\n{'tool':12s} {'opset':>5s} {'read':>9s} {'worst relative difference':>26s}  (case)")
        for tool, results in errors.items():
            for opset in opsets:
                mine = {c: e for c, e in results.items() if c.endswith(f".{opset}")}
                worst, where, wrong = 0.0, "", []
                for case, error in mine.items():
                    if error is None:
                        stored = np.load(folder / f"{case}.{tool}.npz")
                        value = difference([stored[f"y{i}"] for i in range(len(stored.files))], expected[case])
                        if value > 1e-4:
                            wrong.append(f"{case} ({value:.1e})")
                        if value >= worst:
                            worst, where = value, case
                read = sum(e is None for e in mine.values())
                print(f"{tool:12s} {opset:5d} {read:4d}/{len(mine):<4d} {worst:26.1e}  ({where})" + (f"  beyond 1e-4: {', '.join(wrong)}" if wrong else ""))
        for tool, results in errors.items():
            by_reason: dict[str, list[str]] = defaultdict(list)
            for case, error in results.items():
                if error is not None:
                    by_reason[error[:160]].append(case)
            for reason, cases in sorted(by_reason.items(), key=lambda item: -len(item[1])):
                print(f"\n{tool} refuses {len(cases)}: {reason}\n    " + ", ".join(sorted(cases)))


if __name__ == "__main__":
    main()
