"""Prove an exported file: run it in its runtime and through PyTorch on the same batch, and compare.

The reference is the project's PyTorch model with the numbers the export was made from (the
project's own weights, a weights file, or the seeded start), as `export_project` builds it. The
batch is the project's own data where it loads (the validation split first), else random input.
The file runs in a child process (`studio.verify.child`), so a runtime that crashes, or two that
clash (Keras can hold one backend per process), never touch the caller.
"""

from __future__ import annotations

import io
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.child import ChildFailed, ChildStopped, run_module
from studio.graph.project import Project
from studio.graph.regular_files import NotRegularFileError, check_regular
from studio.verify.runtimes import (
    DEFAULT_RUNTIME,
    RUNTIMES,
    RuntimeUnavailable,
    check_runtime,
    companion,
    file_kind,
    timed,
)

TOLERANCE = 1e-4  # the largest difference, relative to the reference's largest magnitude, that still matches
TIMEOUT_S = 600
REPEATS = 5  # timed runs after the warm-up one
SAMPLES = 8


class VerifyError(Exception):
    """The file cannot be verified (missing, unreadable, its runtime absent or refusing it); the message says why."""


@dataclass(frozen=True)
class Verification:
    """What running an export in its runtime showed, against PyTorch on the same batch."""

    file: Path
    runtime: str
    backend: str | None
    size_bytes: int
    samples: int
    inputs_from: str
    max_abs: float
    max_rel: float
    seconds_per_sample: float
    reference_seconds_per_sample: float

    @property
    def ok(self) -> bool:
        """Whether the file computes what the project does, within TOLERANCE."""
        return self.max_rel <= TOLERANCE

    @property
    def runtime_label(self) -> str:
        """The runtime as a user reads it: "Keras on jax", "ONNX Runtime"."""
        label = RUNTIMES[self.runtime].label
        return f"{label} on {self.backend}" if self.backend else label

    def rows(self) -> list[tuple[str, str]]:
        """What was measured, as (name, value) rows."""
        return [
            ("Largest difference", f"{self.max_abs:.3g} ({self.max_rel:.3g} relative)"),
            ("Inputs", f"{self.samples} samples of {self.inputs_from}"),
            ("Latency per sample", f"{_ms(self.seconds_per_sample)} (PyTorch {_ms(self.reference_seconds_per_sample)}) on this machine"),
            ("File size", size_text(self.size_bytes)),
        ]

    def lines(self) -> list[str]:
        """The result in a few lines, for the command line."""
        verdict = "matches PyTorch" if self.ok else f"DIFFERS from PyTorch (more than {TOLERANCE:g} relative)"
        return [f"{self.file.name} in {self.runtime_label}: {verdict}", *(f"{name.lower()}: {value}" for name, value in self.rows())]

    def as_dict(self) -> dict[str, object]:
        """The result as JSON-ready values."""
        return {
            "file": str(self.file),
            "runtime": self.runtime,
            "backend": self.backend,
            "ok": self.ok,
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "tolerance": TOLERANCE,
            "samples": self.samples,
            "inputs": self.inputs_from,
            "seconds_per_sample": self.seconds_per_sample,
            "reference_seconds_per_sample": self.reference_seconds_per_sample,
            "size_bytes": self.size_bytes,
        }


