"""How well Arrange draws each example and an imported ResNet-50: wire crossings, wires through cards, the drawing's shape.

Every level (the network, and each block's inner graph, opened through an instance) is arranged
as the editor's Arrange does it, in a canvas view of VIEW pixels, and the wires are read back as
the canvas draws them (each curve flattened to a polyline). Printed per level:
- crossings: pairs of wire segments that cross (ignoring the ends two wires share);
- through: wires that pass over a card other than their own two ends;
- bent: wires of the main chain (the longest path) that are not straight and level;
- aspect: the cards' bounding box, width / height; zoom: the zoom Arrange leaves the view at.
ResNet-50 is tests/interop/real_models' torchvision ResNet-50 (depths 3, 4, 6, 3 at width 8 on a
32 x 32 input, so it exports in a second) written by torch.onnx and imported flat and with blocks.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/layout_quality.py [--view 1100x700] [--only NAME]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import networkx as nx
import numpy as np
from graph_scale import machine
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QApplication

from studio.graph.project import Project, load_project
from studio.ui.canvas.view import CanvasView
from studio.ui.document import Document

EXAMPLES = ROOT / "assets" / "examples"
SHARED_END = 14.0  # scene units around a port two wires share, where they meet rather than cross


def resnet50_projects() -> dict[str, Project]:
    """torchvision's ResNet-50 (full depth, narrow) exported to ONNX and imported flat and with blocks."""
    import torch

    from studio.interop.onnx_import import import_onnx
    from tests.interop.real_models import checks, resnet

    torch.manual_seed(0)
    x = checks.sample((3, 32, 32))
    model = checks.randomized(resnet.resnet50(width=8, classes=10), x)
    folder = Path(tempfile.mkdtemp(prefix="layout-quality-"))
    path = checks.export(model, x, folder / "resnet50.onnx", "torchscript")
    return {"resnet50 (imported, flat)": import_onnx(path, blocks=False).project, "resnet50 (imported, blocks)": import_onnx(path).project}


def polylines(view: CanvasView) -> dict[object, np.ndarray]:
    """Each wire as the canvas draws it, flattened to an (n, 2) array of points."""
    lines = {}
    for edge, item in view.graph_scene.edges.items():
        path = item.path()
        points = [p for polygon in path.toSubpathPolygons() for p in polygon]
        lines[edge] = np.array([(p.x(), p.y()) for p in points], dtype=float)
    return lines


