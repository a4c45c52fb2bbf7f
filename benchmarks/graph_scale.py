"""How shape inference scales: full analysis versus one incremental edit, on 1,000 and 10,000 nodes.

Builds a realistic network (residual MLP blocks: Linear, activation, Dropout, Linear, Add; a
chain with auxiliary heads when the catalogue has no Add yet) and prints, per size, the time
of a full analysis, of one edit that changes shapes downstream (the hidden width of a block:
the change stops at the block's second Linear), of one that does not (a Dropout's p), their
ratio to the full analysis, and the time to save and load the project when that exists.
Goal from the design: one edit on a 1,000-node graph re-infers in under 5 ms.

Run: .venv/bin/python benchmarks/graph_scale.py [--sizes 1000 10000] [--repeats 30] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import platform
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networkx

from studio.graph import CATALOGUE, Graph, ShapeAnalysis, analyse

WIDTH = 64
HIDDEN = 128
GOAL_MS = 5.0


@dataclass
class Network:
    """A built graph and the nodes the edits touch."""

    graph: Graph
    kind: str
    hidden: str  # first Linear of the middle block: its width changes shapes downstream
    dropout: str  # Dropout of the middle block: its p changes nothing downstream
    cut: tuple[str, str]  # an edge in the middle, where a node gets inserted


def activation() -> str:
    """The block's activation: ReLU when the catalogue has it, else Identity (same cost class)."""
    return next((t for t in ("ReLU", "GELU", "Tanh") if t in CATALOGUE), "Identity")


