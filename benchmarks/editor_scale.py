"""How the editor scales: opening, editing and painting generated projects of 1,000 and 5,000 nodes.

Runs offscreen. For each size it prints:
- open: load the file, lay the graph out and build the window with its scene, against loading
  the file alone (the baseline, measured in the same run);
- edit: one parameter edit that changes shapes (a Linear's width) until the canvas items are
  updated and the dirty region is painted, against the shape analysis of that edit alone;
- frame: painting the view zoomed out to show the whole network (laid out as Arrange does, in
  bands; a network too big for that is shown at the smallest zoom, 5%, the view full of
  nodes drawn at the lowest level of detail), and at 100% zoom, against painting the empty
  canvas of the same size. `--save DIR` writes the frames as PNG files to look at.
Goals (issue 4): 1,000 nodes open in under 1 s; an edit reflects in under 16 ms; a full frame
paints in under 16 ms.

With `--large`, projects of other shapes, saved without positions as a generator writes them:
`inputs` (N unwired Inputs, issue 19's case), `chain` (Input, N-2 Identity layers, Output) and
`blocks` (N/100 separate chains of 100), `residual` (a chain of units of a layer and an Add of its
input and output: a skip wire round every layer) and `wide` (one Input fanned out to 100 chains,
each to its own Output). For each it prints, at each of `--large-sizes`:
- open: load the file, lay it out (it has no positions), build the window and its scene, show and
  paint it once, against loading the file alone; wall and CPU seconds;
- Arrange: the canvas's Arrange as the menu runs it (a worker thread past `ARRANGE_IN_BACKGROUND`
  layers, the moves as one undo step, every wire re-routed), against the layout alone;
and the ratio of each to the smallest size, which is the size ratio when the cost is linear.
Goals (issue 19): 20,000 layers open in <= 5 s and Arrange in <= 10 s.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/editor_scale.py [--sizes 1000 5000] [--repeats 15]
     QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/editor_scale.py --large [--large-sizes 2000 20000] [--shapes inputs chain blocks]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from graph_scale import best, build, machine
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from studio.graph import Graph
from studio.graph.layout import layered_positions
from studio.graph.project import Project, load_project, save_project
from studio.ui.app import application, open_main_window
from studio.ui.canvas.view import READABLE_ZOOM, WRAP_SCREENS
from studio.ui.main_window import MainWindow
from studio.ui.problems import problem_rows

VIEW = QSize(1600, 1000)
GOAL_MS = {"open": 1000.0, "edit": 16.0, "frame": 16.0}
SHAPES = ("inputs", "chain", "blocks", "residual", "wide")


def saved_project(size: int, folder: Path) -> tuple[Path, str]:
    """A generated network of `size` nodes saved without a layout; returns its path and an editable Linear."""
    network = build(size)
    path = folder / f"generated_{size}.lstudio"
    save_project(Project(f"generated_{size}", network.graph), path)
    return path, network.graph.node(network.hidden).name


def open_window(path: Path) -> MainWindow:
    """What opening a project costs: load, lay out, build the window and its scene, show it."""
    project = load_project(path)
    for node_id, position in layered_positions(project.graph, VIEW.width() / 0.8).items():
        project.graph.move(node_id, position)
    window = MainWindow(project)
    window.resize(VIEW)
    window.show()
    QApplication.processEvents()
    return window


def paint_ms(window: MainWindow, repeats: int, save: Path | None = None) -> float:
    """Best time to paint the canvas's whole viewport once into an image (saved when asked)."""
    viewport = window.canvas.viewport()
    image = QImage(viewport.size(), QImage.Format.Format_ARGB32_Premultiplied)

    def frame() -> None:
        viewport.render(image)

    ms = best(repeats, frame)
    if save is not None:
        image.save(str(save))
    return ms


def measure(size: int, repeats: int, folder: Path, save: Path | None) -> dict[str, float]:
    path, hidden_name = saved_project(size, folder)
    load_ms = best(3, lambda: load_project(path))
    opened: list[MainWindow] = []
    open_ms = best(3, lambda: opened.append(open_window(path)))
    for extra in opened[:-1]:
        extra.files.close()
        extra.deleteLater()
    window = opened[-1]
    canvas, document = window.canvas, window.document
    canvas.resize(VIEW)
    hidden = document.graph.node_by_name(hidden_name).id
    widths = iter(range(10_000, 100_000))

    def analysis_only() -> None:
        document.graph.set_param(hidden, "out_features", next(widths))
        document.analysis.refresh()

    def edit() -> None:
        document.set_param(hidden, "out_features", next(widths))
        QApplication.processEvents()

    analysis_ms = best(repeats, analysis_only)
    edit_ms = best(repeats, edit)
    canvas.fit_to_view()
    QApplication.processEvents()
    fitted_ms = paint_ms(window, repeats, save and save / f"frame_{size}_fitted.png")
    canvas.resetTransform()
    canvas.center_on_node(hidden)
    QApplication.processEvents()
    zoomed_ms = paint_ms(window, repeats, save and save / f"frame_{size}_100.png")
    empty = MainWindow(Project("empty"))
    empty.resize(VIEW)
    empty.show()
    empty.canvas.resize(VIEW)
    QApplication.processEvents()
    empty_ms = paint_ms(empty, repeats)
    for w in (window, empty):
        w.files.close()
        w.hide()
        w.deleteLater()
    QApplication.processEvents()
    return {
        "load": load_ms,
        "open": open_ms,
        "analysis": analysis_ms,
        "edit": edit_ms,
        "frame": fitted_ms,
        "frame_100": zoomed_ms,
        "empty": empty_ms,
    }


