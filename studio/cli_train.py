"""`layer-studio train`: the project's network trained by the same worker as the editor's Train button."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from typing import Any, TextIO

from studio.cli_check import check_report
from studio.cli_status import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREADABLE,
    add_weights_limit,
    apply_weights_limit,
    read_project,
)

EXIT_STOPPED = 130
TRAIN_FLAGS = {"learning_rate": ("--lr", "--learning-rate")}  # others: --the-name
# NOTE: the engine reports bad input (settings, project, data, device, --resume, --out) as a
# "failed" event before its "start" event; such a failure exits 2, one after it exits 1. An
# explicit "reason" in the event wins; a dead or crashed child (exit_code, error) always exits 1.
INPUT_FAILURES = ("data", "settings", "project", "arguments")
TRAIN_EPILOG = """\
Settings not given keep the project's values. Runs are written to
DIR/<project name>/<timestamp>/ (config.json, metrics.csv, best.pt, last.pt, model.py, and
the trained network as project.lstudio with its weights.npz), where DIR is --out, by default
./runs in the current folder. The project file is never changed: export the trained network
from RUN_FOLDER/project.lstudio, whose Input standardizes the data as training did.

With --json, stdout carries one JSON object per line: one per epoch with the keys
epoch, train_loss, val_loss, val_accuracy, samples_per_s, seconds, train_samples,
val_samples, batch_size (a language model's add val_perplexity and sample, the text it
wrote after its prompt); then {"done": true, "run_dir", "best_val_accuracy"} (and
"best_val_perplexity" for a language model; "stopped_by_user": true after Ctrl-C), or
{"done": false, "message"} on failure. Progress goes to stderr: a live line on a terminal,
otherwise one line per epoch (--json). Without --json, a language model's sample follows
each epoch's line.

Exit status: 0 trained; 1 the run failed once training had started (non-finite loss, out
of memory, the training process died); 2 bad arguments, project, data or device (anything
refused before the first step); 130 stopped with Ctrl-C."""
TEXT_EPOCH_KEYS = ("val_perplexity", "sample")  # a language model's epochs add these
JSON_EPOCH_KEYS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "samples_per_s",
    "seconds",
    "train_samples",
    "val_samples",
    "batch_size",
)


def add_train_parser(sub: Any) -> None:
    from studio.graph.project import TRAINING_PARAMS

    train = sub.add_parser(
        "train",
        help="train the project's network on its dataset",
        description="Train the project's network in a child process, with the project's "
        "training settings and the overrides given here.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("file", help="a .lstudio project file")
    train.add_argument(
        "--dataset",
        metavar="NAME|PATH",
        help="a built-in dataset (digits, spirals, moons, blobs, sine, sequence, alice) or a "
        "data file or folder (CSV, .npz, IDX, CIFAR-10 batches, image folders; a .txt text "
        "for a language model, whose Input takes int64 token ids)",
    )
    for param in TRAINING_PARAMS:
        flags = _train_flags(param.name)
        if param.kind == "bool":
            train.add_argument(
                *flags,
                dest=param.name,
                action=argparse.BooleanOptionalAction,
                help=param.help,
            )
            continue
        if param.kind == "choice":
            metavar, text = "{" + ",".join(param.choices) + "}", param.help
        else:
            metavar = "N" if param.kind == "int" else "X"
            text = f"{param.help.rstrip('.')}: {param.describe()}"
        train.add_argument(*flags, dest=param.name, metavar=metavar, help=text)
    train.add_argument(
        "--target",
        metavar="COLUMN",
        help="the target column of a CSV file (default: the last)",
    )
    train.add_argument(
        "--resume",
        metavar="LAST_PT",
        help="continue the run whose last.pt checkpoint this is (into a new run folder)",
    )
    train.add_argument(
        "--out",
        metavar="DIR",
        default="runs",
        help="where runs are written: DIR/<project>/<timestamp>/ (default: ./runs)",
    )
    train.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line per epoch and a final one",
    )
    add_weights_limit(train)
    train.set_defaults(run=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.graph.params import ParamValueError
    from studio.graph.project import project_to_dict

    apply_weights_limit(args)
    project = read_project(args.file)
    if project is None:
        return EXIT_UNREADABLE
    try:
        overrides = train_overrides(args)
    except ParamValueError as err:
        print(f"layer-studio train: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    errors = [
        d for d in check_report(project)["diagnostics"] if d["severity"] == "error"
    ]
    if errors:
        print(
            f"layer-studio train: {args.file}: the network has errors; fix them first "
            f"(`layer-studio check {args.file}` lists them):",
            file=sys.stderr,
        )
        for d in errors:
            print(
                f"  {d['node'] + ': ' if d['node'] else ''}{d['message']}",
                file=sys.stderr,
            )
        return EXIT_UNREADABLE

    from studio.train.request import TrainRequest
    from studio.train.worker import TrainingWorker

    request = TrainRequest(
        project_to_dict(project), os.path.abspath(args.file), overrides, os.path.abspath(args.out)
    )
    report = TrainReport(args.file, project.name, as_json=args.json)
    return run_training_worker(TrainingWorker(request), report)


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given as flags, validated; ParamValueError names the flag."""
    from studio.graph.params import ParamValueError
    from studio.graph.project import TRAINING_PARAMS

    overrides: dict[str, Any] = {}
    for param in TRAINING_PARAMS:
        text = getattr(args, param.name)
        if text is None:
            continue
        flag = _train_flags(param.name)[0]
        try:
            kinds = {"int": int, "float": float}
            value = kinds[param.kind](text) if param.kind in kinds else text
            overrides[param.name] = param.validate(value)
        except (ValueError, OverflowError):
            raise ParamValueError(
                f"{flag} must be {param.describe()}, not {text!r}"
            ) from None
    if args.dataset is not None:
        if not args.dataset.strip():
            raise ParamValueError(
                "--dataset must name a built-in dataset or a data path"
            )
        from studio.train.datasets import builtin_names

        # A path given in the shell is relative to the current folder, not the project's.
        is_path = args.dataset not in builtin_names()
        overrides["dataset"] = (
            os.path.abspath(os.path.expanduser(args.dataset))
            if is_path
            else args.dataset
        )
    if args.target is not None:
        overrides["target"] = args.target
    if args.resume is not None:
        overrides["resume"] = os.path.abspath(os.path.expanduser(args.resume))
    return overrides


