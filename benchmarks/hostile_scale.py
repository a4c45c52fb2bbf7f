"""How import and `check` grow with the size of what they are given (issue 19, item 10): time and peak memory, each in a child process.

Each case is generated in a temporary folder and run as `layer-studio import` or `layer-studio
check` in a fresh child; its CPU time (user + system), wall time and peak resident memory are
read from `os.wait4`, so nothing of one run stays in the next. Baselines measured in the same
run: a child that only loads the importer's modules (start-up time and memory, subtracted
from each peak: "added"), and the smaller size of each case, so a ratio of about the size
ratio means linear growth.

- chain: Input, N Relu, Output as ONNX (import), and N Identity layers as a project (`check`);
- sum: one ONNX Sum of K Relu branches (the issue's 687 KB file: K = 20,000);
- sparse: a sparse initializer declaring 10^12 elements (refused), and one of 64 MiB dense;
- prototxt: one string of 15 MB in a Caffe net;
- weights: one Gemm of a 128 MiB weight, in the file and in external data.
Bounds (issue 19): import and `check` of a 100,000-node chain <= 10 s; peak memory of any import
<= 4x the model file plus its weights.

Run: .venv/bin/python benchmarks/hostile_scale.py [--chain 10000 100000] [--sum 2000 20000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from studio.graph.model import Graph
from studio.graph.project import Project, save_project


@dataclass
class Run:
    """One child process: what it took."""

    cpu: float  # seconds, user + system
    wall: float
    peak: int  # bytes of resident memory at most
    status: int
    tail: str


LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
tail = done.stderr[-300:].decode("utf-8", "replace").strip().splitlines()
print(json.dumps([usage.ru_utime + usage.ru_stime, time.perf_counter() - start, usage.ru_maxrss * 1024, done.returncode, tail[-1] if tail else ""]))
"""


def child(args: list[str]) -> Run:
    """Run `python ARGS` from the repository root, measured by a small launcher process that waits for it.

    NOTE: a process forked from this one starts with this one's peak memory on Linux (the peak
    survives the exec), so the launcher, small, forks the measured child and reads its usage.
    """
    done = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return Run(*json.loads(done.stdout))


def studio(*args: str | Path) -> Run:
    return child(["-m", "studio", *map(str, args)])


