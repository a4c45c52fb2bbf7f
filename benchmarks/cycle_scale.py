"""How a cycle scales: a ring of N Identity layers against a straight chain of the same size.

For each size it prints the shape analysis of the whole graph, `layer-studio check` run in a
child process (its time, and the bytes it writes to stdout and stderr), and, with `--editor`,
opening the project in the editor offscreen. The ring is one problem: it must cost about what
the chain costs and print one diagnostic, whatever its length (issue 19, item 11).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/cycle_scale.py [--sizes 1000 5000 20000] [--repeats 3] [--editor]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.graph import Graph, analyse
from studio.graph.project import Project, load_project, save_project


def build(size: int, ring: bool) -> Graph:
    """Input, `size` Identity layers in a row (closed into a ring when `ring`), Output."""
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (4,)})
    layers = [g.add_node("Identity", f"layer_{i}") for i in range(size)]
    for a, b in itertools.pairwise(layers):
        g.connect(a.id, "out", b.id, "in")
    g.connect((layers[-1] if ring else x).id, "out", layers[0].id, "in")
    g.connect(layers[-1].id, "out", g.add_node("Output", "o").id, "in")
    return g


def best(fn, repeats: int) -> float:
    """The best wall time of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def check(path: Path) -> tuple[float, int, int]:
    """`layer-studio check` in a child process: seconds, stdout bytes, stderr bytes."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "studio", "check", str(path)], capture_output=True, cwd=ROOT, check=False)
    return time.perf_counter() - start, len(result.stdout), len(result.stderr)


def open_editor(path: Path) -> float:
    """Seconds to load the project and build the editor window with its scene."""
    from PySide6.QtWidgets import QApplication

    from studio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    start = time.perf_counter()
    window = MainWindow(load_project(path))
    app.processEvents()
    seconds = time.perf_counter() - start
    window.close()
    window.deleteLater()
    app.processEvents()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--editor", action="store_true", help="also time opening each project in the editor (offscreen)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print("| nodes | graph | analysis | diagnostics | check | check stdout | check stderr |" + (" editor open |" if args.editor else ""))
    print("|---|---|---|---|---|---|---|" + ("---|" if args.editor else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for ring in (False, True):
                graph = build(size, ring)
                seconds = best(lambda g=graph: analyse(g).diagnostics(), args.repeats)
                count = len(analyse(graph).diagnostics())
                path = Path(tmp) / f"{'ring' if ring else 'chain'}_{size}.lstudio"
                save_project(Project(path.stem, graph), path)
                took, out, err = check(path)
                row = f"| {size:,} | {'ring' if ring else 'chain'} | {seconds * 1e3:.0f} ms | {count} | {took:.2f} s | {out / 1024:.0f} KiB | {err:,} B |"
                if args.editor:
                    row += f" {open_editor(path):.2f} s |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
