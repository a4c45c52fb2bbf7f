"""The training panel: the project's training settings, Train / Pause / Stop, progress, live curves and results.

NOTE: a run lives in a child process (`studio.train.worker.TrainingWorker`); a QTimer polls it
about 30 times a second, so the editor never waits on it. Events only fill buffers; each tick
redraws what changed once. The plots (pyqtgraph) and the preview are built when the panel is
first shown, so the editor starts without importing them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedLayout,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.graph.model import NodeMoved
from studio.graph.project import project_to_dict
from studio.train.request import TrainRequest
from studio.ui import train_weights
from studio.ui.document import Document
from studio.ui.theme import current_theme
from studio.ui.train_run import default_runs_root
from studio.ui.train_settings import TrainingSettingsForm

POLL_INTERVAL_MS = 33  # ~30 redraws a second at most
STATUS_INTERVAL = 0.25  # seconds between updates of the progress bar and status line
REAP_INTERVAL_MS = 250  # after the final event: until the child process has exited
REAP_LIMIT = 40
WorkerFactory = Callable[[Any], Any]


class Banner(QFrame):
    """A message across the top of the results: an error (red) or a note; it can be dismissed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainBanner")
        self.kind = ""
        self.label = QLabel()
        self.label.setObjectName("trainBannerText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 4, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    @property
    def text(self) -> str:
        """The message shown ('' when hidden)."""
        return self.label.text() if not self.isHidden() else ""

    def show_message(self, text: str, kind: str = "info", tooltip: str = "") -> None:
        """Show `text` as an "error", a "warning" or an "info" note."""
        self.kind = kind
        self.label.setText(text)
        self.label.setToolTip(tooltip)
        self.show()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        """A fill tinted by the kind of message, with a strong edge, in the theme's colours."""
        theme = current_theme()
        edge = {"error": theme.error, "warning": theme.warning}.get(
            self.kind, theme.port_out
        )
        base = self.palette().color(QPalette.ColorRole.Base)
        fill = theme.error_fill if self.kind == "error" else _mix(base, edge, 0.14)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(edge, 1.0))
        painter.setBrush(fill)
        painter.drawRoundedRect(
            QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4
        )
        painter.end()


def _mix(base: QColor, tint: QColor, amount: float) -> QColor:
    return QColor(
        round(base.red() + (tint.red() - base.red()) * amount),
        round(base.green() + (tint.green() - base.green()) * amount),
        round(base.blue() + (tint.blue() - base.blue()) * amount),
    )