def verify_export(
    path: str | Path,
    project: Project,
    project_path: str | Path | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    runtime: str | None = None,
    backend: str | None = None,
    samples: int = SAMPLES,
    cancel: threading.Event | None = None,
) -> Verification:
    """Run the export `path` of `project` in `runtime` (the file's own by default) and through PyTorch, and compare.

    `weights`/`seed` name the numbers the export was made from, as for `export_project` (the
    project's own weights, edited layers seeded). `backend` picks Keras's backend (the user's
    choice, else torch). `cancel` stops the runtime's child at once.

    Raises:
        VerifyError: the file, its weights file or its runtime is missing, or the runtime cannot run it.
        WeightsError, CodegenError: the reference cannot be built from the project.
    """
    path = Path(path)
    try:
        check_regular(path)
    except NotRegularFileError as err:
        raise VerifyError(str(err)) from None
    except OSError:
        raise VerifyError(f"{path}: no such file") from None
    try:
        kind = file_kind(path)
        chosen = check_runtime(runtime or DEFAULT_RUNTIME[kind], kind)
    except (RuntimeUnavailable, OSError) as err:
        raise VerifyError(str(err)) from None
    keras_backend = _keras_backend(backend) if chosen.name == "keras" else None
    extra = companion(path, kind)
    if extra is not None and extra.exists() and not extra.is_file():
        raise VerifyError(f"{path}: its weights {extra.name} are not a regular file; export again to write both")
    if extra is not None and not extra.is_file():
        raise VerifyError(f"{path}: its weights {extra.name} are not beside it; export again to write both")
    inputs, inputs_from = _inputs(project, project_path, samples, seed)
    reference, reference_seconds = _reference(project, weights, seed, inputs)
    if any(not np.isfinite(y).all() for y in reference) and inputs_from == "random input":
        inputs = [np.abs(x) + 0.25 if x.dtype.kind == "f" else x for x in inputs]  # into the domain of log, sqrt, ...
        reference, reference_seconds = _reference(project, weights, seed, inputs)
    fed = _caffe_fed(project, inputs) if kind == "caffe" else inputs
    outputs, seconds = _run_child(chosen.name, path, extra, fed, keras_backend, cancel)
    max_abs, max_rel = _compare(path, reference, outputs)
    count = len(inputs[0])
    return Verification(path, chosen.name, keras_backend, _file_size(path, extra), count, inputs_from, max_abs, max_rel, seconds / count, reference_seconds / count)


def _keras_backend(backend: str | None) -> str:
    from studio.codegen.keras_backend import (
        BACKEND_PACKAGES,
        DEFAULT_BACKEND,
        chosen_backend,
    )

    choice = backend or (chosen_backend() or (DEFAULT_BACKEND, ""))[0]
    if choice not in BACKEND_PACKAGES:
        raise VerifyError(f"unknown Keras backend {choice!r}: choose one of {', '.join(BACKEND_PACKAGES)}")
    return choice


def _inputs(project: Project, project_path: str | Path | None, samples: int, seed: int) -> tuple[list[np.ndarray], str]:
    """A batch for the network's Inputs: the project's data where it loads, else random numbers (token ids below the vocabulary)."""
    inputs = [node for node in project.graph.nodes.values() if node.type == "Input"]
    if len(inputs) == 1:
        data = _project_data(project, project_path, inputs[0], seed)
        if data is not None:
            return [data[:samples]], f"the project's data ({project.training.dataset})"
    rng = np.random.default_rng(seed)
    vocab = min((int(n.params["num_embeddings"]) for n in project.graph.nodes.values() if n.type == "Embedding"), default=2)
    batch = []
    for node in inputs:
        shape = (samples, *(int(d) for d in node.params["shape"]))
        if node.params["dtype"] == "int64":
            batch.append(rng.integers(0, vocab, shape, dtype=np.int64))
        else:
            batch.append(rng.standard_normal(shape, dtype=np.float32))
    return batch, "random input"


def _project_data(project: Project, project_path: str | Path | None, node, seed: int) -> np.ndarray | None:
    from studio.train import datasets

    try:
        data = datasets.load_dataset(
            project.training.dataset,
            input_shape=tuple(int(d) for d in node.params["shape"]),
            target=project.training.target,
            base_dir=Path(project_path).parent if project_path else None,
            seed=seed,
            input_dtype=str(node.params["dtype"]),
        )
        train, held = datasets.split(data, project.training.validation_split, project.training.seed)
    except datasets.DatasetError:
        return None
    x = held.x if len(held.x) else train.x
    want = np.int64 if node.params["dtype"] == "int64" else np.float32
    return np.ascontiguousarray(x, dtype=want) if len(x) else None


