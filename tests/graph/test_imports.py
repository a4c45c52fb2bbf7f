"""The model never imports Qt, torch, keras or onnx: proven with those imports blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "torch", "keras", "tensorflow", "onnx", "onnxruntime")

SCRIPT = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = set({blocked!r})

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked: studio.graph must not import it")
            return None

    sys.meta_path.insert(0, Blocker())

    import studio.graph
    modules = ["studio.graph"]
    for info in pkgutil.walk_packages(studio.graph.__path__, "studio.graph."):
        importlib.import_module(info.name)
        modules.append(info.name)

    # use the model, so that imports made lazily inside functions are covered too
    from studio.graph import Graph, analyse
    g = Graph()
    a = g.add_node("Input", "x", {{"shape": (3, 4, 4)}})
    b = g.add_node("Flatten")
    c = g.add_node("Linear", params={{"out_features": 2}})
    d = g.add_node("Output")
    for s, t in ((a, b), (b, c), (c, d)):
        g.connect(s.id, "out", t.id, "in")
    analysis = analyse(g)
    assert analysis.is_valid, analysis.diagnostics()
    analysis.summary()
    layout = sys.modules.get("studio.graph.layout")
    if layout is not None and hasattr(layout, "layered_positions"):
        layout.layered_positions(g)

    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    try:
        import torch
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker let torch through: this test would prove nothing")
    print("imported:", " ".join(modules))
    """
)


def run_blocked(blocked: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Run the script in a fresh interpreter with `blocked` packages unimportable."""
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(blocked=blocked)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_studio_graph_imports_without_qt_torch_keras_or_onnx() -> None:
    result = run_blocked(BLOCKED)
    assert result.returncode == 0, result.stderr
    imported = result.stdout.split("imported:")[1].split()
    assert {"studio.graph", "studio.graph.model", "studio.graph.shapes", "studio.graph.catalogue"} <= set(imported)
    graph_dir = ROOT / "studio" / "graph"
    if (graph_dir / "project.py").exists() or (graph_dir / "project").is_dir():
        assert "studio.graph.project" in imported
