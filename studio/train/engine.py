"""The training engine: a project and its settings in, a run folder and a stream of events out.

`run_training` builds the model by running the generated PyTorch code (what you train is what
you export; studio.train.plan), trains it (the steps: studio.train.loop) and writes the run
folder (studio.train.runs, studio.train.checkpoints). Everything a user can get wrong
(settings, data, a diverging loss, a device that is not there, GPU out of memory) ends as a
"failed" event saying what to do, never as an exception.

Events (JSON-able dicts given to `emit`): start (with `layers`, each layer id's module path);
step (at most every STEP_INTERVAL s, the mean loss of the steps since the last one); layers
(the newest per-layer figures, a few times a second: studio.train.layer_stats); epoch;
layer_epoch (the epoch's per-layer summary and the problems that began in it, also kept in
layer_stats.json); evaluation (classification, after training, for the best weights); then
done or failed, which is also returned. A language model's epoch event
also carries its validation perplexity and `sample`, text it wrote after the dataset's prompt
(kept in the run folder's sample.txt).

NOTE: best.pt holds the weights of the epoch with the lowest validation loss (training loss
without a validation split); it is what a project's `training.weights` should point to.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import torch

from studio.codegen.pytorch import module_names
from studio.codegen.weights import project_weights_bytes
from studio.graph.atomic import write_atomically
from studio.graph.project import Project, dumps_project
from studio.train import checkpoints, recipe, runs, text_data
from studio.train.dataset_record import LANGUAGE_MODELLING
from studio.train.layer_stats import LayerHistory, LayerProbe
from studio.train.loop import (
    NonFiniteLoss,
    Progress,
    StopRequested,
    Trainer,
    evaluation_event,
)
from studio.train.plan import (
    TrainingFailed,
    available_devices,
    first_line,
    prepare,
    resolve_device,
    versions,
)
from studio.train.request import TrainingEvent, TrainRequest

__all__ = [
    "Control",
    "NoControl",
    "TrainRequest",
    "TrainingFailed",
    "available_devices",
    "resolve_device",
    "run_training",
]

STEP_INTERVAL = 0.05  # seconds between step events (and Stop/Pause checks)
CHECKPOINT_SECONDS = 10.0  # last.pt, best.pt: saved at most this often, and at the end
CHECKPOINT_SHARE = 0.01  # ... and less often when saving them takes more of the time
METRICS_SECONDS = 1.0  # metrics.csv: rewritten at most this often, and at the end
QUICK_EVALUATION = 0.3  # seconds: a stopped run evaluates when validating took less


class Control(Protocol):
    """How a run is stopped or paused from outside."""

    def stop_requested(self) -> bool: ...

    def wait_while_paused(self) -> None: ...


class NoControl:
    """A control that never stops or pauses (in-process runs: tests, benchmarks)."""

    def stop_requested(self) -> bool:
        return False

    def wait_while_paused(self) -> None:
        return None


def run_training(request: TrainRequest, emit: Callable[[TrainingEvent], None], control: Control) -> TrainingEvent:
    """Train the request's project and write its run folder; return the final ("done"/"failed") event."""
    with torch.random.fork_rng(devices=[]):
        return _Run(request, emit, control).execute()


