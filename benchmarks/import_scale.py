"""How fast a ~1,000-node ONNX model is imported and opened in the editor (offscreen).

The model is generated with onnx.helper: a deep residual CNN (Conv, BatchNormalization, Relu,
Conv, BatchNormalization, Add, Relu per block) of about 1,000 nodes with random weights.
Measured, best of N runs, each against the baseline measured in the same run, `onnx.load`
of the same file (parsing the protobuf alone):
- import: `import_onnx` (read and vet the file, infer shapes, fold constants, map every
  operator, build the graph, lay it out, key the weights by the generated model's names);
- editor: File > Import… in an open, shown main window (the import, then the document, the
  canvas scene and the panels rebuilt, and the events processed until the window has painted).
Goal (issue 6): a ~1,000-node import opens in the editor in under 2 s.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/import_scale.py [--blocks 142] [--repeats 3]
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

import numpy as np
import onnx
from graph_scale import best, machine
from onnx import TensorProto, helper, numpy_helper
from PySide6.QtWidgets import QApplication

from studio.graph.project import Project
from studio.interop.onnx_import import import_onnx
from studio.ui.app import application
from studio.ui.main_window import MainWindow

GOAL_MS = 2000.0
CHANNELS, SIZE = 16, 8


def residual_cnn(blocks: int) -> onnx.ModelProto:
    """A residual CNN of 7 * blocks + 5 nodes with a dynamic batch."""
    rng = np.random.default_rng(0)
    nodes, weights = [], []

    def add(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def conv(x: str, name: str) -> str:
        w = add(
            f"{name}.weight", rng.standard_normal((CHANNELS, CHANNELS, 3, 3)) * 0.05
        )
        nodes.append(
            helper.make_node(
                "Conv", [x, w], [f"{name}_out"], name=name, pads=[1, 1, 1, 1]
            )
        )
        return f"{name}_out"

    def norm(x: str, name: str) -> str:
        params = [
            add(f"{name}.{k}", v)
            for k, v in (
                ("weight", 1 + 0.1 * rng.standard_normal(CHANNELS)),
                ("bias", 0.1 * rng.standard_normal(CHANNELS)),
                ("running_mean", 0.1 * rng.standard_normal(CHANNELS)),
                ("running_var", 0.5 + rng.random(CHANNELS)),
            )
        ]
        nodes.append(
            helper.make_node(
                "BatchNormalization", [x, *params], [f"{name}_out"], name=name
            )
        )
        return f"{name}_out"

    def relu(x: str, name: str) -> str:
        nodes.append(helper.make_node("Relu", [x], [f"{name}_out"], name=name))
        return f"{name}_out"

    x = relu(conv("image", "stem"), "stem_relu")
    for i in range(blocks):
        y = norm(conv(x, f"block{i}.conv1"), f"block{i}.bn1")
        y = norm(conv(relu(y, f"block{i}.relu1"), f"block{i}.conv2"), f"block{i}.bn2")
        nodes.append(
            helper.make_node("Add", [y, x], [f"block{i}_sum"], name=f"block{i}.add")
        )
        x = relu(f"block{i}_sum", f"block{i}.relu2")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten"))
    fc = add("fc.weight", rng.standard_normal((10, CHANNELS)) * 0.1)
    nodes.append(
        helper.make_node("Gemm", ["features", fc], ["scores"], name="fc", transB=1)
    )
    graph = helper.make_graph(
        nodes,
        "residual_cnn",
        [
            helper.make_tensor_value_info(
                "image", TensorProto.FLOAT, ["N", CHANNELS, SIZE, SIZE]
            )
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])],
        weights,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="import_scale"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--blocks", type=int, default=142, help="residual blocks (7 nodes each)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    application()
    print(f"Machine: {machine()}, Qt platform {QApplication.platformName()}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "residual_cnn.onnx"
        onnx.save(residual_cnn(args.blocks), str(path))
        nodes = len(onnx.load(str(path)).graph.node)
        print(f"Model: {nodes:,} ONNX nodes, {path.stat().st_size / 2**20:.1f} MiB\n")
        load_ms = best(args.repeats, lambda: onnx.load(str(path)))
        imported = import_onnx(path)
        import_ms = best(args.repeats, lambda: import_onnx(path))
        window = MainWindow(Project("empty"))
        window.resize(1600, 1000)
        window.files.show_notes = lambda *_: None
        window.show()
        QApplication.processEvents()

        def open_in_editor() -> None:
            window.files.pending_weights = None
            window.document.undo_stack.setClean()  # nothing to save: the previous import is dropped
            assert window.files.import_model(path)
            QApplication.processEvents()

        editor_ms = best(args.repeats, open_in_editor)
        layers = len(window.document.graph)
        window.files.close()
        window.hide()
    rows = [
        ("onnx.load (baseline)", load_ms),
        ("import_onnx: read, map, lay out", import_ms),
        ("File > Import… in the editor, until painted", editor_ms),
    ]
    print(
        f"{'measure (best of ' + str(args.repeats) + ')':<48} {'ms':>9} {'x baseline':>11}"
    )
    for label, ms in rows:
        print(f"{label:<48} {ms:>9.1f} {ms / load_ms:>11.1f}")
    print(f"\nImported graph: {layers:,} nodes, {len(imported.state):,} weight tensors")
    verdict = "met" if editor_ms < GOAL_MS else "missed"
    print(
        f"Goal: a ~1,000-node import opens in the editor in < {GOAL_MS / 1000:.0f} s: {verdict} ({editor_ms / 1000:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