def onnx_chain(n: int, path: Path) -> Path:
    """Input, `n` Relu in a row, Output."""
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"relu{i}") for i in range(n)]
    x = helper.make_tensor_value_info("t0", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info(f"t{n}", TensorProto.FLOAT, ["N", 4])
    onnx.save(helper.make_model(helper.make_graph(nodes, "chain", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def onnx_sum(k: int, path: Path) -> Path:
    """`k` Relu branches of one input, added up by one Sum."""
    nodes = [helper.make_node("Relu", ["x"], [f"a{i}"], name=f"relu{i}") for i in range(k)]
    nodes.append(helper.make_node("Sum", [f"a{i}" for i in range(k)], ["y"], name="total"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    onnx.save(helper.make_model(helper.make_graph(nodes, "sum", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def onnx_sparse(rows: int, width: int, path: Path) -> Path:
    """A sparse initializer of dims (rows, width) holding 1,000 values: the weight of a MatMul (a Linear layer)."""
    count = min(1000, rows * width)
    values = numpy_helper.from_array(np.ones(count, np.float32), "w")
    indices = numpy_helper.from_array(np.arange(count, dtype=np.int64) * max(rows * width // count, 1), "w_index")
    sparse = helper.make_sparse_tensor(values, indices, [rows, width])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", rows])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "sparse", [x], [y], sparse_initializer=[sparse])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def onnx_dense(rows: int, width: int, path: Path, external: bool) -> Path:
    """One Gemm (a Linear layer) whose weight of (rows, width) float32 is the file's bulk: in the file, or in external data beside it."""
    weight = numpy_helper.from_array(np.random.default_rng(0).random((rows, width), np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(rows, np.float32), "b")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", rows])
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], "dense", [x], [y], [weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path, save_as_external_data=external, location=path.name + ".data")
    return path


def prototxt_string(chars: int, path: Path) -> Path:
    """A Caffe net whose one ReLU layer is named by a string of `chars` characters."""
    path.write_text(
        'name: "net"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'
        f'layer {{ name: "{"a" * chars}" type: "ReLU" bottom: "data" top: "r" }}\n'
    )
    return path


def project_chain(n: int, path: Path) -> Path:
    """Input, `n` Identity layers in a row, Output, saved as a project."""
    g = Graph()
    last = g.add_node("Input", "x", {"shape": (4,)}).id
    for i in range(n):
        node = g.add_node("Identity", f"layer_{i}").id
        g.connect(last, "out", node, "in")
        last = node
    g.connect(last, "out", g.add_node("Output", "o").id, "in")
    save_project(Project("chain", g), path)
    return path


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 2**10:,.0f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--sum", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--quick", action="store_true", help="the small sizes only")
    args = parser.parse_args()
    chains, sums = (args.chain[:1], args.sum[:1]) if args.quick else (args.chain, args.sum)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} (CPU time is the figure to read on a shared machine)")
    idle = {
        "import": child(["-c", "import onnx, numpy, studio.interop.onnx_import, studio.interop.caffe_import, studio.cli"]),
        "check": child(["-c", "import studio.cli, studio.cli_check, studio.graph.project, studio.graph.shapes"]),
    }
    for kind, run in idle.items():
        print(f"baseline ({kind}): a child that only loads the modules: {run.cpu:.2f} s CPU, {mib(run.peak)} peak")
    print()
    print("| case | input | file | weights | CPU | wall | peak | added | status |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows: dict[str, list[tuple[int, Run]]] = {}

        def row(case: str, size: int, what: str, path: Path, run: Callable[[Path], Run], weights: int = 0) -> None:
            result = run(path)
            rows.setdefault(case, []).append((size, result))
            added = max(result.peak - idle[case.split()[-1]].peak, 0)
            print(f"| {case} | {what} | {mib(path.stat().st_size)} | {mib(weights) if weights else '-'} | {result.cpu:.2f} s | "
                  f"{result.wall:.2f} s | {mib(result.peak)} | {mib(added)} | {result.status}: {result.tail[:90]} |", flush=True)

        out = folder / "out.lstudio"
        for n in chains:
            row("chain import", n, f"{n:,} Relu", onnx_chain(n, folder / f"chain{n}.onnx"), lambda p: studio("import", p, "-o", out))
        for n in chains:
            row("chain check", n, f"{n:,} Identity", project_chain(n, folder / f"chain{n}.lstudio"), lambda p: studio("check", p))
        for k in sums:
            row("sum import", k, f"Sum of {k:,}", onnx_sum(k, folder / f"sum{k}.onnx"), lambda p: studio("import", p, "-o", out))
        row("sparse import", 0, "10^12 elements declared", onnx_sparse(10**6, 10**6, folder / "huge.onnx"), lambda p: studio("import", p, "-o", out))
        row("sparse import", 1, "64 MiB dense", onnx_sparse(4096, 4096, folder / "mid.onnx"), lambda p: studio("import", p, "-o", out), 2**26)
        row("prototxt import", 0, "one 15 MB string", prototxt_string(15_000_000, folder / "string.prototxt"), lambda p: studio("import", p, "-o", out))
        for external in (False, True):
            what = "Gemm, 128 MiB weight " + ("in external data" if external else "in the file")
            path = onnx_dense(4096, 8192, folder / f"dense{int(external)}.onnx", external)
            row("weights import", 0, what, path, lambda p: studio("import", p, "-o", out), 4096 * 8192 * 4)
    print()
    for size, run in rows["weights import"]:
        print(f"weights import: peak memory above start-up {max(run.peak - idle['import'].peak, 0) / (4096 * 8192 * 4):.1f}x the weights (the bound: 4x the file plus its weights)")
    for case, runs in rows.items():
        if len(runs) > 1 and all(size for size, _ in runs):
            (small, first), (large, last) = runs[0], runs[-1]
            base = idle[case.split()[-1]]
            print(f"{case}: {large / small:.1f}x the size took {(last.cpu - base.cpu) / max(first.cpu - base.cpu, 0.01):.1f}x the CPU time "
                  f"beyond start-up and {max(last.peak - base.peak, 1) / max(first.peak - base.peak, 1):.1f}x the added memory")


if __name__ == "__main__":
    main()