def _train_flags(name: str) -> tuple[str, ...]:
    return TRAIN_FLAGS.get(name, ("--" + name.replace("_", "-"),))


def run_training_worker(worker: Any, report: TrainReport) -> int:
    """Start the worker, show its events until the run ends; Ctrl-C stops it (exit 130)."""
    interrupted = started = False
    final: dict[str, Any] | None = None
    try:
        worker.start()
        while final is None:
            try:
                for event in worker.poll(timeout=0.1):
                    report.show(event)
                    started = started or event.get("kind") == "start"
                    if event.get("kind") in ("done", "failed"):
                        final = event
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                report.note("stopping the run (press Ctrl-C again to end it at once)")
                worker.stop()
    finally:
        worker.close()
    assert final is not None
    if interrupted or final.get("stopped_by_user"):
        return EXIT_STOPPED
    if final["kind"] == "done":
        return EXIT_OK
    return EXIT_UNREADABLE if _bad_input(final, started) else EXIT_INVALID


def _bad_input(failed: dict[str, Any], started: bool) -> bool:
    if "reason" in failed:
        return failed["reason"] in INPUT_FAILURES
    return not started and "exit_code" not in failed and "error" not in failed


class TrainReport:
    """What `layer-studio train` shows: progress on stderr, epochs and the result on stdout."""

    def __init__(
        self,
        project_file: str,
        project_name: str,
        *,
        as_json: bool,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.project_file = project_file
        self.project_name = project_name
        self.as_json = as_json
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.live = self.err.isatty()
        self.epochs = self.steps_per_epoch = self.steps_before = (
            0  # before: when resumed
        )
        self.started_at = time.monotonic()
        self.line_shown = False
        self.prompt = ""

    def show(self, event: dict[str, Any]) -> None:
        """Show one event from the worker."""
        handler = getattr(self, "_on_" + str(event.get("kind")), None)
        if handler is not None:
            handler(event)

    def note(self, text: str) -> None:
        """A line on stderr, under the live progress line."""
        self._clear()
        print(f"layer-studio train: {text}", file=self.err, flush=True)

    def _on_start(self, event: dict[str, Any]) -> None:
        self.epochs = int(event.get("epochs") or 0)
        self.steps_per_epoch = int(event.get("steps_per_epoch") or 0)
        self.steps_before = (
            int(event.get("first_epoch") or 1) - 1
        ) * self.steps_per_epoch
        self.started_at = time.monotonic()
        self.prompt = str(event.get("prompt") or "")
        samples = event.get("train_samples"), event.get("val_samples")
        self.note(
            f"training {self.project_name} on {event.get('device', '?')}: "
            f"{_count(samples[0])} training and {_count(samples[1])} validation samples, "
            f"batch size {event.get('batch_size', '?')}, "
            f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}; "
            f"run folder {event.get('run_dir', '?')}"
        )

    def _on_step(self, event: dict[str, Any]) -> None:
        if not self.live:
            return
        step, steps = event.get("step") or 0, self.steps_per_epoch
        global_step, total = event.get("global_step") or 0, self.epochs * steps
        speed = event.get("samples_per_s")
        columns = shutil.get_terminal_size().columns - 1
        bar = ""
        if steps and columns >= 79:
            filled = min(10, 10 * step // steps)
            bar = " [" + "#" * filled + "." * (10 - filled) + "]"
        parts = [
            f"epoch {event.get('epoch')}/{self.epochs}{bar} {step}/{steps}",
            f"loss {_number(event.get('mean_loss', event.get('loss')))}",
        ]
        if isinstance(speed, (int, float)):
            parts.append(f"{speed:,.0f} samples/s")
        if global_step > self.steps_before and total:
            done = global_step - self.steps_before
            per_step = (time.monotonic() - self.started_at) / done
            parts.append(f"ETA {_duration(per_step * max(total - global_step, 0))}")
        self.err.write("\r" + "  ".join(parts)[:columns] + "\x1b[K")
        self.err.flush()
        self.line_shown = True

    def _on_epoch(self, event: dict[str, Any]) -> None:
        self._clear()
        epoch = f"epoch {event.get('epoch')}/{self.epochs}"
        accuracy, speed = event.get("val_accuracy"), event.get("samples_per_s")
        if self.as_json:
            line = {key: _finite(event.get(key)) for key in JSON_EPOCH_KEYS}
            if "sample" in event:
                line.update({key: _finite(event.get(key)) for key in TEXT_EPOCH_KEYS})
            print(json.dumps(line), file=self.out, flush=True)
            if not self.live:
                eta = event.get("eta_seconds")
                parts = [f"{epoch}: loss {_number(event.get('train_loss'))}"]
                if accuracy is not None:
                    parts.append(f"validation accuracy {_percent(accuracy)}")
                if isinstance(eta, (int, float)):
                    parts.append(f"ETA {_duration(eta)}")
                print(", ".join(parts), file=self.err, flush=True)
            return
        parts = [
            epoch,
            f"train loss {_number(event.get('train_loss'))}",
            f"val loss {_number(event.get('val_loss'))}",
        ]
        if accuracy is not None:
            parts.append(f"val accuracy {_percent(accuracy)}")
        if isinstance(event.get("val_perplexity"), (int, float)):
            parts.append(f"val perplexity {event['val_perplexity']:.2f}")
        if isinstance(speed, (int, float)):
            parts.append(f"{speed:,.0f} samples/s")
        parts.append(f"{float(event.get('seconds') or 0.0):.1f} s")
        print("  ".join(parts), file=self.out, flush=True)
        if isinstance(event.get("sample"), str):
            print(_sample_block(self.prompt + event["sample"]), file=self.out, flush=True)

    def _on_done(self, event: dict[str, Any]) -> None:
        self._clear()
        run_dir, best = event.get("run_dir"), event.get("best_val_accuracy")
        if self.as_json:
            line = {
                "done": True,
                "run_dir": run_dir,
                "best_val_accuracy": _finite(best),
            }
            if "best_val_perplexity" in event:
                line["best_val_perplexity"] = _finite(event["best_val_perplexity"])
            if event.get("stopped_by_user"):
                line["stopped_by_user"] = True
            print(json.dumps(line), file=self.out, flush=True)
            return
        if event.get("stopped_by_user"):
            how = "stopped by the user"
        elif event.get("stopped_early"):
            how = "stopped early: the validation loss no longer improved"
        else:
            how = "done"
        epochs = event.get("epochs_run", self.epochs)
        took = _duration(time.monotonic() - self.started_at)
        summary = f"{how}: {epochs} epoch{'s' if epochs != 1 else ''} in {took}"
        if best is not None:
            summary += f"; best validation accuracy {_percent(best)}"
        elif event.get("best_val_loss") is not None:
            summary += f"; best validation loss {_number(event['best_val_loss'])}"
        if isinstance(event.get("best_val_perplexity"), (int, float)):
            summary += f", perplexity {event['best_val_perplexity']:.2f}"
        trained = os.path.join(str(run_dir), "project.lstudio")
        print(summary, file=self.out)
        print(f"run folder: {run_dir}", file=self.out)
        print(
            f"export the trained network with: layer-studio export {trained} --to pytorch -o {self.project_name}.py",
            file=self.out,
            flush=True,
        )

    def _on_failed(self, event: dict[str, Any]) -> None:
        message = str(event.get("message") or "the run failed")
        epoch, step = event.get("epoch"), event.get("step")
        if epoch is not None and step is not None and "epoch" not in message:
            message += f" (epoch {epoch}, step {step})"
        self.note(message)
        if self.as_json:
            print(
                json.dumps({"done": False, "message": message}),
                file=self.out,
                flush=True,
            )

    def _clear(self) -> None:
        if self.line_shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self.line_shown = False


def _sample_block(text: str) -> str:
    """A language model's sample under its epoch's line: each of its lines indented behind a bar."""
    return "\n".join(["  sample:", *(f"  | {line}" for line in text.split("\n"))])


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _percent(value: Any) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "-"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
