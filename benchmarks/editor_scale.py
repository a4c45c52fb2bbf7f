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

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/editor_scale.py [--sizes 1000 5000] [--repeats 15]
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

from graph_scale import best, build, machine
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from studio.graph.layout import layered_positions
from studio.graph.project import Project, load_project, save_project
from studio.ui.app import application
from studio.ui.main_window import MainWindow

VIEW = QSize(1600, 1000)
GOAL_MS = {"open": 1000.0, "edit": 16.0, "frame": 16.0}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--save", type=Path, help="a folder for PNG files of the frames measured")
    args = parser.parse_args()
    application()
    print(f"machine: {machine()}")
    print(
        f"view: {VIEW.width()}x{VIEW.height()}, Qt platform {QApplication.platformName()}"
    )
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
