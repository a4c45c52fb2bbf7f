"""Trainer overhead: the trainer versus a plain PyTorch loop and Keras `fit`, same model, data and steps.

For each network (the digits_cnn example, a four times wider CNN and an MLP, all on the
built-in digits, all 1,797 samples, standardized by the model itself, batch 64, Adam at 1e-3) it trains with
  (a) studio.train.engine.run_training, in process with a no-op control (it still writes its
      run folder, emits its events, keeps the best weights and checks every loss for NaN),
  (b) a plain hand-written PyTorch loop over tensors on the device (the baseline),
  (c) Keras 3 `fit` on the torch backend, with the Keras code Layer Studio generates,
and prints samples/s of each one's fastest epoch (epoch 1 is warm-up: allocator, cuDNN
autotuning, torch.compile). (a) and (b) run in turn, epoch by epoch (each epoch event of the
trainer runs one epoch of the plain loop), and a/b is the median of the paired epochs' ratios:
on a shared machine whose load swings, pairs see the same conditions. Goal of issue 5:
a/b >= 0.97.

Run: .venv/bin/python benchmarks/trainer_overhead.py [--device cpu|cuda|mps] [--precision fp32|bf16|fp16]
     [--compile] [--epochs 8] [--repeats 3] [--models digits_cnn,wide_cnn,mlp] [--threads N]
     [--no-keras] [--clock wall|cpu]
On a GPU: --device cuda --precision bf16 --compile (the plain loop and Keras get the same).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from graph_scale import machine as base_machine

from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch, module_names
from studio.graph.model import Graph
from studio.graph.project import Project, load_project, project_to_dict
from studio.train import datasets, layer_stats
from studio.train.engine import NoControl, TrainRequest, run_training

EXAMPLE = (
    Path(__file__).resolve().parents[1] / "assets" / "examples" / "digits_cnn.lstudio"
)
BATCH = 64
LEARNING_RATE = 1e-3
SEED = 0
GOAL = 0.97
CLOCKS = {
    "wall": time.perf_counter,
    "cpu": time.process_time,
}  # cpu: all threads of this process


# ----- the networks -----
def digits_cnn() -> Project:
    """The example as shipped (two 3x3 convolutions of 16 and 32 channels, 64 hidden units)."""
    return load_project(EXAMPLE)


def wide_cnn() -> Project:
    """The example four times wider (64 and 128 channels, 256 hidden units): a less trivial step."""
    project = load_project(EXAMPLE)
    graph = project.graph
    ids = {node.name: node_id for node_id, node in graph.nodes.items()}
    graph.set_param(ids["conv1"], "out_channels", 64)
    graph.set_param(ids["conv2"], "out_channels", 128)
    graph.set_param(ids["fc1"], "out_features", 256)
    project.name = "wide_cnn"
    return project


def mlp() -> Project:
    """Flatten, then three Linear layers of 512, 512 and 10 with ReLU between (cheap steps)."""
    graph = Graph()
    chain = [
        graph.add_node("Input", "image", {"shape": (1, 8, 8)}),
        graph.add_node("Flatten", "flatten"),
        graph.add_node("Linear", "fc1", {"out_features": 512}),
        graph.add_node("ReLU", "relu1"),
        graph.add_node("Linear", "fc2", {"out_features": 512}),
        graph.add_node("ReLU", "relu2"),
        graph.add_node("Linear", "logits", {"out_features": 10}),
        graph.add_node("Output", "digit"),
    ]
    for a, b in itertools.pairwise(chain):
        graph.connect(a.id, "out", b.id, "in")
    return Project(name="mlp", graph=graph, training=load_project(EXAMPLE).training)


NETWORKS: dict[str, Callable[[], Project]] = {
    "digits_cnn": digits_cnn,
    "wide_cnn": wide_cnn,
    "mlp": mlp,
}


# ----- the three ways to train -----
def data() -> tuple[np.ndarray, np.ndarray]:
    """All of digits as they come: every model standardizes its input itself, as the trainer's does."""
    dataset = datasets.load_dataset("digits", input_shape=(1, 8, 8))
    return np.ascontiguousarray(dataset.x), np.ascontiguousarray(dataset.y)


def as_trained(project: Project) -> Project:
    """The network the trainer builds (validation_split 0): its Input standardizes with the data's statistics."""
    dataset = datasets.load_dataset("digits", input_shape=(1, 8, 8))
    return datasets.with_standardization(project, datasets.Normalizer.fit(dataset))


