"""Regenerate the README's screenshots of the editor (offscreen `grab()`): `make screenshots`.

Writes docs/images/editor.png (the digits example), palette_search.png (the palette filtered
while typing), node_error.png (a mistake pinned to its node, with the problems list) and
training.png (a finished run with its curves) and dark_theme.png (the dark theme), then
arranged.png (inception_block after Arrange), blocks_network.png (ResNet-18 as a network of BasicBlock instances) and
block_open.png (a block opened through an instance, with the breadcrumb), live_stats.png (each
card's gradient-norm sparkline and zeros band during a run), layer_table.png (the run's per-layer
table afterwards) and layer_output.png (the feature maps of digits_cnn's conv1 for one sample, after a short run).
`screenshots.py blocks` makes only blocks_network.png and block_open.png, `screenshots.py arranged` arranged.png, `screenshots.py live`
live_stats.png and layer_table.png, `screenshots.py layer_output` layer_output.png (`--hold` keeps
its window open, for a real screen).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HOME = tempfile.mkdtemp(prefix="layer-studio-shots-")
os.environ.setdefault("LAYER_STUDIO_HOME", HOME)  # no saved layout, no recent files
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QSize, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDockWidget

from studio.ui import open_main_window, theme, train_panel
from studio.ui.main_window import MainWindow

OUT = ROOT / "docs" / "images"
DIGITS = ROOT / "assets" / "examples" / "digits_cnn.lstudio"
INCEPTION = ROOT / "assets" / "examples" / "inception_block.lstudio"
RESNET_BLOCKS = ROOT / "assets" / "examples" / "resnet18_blocks.lstudio"
ARRANGED_SELECTED = "mixed"  # the join of the four branches: the inspector lists its inputs
SIZE = QSize(1440, 880)
LAYER_OUTPUT_EPOCHS = 6


def canvas_window(path: Path) -> MainWindow:
    """The editor on `path`, shown at the pictures' size with the bottom docks hidden, settled."""
    window = open_main_window(path)
    window.resize(SIZE)
    for name in ("problems", "history", "train"):
        window.docks[name].hide()
    window.show()
    settle(window)
    return window


def settle(window: MainWindow) -> None:
    """Let layouts, debounced refreshes and paints finish."""
    QTest.qWait(250)
    window.code_preview.refresh_now()
    window.problems.flush()
    window.update_summary()
    QApplication.processEvents()


def editor(selected: str = "conv2") -> MainWindow:
    window = open_main_window(DIGITS)
    window.resize(SIZE)
    window.show()
    settle(window)
    window.canvas.fit_to_view()
    window.document.select([window.document.graph.node_by_name(selected).id])
    settle(window)
    return window