def build(size: int) -> Network:
    """A valid network of exactly `size` nodes."""
    g = Graph()
    residual = "Add" in CATALOGUE and CATALOGUE["Add"].variadic
    act = activation()
    per_block = 5.0 if residual else 4.2  # without Add, every 10th block has a 2-node auxiliary head
    blocks = int((size - 3) // per_block)
    x = g.add_node("Input", "x", {"shape": (WIDTH,)}).id
    middle = blocks // 2
    hidden = dropout = ""
    cut = ("", "")
    aux = 0
    for b in range(blocks):
        fc_a = g.add_node("Linear", f"b{b}_fc_a", {"out_features": HIDDEN}).id
        nonlin = g.add_node(act, f"b{b}_act").id
        drop = g.add_node("Dropout", f"b{b}_drop", {"p": 0.1}).id
        fc_b = g.add_node("Linear", f"b{b}_fc_b", {"out_features": WIDTH}).id
        g.connect(x, "out", fc_a, "in")
        g.connect(fc_a, "out", nonlin, "in")
        g.connect(nonlin, "out", drop, "in")
        g.connect(drop, "out", fc_b, "in")
        if residual:
            add = g.add_node("Add", f"b{b}_add").id
            g.connect(x, "out", add, "in1")
            g.connect(fc_b, "out", add, "in2")
            out = add
        else:
            out = fc_b
            if b % 10 == 9 and len(g) + 2 <= size - 2:
                head = g.add_node("Linear", f"aux{aux}_fc", {"out_features": 10}).id
                g.connect(fc_b, "out", head, "in")
                g.connect(head, "out", g.add_node("Output", f"aux{aux}").id, "in")
                aux += 1
        if b == middle:
            hidden, dropout, cut = fc_a, drop, (nonlin, drop)
        x = out
    while len(g) < size - 2:  # pad to the exact size with cheap pass-through layers
        pad = g.add_node("Identity").id
        g.connect(x, "out", pad, "in")
        x = pad
    head = g.add_node("Linear", "head", {"out_features": 10}).id
    g.connect(x, "out", head, "in")
    g.connect(head, "out", g.add_node("Output", "logits").id, "in")
    assert len(g) == size, (len(g), size)
    kind = f"residual MLP ({act}, Dropout, Add)" if residual else f"MLP chain ({act}, Dropout) with aux heads"
    return Network(g, kind, hidden, dropout, cut)


def best(repeats: int, run: Callable[[], Any]) -> float:
    """Best wall time of `repeats` runs, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def full_analysis(graph: Graph) -> ShapeAnalysis:
    analysis = analyse(graph)
    analysis.close()
    return analysis


def timed_edit(repeats: int, analysis: ShapeAnalysis, edit: Callable[[int], None]) -> tuple[float, int]:
    """Best time of one edit (the graph operation and the refresh); each run is a real change."""
    step = iter(range(10**9))
    counts = []

    def run() -> None:
        edit(next(step))
        counts.append(len(analysis.refresh()))

    ms = best(repeats, run)
    return ms, max(counts)


def project_module() -> Any:
    try:
        module = importlib.import_module("studio.graph.project")
    except ImportError:
        return None
    return module if hasattr(module, "save_project") and hasattr(module, "load_project") else None


def save_load(module: Any, graph: Graph, repeats: int) -> tuple[float, float, int]:
    """Best save and load times in ms, and the file size in bytes."""
    project = module.Project(name="bench", graph=graph) if hasattr(module, "Project") else graph
    path = os.path.join(tempfile.mkdtemp(), "bench.lstudio")
    module.save_project(project, path)
    loaded = module.load_project(path)
    assert len(getattr(loaded, "graph", loaded)) == len(graph), "the project did not round-trip"
    save_ms = best(repeats, lambda: module.save_project(project, path))
    load_ms = best(repeats, lambda: module.load_project(path))
    return save_ms, load_ms, os.path.getsize(path)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()} ({platform.python_implementation()}), "
        f"networkx {networkx.__version__}, {platform.system()} {platform.release()}"
    )


def measure(size: int, repeats: int, project: Any) -> dict[str, Any]:
    net = build(size)
    g = net.graph
    full_reps = max(3, repeats // (5 if size <= 2000 else 15))
    full_ms = best(full_reps, lambda: full_analysis(g))
    live = ShapeAnalysis(g)
    live.refresh()
    problems = [d.text for d in live.diagnostics()]
    assert not problems, problems[:3]

    widths = (HIDDEN + 1, HIDDEN)
    shape_ms, shape_n = timed_edit(repeats, live, lambda i: g.set_param(net.hidden, "out_features", widths[i % 2]))
    ps = (0.2, 0.1)
    param_ms, param_n = timed_edit(repeats, live, lambda i: g.set_param(net.dropout, "p", ps[i % 2]))

    src, dst = net.cut

    def insert() -> None:  # a Dropout into the edge src -> dst: the new node sorts last, so the order is rebuilt
        g.disconnect(g.source_of(dst, "in"))
        mid = g.add_node("Dropout", "inserted", node_id="inserted").id
        g.connect(src, "out", mid, "in")
        g.connect(mid, "out", dst, "in")

    def take_out() -> None:
        g.remove_node("inserted")
        g.connect(src, "out", dst, "in")

    structural: dict[str, list[tuple[float, int]]] = {"insert": [], "remove": []}
    for _ in range(max(3, repeats // 3)):
        for key, edit in (("insert", insert), ("remove", take_out)):
            start = time.perf_counter()
            edit()
            count = len(live.refresh())
            structural[key].append(((time.perf_counter() - start) * 1000, count))
    assert live.results() == full_analysis(g).results(), "the live analysis drifted from a fresh one"
    live.close()
    row: dict[str, Any] = {
        "size": size,
        "kind": net.kind,
        "edges": len(g.edges),
        "full": full_ms,
        "shape": (shape_ms, shape_n),
        "param": (param_ms, param_n),
        "insert": min(structural["insert"]),
        "remove": min(structural["remove"]),
        "io": save_load(project, g, max(3, full_reps)) if project else None,
    }
    return row


def table(rows: list[dict[str, Any]], project: Any) -> str:
    lines = [f"Machine: {machine()}", ""]
    for row in rows:
        lines.append(f"{row['size']:,} nodes, {row['edges']:,} edges: {row['kind']}")
    lines.append("")
    head = f"{'measure (best of N)':<44}" + "".join(f"{row['size']:>12,} nodes" for row in rows)
    lines += [head, "-" * len(head)]

    def line(label: str, cells: list[str]) -> None:
        lines.append(f"{label:<44}" + "".join(f"{c:>18}" for c in cells))

    line("full shape analysis (ms)", [f"{r['full']:.2f}" for r in rows])
    for key, label in (
        ("shape", "edit Linear width, shapes change (ms)"),
        ("param", "edit Dropout p, shapes unchanged (ms)"),
        ("insert", "insert a Dropout into an edge, 4 ops (ms)"),
        ("remove", "remove it, reconnect the edge, 2 ops (ms)"),
    ):
        line(label, [f"{r[key][0]:.3f}" for r in rows])
        line("  nodes recomputed", [str(r[key][1]) for r in rows])
        line("  ratio to full analysis", [f"{r[key][0] / r['full']:.5f}" for r in rows])
    if project is None:
        lines.append("save/load: studio.graph.project (save_project/load_project) not available yet")
    else:
        line("save project (ms)", [f"{r['io'][0]:.2f}" if r["io"] else "n/a" for r in rows])
        line("load project (ms)", [f"{r['io'][1]:.2f}" if r["io"] else "n/a" for r in rows])
        line("  file size (KiB)", [f"{r['io'][2] / 1024:.0f}" if r["io"] else "n/a" for r in rows])
    thousand = next((r for r in rows if r["size"] == 1000), None)
    if thousand:
        worst = max(thousand["shape"][0], thousand["param"][0])
        verdict = "met" if worst < GOAL_MS else "MISSED"
        lines += ["", f"Goal: one edit on a 1,000-node graph re-infers in < {GOAL_MS:g} ms: {verdict} (worst {worst:.3f} ms)"]
    return "\n".join(lines)


def profile(size: int) -> None:
    """Print where the time goes: a full analysis, then parameter edits and node insertions."""
    net = build(size)
    g = net.graph
    live = analyse(g)
    src, dst = net.cut
    profiler = cProfile.Profile()
    profiler.enable()
    full_analysis(g)
    for i in range(100):
        g.set_param(net.hidden, "out_features", HIDDEN + (i % 2 == 0))
        live.refresh()
        g.set_param(net.dropout, "p", 0.1 + 0.1 * (i % 2 == 0))
        live.refresh()
        g.disconnect(g.source_of(dst, "in"))
        mid = g.add_node("Dropout", "inserted").id
        g.connect(src, "out", mid, "in")
        g.connect(mid, "out", dst, "in")
        live.refresh()
        g.remove_node(mid)
        g.connect(src, "out", dst, "in")
        live.refresh()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=30, help="repeats per edit measure (best is kept)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the first size")
    args = parser.parse_args()
    project = project_module()
    rows = [measure(size, args.repeats, project) for size in args.sizes]
    print(table(rows, project))
    if args.profile:
        profile(args.sizes[0])


if __name__ == "__main__":
    main()