def _segments(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return points[:-1], points[1:]


def crossings(a: np.ndarray, b: np.ndarray, shared: list[np.ndarray]) -> int:
    """Proper crossings of two polylines, leaving out those near an end they share."""
    if len(a) < 2 or len(b) < 2:
        return 0
    if a[:, 0].max() < b[:, 0].min() or b[:, 0].max() < a[:, 0].min() or a[:, 1].max() < b[:, 1].min() or b[:, 1].max() < a[:, 1].min():
        return 0
    p, p2 = _segments(a)
    q, q2 = _segments(b)
    r, s = p2 - p, q2 - q
    denom = r[:, None, 0] * s[None, :, 1] - r[:, None, 1] * s[None, :, 0]
    qp = q[None, :, :] - p[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[None, :, 1] - qp[..., 1] * s[None, :, 0]) / denom
        u = (qp[..., 0] * r[:, None, 1] - qp[..., 1] * r[:, None, 0]) / denom
    hit = (np.abs(denom) > 1e-9) & (t > 0) & (t < 1) & (u > 0) & (u < 1)
    if not hit.any():
        return 0
    i, _ = np.nonzero(hit)
    points = p[i] + t[hit][:, None] * r[i]
    for end in shared:
        points = points[np.hypot(*(points - end).T) > SHARED_END]
    return len(points)


def through_cards(view: CanvasView, edge: object, line: np.ndarray) -> bool:
    """Whether a wire passes over a card other than its own two ends."""
    scene = view.graph_scene
    for node_id, item in scene.nodes.items():
        if node_id in (edge.src, edge.dst):
            continue
        rect = item.sceneBoundingRect().adjusted(12, 4, -12, -4)  # the card, less the ports' reach
        inside = (line[:, 0] > rect.left()) & (line[:, 0] < rect.right()) & (line[:, 1] > rect.top()) & (line[:, 1] < rect.bottom())
        if inside.any():
            return True
    return False


def main_chain(view: CanvasView) -> list[tuple[str, str]]:
    """The edges of the longest path of the level shown."""
    g = nx.DiGraph(view.document.graph.structure())
    if not nx.is_directed_acyclic_graph(g):
        return []
    return list(itertools.pairwise(nx.dag_longest_path(g)))


def measure(view: CanvasView) -> dict[str, float]:
    """The figures of the level the view shows, as Arrange leaves it."""
    view.arrange()
    QApplication.processEvents()
    lines = polylines(view)
    ports = {edge: (line[0], line[-1]) for edge, line in lines.items() if len(line)}
    count = 0
    for (e1, l1), (e2, l2) in itertools.combinations(lines.items(), 2):
        shared = [p for p in (*ports.get(e1, ()),) if any(np.hypot(*(p - o)) < 1.0 for o in ports.get(e2, ()))]
        count += crossings(l1, l2, shared)
    through = sum(through_cards(view, edge, line) for edge, line in lines.items())
    chain = set(main_chain(view))
    bent = sum(1 for edge, line in lines.items() if (edge.src, edge.dst) in chain and np.ptp(line[:, 1]) > 1.0)
    scene = view.graph_scene
    rect = None
    for item in scene.nodes.values():
        rect = item.sceneBoundingRect() if rect is None else rect.united(item.sceneBoundingRect())
    aspect = rect.width() / rect.height() if rect is not None and rect.height() else 0.0
    return {"nodes": len(scene.nodes), "wires": len(lines), "crossings": count, "through": through, "bent": bent, "chain": len(chain), "aspect": aspect, "zoom": view.transform().m11()}


def levels(document: Document) -> list[tuple[str, list[str]]]:
    """The network and each block's graph once, as the instance paths that open it."""
    found: list[tuple[str, list[str]]] = [("", [])]
    seen: set[str] = set()

    def visit(path: list[str]) -> None:
        for node in list(document.graph.nodes.values()):
            if node.block is not None and node.block.name not in seen:
                seen.add(node.block.name)
                found.append((node.block.name, [*path, node.id]))
                document.open_instance(node.id)
                visit([*path, node.id])
                document.go_up()

    visit([])
    return found


def run(name: str, project: Project, size: tuple[int, int]) -> list[tuple[str, dict[str, float]]]:
    stack = QUndoStack()
    document = Document(stack)
    document.load(project)
    view = CanvasView(document)
    view.resize(*size)
    view.show()
    QApplication.processEvents()
    rows = []
    for block, path in levels(document):
        for node_id in path:
            document.open_instance(node_id)
        rows.append((f"{name} / {block}" if block else name, measure(view)))
        if path:
            document.go_up(0)
    view.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--view", default="1100x700", help="the canvas view's size in pixels, WxH")
    parser.add_argument("--only", default="", help="only the examples whose name contains this")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.view.split("x"))
    app = QApplication.instance() or QApplication([])
    projects = {path.stem: load_project(path) for path in sorted(EXAMPLES.glob("*.lstudio"))}
    if not args.only or "resnet50".startswith(args.only) or args.only in "resnet50":
        projects.update(resnet50_projects())
    print(f"machine: {machine()}; canvas view {size[0]} x {size[1]} px")
    print(f"{'level':44} {'nodes':>5} {'wires':>5} {'cross':>5} {'thru':>5} {'bent':>5} {'aspect':>7} {'zoom':>5}")
    totals = {"crossings": 0, "through": 0, "bent": 0}
    for name, project in projects.items():
        if args.only and args.only not in name:
            continue
        for label, m in run(name, project, size):
            print(f"{label:44} {m['nodes']:5d} {m['wires']:5d} {m['crossings']:5d} {m['through']:5d} {m['bent']:3d}/{m['chain']:<3d} {m['aspect']:7.2f} {m['zoom']:5.2f}")
            for key in totals:
                totals[key] += m[key]
    print(f"totals: {totals}")
    app.quit()


if __name__ == "__main__":
    main()