def _caffe_fed(project: Project, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The inputs as a Caffe export takes them: standardized per channel where its header leaves that to the caller."""
    from studio.codegen.caffe import standardized_by_caller

    nodes = [node for node in project.graph.nodes.values() if node.type == "Input"]
    fed = []
    for node, x in zip(nodes, inputs, strict=True):
        if standardized_by_caller(node):
            axes = (1, -1, *(1,) * (x.ndim - 2))
            x = ((x - np.reshape(node.params["mean"], axes)) / np.reshape(node.params["std"], axes)).astype(np.float32)
        fed.append(x)
    return fed


def _reference(project: Project, weights: str | Path | None, seed: int, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """The project's PyTorch outputs on `inputs` with the export's numbers, and the time of one run."""
    import torch

    from studio.codegen.export import Weights
    from studio.codegen.pytorch import generate_pytorch

    model = Weights(seed, Path(weights) if weights else None, project, partial=True).model(generate_pytorch(project), "<reference>")
    tensors = [torch.from_numpy(x) for x in inputs]

    def run() -> list[np.ndarray]:
        with torch.no_grad():
            outputs = model(*tensors)
        return [item.numpy() for item in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]

    return timed(run, REPEATS)


def _run_child(runtime: str, path: Path, weights: Path | None, inputs: list[np.ndarray], backend: str | None, cancel: threading.Event | None) -> tuple[list[np.ndarray], float]:
    with tempfile.TemporaryDirectory(prefix="layer-studio-verify-") as folder:
        given, got = Path(folder) / "inputs.npz", Path(folder) / "outputs.npz"
        buffer = io.BytesIO()
        np.savez(buffer, **{f"x{i}": x for i, x in enumerate(inputs)})
        given.write_bytes(buffer.getvalue())
        args = [runtime, str(path.resolve()), str(weights.resolve()) if weights else "-", str(given), str(got), str(REPEATS)]
        env = {"KERAS_BACKEND": backend} if backend else None
        try:
            run_module("studio.verify.child", args, Path(folder), TIMEOUT_S, cancel, doing=f"running {path.name} in {RUNTIMES[runtime].label}", env=env)
        except ChildStopped:
            raise VerifyError(f"{path.name}: the verification was stopped") from None
        except ChildFailed as err:
            raise VerifyError(str(err)) from None
        with np.load(got) as data:
            outputs = [data[f"y{i}"] for i in range(len(data.files) - 1)]
            return outputs, float(data["seconds"])


def _compare(path: Path, reference: list[np.ndarray], outputs: list[np.ndarray]) -> tuple[float, float]:
    """The largest absolute difference over all outputs, and that relative to the reference's largest magnitude."""
    if len(outputs) != len(reference):
        raise VerifyError(f"{path.name} gives {len(outputs)} outputs and the project {len(reference)}: is it an export of this project?")
    worst_abs, worst_rel = 0.0, 0.0
    for index, (want, got) in enumerate(zip(reference, outputs, strict=True)):
        if got.size == want.size and got.shape != want.shape:
            got = got.reshape(want.shape)  # a runtime that keeps a squeezed or flattened form of the same values
        if got.shape != want.shape:
            raise VerifyError(f"{path.name}: output {index} has shape {got.shape} where the project gives {want.shape}: is it an export of this project?")
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        both_nan = np.isnan(diff) & np.isnan(want)
        diff = np.where(both_nan, 0.0, np.nan_to_num(diff, nan=np.inf))  # NaN where PyTorch has a number is a mismatch
        largest = float(np.max(diff)) if diff.size else 0.0
        scale = float(np.nanmax(np.abs(want))) if want.size and not np.isnan(want).all() else 0.0
        worst_abs = max(worst_abs, largest)
        worst_rel = max(worst_rel, largest / max(scale, 1e-12))
    return worst_abs, worst_rel


def _file_size(path: Path, weights: Path | None) -> int:
    return path.stat().st_size + (weights.stat().st_size if weights is not None else 0)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.3g} µs"


def size_text(size: int) -> str:
    """A file size as people read it: 812 bytes, 150 KiB, 2.3 MiB."""
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:.3g} KiB" if size < 1024**2 else f"{size / 1024**2:.3g} MiB"


__all__ = ["TOLERANCE", "Verification", "VerifyError", "size_text", "verify_export"]