class PlainLoop:
    """(b) the loop a careful person writes by hand: tensors on the device, a shuffled index per epoch."""

    def __init__(
        self, project: Project, args: argparse.Namespace, x: np.ndarray, y: np.ndarray
    ) -> None:
        device = self.device = torch.device(args.device)
        model = build_torch_model(generate_pytorch(project), SEED).to(device).train()
        # fused Adam on CUDA, as the trainer has it: the ratio measures overhead, not the optimizer
        fused = {"fused": True} if device.type == "cuda" else {}
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, **fused)
        self.net = (
            torch.compile(model) if args.compile and device.type == "cuda" else model
        )
        self.loss_fn = torch.nn.CrossEntropyLoss()
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
        self.dtype = amp if device.type == "cuda" else None
        fp16 = self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None
        self.xs, self.ys = (
            torch.from_numpy(x).to(device),
            torch.from_numpy(y).to(device),
        )

    def epoch(self) -> None:
        """One pass over the data; returns when the device has done the work."""
        xs, ys, net, loss_fn = self.xs, self.ys, self.net, self.loss_fn
        optimizer, scaler, dtype = self.optimizer, self.scaler, self.dtype
        order = torch.randperm(len(xs), device=self.device)
        for lo in range(0, len(xs), BATCH):
            index = order[lo : lo + BATCH]
            if dtype is None:
                loss = loss_fn(net(xs[index]), ys[index])
            else:
                with torch.autocast(self.device.type, dtype=dtype):
                    loss = loss_fn(net(xs[index]), ys[index])
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        loss.item()  # a GPU runs ahead of Python: wait for the epoch's work


def trainer_and_plain_loop(
    project: Project, args: argparse.Namespace, x: np.ndarray, y: np.ndarray
) -> list[tuple[float, float]]:
    """(a) and (b) in turn, epoch by epoch: (trainer, plain loop) seconds of epochs 2..N.

    run_training runs in this process with a no-op control; each of its epoch events runs
    one epoch of the plain loop, whose time is left out of the trainer's. Paired epochs see
    the same machine, so their ratio holds even where the load of a shared machine swings.
    """
    clock = CLOCKS[args.clock]
    plain = PlainLoop(as_trained(project), args, x, y)
    pairs: list[tuple[float, float]] = []
    resumed_at: float | None = (
        None  # when the trainer went on after the last plain epoch
    )

    def emit(event: dict[str, Any]) -> None:
        nonlocal resumed_at
        if event["kind"] == "failed":
            raise SystemExit(f"the trainer failed: {event['message']}")
        if event["kind"] != "epoch":
            return
        paused = clock()
        plain.epoch()
        plain_seconds = clock() - paused
        if resumed_at is not None:  # the first epoch of each is warm-up
            pairs.append((paused - resumed_at, plain_seconds))
        resumed_at = clock()

    overrides = {
        "epochs": args.epochs,
        "batch_size": BATCH,
        "optimizer": "adam",
        "learning_rate": LEARNING_RATE,
        "schedule": "constant",
        "validation_split": 0.0,
        "dataset": "digits",
        "device": args.device,
        "precision": args.precision,
        "compile": args.compile,
        "seed": SEED,
    }
    with tempfile.TemporaryDirectory() as root:
        request = TrainRequest(project_to_dict(project), None, overrides, root)
        run_training(request, emit, NoControl())
    return pairs


def probe_cost(project: Project, args: argparse.Namespace, x: np.ndarray, y: np.ndarray, rounds: int = 7, steps: int = 20) -> float:
    """Seconds a probed step (per-layer statistics gathered) takes beyond a plain one: the median over interleaved rounds."""
    plain = PlainLoop(as_trained(project), args, x, y)
    model = plain.net
    probe = layer_stats.LayerProbe(getattr(model, "_orig_mod", model), module_names(as_trained(project)), activations=not args.compile, interval=0.0)
    xb, yb = plain.xs[:BATCH], plain.ys[:BATCH]
    clock = CLOCKS[args.clock]

    def run(probed: bool) -> float:
        began = clock()
        for _ in range(steps):
            if probed:
                probe.arm()
            loss = plain.loss_fn(model(xb), yb)
            plain.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            plain.optimizer.step()
            if probed:
                probe.finish()
        probe.read()
        if plain.device.type == "cuda":
            torch.cuda.synchronize()
        return (clock() - began) / steps

    extra = [run(True) - run(False) for _ in range(rounds)]
    return statistics.median(extra)


def with_keras(
    project: Project, args: argparse.Namespace, x: np.ndarray, y: np.ndarray
) -> list[float]:
    """(c) Keras 3 `fit` on the torch backend with Layer Studio's generated Keras model: seconds of epochs 2..N."""
    import keras

    from studio.codegen.keras import generate_keras

    keras.utils.set_random_seed(SEED)
    if args.precision != "fp32" and args.device == "cuda":
        keras.mixed_precision.set_global_policy(
            "mixed_bfloat16" if args.precision == "bf16" else "mixed_float16"
        )
    namespace: dict[str, Any] = {"__name__": "keras_model"}
    exec(compile(generate_keras(as_trained(project)), "model_keras.py", "exec"), namespace)  # noqa: S102 - our generated code
    model = namespace["build_model"]()
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=bool(args.compile),
    )
    marks: list[float] = []

    class Marks(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            marks.append(CLOCKS[args.clock]())

    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[Marks()],
    )
    keras.mixed_precision.set_global_policy("float32")
    return [b - a for a, b in itertools.pairwise(marks)]


