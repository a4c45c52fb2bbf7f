"""The editor's main window: the canvas in the middle, docks around it, menus, toolbar and status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QKeySequence,
    QShowEvent,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QScrollArea,
    QToolBar,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from studio import APP_NAME
from studio.graph.project import Project
from studio.ui import theme
from studio.ui.block_library import LibraryController
from studio.ui.canvas.block_actions import EXPAND_KEY, OPEN_KEYS
from studio.ui.canvas.breadcrumb import Breadcrumb
from studio.ui.canvas.view import CanvasView
from studio.ui.code_preview import CodePreview
from studio.ui.dock_layout import DockLayout
from studio.ui.document import Document
from studio.ui.files import EXPORT_FORMATS, FileController
from studio.ui.inspector import Inspector
from studio.ui.layer_live import LiveLayerStats
from studio.ui.layer_output import LayerOutputPanel
from studio.ui.palette import PaletteWidget
from studio.ui.problems import ProblemsView
from studio.ui.recovery import settings
from studio.ui.summary import summary_text
from studio.ui.train_panel import TrainingPanel

LAYOUT_VERSION = 3  # bump when the docks change, so an old saved layout is not restored onto new docks
THEMES = {"system": "Follow System", "light": "Light", "dark": "Dark"}


class MainWindow(QMainWindow):
    """One open project; owns its undo stack (a child object) and the document that uses it."""

    def __init__(
        self, project: Project | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.undo_stack = QUndoStack(self)
        self.document = Document(self.undo_stack, project, self)
        self.files = FileController(self, self.document)
        self.canvas = CanvasView(self.document, self)
        self.breadcrumb = Breadcrumb(self.document, self)
        middle = QWidget(self)
        column = QVBoxLayout(middle)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.breadcrumb)
        column.addWidget(self.canvas, 1)
        self.setCentralWidget(middle)
        self.layer_palette = PaletteWidget(self)
        self.layer_palette.set_blocks(self.document.project.blocks)
        self.block_library = LibraryController(self.document, self.layer_palette, self, self.canvas)
        self.inspector = Inspector(self.document, self)
        self.problems = ProblemsView(self.document, self)
        self.code_preview = CodePreview(self.document, self)
        self.layer_output = LayerOutputPanel(self.document, self)
        self.history = QUndoView(self.undo_stack, self)
        self.history.setObjectName("history")
        self.history.setEmptyLabel("<opened>")
        self.history.setMinimumHeight(self.history.fontMetrics().lineSpacing())  # scrolls; the Problems strip may be one line
        self.training = TrainingPanel(self.document, self)
        self.live_stats = LiveLayerStats(self.document, self.canvas.graph_scene, self.problems, self)
        self.training.layer_event.connect(self.live_stats.handle_event)
        self.docks = self._make_docks()
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("summary")
        self.statusBar().addPermanentWidget(self.summary_label)
        self._summary_timer = QTimer(
            self, singleShot=True, interval=0, timeout=self.update_summary
        )
        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self.layer_palette.add_requested.connect(self._add_from_palette)
        self.layer_palette.open_requested.connect(self.document.open_block)
        self.canvas.edit_refused.connect(self._show_refusal)
        self.canvas.library_dropped.connect(self.block_library.add_offer)
        self.canvas.save_to_library_requested.connect(self.block_library.save_block)
        self.block_library.message.connect(self._show_refusal)
        self.document.reset.connect(self.block_library.refresh)
        self.canvas.node_activated.connect(self._show_inspector)
        self.document.selection_changed.connect(self._raise_inspector)
        self.canvas.examples_requested.connect(self.act["example"].trigger)
        self.document.analysed.connect(self._schedule_summary)
        self.document.modified_changed.connect(self.update_title)
        self.document.renamed.connect(self.update_title)
        self.document.reset.connect(self._on_reset)
        self.document.blocks_changed.connect(lambda _names: self.layer_palette.set_blocks(self.document.project.blocks))
        self.files.recent_changed.connect(self._fill_recent_menu)
        self._restore_layout()
        self._on_reset()

    # ----- layout -----
    def _make_docks(self) -> dict[str, QDockWidget]:
        specs = [
            ("palette", "Layers", self.layer_palette),
            ("inspector", "Inspector", self.inspector),
            ("codePreview", "Code", self.code_preview),
            ("layerOutput", "Layer Output", self.layer_output),
            ("problems", "Problems", self.problems),
            ("history", "History", self.history),
            ("train", "Training", _scrolled(self.training, "trainScroll")),
        ]
        docks = {}
        for name, title, widget in specs:
            dock = QDockWidget(title, self)
            dock.setObjectName(f"{name}Dock")
            dock.setWidget(widget)
            docks[name] = dock
        docks["train"].visibilityChanged.connect(self.training.on_dock_visibility)
        self.training.sample_chosen.connect(self.layer_output.set_sample)
        self.dock_layout = DockLayout(self, docks, self.problems)
        self.dock_layout.place()
        return docks

    def _restore_layout(self) -> None:
        store = settings()
        geometry = store.value("window/geometry")
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self.resize(1440, 900)
        state = store.value("window/state")
        self._default_sizes_pending = not (isinstance(state, QByteArray) and self.restoreState(state, LAYOUT_VERSION))

    def reset_layout(self) -> None:
        """View > Reset Layout: the docks back in their default places and sizes."""
        self.dock_layout.reset()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._default_sizes_pending:
            self._default_sizes_pending = False
            self.dock_layout.apply_sizes()
        QTimer.singleShot(0, self.dock_layout.activate)

    def save_layout(self) -> None:
        """Remember the window's size and the docks' places for the next start."""
        store = settings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState(LAYOUT_VERSION))
        store.sync()

    # ----- actions -----
    def _action(
        self, text: str, slot, shortcut=None, tip: str = "", icon: str | None = None
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(
                QKeySequence.keyBindings(shortcut)
                if isinstance(shortcut, QKeySequence.StandardKey)
                else [QKeySequence(shortcut)]
            )
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(
                f"{text.replace('&', '').rstrip('…')} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
                if action.shortcut()
                else tip
            )
        if icon:
            action.setIcon(
                self.style().standardIcon(getattr(self.style().StandardPixmap, icon))
            )
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        key, files, canvas = QKeySequence.StandardKey, self.files, self.canvas
        self.act = {
            "new": self._action(
                "&New",
                files.new_project,
                key.New,
                "Start an empty project",
                "SP_FileIcon",
            ),
            "example": self._action(
                "New from &Example…",
                files.new_from_example,
                "Ctrl+Shift+N",
                "Start from one of the example networks",
            ),
            "open": self._action(
                "&Open…",
                lambda: files.open_file(),
                key.Open,
                "Open a project file",
                "SP_DialogOpenButton",
            ),
            "import": self._action(
                "&Import Model…",
                lambda: files.import_model(),
                "Ctrl+I",
                "Open an ONNX model, a Caffe prototxt, PyTorch code (.py) or a PyTorch program (.pt2) as a new project, with its weights",
            ),
            "import_blocks": self._action(
                "Import &Blocks from Project…",
                lambda: self.block_library.import_from_project(),
                None,
                "Copy the blocks of another project into this one (and list them under Library)",
            ),
            "save": self._action(
                "&Save", files.save, key.Save, "Save the project", "SP_DialogSaveButton"
            ),
            "save_as": self._action(
                "Save &As…",
                files.save_as,
                key.SaveAs,
                "Save the project under a new name",
            ),
            "quit": self._action("&Quit", self.close, key.Quit, "Close Layer Studio"),
            "cut": self._action("Cu&t", self.cut, key.Cut, "Cut the selected layers"),
            "copy": self._action(
                "&Copy", canvas.copy_selection, key.Copy, "Copy the selected layers"
            ),
            "paste": self._action(
                "&Paste",
                canvas.paste,
                key.Paste,
                "Paste layers (also from another project)",
            ),
            "duplicate": self._action(
                "D&uplicate",
                canvas.duplicate_selection,
                "Ctrl+D",
                "Duplicate the selected layers",
            ),
            "delete": self._action(
                "&Delete", canvas.delete_selection, key.Delete, "Delete the selection"
            ),
            "group": self._action(
                "&Group into Block…",
                canvas.group_selection,
                "Ctrl+G",
                "Make the selected layers a block, used here by one instance",
            ),
            "ungroup": self._action(
                "U&ngroup",
                self.ungroup_selection,
                "Ctrl+Shift+G",
                "Put the layers of the selected block instances in their place",
            ),
            "open_block": self._action(
                "&Open Block",
                canvas.open_selected,
                OPEN_KEYS[0],
                "Show the inner layers of the selected block instance (Esc goes back up)",
            ),
            "go_up": self._action(
                "Up One &Level",
                self.document.go_up,
                "Alt+Up",
                "Leave the open block for the level above (Esc on the canvas too)",
            ),
            "expand": self._action(
                "E&xpand or Collapse Block",
                canvas.toggle_expanded,
                EXPAND_KEY,
                "Draw the selected instance with its layers inside its card, or collapse it back",
            ),
            "make_unique": self._action(
                "&Make Unique",
                canvas.make_unique,
                None,
                "Give the selected instance its own copy of its block, to change without changing the others",
            ),
            "save_to_library": self._action(
                "Save Block to &Library",
                self.block_library.save_selected_or_open,
                None,
                "Save the selected instance's block (or the open block) to your block library, for every project",
            ),
            "select_all": self._action(
                "Select &All", canvas.select_all, key.SelectAll, "Select every layer"
            ),
            "zoom_in": self._action(
                "Zoom &In", lambda: canvas.zoom_by(1.25), key.ZoomIn, "Zoom in"
            ),
            "zoom_out": self._action(
                "Zoom &Out", lambda: canvas.zoom_by(0.8), key.ZoomOut, "Zoom out"
            ),
            "fit": self._action(
                "&Fit to View", canvas.fit_to_view, "Ctrl+0", "Show the whole network"
            ),
            "arrange": self._action(
                "&Arrange",
                self.canvas.arrange,
                "Ctrl+L",
                "Lay the network out in layers, left to right",
            ),
            "reset_layout": self._action(
                "&Reset Layout",
                self.reset_layout,
                None,
                "Put every panel back in its place and size",
            ),
            "train": self._action(
                "&Train",
                self.train,
                "F5",
                "Train the network on its dataset",
                "SP_MediaPlay",
            ),
            "stop_training": self._action(
                "&Stop Training",
                self.training.stop,
                "Shift+F5",
                "End the run now",
                "SP_MediaStop",
            ),
        }
        self.act["open_block"].setShortcuts([QKeySequence(k) for k in OPEN_KEYS])
        self.act["stop_training"].setEnabled(False)
        self.training.running_changed.connect(self.act["stop_training"].setEnabled)
        self.training.running_changed.connect(
            lambda running: self.act["train"].setEnabled(not running)
        )
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcuts(QKeySequence.keyBindings(key.Undo))
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts(QKeySequence.keyBindings(key.Redo))
        for action, icon in ((undo, "SP_ArrowBack"), (redo, "SP_ArrowForward")):
            action.setIcon(
                self.style().standardIcon(getattr(self.style().StandardPixmap, icon))
            )
            self.addAction(action)
        self.act["undo"], self.act["redo"] = undo, redo
        self.toolbar_undo = self._short_twin(
            undo,
            "Undo",
            self.undo_stack.canUndoChanged,
            self.undo_stack.undoTextChanged,
        )
        self.toolbar_redo = self._short_twin(
            redo,
            "Redo",
            self.undo_stack.canRedoChanged,
            self.undo_stack.redoTextChanged,
        )

    def _short_twin(
        self, action: QAction, text: str, enabled_changed, text_changed
    ) -> QAction:
        """A toolbar copy of an undo/redo action with a fixed label (the menu's says what it undoes)."""
        twin = QAction(action.icon(), text, self)
        twin.setEnabled(action.isEnabled())
        twin.triggered.connect(action.trigger)
        enabled_changed.connect(twin.setEnabled)
        text_changed.connect(lambda what: twin.setToolTip(f"{text} {what}".strip()))
        return twin

    def _make_menus(self) -> None:
        bar, a = self.menuBar(), self.act
        file_menu = bar.addMenu("&File")
        file_menu.addActions([a["new"], a["example"], a["open"]])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._fill_recent_menu()
        file_menu.addActions([a["import"], a["import_blocks"]])
        file_menu.addSeparator()
        file_menu.addActions([a["save"], a["save_as"]])
        self.export_menu = file_menu.addMenu("&Export")
        for target, (text, _suffix, _filter) in EXPORT_FORMATS.items():
            action = self.export_menu.addAction(text)
            action.setObjectName(f"export_{target}")
            action.triggered.connect(
                lambda _checked=False, t=target: self.files.export(t)
            )
        self.export_menu.addSeparator()
        verify = self.export_menu.addAction("Verify an Export…")
        verify.setObjectName("verify_export")
        verify.setStatusTip("Run an exported file in its runtime and compare it with this project in PyTorch")
        verify.triggered.connect(lambda _checked=False: self.files.verify_export_file())
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])

        edit = bar.addMenu("&Edit")
        edit.addActions([a["undo"], a["redo"]])
        edit.addSeparator()
        edit.addActions([a["cut"], a["copy"], a["paste"], a["duplicate"], a["delete"]])
        edit.addSeparator()
        edit.addActions([a["group"], a["ungroup"], a["open_block"], a["go_up"], a["expand"], a["make_unique"], a["save_to_library"]])
        edit.addSeparator()
        edit.addAction(a["select_all"])

        view = bar.addMenu("&View")
        view.addActions([a["zoom_in"], a["zoom_out"], a["fit"]])
        view.addSeparator()
        view.addAction(a["arrange"])
        view.addSeparator()
        themes = view.addMenu("&Theme")
        group = QActionGroup(self)
        chosen = str(settings().value("theme", "system"))
        for key, text in THEMES.items():
            action = themes.addAction(text)
            action.setCheckable(True)
            action.setChecked(key == chosen)
            action.setObjectName(f"theme_{key}")
            group.addAction(action)
            action.triggered.connect(lambda _checked=False, k=key: self.set_theme(k))
        view.addSeparator()
        panels = view.addMenu("&Panels")
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())
        view.addAction(self.act["reset_layout"])

        run = bar.addMenu("&Run")
        run.addActions([a["train"], a["stop_training"]])

        help_menu = bar.addMenu("&Help")
        help_menu.addAction("&About Layer Studio", self._about)

    def _make_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("mainToolBar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        a = self.act
        bar.addActions([a["new"], a["open"], a["save"]])
        bar.addSeparator()
        bar.addActions([self.toolbar_undo, self.toolbar_redo])
        bar.addSeparator()
        bar.addActions([a["arrange"], a["fit"]])
        export = QMenu(self)
        export.addActions(self.export_menu.actions())
        export_action = QAction("Export", self)
        export_action.setMenu(export)
        export_action.setIcon(
            self.style().standardIcon(self.style().StandardPixmap.SP_DriveFDIcon)
        )
        bar.addAction(export_action)
        bar.widgetForAction(export_action).setPopupMode(
            bar.widgetForAction(export_action).ToolButtonPopupMode.InstantPopup
        )
        bar.addSeparator()
        bar.addAction(a["train"])
        self.addToolBar(bar)

    def _fill_recent_menu(self, *_: object) -> None:
        self.recent_menu.clear()
        recent = self.files.recent_files()
        for index, path in enumerate(recent, 1):
            action = self.recent_menu.addAction(
                f"&{index} {path.name}  —  {path.parent}"
            )
            action.triggered.connect(
                lambda _checked=False, p=path: self.files.open_file(p)
            )
        self.recent_menu.setEnabled(bool(recent))

    # ----- commands -----
    def ungroup_selection(self) -> None:
        """Ungroup every selected block instance."""
        graph = self.document.graph
        instances = [n for n in self.document.selected_ids if graph.node(n).block is not None]
        if not instances:
            self.canvas.show_message("Select a block instance to ungroup")
        for node_id in instances:
            self.canvas.ungroup(node_id)

    def cut(self) -> None:
        """Copy the selected layers, then delete them."""
        if self.document.selected_ids:
            self.canvas.copy_selection()
            self.canvas.delete_selection()

    def set_theme(self, key: str) -> None:
        """Use the light or dark theme, or follow the system's; remembered for the next start."""
        theme.use_theme({"light": theme.LIGHT, "dark": theme.DARK}.get(key))
        store = settings()
        store.setValue("theme", key)
        store.sync()
        self.canvas.apply_theme()
        for widget in (self.layer_palette, self.inspector, self.code_preview):
            refresh = getattr(widget, "apply_theme", None)
            if refresh is not None:
                refresh()

    def train(self) -> None:
        """Show the training panel and start a run."""
        dock = self.docks["train"]
        if dock.visibleRegion().isEmpty():
            dock.show()
            dock.raise_()
        self.training.on_dock_visibility(True)
        self.training.train()

    def _show_refusal(self, message: str) -> None:
        self.statusBar().showMessage(message, 6000)

    def _show_inspector(self, *_: object) -> None:
        self.docks["inspector"].show()
        self.docks["inspector"].raise_()

    def _raise_inspector(self, ids: list[str]) -> None:
        """A selected layer brings the inspector in front of a dock tabbed over it (a closed inspector stays closed)."""
        dock = self.docks["inspector"]
        if ids and not dock.isHidden() and dock.visibleRegion().isEmpty():
            dock.raise_()

    def _add_from_palette(self, layer_type: str) -> None:
        self.canvas.add_layer_beside(layer_type)

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.about(
            self,
            "About Layer Studio",
            "<b>Layer Studio</b><p>Design neural networks visually, check them as you draw, train them and "
            "export PyTorch, Keras, ONNX and Caffe.</p>",
        )

    # ----- state shown -----
    def update_title(self, *_: object) -> None:
        """`<project name> — Layer Studio`, with `*` while there are unsaved changes.

        The title ends with the application's display name, so platforms that append it (Qt's
        xcb and Windows plugins) leave it as it is: the name appears once everywhere.
        """
        name = self.document.project.name.replace("[*]", "[*][*]")  # Qt's escape for a literal [*]
        self.setWindowTitle(f"{name}[*] \u2014 {APP_NAME}")
        self.setWindowModified(self.document.is_modified)

    def _schedule_summary(self, *_: object) -> None:
        self._summary_timer.start()

    def update_summary(self) -> None:
        """The totals in the status bar: parameters, MACs, activation memory, problems."""
        self.summary_label.setText(summary_text(self.document.network_analysis.summary()))

    def _on_reset(self) -> None:
        self.update_title()
        self.update_summary()

    def open_path(self, path: Path | str) -> bool:
        """Open a project file in this window (the current one is kept if it cannot be read)."""
        return self.files.open_file(path)

    def ask_stop_training(self) -> bool:
        """True when the user agrees to stop the training run in progress (replaced in tests)."""
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            self,
            "Training in progress",
            "A training run is in progress. Stop it and close Layer Studio?\n\n"
            "Its last checkpoint stays in the run folder.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.training.running and not self.ask_stop_training():
            event.ignore()
            return
        if not self.files.confirm_discard():
            event.ignore()
            return
        self.training.shutdown()
        self.save_layout()
        self.files.close()
        event.accept()


def _scrolled(widget: QWidget, name: str) -> QScrollArea:
    """`widget` in a frameless scroll area, so its dock can be dragged smaller than the widget's minimum."""
    scroll = QScrollArea()
    scroll.setObjectName(name)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setWidget(widget)
    scroll.setMinimumHeight(scroll.fontMetrics().lineSpacing())
    return scroll