def save(window: MainWindow, name: str) -> None:
    settle(window)
    path = OUT / name
    window.grab().save(str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def blocks() -> None:
    """ResNet-18 of blocks: the network of collapsed instances, then one of them opened."""
    window = canvas_window(RESNET_BLOCKS)
    document, canvas = window.document, window.canvas
    canvas.arrange()
    layer = document.graph.node_by_name("layer2_0").id
    document.select([layer])
    settle(window)
    canvas.fit_to_view()
    save(window, "blocks_network.png")
    document.open_instance(layer)
    canvas.arrange()  # each level is laid out on its own
    settle(window)
    document.select([document.graph.node_by_name("conv1").id])
    window.docks["codePreview"].raise_()
    save(window, "block_open.png")
    window.files.close()
    window.hide()


def arranged() -> None:
    """inception_block after Arrange: layered left to right, its four branches stacked between the fork and the join."""
    window = canvas_window(INCEPTION)
    window.document.select([window.document.graph.node_by_name(ARRANGED_SELECTED).id])
    window.canvas.arrange()  # the whole network, or its start at a readable zoom
    save(window, "arranged.png")
    window.files.close()
    window.hide()


def live_stats() -> None:
    """Mid-run: the cards' live figures beside the curves (live_stats.png); then the run's Layers table (layer_table.png)."""
    window = editor("conv2")
    window.docks["history"].hide()
    dock = window.findChild(QDockWidget, "trainDock")
    dock.show()
    dock.raise_()
    window.resizeDocks([dock], [300], Qt.Orientation.Vertical)
    window.document.set_training("epochs", 40)
    window.training.train()
    deadline = time.monotonic() + 300
    progress = window.training.progress
    while window.training.running and time.monotonic() < deadline:
        if progress.value() >= 0.15 * progress.maximum() > 1:
            break
        QTest.qWait(100)
    window.document.select([])
    QTest.qWait(600)  # a flush of the cards' figures
    save(window, "live_stats.png")
    window.training.ask_replace_weights = lambda _epochs, _weights: True  # no question box in the picture
    window.training.stop()
    while window.training.running and time.monotonic() < deadline:
        QTest.qWait(100)
    window.training.tabs.setCurrentWidget(window.training.layer_stats)
    window.resizeDocks([dock], [420], Qt.Orientation.Vertical)
    save(window, "layer_table.png")
    window.training.shutdown()


def train(window: MainWindow, epochs: int) -> None:
    """Train the open project for `epochs` and keep its weights (the run's end replaces them without a question)."""
    window.document.set_training("epochs", epochs)
    window.training.ask_replace_weights = lambda _epochs, _weights: True
    window.training.train()
    deadline = time.monotonic() + 300
    while window.training.running and time.monotonic() < deadline:
        QTest.qWait(100)
    window.training.shutdown()


def layer_output(hold: bool = False) -> None:
    """The Layer Output panel showing conv1's feature maps for one digit, after a short run."""
    window = open_main_window(DIGITS)
    window.resize(SIZE)
    for name in ("history", "train"):
        window.docks[name].hide()
    window.show()
    settle(window)
    window.canvas.fit_to_view()
    dock = window.docks["layerOutput"]
    dock.raise_()
    window.resizeDocks([dock], [520], Qt.Orientation.Horizontal)
    window.resizeDocks([dock], [620], Qt.Orientation.Vertical)  # all sixteen maps, the inspector above
    train(window, LAYER_OUTPUT_EPOCHS)  # learned filters, not the seeded start
    panel = window.layer_output
    panel.set_sample(5)
    waiting = QEventLoop()  # an event loop lets the panel's thread run; a qWait loop keeps the GIL and starves it
    panel.shown.connect(waiting.quit)
    QTimer.singleShot(120_000, waiting.quit)
    window.document.select([window.document.graph.node_by_name("conv1").id])
    waiting.exec()
    save(window, "layer_output.png")
    if hold:
        QApplication.exec()
    window.files.close()
    window.hide()


def main() -> None:
    from studio.ui.app import application

    application()
    train_panel.default_runs_root = lambda _project: Path(HOME) / "runs"  # no runs left beside the examples, none shown from before
    theme.use_theme(theme.LIGHT)
    OUT.mkdir(parents=True, exist_ok=True)
    if sys.argv[1:] == ["blocks"]:
        blocks()
        return
    if sys.argv[1:] == ["arranged"]:
        arranged()
        return
    if sys.argv[1:] == ["live"]:
        live_stats()
        return
    if sys.argv[1:2] == ["layer_output"]:
        layer_output(hold="--hold" in sys.argv)
        return

    window = editor()
    save(window, "editor.png")

    window.layer_palette.set_filter("conv")
    save(window, "palette_search.png")
    window.layer_palette.set_filter("")

    document = window.document  # the classic mistake: a Linear straight after a pooling layer
    graph = document.graph
    fc1, pool = graph.node_by_name("fc1"), graph.node_by_name("pool")
    document.remove_nodes([graph.node_by_name("flatten").id])
    document.connect(pool.id, "out", fc1.id, "in")
    document.select([])
    window.docks["problems"].raise_()
    save(window, "node_error.png")
    window.files.close()
    window.hide()

    trained = editor()
    trained.docks["problems"].hide()
    trained.docks["history"].hide()
    dock = trained.findChild(QDockWidget, "trainDock")
    dock.show()
    dock.raise_()
    trained.resizeDocks([dock], [330], Qt.Orientation.Vertical)
    trained.document.set_training("epochs", 12)
    trained.training.train()
    deadline = time.monotonic() + 300
    while trained.training.running and time.monotonic() < deadline:
        QTest.qWait(100)
    save(trained, "training.png")
    trained.training.shutdown()
    trained.files.close()
    trained.hide()

    theme.use_theme(theme.DARK)
    dark = editor()
    dark.canvas.apply_theme()
    dark.docks["codePreview"].raise_()
    save(dark, "dark_theme.png")
    dark.files.close()
    theme.use_theme(theme.LIGHT)
    arranged()
    blocks()
    live_stats()
    layer_output()


if __name__ == "__main__":
    main()