# ----- report -----
def machine(device: str) -> str:
    """The CPU and Python (as graph_scale.py says them), then torch, its threads and the device."""
    text = base_machine()
    text += f"; torch {torch.__version__}, {torch.get_num_threads()} threads"
    if device == "cuda":
        text += f"; GPU {torch.cuda.get_device_name()}"
    return text


def keras_version(device: str) -> str | None:
    os.environ.setdefault(
        "KERAS_TORCH_DEVICE", device
    )  # read when keras is first imported
    try:
        import keras
    except Exception:  # noqa: BLE001 - keras missing or its backend unusable: the column is left out
        return None
    return f"keras {keras.__version__} ({keras.backend.backend()} backend)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (GPU only, as in the trainer)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=8,
        help="epochs per measurement (the first is warm-up)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each (more: steadier figures)",
    )
    parser.add_argument(
        "--models",
        default=",".join(NETWORKS),
        help="comma-separated: " + ", ".join(NETWORKS),
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch.set_num_threads (default: torch's own choice)",
    )
    parser.add_argument("--no-keras", action="store_true", help="leave out Keras fit")
    parser.add_argument(
        "--layer-stats",
        default="on",
        choices=("on", "off"),
        help="the trainer's per-layer statistics (one probed step every 0.25 s), as users get them, or off",
    )
    parser.add_argument(
        "--clock",
        default="wall",
        choices=tuple(CLOCKS),
        help="wall time, or the CPU time of this process (steadier on a shared CPU machine; "
        "meaningless for a GPU)",
    )
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is warm-up)")
    unknown = [m for m in args.models.split(",") if m not in NETWORKS]
    if unknown:
        parser.error(
            f"unknown model {unknown[0]!r} (choose from {', '.join(NETWORKS)})"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.layer_stats == "off":
        layer_stats.PROBE_INTERVAL = math.inf  # one probed step in the whole run
    keras_info = None if args.no_keras else keras_version(args.device)
    precision = args.precision if args.device == "cuda" else "fp32"
    compiled = "on" if args.compile and args.device == "cuda" else "off"
    print(f"Machine: {machine(args.device)}")
    print(
        f"Data: digits, 1,797 samples of 1x8x8, batch {BATCH}, Adam lr {LEARNING_RATE}; {args.epochs} epochs "
        f"per run, {args.repeats} runs; device {args.device}, precision {precision}, compile {compiled}, "
        f"{args.clock} clock; per-layer statistics {args.layer_stats}; " + (keras_info or "Keras left out")
    )
    print(
        "samples/s: of the fastest epoch (epoch 1 is warm-up). a/b: the median over epochs of the\n"
        "trainer's throughput over the plain loop's in the epoch run right after it (paired).\n"
        "c/b: Keras's fastest epoch over the plain loop's.\n"
    )
    x, y = data()
    print(
        f"{'network':<11} {'params':>9}  {'(b) plain loop':>14}  {'(a) trainer':>11}  {'a/b':>5}  "
        f"{'(c) Keras fit':>13}  {'c/b':>4}"
    )
    ratios: list[float] = []
    probes: list[str] = []
    for name in args.models.split(","):
        project = NETWORKS[name]()
        model = build_torch_model(generate_pytorch(project), SEED)
        params = sum(p.numel() for p in model.parameters())
        pairs: list[tuple[float, float]] = []
        keras_epochs: list[float] = []
        for _ in range(args.repeats):
            pairs += trainer_and_plain_loop(project, args, x, y)
            if keras_info:
                try:
                    keras_epochs += with_keras(project, args, x, y)
                # Keras may refuse a setting (jit_compile, a policy): say so and go on
                except Exception as err:  # noqa: BLE001
                    print(f"({name}: Keras fit failed: {type(err).__name__}: {err})")
        plain = len(x) / min(b for _, b in pairs)
        ours = len(x) / min(a for a, _ in pairs)
        ratio = statistics.median(b / a for a, b in pairs)
        ratios.append(ratio)
        extra = probe_cost(project, args, x, y)
        probes.append(f"{name:<11} +{extra * 1e3:.2f} ms per probed step: {extra / layer_stats.PROBE_INTERVAL:.2%} of the time at one probe every {layer_stats.PROBE_INTERVAL:g} s")
        keras_cols = f"{'-':>13}  {'-':>4}"
        if keras_epochs:
            keras_rate = len(x) / min(keras_epochs)
            keras_cols = f"{keras_rate:>13,.0f}  {keras_rate / plain:>4.2f}"
        print(
            f"{name:<11} {params:>9,}  {plain:>14,.0f}  {ours:>11,.0f}  {ratio:>5.3f}  {keras_cols}"
        )
    print("\nPer-layer statistics (measured apart, interleaved rounds of plain and probed steps):\n" + "\n".join(probes))
    verdict = "met" if min(ratios) >= GOAL else "missed"
    print(
        f"\nGoal: trainer >= {GOAL} of the plain loop: {verdict} (lowest a/b {min(ratios):.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
