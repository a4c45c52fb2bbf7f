"""How networks of blocks scale: opening 1,000 instances, and editing a block that 100 instances use.

Runs offscreen. The network is a chain of instances of one residual block (Linear, ReLU,
Linear, Add), saved without a layout. It prints:
- open: load the file, lay the graph out and build the window with its scene, against the same
  for the flattened network (every instance replaced by its four layers), in the same run;
- analyse: the full shape analysis of the network of blocks (nothing cached: identical instances
  share one inner analysis), against that of the flattened one;
- edit: one edit of the block's definition in the editor, the block open (its hidden width, which
  changes no instance's output shape), until every instance is analysed again and the canvas
  redrawn, against the analysis of
  that edit alone; and against making the same change in the flattened network, one Linear per
  instance, in one analysis.
Goal (issue 14): a block edit reflects on the canvas in interactive time (well under 100 ms at
100 instances).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/blocks_scale.py [--instances 100 1000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from editor_scale import VIEW, open_window
from graph_scale import best, machine
from PySide6.QtWidgets import QApplication

from studio.graph.blocks import Block, BlockLibrary
from studio.graph.flatten import flatten
from studio.graph.model import Graph
from studio.graph.project import Project, save_project
from studio.graph.shapes import analyse
from studio.ui.app import application

WIDTH = 64


def residual(library: BlockLibrary) -> Block:
    """A residual MLP block: x + Linear(ReLU(Linear(x)))."""
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (WIDTH,)}).id
    up = g.add_node("Linear", "up", {"out_features": 2 * WIDTH}).id
    act = g.add_node("ReLU", "act").id
    down = g.add_node("Linear", "down", {"out_features": WIDTH}).id
    add = g.add_node("Add", "add").id
    y = g.add_node("Output", "y").id
    for src, dst, port in ((x, up, "in"), (up, act, "in"), (act, down, "in"), (down, add, "in1"), (x, add, "in2"), (add, y, "in")):
        g.connect(src, "out", dst, port)
    return library.define("Residual", g)


def network(instances: int) -> Project:
    """Input, `instances` Residual instances in a chain, Output."""
    library = BlockLibrary()
    residual(library)
    g = Graph(library=library)
    src = g.add_node("Input", "input", {"shape": (WIDTH,)}).id
    for i in range(instances):
        node = g.add_node("Residual", f"r{i}")
        g.connect(src, "out", node.id, "in")
        src = node.id
    g.connect(src, "out", g.add_node("Output", "output").id, "in")
    return Project(f"blocks_{instances}", g)


def measure(instances: int, repeats: int, folder: Path) -> dict[str, float]:
    project = network(instances)
    flat = Project(f"flat_{instances}", flatten(project.graph))
    paths = {}
    for name, each in (("blocks", project), ("flat", flat)):
        paths[name] = folder / f"{each.name}.lstudio"
        save_project(each, paths[name])
    found: dict[str, float] = {}
    for name, path in paths.items():
        windows = []
        found[f"open_{name}"] = best(3, lambda path=path, windows=windows: windows.append(open_window(path)))
        for window in windows:
            window.files.close()
            window.deleteLater()
        QApplication.processEvents()
    def analyse_cold() -> None:
        project.blocks.changed("Residual")  # a new definition version: nothing cached
        analyse(project.graph).close()

    found["analyse_blocks"] = best(repeats, analyse_cold)
    found["analyse_flat"] = best(repeats, lambda: analyse(flat.graph).close())
    window = open_window(paths["blocks"])
    document = window.document
    block = document.project.blocks.get("Residual")
    up = next(n.id for n in block.graph.nodes.values() if n.name == "up")
    widths = iter(range(200, 100_000))

    document.open_block("Residual")  # as a user edits a block: opened, the edit undoable, every instance re-analysed

    def analysis_only() -> None:
        block.graph.set_param(up, "out_features", next(widths))
        document.network_analysis.refresh()

    def edit() -> None:
        document.set_param(up, "out_features", next(widths))
        QApplication.processEvents()

    found["edit_analysis"] = best(repeats, analysis_only)
    found["edit"] = best(repeats, edit)
    flat_analysis = analyse(flat.graph)
    ups = [n.id for n in flat.graph.nodes.values() if n.name.endswith(".up")]

    def flat_edit() -> None:
        width = next(widths)
        for node_id in ups:
            flat.graph.set_param(node_id, "out_features", width)
        flat_analysis.refresh()

    found["edit_flat"] = best(repeats, flat_edit)
    window.files.close()
    window.deleteLater()
    QApplication.processEvents()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    application()
    print(f"machine: {machine()}")
    print(f"view: {VIEW.width()}x{VIEW.height()}, Qt platform {QApplication.platformName()}")
    with tempfile.TemporaryDirectory() as folder:
        for instances in args.instances:
            f = measure(instances, args.repeats, Path(folder))
            print(f"\n{instances} instances ({4 * instances + 2} layers flattened)")
            print(f"  open: {f['open_blocks']:.0f} ms; flattened {f['open_flat']:.0f} ms (ratio {f['open_blocks'] / f['open_flat']:.2f})")
            print(f"  analyse: {f['analyse_blocks']:.1f} ms; flattened {f['analyse_flat']:.1f} ms (ratio {f['analyse_blocks'] / f['analyse_flat']:.2f})")
            print(
                f"  edit the block: {f['edit']:.1f} ms to the canvas, {f['edit_analysis']:.1f} ms analysis alone;"
                f" the same change in the flattened network {f['edit_flat']:.1f} ms (ratio {f['edit'] / f['edit_flat']:.2f})"
            )


if __name__ == "__main__":
    main()
