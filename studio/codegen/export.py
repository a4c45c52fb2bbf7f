"""Write a project's exports to disk: generated source plus its weights, never half-written."""

from __future__ import annotations

import functools
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from studio.codegen.names import CodegenError
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.weights import (
    WeightsError,
    by_attribute,
    describe_key,
)
from studio.codegen.weights_reader import Entry, open_weights
from studio.graph.atomic import (
    check_target,
    describe_os_error,
    write_all_atomically,
    write_atomically,
)
from studio.graph.project import Project
from studio.graph.weights_file import keyed_by_node, npz_bytes
from studio.graph.weights_limit import WeightsLimitError, check_network

if TYPE_CHECKING:
    import torch

Files = list[tuple[Path, bytes]]
"""What an export writes: (path, content) pairs, companions (weights) before the main file."""
MAX_SCRIPT_DATA_BYTES = 256 * 2**20  # the largest training data an export writes beside a training script


class Progress(Protocol):
    """What an export tells as it works (the editor's progress dialog, the command line's progress line)."""

    def step(self, text: str) -> None:
        """The export starts `text` ("building the model"); raising here stops it, with nothing written."""

    def writing(self, text: str) -> None:
        """Everything is made and the files are written next; raising here is the last chance to stop it."""


class _Silent:
    """No one to tell."""

    def step(self, text: str) -> None:
        pass

    def writing(self, text: str) -> None:
        pass


class ExportWriteError(Exception):
    """An export that was generated but could not be written; the message names the path."""