def shaped(shape: str, size: int) -> Graph:
    """A graph of `size` layers, all at the origin: unwired Inputs, one chain, separate chains of 100, a residual chain, or one Input fanned out."""
    g = Graph()
    if shape == "inputs":
        for i in range(size):
            g.add_node("Input", f"x{i}", {"shape": (4,)})
        return g
    if shape == "residual":  # Input, then units of a layer and an Add of its input and output: a skip wire round every layer
        previous = g.add_node("Input", "x", {"shape": (4,)}).id
        for i in range((size - 2) // 2):
            layer = g.add_node("Identity", f"l{i}").id
            add = g.add_node("Add", f"a{i}").id
            g.connect(previous, "out", layer, "in")
            g.connect(layer, "out", add, "in1")
            g.connect(previous, "out", add, "in2")
            previous = add
        g.connect(previous, "out", g.add_node("Output", "o").id, "in")
        return g
    if shape == "wide":  # one Input feeding 100 chains side by side, each to its own Output
        source = g.add_node("Input", "x", {"shape": (4,)}).id
        for c in range(100):
            _identities(g, source, c, (size - 1) // 100 - 1)
        return g
    length = size if shape == "chain" else 100
    for c in range(max(size // length, 1)):
        _identities(g, g.add_node("Input", f"x{c}", {"shape": (4,)}).id, c, length - 2)
    return g


def _identities(g: Graph, source: str, c: int, count: int) -> None:
    """A chain of `count` Identity layers from `source` to an Output of its own (chain number `c`)."""
    previous = source
    for i in range(count):
        layer = g.add_node("Identity", f"l{c}_{i}").id
        g.connect(previous, "out", layer, "in")
        previous = layer
    g.connect(previous, "out", g.add_node("Output", f"o{c}").id, "in")


def timed(run: Callable[[], object]) -> tuple[float, float, object]:
    """Wall and CPU seconds of one call, and what it returned (the CPU time is what an idle machine's wall time would be)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def measure_large(shape: str, size: int, folder: Path) -> dict[str, float]:
    """Open a project saved without positions, then Arrange it; and the baselines, loading alone and the layout alone."""
    path = folder / f"{shape}_{size}.lstudio"
    save_project(Project(f"{shape}_{size}", shaped(shape, size)), path)
    load_wall, load_cpu, _ = timed(lambda: load_project(path))

    def open_shown() -> MainWindow:
        window = open_main_window(path)  # loads, lays out a file without positions, builds the window and scene
        window.resize(VIEW)
        window.show()
        window.canvas.fit_to_view()
        QApplication.processEvents()  # shown and painted once
        return window

    open_wall, open_cpu, window = timed(open_shown)
    listed = problems_edits(window)
    canvas = window.canvas
    width = max(canvas.viewport().width(), 400) / READABLE_ZOOM
    layout_wall, layout_cpu, _ = timed(lambda: layered_positions(canvas.document.graph, WRAP_SCREENS * width))
    document = canvas.document
    document.move_nodes({n: (x + 130.0, y + 70.0) for n, (x, y) in ((n, node.position) for n, node in document.graph.nodes.items())})
    QApplication.processEvents()  # every card off its place, so Arrange moves each of them
    moved_before = document.undo_stack.count()

    def arranged() -> None:
        canvas.arrange()
        QApplication.processEvents()  # the wires re-routed where the cards now lie

    arrange_wall, arrange_cpu, _ = timed(arranged)
    assert document.undo_stack.count() == moved_before + 1, "Arrange moved nothing"
    window.files.close()
    window.hide()
    window.deleteLater()
    QApplication.processEvents()
    return listed | {
        "load": load_wall, "load_cpu": load_cpu, "open": open_wall, "open_cpu": open_cpu,
        "layout": layout_wall, "layout_cpu": layout_cpu, "arrange": arrange_wall, "arrange_cpu": arrange_cpu,
    }


def problems_edits(window: MainWindow, repeats: int = 7) -> dict[str, float]:
    """CPU ms the Problems list takes to follow an edit (best of `repeats`), and to be made afresh as it was before it updated in place.

    Two edits: an Input's shape set (every shape after it may change, no problem does), and a
    layer with no input added and taken away again by undo and redo (one row comes and goes).
    """
    document, view = window.document, window.problems
    first_input = next(n for n, node in document.graph.nodes.items() if node.type == "Input")
    shapes = iter([(5,), (4,)] * repeats)

    def after(edit: Callable[[], object]) -> float:
        edit()
        cpu = time.process_time()
        view.flush()
        return (time.process_time() - cpu) * 1000

    same = min(after(lambda: document.set_param(first_input, "shape", next(shapes))) for _ in range(repeats))
    document.add_node("Identity", (0.0, -400.0))
    view.flush()
    stack = document.undo_stack
    one = min(after(stack.undo if i % 2 == 0 else stack.redo) for i in range(repeats))
    model = view.model

    def afresh() -> None:  # what every edit cost before: every row made again, the model reset
        rows = problem_rows(document)
        model.beginResetModel()
        model._rows = rows
        model.endResetModel()

    cpu = time.process_time()
    for _ in range(3):
        afresh()
    rebuilt = (time.process_time() - cpu) * 1000 / 3
    return {"problems": float(view.count()), "list_same": same, "list_one": one, "list_afresh": rebuilt}


def large(sizes: list[int], shapes: list[str]) -> None:
    """Print the open and Arrange figures of each shape at each size, with ratios to its baselines and to the smallest size."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LAYER_STUDIO_HOME"] = str(Path(tmp) / "home")  # recent files and autosaves stay out of the user's settings
        for shape in shapes:
            print(f"\n{shape}: saved without positions (seconds: wall / CPU)")
            first: dict[str, float] = {}
            for size in sizes:
                m = measure_large(shape, size, Path(tmp))
                first = first or m
                grow = size / sizes[0]
                print(
                    f"  {size:>7,} open   {m['open']:6.2f} / {m['open_cpu']:6.2f}   load alone {m['load']:5.2f} / {m['load_cpu']:5.2f}"
                    f"   ratio {m['open_cpu'] / m['load_cpu']:4.1f}   x{m['open_cpu'] / first['open_cpu']:5.1f} for x{grow:g} layers"
                )
                print(
                    f"  {size:>7,} Arrange {m['arrange']:5.2f} / {m['arrange_cpu']:6.2f}   layout alone {m['layout']:5.2f} / {m['layout_cpu']:5.2f}"
                    f"   ratio {m['arrange_cpu'] / max(m['layout_cpu'], 1e-6):4.1f}   x{m['arrange_cpu'] / first['arrange_cpu']:5.1f} for x{grow:g} layers"
                )
                print(
                    f"  {size:>7,} Problems list ({m['problems']:,.0f} rows) after an edit, ms of CPU: no problem changed {m['list_same']:6.1f}"
                    f"   one row changed {m['list_one']:6.1f}   made afresh (as before) {m['list_afresh']:6.1f}"
                    f"   ratio {m['list_one'] / max(m['list_afresh'], 1e-6):.2f}"
                )
                if size >= 20_000:
                    for key, goal in (("open", 5.0), ("arrange", 10.0)):
                        verdict = "met" if m[key] <= goal else "met on CPU time" if m[f"{key}_cpu"] <= goal else "NOT met"
                        print(f"  goal {key} <= {goal:.0f} s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--save", type=Path, help="a folder for PNG files of the frames measured")
    parser.add_argument("--large", action="store_true", help="projects of 2,000 and 20,000 layers of several shapes: open and Arrange")
    parser.add_argument("--large-sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    args = parser.parse_args()
    application()
    print(f"machine: {machine()}")
    print(
        f"view: {VIEW.width()}x{VIEW.height()}, Qt platform {QApplication.platformName()}"
    )
    if args.large:
        print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        large(args.large_sizes, args.shapes)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            m = measure(size, args.repeats, Path(tmp), args.save)
            print(f"\n{size:,} nodes (best of {args.repeats}; open best of 3)")
            print(
                f"  open (load + layout + window + scene) {m['open']:9.1f} ms   load alone {m['load']:7.1f} ms   ratio {m['open'] / m['load']:.1f}"
            )
            print(
                f"  edit reflected on the canvas          {m['edit']:9.2f} ms   analysis alone {m['analysis']:5.2f} ms   ratio {m['edit'] / m['analysis']:.1f}"
            )
            print(
                f"  full frame, zoomed out to fit         {m['frame']:9.2f} ms   empty canvas {m['empty']:7.2f} ms   ratio {m['frame'] / m['empty']:.1f}"
            )
            print(
                f"  full frame at 100% zoom               {m['frame_100']:9.2f} ms   ratio to empty {m['frame_100'] / m['empty']:.1f}"
            )
            if size == 1000:
                for key, goal in GOAL_MS.items():
                    verdict = "met" if m[key] < goal else "NOT met"
                    print(f"  goal {key} < {goal:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