class _Run:
    """The state of one training run, from preparation to its final event."""

    def __init__(
        self, request: TrainRequest, emit: Callable[[TrainingEvent], None], control: Control
    ) -> None:
        self.request = request
        self.emit = emit
        self.control = control
        self.run_dir: Path | None = None
        self.writer: runs.RunWriter | None = None
        self.rows: list[TrainingEvent] = []
        self.config: dict[str, Any] = {}
        self.epoch = 0  # the epoch in progress (1-based)
        self.epochs_done = 0
        self.first_epoch = 1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_written = True
        self.checkpoint_due = self.metrics_due = 0.0
        self.paused = self.tick_time = 0.0
        self.tick_samples = 0
        self.val_seconds: float | None = None
        self.last_sample: str | None = None  # a language model's newest sample

    def execute(self) -> TrainingEvent:
        try:
            self.plan = prepare(
                self.request.project, self.request.project_path, self.request.overrides
            )
            self._setup()
            return self._train()
        except TrainingFailed as failed:
            return self._fail(failed)
        finally:
            if self.writer is not None:
                self._close_writer(quiet=True)

    # ----- setup -----
    def _setup(self) -> None:
        plan, settings = self.plan, self.plan.settings
        model, device = plan.model, plan.device
        self.bounds = recipe.batch_bounds(len(plan.train), settings.batch_size)
        self.stopping = recipe.EarlyStopping(settings.early_stopping)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        parameters = [p for p in model.parameters() if p.requires_grad]
        if not parameters:
            raise TrainingFailed(
                "the network has no trainable parameters: add a layer with weights (such as Linear)",
                reason="project",
            )
        optimizer = recipe.make_optimizer(
            settings.optimizer,
            parameters,
            settings.learning_rate,
            settings.weight_decay,
            settings.momentum,
            device,
        )
        net = recipe.maybe_compile(model, settings.compile, device)
        augment = recipe.augmenter(
            settings.augment, plan.dataset.sample_shape, plan.train.x.dtype
        )
        task = plan.dataset.task
        trainer = Trainer(
            model,
            net,
            recipe.make_loss(settings.loss, task),
            optimizer,
            device,
            plan.precision,
            settings.grad_clip,
            augment,
        )
        self.trainer, self.predict = trainer, recipe.class_predictor(settings.loss, task)
        self.layer_paths = module_names(plan.project)
        trainer.probe = LayerProbe(model, self.layer_paths, activations=net is model)
        self.layer_history = LayerHistory()
        resumed = None
        if plan.resume is not None:
            resumed = checkpoints.resume_from(
                plan.resume,
                model,
                optimizer,
                settings.optimizer,
                trainer.scaler,
                settings.epochs,
                device,
            )
            self.epochs_done, self.first_epoch = (
                resumed.epochs_done,
                resumed.epochs_done + 1,
            )
            self.stopping = recipe.EarlyStopping(
                settings.early_stopping,
                resumed.best_loss,
                resumed.best_epoch,
                resumed.bad_epochs,
            )
            self.best_state = resumed.best_state
        schedule = recipe.Schedule(
            settings.schedule,
            optimizer,
            settings.learning_rate,
            settings.epochs,
            len(self.bounds),
        )
        schedule.skip_epochs(self.epochs_done)
        trainer.set_schedule(schedule)
        try:
            self.run_dir = runs.create_run_dir(
                self.request.runs_root, plan.project.name
            )
            self.writer = runs.RunWriter(self.run_dir)
            self.writer.now(runs.MODEL, plan.source.encode("utf-8"))
            self.writer.now(runs.PROJECT, self._trained_project())
            if resumed is not None:
                self._carry_over(plan.resume)  # type: ignore[arg-type]
            self.config = self._config()
            self.writer.now(runs.CONFIG, runs.json_bytes(self.config))
        except OSError as err:
            raise TrainingFailed(self._unwritable(err), reason="arguments") from None

    def _trained_project(self) -> bytes:
        """project.lstudio: the network as trained, with the settings in force and the run's weights.npz."""
        plan = self.plan
        settings = replace(plan.settings, weights=runs.WEIGHTS)
        return dumps_project(Project(plan.project.name, plan.project.graph, settings, plan.project.description)).encode("utf-8")

    def _carry_over(self, last: Path) -> None:
        """A resumed run starts with the metrics of the epochs it continues (and their best.pt)."""
        assert self.writer is not None and self.run_dir is not None
        self.rows = [
            row
            for row in runs.read_metrics(last.parent)
            if row["epoch"] <= self.epochs_done
        ]
        if self.rows:
            self.writer.now(runs.METRICS, runs.metrics_csv(self.rows))
        if self.best_state is not None:
            shutil.copyfile(last.with_name(runs.BEST), self.run_dir / runs.BEST)
            self.writer.now(runs.WEIGHTS, project_weights_bytes(self.plan.project, self.best_state))

    def _config(self) -> dict[str, Any]:
        plan = self.plan
        data = plan.dataset
        return {
            "project": plan.project.name,
            "project_path": self.request.project_path,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "settings": plan.settings.to_dict(),
            "overrides": {
                k: v for k, v in self.request.overrides.items() if k != "resume"
            },
            "resumed_from": str(plan.resume) if plan.resume else None,
            "first_epoch": self.first_epoch,
            "device": str(plan.device),
            "precision": plan.precision,
            "compiled": self.trainer.net is not self.trainer.model,
            "dataset": {
                "spec": plan.settings.dataset,
                "name": data.name,
                "source": data.source,
                "note": data.note,
                "task": data.task,
                "classes": list(data.classes),
                "sample_shape": list(data.sample_shape),
                "prompt": data.prompt,
                "train_samples": len(plan.train),
                "val_samples": len(plan.val) if plan.val else 0,
            },
            "normalization": plan.normalizer.to_dict(),  # apply to inputs before predicting
            "parameters": sum(p.numel() for p in plan.model.parameters()),
            "steps_per_epoch": len(self.bounds),
            "versions": versions(),
            "outcome": {"status": "running"},
        }

    # ----- training -----
    def _train(self) -> TrainingEvent:
        plan, settings = self.plan, self.plan.settings
        self.emit(
            {
                "kind": "start",
                "run_dir": str(self.run_dir),
                "device": str(plan.device),
                "train_samples": len(plan.train),
                "val_samples": len(plan.val) if plan.val else 0,
                "batch_size": settings.batch_size,
                "epochs": settings.epochs,
                "first_epoch": self.first_epoch,
                "steps_per_epoch": len(self.bounds),
                "classes": list(plan.dataset.classes),
                "task": plan.dataset.task,
                "prompt": plan.dataset.prompt,
                "precision": plan.precision,
                "layers": self.layer_paths,
            }
        )
        progress = Progress(self._tick, STEP_INTERVAL)
        self.checkpoint_due = time.perf_counter() + CHECKPOINT_SECONDS
        stopped_by_user = stopped_early = False
        epoch_seconds: list[float] = []
        for epoch in range(self.first_epoch, settings.epochs + 1):
            began = self._begin_epoch(epoch)
            try:
                self._train_epoch(progress)
                row = self._end_epoch(progress, began, epoch_seconds)
            except StopRequested:
                stopped_by_user = True
                break
            self.emit(row)
            self.rows.append(row)
            self._save_metrics()
            self._end_layer_epoch(epoch)
            if self.control.stop_requested():
                stopped_by_user = True
                break
            if self.stopping.should_stop:
                stopped_early = True
                break
            if epoch < settings.epochs:
                self._checkpoint()
        return self._finish(stopped_by_user, stopped_early)

    def _begin_epoch(self, epoch: int) -> float:
        """Seed dropout, augmentation and the shuffle from (seed, epoch) alone (the recipe's), and start the clocks."""
        self.epoch = epoch
        self.order = recipe.epoch_order(
            len(self.plan.train), self.plan.settings.seed, epoch
        )
        self.paused, self.tick_samples = 0.0, 0
        self.tick_time = time.perf_counter()
        return self.tick_time

    def _train_epoch(self, progress: Progress) -> None:
        """One epoch of steps; a NaN, running out of memory or a model error becomes TrainingFailed."""
        try:
            self.trainer.train_epoch(self.plan.train, self.order, self.bounds, progress)
        except NonFiniteLoss as bad:
            lr = self.trainer.lr
            clip = (
                ""
                if self.plan.settings.grad_clip
                else " or set grad_clip (for example 1.0)"
            )
            raise TrainingFailed(
                f"the loss became {'NaN' if math.isnan(bad.value) else 'infinite'} at epoch {self.epoch}, "
                f"step {bad.step} (learning rate {lr:g}): the training diverged. "
                f"Lower the learning rate (try {lr / 10:g}){clip}",
                self.epoch,
                bad.step,
                reason="diverged",
            ) from None
        except torch.cuda.OutOfMemoryError:
            raise self._out_of_memory() from None
        except (RuntimeError, ValueError, IndexError) as err:
            raise self._model_error(err) from None

    def _out_of_memory(self) -> TrainingFailed:
        step, batch = self.trainer.step, self.plan.settings.batch_size
        self.trainer.optimizer.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return TrainingFailed(
            f"the GPU ran out of memory at epoch {self.epoch}, step {step} with batch size {batch}: choose a "
            f"smaller batch size (try {max(1, batch // 2)}), the precision bf16, or a smaller network",
            self.epoch,
            step,
            reason="out_of_memory",
        )

    def _model_error(
        self, err: BaseException, validating: bool = False, stage: str = ""
    ) -> TrainingFailed:
        stage = stage or ("validation" if validating else "")
        step = None if stage else self.trainer.step
        where = f"epoch {self.epoch}, " + (stage or f"step {step}")
        compiled = self.trainer.net is not self.trainer.model
        hint = " (torch.compile is on: try training without it)" if compiled else ""
        return TrainingFailed(
            f"training stopped at {where}: {first_line(err)}{hint}", self.epoch, step
        )

    def _tick(self, step: int, losses: list[float]) -> bool:
        """Report the steps since the last tick, then honour Stop and Pause; True to stop."""
        now = time.perf_counter()
        done = self.bounds[step - 1][1]
        if losses:
            self.emit(
                {
                    "kind": "step",
                    "epoch": self.epoch,
                    "step": step,
                    "global_step": (self.epoch - 1) * len(self.bounds) + step,
                    "loss": sum(losses) / len(losses),
                    "lr": self.trainer.lr,
                    "samples_per_s": (done - self.tick_samples)
                    / max(now - self.tick_time, 1e-9),
                }
            )
        self._report_layers()
        if self.control.stop_requested():
            return True
        self.control.wait_while_paused()
        after = time.perf_counter()
        self.paused += after - now
        self.tick_time, self.tick_samples = after, done
        return self.control.stop_requested()

    def _report_layers(self) -> None:
        """Send the newest per-layer figures, keeping every probe for the epoch's summary."""
        probes = self.trainer.probe.read() if self.trainer.probe is not None else []
        if probes:
            self.layer_history.add(probes)
            self.emit({"kind": "layers", "epoch": self.epoch, "layers": probes[-1]})

    def _end_layer_epoch(self, epoch: int) -> None:
        """Send the epoch's per-layer summary and the problems that began in it; keep them in the run folder."""
        self._report_layers()
        started = self.layer_history.end_epoch(epoch)
        self.emit({"kind": "layer_epoch", "epoch": epoch, "layers": self.layer_history.epochs[-1], "flags": started})
        self._queue(runs.LAYER_STATS, runs.json_bytes({"layers": self.layer_paths, **self.layer_history.record()}))

    def _end_epoch(
        self, progress: Progress, began: float, epoch_seconds: list[float]
    ) -> TrainingEvent:
        """Validate, keep the best weights, and return the epoch's event."""
        plan, settings, trainer = self.plan, self.plan.settings, self.trainer
        train_seconds = time.perf_counter() - began - self.paused
        sizes = [hi - lo for lo, hi in self.bounds]
        train_loss = sum(
            v * n for v, n in zip(progress.values, sizes, strict=True)
        ) / sum(sizes)
        lr = trainer.lr
        trainer.end_epoch()
        val_loss, val_accuracy = self._validate()
        self.epochs_done = self.epoch
        self._remember_best(val_loss if val_loss is not None else train_loss)
        text = self._language_model_epoch(val_loss)
        epoch_seconds.append(time.perf_counter() - began - self.paused)
        mean_seconds = sum(epoch_seconds) / len(epoch_seconds)
        return {
            "kind": "epoch",
            "epoch": self.epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "val_perplexity": text.pop("val_perplexity"),
            "samples_per_s": sum(sizes) / max(train_seconds, 1e-9),
            "seconds": epoch_seconds[-1],
            "train_samples": len(plan.train),
            "val_samples": len(plan.val) if plan.val else 0,
            "batch_size": settings.batch_size,
            "lr": lr,
            "eta_seconds": mean_seconds * (settings.epochs - self.epoch),
            **text,
        }

    def _validate(self) -> tuple[float | None, float | None]:
        val = self.plan.val
        if val is None:
            return None, None
        began = time.perf_counter()
        try:
            loss, accuracy = self.trainer.evaluate(
                val,
                self.plan.settings.batch_size,
                self.predict,
                self.control.stop_requested,
            )
        except torch.cuda.OutOfMemoryError:
            raise self._out_of_memory() from None
        except (RuntimeError, ValueError, IndexError) as err:
            raise self._model_error(err, validating=True) from None
        if not math.isfinite(loss):
            raise TrainingFailed(
                f"the validation loss became {loss} after epoch {self.epoch}: the training diverged. "
                f"Lower the learning rate (try {self.trainer.lr / 10:g})",
                self.epoch,
                reason="diverged",
            )
        self.val_seconds = time.perf_counter() - began
        return loss, accuracy

    def _language_model_epoch(self, val_loss: float | None) -> TrainingEvent:
        """A language model's validation perplexity and a sample of its writing (written to sample.txt)."""
        data = self.plan.dataset
        if data.task != LANGUAGE_MODELLING:
            return {"val_perplexity": None}
        prompt = text_data.encode(data.prompt, data.classes).tolist()
        try:
            drawn = recipe.generate_tokens(
                self.trainer.model,
                prompt,
                recipe.SAMPLE_TOKENS,
                data.sample_shape[0],
                len(data.classes),
                self.plan.settings.seed,
            )
        except torch.cuda.OutOfMemoryError:
            raise self._out_of_memory() from None
        except (RuntimeError, ValueError, IndexError) as err:
            raise self._model_error(err, stage="writing a sample") from None
        sample = text_data.decode(drawn, data.classes)
        self._queue(runs.SAMPLE, runs.sample_text(self.epoch, data.prompt, sample))
        self.last_sample = sample
        perplexity = math.exp(min(val_loss, 700.0)) if val_loss is not None else None
        return {"val_perplexity": perplexity, "sample": sample}

    def _remember_best(self, score: float) -> None:
        if not self.stopping.update(score, self.epoch):
            return
        state = self.trainer.model.state_dict()
        if self.best_state is None or self.best_state.keys() != state.keys():
            self.best_state = {k: v.detach().clone() for k, v in state.items()}
        else:
            for k, v in state.items():
                self.best_state[k].copy_(v)
        self.best_written = False

    # ----- files -----
    def _checkpoint(self, final: bool = False, partial: bool = False) -> None:
        """Queue last.pt (and best.pt when it changed); between epochs only as often as is cheap."""
        began = time.perf_counter()
        if not final and began < self.checkpoint_due:
            return
        trainer, settings = self.trainer, self.plan.settings
        stopping = self.stopping
        best = (stopping.best, stopping.best_epoch, stopping.bad_epochs)
        last = checkpoints.last_checkpoint(
            trainer.model,
            trainer.optimizer,
            settings.optimizer,
            trainer.scaler,
            self.epochs_done,
            partial,
            best,
            settings.to_dict(),
        )
        self._queue(runs.LAST, last)
        self._write_best()
        cost = time.perf_counter() - began
        self.checkpoint_due = began + max(CHECKPOINT_SECONDS, cost / CHECKPOINT_SHARE)

    def _save_metrics(self, final: bool = False) -> None:
        """Queue metrics.csv; between epochs at most every METRICS_SECONDS."""
        now = time.perf_counter()
        if final or now >= self.metrics_due:
            self._queue(runs.METRICS, runs.metrics_csv(self.rows))
            self.metrics_due = now + METRICS_SECONDS

    def _write_best(self) -> None:
        if self.best_state is not None and not self.best_written:
            self._queue(runs.BEST, checkpoints.tensor_bytes(self.best_state))
            self._queue(runs.WEIGHTS, project_weights_bytes(self.plan.project, self.best_state))
            self.best_written = True

    def _queue(self, name: str, data: bytes) -> None:
        assert self.writer is not None
        try:
            self.writer.later(name, data)
        except OSError as err:
            raise TrainingFailed(
                self._unwritable(err), self.epoch or None, reason="disk"
            ) from None

    def _unwritable(self, err: OSError) -> str:
        where = self.run_dir or self.request.runs_root
        return f"cannot write the run folder {where}: {err.strerror or err}"

    def _close_writer(self, quiet: bool) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            writer.close()
        except OSError as err:
            if not quiet:
                raise TrainingFailed(self._unwritable(err), reason="disk") from None

    def _write_outcome(self, status: str, event: TrainingEvent) -> None:
        assert self.run_dir is not None
        outcome = {k: v for k, v in event.items() if k not in ("kind", "run_dir")}
        outcome.update(status=status, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.config["outcome"] = outcome
        try:
            write_atomically(self.run_dir / runs.CONFIG, runs.json_bytes(self.config))
        except OSError:
            pass  # the run's result is still reported; only its folder's summary is stale

    # ----- the end -----
    def _finish(self, stopped_by_user: bool, stopped_early: bool) -> TrainingEvent:
        assert self.run_dir is not None
        self._save_metrics(final=True)
        if self.best_state is None:
            # Stopped before an epoch ended: best.pt holds the weights as they are.
            self.best_state = {
                k: v.detach().clone()
                for k, v in self.trainer.model.state_dict().items()
            }
            self.best_written = False
        self._checkpoint(
            final=True, partial=stopped_by_user and self.epoch > self.epochs_done
        )
        self.trainer.model.load_state_dict(self.best_state)
        # After Stop, only a quick evaluation: the worker ends a run a second after Stop.
        quick = self.val_seconds is not None and self.val_seconds < QUICK_EVALUATION
        if self.plan.dataset.task == "classification" and (
            quick or not stopped_by_user
        ):
            self.emit(self._evaluation())
        accuracies = [
            r["val_accuracy"] for r in self.rows if r.get("val_accuracy") is not None
        ]
        losses = [r["val_loss"] for r in self.rows if r.get("val_loss") is not None]
        done = {
            "kind": "done",
            "run_dir": str(self.run_dir),
            "weights": str(self.run_dir / runs.WEIGHTS),
            "project": str(self.run_dir / runs.PROJECT),
            "best_val_accuracy": max(accuracies) if accuracies else None,
            "best_val_loss": min(losses) if losses else None,
            "best_epoch": self.stopping.best_epoch,
            **self._language_model_done(losses),
            "epochs_run": self.epochs_done,
            "stopped_early": stopped_early,
            "stopped_by_user": stopped_by_user,
        }
        self._close_writer(quiet=False)
        status = "finished" if not (stopped_by_user or stopped_early) else "stopped"
        self._write_outcome("early_stopped" if stopped_early else status, done)
        self.emit(done)
        return done

    def _language_model_done(self, losses: list[float]) -> TrainingEvent:
        """A language model's best validation perplexity and newest sample, for the final event."""
        if self.plan.dataset.task != LANGUAGE_MODELLING:
            return {}
        best = math.exp(min(min(losses), 700.0)) if losses else None
        return {"best_val_perplexity": best, "sample": self.last_sample}

    def _evaluation(self) -> TrainingEvent:
        """The confusion matrix of the best weights on the validation split (else the training split)."""
        plan = self.plan
        data, shown, split = (
            (plan.val, plan.val_raw.x, "validation")
            if plan.val
            else (plan.train, None, "train")
        )
        try:
            event = evaluation_event(
                self.trainer,
                data,
                shown,
                plan.dataset.classes,
                plan.settings.batch_size,
                self.predict,
            )
        except torch.cuda.OutOfMemoryError:
            raise self._out_of_memory() from None
        return {**event, "split": split, "best_epoch": self.stopping.best_epoch}

    def _fail(self, failed: TrainingFailed) -> TrainingEvent:
        event = {
            "kind": "failed",
            "message": failed.message,
            "epoch": failed.epoch,
            "step": failed.step,
            "reason": failed.reason,
        }
        if self.writer is not None:
            try:
                self._write_best()
                self._save_metrics(final=True)
            except TrainingFailed:
                pass  # the folder cannot be written: the failure to report is the first one
            self._close_writer(quiet=True)
        if self.run_dir is not None:
            self._write_outcome("failed", {**event, "epochs_run": self.epochs_done})
        self.emit(event)
        return event
