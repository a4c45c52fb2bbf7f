"""The editor's dock layout: where each dock goes by default, how tall the bottom tabs are, Reset Layout.

The canvas keeps most of the window. The palette sits left of it, the inspector over the code
preview (tabbed with the layer output) right of it; Problems, History and Training share one tabbed dock under all three, the
whole width of the window, which the training panel's curves need. Problems is a one-line strip while there are none and grows when some appear;
Training gets a share of the window when it comes into view; each bottom tab otherwise gets back
the height it had when the user last left it.
"""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QTabBar

from studio.ui.problems import ProblemsView

Area = Qt.DockWidgetArea
LEFT, RIGHT, BOTTOM = ("palette",), ("inspector", "codePreview", "layerOutput"), ("problems", "history", "train")
PALETTE_WIDTH = 230
RIGHT_WIDTH = 380
INSPECTOR_SHARE = 0.58  # of the right column; the code preview below it has the rest
TRAINING_SHARE = 0.28  # of the window's height, when the Training tab comes into view
HISTORY_SHARE = 0.2
PROBLEMS_SHARE = 0.3  # the most of the window's height the Problems list grows to by itself


class DockLayout(QObject):
    """Places the docks of `window` (named as in `BOTTOM`, `LEFT`, `RIGHT`) and sizes the bottom tabs as they switch."""

    def __init__(self, window: QMainWindow, docks: dict[str, QDockWidget], problems: ProblemsView) -> None:
        super().__init__(window)
        self.window = window
        self.docks = docks
        self.problems = problems
        self._active = False  # sizing follows the tabs only once the window is shown and laid out
        self._current: str | None = None  # the bottom tab in view
        self._heights: dict[str, int] = {}  # the height each bottom tab had when the user left it
        self._problem_rows = problems.count()
        for name in BOTTOM:
            docks[name].visibilityChanged.connect(lambda shown, n=name: self._on_visibility(n, shown))
        problems.counts_changed.connect(self._on_problems_counted)

    # ----- the default -----
    def place(self) -> None:
        """Put every dock in its default place, docked and shown, Inspector and Problems in front."""
        window, docks = self.window, self.docks
        window.setCorner(Qt.Corner.TopRightCorner, Area.RightDockWidgetArea)
        window.setCorner(Qt.Corner.BottomRightCorner, Area.BottomDockWidgetArea)
        window.setCorner(Qt.Corner.TopLeftCorner, Area.LeftDockWidgetArea)
        window.setCorner(Qt.Corner.BottomLeftCorner, Area.BottomDockWidgetArea)
        for name in LEFT:
            window.addDockWidget(Area.LeftDockWidgetArea, docks[name])
        window.addDockWidget(Area.RightDockWidgetArea, docks["inspector"])
        window.splitDockWidget(docks["inspector"], docks["codePreview"], Qt.Orientation.Vertical)
        for before, after in pairwise(RIGHT[1:]):  # the views of the network's code and outputs share the lower dock
            window.tabifyDockWidget(docks[before], docks[after])
        window.addDockWidget(Area.BottomDockWidgetArea, docks[BOTTOM[0]])
        for before, after in pairwise(BOTTOM):
            window.tabifyDockWidget(docks[before], docks[after])
        for dock in docks.values():
            dock.show()
        docks["codePreview"].raise_()
        docks["problems"].raise_()
        self._current = "problems"

    def apply_sizes(self) -> None:
        """Give the docks their default sizes for the window's present size."""
        window, docks = self.window, self.docks
        window.resizeDocks([docks["palette"], docks["inspector"]], [PALETTE_WIDTH, RIGHT_WIDTH], Qt.Orientation.Horizontal)
        column = max(docks["inspector"].height() + docks["codePreview"].height(), window.height() - 100)
        inspector = round(column * INSPECTOR_SHARE)
        window.resizeDocks([docks["inspector"], docks["codePreview"]], [inspector, column - inspector], Qt.Orientation.Vertical)
        front = self._front() or "problems"
        window.resizeDocks([docks[front]], [self.height_for(front)], Qt.Orientation.Vertical)

    def reset(self) -> None:
        """View > Reset Layout: every dock back in its default place and size."""
        self._active = False
        for dock in self.docks.values():
            dock.setFloating(False)
            self.window.removeDockWidget(dock)
        self.place()
        self._heights.clear()
        self.apply_sizes()
        QTimer.singleShot(0, self.activate)

    def activate(self) -> None:
        """Start following the bottom tabs (once the window is shown and its docks are laid out)."""
        self._current = self._front()
        self._active = True

    # ----- heights of the bottom tabs -----
    def height_for(self, name: str) -> int:
        """The height the bottom dock `name` gets when it comes into view, its tab bar included."""
        dock, whole = self.docks[name], self.window.height()
        content = dock.widget()
        inner = content.widget() if isinstance(content, QScrollArea) else content  # scrolled only when dragged smaller
        chrome = dock.minimumSizeHint().height() - content.minimumSizeHint().height() + self._tab_bar_height(dock)
        smallest = chrome + inner.minimumSizeHint().height()
        if name == "problems":
            return max(smallest, min(chrome + self.problems.preferred_height(), round(whole * PROBLEMS_SHARE)))
        if name in self._heights:
            return max(smallest, self._heights[name])
        share = TRAINING_SHARE if name == "train" else HISTORY_SHARE
        return max(smallest, round(whole * share))

    def _tab_bar_height(self, dock: QDockWidget) -> int:
        """The height of the tab bar under `dock` when it is tabbed with others (Qt counts it in the docks' size)."""
        title = dock.windowTitle()
        for bar in self.window.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if any(bar.tabText(i) == title for i in range(bar.count())):
                return bar.sizeHint().height()
        return 0

    def _front(self) -> str | None:
        """The bottom dock whose tab is in view (None when none is docked at the bottom and shown)."""
        for name in BOTTOM:
            dock = self.docks[name]
            if self._at_bottom(dock) and not dock.visibleRegion().isEmpty():
                return name
        return None

    def _at_bottom(self, dock: QDockWidget) -> bool:
        return not dock.isFloating() and not dock.isHidden() and self.window.dockWidgetArea(dock) == Area.BottomDockWidgetArea

    def _on_visibility(self, name: str, shown: bool) -> None:
        if not shown or not self._active or not self._at_bottom(self.docks[name]) or name == self._current:
            return
        previous = self._current
        if previous is not None and self._at_bottom(self.docks[previous]):
            self._heights[previous] = self.docks[previous].height() + self._tab_bar_height(self.docks[previous])
        self._current = name
        self._resize(name)

    def _on_problems_counted(self, errors: int, warnings: int) -> None:
        rows, before = errors + warnings, self._problem_rows
        self._problem_rows = rows
        if not self._active or self._current != "problems" or not self._at_bottom(self.docks["problems"]):
            return
        if rows == 0 or before == 0 or self.docks["problems"].height() < self.height_for("problems"):
            self._resize("problems")

    def _resize(self, name: str) -> None:
        self.window.resizeDocks([self.docks[name]], [self.height_for(name)], Qt.Orientation.Vertical)