class TrainingPanel(QWidget):
    """Trains the open project in a child process and shows how it goes.

    `worker_factory(request)` makes the worker (default: studio.train.worker.TrainingWorker);
    `runs_root` overrides where runs are written (default: `default_runs_root`).
    """

    running_changed = Signal(bool)
    run_finished = Signal(dict)  # the run's final event ("done" or "failed")
    sample_chosen = Signal(int)  # a sample clicked in the dataset preview: its index in the dataset
    layer_event = Signal(dict)  # start, layers, layer_epoch, done, failed: for the canvas's live figures

    def __init__(
        self,
        document: Document,
        parent: QWidget | None = None,
        *,
        worker_factory: WorkerFactory | None = None,
        runs_root: str | Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("trainPanel")
        self.document = document
        self.worker: Any = None
        self._worker_factory = worker_factory
        self._runs_root = Path(runs_root) if runs_root is not None else None
        self._views_built = False
        self._run: dict[str, Any] = {}
        self._run_project: Any = None
        self._final: dict[str, Any] | None = None
        self._reaping: Any = None
        self._reap_count = 0
        self._paused = False

        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("trainButton")
        self.train_button.setDefault(True)
        self.train_button.setToolTip("Train the network on its dataset (F5)")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.setToolTip(
            "Hold the run between two steps; Resume continues it"
        )
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("End the run now; its best weights so far stay in its folder, and replace the project's own only if you say so")
        self.train_button.clicked.connect(self.train)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for button in (self.train_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.status = QLabel("Ready to train.")
        self.status.setObjectName("trainStatus")
        self.status.setWordWrap(True)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.status.setMinimumHeight(2 * self.status.fontMetrics().lineSpacing())
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

        self.settings = TrainingSettingsForm(document)
        scroll = QScrollArea()
        scroll.setObjectName("trainSettingsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.settings)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(8, 4, 6, 4)
        left_layout.setSpacing(4)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)
        left_layout.addWidget(_rule())
        left_layout.addWidget(scroll, 1)
        left.setMinimumWidth(250)
        left.setMaximumWidth(420)

        self.banner = Banner()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("trainTabs")
        self.tabs.setDocumentMode(True)
        self._views_holder = QWidget()
        self._views_stack = QStackedLayout(self._views_holder)
        self._views_stack.addWidget(QWidget())
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 6, 6, 4)
        right_layout.setSpacing(6)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self._views_holder, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 1000])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._poll_timer = QTimer(self, interval=POLL_INTERVAL_MS, timeout=self._poll)
        self._reap_timer = QTimer(self, interval=REAP_INTERVAL_MS, timeout=self._reap)
        self.settings.dataset_changed.connect(self._on_dataset_changed)
        self.document.training_changed.connect(self._on_training_changed)
        self.document.reset.connect(self._on_reset)
        self.document.graph_changed.connect(self._on_graph_changed)
        self._update_buttons()

    # ----- state tests and the main window may ask -----
    @property
    def running(self) -> bool:
        """True while a run is under way (from Train until its final event)."""
        return self.worker is not None and self._final is None

    @property
    def paused(self) -> bool:
        """True while the run is paused."""
        return self.running and self._paused

    @property
    def runs_root(self) -> Path:
        """Where the next run is written."""
        return self._runs_root or default_runs_root(self.document.path)

    # ----- building the views (pyqtgraph) on first show -----
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._views_built:
            QTimer.singleShot(0, self._build_if_seen)

    def _build_if_seen(self) -> None:
        # a dock behind another tab counts as visible, but shows nothing
        if not self.visibleRegion().isEmpty():
            self.ensure_views()

    def on_dock_visibility(self, shown: bool) -> None:
        """For the dock's visibilityChanged: build the views when the panel first comes into view."""
        if shown and not self._views_built:
            QTimer.singleShot(0, self.ensure_views)

    def ensure_views(self) -> None:
        """Build the curves, results, preview and history (imports pyqtgraph) once."""
        if self._views_built:
            return
        self._views_built = True
        from studio.ui.train_history import RunHistory
        from studio.ui.train_layers import LayerStatsView
        from studio.ui.train_plots import TrainingCurves
        from studio.ui.train_preview import DatasetPreview
        from studio.ui.train_results import ResultsView
        from studio.ui.train_sample import SampleText

        self.curves = TrainingCurves()
        self.sample = SampleText()
        self.history = RunHistory()
        self.history.runs_selected.connect(self._overlay_runs)
        self.results = ResultsView()
        self.preview = DatasetPreview()
        self.preview.sample_chosen.connect(self.sample_chosen)
        self.layer_stats = LayerStatsView()
        curves_page = QSplitter(Qt.Orientation.Horizontal)
        curves_page.setObjectName("curvesPage")
        curves_page.setChildrenCollapsible(False)
        curves_column = QSplitter(Qt.Orientation.Vertical)
        curves_column.setObjectName("curvesColumn")
        curves_column.setChildrenCollapsible(False)
        curves_column.addWidget(self.curves)
        curves_column.addWidget(self.sample)  # a language model's writing, under its curves
        curves_column.setStretchFactor(0, 1)
        curves_column.setStretchFactor(1, 0)
        curves_page.addWidget(curves_column)
        curves_page.addWidget(self.history)
        curves_page.setStretchFactor(0, 1)
        curves_page.setStretchFactor(1, 0)
        self.history.setMinimumWidth(160)
        curves_page.setSizes([900, 300])
        self.tabs.addTab(curves_page, "Curves")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.layer_stats, "Layers")
        self.tabs.addTab(self.preview, "Dataset")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self._views_stack.addWidget(self.tabs)
        self._views_stack.setCurrentWidget(self.tabs)
        self.settings.prepare()
        self.refresh_history()

    # ----- commands -----
    def train(self) -> bool:
        """Start a run of the open project; False (with the reason shown) when it cannot start."""
        if self.running:
            return False
        self.ensure_views()
        errors = self.document.network_analysis.summary().errors
        if errors:
            what = "the problem" if errors == 1 else f"the {errors} problems"
            self.banner.show_message(
                f"Fix {what} of the network first: the Problems panel lists "
                f"{'it' if errors == 1 else 'them'}, and training starts once none is left.",
                "error",
            )
            return False
        request = TrainRequest(
            project_to_dict(self.document.project),
            str(self.document.path) if self.document.path is not None else None,
            runs_root=str(self.runs_root),
        )
        factory = self._worker_factory
        if factory is None:
            from studio.train.worker import TrainingWorker as factory
        self._forget_worker()
        worker = factory(request)
        try:
            worker.start()
        except OSError as err:
            self.banner.show_message(
                f"The training process could not start: {err}", "error"
            )
            return False
        self.worker = worker
        self._run_project = self.document.project
        self._final = None
        self._paused = False
        self._run = {"epochs": self.document.project.training.epochs}
        self.banner.hide()
        self.curves.clear(self.document.project.training.epochs)
        self.results.clear(
            "The confusion matrix and sample predictions appear when the run ends."
        )
        # busy until the first event says how long the run is
        self.progress.setRange(0, 0)
        self.progress.setFormat("")
        self._set_status("Starting: loading the data and building the model…")
        self._poll_timer.start()
        self._update_buttons()
        self.running_changed.emit(True)
        return True

    def toggle_pause(self) -> None:
        """Pause the run, or resume it when paused."""
        if not self.running:
            return
        if self._paused:
            self.worker.resume()
            self._paused = False
        else:
            self.worker.pause()
            self._paused = True
        self._update_buttons()
        self._update_status()

    def stop(self) -> None:
        """Ask the run to end (it reports "done", stopped by the user, within a second)."""
        if not self.running:
            return
        self.worker.stop()
        self._paused = False
        self._run["stopping"] = True
        self._set_status("Stopping…")
        self._update_buttons()

    def shutdown(self) -> None:
        """Stop a run and end its process (for closing the editor; may wait up to ~2 s)."""
        self._poll_timer.stop()
        self._reap_timer.stop()
        for worker in (self.worker, self._reaping):
            if worker is None:
                continue
            if getattr(worker, "running", False):
                worker.stop()
            close = getattr(worker, "close", None)
            if close is not None:
                close()
        self.worker = self._reaping = None

    def refresh_history(self) -> None:
        """List the project's runs again (and, between runs, show the newest run's sample when none is shown)."""
        if self._views_built:
            self.history.show_runs(self.runs_root, self.document.project.name)
            if not self.running and not self.sample.text:
                for run in self.history.runs[:1]:
                    self.sample.show_run(run.run_dir, self.history.label_of(run.run_dir))
            if not self.running and not self.history.selected_dirs():
                latest = self.history.runs[0].run_dir if self.history.runs else None
                self.layer_stats.show_run(latest, self.history.label_of(latest) if latest else "", self._flow())

    # ----- events from the worker -----
    def _poll(self) -> None:
        worker = self.worker
        if worker is None:
            self._poll_timer.stop()
            return
        for event in worker.poll():
            self.handle_event(event)
        if self._final is None and not worker.running:
            self.handle_event(
                {
                    "kind": "failed",
                    "message": "the training process ended without reporting a result",
                }
            )
        self.curves.redraw()
        now = time.monotonic()
        if self._final is None and now - self._run.get("shown", 0.0) >= STATUS_INTERVAL:
            self._run["shown"] = now
            self._update_status()

    def handle_event(self, event: dict[str, Any]) -> None:
        """Take one event of the run into the curves, progress and results (redrawn by the timer)."""
        if self._final is not None:
            return
        kind = event.get("kind")
        if kind in _LAYER_KINDS:
            self.layer_event.emit(event)
            if self._views_built:
                self.layer_stats.follow(event, self._flow())
        handler = getattr(self, f"_on_{kind}", None) if kind in _KINDS else None
        if handler is not None:
            handler(event)

    def _on_start(self, event: dict[str, Any]) -> None:
        spe = max(1, int(event.get("steps_per_epoch") or 1))
        epochs = max(1, int(event.get("epochs") or 1))
        first = max(1, int(event.get("first_epoch") or 1))
        self._run.update(
            steps_per_epoch=spe,
            epochs=epochs,
            classes=list(event.get("classes") or []),
            task=event.get("task"),
            step=(first - 1) * spe,
        )
        self.curves.set_epochs(epochs)
        self.progress.setRange(0, epochs * spe)
        self.progress.setValue((first - 1) * spe)
        self.progress.setFormat(f"Epoch {first} of {epochs} · %p%")
        train, val = (
            int(event.get("train_samples") or 0),
            int(event.get("val_samples") or 0),
        )
        self._run["about"] = (
            f"{event.get('device', '?')} · {train:,} training / {val:,} validation"
        )
        self.sample.follow(event)
        self.refresh_history()  # the new run is listed as running

    def _on_step(self, event: dict[str, Any]) -> None:
        spe = self._run.get("steps_per_epoch", 1)
        global_step = event.get("global_step")
        if not isinstance(global_step, int):
            global_step = (int(event.get("epoch") or 1) - 1) * spe + int(
                event.get("step") or 0
            )
        if "first_seen" not in self._run:
            self._run["first_seen"] = (time.monotonic(), global_step)
        # the engine and the worker both coalesce steps: count them from global_step
        steps = max(1, global_step - self._run.get("step", 0))
        self._run.update(step=global_step, speed=event.get("samples_per_s"))
        self.curves.add_step(
            global_step / spe,
            event.get("loss"),
            event.get("mean_loss"),
            steps,
            event.get("lr"),
        )

    def _on_epoch(self, event: dict[str, Any]) -> None:
        epoch = int(event.get("epoch") or 0)
        spe = self._run.get("steps_per_epoch", 1)
        self.curves.add_epoch(
            float(epoch), event.get("val_loss"), event.get("val_accuracy")
        )
        self.sample.follow(event)
        self._run["step"] = epoch * spe
        if isinstance(event.get("eta_seconds"), (int, float)):
            self._run["eta"] = (time.monotonic(), float(event["eta_seconds"]))

    def _on_evaluation(self, event: dict[str, Any]) -> None:
        self.results.show_evaluation(event, self._run.get("classes") or [])

    def _on_done(self, event: dict[str, Any]) -> None:
        self._final = event
        epochs = int(event.get("epochs_run") or 0)
        best = event.get("best_val_accuracy")
        loss = event.get("best_val_loss")
        how = (
            "Stopped"
            if event.get("stopped_by_user")
            else "Stopped early (the validation loss no longer improved)"
            if event.get("stopped_early")
            else "Done"
        )
        perplexity = event.get("best_val_perplexity")
        score = (
            f"best validation perplexity {perplexity:.2f}"
            + (f" ({best:.1%} of characters right)" if isinstance(best, (int, float)) else "")
            if isinstance(perplexity, (int, float))
            else f"best validation accuracy {best:.1%}"
            if isinstance(best, (int, float))
            else (
                f"best validation loss {loss:.4g}"
                if isinstance(loss, (int, float))
                else "no validation score"
            )
        )
        self._set_status(f"{how}: {epochs} epoch{'s' if epochs != 1 else ''}, {score}.")
        if not event.get("stopped_by_user"):
            self.progress.setValue(self.progress.maximum())
        self._store_weights(event, epochs)
        self._end_run(event)

    def _on_failed(self, event: dict[str, Any]) -> None:
        self._final = event
        message = str(event.get("message") or "the run failed")
        epoch, step = event.get("epoch"), event.get("step")
        where = (
            f" (epoch {epoch}, step {step})"
            if epoch is not None and step is not None and "epoch" not in message
            else ""
        )
        self.banner.show_message(f"Training failed: {message}{where}", "error")
        self._set_status("Failed: see the message above the curves.")
        self._end_run(event)

    def _end_run(self, event: dict[str, Any]) -> None:
        self._poll_timer.stop()
        self.curves.redraw()
        self._paused = False
        self._reaping, self.worker = self.worker, None
        self._reap_count = 0
        self._reap_timer.start()
        if event.get("kind") == "done" and self._run.get("task") != "classification":
            self.results.clear(
                "A language model's sample text is under its curves; the confusion matrix and "
                "predictions are shown for classification runs."
                if self._run.get("task") == "language_modelling"
                else "The confusion matrix and predictions are shown for classification runs."
            )
        self.progress.setFormat("%p%" if self.progress.maximum() > 1 else "")
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.refresh_history()
        self._update_buttons()
        self.running_changed.emit(False)
        self.run_finished.emit(event)

    def _store_weights(self, event: dict[str, Any], epochs: int) -> None:
        """Give the project the run's best weights: a finished run's always, a stopped one's when asked (`train_weights`)."""
        weights = train_weights.best_weights(event, epochs)
        if weights is None:
            return
        if self.document.project is not self._run_project:
            return  # another project was opened meanwhile: these weights are not its
        if train_weights.needs_asking(event, self.document) and not self.ask_replace_weights(epochs, weights):
            self.banner.show_message(
                "The run was stopped: the project keeps its previous weights (this run's best stay in its folder).",
                "info",
                tooltip=str(weights),
            )
            return
        try:
            text = train_weights.store(self.document, weights, event.get("project"))
        except ValueError as err:
            self.banner.show_message(
                f"The weights could not be stored with the project: {err}", "warning"
            )
            return
        note = " (save the project to keep them)" if self.document.is_modified else ""
        stopped = " of the stopped run" if event.get("stopped_by_user") else ""
        self.banner.show_message(
            f"Weights{stopped} saved with the project: exports will use them{note}.",
            "info",
            tooltip=f"The project's weights: {text}",
        )

    def ask_replace_weights(self, epochs: int, weights: Path) -> bool:
        """Whether a stopped run's weights replace the project's own (a question whose default keeps them; tests answer it)."""
        return train_weights.ask_replace(self, epochs, weights)

    def weights_text(self, weights: Path) -> str:
        """A weights file as the project stores it: relative to the project's folder when it is saved."""
        return train_weights.weights_text(self.document, weights)

    def _reap(self) -> None:
        """Poll a finished worker until its process has exited, then let it go."""
        worker = self._reaping
        self._reap_count += 1
        if worker is None:
            self._reap_timer.stop()
            return
        worker.poll()
        if getattr(worker, "pid", None) is None or self._reap_count >= REAP_LIMIT:
            self._reap_timer.stop()
            self._reaping = None
            close = getattr(worker, "close", None)
            if close is not None:
                close()

    def _forget_worker(self) -> None:
        if self._reaping is not None:
            self._reap_timer.stop()
            close = getattr(self._reaping, "close", None)
            if close is not None:
                close()
            self._reaping = None

    # ----- showing state -----
    def _update_buttons(self) -> None:
        running = self.running
        stopping = bool(self._run.get("stopping")) and running
        self.train_button.setEnabled(not running)
        self.pause_button.setEnabled(running and not stopping)
        self.pause_button.setText("Resume" if self._paused and running else "Pause")
        self.stop_button.setEnabled(running and not stopping)

    def _set_status(self, text: str) -> None:
        if text != self.status.text():
            self.status.setText(text)
        self.status.setForegroundRole(QPalette.ColorRole.WindowText)

    def _update_status(self) -> None:
        run = self._run
        if not self.running or "steps_per_epoch" not in run or run.get("stopping"):
            return
        spe, epochs = run["steps_per_epoch"], run["epochs"]
        step = run.get("step", 0)
        if self.progress.value() != min(step, self.progress.maximum()):
            self.progress.setValue(min(step, self.progress.maximum()))
        epoch_now = min(epochs, max(1, -(-step // spe)))  # of the last step done
        self.progress.setFormat(f"Epoch {epoch_now} of {epochs} · %p%")
        parts = []
        speed = run.get("speed")
        if isinstance(speed, (int, float)) and speed > 0:
            parts.append(f"{speed:,.0f} samples/s")
        eta = None if self._paused else self._eta()
        if self._paused:
            parts.append("paused")
        elif eta is not None:
            parts.append(f"{_duration(eta)} left")
        self._set_status(
            " · ".join(parts or ["Training…"]) + f"\n{run.get('about', '')}"
        )

    def _eta(self) -> float | None:
        run = self._run
        now = time.monotonic()
        if "eta" in run:
            received, seconds = run["eta"]
            return max(0.0, seconds - (now - received))
        first = run.get("first_seen")
        if first is None:
            return None
        began, first_step = first
        done = run.get("step", 0) - first_step
        if done <= 0 or now - began < 0.5:
            return None
        total = run["epochs"] * run["steps_per_epoch"]
        return (total - run.get("step", 0)) * (now - began) / done

    # ----- following the document and the tabs -----
    def _on_reset(self) -> None:
        """Another project: its runs, its data; the last run's curves (and sample) go unless it still runs."""
        if self._views_built and not self.running:
            self.sample.forget()
        self.refresh_history()
        if not self._views_built:
            return
        self.preview.forget()
        self._on_tab_changed(self.tabs.currentIndex())
        if not self.running:
            self.curves.clear()
            self.results.clear()
            self.banner.hide()
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("")
            self._set_status("Ready to train.")

    def _on_training_changed(self, name: str) -> None:
        if name == "target" and self._views_built:
            self.preview.forget()
            self._on_tab_changed(self.tabs.currentIndex())

    def _on_dataset_changed(self, _text: str) -> None:
        if self._views_built:
            self._on_tab_changed(self.tabs.currentIndex())

    def _on_graph_changed(self, event: object) -> None:
        """The Input's shape may have changed: the Dataset tab says what the samples are now fed as (a move changes nothing there)."""
        if not isinstance(event, NodeMoved):
            self._on_tab_changed(self.tabs.currentIndex())

    def _on_tab_changed(self, index: int) -> None:
        if self._views_built and self.tabs.widget(index) is self.preview:
            training = self.document.project.training
            base = self.document.path.parent if self.document.path is not None else None
            inputs = [n for n in self.document.network.nodes.values() if n.type == "Input"]
            shape, dtype = (
                (tuple(inputs[0].params["shape"]), str(inputs[0].params["dtype"]))
                if len(inputs) == 1
                else (None, None)
            )
            self.preview.load(training.dataset, base, training.target, shape, dtype)

    def _overlay_runs(self, run_dirs: list[Path]) -> None:
        from studio.train.runs import read_metrics

        self.curves.set_overlays(
            [(self.history.label_of(d), read_metrics(d)) for d in run_dirs]
        )
        if run_dirs and not self.running:
            self.sample.show_run(run_dirs[0], self.history.label_of(run_dirs[0]))
        if run_dirs:
            self.layer_stats.show_run(run_dirs[0], self.history.label_of(run_dirs[0]), self._flow())

    def _flow(self) -> list[str]:
        """The network's node ids in the order data flows (the per-layer table's row order)."""
        return self.document.network_analysis.ordered_ids()


_KINDS = ("start", "step", "epoch", "evaluation", "done", "failed")
_LAYER_KINDS = ("start", "layers", "layer_epoch", "done", "failed")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _rule() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line