@dataclass(frozen=True)
class ExportResult:
    """The files one export wrote, and what it had to leave out (one line each, saying what to do instead)."""

    files: tuple[Path, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Weights:
    """Where an export's numbers come from: a state dict file of `project`, or else a seeded initialization.

    With `partial`, the file may fit only in part (the project was edited since its weights were
    made): what fits is loaded, the rest keeps its seeded start, and `fresh` names those layers.
    """

    seed: int = 0
    path: Path | None = None
    project: Project | None = None
    partial: bool = False
    fresh: list[str] = field(default_factory=list)
    progress: Progress = field(default_factory=_Silent)

    def model(self, source: str, filename: str) -> torch.nn.Module:
        """Build the generated model and give it these weights (a network above the weights limit is refused first)."""
        self.progress.step("building the model")
        if self.project is not None:
            check_network_size(self.project)
        model = build_torch_model(source, self.seed, filename)
        if self.path is not None:
            self.progress.step(f"loading the weights {self.path.name}")
            left = load_weights(model, self.path, self.project, self.partial)
            self.fresh[:] = left
        return model


def _pytorch(project: Project, out: Path, weights: Weights) -> Files:
    import torch

    source = generate_pytorch(project)
    buffer = io.BytesIO()
    torch.save(weights.model(source, str(out)).state_dict(), buffer)
    return [(out.with_suffix(".pt"), buffer.getvalue()), (out, source.encode("utf-8"))]


def _keras(project: Project, out: Path, weights: Weights) -> Files:
    from studio.codegen.keras import generate_keras, write_keras_weights

    source = generate_keras(project)
    model = weights.model(generate_pytorch(project), str(out))
    weights.progress.step("converting the weights for Keras")
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / "staged.weights.h5"  # Keras insists on this suffix
        try:
            write_keras_weights(project, source, model.state_dict(), staged)
        except RecursionError:  # Keras walks a functional model's layers by recursion, a call per layer in a row
            raise CodegenError(
                "Keras cannot build this network: it walks a model's layers by recursion, and this one has more layers "
                "in a row than Python allows (a chain of about 600 builds; 1,000 does not): group layers into blocks, "
                "each of which Keras builds as a model of its own, or export to PyTorch or ONNX"
            ) from None
        data = staged.read_bytes()
    return [(keras_weights_path(out), data), (out, source.encode("utf-8"))]


def keras_weights_path(out: Path) -> Path:
    """Where the Keras weights of `out` go: model_keras.py -> model_keras.weights.h5."""
    return out.with_name(out.stem + ".weights.h5")


def _onnx(project: Project, out: Path, weights: Weights, opset: int | None = None) -> Files:
    from studio.codegen.onnx_export import onnx_bytes

    model = weights.model(generate_pytorch(project), str(out))
    weights.progress.step("converting to ONNX and checking it")
    return [(out, onnx_bytes(project, model, opset=opset))]  # None: the default opset


def _litert(project: Project, out: Path, weights: Weights, batch: int | None = None) -> Files:
    from studio.codegen.litert import DEFAULT_BATCH, litert_bytes

    model = weights.model(generate_pytorch(project), str(out))
    return [(out, litert_bytes(project, model, batch or DEFAULT_BATCH, weights.progress.step))]


def _caffe(project: Project, out: Path, weights: Weights) -> Files:
    """The deploy prototxt, and its weights beside it as NAME.caffemodel."""
    from studio.codegen.caffe import plan_caffe
    from studio.codegen.caffe_weights import caffemodel_bytes

    blobs = caffemodel_path(out)
    if blobs == out:
        raise CodegenError(f"{out.name}: the weights go to {blobs.name}: name the prototxt otherwise (NAME.prototxt)")
    net = plan_caffe(project)
    model = weights.model(generate_pytorch(project), str(out))
    weights.progress.step("converting the weights for Caffe")
    return [(blobs, caffemodel_bytes(project, model, net)), (out, net.text().encode("utf-8"))]


def caffemodel_path(out: Path) -> Path:
    """Where the Caffe weights of `out` go: model.prototxt -> model.caffemodel."""
    return out.with_suffix(".caffemodel")


def _script(project: Project, out: Path, weights: Weights) -> Files:
    """The script alone; with init 'weights', also the state dict it starts from (`<name>.pt` beside it)."""
    from studio.codegen.script import generate_script

    if project.training.init != "weights":
        return [(out, generate_script(project).encode("utf-8"))]
    import torch

    init = out.with_suffix(".pt")
    buffer = io.BytesIO()
    torch.save(weights.model(generate_pytorch(project), str(out)).state_dict(), buffer)
    return [(init, buffer.getvalue()), (out, generate_script(project, init.name).encode("utf-8"))]


def _script_data(project: Project, out: Path, project_path: str | Path | None) -> tuple[Files, tuple[str, ...], Project]:
    """The project's training data beside its script (x and y as the trainer loads them), or why not.

    A text's data also holds its vocabulary and prompt, so the script writes samples as the trainer does.

    Also the project the script trains: from a fresh start (init 'seed') its Input standardizes
    with statistics of the same training split the trainer would fit them on, so the script
    computes what the trainer does.
    """
    import numpy as np

    from studio.codegen.script import DATA_FILE
    from studio.train import datasets  # numpy only: no torch

    path = out.with_name(DATA_FILE)
    inputs = [node for node in project.graph.nodes.values() if node.type == "Input"]
    settings = project.training
    if len(inputs) != 1:
        reason = f"the trainer's datasets feed one Input and this network has {len(inputs)}"
    else:
        try:
            data = datasets.load_dataset(
                settings.dataset,
                input_shape=tuple(int(d) for d in inputs[0].params["shape"]),
                target=settings.target,
                base_dir=Path(project_path).parent if project_path else None,
                seed=settings.seed,
                input_dtype=str(inputs[0].params["dtype"]),
            )
            train, _ = datasets.split(data, settings.validation_split, settings.seed)
        except datasets.DatasetError as err:
            reason = _first_line(err)
        else:
            if settings.init == "seed":
                project = datasets.with_standardization(project, datasets.Normalizer.fit(train))
            size = data.x.nbytes + data.y.nbytes
            if size <= MAX_SCRIPT_DATA_BYTES:
                buffer = io.BytesIO()
                text = {"vocabulary": np.array(data.classes), "prompt": np.array(data.prompt)} if data.prompt else {}
                np.savez(buffer, x=data.x, y=data.y, **text)
                return [(path, buffer.getvalue())], (), project
            limit = MAX_SCRIPT_DATA_BYTES / 2**20
            reason = f"the data takes {size / 2**20:.3g} MiB, more than the limit of {limit:.3g} MiB"
    return [], (f"{path.name} was not written ({reason}): run {out.name} with --data FILE.npz",), project


EXPORTERS: dict[str, Callable[[Project, Path, Weights], Files]] = {
    "pytorch": _pytorch,
    "keras": _keras,
    "onnx": _onnx,
    "litert": _litert,
    "caffe": _caffe,
    "script": _script,
}
TARGETS = tuple(EXPORTERS)


def export_project(
    project: Project,
    target: str,
    out: str | Path,
    seed: int = 0,
    weights: str | Path | None = None,
    project_path: str | Path | None = None,
    opset: int | None = None,
    partial: bool = False,
    progress: Progress | None = None,
    batch: int | None = None,
) -> ExportResult:
    """Generate `target` for `project` and write it to `out` (plus weights beside it where it has them).

    The numbers are those of the state dict file `weights` (a trained or imported model), or
    else a deterministic initialization from `seed`; every target gets the same ones. A training
    script gets the project's data beside it (`project_path` locates a data file named relative
    to the project), unless it is larger than MAX_SCRIPT_DATA_BYTES: the result's warnings say so.
    With `partial` (the project's own weights, which an edit may have outgrown), the layers the
    weights no longer fit keep the seeded start and a warning names them; otherwise they must fit.
    `progress` hears each step; an exception it raises (a cancel) stops the export with nothing
    written. The files are written together (`write_all_atomically`): every one, or on any failure
    or Ctrl-C none, every target left as it was; a target that is not a regular file is refused. `opset` is
    the ONNX export's, `batch` the LiteRT export's static batch (default 1).

    Raises:
        CodegenError: the graph has errors or a layer the target cannot express.
        ExportWriteError: a file could not be written; nothing is left half-written.
        WeightsError: `weights` cannot be read or does not fit the network, or the network's weights pass the weights limit.
    """
    if target not in EXPORTERS:
        raise CodegenError(f"unknown export target {target!r}: choose one of {', '.join(TARGETS)}")
    try:
        check_target(out)  # before minutes of work: a FIFO, a device or a folder is never written
    except OSError as err:
        raise ExportWriteError(f"{out}: cannot be written: {describe_os_error(err)}") from err
    progress = progress or _Silent()
    data: Files = []
    warnings: tuple[str, ...] = ()
    if target == "script":
        progress.step("loading the training data")
        data, warnings, project = _script_data(project, Path(out), project_path)
    exporter = EXPORTERS[target]
    if target == "onnx":
        exporter = functools.partial(_onnx, opset=opset)
    elif target == "litert":
        exporter = functools.partial(_litert, batch=batch)
    numbers = Weights(seed, Path(weights) if weights else None, project, partial, progress=progress)
    progress.step(f"generating the {target} code")
    files = [*data, *exporter(project, Path(out), numbers)]
    if numbers.fresh:
        named = ", ".join(numbers.fresh[:6]) + (f" and {len(numbers.fresh) - 6} more" if len(numbers.fresh) > 6 else "")
        warnings += (f"the project's weights no longer fit {named} (edited since they were made): initialized from seed {seed}",)
    progress.writing("writing " + ", ".join(path.name for path, _ in reversed(files)))
    try:
        write_all_atomically(files)  # all or none: weights without their code would mislead
    except OSError as err:
        raise ExportWriteError(f"{err.filename}: cannot be written: {describe_os_error(err)}") from err
    return ExportResult(tuple(path for path, _ in reversed(files)), warnings)


def check_network_size(project: Project) -> None:
    """Refuse a network whose weights would pass the weights limit, from its shape analysis, before building it.

    Raises:
        WeightsError: its size, the limit and how to raise it.
    """
    try:
        check_network(project.graph)
    except WeightsLimitError as err:
        raise WeightsError(str(err)) from None


def build_torch_model(source: str, seed: int, filename: str = "<generated>") -> torch.nn.Module:
    """Run generated PyTorch source and build its model with weights initialized from `seed`.

    Every export of a project starts from this model, so all targets hold the same numbers.

    Raises:
        WeightsError: the computer's memory cannot hold the weights (`check_network_size` refuses what passes the limit first).
    """
    import torch

    namespace: dict[str, object] = {"__name__": "layer_studio_export"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated, sanitized code
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = namespace["build_model"]()  # type: ignore[operator]
    except (MemoryError, RuntimeError) as err:
        if not isinstance(err, MemoryError) and "allocate" not in str(err):
            raise
        raise WeightsError(f"this computer's memory cannot hold the network's weights ({_first_line(err)}): close other programs, or make the network smaller") from None
    return model.eval()


def load_weights(model: torch.nn.Module, path: Path, project: Project | None = None, partial: bool = False) -> list[str]:
    """Load a weights file of `project` into its generated `model`; with `partial`, only what fits, returning the modules left as they were.

    The file is a state dict keyed by node id (the project's own weights: see
    `studio.codegen.weights`) or by the model's attributes (a run's best.pt, a training
    checkpoint holding one under "model"); node ids are mapped to the attributes the layers
    have now, so renamed layers keep their weights. Names, shapes and dtypes are checked from
    the file's headers first: only tensors that fit are read, so none is larger than the
    model's own.

    Raises:
        WeightsError: the file cannot be read as tensors, or (unless `partial`) its keys, shapes or dtypes do not fit.
    """
    with open_weights(path) as archive:
        source = {key: key for key in archive.entries}  # the model's key -> the file's
        if keyed_by_node(archive.entries):
            if project is None:
                raise WeightsError(f"{path}: keyed by layer id: it loads only together with its project")
            source = by_attribute(source, project)
        declared = {key: archive.entries[name] for key, name in source.items()}
        expected = model.state_dict()
        missing = sorted(set(expected) - set(declared))
        unexpected = sorted(describe_key(source[key], project) for key in set(declared) - set(expected))
        odd = [k for k in expected if k in declared and not declared[k].real]
        shapes = [k for k in expected if k in declared and k not in odd and not _same_shape(declared[k], expected[k])]
        wrong = odd + shapes
        problems = [
            f"missing {', '.join(missing[:5])}" if missing else "",
            f"unexpected {', '.join(unexpected[:5])}" if unexpected else "",
            "wrong shape for " + ", ".join(f"{k} ({declared[k].shape} instead of {tuple(expected[k].shape)})" for k in shapes[:5]) if shapes else "",
            "not real numbers: " + ", ".join(f"{k} ({declared[k].dtype})" for k in odd[:5]) if odd else "",
        ]
        found = "; ".join(p for p in problems if p)
        if found and not partial:
            raise WeightsError(f"{path}: does not fit this network: {found}")
        fitting = [k for k in declared if k in expected and k not in wrong]
        if found and not fitting:
            raise WeightsError(f"{path}: fits no layer of this network: {found}")
        read = archive.tensors(source[k] for k in fitting)
        state = {k: read[source[k]].reshape(expected[k].shape) for k in fitting}  # files written before 0-d arrays were kept 0-d hold shape (1,)
        model.load_state_dict(state, strict=not found)
    return sorted({key.rpartition(".")[0] or key for key in [*missing, *wrong]})


def _same_shape(entry: Entry, tensor: torch.Tensor) -> bool:
    """Whether a file's tensor has `tensor`'s shape (a 0-d one may be stored as (1,))."""
    return entry.shape == tuple(tensor.shape) or (tensor.dim() == 0 and entry.shape == (1,))


def save_npz_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write a state dict as a `.npz` of NumPy arrays (no pickle), atomically."""
    write_atomically(path, npz_bytes(state))


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
