"""Inference latency per example and runtime: PyTorch eager (the baseline), ONNX Runtime, OpenVINO and LiteRT.

Every example is exported once per format from its seeded weights, then each file runs in its
runtime through `layer-studio verify`'s machinery (a child process per runtime, the same batch of
the project's data or random input for all, warm-up runs first, the median of five timed runs).
PyTorch eager runs the project in the parent on the same batch; the table prints each runtime's
latency per sample and its ratio to PyTorch's (below 1 is faster), and the largest relative
difference from PyTorch's outputs. A runtime that cannot take an example says why in the notes.

Run: nice .venv/bin/python benchmarks/deploy_latency.py [--examples lenet5,mlp] [--samples 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from graph_scale import machine

from studio.codegen.export import TARGETS, export_project
from studio.codegen.names import CodegenError
from studio.graph.project import load_project
from studio.verify.check import VerifyError, verify_export

EXAMPLES = ROOT / "assets" / "examples"
RUNS = [("onnx", ".onnx", "onnxruntime"), ("onnx", ".onnx", "openvino"), ("litert", ".tflite", "litert")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", help="comma-separated example names (default: all)")
    parser.add_argument("--samples", type=int, default=8, help="the batch every runtime runs (default 8)")
    args = parser.parse_args()
    names = args.examples.split(",") if args.examples else sorted(p.stem for p in EXAMPLES.glob("*.lstudio"))
    print(f"machine: {machine()}; batch {args.samples}; latency per sample, ratio to PyTorch eager, largest relative difference")
    header = ["example", "PyTorch eager", *(f"{runtime}" for _, _, runtime in RUNS)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    notes = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            path = EXAMPLES / f"{name}.lstudio"
            project = load_project(path)
            measured: list[tuple[float, float] | None] = []
            eager = float("inf")
            for target, suffix, runtime in RUNS:
                out = Path(folder) / f"{name}_{target}{suffix}"
                try:
                    if not out.exists():
                        if target not in TARGETS:
                            raise CodegenError(f"no {target} target in this version")
                        options = {"batch": args.samples} if target == "litert" else {}
                        export_project(project, target, out, project_path=path, **options)
                    result = verify_export(out, project, path, runtime=runtime, samples=args.samples)
                except (CodegenError, VerifyError) as err:
                    measured.append(None)
                    notes.append(f"{name} / {runtime}: {str(err).splitlines()[0]}")
                    continue
                eager = min(eager, result.reference_seconds_per_sample)  # PyTorch is timed beside each runtime: its best
                measured.append((result.seconds_per_sample, result.max_rel))
            cells = ["—" if m is None else f"{_ms(m[0])} ({m[0] / eager:.2f}×, {m[1]:.1e})" for m in measured]
            print(f"| {name} | {_ms(eager) if eager < float('inf') else '—'} | " + " | ".join(cells) + " |", flush=True)
    for note in notes:
        print(f"- {note}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


if __name__ == "__main__":
    main()
